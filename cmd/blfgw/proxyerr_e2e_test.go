package main

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The edge proxy's error answers, a restart in the middle of a call, and
// the keepalive reaper (sip/proxy.go, sip/proxycalls.go).

// strayBye sends an in-dialog BYE (testdata/sipp/err_bye.xml) for a call
// the gateway does not know and returns the final answer.
func (g *gateway) strayBye(tp, from, to string, expect int) sipMsg {
	g.t.Helper()
	run := g.startSipp(fmt.Sprintf("bye%d-%s-%s-%s", nextSeq(), from, to, tp), sippOpts{
		scenario: "err_bye.xml", transport: tp, service: to,
		keys: map[string]string{"from": from, "to_tag": "nosuchcall"},
		sets: map[string]string{"expect": fmt.Sprint(expect)},
	})
	run.mustPass(sippHardLimit)
	finals := finalResponses(responses(run.messages(), "BYE"))
	if len(finals) == 0 || finals[len(finals)-1].Code != expect {
		g.t.Fatalf("BYE: want %d\n%s", expect, run.report())
	}
	return finals[len(finals)-1]
}

// noPanics fails if the gateway counted a panic in a SIP handler.
func (g *gateway) noPanics() {
	g.t.Helper()
	h, err := g.health()
	if err != nil {
		g.t.Fatalf("healthz: %v", err)
	}
	if h.SIPPanics != 0 {
		g.t.Errorf("sip_panics = %v, want 0", h.SIPPanics)
	}
}

// TestE2EProxyErr: INVITEs the proxy must refuse, each with its code and a
// reason phrase that says what was wrong; no handler panics and no call or
// transaction is left behind.
func TestE2EProxyErr(t *testing.T) {
	t.Parallel()
	tp := "udp"
	t.Run("request", func(t *testing.T) {
		t.Parallel()
		g := startGateway(t, gwConfig{Proxy: edgeProxy})
		phone := g.answer(tp, "1003", nil, "") // registered, and must never ring
		res := g.refused(tp, callReq{From: "1001", To: "1003", Expect: 400,
			Headers: []string{"Content-Type: application/sdp"}, Body: "this is no SDP"})
		reasonSays(t, res, "Malformed SDP", "line 1 is not <type>=<value>")
		res = g.refused(tp, callReq{From: "1001", To: "1003", MaxForwards: "0", Expect: 483})
		reasonSays(t, res, "Too Many Hops", "Max-Forwards is 0")
		res = g.refused(tp, callReq{From: "1001", To: "9999", Expect: 404})
		reasonSays(t, res, "Not Found", "no extension 9999")
		res = g.refused(tp, callReq{From: "1001", To: "1006", Expect: 480})
		reasonSays(t, res, "Temporarily Unavailable", "1006 is not registered")
		if n := len(received(phone.messages(), "INVITE")); n != 0 {
			t.Errorf("a refused INVITE reached 1003's phone (%d INVITEs)", n)
		}
		g.noPanics()
		g.waitQuiet(40 * time.Second)
	})
	t.Run("loop", func(t *testing.T) {
		t.Parallel()
		// The upstream PBX is the gateway itself: a number it does not
		// know goes "upstream", comes back with our Via and is refused as
		// a loop (long before Max-Forwards, 70, could run out).
		g := startGateway(t, gwConfig{Proxy: edgeProxy})
		g.stop(syscall.SIGTERM)
		g.editConfig(func(s string) string {
			return strings.Replace(s, "unknown_to_upstream = false",
				fmt.Sprintf("unknown_to_upstream = true\nupstream = \"sip:127.0.0.1:%d\"", g.sipPort), 1)
		})
		g.start()
		res := g.refused(tp, callReq{From: "1001", To: "9999", Expect: 482})
		reasonSays(t, res, "Loop Detected", "has been here before")
		g.noPanics()
		g.waitQuiet(45 * time.Second)
	})
	t.Run("untrusted", func(t *testing.T) {
		t.Parallel()
		g := startGateway(t, gwConfig{Proxy: edgeProxy, Trusted: []string{"192.0.2.0/24"}})
		res := g.refused(tp, callReq{From: "1001", To: "1003", Expect: 407})
		reasonSays(t, res, "Proxy Authentication Required", "is not registered here")
		pa := res.H("Proxy-Authenticate")
		if p := digestParams(pa); !strings.HasPrefix(pa, "Digest") || p["realm"] == "" || p["nonce"] == "" {
			t.Errorf("407 Proxy-Authenticate %q, want a digest challenge with realm and nonce", pa)
		}
		if res.Has("WWW-Authenticate") {
			t.Errorf("407 carries WWW-Authenticate: %q", res.H("WWW-Authenticate"))
		}
		res = g.strayBye(tp, "1001", "1003", 481)
		reasonSays(t, res, "Call/Transaction Does Not Exist", "no such call")
		g.noPanics()
		g.waitQuiet(40 * time.Second)
	})
}

