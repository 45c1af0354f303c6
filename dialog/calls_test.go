package dialog

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/blfgw/blfgw/presence"
)

// report is one SetDialogs call.
type report struct {
	entity  string
	dialogs []presence.Dialog
}

// fakeSink records every roll-up reported to it.
type fakeSink struct {
	t       *testing.T
	mu      sync.Mutex
	reports []report
}

func (s *fakeSink) SetDialogs(entity string, src presence.Source, ds []presence.Dialog) {
	if src != presence.SourceSIP {
		s.t.Errorf("SetDialogs(%s) from source %v", entity, src)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reports = append(s.reports, report{entity, slices.Clone(ds)})
}

// lamps is the lamp of every roll-up reported for entity, in order.
func (s *fakeSink) lamps(entity string) []presence.Lamp {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []presence.Lamp
	for _, r := range s.reports {
		if r.entity == entity {
			out = append(out, presence.LampOf(r.dialogs))
		}
	}
	return out
}

// last is the last roll-up reported for entity.
func (s *fakeSink) last(entity string) []presence.Dialog {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.reports) - 1; i >= 0; i-- {
		if s.reports[i].entity == entity {
			return s.reports[i].dialogs
		}
	}
	return nil
}

func (s *fakeSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reports)
}

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

type rig struct {
	sink  *fakeSink
	tr    *Tracker
	calls *Calls
	clock *fakeClock
}

func newRig(t *testing.T) *rig {
	sink := &fakeSink{t: t}
	tr := NewTracker(sink)
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	return &rig{sink: sink, tr: tr, calls: NewCalls(tr, clock.now), clock: clock}
}

func (r *rig) run(evs ...Event) {
	for _, e := range evs {
		r.calls.Handle(e)
		r.clock.advance(time.Second)
	}
}

const (
	idle     = presence.LampIdle
	ringing  = presence.LampRinging
	outgoing = presence.LampOutgoing
	busyLamp = presence.LampBusy
	hold     = presence.LampHold
)

var (
	alice = presence.Party{URI: "sip:1001@pbx.example.com", Display: "Alice"}
	bob   = presence.Party{URI: "sip:1002@pbx.example.com", Display: "Bob"}
	carol = presence.Party{URI: "sip:1003@pbx.example.com", Display: "Carol"}
	ext   = presence.Party{URI: "sip:+15550100@carrier.example.net", Display: "Outside"}
)

// callLeg describes one call as the proxy sees it, and builds its events.
type callLeg struct {
	id, ftag     string
	caller       string
	from, to     presence.Party
	asserted     *presence.Party
	callee, ttag string // the default branch's callee and To tag
}

func (l callLeg) ev(req bool, method string) Event {
	return Event{Request: req, Method: method, CallID: l.id, FromTag: l.ftag, Caller: l.caller, From: l.from, To: l.to, Asserted: l.asserted}
}

// invite is the INVITE forwarded on branch br to callee at device.
func (l callLeg) invite(br, callee, device string) Event {
	e := l.ev(true, "INVITE")
	e.Branch, e.Callee, e.Device = br, callee, device
	e.SDP = []byte(sdpHead + sdp(cLive, mAudio, "a=sendrecv"))
	return e
}

// resp is a response to the INVITE on branch br.
func (l callLeg) resp(status int, br, callee, ttag string) Event {
	e := l.ev(false, "INVITE")
	e.Status, e.Branch, e.Callee, e.ToTag = status, br, callee, ttag
	return e
}

func (l callLeg) cancel() Event { return l.ev(true, "CANCEL") }

// inDialog is a request sent by the caller (byCaller) or the callee.
func (l callLeg) inDialog(method string, byCaller bool, body string) Event {
	e := Event{Request: true, Method: method, CallID: l.id, SDP: []byte(body)}
	if byCaller {
		e.FromTag, e.ToTag, e.Sender, e.From, e.To = l.ftag, l.ttag, l.caller, l.from, l.to
	} else {
		e.FromTag, e.ToTag, e.Sender, e.From, e.To = l.ttag, l.ftag, l.callee, l.to, l.from
	}
	return e
}

// inResp is a response to an in-dialog request sent by the caller or callee.
func (l callLeg) inResp(status int, method string, byCaller bool) Event {
	e := l.inDialog(method, byCaller, "")
	e.Request, e.Status, e.Sender = false, status, ""
	return e
}

var (
	// c1 is 1001 calling 1002.
	c1 = callLeg{id: "c1@192.0.2.10", ftag: "f1", caller: "1001", from: alice, to: bob, callee: "1002", ttag: "t1"}
	// c2 is 1003 calling 1002.
	c2 = callLeg{id: "c2@192.0.2.11", ftag: "f2", caller: "1003", from: carol, to: bob, callee: "1002", ttag: "t2"}
	// c3 is an outside caller calling 1002.
	c3 = callLeg{id: "c3@carrier", ftag: "f3", from: ext, to: bob, callee: "1002", ttag: "t3"}
)

var (
	holdSDP    = sdpHead + sdp(cLive, mAudio, "a=sendonly")
	oldHoldSDP = sdpHead + sdp(cNull, mAudio)
	resumeSDP  = sdpHead + sdp(cLive, mAudio, "a=sendrecv")
)

