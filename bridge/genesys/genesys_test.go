package genesys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blfgw/blfgw/bridge/genesys/fakegenesys"
	"github.com/blfgw/blfgw/presence"
)

// The tests run Client against the fake Genesys over real sockets.
const (
	clientID  = "7d0c7f3a-1111-4222-8333-444455556666"
	secret    = "genesys-secret"
	agent     = "a9e00000-0000-4000-8000-000000001001" // 1001, by id
	colleague = "b0b00000-0000-4000-8000-000000001002" // 1002, by email
	lunchID   = "1c0ffee0-0000-4000-8000-00000000beef"
	available = "6a3af858-942f-489d-9700-5f9bcdcdae9b"
	busy      = "31fe3bac-dea6-44b7-bed7-47f91660a1a0"
	meeting   = "bbdff279-7ae1-48ea-bade-7831d7234c64"
)

type memStore struct {
	mu  sync.Mutex
	ids map[string]string
}

func (m *memStore) CloudUsers(context.Context, string) (map[string]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]string{}
	for k, v := range m.ids {
		out[k] = v
	}
	return out, nil
}

func (m *memStore) PutCloudUser(_ context.Context, _, name, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ids == nil {
		m.ids = map[string]string{}
	}
	m.ids[strings.ToLower(name)] = id
	return nil
}

func testLog() *slog.Logger {
	if os.Getenv("BLFGW_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newFake(t *testing.T, edit ...func(*fakegenesys.Options)) (*fakegenesys.Server, *httptest.Server) {
	t.Helper()
	opt := fakegenesys.Options{
		Clients: map[string]string{clientID: secret},
		Users: []fakegenesys.User{
			{ID: agent, Email: "alice@contoso.example", Name: "Alice"},
			{ID: colleague, Email: "bob@contoso.example", Name: "Bob"},
		},
		Definitions:        []fakegenesys.Definition{{ID: lunchID, Name: "Lunch", SystemPresence: "Meal"}},
		Heartbeat:          100 * time.Millisecond,
		SocketClosingDelay: 100 * time.Millisecond,
		Log:                testLog(),
	}
	for _, e := range edit {
		e(&opt)
	}
	fake := fakegenesys.New(opt)
	srv := httptest.NewServer(fake.Handler())
	t.Cleanup(func() { srv.Close(); fake.Close() })
	return fake, srv
}

// blueprint is the blueprint's table in short.
func blueprint(av, act string) (string, bool) {
	m := map[string]string{
		"Available": "Available", "Away": "Away", "BeRightBack": "Away",
		"Busy": "Busy", "DoNotDisturb": "Busy", "Focusing": "Busy", "InACall": "Busy", "InAMeeting": "Busy", "Presenting": "Busy",
		"Offline": "Offline", "OffWork": "Offline",
	}
	for _, k := range []string{act, av} {
		if v, ok := m[k]; ok {
			return v, true
		}
	}
	return "", false
}

// lamps is the default from_genesys table in short.
func lamps(name, system, routing string) (presence.CloudState, string) {
	switch routing {
	case "INTERACTING", "COMMUNICATING", "NOT_RESPONDING":
		return presence.CloudBusy, "Interacting"
	}
	switch system {
	case "Available":
		return presence.CloudAvailable, "Available"
	case "Away", "Break", "Meal", "Training", "Idle":
		return presence.CloudAway, name
	case "Busy", "Meeting", "On Queue":
		return presence.CloudBusy, name
	case "Offline":
		return presence.CloudOffline, "Offline"
	}
	return presence.CloudUnknown, ""
}

type rig struct {
	fake *fakegenesys.Server
	hub  *presence.Hub
	b    *Bridge
	stop func()
}

func start(t *testing.T, edit func(*Options), fakeEdit ...func(*fakegenesys.Options)) *rig {
	t.Helper()
	fake, srv := newFake(t, fakeEdit...)
	hub := presence.NewHub()
	opt := Options{
		Client: ClientOptions{APIURL: srv.URL, LoginURL: srv.URL, ClientID: clientID, ClientSecret: secret, HTTPClient: srv.Client()},
		Users:  map[string]string{"1001": agent, "1002": "bob@contoso.example"},
		Phone:  "Busy", DND: "Busy", Away: "Away",
		Teams:     blueprint,
		Names:     map[string]string{"Busy": "genesys.to_genesys.phone", "Away": "genesys.to_genesys.away", "Available": "genesys.mappings[0].presence", "Offline": "genesys.mappings[9].presence"},
		Map:       lamps,
		Store:     &memStore{},
		Hub:       hub,
		Log:       testLog(),
		Heartbeat: 100 * time.Millisecond,
	}
	if edit != nil {
		edit(&opt)
	}
	b, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = b.Run(ctx) }()
	r := &rig{fake: fake, hub: hub, b: b, stop: sync.OnceFunc(func() { cancel(); <-done })}
	t.Cleanup(r.stop)
	eventually(t, 3*time.Second, "the notification channels up", func() bool {
		n, _ := b.Stats()["genesys_channels"].(int)
		return n >= 1
	})
	// The fake takes the socket a moment after the bridge's dial returns;
	// an event in between would reach nobody (and the reconcile may have
	// read before it).
	eventually(t, 3*time.Second, "the fake's socket connected", func() bool {
		for _, c := range fake.Channels() {
			if c.Connected {
				return true
			}
		}
		return false
	})
	// The reconcile after the connect reads every user once; a test that
	// throttles or counts requests must not race it.
	eventually(t, 3*time.Second, "the first reconcile read", func() bool {
		return fake.Stats().Requests[fakegenesys.OpUsersList] >= 1
	})
	return r
}

