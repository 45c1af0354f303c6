package main

// End-to-end tests over real loopback sockets, SIPp as watcher and
// publisher (harness in e2e_test.go, scenarios in testdata/sipp).

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var transports = []string{"udp", "tcp"}

// notifyBound is how long a state change may take to reach a watcher. The
// product target is 1 s; the bound is generous for loaded CI machines.
const notifyBound = 5 * time.Second

// lamp-sequence states as a PBX publishes them for one call.
var (
	ringing = call{ID: "call-1", Direction: "recipient", State: "early", Remote: "sip:300@" + e2eDomain, Display: "Caller Name"}
	talking = call{ID: "call-1", Direction: "recipient", State: "confirmed", Remote: "sip:300@" + e2eDomain, Display: "Caller Name"}
	onHold  = call{ID: "call-1", Direction: "recipient", State: "confirmed", Held: true, Remote: "sip:300@" + e2eDomain, Display: "Caller Name"}
	hungUp  = call{ID: "call-1", Direction: "recipient", State: "terminated", Remote: "sip:300@" + e2eDomain, Display: "Caller Name"}
)

// TestE2ELampSequence: a watcher sees idle -> ringing (caller id) -> busy ->
// hold -> busy -> idle, each within the bound, dialog-info versions 0..6
// (the last one the final NOTIFY of the unsubscribe), for Event: dialog and
// Event: presence, over UDP and TCP.
func TestE2ELampSequence(t *testing.T) {
	t.Parallel()
	for _, tp := range transports {
		for _, ev := range []string{"dialog", "presence"} {
			t.Run(tp+"/"+ev, func(t *testing.T) {
				t.Parallel()
				g := startGateway(t, gwConfig{})
				steps := []struct {
					name  string
					calls []call
					want  string // lamp, or PIDF summary
				}{
					{"ringing", []call{ringing}, map[string]string{"dialog": "ringing", "presence": "open/Ringing/on-the-phone"}[ev]},
					{"busy", []call{talking}, map[string]string{"dialog": "busy", "presence": "open/On the phone/on-the-phone"}[ev]},
					{"hold", []call{onHold}, map[string]string{"dialog": "hold", "presence": "open/On hold/on-the-phone"}[ev]},
					{"busy again", []call{talking}, map[string]string{"dialog": "busy", "presence": "open/On the phone/on-the-phone"}[ev]},
					{"idle", []call{hungUp}, map[string]string{"dialog": "idle", "presence": "open/Available"}[ev]},
				}
				idle := map[string]string{"dialog": "idle", "presence": "open/Available"}[ev]
				accept := map[string]string{"dialog": "Accept: application/dialog-info+xml", "presence": "Accept: application/pidf+xml"}[ev]
				// NOTIFY 1 is the initial idle state, 2..6 the five changes;
				// then the watcher unsubscribes and NOTIFY 7 ends it.
				event := map[string]string{"dialog": "dialog;id=blf1", "presence": "presence"}[ev]
				w := g.watch(tp, watch{Ext: "1001", Event: event, Accept: accept, Expires: 600, UnsubAt: 1 + len(steps)})
				w.waitNotifies(1, notifyBound)
				g.waitHealth("1 subscription", notifyBound, func(h health) bool { return h.Subscriptions == 1 })

				// An idle publication changes nothing: no NOTIFY expected.
				pub := g.publish(tp, publication{Ext: "1001", Body: dialogInfo("1001"), Expires: 600})
				etag := pub.ETag
				var worst time.Duration
				for i, st := range steps {
					pub := g.publish(tp, publication{Ext: "1001", Body: dialogInfo("1001", st.calls...), IfMatch: etag, Expires: 600})
					if pub.ETag == etag {
						t.Errorf("%s: modify returned the same SIP-ETag %q", st.name, etag)
					}
					etag = pub.ETag
					ns := w.waitNotifies(i+2, notifyBound)
					n := ns[i+1]
					if got := lampOf(t, n); got != st.want {
						t.Errorf("%s: NOTIFY #%d shows %q, want %q\n%s", st.name, i+2, got, st.want, n.Body)
					}
					if lag := n.At.Sub(pub.At); lag > worst {
						worst = lag
					}
					if lag := n.At.Sub(pub.At); lag > notifyBound {
						t.Errorf("%s: NOTIFY %v after the PUBLISH's 200 (bound %v)", st.name, lag, notifyBound)
					}
				}
				t.Logf("slowest PUBLISH-200 -> NOTIFY: %v", worst)
				w.mustPass(15 * time.Second)

				s := w.subscription()
				checkNotifyDialog(t, s, g.sipPort, tp)
				if len(s.Notifies) != 2+len(steps) {
					t.Fatalf("%d NOTIFYs, want %d (initial, %d changes, final)", len(s.Notifies), 2+len(steps), len(steps))
				}
				want := []string{idle}
				for _, st := range steps {
					want = append(want, st.want)
				}
				want = append(want, idle)
				for i, n := range s.Notifies {
					if got := lampOf(t, n); got != want[i] {
						t.Errorf("NOTIFY #%d: %q, want %q", i+1, got, want[i])
					}
				}
				if last := s.Notifies[len(s.Notifies)-1].H("Subscription-State"); !isTerminated(last, "timeout") {
					t.Errorf("final NOTIFY Subscription-State %q, want terminated;reason=timeout", last)
				}
				if ev == "dialog" {
					// The caller's name and number, for the phone's display.
					d, _ := parseDialogInfo(s.Notifies[1].Body)
					if len(d.Dialogs) != 1 || d.Dialogs[0].Remote == nil ||
						d.Dialogs[0].Remote.Identity.Display != "Caller Name" ||
						strings.TrimSpace(d.Dialogs[0].Remote.Identity.URI) != "sip:300@"+e2eDomain ||
						d.Dialogs[0].Direction != "recipient" {
						t.Errorf("ringing NOTIFY lacks the caller (display \"Caller Name\", sip:300@%s, direction recipient):\n%s", e2eDomain, s.Notifies[1].Body)
					}
					if d.Dialogs[0].CallID == "" || d.Dialogs[0].LocalTag == "" || d.Dialogs[0].RemoteTag == "" {
						t.Errorf("ringing NOTIFY lacks call-id/local-tag/remote-tag needed for pickup:\n%s", s.Notifies[1].Body)
					}
				} else {
					for i, n := range s.Notifies {
						d, err := parsePIDF(n.Body)
						if err == nil && d.Entity != "sip:1001@"+e2eDomain {
							t.Errorf("NOTIFY #%d: PIDF entity %q", i+1, d.Entity)
						}
					}
				}
				if s.OK.Code == 200 {
					if g, err := strconv.Atoi(s.OK.H("Expires")); err != nil || g > 600 || g < 540 {
						t.Errorf("granted Expires %q for 600 asked, want 540..600 (at most 10%% jitter)", s.OK.H("Expires"))
					}
				}
				g.waitHealth("no subscription after unsubscribe", notifyBound, func(h health) bool { return h.Subscriptions == 0 })
			})
		}
	}
}

// TestE2EOutgoingLamp: an extension placing a call (initiator dialog in
// trying, proceeding, early) shows as outgoing ("Calling" in PIDF), then
// busy when answered, idle when it ends.
func TestE2EOutgoingLamp(t *testing.T) {
	t.Parallel()
	for _, tp := range transports {
		t.Run(tp, func(t *testing.T) {
			t.Parallel()
			g := startGateway(t, gwConfig{})
			out := func(state string) call {
				return call{ID: "out-1", Direction: "initiator", State: state, Remote: "sip:0301234567@" + e2eDomain}
			}
			steps := []struct {
				c             call
				lamp, summary string
			}{
				{out("trying"), "outgoing", "open/Calling/on-the-phone"},
				{out("proceeding"), "outgoing", "open/Calling/on-the-phone"},
				{out("early"), "outgoing", "open/Calling/on-the-phone"},
				{out("confirmed"), "busy", "open/On the phone/on-the-phone"},
				{out("terminated"), "idle", "open/Available"},
			}
			dlg := g.watch(tp, watch{Ext: "1003", Event: "dialog", Expires: 600, UnsubAt: 1 + len(steps)})
			pres := g.watch(tp, watch{Ext: "1003", Event: "presence", Watcher: "2002", Expires: 600, UnsubAt: 1 + len(steps)})
			dlg.waitNotifies(1, notifyBound)
			pres.waitNotifies(1, notifyBound)
			etag := ""
			for i, st := range steps {
				etag = g.publish(tp, publication{Ext: "1003", Body: dialogInfo("1003", st.c), IfMatch: etag, Expires: 600}).ETag
				// trying -> proceeding -> early is the same presence state:
				// PIDF watchers need not hear about it, dialog watchers do.
				if got := lampOf(t, dlg.waitNotifies(i+2, notifyBound)[i+1]); got != st.lamp {
					t.Errorf("%s: dialog watcher sees %q, want %q", st.c.State, got, st.lamp)
				}
				ns := pres.waitFor("presence "+st.summary, notifyBound, func(ms []sipMsg) bool {
					n := received(ms, "NOTIFY")
					return len(n) > 1 && lampOf(t, n[len(n)-1]) == st.summary
				})
				_ = ns
			}
			dlg.mustPass(15 * time.Second)
			pres.mustPass(15 * time.Second)
			checkNotifyDialog(t, dlg.subscription(), g.sipPort, tp)
			checkNotifyDialog(t, pres.subscription(), g.sipPort, tp)
		})
	}
}

