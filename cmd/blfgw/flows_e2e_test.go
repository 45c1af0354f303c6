package main

// End-to-end call flows through the edge proxy (testdata/sipp/flow_*.xml)
// and the lamps a BLF watcher sees for each: cancel, busy, no answer, hold
// and resume, call waiting, blind and attended transfer, forking.

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// flowTransports are the transports every flow runs over.
var flowTransports = []string{"udp", "tcp"}

// flowSipp is one SIPp run of a flow: its scenario, -set globals, -key
// keywords besides caller/callee, and more arguments (e.g. "-m", "2").
type flowSipp struct {
	scenario string
	sets     map[string]string
	keys     map[string]string
	extra    []string
}

// phoneFor starts a callee for ext running f and registers its address
// as one of ext's contacts (a second phone for ext forks calls).
func (g *gateway) phoneFor(tp, ext string, f flowSipp) *phone {
	g.t.Helper()
	port := freePort(g.t)
	keys := map[string]string{"callee": ext}
	for k, v := range f.keys {
		keys[k] = v
	}
	run := g.startSipp(fmt.Sprintf("phone%d-%s-%s", nextSeq(), ext, tp), sippOpts{
		scenario: f.scenario, transport: tp, localPort: port, keys: keys, sets: f.sets, extra: f.extra,
	})
	contact := fmt.Sprintf("Contact: <sip:%s@127.0.0.1:%d;transport=%s>", ext, port, tp)
	g.do(tp, request{Method: "REGISTER", Ext: ext, Expect: 200, Headers: []string{contact, "Expires: 600"}})
	return &phone{sippRun: run, port: port}
}

// callFrom starts a caller from ext to number running f.
func (g *gateway) callFrom(tp, ext, number string, f flowSipp) *sippRun {
	g.t.Helper()
	keys := map[string]string{"caller": ext, "caller_name": "Caller " + ext}
	for k, v := range f.keys {
		keys[k] = v
	}
	return g.startSipp(fmt.Sprintf("call%d-%s-%s-%s", nextSeq(), ext, number, tp), sippOpts{
		scenario: f.scenario, transport: tp, service: number, keys: keys, sets: f.sets, extra: f.extra,
	})
}

// watchLamp subscribes the default watcher to ext (flow_watcher.xml,
// which keeps up with lamps that change within a millisecond) and waits
// for the first NOTIFY (idle), so every later step is seen.
func (g *gateway) watchLamp(tp, ext string) *watcher {
	g.t.Helper()
	run := g.startSipp(fmt.Sprintf("watch%d-%s-%s", nextSeq(), ext, tp), sippOpts{
		scenario: "flow_watcher.xml", transport: tp, service: ext,
		keys: map[string]string{"watcher": e2eWatcher},
	})
	w := &watcher{sippRun: run, w: watch{Ext: ext, Expires: 600}}
	w.waitNotifies(1, 10*time.Second)
	return w
}

// flowLamps lists the distinct successive lamps of a watcher's NOTIFYs as
// lampsSeen does, with the lamps of several dialogs sorted: the gateway
// orders a document's dialogs by id, a hash of the Call-ID, so one run's
// "ringing+busy" is another's "busy+ringing". With key set, equal lamps of
// several dialogs count once ("ringing+ringing" is "ringing"): the one
// lamp of a BLF key, whatever number of devices ring.
func flowLamps(t testing.TB, w *watcher, key bool) []string {
	var out []string
	for _, n := range w.subscription().Notifies {
		parts := strings.Split(lampOf(t, n), "+")
		slices.Sort(parts)
		if key {
			parts = slices.Compact(parts)
		}
		l := strings.Join(parts, "+")
		if len(out) == 0 || out[len(out)-1] != l {
			out = append(out, l)
		}
	}
	return out
}