func lamps(ls ...presence.Lamp) []presence.Lamp { return ls }

func TestCallFlows(t *testing.T) {
	answered := []Event{
		c1.invite("b1", "1002", ""), c1.resp(100, "b1", "", ""), c1.resp(180, "b1", "1002", "t1"), c1.resp(200, "b1", "1002", "t1"),
		c1.ev(true, "ACK"),
	}
	tests := []struct {
		name   string
		events []Event
		want   map[string][]presence.Lamp
	}{{
		name: "basic call, callee hangs up",
		events: append(slices.Clone(answered),
			c1.inDialog("BYE", false, ""), c1.inResp(200, "BYE", false)),
		want: map[string][]presence.Lamp{
			"1001": lamps(outgoing, outgoing, outgoing, busyLamp, idle),
			"1002": lamps(ringing, busyLamp, idle),
		},
	}, {
		name: "basic call with retransmissions and in-dialog chatter",
		events: []Event{
			c1.invite("b1", "1002", ""), c1.invite("b1", "1002", ""), c1.resp(100, "b1", "", ""), c1.resp(100, "b1", "", ""),
			c1.resp(180, "b1", "1002", "t1"), c1.resp(180, "b1", "1002", "t1"), c1.resp(100, "b1", "", ""),
			c1.resp(200, "b1", "1002", "t1"), c1.resp(200, "b1", "1002", "t1"), c1.ev(true, "ACK"),
			c1.inDialog("INFO", true, ""), c1.inResp(200, "INFO", true),
			c1.inDialog("OPTIONS", false, ""), c1.inResp(200, "OPTIONS", false),
			c1.inDialog("PRACK", true, ""), c1.inDialog("ACK", true, holdSDP),
			c1.inDialog("BYE", true, ""), c1.inDialog("BYE", true, ""), c1.inResp(200, "BYE", true),
		},
		want: map[string][]presence.Lamp{
			"1001": lamps(outgoing, outgoing, outgoing, busyLamp, idle),
			"1002": lamps(ringing, busyLamp, idle),
		},
	}, {
		name:   "cancelled call",
		events: []Event{c1.invite("b1", "1002", ""), c1.resp(100, "b1", "", ""), c1.resp(180, "b1", "1002", "t1"), c1.cancel(), c1.resp(487, "b1", "1002", "t1"), c1.resp(180, "b1", "1002", "t1")},
		want: map[string][]presence.Lamp{
			"1001": lamps(outgoing, outgoing, outgoing, idle),
			"1002": lamps(ringing, idle),
		},
	}, {
		name:   "cancelled before the callee rang",
		events: []Event{c1.invite("b1", "1002", ""), c1.cancel(), c1.resp(487, "b1", "1002", "t1")},
		want: map[string][]presence.Lamp{
			"1001": lamps(outgoing, idle),
			"1002": nil,
		},
	}, {
		name:   "busy callee",
		events: []Event{c1.invite("b1", "1002", ""), c1.resp(100, "b1", "", ""), c1.resp(486, "b1", "1002", "t1"), c1.ev(true, "ACK")},
		want: map[string][]presence.Lamp{
			"1001": lamps(outgoing, outgoing, idle),
			"1002": nil,
		},
	}, {
		name:   "rejected while ringing",
		events: []Event{c1.invite("b1", "1002", ""), c1.resp(180, "b1", "1002", "t1"), c1.resp(603, "b1", "1002", "t1")},
		want: map[string][]presence.Lamp{
			"1001": lamps(outgoing, outgoing, idle),
			"1002": lamps(ringing, idle),
		},
	}, {
		name:   "no answer 408",
		events: []Event{c1.invite("b1", "1002", ""), c1.resp(180, "b1", "1002", "t1"), c1.resp(408, "b1", "1002", "")},
		want: map[string][]presence.Lamp{
			"1001": lamps(outgoing, outgoing, idle),
			"1002": lamps(ringing, idle),
		},
	}, {
		name:   "no answer 480, then the upstream final without a branch",
		events: []Event{c1.invite("b1", "1002", ""), c1.resp(183, "b1", "1002", "t1"), c1.resp(480, "b1", "1002", "t1"), c1.resp(480, "", "", "t1")},
		want: map[string][]presence.Lamp{
			"1001": lamps(outgoing, outgoing, idle),
			"1002": lamps(ringing, idle),
		},
	}, {
		name: "hold and resume by the callee, then by the caller",
		events: append(slices.Clone(answered),
			c1.inDialog("INVITE", false, holdSDP), c1.inResp(200, "INVITE", false), c1.inDialog("ACK", false, ""),
			c1.inDialog("INVITE", false, holdSDP), // a retransmission
			c1.inDialog("INVITE", false, resumeSDP), c1.inResp(200, "INVITE", false),
			c1.inDialog("UPDATE", true, oldHoldSDP), c1.inResp(200, "UPDATE", true),
			c1.inDialog("INVITE", true, ""),        // no offer: nothing to tell
			c1.inDialog("INVITE", true, "garbage"), // unreadable: nothing to tell
			c1.inDialog("INVITE", true, resumeSDP), // resume
			c1.inDialog("INVITE", true, holdSDP),   // hold again
			c1.inResp(491, "INVITE", true),         // a failed re-INVITE does not end the call
			c1.inResp(481, "INVITE", true),         // nor does this (End is for probes)
			c1.inDialog("INVITE", true, resumeSDP), // so this still resumes
			c1.inDialog("BYE", true, "")),
		want: map[string][]presence.Lamp{
			"1001": lamps(outgoing, outgoing, outgoing, busyLamp, hold, busyLamp, hold, busyLamp, idle),
			"1002": lamps(ringing, busyLamp, hold, busyLamp, idle),
		},
	}, {
		name: "an outside party cannot put a local one on hold",
		events: []Event{
			c3.invite("b1", "1002", ""), c3.resp(180, "b1", "1002", "t3"), c3.resp(200, "b1", "1002", "t3"),
			c3.inDialog("INVITE", true, holdSDP), c3.inDialog("BYE", true, ""),
		},
		want: map[string][]presence.Lamp{"1002": lamps(ringing, busyLamp, idle)},
	}, {
		name: "call waiting",
		events: append(slices.Clone(answered),
			c2.invite("b2", "1002", ""), c2.resp(180, "b2", "1002", "t2"), // ringing shows over busy
			c1.inDialog("INVITE", false, holdSDP), // 1002 holds the first call
			c2.resp(200, "b2", "1002", "t2"),      // and answers the second
			c1.inDialog("BYE", true, ""),
			c2.inDialog("BYE", false, "")),
		want: map[string][]presence.Lamp{
			"1001": lamps(outgoing, outgoing, outgoing, busyLamp, idle),
			"1002": lamps(ringing, busyLamp, ringing, ringing, busyLamp, busyLamp, idle),
			"1003": lamps(outgoing, outgoing, busyLamp, idle),
		},
	}, {
		name: "fork to two devices, the second answers",
		events: []Event{
			c1.invite("b1", "1002", "sip:1002@192.0.2.21"), c1.invite("b2", "1002", "sip:1002@192.0.2.22"),
			c1.resp(100, "b1", "", ""), c1.resp(100, "b2", "", ""),
			c1.resp(180, "b1", "1002", "t1a"), c1.resp(180, "b2", "1002", "t1"),
			c1.resp(200, "b2", "1002", "t1"),
			c1.resp(487, "b1", "1002", "t1a"), c1.resp(180, "b1", "1002", "t1a"), c1.resp(200, "b1", "1002", "t1a"),
			c1.inDialog("BYE", false, ""),
		},
		want: map[string][]presence.Lamp{
			"1001": lamps(outgoing, outgoing, outgoing, busyLamp, idle),
			"1002": lamps(ringing, ringing, ringing, busyLamp, idle),
		},
	}, {
		name: "fork to a local and an outside target, both refuse",
		events: []Event{
			c1.invite("b1", "1002", ""), c1.invite("b2", "", ""),
			c1.resp(180, "b1", "1002", "t1"), c1.resp(180, "b2", "", "tx"),
			c1.resp(486, "b1", "1002", "t1"), c1.resp(180, "b1", "1002", "t1"), c1.resp(200, "b1", "1002", "t1"), // after its final
			c1.resp(404, "b2", "", "tx"),
		},
		want: map[string][]presence.Lamp{
			"1001": lamps(outgoing, outgoing, idle),
			"1002": lamps(ringing, idle),
		},
	}, {
		name: "hunt group: 1002 and 1003 ring, 1003 answers",
		events: []Event{
			c3.invite("b1", "1002", ""), c3.invite("b2", "1003", ""),
			c3.resp(180, "b1", "1002", "ta"), c3.resp(180, "b2", "1003", "tb"),
			c3.resp(200, "b2", "1003", "tb"),
			Event{Request: true, Method: "BYE", CallID: c3.id, FromTag: "tb", ToTag: c3.ftag, Sender: "1003"},
		},
		want: map[string][]presence.Lamp{
			"1002": lamps(ringing, idle),
			"1003": lamps(ringing, busyLamp, idle),
		},
	}, {
		name: "outside caller, outside answer: the local fork ends and the call is forgotten",
		events: []Event{
			c3.invite("b1", "", ""), c3.invite("b2", "1002", ""),
			c3.resp(180, "b2", "1002", "t3"), c3.resp(200, "b1", "", "tx"),
		},
		want: map[string][]presence.Lamp{"1002": lamps(ringing, idle)},
	}, {
		name: "outside caller, the local fork refuses: forgotten while the outside one rings",
		events: []Event{
			c3.invite("b1", "", ""), c3.invite("b2", "1002", ""),
			c3.resp(180, "b1", "", "tx"), c3.resp(180, "b2", "1002", "t3"), c3.resp(486, "b2", "1002", "t3"),
		},
		want: map[string][]presence.Lamp{"1002": lamps(ringing, idle)},
	}, {
		name: "a branch's final never reported: the final sent upstream ends the call",
		events: []Event{
			c1.invite("b1", "1002", ""), c1.invite("b2", "", ""),
			c1.resp(180, "b1", "1002", "t1"), c1.resp(480, "b1", "1002", "t1"),
			c1.resp(480, "", "", ""),
		},
		want: map[string][]presence.Lamp{
			"1001": lamps(outgoing, outgoing, idle),
			"1002": lamps(ringing, idle),
		},
	}, {
		name: "the caller hangs up an early dialog",
		events: []Event{
			c1.invite("b1", "1002", ""), c1.resp(180, "b1", "1002", "t1"), c1.inDialog("BYE", true, ""),
		},
		want: map[string][]presence.Lamp{
			"1001": lamps(outgoing, outgoing, idle),
			"1002": lamps(ringing, idle),
		},
	}, {
		name: "an offer in an early dialog is not a hold",
		events: []Event{
			c1.invite("b1", "1002", ""), c1.resp(183, "b1", "1002", "t1"),
			c1.inDialog("UPDATE", false, holdSDP), c1.inDialog("UPDATE", true, holdSDP), c1.inDialog("PRACK", true, holdSDP),
			c1.resp(200, "b1", "1002", "t1"), c1.inDialog("BYE", true, ""),
		},
		want: map[string][]presence.Lamp{
			"1001": lamps(outgoing, outgoing, busyLamp, idle),
			"1002": lamps(ringing, busyLamp, idle),
		},
	}, {
		name: "auto answer without ringing",
		events: []Event{
			c1.invite("b1", "1002", ""), c1.resp(200, "b1", "1002", "t1"), c1.inDialog("BYE", true, ""),
		},
		want: map[string][]presence.Lamp{
			"1001": lamps(outgoing, busyLamp, idle),
			"1002": lamps(busyLamp, idle),
		},
	}, {
		name: "an INVITE reported once before forking, without a branch",
		events: []Event{
			c1.invite("", "", ""), c1.invite("b1", "1002", ""), c1.invite("b2", "1003", ""),
			c1.resp(180, "b1", "1002", "ta"), c1.resp(486, "b1", "1002", "ta"), c1.resp(480, "b2", "1003", ""),
		},
		want: map[string][]presence.Lamp{
			"1001": lamps(outgoing, outgoing, idle),
			"1002": lamps(ringing, idle),
			"1003": nil,
		},
	}, {
		name: "in-dialog requests that match no call",
		events: append(slices.Clone(answered),
			Event{Request: true, Method: "BYE", CallID: "unknown", FromTag: "t1", ToTag: "f1"},
			Event{Request: true, Method: "BYE", CallID: c1.id, FromTag: "other", ToTag: "f1"}, // a second 2xx's dialog
			Event{Request: true, Method: "INVITE", CallID: "unknown", FromTag: "t1", ToTag: "f1", Sender: "1002", SDP: []byte(holdSDP)},
			Event{Request: true, Method: "CANCEL", CallID: c1.id, FromTag: c1.ftag}, // too late
			c1.resp(486, "b1", "1002", "t1"), // a re-INVITE's
			Event{Method: "INVITE", Status: 180, CallID: "unknown", FromTag: "x", Branch: "b", Callee: "1002"},
			c1.inDialog("INVITE", false, holdSDP), // the call is still there
			c1.inDialog("BYE", true, "")),
		want: map[string][]presence.Lamp{
			"1001": lamps(outgoing, outgoing, outgoing, busyLamp, idle),
			"1002": lamps(ringing, busyLamp, hold, idle),
		},
	}, {
		name: "a call between outsiders is not tracked",
		events: []Event{
			{Request: true, Method: "INVITE", CallID: "x1", FromTag: "a", Branch: "b1"},
			{Method: "INVITE", Status: 180, CallID: "x1", FromTag: "a", ToTag: "b", Branch: "b1"},
			{Request: true, Method: "ACK", CallID: "x1", FromTag: "a", ToTag: "b"},
		},
		want: map[string][]presence.Lamp{},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			r.run(tt.events...)
			for entity, want := range tt.want {
				if got := r.sink.lamps(entity); !slices.Equal(got, want) {
					t.Errorf("%s lamps = %v, want %v", entity, got, want)
				}
			}
			n := 0
			for _, want := range tt.want {
				n += len(want)
			}
			if got := r.sink.count(); got != n {
				t.Errorf("%d reports, want %d: %+v", got, n, r.sink.reports)
			}
			if n := r.calls.Open(); n != 0 || len(r.calls.calls) != 0 {
				t.Errorf("Open() = %d after the flow, calls kept: %v", n, r.calls.calls)
			}
			for _, e := range []string{"1001", "1002", "1003"} {
				if cs := r.tr.Calls(e); len(cs) != 0 {
					t.Errorf("tracker still has calls of %s: %+v", e, cs)
				}
			}
		})
	}
}

