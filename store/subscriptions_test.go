package store

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"testing"
	"time"
)

func equalSub(a, b Subscription) bool {
	return a.ID == b.ID && a.Entity == b.Entity && a.Event == b.Event && a.Watcher == b.Watcher &&
		a.Expires.Equal(b.Expires) && a.CSeq == b.CSeq && a.Version == b.Version && bytes.Equal(a.Data, b.Data)
}

func checkSubs(t *testing.T, db *DB, want ...Subscription) {
	t.Helper()
	got, err := db.Subscriptions(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(got, want, equalSub) {
		t.Fatalf("Subscriptions =\n%+v\nwant\n%+v", got, want)
	}
}

func TestSubscriptionsRoundTrip(t *testing.T) {
	db, _ := openTest(t)
	ctx := t.Context()

	a := Subscription{
		ID: "b-call@10.0.0.7;ft=1;tt=2;id=", Entity: "201", Event: "dialog", Watcher: "305",
		Expires: time.Date(2031, 5, 6, 7, 8, 9, 123_000_000, time.UTC),
		CSeq:    math.MaxUint32, Version: math.MaxUint32,
		// Non-ASCII, escapes and spacing must come back byte for byte.
		Data: []byte("{\"display\":\"Jürgen Müller 日本 😀\",\"esc\":\"\\u00e9\\n\",  \"route_set\":[ ]}"),
	}
	b := Subscription{ID: "a-call", Entity: "202", Event: "presence", Watcher: "alice"} // zero expiry, no Data
	if err := db.PutSubscriptions(ctx, []Subscription{a, b}); err != nil {
		t.Fatal(err)
	}
	got, err := db.Subscriptions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[1].Expires.Equal(a.Expires) || !got[0].Expires.IsZero() {
		t.Fatalf("expiry round trip: %+v", got)
	}
	checkSubs(t, db, b, a) // ordered by ID

	// Upsert replaces every field.
	a2 := Subscription{ID: a.ID, Entity: "299", Event: "presence", Watcher: "306",
		Expires: a.Expires.Add(time.Hour), CSeq: 7, Version: 8, Data: []byte(`{"v":2}`)}
	if err := db.PutSubscriptions(ctx, []Subscription{a2}); err != nil {
		t.Fatal(err)
	}
	checkSubs(t, db, b, a2)

	// Sub-millisecond precision is dropped, not rounded.
	c := Subscription{ID: "c", Expires: time.UnixMilli(1_700_000_000_123).Add(999 * time.Microsecond)}
	if err := db.PutSubscriptions(ctx, []Subscription{c}); err != nil {
		t.Fatal(err)
	}
	c.Expires = time.UnixMilli(1_700_000_000_123)
	checkSubs(t, db, b, a2, c)

	// Delete: missing IDs are fine.
	if err := db.DeleteSubscriptions(ctx, []string{a.ID, "never-stored"}); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteSubscriptions(ctx, nil); err != nil {
		t.Fatal(err)
	}
	checkSubs(t, db, b, c)
}

func TestPutSubscriptionsInvalid(t *testing.T) {
	db, _ := openTest(t)
	ctx := t.Context()
	for name, s := range map[string]Subscription{
		"empty ID":     {Entity: "201"},
		"not JSON":     {ID: "x", Data: []byte(`{"call_id":`)},
		"not JSON too": {ID: "y", Data: []byte("\xff")},
	} {
		// The valid record in the same call must not be written either.
		err := db.PutSubscriptions(ctx, []Subscription{sub(1), s})
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	checkSubs(t, db)
}

func TestDeleteExpiredSubscriptions(t *testing.T) {
	db, _ := openTest(t)
	ctx := t.Context()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	past := Subscription{ID: "past", Expires: now.Add(-time.Second)}
	edge := Subscription{ID: "edge", Expires: now}
	live := Subscription{ID: "live", Expires: now.Add(time.Millisecond)}
	if err := db.PutSubscriptions(ctx, []Subscription{past, edge, live}); err != nil {
		t.Fatal(err)
	}
	n, err := db.DeleteExpiredSubscriptions(ctx, now)
	if err != nil || n != 2 {
		t.Fatalf("DeleteExpiredSubscriptions = %d, %v; want 2", n, err)
	}
	checkSubs(t, db, live)
	if n, err := db.DeleteExpiredSubscriptions(ctx, now); err != nil || n != 0 {
		t.Fatalf("second DeleteExpiredSubscriptions = %d, %v; want 0", n, err)
	}
}

// The store copies what it is given, so a caller may reuse its buffers.
func TestPutSubscriptionsCopiesData(t *testing.T) {
	db, _ := openTest(t)
	s := sub(1)
	want := bytes.Clone(s.Data)
	if err := db.PutSubscriptions(t.Context(), []Subscription{s}); err != nil {
		t.Fatal(err)
	}
	copy(s.Data, "XXXXXXXX")
	got, err := db.Subscriptions(t.Context())
	if err != nil || len(got) != 1 || !bytes.Equal(got[0].Data, want) {
		t.Fatalf("Subscriptions = %+v, %v", got, err)
	}
}

func TestUpdateSubscriptionCounters(t *testing.T) {
	db, _ := openTest(t)
	ctx := t.Context()
	a := Subscription{ID: "a", Entity: "201", Event: "dialog", Watcher: "305",
		Expires: time.UnixMilli(1_000_000), CSeq: 1, Version: 0, Data: []byte(`{"call_id":"x"}`)}
	if err := db.PutSubscriptions(ctx, []Subscription{a}); err != nil {
		t.Fatal(err)
	}
	upd := Subscription{ID: "a", Expires: time.UnixMilli(2_000_000), CSeq: 9, Version: 8}
	gone := Subscription{ID: "ended-meanwhile", CSeq: 3}
	if err := db.UpdateSubscriptionCounters(ctx, []Subscription{upd, gone}); err != nil {
		t.Fatal(err)
	}
	want := a
	want.Expires, want.CSeq, want.Version = upd.Expires, 9, 8
	// Data, entity and the rest stay; an unknown id is not inserted.
	checkSubs(t, db, want)
}