// waitFlowLamps waits until flowLamps is want (each multi-dialog step
// written sorted, e.g. "busy+ringing").
func waitFlowLamps(t testing.TB, w *watcher, want []string, key bool, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := flowLamps(t, w, key)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("lamps %q, want %q\n%s", got, want, w.report())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestE2EFlowCancel: 1001 calls 1003, which rings; 1001 gives up (CANCEL):
// 200 for the CANCEL and 487 for the INVITE reach the caller, the callee
// gets the CANCEL, answers 200 and 487 and gets the proxy's ACK. The lamp
// of 1003: idle, ringing, idle.
func TestE2EFlowCancel(t *testing.T) {
	t.Parallel()
	for _, tp := range flowTransports {
		t.Run(tp, func(t *testing.T) {
			t.Parallel()
			g := startGateway(t, gwConfig{Proxy: edgeProxy})
			w := g.watchLamp(tp, "1003")
			callee := g.phoneFor(tp, "1003", flowSipp{scenario: "flow_cancel_uas.xml"})
			caller := g.callFrom(tp, "1001", "1003", flowSipp{scenario: "flow_cancel_uac.xml", sets: map[string]string{"wait": "700"}})
			mustPassAll(t, 30*time.Second, caller, callee.sippRun)
			waitLamps(t, w, []string{"idle", "ringing", "idle"}, 10*time.Second)

			cm := caller.messages()
			if finals := finalResponses(responses(cm, "INVITE")); len(finals) != 1 || finals[0].Code != 487 {
				t.Errorf("caller's INVITE got final responses %v, want one 487", codes(finals))
			}
			// Over TCP SIPp may lose the 200 read together with the 487.
			if cancels := responses(cm, "CANCEL"); tp == "udp" && (len(cancels) != 1 || cancels[0].Code != 200) {
				t.Errorf("caller's CANCEL got %v, want 200", codes(cancels))
			}
			if n := len(received(callee.messages(), "CANCEL")); n != 1 {
				t.Errorf("callee received %d CANCELs, want 1", n)
			}
			checkHopByHopAck(t, callee.sippRun)
			g.waitQuiet(40 * time.Second)
		})
	}
}

// TestE2EFlowHold: 1001 calls 1003, which answers, puts the call on hold
// with a re-INVITE (a=sendonly, or a=inactive), resumes it with another
// (a=sendrecv) and hangs up, every in-dialog request along the route set
// the proxy's Record-Route made. The lamp of 1003: idle, ringing, busy,
// hold, busy, idle; 1001, who was held but held nobody, never shows hold.
func TestE2EFlowHold(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ tp, hold string }{{"udp", "sendonly"}, {"tcp", "sendonly"}, {"udp", "inactive"}} {
		t.Run(c.tp+"-"+c.hold, func(t *testing.T) {
			t.Parallel()
			g := startGateway(t, gwConfig{Proxy: edgeProxy})
			w := g.watchLamp(c.tp, "1003")
			wCaller := g.watchLamp(c.tp, "1001")
			callee := g.phoneFor(c.tp, "1003", flowSipp{scenario: "flow_hold_uas.xml",
				sets: map[string]string{"ring": "300", "talk": "600"}, keys: map[string]string{"hold": c.hold}})
			caller := g.callFrom(c.tp, "1001", "1003", flowSipp{scenario: "flow_hold_uac.xml"})
			mustPassAll(t, 30*time.Second, caller, callee.sippRun)
			waitLamps(t, w, []string{"idle", "ringing", "busy", "hold", "busy", "idle"}, 10*time.Second)
			waitLamps(t, wCaller, []string{"idle", "outgoing", "busy", "idle"}, 10*time.Second)
			// The re-INVITEs reached the caller through the proxy with
			// their offers intact.
			reinv := received(caller.messages(), "INVITE")
			if len(reinv) != 2 || !strings.Contains(reinv[0].Body, "a="+c.hold) || !strings.Contains(reinv[1].Body, "a=sendrecv") {
				t.Errorf("caller received %d re-INVITEs, want 2 (a=%s, then a=sendrecv)", len(reinv), c.hold)
			}
			// ... having left the callee with the route set in its Route.
			for _, m := range callee.messages() {
				if m.Sent && m.Method != "" && !strings.Contains(m.H("Route"), fmt.Sprintf("127.0.0.1:%d", g.sipPort)) {
					t.Errorf("callee's in-dialog %s has Route %q, want the gateway's Record-Route", m.Method, m.H("Route"))
				}
			}
			g.waitQuiet(40 * time.Second)
		})
	}
}