func isTerminated(state, reason string) bool {
	if !strings.HasPrefix(strings.TrimSpace(state), "terminated") {
		return false
	}
	r, _ := param(state, "reason")
	return r == reason
}

// TestE2EResponseCodes: every SUBSCRIBE and PUBLISH error answer, with its
// headers, and the PUBLISH life cycle (RFC 6665, RFC 3903).
func TestE2EResponseCodes(t *testing.T) {
	t.Parallel()
	for _, tp := range transports {
		t.Run(tp, func(t *testing.T) {
			t.Parallel()
			g := startGateway(t, gwConfig{})
			contact := "Contact: <sip:2001@127.0.0.1:5999>"
			noTag := ""
			busy := dialogInfo("1002", talking)

			cases := []struct {
				name  string
				req   request
				check func(t *testing.T, r sipMsg)
			}{
				{"subscribe/no Event 489", request{Method: "SUBSCRIBE", Ext: "1001", From: "2001", Headers: []string{contact, "Expires: 600"}, Expect: 489},
					wantAllowEvents},
				{"subscribe/unknown Event 489", request{Method: "SUBSCRIBE", Ext: "1001", From: "2001", Headers: []string{contact, "Event: foo", "Expires: 600"}, Expect: 489},
					wantAllowEvents},
				{"subscribe/Accept text-plain 406", request{Method: "SUBSCRIBE", Ext: "1001", From: "2001", Headers: []string{contact, "Event: dialog", "Accept: text/plain", "Expires: 600"}, Expect: 406},
					wantHeader("Accept", "application/dialog-info+xml")},
				{"subscribe/dialog with Accept pidf 406", request{Method: "SUBSCRIBE", Ext: "1001", From: "2001", Headers: []string{contact, "Event: dialog", "Accept: application/pidf+xml", "Expires: 600"}, Expect: 406},
					wantHeader("Accept", "application/dialog-info+xml")},
				{"subscribe/presence with Accept dialog-info 406", request{Method: "SUBSCRIBE", Ext: "1001", From: "2001", Headers: []string{contact, "Event: presence", "Accept: application/dialog-info+xml", "Expires: 600"}, Expect: 406},
					wantHeader("Accept", "application/pidf+xml")},
				{"subscribe/unknown extension 404", request{Method: "SUBSCRIBE", Ext: "9999", From: "2001", Headers: []string{contact, "Event: dialog", "Expires: 600"}, Expect: 404},
					wantReason("Unknown extension")},
				{"subscribe/Expires 1 423", request{Method: "SUBSCRIBE", Ext: "1001", From: "2001", Headers: []string{contact, "Event: dialog", "Expires: 1"}, Expect: 423},
					wantHeader("Min-Expires", "2")},
				{"subscribe/refresh of unknown dialog 481", request{Method: "SUBSCRIBE", Ext: "1001", From: "2001", ToTag: "no-such-dialog", Headers: []string{contact, "Event: dialog", "Expires: 600"}, Expect: 481}, nil},
				{"subscribe/no Contact 400", request{Method: "SUBSCRIBE", Ext: "1001", From: "2001", Headers: []string{"Event: dialog", "Expires: 600"}, Expect: 400}, nil},
				{"subscribe/no From tag 400", request{Method: "SUBSCRIBE", Ext: "1001", From: "2001", FromTag: &noTag, Headers: []string{contact, "Event: dialog", "Expires: 600"}, Expect: 400}, nil},
				{"subscribe/Expires not a number 400", request{Method: "SUBSCRIBE", Ext: "1001", From: "2001", Headers: []string{contact, "Event: dialog", "Expires: soon"}, Expect: 400}, nil},

				{"publish/Event presence 489", request{Method: "PUBLISH", Ext: "1002", Headers: []string{"Event: presence", "Expires: 60", "Content-Type: application/dialog-info+xml"}, Body: busy, Expect: 489},
					wantHeader("Allow-Events", "dialog")},
				{"publish/no Event 489", request{Method: "PUBLISH", Ext: "1002", Headers: []string{"Expires: 60", "Content-Type: application/dialog-info+xml"}, Body: busy, Expect: 489}, nil},
				{"publish/unknown extension 404", request{Method: "PUBLISH", Ext: "9999", Headers: []string{"Event: dialog", "Expires: 60", "Content-Type: application/dialog-info+xml"}, Body: dialogInfo("9999", talking), Expect: 404}, nil},
				{"publish/text-plain 415", request{Method: "PUBLISH", Ext: "1002", Headers: []string{"Event: dialog", "Expires: 60", "Content-Type: text/plain"}, Body: "busy", Expect: 415},
					wantHeader("Accept", "application/dialog-info+xml")},
				{"publish/XML that does not parse 400", request{Method: "PUBLISH", Ext: "1002", Headers: []string{"Event: dialog", "Expires: 60", "Content-Type: application/dialog-info+xml"},
					Body: `<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="0" state="full" entity="sip:1002@pbx.test"><dialog id="x"><state>confirmed</dialog>`, Expect: 400},
					wantBadDialogInfo("")},
				{"publish/not dialog-info 400", request{Method: "PUBLISH", Ext: "1002", Headers: []string{"Event: dialog", "Expires: 60", "Content-Type: application/dialog-info+xml"},
					Body: `<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:1002@pbx.test"/>`, Expect: 400},
					wantBadDialogInfo("")},
				{"publish/DTD 400", request{Method: "PUBLISH", Ext: "1002", Headers: []string{"Event: dialog", "Expires: 60", "Content-Type: application/dialog-info+xml"},
					Body: `<?xml version="1.0"?><!DOCTYPE dialog-info [<!ENTITY a "aaaaaaaaaa">]><dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="0" state="full" entity="sip:1002@pbx.test"><dialog id="&a;"><state>confirmed</state></dialog></dialog-info>`, Expect: 400},
					wantBadDialogInfo("DTD not allowed")},
				{"publish/Expires 1 423", request{Method: "PUBLISH", Ext: "1002", Headers: []string{"Event: dialog", "Expires: 1", "Content-Type: application/dialog-info+xml"}, Body: busy, Expect: 423},
					wantHeader("Min-Expires", "2")},
				{"publish/no body no If-Match 400", request{Method: "PUBLISH", Ext: "1002", Headers: []string{"Event: dialog", "Expires: 60"}, Expect: 400}, nil},
				{"publish/unknown ETag 412", request{Method: "PUBLISH", Ext: "1002", Headers: []string{"Event: dialog", "Expires: 60", "SIP-If-Match: no-such-etag"}, Expect: 412}, nil},
				{"publish/unknown ETag with body 412", request{Method: "PUBLISH", Ext: "1002", Headers: []string{"Event: dialog", "Expires: 60", "SIP-If-Match: no-such-etag", "Content-Type: application/dialog-info+xml"}, Body: busy, Expect: 412}, nil},
			}
			for _, c := range cases {
				t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
					g.t = t
					resp, _ := g.do(tp, c.req)
					t.Logf("%s -> %d %s", c.name, resp.Code, resp.Reason)
					if c.check != nil {
						c.check(t, resp)
					}
				})
			}
			g.t = t

			t.Run("publish/life_cycle", func(t *testing.T) {
				g.t = t
				defer func() { g.t = t }()
				first := g.publish(tp, publication{Ext: "1002", Body: busy, Expires: 60})
				if e := first.Resp.H("Expires"); e != "60" {
					t.Errorf("initial PUBLISH: Expires %q, want 60", e)
				}
				g.waitHealth("1 publication", notifyBound, func(h health) bool { return h.Publications == 1 })
				refreshed := g.publish(tp, publication{Ext: "1002", IfMatch: first.ETag, Expires: 60})
				if refreshed.ETag == first.ETag {
					t.Errorf("refresh kept the SIP-ETag %q; RFC 3903 wants a new one", first.ETag)
				}
				g.publish(tp, publication{Ext: "1002", IfMatch: first.ETag, Expires: 60, Expect: 412})
				modified := g.publish(tp, publication{Ext: "1002", Body: dialogInfo("1002", onHold), IfMatch: refreshed.ETag, Expires: 60})
				if modified.ETag == refreshed.ETag || modified.ETag == "" {
					t.Errorf("modify: SIP-ETag %q after %q, want a new one", modified.ETag, refreshed.ETag)
				}
				removed := g.publish(tp, publication{Ext: "1002", IfMatch: modified.ETag, Expires: 0})
				if removed.Resp.Code != 200 {
					t.Errorf("remove: %d", removed.Resp.Code)
				}
				g.waitHealth("no publication after remove", notifyBound, func(h health) bool { return h.Publications == 0 })
				g.publish(tp, publication{Ext: "1002", IfMatch: modified.ETag, Expires: 60, Expect: 412})
				g.publish(tp, publication{Ext: "1002", Body: busy, IfMatch: modified.ETag, Expires: 60, Expect: 412})
			})

			t.Run("subscribe/granted_expires", func(t *testing.T) {
				g.t = t
				defer func() { g.t = t }()
				for _, c := range []struct{ ask, lo, hi int }{{100, 100, 100}, {600, 540, 600}, {7200, 3240, 3600}} {
					w := g.watch(tp, watch{Ext: "1003", Expires: c.ask, UnsubAt: 1})
					w.mustPass(15 * time.Second)
					s := w.subscription()
					checkNotifyDialog(t, s, g.sipPort, tp)
					if s.OK.Code != 200 {
						continue // lost by SIPp over TCP (issue #675); UDP checks the value
					}
					got, err := strconv.Atoi(s.OK.H("Expires"))
					if err != nil || got < c.lo || got > c.hi {
						t.Errorf("asked %d: granted %q, want %d..%d", c.ask, s.OK.H("Expires"), c.lo, c.hi)
					}
					left, _ := param(s.Notifies[0].H("Subscription-State"), "expires")
					if l, err := strconv.Atoi(left); err != nil || l > got || l < got-2 {
						t.Errorf("asked %d, granted %d: first NOTIFY says expires=%s", c.ask, got, left)
					}
				}
			})

			t.Run("subscribe/fetch", func(t *testing.T) {
				g.t = t
				defer func() { g.t = t }()
				pub := g.publish(tp, publication{Ext: "1004", Body: dialogInfo("1004", talking), Expires: 60})
				w := g.watch(tp, watch{Ext: "1004", Expires: 0})
				w.mustPass(15 * time.Second)
				s := w.subscription()
				if s.OK.Code == 200 && s.OK.H("Expires") != "0" {
					t.Errorf("fetch: 200 with Expires %q, want 0", s.OK.H("Expires"))
				}
				if len(s.Notifies) != 1 {
					t.Fatalf("fetch: %d NOTIFYs, want 1", len(s.Notifies))
				}
				if st := s.Notifies[0].H("Subscription-State"); !isTerminated(st, "timeout") {
					t.Errorf("fetch NOTIFY: Subscription-State %q, want terminated;reason=timeout", st)
				}
				if got := lampOf(t, s.Notifies[0]); got != "busy" {
					t.Errorf("fetch NOTIFY shows %q, want the current state busy", got)
				}
				checkNotifyDialog(t, s, g.sipPort, tp)
				g.publish(tp, publication{Ext: "1004", IfMatch: pub.ETag, Expires: 0})
				g.waitHealth("no subscription after the fetch", notifyBound, func(h health) bool { return h.Subscriptions == 0 })
			})

			t.Run("subscribe/refresh", func(t *testing.T) {
				g.t = t
				defer func() { g.t = t }()
				// NOTIFY 1 on accept, 2 on the refresh (same state), 3 final.
				w := g.watch(tp, watch{Ext: "1005", Expires: 300, RefreshAt: 1, UnsubAt: 2})
				w.mustPass(15 * time.Second)
				s := w.subscription()
				checkNotifyDialog(t, s, g.sipPort, tp)
				if len(s.Notifies) != 3 {
					t.Fatalf("%d NOTIFYs, want 3 (accept, refresh, unsubscribe)", len(s.Notifies))
				}
				for _, r := range finalResponses(responses(w.messages(), "SUBSCRIBE")) {
					e, err := strconv.Atoi(r.H("Expires"))
					switch {
					case r.Code != 200:
						t.Errorf("SUBSCRIBE CSeq %d answered %d", r.CSeq(), r.Code)
					case r.CSeq() == 3 && e != 0:
						t.Errorf("unsubscribe 200: Expires %q, want 0", r.H("Expires"))
					case r.CSeq() == 2 && (err != nil || e > 300 || e < 2):
						t.Errorf("refresh 200: Expires %q, want 2..300", r.H("Expires"))
					}
				}
			})
		})
	}
}

