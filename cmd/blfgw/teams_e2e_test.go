package main

import (
	"encoding/pem"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/blfgw/blfgw/bridge/teams/fakegraph"
)

// The Teams bridge end to end: the gateway (its own process) talks to
// the fake Graph over TLS, trusting it through ca_file, with the real SDK;
// Graph calls the gateway back on its HTTP listener.
const (
	e2eTenant  = "8b2c3a1e-1111-4222-8333-944455556666"
	e2eApp     = "0c0ffee0-aaaa-4bbb-8ccc-dddddddddddd"
	e2eSecret  = "e2e-app-secret"
	e2eSvc     = "svc-presence@example.com"
	e2eSvcPass = "svc-password"
)

// teamsID is the Entra object id the tests give an extension.
func teamsID(ext string) string { return fmt.Sprintf("00000000-0000-4000-8000-0000%08s", ext) }

type fakeTeams struct {
	*fakegraph.Server
	url string
	ca  string // PEM file of its certificate
}

func startFakeGraph(t *testing.T) *fakeTeams {
	t.Helper()
	var users []fakegraph.User
	for _, e := range e2eExtensions {
		users = append(users, fakegraph.User{ID: teamsID(e.Number), UPN: "u" + e.Number + "@example.com", DisplayName: e.Name})
	}
	fake := fakegraph.New(fakegraph.Options{
		Tenant:          e2eTenant,
		Apps:            map[string]string{e2eApp: e2eSecret},
		Accounts:        map[string]string{e2eSvc: e2eSvcPass},
		Users:           users,
		AllowHTTPNotify: true, // the gateway's listener is plain HTTP on loopback
		RetryDelay:      100 * time.Millisecond,
	})
	srv := httptest.NewTLSServer(fake.Handler())
	t.Cleanup(func() { srv.Close(); fake.Close() })
	ca := filepath.Join(t.TempDir(), "graph-ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return &fakeTeams{Server: fake, url: srv.URL, ca: ca}
}

// config is the [teams] body for this fake; notify turns on change
// notifications to the gateway's /teams/notify.
func (f *fakeTeams) config(notify bool, poll int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "enabled = true\ntenant = %q\nclient_id = %q\nclient_secret = %q\n", e2eTenant, e2eApp, e2eSecret)
	fmt.Fprintf(&b, "graph_url = %q\nlogin_url = %q\nca_file = %q\npoll_interval = %d\n", f.url, f.url, f.ca, poll)
	if notify {
		b.WriteString("notification_url = \"http://127.0.0.1:{http}/teams/notify\"\n")
		fmt.Fprintf(&b, "[[teams.accounts]]\nusername = %q\npassword = %q\n", e2eSvc, e2eSvcPass)
	}
	return b.String()
}

// inCall reports whether the gateway's app session puts ext in a call.
func (f *fakeTeams) inCall(ext string) bool {
	s, ok := f.AppSession(teamsID(ext), e2eApp)
	return ok && s.Availability == "Busy" && s.Activity == "InACall"
}

