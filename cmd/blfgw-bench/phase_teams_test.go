package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/blfgw/blfgw/bridge/teams/fakegraph"
	"github.com/blfgw/blfgw/configs"
)

// The generated config is one the gateway accepts: every extension a
// Teams user the fake knows, enough service accounts for them all.
func TestTeamsConfigLoads(t *testing.T) {
	dir := t.TempDir()
	_, pemBytes, err := fakegraph.SelfSignedCert("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	exts := extRange(teamsFirstExt, 10000)
	extra := teamsConfig(exts, "https://127.0.0.1:44321", ca)
	if !strings.Contains(extra, "{http}") {
		t.Fatal("the notification URL has no {http} for the gateway's port")
	}
	path := filepath.Join(dir, "blfgw.toml")
	if err := writeConfig(path, nil, strings.ReplaceAll(extra, "{http}", "18080")); err != nil {
		t.Fatal(err)
	}
	c, err := configs.Load(path)
	if err != nil {
		t.Fatalf("the gateway would refuse the config: %v", err)
	}
	if len(c.Extensions) != 10000 || !c.Teams.Enabled || len(c.Teams.Accounts) != 16 {
		t.Fatalf("%d extensions, teams enabled %v, %d accounts", len(c.Extensions), c.Teams.Enabled, len(c.Teams.Accounts))
	}
	if got, want := c.Teams.NotificationURL, "http://127.0.0.1:18080/teams/notify"; got != want {
		t.Errorf("notification_url %q, want %q", got, want)
	}
	seen := map[string]bool{}
	for _, e := range c.Extensions {
		u := fakegraph.User{ID: e.TeamsUser, UPN: "u" + e.Number + "@bench.example"}
		if err := u.Validate(); err != nil {
			t.Fatalf("extension %s: the fake would not take its user: %v", e.Number, err)
		}
		if seen[e.TeamsUser] {
			t.Fatalf("teams_user %s twice", e.TeamsUser)
		}
		seen[e.TeamsUser] = true
	}
}

func TestSteadyPlan(t *testing.T) {
	const users, n, inMeeting = 10000, 200, 20
	plan := steadyPlan(users, n, inMeeting)
	if len(plan) != n {
		t.Fatalf("%d changes, want %d", len(plan), n)
	}
	in := map[int]bool{}
	everBusy := map[int]bool{}
	busy, free := 0, 0
	for i, p := range plan {
		if p.user < 0 || p.user >= users {
			t.Fatalf("change %d: user %d", i, p.user)
		}
		if p.busy {
			if everBusy[p.user] {
				t.Fatalf("change %d: user %d goes into a second meeting", i, p.user)
			}
			everBusy[p.user], in[p.user] = true, true
			busy++
		} else {
			if !in[p.user] {
				t.Fatalf("change %d: user %d leaves a meeting it is not in", i, p.user)
			}
			delete(in, p.user)
			free++
		}
		if len(in) > inMeeting+1 {
			t.Fatalf("change %d: %d in a meeting at once", i, len(in))
		}
	}
	// After the first meetings fill up, every other change ends one.
	if free < n/2-inMeeting {
		t.Errorf("%d changes into meetings, %d out of them", busy, free)
	}
	// The users spread over every subscription (650 users each).
	subs := map[int]bool{}
	for u := range everBusy {
		subs[u/fakegraph.MaxIDs] = true
	}
	if len(subs) < teamsAccounts(users)-1 {
		t.Errorf("the changes touch %d of %d subscriptions", len(subs), teamsAccounts(users))
	}
}

func TestPeakWithin(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	var s []graphSample
	n := 0
	for i := 0; i <= 100; i++ { // 100 s, one sample a second
		if i >= 40 && i < 50 {
			n += 100 // a burst of 1,000 in 10 s
		} else {
			n++
		}
		s = append(s, graphSample{at: t0.Add(time.Duration(i) * time.Second), presence: n})
	}
	if got := peakWithin(s, t0, t0.Add(100*time.Second), 30*time.Second); got != 1020 {
		t.Errorf("peak %d, want 1020 (the burst and 20 more)", got)
	}
	// A window must lie within the range asked about.
	if got := peakWithin(s, t0.Add(45*time.Second), t0.Add(100*time.Second), 30*time.Second); got != 426 {
		t.Errorf("peak after 45 s %d, want 426", got)
	}
	if got := peakWithin(s, t0.Add(200*time.Second), t0.Add(300*time.Second), 30*time.Second); got != 0 {
		t.Errorf("peak of no samples %d", got)
	}
}

func TestReadTeamsLamps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.log")
	full := "@@ 1795379170.000000:329701.000000 3 <dialog-info xmlns=\"urn:ietf:params:xml:ns:dialog-info\" version=\"2\" state=\"full\" entity=\"sip:20000@pbx.bench\">\n" +
		"<dialog id=\"blfgw-teams\">\n<state>confirmed</state>\n</dialog>\n</dialog-info>\n\n" +
		"@@ 1795379171.000000: 4 <dialog-info version=\"3\" state=\"full\" entity=\"sip:20010@pbx.bench\">\n" +
		"<dialog id=\"d123\" direction=\"recipient\">\n<state>confirmed</state>\n</dialog>\n</dialog-info>\n\n" +
		"@@ 1795379172.000000:5.000000 3 <dialog-info version=\"3\" state=\"full\" entity=\"sip:20000@pbx.bench\">\n</dialog-info>\n\n"
	partial := "@@ 1795379173.000000:5.000000 4 <dialog-info version=\"4\" entity=\"sip:20010@pbx.bench\">\n<dialog id=\"d3\">\n"
	if err := os.WriteFile(path, []byte(full+partial), 0o644); err != nil {
		t.Fatal(err)
	}
	ls, off, err := readTeamsLamps(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	if off != int64(len(full)) {
		t.Errorf("offset %d, want %d (before the partial NOTIFY)", off, len(full))
	}
	want := []teamsLamp{
		{ext: "20000", at: time.Unix(1795379170, 329701000), teams: true, busy: true},
		{ext: "20010", at: time.Unix(1795379171, 0), busy: true},
		{ext: "20000", at: time.Unix(1795379172, 5000)},
	}
	if len(ls) != len(want) {
		t.Fatalf("%d NOTIFYs, want %d: %+v", len(ls), len(want), ls)
	}
	for i := range want {
		if ls[i].ext != want[i].ext || !ls[i].at.Equal(want[i].at) || ls[i].teams != want[i].teams || ls[i].busy != want[i].busy {
			t.Errorf("NOTIFY %d = %+v, want %+v", i, ls[i], want[i])
		}
	}
}

func TestChangeDelays(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	changes := []teamsChange{
		{ext: "1", at: at(0), busy: true},
		{ext: "2", at: at(10), busy: true},     // its NOTIFY never came
		{ext: "3", at: at(20), busy: true},     // not watched
		{ext: "1", at: at(1000), busy: false},  // idle at 1080
		{ext: "1", at: at(2000), busy: true},   // a busy NOTIFY only after the next change: not this one
		{ext: "1", at: at(2100), busy: false},  // idle at 2150
		{ext: "4", at: at(3000), busy: false},  // an old busy NOTIFY, then idle at 3070
		{ext: "5", at: at(4000), busy: true},   // a phone call (busy, not Teams) does not count
		{ext: "6", at: at(5000), busy: true},   // Teams busy at 5040
		{ext: "7", at: at(6000), busy: false},  // no NOTIFY at all
		{ext: "6", at: at(9000), busy: false},  // idle at 9030
		{ext: "2", at: at(10000), busy: false}, // idle at 10020
	}
	lamps := map[string][]teamsLamp{
		"1": {{at: at(60), teams: true}, {at: at(1080)}, {at: at(2150)}, {at: at(2200), teams: true}},
		"2": {{at: at(10020)}},
		"3": {{at: at(30), teams: true}},
		"4": {{at: at(2900), teams: true}, {at: at(3070)}},
		"5": {{at: at(4050), busy: true}},
		"6": {{at: at(5040), teams: true}, {at: at(9030)}},
	}
	watched := map[string]bool{"1": true, "2": true, "4": true, "5": true, "6": true, "7": true}
	ds, missed, last := changeDelays(changes, lamps, watched)
	want := []time.Duration{20, 30, 40, 50, 60, 70, 80}
	if len(ds) != len(want) {
		t.Fatalf("delays %v, want %v ms", ds, want)
	}
	for i := range want {
		if ds[i] != want[i]*time.Millisecond {
			t.Errorf("delay %d = %v, want %v ms", i, ds[i], want[i])
		}
	}
	// 2 (first), 1 (third), 5 and 7.
	if missed != 4 {
		t.Errorf("missed %d, want 4", missed)
	}
	if !last.Equal(at(10020)) {
		t.Errorf("last NOTIFY at %v", last.Sub(t0))
	}
}

// The watchers stay subscribed through quiet minutes: the stay loop's
// first receive has its own timeout, not the harness's 15 s
// -recv_timeout (which aborted every watcher whose lamp did not change).
func TestWatchersWaitQuietly(t *testing.T) {
	for _, name := range []string{"lamp_watcher.xml", "watcher.xml"} {
		got, err := os.ReadFile(filepath.Join("..", "..", "testdata", "bench", name))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(got), `<recv response="200" optional="true" next="loop" timeout="3600000"/>`) {
			t.Errorf("%s: the stay loop's first receive has no timeout of its own", name)
		}
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1500: "1,500", 10000: "10,000", 1234567: "1,234,567", -3000: "-3,000"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