func wantAllowEvents(t *testing.T, r sipMsg) {
	t.Helper()
	ae := strings.ToLower(strings.Join(r.All("Allow-Events"), ","))
	if !strings.Contains(ae, "dialog") || !strings.Contains(ae, "presence") {
		t.Errorf("489 Allow-Events %q, want dialog and presence", ae)
	}
}

func wantHeader(name, contains string) func(*testing.T, sipMsg) {
	return func(t *testing.T, r sipMsg) {
		t.Helper()
		v := strings.Join(r.All(name), ", ")
		if !strings.Contains(strings.ToLower(v), strings.ToLower(contains)) {
			t.Errorf("%d: %s %q, want it to contain %q\n%s", r.Code, name, v, contains, r)
		}
	}
}

func wantReason(reason string) func(*testing.T, sipMsg) {
	return func(t *testing.T, r sipMsg) {
		t.Helper()
		if r.Reason != reason {
			t.Errorf("reason phrase %q, want %q", r.Reason, reason)
		}
	}
}

// wantBadDialogInfo: 400 whose reason says what is wrong.
func wantBadDialogInfo(contains string) func(*testing.T, sipMsg) {
	return func(t *testing.T, r sipMsg) {
		t.Helper()
		if !strings.HasPrefix(r.Reason, "Bad dialog-info:") || len(strings.TrimSpace(strings.TrimPrefix(r.Reason, "Bad dialog-info:"))) < 3 {
			t.Errorf("reason phrase %q, want \"Bad dialog-info: <what is wrong>\"", r.Reason)
		}
		if contains != "" && !strings.Contains(r.Reason, contains) {
			t.Errorf("reason phrase %q, want it to contain %q", r.Reason, contains)
		}
	}
}

// TestE2EExpiry: a subscription of 3 s ends with terminated;reason=timeout;
// a publication of 3 s lapses and the watcher sees idle.
func TestE2EExpiry(t *testing.T) {
	t.Parallel()
	for _, tp := range transports {
		t.Run(tp, func(t *testing.T) {
			t.Parallel()
			g := startGateway(t, gwConfig{})

			short := g.watch(tp, watch{Ext: "1001", Expires: 3})
			long := g.watch(tp, watch{Ext: "1002", Expires: 600, UnsubAt: 3})
			long.waitNotifies(1, notifyBound)
			pub := g.publish(tp, publication{Ext: "1002", Body: dialogInfo("1002", talking), Expires: 3})
			if pub.Resp.H("Expires") != "3" {
				t.Errorf("PUBLISH Expires 3 answered with Expires %q", pub.Resp.H("Expires"))
			}
			ns := long.waitNotifies(2, notifyBound)
			if got := lampOf(t, ns[1]); got != "busy" {
				t.Errorf("after PUBLISH: %q, want busy", got)
			}
			ns = long.waitNotifies(3, 10*time.Second)
			if got := lampOf(t, ns[2]); got != "idle" {
				t.Errorf("after the publication lapsed: %q, want idle", got)
			}
			if lag := ns[2].At.Sub(pub.At); lag < 2*time.Second || lag > 3*time.Second+notifyBound {
				t.Errorf("idle NOTIFY %v after the 3 s publication was accepted, want about 3 s", lag)
			}
			long.mustPass(15 * time.Second)
			checkNotifyDialog(t, long.subscription(), g.sipPort, tp)

			short.mustPass(15 * time.Second)
			s := short.subscription()
			checkNotifyDialog(t, s, g.sipPort, tp)
			if len(s.Notifies) != 2 {
				t.Fatalf("3 s subscription: %d NOTIFYs, want 2 (accept, expiry)", len(s.Notifies))
			}
			end := s.Notifies[1]
			if st := end.H("Subscription-State"); !isTerminated(st, "timeout") {
				t.Errorf("expiry NOTIFY: Subscription-State %q, want terminated;reason=timeout", st)
			}
			if lag := end.At.Sub(s.Subscribe.At); lag < 2*time.Second || lag > 3*time.Second+notifyBound {
				t.Errorf("expiry NOTIFY %v after the SUBSCRIBE, want about 3 s", lag)
			}
			g.waitHealth("nothing left", notifyBound, func(h health) bool { return h.Subscriptions == 0 && h.Publications == 0 })
		})
	}
}