func TestCallDialogsFromEachSide(t *testing.T) {
	r := newRig(t)
	r.run(c1.invite("b1", "1002", "sip:1002@192.0.2.21"), c1.resp(180, "b1", "1002", "t1"))
	if n := r.calls.Open(); n != 2 {
		t.Fatalf("Open() = %d while ringing, want 2", n)
	}
	start := time.Unix(1_700_000_000, 0)
	caller := r.sink.last("1001")
	callee := r.sink.last("1002")
	if len(caller) != 1 || len(callee) != 1 {
		t.Fatalf("dialogs: caller %+v, callee %+v", caller, callee)
	}
	wantCaller := presence.Dialog{
		ID: caller[0].ID, CallID: "c1@192.0.2.10", LocalTag: "f1", RemoteTag: "t1",
		Direction: presence.Initiator, State: presence.Early, Local: alice, Remote: bob, Since: start.Add(time.Second),
	}
	if caller[0] != wantCaller {
		t.Errorf("caller dialog\n got %+v\nwant %+v", caller[0], wantCaller)
	}
	wantBob := bob
	wantBob.Target = "sip:1002@192.0.2.21"
	wantCallee := presence.Dialog{
		ID: callee[0].ID, CallID: "c1@192.0.2.10", LocalTag: "t1", RemoteTag: "f1",
		Direction: presence.Recipient, State: presence.Early, Local: wantBob, Remote: alice, Since: start.Add(time.Second),
	}
	if callee[0] != wantCallee {
		t.Errorf("callee dialog\n got %+v\nwant %+v", callee[0], wantCallee)
	}
	if caller[0].ID == "" || callee[0].ID == "" || caller[0].ID == callee[0].ID {
		t.Errorf("ids: caller %q, callee %q", caller[0].ID, callee[0].ID)
	}
	// A later 183 without a To tag forgets no tag and reports nothing.
	n := r.sink.count()
	r.run(c1.resp(183, "b1", "1002", ""))
	if r.sink.count() != n {
		t.Errorf("a tagless 183 was reported: %+v", r.sink.reports[n:])
	}

	// Answered: the ids stay, the states and Since move on.
	at := r.clock.now()
	r.run(c1.resp(200, "b1", "1002", "t1"))
	caller2, callee2 := r.sink.last("1001")[0], r.sink.last("1002")[0]
	if caller2.ID != caller[0].ID || callee2.ID != callee[0].ID {
		t.Errorf("ids changed on answer: %q %q", caller2.ID, callee2.ID)
	}
	if caller2.State != presence.Confirmed || callee2.State != presence.Confirmed ||
		!caller2.Since.Equal(at) || !callee2.Since.Equal(at) || caller2.RemoteTag != "t1" || callee2.LocalTag != "t1" {
		t.Errorf("answered: caller %+v, callee %+v", caller2, callee2)
	}
}