// TestE2EFlowRefused: 1001 calls 1003, which rings and then refuses the
// call: 486 Busy Here (the user pressed reject) or, after a longer ring,
// 480 Temporarily Unavailable (the phone's no-answer timer). The caller
// gets that response (the proxy forwards the best final response of its
// only branch) and its ACK stays at the proxy: the callee's ACK is the
// proxy's own, hop by hop. The lamp of 1003: idle, ringing, idle; of
// 1001: idle, outgoing, idle.
func TestE2EFlowRefused(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, code, ring string
	}{
		{"busy", "486", "500"},
		{"noanswer", "480", "2500"},
	} {
		for _, tp := range flowTransports {
			t.Run(c.name+"-"+tp, func(t *testing.T) {
				t.Parallel()
				g := startGateway(t, gwConfig{Proxy: edgeProxy})
				w := g.watchLamp(tp, "1003")
				wCaller := g.watchLamp(tp, "1001")
				callee := g.phoneFor(tp, "1003", flowSipp{scenario: "flow_reject_uas.xml",
					sets: map[string]string{"ring": c.ring, "code": c.code}})
				caller := g.callFrom(tp, "1001", "1003", flowSipp{scenario: "flow_reject_uac.xml",
					sets: map[string]string{"expect": c.code}})
				mustPassAll(t, 30*time.Second, caller, callee.sippRun)
				waitLamps(t, w, []string{"idle", "ringing", "idle"}, 10*time.Second)
				waitLamps(t, wCaller, []string{"idle", "outgoing", "idle"}, 10*time.Second)

				finals := finalResponses(responses(caller.messages(), "INVITE"))
				if len(finals) != 1 || strconv.Itoa(finals[0].Code) != c.code {
					t.Errorf("caller got final responses %v, want one %s", codes(finals), c.code)
				}
				checkHopByHopAck(t, callee.sippRun)
				g.waitQuiet(40 * time.Second)
			})
		}
	}
}

// codes lists the status codes of responses.
func codes(ms []sipMsg) []int {
	var out []int
	for _, m := range ms {
		out = append(out, m.Code)
	}
	return out
}

// checkHopByHopAck asserts that the one ACK a refusing callee got is the
// proxy's own for its client transaction (RFC 3261 17.1.1.3): its top Via
// is the proxy's Via of the INVITE, same branch, where the caller's ACK
// passed on would carry a Via of its own above the caller's.
func checkHopByHopAck(t testing.TB, callee *sippRun) {
	t.Helper()
	msgs := callee.messages()
	invs, acks := received(msgs, "INVITE"), received(msgs, "ACK")
	if len(invs) == 0 || len(acks) != 1 {
		t.Errorf("callee received %d INVITEs and %d ACKs, want an INVITE and one ACK", len(invs), len(acks))
		return
	}
	invBranch, _ := param(splitVias(invs[0].All("Via"))[0], "branch")
	ackBranch, _ := param(splitVias(acks[0].All("Via"))[0], "branch")
	if ackBranch == "" || ackBranch != invBranch {
		t.Errorf("ACK to the callee has top Via branch %q, want the proxy's INVITE branch %q\n%s", ackBranch, invBranch, acks[0])
	}
}

// splitVias splits Via header values into entries.
func splitVias(vs []string) []string {
	var out []string
	for _, v := range vs {
		for _, e := range strings.Split(v, ",") {
			if strings.TrimSpace(e) != "" {
				out = append(out, e)
			}
		}
	}
	return out
}