// TestE2ENotify481: a watcher that answers a NOTIFY with 481 (or 404, 410)
// loses its subscription and hears nothing more.
func TestE2ENotify481(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		tp   string
		code int
	}{{"udp", 481}, {"tcp", 481}, {"udp", 404}, {"udp", 410}} {
		t.Run(fmt.Sprintf("%s/%d", c.tp, c.code), func(t *testing.T) {
			t.Parallel()
			g := startGateway(t, gwConfig{})
			w := g.watch(c.tp, watch{Ext: "1001", Expires: 600, RejectAt: 2, RejectCode: c.code, QuietMs: 3000})
			w.waitNotifies(1, notifyBound)
			g.waitHealth("1 subscription", notifyBound, func(h health) bool { return h.Subscriptions == 1 })
			pub := g.publish(c.tp, publication{Ext: "1001", Body: dialogInfo("1001", talking), Expires: 600})
			w.waitFor("the rejection sent", notifyBound, func(ms []sipMsg) bool {
				for _, m := range ms {
					if m.Sent && m.Code == c.code {
						return true
					}
				}
				return false
			})
			g.waitHealth("subscription removed", notifyBound, func(h health) bool { return h.Subscriptions == 0 })
			// A change now must not reach the watcher (SIPp fails on any
			// message during its quiet period).
			g.publish(c.tp, publication{Ext: "1001", Body: dialogInfo("1001", hungUp), IfMatch: pub.ETag, Expires: 600})
			w.mustPass(15 * time.Second)
			if n := len(w.subscription().Notifies); n != 2 {
				t.Errorf("%d NOTIFYs, want 2", n)
			}
		})
	}
}

// TestE2ERestart: the gateway stops (SIGTERM, or SIGKILL) and starts again
// on the same database and ports; the watcher, without re-subscribing, gets
// a NOTIFY with the unchanged (busy) state, a higher CSeq and the next
// version.
func TestE2ERestart(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		for _, tp := range transports {
			t.Run(fmt.Sprintf("%s/%s", map[syscall.Signal]string{syscall.SIGTERM: "sigterm", syscall.SIGKILL: "sigkill"}[sig], tp), func(t *testing.T) {
				t.Parallel()
				// Over TCP, SIPp 3.6.1 now and then never reads the
				// connection the restarted gateway opens to its Contact:
				// SIPp has reconnected by then, from a new port the
				// restored subscription cannot know, and the gateway's log
				// shows the NOTIFY written to the Contact (RFC 3261 18.1.1).
				// About one run in four loses it here, so a run is tried up
				// to four times, each with a fresh gateway and watcher; a
				// fourth loss fails the test.
				const attempts = 4
				for attempt := 1; ; attempt++ {
					if restartOnce(t, sig, tp, attempt < attempts) {
						return
					}
					t.Logf("attempt %d: SIPp did not read the NOTIFY the restarted gateway wrote on its new TCP connection; trying again", attempt)
				}
			})
		}
	}
}

// restartOnce is one run of TestE2ERestart; false: over TCP, the NOTIFY
// after the restart was written to SIPp's Contact but SIPp never read it,
// and retry allows another run.
func restartOnce(t *testing.T, sig syscall.Signal, tp string, retry bool) bool {
	t.Helper()
	g := startGateway(t, gwConfig{})
	ww := watch{Ext: "1001", Expires: 600, UnsubAt: 3}
	if tp == "tcp" {
		// SIPp (t1) answers only on the connection it opened, which
		// the restart closed; the gateway's new connection to the
		// Contact brings the NOTIFY, and the log is what we check.
		ww.UnsubAt = 0
		// Reconnect attempts cover 6 s: a loaded CI machine took more
		// than the 0.5 s of 5 x 100 ms to restart a killed gateway,
		// and SIPp gave up on "connection refused".
		ww.Extra = []string{"-max_reconnect", "30", "-reconnect_sleep", "200", "-reconnect_close", "false"}
	}
	w := g.watch(tp, ww)
	w.waitNotifies(1, notifyBound)
	g.publish(tp, publication{Ext: "1001", Body: dialogInfo("1001", talking), Expires: 600})
	before := w.waitNotifies(2, notifyBound)[1]
	if got := lampOf(t, before); got != "busy" {
		t.Fatalf("before the restart: %q, want busy", got)
	}
	g.waitHealth("1 subscription, 1 publication", notifyBound, func(h health) bool { return h.Subscriptions == 1 && h.Publications == 1 })

	g.stop(sig)
	g.start()
	// (Not the subscription count: the restored NOTIFY below may
	// already have led to the unsubscribe.)
	g.waitHealth("publication restored", notifyBound, func(h health) bool { return h.Publications == 1 })

	if tp == "tcp" && retry && !w.seen(3, 10*time.Second) {
		g.mu.Lock()
		log, _ := os.ReadFile(g.logs[len(g.logs)-1])
		g.mu.Unlock()
		if strings.Contains(string(log), "Dialing new connection") {
			return false
		}
	}
	after := w.waitNotifies(3, 10*time.Second)[2]
	if got := lampOf(t, after); got != "busy" {
		t.Errorf("after the restart: %q, want busy (publications persisted)", got)
	}
	if after.H("Call-ID") != before.H("Call-ID") || tagOf(after.H("From")) != tagOf(before.H("From")) || tagOf(after.H("To")) != tagOf(before.H("To")) {
		t.Errorf("after the restart the NOTIFY is in another dialog:\nbefore %s / %s / %s\nafter  %s / %s / %s",
			before.H("Call-ID"), before.H("From"), before.H("To"), after.H("Call-ID"), after.H("From"), after.H("To"))
	}
	if !strings.HasPrefix(after.H("Subscription-State"), "active") {
		t.Errorf("after the restart: Subscription-State %q, want active", after.H("Subscription-State"))
	}
	c0, c1 := before.CSeq(), after.CSeq()
	d0, _ := parseDialogInfo(before.Body)
	d1, _ := parseDialogInfo(after.Body)
	v0, _ := strconv.Atoi(d0.Version)
	v1, err := strconv.Atoi(d1.Version)
	if err != nil {
		t.Fatalf("version %q", d1.Version)
	}
	t.Logf("CSeq %d -> %d, version %d -> %d", c0, c1, v0, v1)
	if sig == syscall.SIGTERM {
		if c1 != c0+1 {
			t.Errorf("after SIGTERM: CSeq %d, want exactly %d", c1, c0+1)
		}
		if v1 != v0+1 {
			t.Errorf("after SIGTERM: version %d, want exactly %d", v1, v0+1)
		}
	} else {
		if c1 <= c0 || c1 > c0+101 {
			t.Errorf("after SIGKILL: CSeq %d, want in (%d, %d]", c1, c0, c0+101)
		}
		if v1 <= v0 || v1 > v0+101 {
			t.Errorf("after SIGKILL: version %d, want in (%d, %d]", v1, v0, v0+101)
		}
	}
	if tp == "udp" {
		// Still the same subscription: the unsubscribe works.
		w.mustPass(15 * time.Second)
		s := w.subscription()
		if len(s.Notifies) != 4 || !isTerminated(s.Notifies[3].H("Subscription-State"), "timeout") {
			t.Errorf("unsubscribe after the restart: %d NOTIFYs, last %q", len(s.Notifies), s.Notifies[len(s.Notifies)-1].H("Subscription-State"))
		}
		g.waitHealth("no subscription", notifyBound, func(h health) bool { return h.Subscriptions == 0 })
	}
	return true
}