func TestCallerIdentity(t *testing.T) {
	hostile := presence.Party{URI: "sip:+15550100@carrier.example.net;user=phone", Display: `O'Brien & <Sons> "Ltd"`}
	tests := []struct {
		name     string
		from     presence.Party
		asserted *presence.Party
		want     presence.Party
	}{
		{"asserted identity preferred", presence.Party{URI: "sip:anonymous@anonymous.invalid", Display: "Spoofed"}, &hostile, hostile},
		{"From without an asserted identity", hostile, nil, hostile},
		{"plain From", ext, nil, ext},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			l := c3
			l.from, l.asserted = tt.from, tt.asserted
			r.run(l.invite("b1", "1002", ""), l.resp(180, "b1", "1002", "t3"))
			ds := r.sink.last("1002")
			if len(ds) != 1 || ds[0].Remote != tt.want || ds[0].Local != bob {
				t.Fatalf("callee dialogs = %+v; want remote %+v", ds, tt.want)
			}
			r.run(l.cancel())
			if r.calls.Open() != 0 {
				t.Fatalf("Open() = %d", r.calls.Open())
			}
		})
	}
}

func TestCallWaitingRollup(t *testing.T) {
	r := newRig(t)
	r.run(c1.invite("b1", "1002", ""), c1.resp(200, "b1", "1002", "t1"),
		c3.invite("b9", "1002", ""), c3.resp(180, "b9", "1002", "t3"))
	ds := r.sink.last("1002")
	if len(ds) != 2 || ds[0].State != presence.Confirmed || ds[1].State != presence.Early ||
		ds[1].Remote != ext || presence.LampOf(ds) != ringing {
		t.Fatalf("roll-up while a second call rings: %+v", ds)
	}
	r.run(c1.inDialog("INVITE", false, holdSDP))
	ds = r.sink.last("1002")
	if len(ds) != 2 || !ds[0].Held || ds[1].Held || presence.LampOf(ds) != ringing {
		t.Fatalf("roll-up after holding the first: %+v", ds)
	}
	if l := presence.LampOf(r.sink.last("1001")); l != busyLamp {
		t.Fatalf("the held party's lamp = %v, want busy", l)
	}
	r.run(c3.resp(200, "b9", "1002", "t3"))
	ds = r.sink.last("1002")
	if len(ds) != 2 || ds[1].State != presence.Confirmed || presence.LampOf(ds) != busyLamp {
		t.Fatalf("roll-up with both answered: %+v", ds)
	}
	if n := r.calls.Open(); n != 3 {
		t.Fatalf("Open() = %d, want 3", n)
	}
	r.calls.End(c1.id)
	r.calls.End(c3.id)
	if n := r.calls.Open(); n != 0 || len(r.sink.last("1002")) != 0 {
		t.Fatalf("Open() = %d, roll-up %+v", n, r.sink.last("1002"))
	}
}