// TestE2EFlowCallWaiting: 1001 calls 1003 and they talk; meanwhile 1004
// calls 1003, whose phone rings the call-waiting tone and refuses the
// second call (486). The lamp of 1003 shows both dialogs while the second
// rings: idle, ringing, busy, busy+ringing, busy, idle.
func TestE2EFlowCallWaiting(t *testing.T) {
	t.Parallel()
	for _, tp := range flowTransports {
		t.Run(tp, func(t *testing.T) {
			t.Parallel()
			g := startGateway(t, gwConfig{Proxy: edgeProxy})
			w := g.watchLamp(tp, "1003")
			callee := g.phoneFor(tp, "1003", flowSipp{scenario: "flow_waiting_uas.xml",
				sets:  map[string]string{"ring": "300", "wait_ring": "1500", "reject_from": "1004"},
				extra: []string{"-m", "2"}})
			first := g.dial(tp, "1001", "1003", map[string]string{"talk": "5000"}, "")
			waitLamps(t, w, []string{"idle", "ringing", "busy"}, 10*time.Second)
			second := g.callFrom(tp, "1004", "1003", flowSipp{scenario: "flow_reject_uac.xml",
				sets: map[string]string{"expect": "486"}})
			mustPassAll(t, 30*time.Second, first, second, callee.sippRun)
			waitFlowLamps(t, w, []string{"idle", "ringing", "busy", "busy+ringing", "busy", "idle"}, false, 10*time.Second)
			g.waitQuiet(40 * time.Second)
		})
	}
}

// TestE2EFlowBlindTransfer: 1001 calls 1003, which answers and transfers
// 1001 to 1004 with a REFER in the dialog. 1001 answers 202, reports with
// NOTIFYs (sipfrag) in the dialog, calls 1004 (a second SIPp run, started
// when the REFER arrived) and hangs up on 1003; every in-dialog request
// goes through the proxy. Lamps: 1003 idle, ringing, busy, idle; 1004
// idle, ringing, busy, idle; 1001 shows both of its calls while they
// overlap: idle, outgoing, busy, busy+outgoing, busy+busy, busy, idle.
func TestE2EFlowBlindTransfer(t *testing.T) {
	t.Parallel()
	for _, tp := range flowTransports {
		t.Run(tp, func(t *testing.T) {
			t.Parallel()
			g := startGateway(t, gwConfig{Proxy: edgeProxy})
			w3 := g.watchLamp(tp, "1003")
			w4 := g.watchLamp(tp, "1004")
			w1 := g.watchLamp(tp, "1001")
			transferor := g.phoneFor(tp, "1003", flowSipp{scenario: "flow_xfer_uas.xml",
				sets: map[string]string{"ring": "300", "talk": "800"}, keys: map[string]string{"refer_to": "1004"}})
			target := g.phoneFor(tp, "1004", flowSipp{scenario: "flow_waiting_uas.xml",
				sets: map[string]string{"ring": "300", "wait_ring": "0", "reject_from": "none"}})
			transferee := g.callFrom(tp, "1001", "1003", flowSipp{scenario: "flow_xfer_uac.xml",
				sets: map[string]string{"xfer_wait": "2500"}})

			msgs := transferee.waitFor("the REFER", 15*time.Second, func(ms []sipMsg) bool { return len(received(ms, "REFER")) > 0 })
			refer := received(msgs, "REFER")[0]
			if got := uriOf(refer.H("Refer-To")); got != "sip:1004@pbx.test" {
				t.Errorf("REFER reached the transferee with Refer-To %q, want sip:1004@pbx.test", got)
			}
			newCall := g.dial(tp, "1001", "1004", map[string]string{"talk": "3000"}, "")
			mustPassAll(t, 30*time.Second, transferee, transferor.sippRun, newCall, target.sippRun)

			waitLamps(t, w3, []string{"idle", "ringing", "busy", "idle"}, 10*time.Second)
			waitLamps(t, w4, []string{"idle", "ringing", "busy", "idle"}, 10*time.Second)
			waitFlowLamps(t, w1, []string{"idle", "outgoing", "busy", "busy+outgoing", "busy+busy", "busy", "idle"}, false, 10*time.Second)

			// The transferor had both NOTIFYs, in order, through the proxy.
			var frags []string
			for _, n := range received(transferor.messages(), "NOTIFY") {
				if !strings.EqualFold(n.H("Event"), "refer") {
					t.Errorf("NOTIFY to the transferor with Event %q, want refer", n.H("Event"))
				}
				frags = append(frags, strings.TrimSpace(n.Body))
			}
			if strings.Join(frags, "|") != "SIP/2.0 100 Trying|SIP/2.0 200 OK" {
				t.Errorf("transferor's NOTIFY bodies %q, want the sipfrags 100 Trying, 200 OK", frags)
			}
			g.waitQuiet(40 * time.Second)
		})
	}
}

