package main

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/blfgw/blfgw/bridge/genesys/fakegenesys"
)

// The Genesys bridge end to end: the gateway process, the fake Genesys
// (REST and its WebSocket) and the fake Graph, SIPp as the PBX and as
// the watchers.
const (
	e2eGenesysClient = "7d0c7f3a-1111-4222-8333-444455556666"
	e2eGenesysSecret = "e2e-genesys-secret"
)

// genesysID is the Genesys user id the tests give an extension.
func genesysID(ext string) string { return fmt.Sprintf("00000000-0000-4000-9000-0000%08s", ext) }

func startFakeGenesys(t *testing.T) (*fakegenesys.Server, string) {
	t.Helper()
	var users []fakegenesys.User
	for _, e := range e2eExtensions {
		users = append(users, fakegenesys.User{ID: genesysID(e.Number), Email: "g" + e.Number + "@example.com", Name: e.Name})
	}
	fake := fakegenesys.New(fakegenesys.Options{
		Clients:   map[string]string{e2eGenesysClient: e2eGenesysSecret},
		Users:     users,
		Heartbeat: time.Second,
	})
	srv := httptest.NewServer(fake.Handler())
	t.Cleanup(func() { srv.Close(); fake.Close() })
	body := fmt.Sprintf("enabled = true\nclient_id = %q\nclient_secret = %q\napi_url = %q\nlogin_url = %q\n",
		e2eGenesysClient, e2eGenesysSecret, srv.URL, srv.URL)
	return fake, body
}

func genesysPresence(f *fakegenesys.Server, ext string) string {
	_, sys, _ := f.Presence(genesysID(ext))
	return sys
}