func TestForkDevices(t *testing.T) {
	r := newRig(t)
	r.run(c1.invite("b1", "1002", "sip:1002@192.0.2.21"), c1.invite("b2", "1002", "sip:1002@192.0.2.22"),
		c1.resp(180, "b1", "1002", "ta"), c1.resp(180, "b2", "1002", "tb"))
	ds := r.sink.last("1002")
	if len(ds) != 2 || ds[0].Local.Target != "sip:1002@192.0.2.21" || ds[1].Local.Target != "sip:1002@192.0.2.22" ||
		ds[0].LocalTag != "ta" || ds[1].LocalTag != "tb" || ds[0].ID == ds[1].ID {
		t.Fatalf("both devices ringing: %+v", ds)
	}
	r.run(c1.resp(200, "b2", "1002", "tb"))
	ds = r.sink.last("1002")
	if len(ds) != 1 || ds[0].Local.Target != "sip:1002@192.0.2.22" || ds[0].State != presence.Confirmed {
		t.Fatalf("after the second device answered: %+v", ds)
	}
	if n := r.calls.Open(); n != 2 {
		t.Fatalf("Open() = %d, want 2", n)
	}
	// A fork the proxy starts after the answer is not followed.
	r.run(c1.invite("b3", "1002", "sip:1002@192.0.2.23"), c1.resp(180, "b3", "1002", "tc"))
	if n := r.calls.Open(); n != 2 || len(r.sink.last("1002")) != 1 {
		t.Fatalf("a late fork: Open() = %d, 1002 %+v", n, r.sink.last("1002"))
	}
	// The callee's BYE carries the answering device's tag.
	r.run(Event{Request: true, Method: "BYE", CallID: c1.id, FromTag: "ta", ToTag: c1.ftag, Sender: "1002"})
	if n := r.calls.Open(); n != 2 {
		t.Fatalf("a BYE with the other fork's tag ended the call")
	}
	r.run(Event{Request: true, Method: "BYE", CallID: c1.id, FromTag: "tb", ToTag: c1.ftag, Sender: "1002"})
	if n := r.calls.Open(); n != 0 {
		t.Fatalf("Open() = %d after BYE", n)
	}
}