// TestE2EAuth: from an untrusted address every request is challenged (401,
// SHA-256 and MD5, qop=auth); MD5 credentials are accepted, a wrong
// password and publishing another extension's state get 403.
func TestE2EAuth(t *testing.T) {
	t.Parallel()
	for _, tp := range transports {
		t.Run(tp, func(t *testing.T) {
			t.Parallel()
			g := startGateway(t, gwConfig{Trusted: []string{"192.0.2.0/24"}})
			body := dialogInfo("1001", talking)
			pubHeaders := []string{"Event: dialog", "Expires: 60", "Content-Type: application/dialog-info+xml"}
			ruri := func(ext string) string { return "sip:" + ext + "@" + g.hostPort() }

			var md5Chal map[string]string
			t.Run("no_credentials_401", func(t *testing.T) {
				g.t = t
				defer func() { g.t = t }()
				resp, _ := g.do(tp, request{Method: "PUBLISH", Ext: "1001", Headers: pubHeaders, Body: body, Expect: 401})
				sha, okSHA := challengeFor(resp, "SHA-256")
				md, okMD5 := challengeFor(resp, "MD5")
				if !okSHA || !okMD5 {
					t.Fatalf("401 offers %q, want SHA-256 and MD5 challenges", resp.All("WWW-Authenticate"))
				}
				t.Logf("401 offers, in order: %q", resp.All("WWW-Authenticate"))
				for _, c := range []map[string]string{sha, md} {
					if c["realm"] != e2eDomain || c["nonce"] == "" || !strings.Contains(c["qop"], "auth") {
						t.Errorf("challenge %v: want realm %q, a nonce and qop=auth", c, e2eDomain)
					}
				}
				md5Chal = md
				sub, _ := g.do(tp, request{Method: "SUBSCRIBE", Ext: "1001", From: "1002", Headers: []string{"Contact: <sip:1002@127.0.0.1:5999>", "Event: dialog", "Expires: 60"}, Expect: 401})
				if _, ok := challengeFor(sub, "MD5"); !ok {
					t.Errorf("SUBSCRIBE 401 without an MD5 challenge: %q", sub.All("WWW-Authenticate"))
				}
			})
			if md5Chal == nil {
				t.FailNow()
			}
			g.t = t

			auth := func(user, pass, method, ext string) string {
				return md5Authorization(md5Chal, user, pass, method, ruri(ext))
			}
			t.Run("md5_publish_200", func(t *testing.T) {
				g.t = t
				defer func() { g.t = t }()
				p := g.publish(tp, publication{Ext: "1001", Body: body, Expires: 60, Auth: auth("1001", passwordOf("1001"), "PUBLISH", "1001")})
				g.publish(tp, publication{Ext: "1001", IfMatch: p.ETag, Expires: 0, Auth: auth("1001", passwordOf("1001"), "PUBLISH", "1001")})
			})
			t.Run("md5_wrong_password_403", func(t *testing.T) {
				g.t = t
				defer func() { g.t = t }()
				g.publish(tp, publication{Ext: "1001", Body: body, Expires: 60, Expect: 403, Auth: auth("1001", "wrong", "PUBLISH", "1001")})
				g.do(tp, request{Method: "SUBSCRIBE", Ext: "1001", From: "1002",
					Headers: []string{"Contact: <sip:1002@127.0.0.1:5999>", "Event: dialog", "Expires: 60", auth("1002", "wrong", "SUBSCRIBE", "1001")}, Expect: 403})
			})
			t.Run("md5_unknown_user_403", func(t *testing.T) {
				g.t = t
				defer func() { g.t = t }()
				g.publish(tp, publication{Ext: "1001", Body: body, Expires: 60, Expect: 403, Auth: auth("7777", "x", "PUBLISH", "1001")})
			})
			t.Run("publish_for_another_extension_403", func(t *testing.T) {
				g.t = t
				defer func() { g.t = t }()
				// 1001 authenticates correctly but publishes 1002's state.
				g.publish(tp, publication{Ext: "1002", Body: dialogInfo("1002", talking), Expires: 60, Expect: 403, Auth: auth("1001", passwordOf("1001"), "PUBLISH", "1002")})
			})
			t.Run("md5_subscribe_gets_notifies", func(t *testing.T) {
				g.t = t
				defer func() { g.t = t }()
				// The watcher authenticates its SUBSCRIBE, refresh and
				// unsubscribe, each with a fresh answer.
				w := g.watch(tp, watch{Ext: "1001", Watcher: "1002", Expires: 600, RefreshAt: 1, UnsubAt: 2,
					Auth:        auth("1002", passwordOf("1002"), "SUBSCRIBE", "1001"),
					AuthRefresh: auth("1002", passwordOf("1002"), "SUBSCRIBE", "1001"),
					AuthUnsub:   auth("1002", passwordOf("1002"), "SUBSCRIBE", "1001")})
				w.mustPass(15 * time.Second)
				s := w.subscription()
				checkNotifyDialog(t, s, g.sipPort, tp)
				if len(s.Notifies) != 3 {
					t.Errorf("%d NOTIFYs, want 3 (accept, refresh, unsubscribe)", len(s.Notifies))
				}
			})
			t.Run("md5_replayed_header_challenged", func(t *testing.T) {
				g.t = t
				defer func() { g.t = t }()
				// The same Authorization twice: the second is a replay (RFC
				// 7616 3.4) and gets a new challenge, stale=true.
				h := auth("1001", passwordOf("1001"), "PUBLISH", "1001")
				p := g.publish(tp, publication{Ext: "1001", Body: body, Expires: 60, Auth: h})
				replay := g.publish(tp, publication{Ext: "1001", Body: body, Expires: 60, Auth: h, Expect: 401})
				if c, ok := challengeFor(replay.Resp, "MD5"); !ok || !strings.EqualFold(c["stale"], "true") {
					t.Errorf("replayed Authorization: 401 %q, want a challenge with stale=true", replay.Resp.All("WWW-Authenticate"))
				}
				g.publish(tp, publication{Ext: "1001", IfMatch: p.ETag, Expires: 0, Auth: auth("1001", passwordOf("1001"), "PUBLISH", "1001")})
			})
			t.Run("fresh_nonce_per_challenge", func(t *testing.T) {
				// RFC 7616 3.3: the nonce "should be uniquely generated each
				// time a 401 response is made". Two challenges 20 ms apart.
				g.t = t
				defer func() { g.t = t }()
				run := g.startRequest(tp, request{Method: "PUBLISH", Ext: "1001", Headers: pubHeaders, Body: body, Expect: 401,
					Extra: []string{"-m", "2", "-r", "50", "-l", "2"}})
				run.mustPass(sippHardLimit)
				var nonces []string
				for _, r := range finalResponses(responses(run.messages(), "PUBLISH")) {
					if c, ok := challengeFor(r, "MD5"); ok {
						nonces = append(nonces, c["nonce"])
					}
				}
				if len(nonces) != 2 {
					t.Fatalf("%d challenges, want 2", len(nonces))
				}
				if nonces[0] == nonces[1] {
					t.Errorf("two 401s %v apart carry the same nonce %q: clients with a predictable cnonce (SIPp 3.6.1 always sends cnonce 6b8b4567, nc 1) would then be refused as replays",
						20*time.Millisecond, nonces[0])
				}
			})
			t.Run("sipp_authentication_keyword", func(t *testing.T) {
				// SIPp computes the MD5 answer itself ([authentication]).
				// SIPp 3.6.1 always answers with cnonce 6b8b4567 and nc 1;
				// that is no replay only because every challenge carries a
				// new nonce, which this runs twice in a row to show.
				g.t = t
				defer func() { g.t = t }()
				for i, c := range []struct {
					pass   string
					expect int
				}{{passwordOf("1001"), 200}, {"wrong", 403}, {passwordOf("1001"), 200}} {
					run := g.startSipp(fmt.Sprintf("auth-%s-%d-%d", tp, c.expect, i), sippOpts{
						scenario: "auth.xml", transport: tp, service: "1001",
						keys: map[string]string{"from": "1001", "from_tag": ";tag=auth1", "to_tag": "",
							"h1": pubHeaders[0], "h2": "Expires: 60", "h3": pubHeaders[2], "h4": "X-Pad: 1", "h5": "X-Pad: 1", "h6": "X-Pad: 1", "body": body},
						sets: map[string]string{"method": "PUBLISH", "expect": strconv.Itoa(c.expect)},
						// SIPp's digest uri is remote_ip:port unless told; the
						// gateway wants the Request-URI (RFC 3261 22.4).
						extra: []string{"-au", "1001", "-ap", c.pass, "-auth_uri", "1001@" + g.hostPort()},
					})
					if err := run.wait(sippHardLimit); err != nil {
						t.Errorf("SIPp [authentication] (MD5) with password %q, want %d: %v", c.pass, c.expect, err)
					}
				}
				// An authenticated fetch: 401, MD5, 200, then the NOTIFY.
				run := g.startSipp("auth-fetch-"+tp, sippOpts{
					scenario: "auth_fetch.xml", transport: tp, service: "1001",
					keys:  map[string]string{"watcher": "1002", "event": "dialog"},
					extra: []string{"-au", "1002", "-ap", passwordOf("1002"), "-auth_uri", "1001@" + g.hostPort()},
				})
				if err := run.wait(sippHardLimit); err != nil {
					t.Errorf("SIPp [authentication] SUBSCRIBE fetch: %v", err)
				}
			})
		})
	}
}

// TestE2EDigestOrder: sip.digest_algorithms sets which challenges a 401
// carries, in that order.
func TestE2EDigestOrder(t *testing.T) {
	t.Parallel()
	for _, order := range [][]string{{"SHA-256", "MD5"}, {"MD5"}} {
		t.Run(strings.Join(order, ","), func(t *testing.T) {
			t.Parallel()
			g := startGateway(t, gwConfig{Trusted: []string{"192.0.2.0/24"}, Digest: order})
			resp, _ := g.do("udp", request{Method: "PUBLISH", Ext: "1001", Headers: []string{"Event: dialog", "Expires: 60", "Content-Type: application/dialog-info+xml"},
				Body: dialogInfo("1001", talking), Expect: 401})
			var got []string
			for _, h := range resp.All("WWW-Authenticate") {
				got = append(got, digestParams(h)["algorithm"])
			}
			if strings.Join(got, ",") != strings.Join(order, ",") {
				t.Errorf("401 offers %v, want %v in that order", got, order)
			}
		})
	}
}