// TestE2EFlowAttendedTransfer: 1003 calls 1004 and they talk; 1001 then
// sends 1004 an INVITE with Replaces naming that answered (confirmed)
// call, as an attended transfer completes. The proxy takes a Replaces for
// a ringing call as a pickup and sends it to that call's caller; this one
// must be routed as an ordinary call to its Request-URI, 1004, which
// answers it at once and hangs up the replaced call. Lamps: 1004 idle,
// ringing, busy, busy+busy, busy, idle; 1001 idle, outgoing, busy, idle.
func TestE2EFlowAttendedTransfer(t *testing.T) {
	t.Parallel()
	for _, tp := range flowTransports {
		t.Run(tp, func(t *testing.T) {
			t.Parallel()
			g := startGateway(t, gwConfig{Proxy: edgeProxy})
			w4 := g.watchLamp(tp, "1004")
			w1 := g.watchLamp(tp, "1001")
			phone4 := g.phoneFor(tp, "1004", flowSipp{scenario: "flow_replaces_uas.xml",
				sets: map[string]string{"ring": "300", "talk": "2500"}, extra: []string{"-m", "2"}})
			first := g.callFrom(tp, "1003", "1004", flowSipp{scenario: "flow_hold_uac.xml"})
			msgs := first.waitFor("the 200 of 1003's call", 15*time.Second, func(ms []sipMsg) bool {
				return len(finalResponses(responses(ms, "INVITE"))) > 0
			})
			ok := finalResponses(responses(msgs, "INVITE"))[0]
			if ok.Code != 200 {
				t.Fatalf("1003's call got %d", ok.Code)
			}
			waitLamps(t, w4, []string{"idle", "ringing", "busy"}, 10*time.Second)
			replaces := fmt.Sprintf("%s;to-tag=%s;from-tag=%s", ok.H("Call-ID"), tagOf(ok.H("To")), tagOf(ok.H("From")))
			second := g.callFrom(tp, "1001", "1004", flowSipp{scenario: "flow_replaces_uac.xml",
				sets: map[string]string{"talk": "3000"}, keys: map[string]string{"replaces": replaces}})
			mustPassAll(t, 30*time.Second, first, second, phone4.sippRun)

			waitFlowLamps(t, w4, []string{"idle", "ringing", "busy", "busy+busy", "busy", "idle"}, false, 10*time.Second)
			waitLamps(t, w1, []string{"idle", "outgoing", "busy", "idle"}, 10*time.Second)
			invs := received(phone4.messages(), "INVITE")
			if len(invs) != 2 || invs[1].H("Replaces") != replaces {
				t.Errorf("1004 received %d INVITEs, want 2, the second with Replaces: %s", len(invs), replaces)
			}
			if n := len(received(first.messages(), "INVITE")); n != 0 {
				t.Errorf("1003 (the replaced call's caller) received %d INVITEs: the Replaces was taken for a pickup", n)
			}
			g.waitQuiet(40 * time.Second)
		})
	}
}