func TestSelfCallHold(t *testing.T) {
	// 1002's desk phone calls 1002's softphone: the tags tell who held.
	r := newRig(t)
	l := callLeg{id: "self", ftag: "fa", caller: "1002", from: bob, to: bob, callee: "1002", ttag: "tb"}
	r.run(l.invite("b1", "1002", "sip:1002@192.0.2.22"), l.resp(200, "b1", "1002", "tb"),
		l.inDialog("INVITE", false, holdSDP))
	ds := r.sink.last("1002")
	if len(ds) != 2 || ds[0].Direction != presence.Initiator || ds[0].Held || ds[1].Direction != presence.Recipient || !ds[1].Held {
		t.Fatalf("self call after the callee held: %+v", ds)
	}
	r.run(l.inDialog("BYE", true, ""))
	if r.calls.Open() != 0 || len(r.sink.last("1002")) != 0 {
		t.Fatalf("self call not ended")
	}
}

func TestReap(t *testing.T) {
	r := newRig(t)
	const maxCall = time.Hour
	// c1 rings for 30 minutes, then is answered; c2 rings forever.
	r.run(c1.invite("b1", "1002", ""), c1.resp(180, "b1", "1002", "t1"), c2.invite("b2", "1002", ""))
	r.clock.advance(30 * time.Minute)
	r.run(c1.resp(200, "b1", "1002", "t1"))
	r.clock.advance(29 * time.Minute)
	if got := r.calls.Reap(maxCall); len(got) != 0 {
		t.Fatalf("reaped early: %v", got)
	}
	r.clock.advance(2 * time.Minute) // c2 began 61 minutes ago
	if got := r.calls.Reap(maxCall); !slices.Equal(got, []string{c2.id}) {
		t.Fatalf("reaped %v, want [%s]", got, c2.id)
	}
	if l := r.sink.lamps("1003"); !slices.Equal(l, lamps(outgoing, idle)) {
		t.Fatalf("1003 lamps = %v", l)
	}
	if l := presence.LampOf(r.sink.last("1002")); l != busyLamp {
		t.Fatalf("1002 lamp = %v, want busy (the answered call lives on)", l)
	}
	r.clock.advance(30 * time.Minute) // c1 answered 61 minutes ago, and its BYE was never seen
	if got := r.calls.Reap(maxCall); !slices.Equal(got, []string{c1.id}) {
		t.Fatalf("reaped %v, want [%s]", got, c1.id)
	}
	if r.calls.Open() != 0 || len(r.sink.last("1001")) != 0 || len(r.sink.last("1002")) != 0 {
		t.Fatalf("Open() = %d, 1001 %+v, 1002 %+v", r.calls.Open(), r.sink.last("1001"), r.sink.last("1002"))
	}
	if got := r.calls.Reap(maxCall); len(got) != 0 {
		t.Fatalf("reaped twice: %v", got)
	}
	// A late BYE for a reaped call is ignored.
	n := r.sink.count()
	r.run(c1.inDialog("BYE", true, ""))
	if r.sink.count() != n {
		t.Fatal("a BYE for a reaped call was reported")
	}
}