// TestE2ECallRestart: the gateway restarts (SIGTERM, same ports and
// database) in the middle of an answered call: the call is restored, a
// watcher's lamp of 1003 stays busy (and a new watcher sees busy), and the
// caller's BYE through the restarted gateway puts it out.
func TestE2ECallRestart(t *testing.T) {
	t.Parallel()
	tp := "udp"
	g := startGateway(t, gwConfig{Proxy: edgeProxy})
	w := g.watch(tp, watch{Ext: "1003", Expires: 600})
	w.waitNotifies(1, 10*time.Second)
	callee := g.answer(tp, "1003", nil, "")
	caller := g.dial(tp, "1001", "1003", map[string]string{"talk": "5000"}, "")
	waitLamps(t, w, []string{"idle", "ringing", "busy"}, 10*time.Second)
	before := len(w.subscription().Notifies)
	stopping := time.Now()
	g.stop(syscall.SIGTERM)
	g.start()
	restarted := time.Now()
	t.Logf("the gateway restarted in %v", restarted.Sub(stopping).Round(time.Millisecond))
	if l := g.waitLog("restored answered calls", 5*time.Second); !strings.Contains(l, "calls=1") {
		t.Errorf("after the restart the log says %q, want calls=1", l)
	}
	if h, err := g.health(); err != nil || toInt(h.Stats["proxy_dialogs"]) != 1 || toInt(h.Stats["call_legs"]) < 1 {
		t.Errorf("after the restart: proxy_dialogs %v, call_legs %v (%v); want the call restored",
			h.Stats["proxy_dialogs"], h.Stats["call_legs"], err)
	}
	// The restored subscription is told the restored state: still busy.
	ns := w.waitNotifies(before+1, 10*time.Second)
	if l := lampOf(t, ns[before]); l != "busy" {
		t.Errorf("the restarted gateway's first NOTIFY shows %q, want busy\n%s", l, ns[before])
	}
	fresh := g.watch(tp, watch{Ext: "1003", Expires: 600})
	if n := fresh.waitNotifies(1, 10*time.Second); lampOf(t, n[0]) != "busy" {
		t.Errorf("a watcher subscribing after the restart sees %q, want busy\n%s", lampOf(t, n[0]), n[0])
	}
	if got := lampsSeen(t, w); strings.Join(got, ",") != "idle,ringing,busy" {
		t.Errorf("across the restart the lamps went %q, want still busy", got)
	}
	mustPassAll(t, 30*time.Second, caller, callee.sippRun)
	byes := sentRequests(caller.messages(), "BYE")
	if len(byes) == 0 || byes[0].At.Before(restarted) {
		t.Fatalf("the BYE was not sent after the restart (restarted %v)\n%s", restarted, caller.report())
	}
	waitLamps(t, w, []string{"idle", "ringing", "busy", "idle"}, 10*time.Second)
	waitLamps(t, fresh, []string{"busy", "idle"}, 10*time.Second)
	if ns := w.subscription().Notifies; !ns[before].At.Before(byes[0].At) {
		t.Errorf("the restarted gateway's busy NOTIFY came after the BYE")
	}
	g.waitQuiet(40 * time.Second)
}

// TestE2EReaper: with proxy.keepalive = 10 the proxy probes an answered
// call with in-dialog OPTIONS; the callee (rebooted) answers 481, so the
// call is ended without any BYE: 1003's lamp goes idle within 25 s and
// call_legs returns to 0.
func TestE2EReaper(t *testing.T) {
	t.Parallel()
	tp := "udp"
	g := startGateway(t, gwConfig{Proxy: edgeProxy + "\nkeepalive = 10"})
	w := g.watch(tp, watch{Ext: "1003", Expires: 600})
	w.waitNotifies(1, 10*time.Second)
	callee := g.answer(tp, "1003", map[string]string{"quiet": "3000"}, "err_ka_callee.xml")
	caller := g.startSipp(fmt.Sprintf("kacaller%d-%s", nextSeq(), tp), sippOpts{
		scenario: "err_ka_caller.xml", transport: tp, service: "1003",
		keys: map[string]string{"caller": "1001", "caller_name": "Caller 1001"},
		sets: map[string]string{"hold": "16000"},
	})
	waitLamps(t, w, []string{"idle", "ringing", "busy"}, 10*time.Second)
	busyAt := time.Now()
	waitLamps(t, w, []string{"idle", "ringing", "busy", "idle"}, 25*time.Second)
	took := time.Since(busyAt)
	if took < 8*time.Second {
		t.Errorf("the call ended %v after it was answered, before the first keepalive (10 s)", took)
	}
	g.waitLog("call gone: a phone no longer knows it", 5*time.Second)
	mustPassAll(t, 30*time.Second, caller, callee.sippRun)
	cm, km := caller.messages(), callee.messages()
	if n := len(received(km, "OPTIONS")); n != 1 {
		t.Errorf("the callee got %d OPTIONS, want one probe\n%s", n, callee.report())
	} else if o := received(km, "OPTIONS")[0]; o.H("Call-ID") != received(km, "INVITE")[0].H("Call-ID") || tagOf(o.H("To")) == "" {
		t.Errorf("the probe is not in the call's dialog:\n%s", o)
	}
	if len(received(cm, "BYE"))+len(received(km, "BYE"))+len(sentRequests(cm, "BYE")) != 0 {
		t.Errorf("a BYE was sent; the reaper must end the call silently")
	}
	g.waitQuiet(40 * time.Second)
	if h, _ := g.health(); toInt(h.Stats["call_legs"]) != 0 {
		t.Errorf("call_legs %v", h.Stats["call_legs"])
	}
}