// TestE2EFlowForking: 1003 has two phones registered (two contacts), so
// 1001's call forks to both. One answers; the proxy cancels the other,
// which answers the CANCEL 200 and the INVITE 487 and gets the proxy's ACK.
// The caller gets exactly one 200, from the phone that answered. The BLF
// key of 1003 shows one lamp for both devices: idle, ringing, busy, idle.
// (The documents themselves carry one early dialog per device, each with
// that device's contact as its target, RFC 4235 section 4.1.6, and only
// the dialog of the device that answered once it has.)
func TestE2EFlowForking(t *testing.T) {
	t.Parallel()
	for _, tp := range flowTransports {
		t.Run(tp, func(t *testing.T) {
			t.Parallel()
			g := startGateway(t, gwConfig{Proxy: edgeProxy})
			w := g.watchLamp(tp, "1003")
			desk := g.phoneFor(tp, "1003", flowSipp{scenario: "flow_waiting_uas.xml",
				sets: map[string]string{"ring": "600", "wait_ring": "0", "reject_from": "none"}})
			mobile := g.phoneFor(tp, "1003", flowSipp{scenario: "flow_cancel_uas.xml"})
			caller := g.dial(tp, "1001", "1003", map[string]string{"talk": "1000"}, "")
			mustPassAll(t, 30*time.Second, caller, desk.sippRun, mobile.sippRun)
			waitFlowLamps(t, w, []string{"idle", "ringing", "busy", "idle"}, true, 10*time.Second)
			checkForkDialogs(t, w, desk.port, mobile.port)

			var deskTag string
			for _, m := range desk.messages() {
				if m.Sent && m.Code == 200 && m.CSeqMethod() == "INVITE" {
					deskTag = tagOf(m.H("To"))
				}
			}
			var oks []sipMsg
			for _, m := range responses(caller.messages(), "INVITE") {
				if m.Code == 200 {
					oks = append(oks, m)
				}
			}
			if len(oks) != 1 || deskTag == "" || tagOf(oks[0].H("To")) != deskTag {
				t.Errorf("caller got %d 200s to its INVITE, want exactly one, from the phone that answered (To tag %q)", len(oks), deskTag)
				for _, m := range oks {
					t.Logf("200 with To %q", m.H("To"))
				}
			}
			for _, m := range mobile.messages() {
				if m.Sent && m.Code == 200 && m.CSeqMethod() == "INVITE" {
					t.Errorf("the cancelled phone answered the INVITE:\n%s", m)
				}
			}
			if n := len(received(mobile.messages(), "CANCEL")); n != 1 {
				t.Errorf("the phone that did not answer received %d CANCELs, want 1", n)
			}
			checkHopByHopAck(t, mobile.sippRun)
			g.waitQuiet(40 * time.Second)
		})
	}
}

// checkForkDialogs asserts what a watcher of an extension with two devices
// was told: at some point both devices' early dialogs (targets naming each
// device's port), and after the answer only the answering device's
// (deskPort) confirmed dialog.
func checkForkDialogs(t testing.TB, w *watcher, deskPort, mobilePort int) {
	t.Helper()
	target := func(d diDialog) string {
		if d.Local == nil {
			return ""
		}
		return d.Local.Target.URI
	}
	onPort := func(u string, port int) bool { return strings.Contains(u, fmt.Sprintf(":%d", port)) }
	bothRang, answered := false, false
	for _, n := range w.subscription().Notifies {
		doc, err := parseDialogInfo(n.Body)
		if err != nil {
			t.Fatal(err)
		}
		var early, confirmed []diDialog
		for _, d := range doc.Dialogs {
			switch strings.TrimSpace(d.State) {
			case "early":
				early = append(early, d)
			case "confirmed":
				confirmed = append(confirmed, d)
			}
		}
		if len(early) == 2 && len(confirmed) == 0 &&
			(onPort(target(early[0]), deskPort) && onPort(target(early[1]), mobilePort) ||
				onPort(target(early[1]), deskPort) && onPort(target(early[0]), mobilePort)) {
			bothRang = true
		}
		if len(confirmed) > 0 {
			if len(doc.Dialogs) != 1 || !onPort(target(confirmed[0]), deskPort) {
				t.Errorf("after the answer the document has %d dialogs, confirmed target %q; want only the answering device (port %d)\n%s",
					len(doc.Dialogs), target(confirmed[0]), deskPort, n.Body)
			}
			answered = true
		}
	}
	if !bothRang || !answered {
		t.Errorf("watcher never saw both devices ring (%v) or the answer (%v)\n%s", bothRang, answered, w.report())
	}
}