func TestEnd(t *testing.T) {
	r := newRig(t)
	r.run(c1.invite("b1", "1002", "sip:1002@192.0.2.21"), c1.invite("b2", "1002", "sip:1002@192.0.2.22"),
		c1.resp(180, "b1", "1002", "ta"), c1.resp(180, "b2", "1002", "tb"),
		c3.invite("b3", "1002", ""), c3.resp(200, "b3", "1002", "t3"))
	if n := r.calls.Open(); n != 4 {
		t.Fatalf("Open() = %d, want 4", n)
	}
	r.calls.End("no-such-call")
	r.calls.End(c1.id)
	if n := r.calls.Open(); n != 1 {
		t.Fatalf("Open() = %d after End(c1), want 1", n)
	}
	if ds := r.sink.last("1002"); len(ds) != 1 || ds[0].CallID != c3.id {
		t.Fatalf("1002 after End(c1): %+v", ds)
	}
	if l := r.sink.lamps("1001"); !slices.Equal(l, lamps(outgoing, outgoing, idle)) {
		t.Fatalf("1001 lamps = %v", l)
	}
	r.calls.End(c3.id)
	if n := r.calls.Open(); n != 0 || len(r.sink.last("1002")) != 0 {
		t.Fatalf("Open() = %d, 1002 %+v", n, r.sink.last("1002"))
	}
}

func TestPublishedAndProxiedInOneRollup(t *testing.T) {
	r := newRig(t)
	pub := presence.Dialog{ID: legID(c1.id, c1.ftag, "callee", "b1"), CallID: "pbx-call", State: presence.Confirmed, Direction: presence.Initiator}
	r.tr.Publish(Publication{ETag: "e1", Entity: "1002", Expires: r.clock.now().Add(time.Hour), Dialogs: []presence.Dialog{pub}})
	r.run(c1.invite("b1", "1002", ""), c1.resp(180, "b1", "1002", "t1"))
	ds := r.sink.last("1002")
	if len(ds) != 2 || ds[0].CallID != "pbx-call" || ds[1].CallID != c1.id || ds[1].State != presence.Early {
		t.Fatalf("roll-up = %+v", ds)
	}
	// The call's id collides with the published one (by construction) and
	// is made unique in the roll-up, not in the tracker.
	if ds[0].ID != pub.ID || ds[1].ID != pub.ID+"-2" {
		t.Fatalf("ids = %q, %q", ds[0].ID, ds[1].ID)
	}
	if l := presence.LampOf(ds); l != ringing {
		t.Fatalf("lamp = %v", l)
	}
	r.run(c1.cancel())
	if ds := r.sink.last("1002"); len(ds) != 1 || ds[0].CallID != "pbx-call" {
		t.Fatalf("after the call ended: %+v", ds)
	}
	if err := r.tr.Remove("1002", "e1"); err != nil {
		t.Fatal(err)
	}
	if ds := r.sink.last("1002"); len(ds) != 0 {
		t.Fatalf("after the publication ended: %+v", ds)
	}
}

func TestTrackerCalls(t *testing.T) {
	sink := &fakeSink{t: t}
	tr := NewTracker(sink)
	d := presence.Dialog{ID: "x", CallID: "c", State: presence.Early, Direction: presence.Recipient, Since: time.Unix(5, 0)}
	tr.SetCall("1002", d)
	tr.SetCall("1002", d) // unchanged: not reported
	d2 := d
	d2.Since = time.Unix(5, 0).In(time.FixedZone("x", 3600)) // the same instant
	tr.SetCall("1002", d2)
	tr.SetCall("1002", presence.Dialog{ID: "y", CallID: "c2", State: presence.Confirmed})
	d.State = presence.Confirmed
	tr.SetCall("1002", d) // an update keeps its place
	if got := tr.Calls("1002"); len(got) != 2 || got[0].ID != "x" || got[0].State != presence.Confirmed || got[1].ID != "y" {
		t.Fatalf("Calls = %+v", got)
	}
	if got := sink.lamps("1002"); !slices.Equal(got, lamps(ringing, ringing, busyLamp)) {
		t.Fatalf("lamps = %v", got)
	}
	tr.EndCall("1002", "nope")
	tr.EndCall("1001", "x")
	if sink.count() != 3 {
		t.Fatalf("ending unknown calls was reported: %+v", sink.reports)
	}
	d.State = presence.Terminated
	tr.SetCall("1002", d)
	tr.EndCall("1002", "y")
	if got := tr.Calls("1002"); len(got) != 0 || len(tr.calls) != 0 {
		t.Fatalf("Calls after the end = %+v (%d entities)", got, len(tr.calls))
	}
	if got := sink.lamps("1002"); !slices.Equal(got, lamps(ringing, ringing, busyLamp, busyLamp, idle)) {
		t.Fatalf("lamps = %v", got)
	}
	// Calls returns a copy.
	tr.SetCall("1003", presence.Dialog{ID: "z", State: presence.Trying})
	tr.Calls("1003")[0].State = presence.Confirmed
	if tr.Calls("1003")[0].State != presence.Trying {
		t.Fatal("Calls shares the tracker's slice")
	}
}

