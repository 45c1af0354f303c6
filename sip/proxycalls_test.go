package sip

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/blfgw/blfgw/dialog"
	"github.com/blfgw/blfgw/presence"
)

// TestReapSessionAndMaxCall: an answered call whose RFC 4028 session
// timer ran out without a refresh is ended, as is one older than
// max_call; a refreshed call stays, and so do its lamps.
func TestReapSessionAndMaxCall(t *testing.T) {
	tr := dialog.NewTracker(presence.NewHub())
	calls := dialog.NewCalls(tr, nil)
	p := &proxy{
		s:       &Server{log: slog.New(slog.DiscardHandler)},
		opt:     ProxyOptions{Calls: calls, MaxCall: time.Hour},
		ctx:     context.Background(),
		ringing: map[string]*invite{},
		dialogs: map[string]*pdialog{},
		probes:  make(chan struct{}, 1),
		saves:   make(chan callOp, 16),
	}
	now := time.Now()
	add := func(id, caller, callee string, answered, refreshed time.Time, session time.Duration) {
		d := &pdialog{CallID: id, FromTag: "f" + id, ToTag: "t" + id, Caller: caller, Callee: callee,
			Answered: answered, Refreshed: refreshed, Session: session}
		p.dialogs[callKey(d.CallID, d.FromTag)] = d
		calls.Restore(dialog.Answered{CallID: id, FromTag: d.FromTag, ToTag: d.ToTag, Caller: caller, Callee: callee, At: answered})
	}
	add("stale-session", "1001", "1002", now.Add(-5*time.Minute), now.Add(-3*time.Minute), 90*time.Second)
	add("fresh-session", "1003", "1004", now.Add(-5*time.Minute), now.Add(-30*time.Second), 90*time.Second)
	add("too-long", "1005", "1006", now.Add(-2*time.Hour), now.Add(-2*time.Hour), 0)

	p.reap(now)

	if _, ok := p.dialogs[callKey("fresh-session", "ffresh-session")]; !ok || len(p.dialogs) != 1 {
		t.Fatalf("dialogs left: %d (want only the refreshed one)", len(p.dialogs))
	}
	for ext, want := range map[string]int{"1001": 0, "1002": 0, "1003": 1, "1004": 1, "1005": 0, "1006": 0} {
		if got := len(tr.Calls(ext)); got != want {
			t.Errorf("%s has %d calls after the reap, want %d", ext, got, want)
		}
	}
	if calls.Open() != 2 {
		t.Errorf("call legs = %d, want 2", calls.Open())
	}
}
