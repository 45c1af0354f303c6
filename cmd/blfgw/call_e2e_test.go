package main

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// edgeProxy is the [proxy] body of a standalone office.
const edgeProxy = "mode = \"edge-proxy\"\nunknown_to_upstream = false\nmin_register = 60"

// phone is a SIPp callee registered to the gateway for an extension.
type phone struct {
	*sippRun
	port int
}

// answer starts a callee for ext (uas.xml) and registers its address as
// ext's contact, as the phone itself would.
func (g *gateway) answer(tp, ext string, sets map[string]string, scenario string) *phone {
	g.t.Helper()
	port := freePort(g.t)
	s := map[string]string{"ring": "300"}
	for k, v := range sets {
		s[k] = v
	}
	run := g.startSipp(fmt.Sprintf("phone%d-%s-%s", nextSeq(), ext, tp), sippOpts{
		scenario: orDefault(scenario, "uas.xml"), transport: tp, localPort: port,
		keys: map[string]string{"callee": ext}, sets: s,
	})
	contact := fmt.Sprintf("Contact: <sip:%s@127.0.0.1:%d;transport=%s>", ext, port, tp)
	g.do(tp, request{Method: "REGISTER", Ext: ext, Expect: 200, Headers: []string{contact, "Expires: 600"}})
	return &phone{sippRun: run, port: port}
}

// dial starts a caller (uac.xml) from ext to number.
func (g *gateway) dial(tp, ext, number string, sets map[string]string, scenario string) *sippRun {
	g.t.Helper()
	s := map[string]string{"talk": "500"}
	for k, v := range sets {
		s[k] = v
	}
	return g.startSipp(fmt.Sprintf("call%d-%s-%s-%s", nextSeq(), ext, number, tp), sippOpts{
		scenario: orDefault(scenario, "uac.xml"), transport: tp, service: number,
		// The & makes the ringing NOTIFY prove the display name is escaped.
		keys: map[string]string{"caller": ext, "caller_name": "Caller " + ext + " & Co"}, sets: s,
	})
}

// lampsSeen lists the distinct successive lamps in a watcher's NOTIFYs.
func lampsSeen(t testing.TB, w *watcher) []string {
	var out []string
	for _, n := range w.subscription().Notifies {
		l := lampOf(t, n)
		if len(out) == 0 || out[len(out)-1] != l {
			out = append(out, l)
		}
	}
	return out
}

// waitLamps waits until the watcher has seen the lamps in order (each
// distinct step, duplicates collapsed) and returns them.
func waitLamps(t testing.TB, w *watcher, want []string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := lampsSeen(t, w)
		if strings.Join(got, ",") == strings.Join(want, ",") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("lamps %q, want %q\n%s", got, want, w.report())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitQuiet waits until the gateway tracks no call and relays nothing.
func (g *gateway) waitQuiet(timeout time.Duration) {
	g.t.Helper()
	g.waitHealth("no calls or transactions left", timeout, func(h health) bool {
		for _, k := range []string{"call_legs", "proxy_dialogs", "proxy_ringing", "proxy_relaying", "proxy_client_tx"} {
			v, ok := h.Stats[k]
			if !ok || toInt(v) != 0 {
				return false
			}
		}
		return true
	})
}

func toInt(v any) int {
	switch x := v.(type) {
	case float64:
		return int(x)
	case int:
		return x
	case string:
		n, _ := strconv.Atoi(x)
		return n
	}
	return -1
}

// TestE2ECallBasic: 1001 calls 1003 through the proxy over UDP, over TCP,
// and from UDP to TCP; a watcher of 1003 sees ringing, busy, idle.
func TestE2ECallBasic(t *testing.T) {
	t.Parallel()
	// "udp>tcp": the caller on UDP, the callee on TCP, so the proxy
	// record-routes twice and every in-dialog request changes transport.
	for _, tp := range []string{"udp", "tcp", "udp>tcp"} {
		t.Run(tp, func(t *testing.T) {
			from, to, _ := strings.Cut(tp, ">")
			if to == "" {
				to = from
			}
			g := startGateway(t, gwConfig{Proxy: edgeProxy})
			w := g.watch(from, watch{Ext: "1003", Expires: 600})
			w.waitNotifies(1, 10*time.Second)
			callee := g.answer(to, "1003", nil, "")
			caller := g.dial(from, "1001", "1003", nil, "")
			mustPassAll(t, 30*time.Second, caller, callee.sippRun)
			if from != to {
				inv := received(callee.messages(), "INVITE")
				if len(inv) == 0 {
					t.Fatalf("the callee got no INVITE\n%s", callee.report())
				}
				rr := strings.Join(inv[0].All("Record-Route"), ",")
				if strings.Count(rr, ";lr") != 2 || !strings.Contains(rr, "transport=tcp") {
					t.Errorf("callee on %s, caller on %s: Record-Route %q, want ours twice, one for TCP", to, from, rr)
				}
			}
			waitLamps(t, w, []string{"idle", "ringing", "busy", "idle"}, 10*time.Second)
			// The watcher (1002) is 1003's delegate: the ringing NOTIFY
			// names the caller, display name escaped in the XML.
			named := false
			for _, n := range w.subscription().Notifies {
				d, err := parseDialogInfo(n.Body)
				if err != nil || len(d.Dialogs) == 0 || d.Dialogs[0].State != "early" {
					continue
				}
				r := d.Dialogs[0].Remote
				if r == nil || r.Identity.Display != "Caller 1001 & Co" || !strings.HasPrefix(strings.TrimSpace(r.Identity.URI), "sip:1001@") {
					t.Errorf("ringing NOTIFY names the caller as %+v\n%s", r, n.Body)
				}
				named = true
			}
			if !named {
				t.Errorf("no ringing NOTIFY among %d", len(w.subscription().Notifies))
			}
			g.waitQuiet(40 * time.Second)
		})
	}
}

// mustPassAll waits for every SIPp run and fails with all their reports
// if any failed: a call's fault is often seen only at the other end.
func mustPassAll(t testing.TB, timeout time.Duration, runs ...*sippRun) {
	t.Helper()
	var errs []string
	for _, r := range runs {
		if err := r.wait(timeout); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		for _, r := range runs {
			if r.rc == 0 {
				errs = append(errs, "(passed) "+r.report())
			}
		}
		t.Fatal(strings.Join(errs, "\n"))
	}
}