// TestCallsRandom feeds random events about a few calls and checks that
// nothing panics, that what Calls reported is what the Tracker holds, and
// that ending every call leaves nothing behind.
func TestCallsRandom(t *testing.T) {
	methods := []string{"INVITE", "CANCEL", "BYE", "ACK", "UPDATE", "PRACK", "OPTIONS", "invite", ""}
	statuses := []int{0, 100, 180, 183, 200, 202, 302, 408, 481, 486, 487, 603, 700, -1}
	pick := func(rng *rand.Rand, s ...string) string { return s[rng.IntN(len(s))] }
	for seed := range uint64(200) {
		r := newRig(t)
		rng := rand.New(rand.NewPCG(seed, 1))
		ids := []string{"a", "b", "c", ""}
		for range 60 {
			e := Event{
				Request: rng.IntN(2) == 0,
				Method:  methods[rng.IntN(len(methods))],
				Status:  statuses[rng.IntN(len(statuses))],
				CallID:  pick(rng, ids...),
				FromTag: pick(rng, "f", "g", ""),
				ToTag:   pick(rng, "", "t", "u", "f"),
				Branch:  pick(rng, "", "b1", "b2"),
				Caller:  pick(rng, "", "1001", "1002"),
				Callee:  pick(rng, "", "1002", "1003"),
				Device:  pick(rng, "", "sip:d1", "sip:d2"),
				Sender:  pick(rng, "", "1001", "1002", "1003"),
			}
			if rng.IntN(2) == 0 {
				e.SDP = []byte(pick(rng, holdSDP, resumeSDP, "junk", ""))
			}
			if rng.IntN(3) == 0 {
				e.Asserted = &ext
			}
			r.calls.Handle(e)
			r.clock.advance(time.Duration(rng.IntN(120)) * time.Second)
			if rng.IntN(20) == 0 {
				r.calls.Reap(10 * time.Minute)
			}
			// The tracker holds the last dialogs each extension was told of.
			for _, ent := range []string{"1001", "1002", "1003"} {
				if got, want := r.tr.Calls(ent), r.sink.last(ent); len(got) != len(want) {
					t.Fatalf("seed %d: %s tracker %+v, reported %+v", seed, ent, got, want)
				}
			}
		}
		for _, id := range ids {
			r.calls.End(id)
		}
		if n := r.calls.Open(); n != 0 {
			t.Fatalf("seed %d: Open() = %d after ending every call", seed, n)
		}
		if len(r.calls.calls) != 0 || len(r.tr.calls) != 0 {
			t.Fatalf("seed %d: left behind %v, %v", seed, r.calls.calls, r.tr.calls)
		}
		for _, ent := range []string{"1001", "1002", "1003"} {
			if l := presence.LampOf(r.sink.last(ent)); l != idle {
				t.Fatalf("seed %d: %s lamp = %v", seed, ent, l)
			}
		}
	}
}

func TestCallsConcurrent(t *testing.T) {
	r := newRig(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			l := callLeg{id: fmt.Sprint("k", i), ftag: "f", caller: "1001", from: alice, to: bob, callee: "1002", ttag: "t"}
			for range 50 {
				r.calls.Handle(l.invite("b", "1002", ""))
				r.calls.Handle(l.resp(180, "b", "1002", "t"))
				r.calls.Handle(l.resp(200, "b", "1002", "t"))
				r.calls.Handle(l.inDialog("BYE", true, ""))
			}
		})
	}
	wg.Wait()
	if n := r.calls.Open(); n != 0 {
		t.Fatalf("Open() = %d", n)
	}
	if l := presence.LampOf(r.sink.last("1002")); l != idle {
		t.Fatalf("1002 lamp = %v", l)
	}
}

func TestCallsRestore(t *testing.T) {
	r := newRig(t)
	tr, c := r.tr, r.calls
	at := time.Unix(1700000000, 0)
	c.Restore(Answered{CallID: "r1", FromTag: "a", ToTag: "b", Caller: "1001", Callee: "1002",
		From: presence.Party{URI: "sip:1001@x"}, To: presence.Party{URI: "sip:1002@x"}, CalleeHeld: true, At: at})
	if c.Open() != 2 {
		t.Fatalf("legs = %d, want 2", c.Open())
	}
	d := tr.Calls("1002")
	if len(d) != 1 || d[0].State != presence.Confirmed || !d[0].Held || d[0].Direction != presence.Recipient {
		t.Fatalf("callee after restore = %+v", d)
	}
	if _, held := c.Held("r1", "a"); !held {
		t.Fatal("Held lost the callee's hold")
	}
	c.Handle(Event{Request: true, Method: "BYE", CallID: "r1", FromTag: "b", ToTag: "a"})
	if c.Open() != 0 || len(tr.Calls("1001")) != 0 || len(tr.Calls("1002")) != 0 {
		t.Fatalf("BYE after restore left %d legs", c.Open())
	}
}
