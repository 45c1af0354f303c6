package store

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"
	"unicode/utf8"
)

func equalPub(a, b Publication) bool {
	return a.ETag == b.ETag && a.Entity == b.Entity && a.Event == b.Event && a.Expires.Equal(b.Expires) &&
		a.ContentType == b.ContentType && bytes.Equal(a.Body, b.Body)
}

func checkPubs(t *testing.T, db *DB, want ...Publication) {
	t.Helper()
	got, err := db.Publications(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(got, want, equalPub) {
		t.Fatalf("Publications =\n%+v\nwant\n%+v", got, want)
	}
}

func TestPublicationsRoundTrip(t *testing.T) {
	db, _ := openTest(t)
	ctx := t.Context()
	exp := time.Date(2030, 2, 3, 4, 5, 6, 7_000_000, time.UTC)

	// Not UTF-8, with NUL and CR LF: a body is bytes, not text.
	body := []byte("<?xml version=\"1.0\"?>\r\n<dialog-info>\x00\xff\xfe\xc3\x28 Jürgen</dialog-info>")
	if utf8.Valid(body) {
		t.Fatal("test body should not be valid UTF-8")
	}
	p := Publication{ETag: "e1", Entity: "201", Event: "dialog", Expires: exp,
		ContentType: "application/dialog-info+xml", Body: body}
	empty := Publication{ETag: "e0", Entity: "202", Event: "dialog", Expires: exp} // nil body
	for _, x := range []Publication{p, empty} {
		if err := db.PutPublication(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	checkPubs(t, db, empty, p)

	// Upsert.
	p.Body, p.Expires = []byte("<dialog-info/>"), exp.Add(time.Hour)
	if err := db.PutPublication(ctx, p); err != nil {
		t.Fatal(err)
	}
	checkPubs(t, db, empty, p)

	if err := db.DeletePublications(ctx, []string{"e0", "never"}); err != nil {
		t.Fatal(err)
	}
	checkPubs(t, db, p)

	if err := db.PutPublication(ctx, Publication{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty ETag: err = %v, want ErrInvalid", err)
	}
}

func TestReplacePublication(t *testing.T) {
	db, _ := openTest(t)
	ctx := t.Context()
	a := Publication{ETag: "a", Entity: "201", Event: "dialog", Body: []byte("1")}
	b := Publication{ETag: "b", Entity: "202", Event: "dialog", Body: []byte("2")}
	for _, x := range []Publication{a, b} {
		if err := db.PutPublication(ctx, x); err != nil {
			t.Fatal(err)
		}
	}

	// Refresh: a becomes c.
	c := a
	c.ETag, c.Body = "c", []byte("3")
	if err := db.ReplacePublication(ctx, "a", c); err != nil {
		t.Fatal(err)
	}
	checkPubs(t, db, b, c)

	// The new ETag belongs to another publication: refused, nothing changes.
	clash := c
	clash.ETag = "b"
	if err := db.ReplacePublication(ctx, "c", clash); !errors.Is(err, ErrConstraint) {
		t.Fatalf("ETag clash: err = %v, want ErrConstraint", err)
	}
	checkPubs(t, db, b, c)

	// Same ETag, and an old ETag that is gone: both fine.
	c.Body = []byte("4")
	if err := db.ReplacePublication(ctx, "c", c); err != nil {
		t.Fatal(err)
	}
	d := Publication{ETag: "d", Entity: "203", Event: "dialog"}
	if err := db.ReplacePublication(ctx, "gone", d); err != nil {
		t.Fatal(err)
	}
	checkPubs(t, db, b, c, d)

	if err := db.ReplacePublication(ctx, "", d); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty old ETag: err = %v, want ErrInvalid", err)
	}
}

func TestDeleteExpiredPublications(t *testing.T) {
	db, _ := openTest(t)
	ctx := t.Context()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, off := range []time.Duration{-time.Hour, 0, time.Millisecond, time.Hour} {
		p := Publication{ETag: string(rune('a' + i)), Expires: now.Add(off)}
		if err := db.PutPublication(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	n, err := db.DeleteExpiredPublications(ctx, now)
	if err != nil || n != 2 {
		t.Fatalf("DeleteExpiredPublications = %d, %v; want 2", n, err)
	}
	got, err := db.Publications(ctx)
	if err != nil || len(got) != 2 || got[0].ETag != "c" || got[1].ETag != "d" {
		t.Fatalf("Publications = %+v, %v; want c and d", got, err)
	}
}
