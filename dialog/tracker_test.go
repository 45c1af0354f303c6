package dialog

import (
	"errors"
	"testing"
	"time"

	"github.com/blfgw/blfgw/presence"
)

func busy(id string) presence.Dialog {
	return presence.Dialog{ID: id, CallID: "c-" + id, State: presence.Confirmed}
}

func TestTrackerMergesPublishers(t *testing.T) {
	hub := presence.NewHub()
	tr := NewTracker(hub)
	now := time.Unix(1000, 0)
	tr.Publish(Publication{ETag: "a", Entity: "1001", Expires: now.Add(time.Minute), Dialogs: []presence.Dialog{busy("1")}})
	tr.Publish(Publication{ETag: "b", Entity: "1001", Expires: now.Add(2 * time.Minute), Dialogs: []presence.Dialog{{ID: "1", CallID: "other", State: presence.Early, Direction: presence.Recipient}}})
	snap := hub.Current("1001")
	if len(snap.Dialogs) != 2 {
		t.Fatalf("merged dialogs = %+v", snap.Dialogs)
	}
	// Two publishers numbering dialogs alike still give unique ids.
	if snap.Dialogs[0].ID == snap.Dialogs[1].ID {
		t.Fatalf("duplicate dialog ids: %+v", snap.Dialogs)
	}
	if snap.Lamp() != presence.LampRinging {
		t.Fatalf("lamp = %v", snap.Lamp())
	}

	// Removing one publisher leaves the other's state.
	if err := tr.Remove("1001", "b"); err != nil {
		t.Fatal(err)
	}
	if l := hub.Current("1001").Lamp(); l != presence.LampBusy {
		t.Fatalf("after remove lamp = %v", l)
	}
	if err := tr.Remove("1001", "b"); !errors.Is(err, ErrUnknownETag) {
		t.Fatalf("second remove err = %v", err)
	}
	if err := tr.Remove("1002", "a"); !errors.Is(err, ErrUnknownETag) {
		t.Fatalf("remove under another extension err = %v", err)
	}
}

func TestTrackerReplaceAndExpire(t *testing.T) {
	hub := presence.NewHub()
	tr := NewTracker(hub)
	now := time.Unix(1000, 0)
	tr.Publish(Publication{ETag: "a", Entity: "1001", Expires: now.Add(time.Minute), Dialogs: []presence.Dialog{busy("1")}, Body: []byte("doc")})

	// A refresh (nil dialogs) keeps state and body under a new tag.
	if err := tr.Replace("a", Publication{ETag: "a2", Entity: "1001", Expires: now.Add(2 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	p, ok := tr.Get("a2")
	if !ok || len(p.Dialogs) != 1 || string(p.Body) != "doc" {
		t.Fatalf("refreshed = %+v %v", p, ok)
	}
	if _, ok := tr.Get("a"); ok {
		t.Fatal("old tag still valid after refresh")
	}
	if err := tr.Replace("a", Publication{ETag: "x", Entity: "1001"}); !errors.Is(err, ErrUnknownETag) {
		t.Fatalf("replace of stale tag: %v", err)
	}
	if err := tr.Replace("a2", Publication{ETag: "x", Entity: "1002"}); !errors.Is(err, ErrUnknownETag) {
		t.Fatalf("replace under another extension: %v", err)
	}

	if gone := tr.Expire(now.Add(90 * time.Second)); len(gone) != 0 {
		t.Fatalf("expired early: %v", gone)
	}
	gone := tr.Expire(now.Add(2 * time.Minute))
	if len(gone) != 1 || gone[0] != "a2" {
		t.Fatalf("expired = %v", gone)
	}
	if l := hub.Current("1001").Lamp(); l != presence.LampIdle {
		t.Fatalf("lamp after expiry = %v", l)
	}
	if tr.Len() != 0 {
		t.Fatalf("len = %d", tr.Len())
	}
}

func TestNewETagUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		e := NewETag()
		if seen[e] || len(e) < 16 {
			t.Fatalf("bad etag %q", e)
		}
		seen[e] = true
	}
}