// TestE2ELargeNotify: ten dialogs with long display names make a NOTIFY
// far beyond 1300 bytes; it is still delivered over UDP.
func TestE2ELargeNotify(t *testing.T) {
	t.Parallel()
	for _, tp := range transports {
		t.Run(tp, func(t *testing.T) {
			t.Parallel()
			g := startGateway(t, gwConfig{})
			w := g.watch(tp, watch{Ext: "1004", Expires: 600, UnsubAt: 2})
			w.waitNotifies(1, notifyBound)
			var calls []call
			for i := range 10 {
				calls = append(calls, call{
					ID: fmt.Sprintf("long-call-%02d", i), Direction: "recipient", State: "confirmed",
					Remote: fmt.Sprintf("sip:%d@%s", 3000+i, e2eDomain),
					// 60 characters: long, but within what phones display.
					Display: fmt.Sprintf("Caller %02d %s", i, strings.Repeat("x", 50)),
				})
			}
			pub := g.publish(tp, publication{Ext: "1004", Body: dialogInfo("1004", calls...), Expires: 600})
			n := w.waitNotifies(2, notifyBound)[1]
			if len(n.Raw) <= 1300 {
				t.Errorf("NOTIFY is %d bytes; the test wants one over 1300", len(n.Raw))
			}
			d, err := parseDialogInfo(n.Body)
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Dialogs) != 10 {
				t.Errorf("%d dialogs in the NOTIFY, want 10", len(d.Dialogs))
			}
			for _, dl := range d.Dialogs {
				if dl.Remote == nil || !strings.HasPrefix(dl.Remote.Identity.Display, "Caller ") {
					t.Errorf("dialog %s lost its caller name", dl.ID)
				}
			}
			t.Logf("NOTIFY of %d bytes (body %d) over %s", len(n.Raw), len(n.Body), tp)
			w.mustPass(15 * time.Second)
			checkNotifyDialog(t, w.subscription(), g.sipPort, tp)
			g.publish(tp, publication{Ext: "1004", IfMatch: pub.ETag, Expires: 0})
		})
	}
}

// TestE2ECompactHeaders: SUBSCRIBE and PUBLISH written with compact header
// names (o: f: t: i: m: k: u: v: l: c:).
func TestE2ECompactHeaders(t *testing.T) {
	t.Parallel()
	for _, tp := range transports {
		t.Run(tp, func(t *testing.T) {
			t.Parallel()
			g := startGateway(t, gwConfig{})
			run := g.startSipp("compact-"+tp, sippOpts{scenario: "watcher_compact.xml", transport: tp, service: "1001",
				keys: map[string]string{"watcher": "2002", "event": "dialog;id=blf7"}})
			run.mustPass(15 * time.Second)
			msgs := run.messages()
			ns := received(msgs, "NOTIFY")
			if len(ns) != 2 {
				t.Fatalf("%d NOTIFYs, want 2", len(ns))
			}
			for i, n := range ns {
				if ev := n.H("Event"); ev != "dialog;id=blf7" {
					t.Errorf("NOTIFY #%d: Event %q, want dialog;id=blf7 echoed", i+1, ev)
				}
			}
			s := subscriptionLog{Subscribe: sentRequests(msgs, "SUBSCRIBE")[0], Notifies: ns}
			if oks := finalResponses(responses(msgs, "SUBSCRIBE")); len(oks) > 0 && oks[0].CSeq() == 1 {
				s.OK = oks[0]
			}
			checkNotifyDialog(t, s, g.sipPort, tp)

			// PUBLISH with o: (Event) and c: (Content-Type).
			resp, _ := g.do(tp, request{Method: "PUBLISH", Ext: "1001", Headers: []string{"o: dialog", "Expires: 60", "c: application/dialog-info+xml"},
				Body: dialogInfo("1001", talking), Expect: 200})
			if resp.H("SIP-ETag") == "" {
				t.Errorf("compact PUBLISH: no SIP-ETag")
			}
		})
	}
}

// TestE2EMergedPublishers: two publishers for one extension are merged
// (busy if any is busy); a watcher whose User-Agent matches a device
// profile (DummyPhone: dummy idle dialog, single dialog) gets its variant.
func TestE2EMergedPublishers(t *testing.T) {
	t.Parallel()
	for _, tp := range transports {
		t.Run(tp, func(t *testing.T) {
			t.Parallel()
			g := startGateway(t, gwConfig{})
			plain := g.watch(tp, watch{Ext: "1005", Expires: 600, UnsubAt: 5, Watcher: "2001"})
			dummy := g.watch(tp, watch{Ext: "1005", Expires: 600, UnsubAt: 5, Watcher: "2002", UA: "DummyPhone/1.0"})
			plain.waitNotifies(1, notifyBound)
			dummy.waitNotifies(1, notifyBound)

			ringA := call{ID: "a-1", Direction: "recipient", State: "early", Remote: "sip:301@" + e2eDomain, Display: "Second Caller"}
			talkB := call{ID: "b-1", Direction: "initiator", State: "confirmed", Remote: "sip:302@" + e2eDomain}
			endB := talkB
			endB.State = "terminated"

			type step struct {
				name         string
				do           func() // one publisher action
				plain, dummy string // lamps the two watchers must show
			}
			var etagA, etagB string
			steps := []step{
				{"A ringing", func() {
					etagA = g.publish(tp, publication{Ext: "1005", Body: dialogInfo("1005", ringA), Expires: 600}).ETag
				}, "ringing", "ringing"},
				{"B busy too", func() {
					etagB = g.publish(tp, publication{Ext: "1005", Body: dialogInfo("1005", talkB), Expires: 600}).ETag
				}, "ringing+busy", "ringing"},
				{"A removed", func() { g.publish(tp, publication{Ext: "1005", IfMatch: etagA, Expires: 0}) }, "busy", "busy"},
				{"B hung up", func() {
					g.publish(tp, publication{Ext: "1005", Body: dialogInfo("1005", endB), IfMatch: etagB, Expires: 600})
				}, "idle", "idle"},
			}
			for i, st := range steps {
				st.do()
				for _, c := range []struct {
					w    *watcher
					want string
				}{{plain, st.plain}, {dummy, st.dummy}} {
					n := c.w.waitNotifies(i+2, notifyBound)[i+1]
					if got := lampOf(t, n); got != c.want {
						t.Errorf("%s: watcher %s sees %q, want %q\n%s", st.name, c.w.w.UA, got, c.want, n.Body)
					}
					if c.w == dummy {
						if d, err := parseDialogInfo(n.Body); err == nil && len(d.Dialogs) != 1 {
							t.Errorf("%s: DummyPhone (single_dialog) got %d dialogs, want 1\n%s", st.name, len(d.Dialogs), n.Body)
						}
					}
				}
			}
			plain.mustPass(15 * time.Second)
			dummy.mustPass(15 * time.Second)
			for _, w := range []*watcher{plain, dummy} {
				s := w.subscription()
				checkNotifyDialog(t, s, g.sipPort, tp)
				for _, i := range []int{0, len(s.Notifies) - 2} {
					d, err := parseDialogInfo(s.Notifies[i].Body)
					if err != nil {
						t.Fatal(err)
					}
					if w == plain && len(d.Dialogs) != 0 {
						t.Errorf("idle NOTIFY #%d for a plain watcher has %d dialogs, want none", i+1, len(d.Dialogs))
					}
					if w == dummy && (len(d.Dialogs) != 1 || d.Dialogs[0].ID != "0000" || strings.TrimSpace(d.Dialogs[0].State) != "terminated") {
						t.Errorf("idle NOTIFY #%d for DummyPhone: want the dummy <dialog id=\"0000\"><state>terminated</state></dialog>\n%s", i+1, s.Notifies[i].Body)
					}
				}
			}
		})
	}
}

// TestE2EFlood: an untrusted source beyond rate/burst gets 503 with
// Retry-After; another source is still served and the gateway stays up.
func TestE2EFlood(t *testing.T) {
	t.Parallel()
	for _, tp := range transports {
		t.Run(tp, func(t *testing.T) {
			t.Parallel()
			g := startGateway(t, gwConfig{Trusted: []string{"192.0.2.0/24"}, Rate: 5, Burst: 10, Level: "info"})
			const calls = 60
			run := g.startRequest(tp, request{Method: "SUBSCRIBE", Ext: "1001", From: "2001", Local: "127.0.0.2",
				Headers: []string{"Contact: <sip:2001@127.0.0.2:5999>", "Event: dialog", "Expires: 600"},
				Extra:   []string{"-m", strconv.Itoa(calls), "-r", "300", "-l", strconv.Itoa(calls), "-recv_timeout", "3000", "-nr"}})
			err := run.wait(sippHardLimit)
			codes := map[int]int{}
			for _, m := range finalResponses(responses(run.messages(), "SUBSCRIBE")) {
				codes[m.Code]++
				if m.Code == 503 && m.H("Retry-After") == "" {
					t.Errorf("503 without Retry-After:\n%s", m)
				}
			}
			t.Logf("%d SUBSCRIBEs from 127.0.0.2: responses %v (sipp: %v)", calls, codes, err)
			if codes[503] == 0 {
				t.Errorf("no 503 for %d requests at 300/s from one source (rate 5, burst 10)", calls)
			}
			if codes[401] < 5 || codes[401] > 20 {
				t.Errorf("%d requests challenged (401) before the limit; want about the burst of 10", codes[401])
			}
			// Another source is served at once.
			g.do(tp, request{Method: "PUBLISH", Ext: "1001", Headers: []string{"Event: dialog", "Expires: 60", "Content-Type: application/dialog-info+xml"},
				Body: dialogInfo("1001", talking), Expect: 401})
			h := g.waitHealth("healthy", notifyBound, func(h health) bool { return h.Status == "ok" })
			if h.SIPPanics != 0 {
				t.Errorf("sip_panics %v", h.SIPPanics)
			}
		})
	}
}

