package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Directed pickup through the edge proxy (sip/pickup.go): the picker's
// INVITE, by feature code (**1003) or with Replaces naming the ringing
// dialog, goes to the original caller with "Replaces: <its call>;early-
// only"; once the caller answers it, the ringing phone gets CANCEL and the
// caller's own INVITE ends with 487.

// callReq is one INVITE that the gateway is expected to refuse, sent with
// testdata/sipp/err_invite.xml.
type callReq struct {
	From        string   // From user
	To          string   // the number dialled
	MaxForwards string   // default 70
	Headers     []string // at most 4 whole header lines
	Body        string
	Expect      int // the final code wanted
}

// refused sends the INVITE, ACKs its final answer and returns that answer;
// SIPp itself checks the code.
func (g *gateway) refused(tp string, r callReq) sipMsg {
	g.t.Helper()
	if len(r.Headers) > 4 {
		g.t.Fatalf("err_invite.xml takes at most 4 header lines, got %d", len(r.Headers))
	}
	keys := map[string]string{
		"from":         r.From,
		"max_forwards": orDefault(r.MaxForwards, "70"),
		"body":         r.Body,
	}
	for i := range 4 {
		h := "X-Pad: 1"
		if i < len(r.Headers) {
			h = r.Headers[i]
		}
		keys[fmt.Sprintf("h%d", i+1)] = h
	}
	run := g.startSipp(fmt.Sprintf("refused%d-%s-%s-%s", nextSeq(), r.From, r.To, tp), sippOpts{
		scenario: "err_invite.xml", transport: tp, service: r.To,
		keys: keys, sets: map[string]string{"expect": fmt.Sprint(r.Expect)},
	})
	run.mustPass(sippHardLimit)
	finals := finalResponses(responses(run.messages(), "INVITE"))
	if len(finals) == 0 {
		g.t.Fatalf("INVITE %s: no final response\n%s", r.To, run.report())
	}
	res := finals[len(finals)-1]
	if res.Code != r.Expect {
		g.t.Fatalf("INVITE %s from %s: %d %q, want %d\n%s", r.To, r.From, res.Code, res.Reason, r.Expect, run.report())
	}
	return res
}

// wantReason fails unless a response's reason phrase contains every part.
func reasonSays(t testing.TB, res sipMsg, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(res.Reason, p) {
			t.Errorf("%d reason %q does not say %q", res.Code, res.Reason, p)
		}
	}
}

// pickupCaller starts pickup_caller.xml (with pickup_replaced.xml for the
// picker's INVITE): ext calls number and expects its call to be picked up.
func (g *gateway) pickupCaller(tp, ext, number string) *sippRun {
	g.t.Helper()
	return g.startSipp(fmt.Sprintf("pcaller%d-%s-%s-%s", nextSeq(), ext, number, tp), sippOpts{
		scenario: "pickup_caller.xml", transport: tp, service: number,
		keys:  map[string]string{"caller": ext, "caller_name": "Caller " + ext},
		sets:  map[string]string{"wait": "20000"},
		extra: []string{"-oocsf", scenarioPath(g.t, "pickup_replaced.xml")},
	})
}

// picker starts pickup_picker.xml: ext dials number, with a Replaces line
// or none ("").
func (g *gateway) picker(tp, ext, number, replaces string) *sippRun {
	g.t.Helper()
	return g.startSipp(fmt.Sprintf("picker%d-%s-%s-%s", nextSeq(), ext, number, tp), sippOpts{
		scenario: "pickup_picker.xml", transport: tp, service: number,
		keys: map[string]string{"caller": ext, "caller_name": "Picker " + ext, "replaces": orDefault(replaces, "X-Pad: 1")},
		sets: map[string]string{"talk": "800"},
	})
}