func within(t *testing.T, d time.Duration, what string, ok func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !ok() {
		if time.Since(start) > d {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// TestE2ETeamsProxiedCall: in edge-proxy mode with change notifications,
// a call proxied from 1001 to 1003 shows both in Teams as in a call within
// 2 s of the answer and clears both sessions within 2 s of the BYE; the
// bridge's own write, notified back, does not move a lamp (the watcher
// sees exactly ringing, busy, idle). A Teams meeting of 1004 turns a SIPp
// watcher's lamp busy within 2 s, and back.
func TestE2ETeamsProxiedCall(t *testing.T) {
	t.Parallel()
	fake := startFakeGraph(t)
	g := startGateway(t, gwConfig{Proxy: edgeProxy, Teams: fake.config(true, 3600)})
	g.waitHealth("the teams subscription", 10*time.Second, func(h health) bool {
		return toInt(h.Stats["teams_subscriptions"]) == 1 && toInt(h.Stats["teams_users"]) == len(e2eExtensions)
	})
	if subs := fake.Subscriptions(); len(subs) != 1 || len(subs[0].UserIDs) != len(e2eExtensions) || subs[0].Account != e2eSvc {
		t.Fatalf("subscriptions = %+v", subs)
	}

	tp := "udp"
	w := g.watch(tp, watch{Ext: "1003", Expires: 600})
	w.waitNotifies(1, 10*time.Second)
	callee := g.answer(tp, "1003", nil, "")
	caller := g.dial(tp, "1001", "1003", map[string]string{"talk": "3000"}, "")
	waitLamps(t, w, []string{"idle", "ringing", "busy"}, 10*time.Second)
	for _, ext := range []string{"1001", "1003"} {
		d := within(t, 2*time.Second, ext+" in a call in Teams", func() bool { return fake.inCall(ext) })
		t.Logf("%s in a call in Teams %v after the busy lamp", ext, d.Round(time.Millisecond))
	}
	mustPassAll(t, 30*time.Second, caller, callee.sippRun)
	waitLamps(t, w, []string{"idle", "ringing", "busy", "idle"}, 10*time.Second)
	for _, ext := range []string{"1001", "1003"} {
		d := within(t, 2*time.Second, ext+"'s session cleared", func() bool {
			_, ok := fake.AppSession(teamsID(ext), e2eApp)
			return !ok
		})
		t.Logf("%s's session cleared %v after the idle lamp", ext, d.Round(time.Millisecond))
	}
	// The notifications of the bridge's own writes were read and set aside.
	h := g.waitHealth("echoes seen", 5*time.Second, func(h health) bool { return toInt(h.Stats["teams_echoes"]) >= 1 })
	if got := lampsSeen(t, w); strings.Join(got, ",") != "idle,ringing,busy,idle" {
		t.Errorf("the watcher saw %q: the bridge's own write echoed", got)
	}

	// Teams to lamps, on the notification path.
	w4 := g.watch(tp, watch{Ext: "1004", Expires: 600})
	w4.waitNotifies(1, 10*time.Second)
	if err := fake.SetClient(teamsID("1004"), "Busy", "InAMeeting"); err != nil {
		t.Fatal(err)
	}
	changed := time.Now()
	waitLamps(t, w4, []string{"idle", "busy"}, 2*time.Second)
	t.Logf("Teams meeting to busy NOTIFY: %v", time.Since(changed).Round(time.Millisecond))
	if err := fake.SetClient(teamsID("1004"), "Available", "Available"); err != nil {
		t.Fatal(err)
	}
	waitLamps(t, w4, []string{"idle", "busy", "idle"}, 2*time.Second)
	checks, _ := h.Stats["checks"].(map[string]any)
	if checks["teams"] != "ok" || toInt(h.Stats["teams_notifications"]) < 1 {
		t.Errorf("healthz: checks %v, notifications %v", checks, h.Stats["teams_notifications"])
	}
	// On the way out the gateway deletes its subscription.
	g.stop(syscall.SIGTERM)
	if subs := fake.Subscriptions(); len(subs) != 0 {
		t.Errorf("subscriptions left after the gateway stopped: %+v", subs)
	}
}

// TestE2ETeamsPolling: in presence mode without notifications, a PUBLISHed
// call makes the user in a call in Teams within 2 s and its end clears the
// session within 2 s; a Teams change reaches a SIPp watcher within one
// poll interval; with Graph throttling, /healthz says degraded with the
// reason and still answers 200.
func TestE2ETeamsPolling(t *testing.T) {
	t.Parallel()
	fake := startFakeGraph(t)
	const poll = 5
	g := startGateway(t, gwConfig{Teams: fake.config(false, poll)})
	g.waitHealth("the teams users", 10*time.Second, func(h health) bool {
		return toInt(h.Stats["teams_users"]) == len(e2eExtensions) && toInt(h.Stats["teams_reads"]) >= len(e2eExtensions)
	})
	tp := "udp"
	w := g.watch(tp, watch{Ext: "1005", Expires: 600})
	w.waitNotifies(1, 10*time.Second)
	talking := call{ID: "call-t", Direction: "recipient", State: "confirmed", Remote: "sip:300@" + e2eDomain}
	pub := g.publish(tp, publication{Ext: "1005", Body: dialogInfo("1005", talking), Expires: 600})
	within(t, 2*time.Second, "1005 in a call in Teams", func() bool { return fake.inCall("1005") })
	t.Logf("PUBLISH 200 to Teams in a call: %v", time.Since(pub.At).Round(time.Millisecond))
	g.publish(tp, publication{Ext: "1005", IfMatch: pub.ETag, Body: dialogInfo("1005"), Expires: 600})
	within(t, 2*time.Second, "1005's session cleared", func() bool {
		_, ok := fake.AppSession(teamsID("1005"), e2eApp)
		return !ok
	})
	waitLamps(t, w, []string{"idle", "busy", "idle"}, 5*time.Second)

	if err := fake.SetClient(teamsID("1005"), "DoNotDisturb", "Presenting"); err != nil {
		t.Fatal(err)
	}
	changed := time.Now()
	waitLamps(t, w, []string{"idle", "busy", "idle", "busy"}, (poll+2)*time.Second)
	t.Logf("Teams presenting to busy NOTIFY by polling every %d s: %v", poll, time.Since(changed).Round(time.Millisecond))
	last := w.subscription().Notifies
	if body := last[len(last)-1].Body; !strings.Contains(body, `id="blfgw-teams"`) {
		t.Errorf("the busy NOTIFY does not come from Teams:\n%s", body)
	}

	fake.Throttle(1000, 30*time.Second)
	h := g.waitHealth("degraded by throttling", 3*time.Duration(poll)*time.Second, func(h health) bool {
		checks, _ := h.Stats["checks"].(map[string]any)
		s, _ := checks["teams"].(string)
		return h.Status == "degraded" && strings.Contains(s, "throttled")
	})
	if h.code != 200 {
		t.Errorf("a throttled bridge made /healthz answer %d, want 200 (the phones still work)", h.code)
	}
}