// TestE2EMalformed: garbage, broken SIP, entity expansion and oversized
// bodies over raw UDP and TCP get 400 (or are dropped); the gateway never
// crashes and a watcher subscribed meanwhile is not disturbed.
func TestE2EMalformed(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gwConfig{})
	w := g.watch("udp", watch{Ext: "1006", Expires: 600, UnsubAt: 2})
	w.waitNotifies(1, notifyBound)

	laughs := `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">` +
		`<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">` +
		`<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;"><!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">` +
		`<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;"><!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">` +
		`<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>` +
		`<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="0" state="full" entity="sip:1005@pbx.test"><dialog id="&lol9;"><state>confirmed</state></dialog></dialog-info>`
	deep := `<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="0" state="full" entity="sip:1005@pbx.test">` +
		strings.Repeat("<dialog>", 20000) + strings.Repeat("</dialog>", 20000) + `</dialog-info>`
	huge := dialogInfo("1005", call{ID: strings.Repeat("i", 50000), Direction: "recipient", State: "confirmed"})
	pubH := []string{"Event: dialog", "Expires: 60", "Content-Type: application/dialog-info+xml"}

	type probe struct {
		name string
		data []byte
		want string // "4xx": must be refused; "drop-or-4xx"; "any": valid SIP, any answer
	}
	// probes builds the messages for one transport and local address (the
	// Via sent-by, where UDP answers go), with branches of their own.
	seq := 0
	probes := func(tp, local string) []probe {
		req := func(method, ext string, extra []string, body string, clen int) string {
			seq++
			var b strings.Builder
			fmt.Fprintf(&b, "%s sip:%s@%s SIP/2.0\r\n", method, ext, g.hostPort())
			fmt.Fprintf(&b, "Via: SIP/2.0/%s %s;rport;branch=z9hG4bK-mal-%s-%d\r\n", strings.ToUpper(tp), local, tp, seq)
			fmt.Fprintf(&b, "From: <sip:%s@%s>;tag=mal%d\r\nTo: <sip:%s@%s>\r\nCall-ID: malformed-%s-%d@test\r\n", ext, e2eDomain, seq, ext, e2eDomain, tp, seq)
			fmt.Fprintf(&b, "CSeq: 1 %s\r\nMax-Forwards: 70\r\n", method)
			for _, h := range extra {
				b.WriteString(h + "\r\n")
			}
			if clen < 0 {
				clen = len(body)
			}
			fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", clen, body)
			return b.String()
		}
		contact := "Contact: <sip:x@" + local + ">"
		return []probe{
			{"binary garbage", []byte("\x00\x01\x02\xff\xfegarbage\r\n\r\n"), "drop-or-4xx"},
			{"not SIP", []byte("HELLO WORLD\r\n\r\n"), "drop-or-4xx"},
			{"request line only", []byte("SUBSCRIBE sip:1005@127.0.0.1 SIP/2.0\r\n\r\n"), "drop-or-4xx"},
			{"no Call-ID", []byte(strings.Replace(req("SUBSCRIBE", "1005", []string{"Event: dialog", contact}, "", -1), "Call-ID:", "X-Call-ID:", 1)), "drop-or-4xx"},
			{"header without colon", []byte(req("SUBSCRIBE", "1005", []string{"Event dialog", contact}, "", -1)), "drop-or-4xx"},
			{"bad CSeq", []byte(strings.Replace(req("PUBLISH", "1005", pubH, "", -1), "CSeq: 1 PUBLISH", "CSeq: x PUBLISH", 1)), "drop-or-4xx"},
			{"Content-Length beyond the data", []byte(req("PUBLISH", "1005", pubH, dialogInfo("1005", talking), 60000)), "drop-or-4xx"},
			{"negative Content-Length", []byte(strings.Replace(req("PUBLISH", "1005", pubH, "", 0), "Content-Length: 0", "Content-Length: -5", 1)), "drop-or-4xx"},
			{"billion laughs", []byte(req("PUBLISH", "1005", pubH, laughs, -1)), "4xx"},
			{"deep nesting", []byte(req("PUBLISH", "1005", pubH, deep, -1)), "drop-or-4xx"},
			{"50 KB dialog id", []byte(req("PUBLISH", "1005", pubH, huge, -1)), "drop-or-4xx"},
			{"60 KB header", []byte(req("SUBSCRIBE", "1005", []string{"Event: dialog", contact, "Expires: 0", "X-Big: " + strings.Repeat("b", 60000)}, "", -1)), "any"},
		}
	}

	check := func(t *testing.T, p probe, resp string) {
		t.Helper()
		first, _, _ := strings.Cut(resp, "\r\n")
		switch {
		case resp == "":
			if p.want == "4xx" {
				t.Errorf("%s: no answer, want a 4xx", p.name)
			}
			t.Logf("%s: dropped", p.name)
		case strings.HasPrefix(first, "SIP/2.0 4"), p.want == "any":
			t.Logf("%s: %s", p.name, first)
		default:
			t.Errorf("%s: answered %q, want a 4xx or nothing", p.name, first)
		}
	}

	t.Run("udp", func(t *testing.T) {
		conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		gw := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: g.sipPort}
		buf := make([]byte, 65535)
		for _, p := range probes("udp", conn.LocalAddr().String()) {
			if len(p.data) > 65000 {
				t.Logf("%s: %d bytes, too big for a datagram", p.name, len(p.data))
				continue
			}
			if _, err := conn.WriteToUDP(p.data, gw); err != nil {
				t.Logf("%s: write: %v", p.name, err)
				continue
			}
			var resp string
			for {
				_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
				n, _, err := conn.ReadFromUDP(buf)
				if err != nil {
					break
				}
				if m := string(buf[:n]); strings.HasPrefix(m, "SIP/2.0 ") && !strings.HasPrefix(m, "SIP/2.0 1") {
					resp = m
					break
				}
			}
			check(t, p, resp)
		}
	})
	t.Run("tcp", func(t *testing.T) {
		for _, p := range probes("tcp", "127.0.0.1:9") {
			conn, err := net.Dial("tcp", g.hostPort())
			if err != nil {
				t.Fatal(err)
			}
			_ = conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
			if _, err := conn.Write(p.data); err != nil {
				t.Logf("%s: write: %v", p.name, err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			resp, _ := readSIP(bufio.NewReader(conn))
			conn.Close()
			check(t, p, resp)
		}
		// A megabyte of garbage on one connection.
		conn, err := net.Dial("tcp", g.hostPort())
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetWriteDeadline(time.Now().Add(3 * time.Second))
		_, _ = conn.Write([]byte(strings.Repeat("junk junk junk\r\n", 1<<16)))
		conn.Close()
	})

	h := g.waitHealth("healthy after the garbage", notifyBound, func(h health) bool { return h.Status == "ok" })
	if h.SIPPanics != 0 {
		t.Errorf("sip_panics = %v after malformed input, want 0", h.SIPPanics)
	}
	// The watcher is undisturbed: a real change still reaches it.
	g.publish("udp", publication{Ext: "1006", Body: dialogInfo("1006", talking), Expires: 600})
	n := w.waitNotifies(2, notifyBound)[1]
	if got := lampOf(t, n); got != "busy" {
		t.Errorf("after the garbage the watcher sees %q, want busy", got)
	}
	w.mustPass(15 * time.Second)
}

// TestE2ENotifyPath: over UDP the NOTIFY leaves from the gateway's listening
// port (phones accept NOTIFY only from where they subscribed); over TCP it
// comes back on the subscriber's own connection. Raw sockets, so the source
// address can be checked.
func TestE2ENotifyPath(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gwConfig{})
	subscribe := func(tp, local string, expires int, toTag string, cseq int) []byte {
		var b strings.Builder
		fmt.Fprintf(&b, "SUBSCRIBE sip:1001@%s SIP/2.0\r\n", g.hostPort())
		fmt.Fprintf(&b, "Via: SIP/2.0/%s %s;branch=z9hG4bK-path-%s-%d\r\n", strings.ToUpper(tp), local, tp, cseq)
		fmt.Fprintf(&b, "From: <sip:2009@%s>;tag=path-%s\r\nTo: <sip:1001@%s>%s\r\n", e2eDomain, tp, e2eDomain, toTag)
		fmt.Fprintf(&b, "Call-ID: path-%s@test\r\nCSeq: %d SUBSCRIBE\r\nMax-Forwards: 70\r\n", tp, cseq)
		// Over TCP the Contact names a port nobody listens on: the NOTIFY
		// can only arrive on our connection.
		contact := local
		if tp == "tcp" {
			contact = "127.0.0.1:9"
		}
		fmt.Fprintf(&b, "Contact: <sip:2009@%s;transport=%s>\r\nEvent: dialog\r\nExpires: %d\r\nContent-Length: 0\r\n\r\n", contact, tp, expires)
		return []byte(b.String())
	}
	answer := func(req string) []byte {
		var keep []string
		for _, l := range strings.Split(req, "\r\n")[1:] {
			ll := strings.ToLower(l)
			for _, h := range []string{"via:", "from:", "to:", "call-id:", "cseq:"} {
				if strings.HasPrefix(ll, h) {
					keep = append(keep, l)
				}
			}
		}
		return []byte("SIP/2.0 200 OK\r\n" + strings.Join(keep, "\r\n") + "\r\nContent-Length: 0\r\n\r\n")
	}

	t.Run("udp", func(t *testing.T) {
		conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		gw := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: g.sipPort}
		local := conn.LocalAddr().String()
		if _, err := conn.WriteToUDP(subscribe("udp", local, 60, "", 1), gw); err != nil {
			t.Fatal(err)
		}
		var toTag string
		gotNotify := false
		deadline := time.Now().Add(notifyBound)
		buf := make([]byte, 65535)
		for !gotNotify && time.Now().Before(deadline) {
			_ = conn.SetReadDeadline(deadline)
			n, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				t.Fatalf("waiting for 200 and NOTIFY: %v", err)
			}
			msg := string(buf[:n])
			switch {
			case strings.HasPrefix(msg, "SIP/2.0 200"):
				var m sipMsg
				parseSIP(&m, strings.ReplaceAll(msg, "\r\n", "\n"))
				toTag = tagOf(m.H("To"))
			case strings.HasPrefix(msg, "NOTIFY "):
				gotNotify = true
				if from.Port != g.sipPort {
					t.Errorf("NOTIFY came from %v, want the listening port %d", from, g.sipPort)
				}
				_, _ = conn.WriteToUDP(answer(msg), from)
			}
		}
		if !gotNotify || toTag == "" {
			t.Fatalf("no 200 with To-tag and NOTIFY (tag %q, notify %v)", toTag, gotNotify)
		}
		// Unsubscribe, answer the final NOTIFY.
		_, _ = conn.WriteToUDP(subscribe("udp", local, 0, ";tag="+toTag, 2), gw)
		for time.Now().Before(deadline.Add(notifyBound)) {
			_ = conn.SetReadDeadline(time.Now().Add(notifyBound))
			n, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				t.Fatalf("waiting for the final NOTIFY: %v", err)
			}
			if msg := string(buf[:n]); strings.HasPrefix(msg, "NOTIFY ") {
				_, _ = conn.WriteToUDP(answer(msg), from)
				if !strings.Contains(msg, "terminated") {
					continue
				}
				break
			}
		}
	})
	t.Run("tcp", func(t *testing.T) {
		conn, err := net.Dial("tcp", g.hostPort())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.Write(subscribe("tcp", conn.LocalAddr().String(), 60, "", 1)); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(conn)
		_ = conn.SetReadDeadline(time.Now().Add(notifyBound))
		got200, gotNotify := false, false
		for !(got200 && gotNotify) {
			msg, err := readSIP(r)
			if err != nil {
				t.Fatalf("on the subscriber's connection: 200 %v, NOTIFY %v: %v", got200, gotNotify, err)
			}
			switch {
			case strings.HasPrefix(msg, "SIP/2.0 200"):
				got200 = true
			case strings.HasPrefix(msg, "NOTIFY "):
				gotNotify = true
				_, _ = conn.Write(answer(msg))
			}
		}
	})
	g.waitHealth("subscriptions", notifyBound, func(h health) bool { return h.Status == "ok" })
}