// checkPickedUp asserts what the three SIPp logs of a completed pickup say:
// the caller got the picker's INVITE with Replaces naming its own ringing
// call (Call-ID, its From tag as to-tag, the callee's early To tag as
// from-tag, early-only), answered it 200, and its own INVITE ended 487; the
// ringing phone got CANCEL and answered 487.
func checkPickedUp(t *testing.T, caller, callee, picker *sippRun, pickerExt string) {
	t.Helper()
	cm := caller.messages()
	invs := sentRequests(cm, "INVITE")
	if len(invs) == 0 {
		t.Fatalf("caller sent no INVITE\n%s", caller.report())
	}
	orig := invs[0]
	var ringTag string
	for _, m := range callee.messages() {
		if m.Sent && m.Code == 180 {
			ringTag = tagOf(m.H("To"))
		}
	}
	if ringTag == "" {
		t.Fatalf("the ringing phone sent no 180 with a To tag\n%s", callee.report())
	}
	got := received(cm, "INVITE")
	if len(got) != 1 {
		t.Fatalf("caller received %d INVITEs, want the picker's one\n%s", len(got), caller.report())
	}
	pick := got[0]
	want := fmt.Sprintf("%s;to-tag=%s;from-tag=%s;early-only", orig.H("Call-ID"), tagOf(orig.H("From")), ringTag)
	if rp := pick.H("Replaces"); rp != want {
		t.Errorf("Replaces %q, want %q", rp, want)
	}
	if u := uriUser(uriOf(pick.H("From"))); u != pickerExt {
		t.Errorf("the INVITE with Replaces is from %q, want the picker %s", u, pickerExt)
	}
	if !strings.HasPrefix(pick.First, "INVITE sip:1001@127.0.0.1:") {
		t.Errorf("the INVITE with Replaces went to %q, want the caller's Contact", pick.First)
	}
	if !pick.Has("Record-Route") {
		t.Errorf("the INVITE with Replaces has no Record-Route")
	}
	var ok200, fin487 bool
	for _, m := range cm {
		if m.Sent && m.Code == 200 && m.CSeqMethod() == "INVITE" && m.H("Call-ID") == pick.H("Call-ID") {
			ok200 = true
		}
		if !m.Sent && m.Code == 487 && m.H("Call-ID") == orig.H("Call-ID") {
			fin487 = true
			if m.Reason != "Request Terminated" {
				t.Errorf("487 reason %q", m.Reason)
			}
		}
	}
	if !ok200 || !fin487 {
		t.Errorf("caller: 200 to the pickup %v, 487 to its own INVITE %v\n%s", ok200, fin487, caller.report())
	}
	if len(received(cm, "BYE")) != 1 || len(received(cm, "ACK")) != 1 {
		t.Errorf("caller: want one ACK and one BYE of the picked-up call\n%s", caller.report())
	}
	calleeMsgs := callee.messages()
	if len(received(calleeMsgs, "CANCEL")) != 1 {
		t.Errorf("the ringing phone got %d CANCELs, want 1\n%s", len(received(calleeMsgs, "CANCEL")), callee.report())
	}
	pm := picker.messages()
	var answered bool
	for _, m := range finalResponses(responses(pm, "INVITE")) {
		answered = answered || m.Code == 200
	}
	if !answered {
		t.Errorf("the picker's INVITE was not answered 200\n%s", picker.report())
	}
}