// TestE2EGenesys: a Genesys change lights a SIPp watcher's lamp within
// 2 s; a PUBLISHed call makes the agent Busy and its end restores what
// they had; an agent On Queue is never changed by a call or by Teams; a
// Teams meeting (fake Graph) makes the agent Busy by the blueprint's
// table; a dropped WebSocket is reconnected and what changed meanwhile
// reconciled.
func TestE2EGenesys(t *testing.T) {
	t.Parallel()
	gfake, gbody := startFakeGenesys(t)
	tfake := startFakeGraph(t)
	g := startGateway(t, gwConfig{Teams: tfake.config(true, 3600), Genesys: gbody})
	g.waitHealth("the genesys channel and the teams subscription", 10*time.Second, func(h health) bool {
		return toInt(h.Stats["genesys_channels"]) == 1 && toInt(h.Stats["genesys_users"]) == len(e2eExtensions) &&
			toInt(h.Stats["teams_subscriptions"]) == 1
	})
	tp := "udp"

	// Genesys -> lamps.
	w := g.watch(tp, watch{Ext: "1004", Expires: 600})
	w.waitNotifies(1, 10*time.Second)
	if err := gfake.SetPresence(genesysID("1004"), "Meeting"); err != nil {
		t.Fatal(err)
	}
	changed := time.Now()
	waitLamps(t, w, []string{"idle", "busy"}, 2*time.Second)
	t.Logf("Genesys Meeting to busy NOTIFY: %v", time.Since(changed).Round(time.Millisecond))
	if err := gfake.SetPresence(genesysID("1004"), "Available"); err != nil {
		t.Fatal(err)
	}
	waitLamps(t, w, []string{"idle", "busy", "idle"}, 2*time.Second)

	// A phone call: Busy, then back to what the agent had.
	if err := gfake.SetPresence(genesysID("1005"), "Training"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	talking := call{ID: "call-g", Direction: "recipient", State: "confirmed", Remote: "sip:300@" + e2eDomain}
	pub := g.publish(tp, publication{Ext: "1005", Body: dialogInfo("1005", talking), Expires: 600})
	within(t, 2*time.Second, "1005 busy in Genesys", func() bool { return genesysPresence(gfake, "1005") == "Busy" })
	t.Logf("PUBLISH 200 to Genesys Busy: %v", time.Since(pub.At).Round(time.Millisecond))
	end := g.publish(tp, publication{Ext: "1005", IfMatch: pub.ETag, Body: dialogInfo("1005"), Expires: 600})
	within(t, 2*time.Second, "1005's training restored", func() bool { return genesysPresence(gfake, "1005") == "Training" })
	t.Logf("end of call to Genesys Training restored: %v", time.Since(end.At).Round(time.Millisecond))

	// On Queue: never touched, by a call or by Teams.
	if err := gfake.SetPresence(genesysID("1006"), "On Queue"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	pub = g.publish(tp, publication{Ext: "1006", Body: dialogInfo("1006", talking), Expires: 600})
	if err := tfake.SetClient(teamsID("1006"), "Busy", "InAMeeting"); err != nil {
		t.Fatal(err)
	}
	g.waitHealth("the On Queue guard used", 5*time.Second, func(h health) bool { return toInt(h.Stats["genesys_on_queue_skipped"]) >= 1 })
	time.Sleep(time.Second)
	for _, p := range gfake.Patches(genesysID("1006")) {
		t.Errorf("an agent On Queue was PATCHed: %+v", p)
	}
	if got := genesysPresence(gfake, "1006"); got != "On Queue" {
		t.Errorf("1006 is %q, want still On Queue", got)
	}
	g.publish(tp, publication{Ext: "1006", IfMatch: pub.ETag, Body: dialogInfo("1006"), Expires: 600})

	// Teams -> Genesys, by the blueprint's table.
	if err := tfake.SetClient(teamsID("1003"), "Busy", "InAMeeting"); err != nil {
		t.Fatal(err)
	}
	d := within(t, 3*time.Second, "1003 busy in Genesys after a Teams meeting", func() bool { return genesysPresence(gfake, "1003") == "Busy" })
	t.Logf("Teams meeting to Genesys Busy: %v", d.Round(time.Millisecond))
	if err := tfake.SetClient(teamsID("1003"), "Available", "Available"); err != nil {
		t.Fatal(err)
	}
	within(t, 3*time.Second, "1003 available in Genesys again", func() bool { return genesysPresence(gfake, "1003") == "Available" })

	// A dropped WebSocket: reconnected, and the change made while it was
	// down reaches the lamp by the reconcile.
	gfake.DropSockets()
	if err := gfake.SetPresence(genesysID("1004"), "Busy"); err != nil {
		t.Fatal(err)
	}
	waitLamps(t, w, []string{"idle", "busy", "idle", "busy"}, 10*time.Second)
	h := g.waitHealth("reconnected", 10*time.Second, func(h health) bool {
		return toInt(h.Stats["genesys_reconnects"]) >= 1 && toInt(h.Stats["genesys_channels"]) == 1
	})
	checks, _ := h.Stats["checks"].(map[string]any)
	if checks["genesys"] != "ok" {
		t.Errorf("healthz genesys check: %v", checks["genesys"])
	}
	if toInt(h.Stats["genesys_echoes"]) < 1 {
		t.Errorf("no echo of the bridge's own PATCHes was counted: %v", h.Stats["genesys_echoes"])
	}
}

// TestServeGenesysUnknownPresence: a presence name the Genesys org does
// not have stops the start like any configuration error, at its line.
func TestServeGenesysUnknownPresence(t *testing.T) {
	_, body := startFakeGenesys(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gw.toml")
	doc := "[sip]\ndomain = \"pbx.test\"\n\n[[extensions]]\nnumber = \"1001\"\nname = \"A\"\npassword = \"pw-1001\"\ngenesys_user = \"" + genesysID("1001") + "\"\n\n" +
		"[genesys]\n" + body + "\n[genesys.to_genesys]\naway = \"Lunchh\"\n"
	if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut strings.Builder
	err := run(t.Context(), []string{"serve", "-config", cfg, "-sip", "udp:127.0.0.1:0", "-http", "127.0.0.1:0", "-db", filepath.Join(dir, "gw.db")}, &out, &errOut)
	want := cfg + `:18:8: genesys.to_genesys.away: the Genesys org has no presence named "Lunchh"`
	if exitCode(err) != 3 || !strings.Contains(errOut.String(), want) {
		t.Fatalf("exit %d (%v), want 3 and %q in:\n%s", exitCode(err), err, want, errOut.String())
	}
}