// TestE2EDeadWatcher: a TCP watcher that vanished (connection closed,
// Contact unreachable) fails its next NOTIFY; with notify_timeouts = 1 the
// subscription is dropped, and another watcher of the same extension is not
// disturbed.
func TestE2EDeadWatcher(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gwConfig{})
	live := g.watch("udp", watch{Ext: "1002", Expires: 600, UnsubAt: 2})
	live.waitNotifies(1, notifyBound)

	conn, err := net.Dial("tcp", g.hostPort())
	if err != nil {
		t.Fatal(err)
	}
	local := conn.LocalAddr().String()
	sub := fmt.Sprintf("SUBSCRIBE sip:1002@%s SIP/2.0\r\nVia: SIP/2.0/TCP %s;branch=z9hG4bK-dead-1\r\n"+
		"From: <sip:2009@%s>;tag=dead\r\nTo: <sip:1002@%s>\r\nCall-ID: dead-watcher@test\r\nCSeq: 1 SUBSCRIBE\r\n"+
		"Max-Forwards: 70\r\nContact: <sip:2009@127.0.0.1:9;transport=tcp>\r\nEvent: dialog\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n",
		g.hostPort(), local, e2eDomain, e2eDomain)
	if _, err := conn.Write([]byte(sub)); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	_ = conn.SetReadDeadline(time.Now().Add(notifyBound))
	for got := false; !got; {
		msg, err := readSIP(r)
		if err != nil {
			t.Fatalf("waiting for the first NOTIFY: %v", err)
		}
		if strings.HasPrefix(msg, "NOTIFY ") {
			got = true
			var m sipMsg
			parseSIP(&m, strings.ReplaceAll(msg, "\r\n", "\n"))
			ok := fmt.Sprintf("SIP/2.0 200 OK\r\nVia: %s\r\nFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %s\r\nContent-Length: 0\r\n\r\n",
				m.H("Via"), m.H("From"), m.H("To"), m.H("Call-ID"), m.H("CSeq"))
			_, _ = conn.Write([]byte(ok))
		}
	}
	g.waitHealth("2 subscriptions", notifyBound, func(h health) bool { return h.Subscriptions == 2 })
	conn.Close() // the phone is gone

	g.publish("udp", publication{Ext: "1002", Body: dialogInfo("1002", talking), Expires: 600})
	if got := lampOf(t, live.waitNotifies(2, notifyBound)[1]); got != "busy" {
		t.Errorf("live watcher sees %q, want busy", got)
	}
	live.mustPass(15 * time.Second)
	g.waitHealth("dead watcher dropped", 10*time.Second, func(h health) bool { return h.Subscriptions == 0 })
}

// TestE2EGarbageLog: a stream of unparseable datagrams must not be echoed
// into the log one line each (issue 2, "Bad input": dropped with a
// rate-limited log line). Logged at level info.
func TestE2EGarbageLog(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gwConfig{Level: "info"})
	logSize := func() int64 {
		fi, err := os.Stat(g.logs[len(g.logs)-1])
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	gw := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: g.sipPort}
	local := conn.LocalAddr().String()
	options := func(n int) []byte {
		return []byte(fmt.Sprintf("OPTIONS sip:1001@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-opt-%d\r\nFrom: <sip:2009@%s>;tag=o%d\r\n"+
			"To: <sip:1001@%s>\r\nCall-ID: opt-%d@test\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
			g.hostPort(), local, n, e2eDomain, n, e2eDomain, n))
	}
	// answered waits for the answer to an OPTIONS sent after the garbage:
	// the gateway reads the socket in order, so the garbage was handled.
	answered := func(n int) {
		t.Helper()
		if _, err := conn.WriteToUDP(options(n), gw); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 65535)
		for {
			_ = conn.SetReadDeadline(time.Now().Add(notifyBound))
			k, _, err := conn.ReadFromUDP(buf)
			if err != nil {
				t.Fatalf("no answer to OPTIONS: %v", err)
			}
			if strings.Contains(string(buf[:k]), fmt.Sprintf("opt-%d@test", n)) {
				return
			}
		}
	}
	answered(1)
	before := logSize()
	const n, size = 200, 4000
	junk := []byte("SUBSCRIBE sip:1001@127.0.0.1 SIP/2.0\r\nThis line is no header\r\n" + strings.Repeat("x", size) + "\r\n\r\n")
	for range n {
		if _, err := conn.WriteToUDP(junk, gw); err != nil {
			t.Fatal(err)
		}
	}
	answered(2)
	time.Sleep(200 * time.Millisecond) // let the logger catch up
	grown := logSize() - before
	t.Logf("%d unparseable datagrams of %d bytes grew the log by %d bytes", n, len(junk), grown)
	if grown > n*size/4 {
		t.Errorf("%d unparseable datagrams (%d bytes each) grew the log by %d bytes: they are logged one by one, payload included, not rate-limited",
			n, len(junk), grown)
	}
	h := g.waitHealth("healthy", notifyBound, func(h health) bool { return h.Status == "ok" })
	if h.SIPPanics != 0 {
		t.Errorf("sip_panics %v", h.SIPPanics)
	}
}

// readSIP reads one SIP message (headers and Content-Length body) from a
// stream.
func readSIP(r *bufio.Reader) (string, error) {
	var b strings.Builder
	clen := 0
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		if b.Len() == 0 && strings.TrimSpace(line) == "" {
			continue // keep-alive CRLF
		}
		b.WriteString(line)
		l := strings.ToLower(strings.TrimSpace(line))
		if v, ok := strings.CutPrefix(l, "content-length:"); ok {
			clen, _ = strconv.Atoi(strings.TrimSpace(v))
		} else if v, ok := strings.CutPrefix(l, "l:"); ok {
			clen, _ = strconv.Atoi(strings.TrimSpace(v))
		}
		if line == "\r\n" || line == "\n" {
			break
		}
	}
	body := make([]byte, clen)
	if _, err := io.ReadFull(r, body); err != nil {
		return "", err
	}
	return b.String() + string(body), nil
}