func eventually(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func presenceOf(f *fakegenesys.Server, user string) string {
	_, sys, _ := f.Presence(user)
	return sys
}

func cloudOf(h *presence.Hub, ext string) presence.Cloud {
	for _, c := range h.Current(ext).Clouds {
		if c.Source == presence.SourceGenesys {
			return c
		}
	}
	return presence.Cloud{}
}

func talk(h *presence.Hub, ext string, on bool) {
	var ds []presence.Dialog
	if on {
		ds = []presence.Dialog{{ID: "c1", State: presence.Confirmed, Direction: presence.Recipient}}
	}
	h.SetDialogs(ext, presence.SourceSIP, ds)
}

// TestCheckNames: a presence name the org lacks is a configuration
// problem naming its key; a secondary presence by name, and an id that
// does not match, are checked too.
func TestCheckNames(t *testing.T) {
	_, srv := newFake(t)
	b, err := New(Options{
		Client: ClientOptions{APIURL: srv.URL, LoginURL: srv.URL, ClientID: clientID, ClientSecret: secret},
		Names:  map[string]string{"Lunch": "genesys.to_genesys.away", "Lunchh": "genesys.mappings[2].presence", "Busy": "genesys.mappings[3].presence"},
		IDs:    map[string]string{"Busy": available},
		Map:    lamps, Hub: presence.NewHub(), Log: testLog(),
	})
	if err != nil {
		t.Fatal(err)
	}
	err = b.Check(context.Background())
	var names NameErrors
	if !errors.As(err, &names) || len(names) != 2 {
		t.Fatalf("Check = %v, want two problems", err)
	}
	if names[0].Key != "genesys.mappings[3].presence" || !strings.Contains(names[0].Msg, busy) ||
		names[1].Key != "genesys.mappings[2].presence" || !strings.Contains(names[1].Msg, `no presence named "Lunchh"`) {
		t.Errorf("problems = %+v", names)
	}
}

// TestPhoneCallSetsBusyAndRestores: a call sets Busy; its end restores
// what the agent had before; if the agent changed it during the call,
// theirs stands.
func TestPhoneCallSetsBusyAndRestores(t *testing.T) {
	r := start(t, nil)
	if err := r.fake.SetPresence(agent, "Lunch"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "the lunch seen", func() bool { return cloudOf(r.hub, "1001").Detail == "Lunch" })
	talk(r.hub, "1001", true)
	eventually(t, 2*time.Second, "busy in Genesys", func() bool { return presenceOf(r.fake, agent) == "Busy" })
	talk(r.hub, "1001", false)
	eventually(t, 2*time.Second, "lunch restored", func() bool {
		id, _, _ := r.fake.Presence(agent)
		return id == lunchID
	})

	talk(r.hub, "1001", true)
	eventually(t, 2*time.Second, "busy again", func() bool { return presenceOf(r.fake, agent) == "Busy" })
	if err := r.fake.SetPresence(agent, "Meeting"); err != nil { // the agent, during the call
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	talk(r.hub, "1001", false)
	time.Sleep(500 * time.Millisecond)
	if got := presenceOf(r.fake, agent); got != "Meeting" {
		t.Errorf("after the call the agent's own change became %q, want Meeting kept", got)
	}
	if n := len(r.fake.Patches(agent)); n != 3 {
		t.Errorf("%d PATCHes, want 3 (busy, restore, busy)", n)
	}
}

// TestOnQueueNeverChanged: an agent On Queue (or interacting) is never
// PATCHed, whatever the phone, the status or Teams says.
func TestOnQueueNeverChanged(t *testing.T) {
	r := start(t, nil)
	if err := r.fake.SetPresence(agent, "On Queue"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "on queue seen", func() bool { return strings.HasPrefix(cloudOf(r.hub, "1001").Detail, "On Queue") })
	step := func(n int64, what string, change func()) {
		t.Helper()
		change()
		eventually(t, 3*time.Second, what+": the guard used", func() bool { return r.b.st.guarded.Load() >= n })
	}
	step(1, "a call", func() { talk(r.hub, "1001", true) })
	talk(r.hub, "1001", false) // nothing to restore: nothing was changed
	step(2, "do not disturb", func() { r.hub.SetStatus("1001", presence.StatusDND, "") })
	r.hub.SetStatus("1001", presence.StatusDefault, "")
	step(3, "a Teams meeting", func() {
		r.hub.SetCloud("1001", presence.Cloud{Source: presence.SourceTeams, State: presence.CloudBusy, Detail: "Busy/InAMeeting"})
	})
	for _, p := range r.fake.Patches(agent) {
		t.Errorf("PATCH while On Queue: %+v", p)
	}
	if got := presenceOf(r.fake, agent); got != "On Queue" {
		t.Errorf("presence = %s", got)
	}
	// The lamp shows the agent busy while on queue.
	if c := cloudOf(r.hub, "1001"); c.State != presence.CloudBusy {
		t.Errorf("an agent on queue lights %+v, want busy", c)
	}
}

// TestTeamsToGenesys: a Teams meeting makes the agent Busy by the
// blueprint's table; Available brings them back; an unmapped Teams state
// leaves Genesys alone. The bridge's own PATCH, notified back, does not
// reach the lamps.
func TestTeamsToGenesys(t *testing.T) {
	r := start(t, nil)
	teams := func(detail string) {
		r.hub.SetCloud("1002", presence.Cloud{Source: presence.SourceTeams, State: presence.CloudBusy, Detail: detail})
	}
	eventually(t, 2*time.Second, "bob resolved by email", func() bool { return r.b.Stats()["genesys_users"] == 2 })
	teams("Busy/InAMeeting")
	eventually(t, 2*time.Second, "bob busy in Genesys", func() bool { return presenceOf(r.fake, colleague) == "Busy" })
	eventually(t, 2*time.Second, "the echo seen and set aside", func() bool { return r.b.st.echoes.Load() >= 1 })
	if c := cloudOf(r.hub, "1002"); c.State == presence.CloudBusy {
		t.Errorf("the bridge's own PATCH came back to the lamps: %+v", c)
	}
	teams("Available/Available")
	eventually(t, 2*time.Second, "bob available", func() bool { return presenceOf(r.fake, colleague) == "Available" })
	n := len(r.fake.Patches(colleague))
	teams("PresenceUnknown/PresenceUnknown")
	time.Sleep(300 * time.Millisecond)
	if m := len(r.fake.Patches(colleague)); m != n {
		t.Errorf("an unmapped Teams state PATCHed Genesys (%d -> %d)", n, m)
	}
}

// TestBurstIsOnePatch: many changes for one user in a moment end in the
// newest one, with far fewer PATCHes than changes.
func TestBurstIsOnePatch(t *testing.T) {
	r := start(t, nil)
	for i := range 20 {
		st := presence.StatusDND
		if i%2 == 1 {
			st = presence.StatusAway
		}
		r.hub.SetStatus("1001", st, "")
	}
	eventually(t, 2*time.Second, "away in Genesys", func() bool { return presenceOf(r.fake, agent) == "Away" })
	time.Sleep(300 * time.Millisecond)
	if n := len(r.fake.Patches(agent)); n > 3 {
		t.Errorf("%d PATCHes for a burst of 20 changes", n)
	}
}

// TestGenesysToLampsAndReconnect: a Genesys change reaches the hub by
// notification; a dropped socket and socket_closing are answered with a
// new connection, and what changed meanwhile is reconciled.
func TestGenesysToLampsAndReconnect(t *testing.T) {
	r := start(t, nil)
	if err := r.fake.SetPresence(colleague, "Meeting"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "bob in a meeting", func() bool { return cloudOf(r.hub, "1002").State == presence.CloudBusy })
	if err := r.fake.SetPresence(agent, "On Queue"); err != nil {
		t.Fatal(err)
	}
	if err := r.fake.SetRoutingStatus(agent, "INTERACTING"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "alice interacting", func() bool { return cloudOf(r.hub, "1001").Detail == "On Queue/INTERACTING" })

	r.fake.DropSockets()
	if err := r.fake.SetPresence(colleague, "Available"); err != nil { // while the socket is down
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "reconnected and reconciled", func() bool {
		return r.b.st.reconnects.Load() >= 1 && cloudOf(r.hub, "1002").State == presence.CloudAvailable
	})
	eventually(t, 5*time.Second, "the channel back", func() bool { return r.b.Stats()["genesys_channels"] == 1 })

	before := r.b.st.reconnects.Load()
	r.fake.SocketClosing("")
	eventually(t, 10*time.Second, "a new channel after socket_closing", func() bool {
		return r.b.st.reconnects.Load() > before && r.b.Stats()["genesys_channels"] == 1
	})
	if err := r.fake.SetPresence(colleague, "Lunch"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "bob's lunch on the new channel", func() bool { return cloudOf(r.hub, "1002").Detail == "Lunch" })
	if err := r.b.Health(); err != nil {
		t.Errorf("health: %v", err)
	}
}

// TestThrottled: a 429 holds every call back for its Retry-After and the
// write still lands; Health says so meanwhile.
func TestThrottled(t *testing.T) {
	r := start(t, nil)
	r.fake.Throttle(1, 2*time.Second)
	began := time.Now()
	talk(r.hub, "1001", true)
	eventually(t, 2*time.Second, "health says throttled", func() bool {
		err := r.b.Health()
		return err != nil && strings.Contains(err.Error(), "throttled")
	})
	eventually(t, 6*time.Second, "busy after the pause", func() bool { return presenceOf(r.fake, agent) == "Busy" })
	if waited := time.Since(began); waited < 1500*time.Millisecond {
		t.Errorf("the PATCH landed %v after a 429 with Retry-After: 2", waited)
	}
}

// TestChannelResubscribed: the channel's topics are put again before it
// expires, so it lives on without a reconnect (here a 1 s lifetime,
// resubscribed every 300 ms).
func TestChannelResubscribed(t *testing.T) {
	r := start(t, func(o *Options) { o.Resubscribe = 300 * time.Millisecond },
		func(o *fakegenesys.Options) { o.ChannelLifetime = time.Second; o.SweepInterval = 50 * time.Millisecond })
	time.Sleep(2500 * time.Millisecond)
	if n := r.b.st.reconnects.Load(); n != 0 {
		t.Errorf("%d reconnects: the channel expired", n)
	}
	if chs := r.fake.Channels(); len(chs) != 1 || !chs[0].Connected {
		t.Errorf("channels = %+v", chs)
	}
	if err := r.fake.SetPresence(colleague, "Break"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "events still flowing", func() bool { return cloudOf(r.hub, "1002").State == presence.CloudAway })
}

// TestManyUsersSeveralChannels: 1,200 users need 2,400 topics, more than
// one channel takes (1,000): the bridge opens three, and every user's
// changes arrive.
func TestManyUsersSeveralChannels(t *testing.T) {
	users := map[string]string{}
	var fakeUsers []fakegenesys.User
	for i := range 1200 {
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", 5000+i)
		users[fmt.Sprint(5000+i)] = id
		fakeUsers = append(fakeUsers, fakegenesys.User{ID: id, Email: fmt.Sprintf("u%d@contoso.example", i), Name: fmt.Sprint("User ", i)})
	}
	r := start(t, func(o *Options) { o.Users = users }, func(o *fakegenesys.Options) { o.Users = append(o.Users, fakeUsers...) })
	eventually(t, 5*time.Second, "three channels", func() bool { return r.b.Stats()["genesys_channels"] == 3 })
	for _, c := range r.fake.Channels() {
		if len(c.Topics) > 1000 {
			t.Errorf("channel %s has %d topics", c.ID, len(c.Topics))
		}
	}
	for _, i := range []int{0, 499, 500, 1199} {
		id, ext := users[fmt.Sprint(5000+i)], fmt.Sprint(5000+i)
		if err := r.fake.SetPresence(id, "Meeting"); err != nil {
			t.Fatal(err)
		}
		eventually(t, 2*time.Second, ext+" in a meeting", func() bool { return cloudOf(r.hub, ext).State == presence.CloudBusy })
	}
}

// TestReconnectBackoffResets: the channel drops three times, each after
// it had been up again: every reconnect waits the shortest back-off (at
// most 1 s), not 1, 2, 4 s... as if the drops were failures in a row.
func TestReconnectBackoffResets(t *testing.T) {
	var logs lockedLog
	r := start(t, func(o *Options) { o.Log = slog.New(slog.NewJSONHandler(&logs, nil)) })
	for i := range 3 {
		before := r.b.st.reconnects.Load()
		r.fake.DropSockets()
		eventually(t, 10*time.Second, fmt.Sprintf("the channel back after drop %d", i+1), func() bool {
			n, _ := r.b.Stats()["genesys_channels"].(int)
			return r.b.st.reconnects.Load() > before && n == 1
		})
	}
	var waits []time.Duration
	for _, line := range strings.Split(logs.String(), "\n") {
		var rec struct {
			Msg string
			In  time.Duration
		}
		if json.Unmarshal([]byte(line), &rec) == nil && strings.Contains(rec.Msg, "channel lost; reconnecting") {
			waits = append(waits, rec.In)
		}
	}
	if len(waits) < 3 {
		t.Fatalf("reconnect waits logged: %v, want 3", waits)
	}
	for i, w := range waits {
		if w > time.Second {
			t.Errorf("reconnect %d waited %v; after a channel that was up, want the first back-off (≤ 1 s)", i+1, w)
		}
	}
}

// lockedLog collects a logger's output from the bridge's goroutines.
type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