// TestE2EPickupCode: 1002 (1003's delegate) dials **1003 while 1001's call
// rings at 1003; the caller gets the INVITE with Replaces, answers it, and
// its own INVITE ends 487; 1003 is cancelled. 1003's lamp: idle, ringing,
// idle; 1002's: idle, outgoing (its INVITE to the caller), busy, idle.
func TestE2EPickupCode(t *testing.T) {
	t.Parallel()
	tp := "udp"
	g := startGateway(t, gwConfig{Proxy: edgeProxy})
	w3 := g.watch(tp, watch{Ext: "1003", Expires: 600})
	w2 := g.watch(tp, watch{Ext: "1002", Watcher: "1001", Expires: 600})
	w3.waitNotifies(1, 10*time.Second)
	w2.waitNotifies(1, 10*time.Second)
	callee := g.answer(tp, "1003", nil, "pickup_ringing.xml")
	caller := g.pickupCaller(tp, "1001", "1003")
	waitLamps(t, w3, []string{"idle", "ringing"}, 10*time.Second)
	picker := g.picker(tp, "1002", "**1003", "")
	mustPassAll(t, 35*time.Second, picker, caller, callee.sippRun)
	checkPickedUp(t, caller, callee.sippRun, picker, "1002")
	waitLamps(t, w3, []string{"idle", "ringing", "idle"}, 10*time.Second)
	waitLamps(t, w2, []string{"idle", "outgoing", "busy", "idle"}, 10*time.Second)
	g.waitQuiet(40 * time.Second)
}

