package presence

import (
	"sync"
	"testing"
)

type recorder struct {
	mu    sync.Mutex
	snaps []*Snapshot
}

func (r *recorder) Offer(s *Snapshot) {
	r.mu.Lock()
	r.snaps = append(r.snaps, s)
	r.mu.Unlock()
}

func (r *recorder) last() *Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.snaps) == 0 {
		return nil
	}
	return r.snaps[len(r.snaps)-1]
}

func TestLampOf(t *testing.T) {
	ring := Dialog{ID: "r", State: Early, Direction: Recipient}
	out := Dialog{ID: "o", State: Proceeding, Direction: Initiator}
	outEarly := Dialog{ID: "oe", State: Early, Direction: Initiator}
	busy := Dialog{ID: "b", State: Confirmed}
	held := Dialog{ID: "h", State: Confirmed, Held: true}
	gone := Dialog{ID: "g", State: Terminated}
	for _, tc := range []struct {
		name    string
		dialogs []Dialog
		want    Lamp
	}{
		{"none", nil, LampIdle},
		{"only terminated", []Dialog{gone}, LampIdle},
		{"ringing", []Dialog{ring}, LampRinging},
		{"outgoing proceeding", []Dialog{out}, LampOutgoing},
		{"outgoing early is not ringing", []Dialog{outEarly}, LampOutgoing},
		{"busy", []Dialog{busy}, LampBusy},
		{"hold", []Dialog{held}, LampHold},
		{"busy and held", []Dialog{held, busy}, LampBusy},
		{"busy and ringing second call", []Dialog{busy, ring}, LampRinging},
		{"held and dialling", []Dialog{held, out}, LampHold},
	} {
		if got := LampOf(tc.dialogs); got != tc.want {
			t.Errorf("%s: LampOf = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestHubFanOutAndMerge(t *testing.T) {
	h := NewHub()
	var a, b recorder
	start, cancelA := h.Watch("1001", &a)
	if start.Seq != 0 || start.Lamp() != LampIdle {
		t.Fatalf("start = seq %d lamp %v, want 0 idle", start.Seq, start.Lamp())
	}
	_, cancelB := h.Watch("1001", &b)
	defer cancelB()

	h.SetDialogs("1001", SourceSIP, []Dialog{{ID: "x", State: Early, Direction: Recipient}})
	if got := a.last(); got == nil || got.Lamp() != LampRinging || got.Seq != 1 {
		t.Fatalf("a got %+v, want ringing seq 1", got)
	}
	if got := b.last(); got == nil || got.Seq != 1 {
		t.Fatalf("b got %+v, want seq 1", got)
	}
	// The same state again is no change and reaches nobody.
	h.SetDialogs("1001", SourceSIP, []Dialog{{ID: "x", State: Early, Direction: Recipient}})
	if n := len(a.snaps); n != 1 {
		t.Fatalf("unchanged state offered again: %d offers", n)
	}
	cancelA()
	cancelA() // idempotent
	h.SetDialogs("1001", SourceTeams, []Dialog{{ID: "a", State: Confirmed}})
	if n := len(a.snaps); n != 1 {
		t.Fatalf("cancelled watcher still offered: %d", n)
	}
	got := b.last()
	if got.Seq != 2 || len(got.Dialogs) != 2 || got.Dialogs[0].ID != "a" || got.Lamp() != LampRinging {
		t.Fatalf("merged = %+v", got)
	}
	// Terminated dialogs are dropped; a source with none left is removed.
	h.SetDialogs("1001", SourceSIP, []Dialog{{ID: "x", State: Terminated}})
	h.SetDialogs("1001", SourceTeams, nil)
	if got := b.last(); got.Lamp() != LampIdle || got.Seq != 4 {
		t.Fatalf("after all ended: seq %d lamp %v", got.Seq, got.Lamp())
	}
	if h.Watchers("1001") != 1 || h.Watchers("9999") != 0 {
		t.Fatalf("watchers = %d", h.Watchers("1001"))
	}
}

func TestSnapshotRenderOnce(t *testing.T) {
	s := &Snapshot{Entity: "1001"}
	calls := 0
	for range 3 {
		v := s.Render("k", func() any { calls++; return calls })
		if v.(int) != 1 {
			t.Fatalf("render = %v", v)
		}
	}
	if calls != 1 {
		t.Fatalf("built %d times", calls)
	}
}

func TestHubConcurrent(t *testing.T) {
	h := NewHub()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			var r recorder
			_, cancel := h.Watch("1001", &r)
			defer cancel()
			for j := range 200 {
				st := Confirmed
				if (i+j)%2 == 0 {
					st = Terminated
				}
				h.SetDialogs("1001", SourceSIP, []Dialog{{ID: "d", State: st}})
				_ = h.Current("1001").Lamp()
			}
		})
	}
	wg.Wait()
}

// TestHubCloud: what a presence service says reaches watchers as one
// change, a repeat is no change, each service keeps its own state, and
// CloudUnknown forgets it; the dialogs are untouched.
func TestHubCloud(t *testing.T) {
	h := NewHub()
	var w recorder
	h.Watch("1001", &w)
	h.SetDialogs("1001", SourceSIP, []Dialog{{ID: "x", State: Confirmed}})
	meeting := Cloud{Source: SourceTeams, State: CloudBusy, Note: "In a meeting", Detail: "Busy/InAMeeting"}
	h.SetCloud("1001", meeting)
	again := meeting
	again.Since = again.Since.Add(1)
	h.SetCloud("1001", again)
	if n := len(w.snaps); n != 2 {
		t.Fatalf("offers = %d, want 2 (a repeat of the same state is no change)", n)
	}
	h.SetCloud("1001", Cloud{Source: SourceGenesys, State: CloudAway, Note: "Break"})
	got := w.last()
	if len(got.Clouds) != 2 || got.Clouds[0].Source != SourceTeams || got.Clouds[1].Source != SourceGenesys || len(got.Dialogs) != 1 {
		t.Fatalf("clouds = %+v dialogs %d, want teams then genesys and the call kept", got.Clouds, len(got.Dialogs))
	}
	if c, ok := got.Cloud(); !ok || c.Detail != "Busy/InAMeeting" {
		t.Fatalf("merged cloud = %+v, want the teams busy", c)
	}
	h.SetCloud("1001", Cloud{Source: SourceTeams})
	h.SetCloud("1001", Cloud{Source: SourceTeams}) // already forgotten: no change
	got = w.last()
	if len(got.Clouds) != 1 || got.Clouds[0].Source != SourceGenesys || len(w.snaps) != 4 {
		t.Fatalf("after forgetting teams: %+v (%d offers)", got.Clouds, len(w.snaps))
	}
	if ParseCloudState("busy") != CloudBusy || ParseCloudState("nope") != CloudUnknown || CloudOffline.String() != "offline" {
		t.Fatal("cloud state names")
	}
}