// lastDialog returns the dialog of a watcher's latest NOTIFY whose lamp is
// want.
func lastDialog(t *testing.T, w *watcher, want string) diDialog {
	t.Helper()
	ns := w.subscription().Notifies
	if len(ns) == 0 {
		t.Fatalf("no NOTIFY\n%s", w.report())
	}
	doc, err := parseDialogInfo(ns[len(ns)-1].Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range doc.Dialogs {
		if d.lamp() == want {
			return d
		}
	}
	t.Fatalf("the latest NOTIFY has no %s dialog:\n%s", want, ns[len(ns)-1])
	return diDialog{}
}

// replacesFor builds the Replaces header a BLF key sends to take the call
// a dialog-info dialog describes (RFC 3891; the tags as the watched phone
// sees them: local is its own, the To tag).
func replacesFor(d diDialog) string {
	return fmt.Sprintf("Replaces: %s;to-tag=%s;from-tag=%s;early-only", d.CallID, d.LocalTag, d.RemoteTag)
}

// TestE2EPickupReplaces: as TestE2EPickupCode, but 1002 presses its BLF key:
// an INVITE to 1003 with Replaces built from the dialog-info its watcher of
// 1003 received (call-id, local-tag, remote-tag; early-only).
func TestE2EPickupReplaces(t *testing.T) {
	t.Parallel()
	tp := "udp"
	g := startGateway(t, gwConfig{Proxy: edgeProxy})
	w3 := g.watch(tp, watch{Ext: "1003", Expires: 600})
	w2 := g.watch(tp, watch{Ext: "1002", Watcher: "1001", Expires: 600})
	w3.waitNotifies(1, 10*time.Second)
	w2.waitNotifies(1, 10*time.Second)
	callee := g.answer(tp, "1003", nil, "pickup_ringing.xml")
	caller := g.pickupCaller(tp, "1001", "1003")
	waitLamps(t, w3, []string{"idle", "ringing"}, 10*time.Second)
	d := lastDialog(t, w3, "ringing")
	orig := sentRequests(caller.messages(), "INVITE")
	if len(orig) == 0 || d.CallID != orig[0].H("Call-ID") || d.RemoteTag != tagOf(orig[0].H("From")) || d.LocalTag == "" {
		t.Fatalf("the delegate's dialog-info names call-id %q local-tag %q remote-tag %q; want the caller's Call-ID and From tag\n%s",
			d.CallID, d.LocalTag, d.RemoteTag, caller.report())
	}
	picker := g.picker(tp, "1002", "1003", replacesFor(d))
	mustPassAll(t, 35*time.Second, picker, caller, callee.sippRun)
	checkPickedUp(t, caller, callee.sippRun, picker, "1002")
	waitLamps(t, w3, []string{"idle", "ringing", "idle"}, 10*time.Second)
	waitLamps(t, w2, []string{"idle", "outgoing", "busy", "idle"}, 10*time.Second)
	g.waitQuiet(40 * time.Second)
}

// TestE2EPickupForbidden: 1004 is not 1003's delegate: its pickup, by code
// or with Replaces, gets 403 saying so, and the call keeps ringing at 1003
// (no CANCEL) until 1003 answers it.
func TestE2EPickupForbidden(t *testing.T) {
	t.Parallel()
	tp := "udp"
	g := startGateway(t, gwConfig{Proxy: edgeProxy})
	w3 := g.watch(tp, watch{Ext: "1003", Expires: 600})
	w3.waitNotifies(1, 10*time.Second)
	callee := g.answer(tp, "1003", map[string]string{"ring": "5000"}, "")
	caller := g.dial(tp, "1001", "1003", nil, "")
	waitLamps(t, w3, []string{"idle", "ringing"}, 10*time.Second)
	d := lastDialog(t, w3, "ringing")
	res := g.refused(tp, callReq{From: "1004", To: "**1003", Expect: 403})
	reasonSays(t, res, "Forbidden", "1004 may not answer calls for 1003")
	res = g.refused(tp, callReq{From: "1004", To: "1003", Headers: []string{replacesFor(d)}, Expect: 403})
	reasonSays(t, res, "Forbidden", "1004 may not answer calls for 1003")
	if got := lampsSeen(t, w3); strings.Join(got, ",") != "idle,ringing" {
		t.Errorf("after the refused pickups 1003's lamps are %q, want still ringing", got)
	}
	if callee.exited() || len(received(callee.messages(), "CANCEL")) > 0 {
		t.Errorf("the refused pickups disturbed the ringing phone\n%s", callee.report())
	}
	mustPassAll(t, 30*time.Second, caller, callee.sippRun)
	if n := len(received(caller.messages(), "INVITE")); n != 0 {
		t.Errorf("the caller got %d INVITEs from a refused pickup", n)
	}
	waitLamps(t, w3, []string{"idle", "ringing", "busy", "idle"}, 10*time.Second)
	g.waitQuiet(40 * time.Second)
}

// TestE2EPickupNothing: a pickup of a call already answered gets 481 (by
// code, and by Replaces with early-only), and so does **1005 with nothing
// ringing there; the answered call is not disturbed.
func TestE2EPickupNothing(t *testing.T) {
	t.Parallel()
	tp := "udp"
	g := startGateway(t, gwConfig{Proxy: edgeProxy})
	w3 := g.watch(tp, watch{Ext: "1003", Expires: 600})
	w3.waitNotifies(1, 10*time.Second)
	callee := g.answer(tp, "1003", nil, "")
	caller := g.dial(tp, "1001", "1003", map[string]string{"talk": "4000"}, "")
	waitLamps(t, w3, []string{"idle", "ringing", "busy"}, 10*time.Second)
	d := lastDialog(t, w3, "busy")
	res := g.refused(tp, callReq{From: "1002", To: "**1003", Expect: 481})
	reasonSays(t, res, "Call/Transaction Does Not Exist", "1003 was already answered")
	res = g.refused(tp, callReq{From: "1002", To: "1003", Headers: []string{replacesFor(d)}, Expect: 481})
	reasonSays(t, res, "Call/Transaction Does Not Exist", "already answered")
	res = g.refused(tp, callReq{From: "1002", To: "**1005", Expect: 481})
	reasonSays(t, res, "Call/Transaction Does Not Exist", "no call is ringing at 1005")
	if got := lampsSeen(t, w3); strings.Join(got, ",") != "idle,ringing,busy" {
		t.Errorf("after the refused pickups 1003's lamps are %q, want still busy", got)
	}
	mustPassAll(t, 30*time.Second, caller, callee.sippRun)
	if n := len(received(caller.messages(), "INVITE")); n != 0 {
		t.Errorf("the caller got %d INVITEs from a refused pickup", n)
	}
	waitLamps(t, w3, []string{"idle", "ringing", "busy", "idle"}, 10*time.Second)
	g.waitQuiet(40 * time.Second)
}
