package teams

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blfgw/blfgw/bridge/teams/fakegraph"
	"github.com/blfgw/blfgw/presence"
)

// The tests run the real SDK and azidentity against the fake Graph over
// TLS on loopback.
const (
	tenant   = "8b2c3a1e-1111-4222-8333-944455556666"
	appID    = "0c0ffee0-aaaa-4bbb-8ccc-dddddddddddd"
	secret   = "app-secret"
	alice    = "a11ce000-0000-4000-8000-000000000001"
	bob      = "b0b00000-0000-4000-8000-000000000002"
	svc      = "svc-presence@contoso.example"
	svcPass  = "svc-password"
	waitLong = 5 * time.Second
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

type rig struct {
	fake *fakegraph.Server
	srv  *httptest.Server
	hub  *presence.Hub
	b    *Bridge
	stop func()
}

// defaultMap is the gateway's default table, in short.
func defaultMap(av, act string) (presence.CloudState, string) {
	switch act {
	case "InACall", "InAConferenceCall", "InAMeeting", "Presenting", "Busy", "DoNotDisturb":
		return presence.CloudBusy, map[string]string{"InAMeeting": "In a meeting", "Presenting": "Presenting"}[act]
	case "Away", "BeRightBack":
		return presence.CloudAway, "Away"
	case "Offline", "OffWork":
		return presence.CloudOffline, "Offline"
	case "Available":
		return presence.CloudAvailable, "Available"
	}
	return presence.CloudUnknown, ""
}

func newFake(t *testing.T, edit func(*fakegraph.Options)) (*fakegraph.Server, *httptest.Server) {
	t.Helper()
	opt := fakegraph.Options{
		Tenant:          tenant,
		Apps:            map[string]string{appID: secret},
		Accounts:        map[string]string{svc: svcPass},
		Users:           []fakegraph.User{{ID: alice, UPN: "alice@contoso.example", DisplayName: "Alice"}, {ID: bob, UPN: "bob@contoso.example", DisplayName: "Bob"}},
		AllowHTTPNotify: true,
		RetryDelay:      50 * time.Millisecond,
	}
	if edit != nil {
		edit(&opt)
	}
	fake := fakegraph.New(opt)
	srv := httptest.NewTLSServer(fake.Handler())
	t.Cleanup(func() { srv.Close(); fake.Close() })
	return fake, srv
}

// start runs a bridge for extensions 1001 (alice) and 1002 (bob, by UPN)
// against fake; edit adjusts the options first.
func start(t *testing.T, fake *fakegraph.Server, srv *httptest.Server, edit func(*Options)) *rig {
	t.Helper()
	r := build(t, fake, srv, edit)
	r.run(t)
	return r
}

func build(t *testing.T, fake *fakegraph.Server, srv *httptest.Server, edit func(*Options)) *rig {
	t.Helper()
	hub := presence.NewHub()
	opt := Options{
		Tenant: tenant, ClientID: appID, ClientSecret: secret,
		GraphURL: srv.URL, LoginURL: srv.URL, HTTPClient: srv.Client(),
		PollInterval: 200 * time.Millisecond, ReconcileInterval: time.Hour,
		CallExpiry: time.Hour,
		Map:        defaultMap,
		Users:      map[string]string{"1001": alice, "1002": "bob@contoso.example"},
		Store:      &memStore{},
		Hub:        hub,
		Log:        testLog(),
	}
	if edit != nil {
		edit(&opt)
	}
	b, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{fake: fake, srv: srv, hub: hub, b: b}
}

func (r *rig) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.b.Run(ctx) }()
	r.stop = sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(r.stop)
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

func call(state presence.CallState, held bool) []presence.Dialog {
	return []presence.Dialog{{ID: "c1", CallID: "c1", State: state, Direction: presence.Recipient, Held: held}}
}

func cloudOf(h *presence.Hub, ext string) presence.Cloud {
	c, _ := h.Current(ext).Cloud()
	return c
}

// TestPhoneCallToTeams: ringing is not a call; an answered call sets the
// app's session Busy/InACall for call_expiry; a held call is still one;
// two calls talking at once are a conference; the end of the call clears
// the session (never sets Available).
func TestPhoneCallToTeams(t *testing.T) {
	fake, srv := newFake(t, nil)
	r := start(t, fake, srv, nil)

	r.hub.SetDialogs("1001", presence.SourceSIP, call(presence.Early, false))
	time.Sleep(300 * time.Millisecond)
	if s, ok := fake.AppSession(alice, appID); ok {
		t.Fatalf("ringing set a session: %+v", s)
	}
	r.hub.SetDialogs("1001", presence.SourceSIP, call(presence.Confirmed, false))
	eventually(t, 2*time.Second, "alice in a call in Teams", func() bool {
		s, ok := fake.AppSession(alice, appID)
		return ok && s.Availability == "Busy" && s.Activity == "InACall"
	})
	s, _ := fake.AppSession(alice, appID)
	if left := time.Until(s.Expires); left < 55*time.Minute || left > 61*time.Minute {
		t.Errorf("the session expires in %v, want call_expiry (1h)", left)
	}
	if av, act, _ := fake.Presence(alice); av != "Busy" || act != "InACall" {
		t.Errorf("alice's Teams presence = %s/%s, want Busy/InACall", av, act)
	}
	// Two calls talking at once: a conference.
	r.hub.SetDialogs("1001", presence.SourceSIP, []presence.Dialog{
		{ID: "c1", State: presence.Confirmed}, {ID: "c2", State: presence.Confirmed},
	})
	eventually(t, 2*time.Second, "alice in a conference call", func() bool {
		s, ok := fake.AppSession(alice, appID)
		return ok && s.Activity == "InAConferenceCall"
	})
	r.hub.SetDialogs("1001", presence.SourceSIP, call(presence.Confirmed, true))
	eventually(t, 2*time.Second, "back to one (held) call", func() bool {
		s, ok := fake.AppSession(alice, appID)
		return ok && s.Activity == "InACall"
	})
	r.hub.SetDialogs("1001", presence.SourceSIP, nil)
	eventually(t, 2*time.Second, "alice's session cleared", func() bool {
		_, ok := fake.AppSession(alice, appID)
		return !ok
	})
	if st := fake.Stats(); st.Requests[fakegraph.OpSetPresence] != 3 || st.Requests[fakegraph.OpClearPresence] != 1 {
		t.Errorf("setPresence %d, clearPresence %d; want 3 and 1 (call, conference, call; then clear)",
			st.Requests[fakegraph.OpSetPresence], st.Requests[fakegraph.OpClearPresence])
	}
	if err := r.b.Health(); err != nil {
		t.Errorf("health: %v", err)
	}
}

// TestTeamsToLampsPolling: without notifications the bridge polls, and a
// Teams meeting reaches the hub with its note; a UPN is resolved once and
// kept in the store.
func TestTeamsToLampsPolling(t *testing.T) {
	fake, srv := newFake(t, nil)
	store := &memStore{}
	r := start(t, fake, srv, func(o *Options) { o.Store = store })
	if err := fake.SetClient(bob, "Busy", "InAMeeting"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "bob's lamp follows his Teams meeting", func() bool {
		c := cloudOf(r.hub, "1002")
		return c.State == presence.CloudBusy && c.Note == "In a meeting" && c.Detail == "Busy/InAMeeting"
	})
	if lamp := r.hub.Current("1002").Lamp(); lamp != presence.LampBusy {
		t.Errorf("bob's lamp = %s, want busy", lamp)
	}
	if err := fake.SetClient(bob, "BeRightBack", "BeRightBack"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "bob be right back", func() bool { return cloudOf(r.hub, "1002").State == presence.CloudAway })
	if id := store.ids["bob@contoso.example"]; id != bob {
		t.Errorf("the store keeps %q for bob's UPN, want %s", id, bob)
	}
	r.stop()

	// A second start finds the UPN in the store and does not ask Graph.
	fake.ResetStats()
	start(t, fake, srv, func(o *Options) { o.Store = store })
	time.Sleep(500 * time.Millisecond)
	if n := fake.Stats().Requests[fakegraph.OpUsersGet]; n != 0 {
		t.Errorf("users.get called %d times on the second start, want 0", n)
	}
}

// TestNoEcho: while the bridge's own session is up, Graph reading it back
// (Busy/InACall, or Busy/Busy as some tenants report it) is not taken for
// the user's own presence; what the user does in Teams meanwhile, and
// after, is.
func TestNoEcho(t *testing.T) {
	fake, srv := newFake(t, nil)
	r := start(t, fake, srv, nil)
	if err := fake.SetClient(alice, "Available", "Available"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "alice available", func() bool { return cloudOf(r.hub, "1001").State == presence.CloudAvailable })
	r.hub.SetDialogs("1001", presence.SourceSIP, call(presence.Confirmed, false))
	eventually(t, 2*time.Second, "alice in a call in Teams", func() bool {
		_, ok := fake.AppSession(alice, appID)
		return ok
	})
	// Several polls read Busy/InACall: none of it is the user's.
	eventually(t, 2*time.Second, "the echo suppressed", func() bool { return r.b.st.echoes.Load() >= 2 })
	if c := cloudOf(r.hub, "1001"); c.State != presence.CloudAvailable {
		t.Fatalf("the bridge's own write came back as %+v", c)
	}
	// The user presents in Teams during the call: DoNotDisturb beats the
	// app's Busy, and it is the user's own.
	if err := fake.SetClient(alice, "DoNotDisturb", "Presenting"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "alice presenting", func() bool { return cloudOf(r.hub, "1001").Detail == "DoNotDisturb/Presenting" })
	if err := fake.SetClient(alice, "Available", "Available"); err != nil {
		t.Fatal(err)
	}
	r.hub.SetDialogs("1001", presence.SourceSIP, nil)
	eventually(t, 3*time.Second, "alice available again after the call", func() bool {
		_, session := fake.AppSession(alice, appID)
		return !session && cloudOf(r.hub, "1001").State == presence.CloudAvailable
	})
	if got := r.hub.Current("1001").Lamp(); got != presence.LampIdle {
		t.Errorf("alice's lamp after the call = %s, want idle", got)
	}
}

// TestPushStatus: with push_status, a manual Do Not Disturb becomes the
// preferred presence in Teams and is cleared with the status; without it,
// nothing is sent.
func TestPushStatus(t *testing.T) {
	fake, srv := newFake(t, nil)
	r := start(t, fake, srv, nil)
	r.hub.SetStatus("1001", presence.StatusDND, "")
	time.Sleep(300 * time.Millisecond)
	if p, ok := fake.PreferredPresence(alice); ok {
		t.Fatalf("without push_status the preferred presence was set: %+v", p)
	}
	r.stop()

	r = start(t, fake, srv, func(o *Options) { o.PushStatus = true })
	r.hub.SetStatus("1001", presence.StatusDND, "")
	eventually(t, 2*time.Second, "alice's preferred presence DND", func() bool {
		p, ok := fake.PreferredPresence(alice)
		return ok && p.Availability == "DoNotDisturb" && p.Activity == "DoNotDisturb"
	})
	r.hub.SetStatus("1001", presence.StatusDefault, "")
	eventually(t, 2*time.Second, "alice's preferred presence cleared", func() bool {
		_, ok := fake.PreferredPresence(alice)
		return !ok
	})
}

// TestNotifications: with a notification URL and a service account, the
// bridge subscribes (the fake runs the validation handshake against the
// bridge's handler), a Teams change reaches the hub within 2 s without
// polling, a forged clientState is refused, and lifecycle events are
// answered: missed re-reads, subscriptionRemoved subscribes again,
// reauthorizationRequired reauthorizes.
func TestNotifications(t *testing.T) {
	fake, srv := newFake(t, nil)
	var hook *httptest.Server
	mux := http.NewServeMux()
	hook = httptest.NewServer(mux)
	defer hook.Close()
	r := build(t, fake, srv, func(o *Options) {
		o.NotificationURL = hook.URL + "/teams/notify"
		o.Accounts = []Account{{Username: svc, Password: svcPass}}
		o.PollInterval = time.Hour
	})
	b, hub := r.b, r.hub
	mux.Handle("POST /teams/notify", b.Handler())
	r.run(t)

	eventually(t, waitLong, "a subscription for both users", func() bool {
		subs := fake.Subscriptions()
		return len(subs) == 1 && len(subs[0].UserIDs) == 2
	})
	sub := fake.Subscriptions()[0]
	if sub.Account != svc || sub.AppID != appID || sub.NotificationURL != hook.URL+"/teams/notify" {
		t.Errorf("subscription = %+v", sub)
	}
	if d := fake.Deliveries(); d.Validations < 1 || d.ValidationsFailed != 0 {
		t.Errorf("validations = %d (%d failed), want the handshake passed", d.Validations, d.ValidationsFailed)
	}
	if err := fake.SetClient(alice, "Busy", "InAMeeting"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "alice's meeting by notification", func() bool {
		return cloudOf(hub, "1001").State == presence.CloudBusy
	})
	if n := b.st.notified.Load(); n < 1 {
		t.Errorf("notifications accepted = %d", n)
	}

	// A forged notification: refused, and nothing changes. (Counted from
	// here: on a loaded machine a subscription retried at start can have
	// had a delivery refused already.)
	refused := b.st.refused.Load()
	body := `{"value":[{"subscriptionId":"` + sub.ID + `","clientState":"guess","changeType":"updated","resource":"communications/presences/` + alice + `","resourceData":{"id":"` + alice + `"}}]}`
	res, err := http.Post(hook.URL+"/teams/notify", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden || b.st.refused.Load() != refused+1 {
		t.Errorf("a wrong clientState got %d (refused %d more), want 403 and 1", res.StatusCode, b.st.refused.Load()-refused)
	}

	// A notification that beats Graph's 201 for a subscription being
	// created: known by its clientState, accepted, not counted as forged.
	b.mu.Lock()
	early := b.subs[sub.ID].pending(alice, "early-0123456789abcdef")
	b.creating[early] = struct{}{}
	b.mu.Unlock()
	refused, notified := b.st.refused.Load(), b.st.notified.Load()
	body = `{"value":[{"subscriptionId":"not-yet-known","clientState":"early-0123456789abcdef","changeType":"updated","resource":"communications/presences/` + alice + `","resourceData":{"id":"` + alice + `"}}]}`
	if res, err = http.Post(hook.URL+"/teams/notify", "application/json", strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted || b.st.refused.Load() != refused || b.st.notified.Load() != notified+1 {
		t.Errorf("a notification before the 201 got %d (refused %d, accepted %d more)", res.StatusCode, b.st.refused.Load()-refused, b.st.notified.Load()-notified)
	}
	b.mu.Lock()
	delete(b.creating, early)
	b.mu.Unlock()

	// missed: the users are read again.
	reads := b.st.reads.Load()
	if err := fake.Lifecycle(sub.ID, fakegraph.EventMissed); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "a read after missed", func() bool { return b.st.reads.Load() >= reads+2 })

	// reauthorizationRequired: reauthorized.
	if err := fake.Lifecycle(sub.ID, fakegraph.EventReauthorizationRequired); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "reauthorized", func() bool {
		return fake.Stats().Requests[fakegraph.OpSubscriptionsReauthorize] == 1
	})

	// subscriptionRemoved: a new subscription.
	if err := fake.Lifecycle(sub.ID, fakegraph.EventSubscriptionRemoved); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitLong, "subscribed again", func() bool {
		subs := fake.Subscriptions()
		return len(subs) == 1 && subs[0].ID != sub.ID
	})
	if err := fake.SetClient(alice, "Away", "Away"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "alice away through the new subscription", func() bool {
		return cloudOf(hub, "1001").State == presence.CloudAway
	})
	if err := b.Health(); err != nil {
		t.Errorf("health: %v", err)
	}

	// On the way out the subscription is deleted.
	r.stop()
	if subs := fake.Subscriptions(); len(subs) != 0 {
		t.Errorf("subscriptions left after stop: %+v", subs)
	}
}

// TestThrottledAndRevoked: a 429 with Retry-After pauses every call until
// it has passed and the write still lands; Health says so meanwhile. A
// token revoked early (401) is fetched again.
func TestThrottledAndRevoked(t *testing.T) {
	fake, srv := newFake(t, nil)
	r := start(t, fake, srv, func(o *Options) { o.PollInterval = time.Hour })
	eventually(t, 2*time.Second, "the first reads", func() bool { return r.b.st.reads.Load() >= 2 })

	fake.Throttle(1, 2*time.Second)
	began := time.Now()
	r.hub.SetDialogs("1001", presence.SourceSIP, call(presence.Confirmed, false))
	eventually(t, 2*time.Second, "health says throttled", func() bool {
		err := r.b.Health()
		return err != nil && strings.Contains(err.Error(), "throttled")
	})
	eventually(t, waitLong, "the call in Teams after the pause", func() bool {
		_, ok := fake.AppSession(alice, appID)
		return ok
	})
	if waited := time.Since(began); waited < 1500*time.Millisecond {
		t.Errorf("the write landed %v after a 429 with Retry-After: 2", waited)
	}
	if n := r.b.st.throttled.Load(); n != 1 {
		t.Errorf("throttled = %d, want 1", n)
	}

	fake.ExpireTokens()
	r.hub.SetDialogs("1001", presence.SourceSIP, nil)
	eventually(t, waitLong, "the session cleared with a new token", func() bool {
		_, ok := fake.AppSession(alice, appID)
		return !ok
	})
	eventually(t, 2*time.Second, "health back to ok", func() bool { return r.b.Health() == nil })
}

// TestGraphUnreachable: with Graph gone the bridge reports why, and the
// hub (the phones) goes on without it.
func TestGraphUnreachable(t *testing.T) {
	fake, srv := newFake(t, nil)
	dead := httptest.NewTLSServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close()
	r := start(t, fake, srv, func(o *Options) { o.GraphURL = url })
	r.hub.SetDialogs("1001", presence.SourceSIP, call(presence.Confirmed, false))
	if got := r.hub.Current("1001").Lamp(); got != presence.LampBusy {
		t.Fatalf("the lamp = %s, want busy whatever Graph does", got)
	}
	eventually(t, waitLong, "health reports graph failing", func() bool {
		err := r.b.Health()
		return err != nil && strings.Contains(err.Error(), "graph failing")
	})
}

func testLog() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// TestSessionRefreshed: while a call lasts its session is sent again
// before it expires (at half of call_expiry; here every 300 ms), each
// time with the full expiry.
func TestSessionRefreshed(t *testing.T) {
	fake, srv := newFake(t, nil)
	r := build(t, fake, srv, func(o *Options) { o.PollInterval = time.Hour })
	r.b.refresh = 300 * time.Millisecond
	r.run(t)
	r.hub.SetDialogs("1001", presence.SourceSIP, call(presence.Confirmed, false))
	eventually(t, 2*time.Second, "alice in a call", func() bool {
		_, ok := fake.AppSession(alice, appID)
		return ok
	})
	first, _ := fake.AppSession(alice, appID)
	eventually(t, 3*time.Second, "three refreshes", func() bool {
		return fake.Stats().Requests[fakegraph.OpSetPresence] >= 4
	})
	s, _ := fake.AppSession(alice, appID)
	if !s.LastRefresh.After(first.LastRefresh) || !s.Expires.After(first.Expires) {
		t.Errorf("the session was not refreshed: first %+v, now %+v", first, s)
	}
	r.hub.SetDialogs("1001", presence.SourceSIP, nil)
	eventually(t, 2*time.Second, "cleared", func() bool {
		_, ok := fake.AppSession(alice, appID)
		return !ok
	})
	n := fake.Stats().Requests[fakegraph.OpSetPresence]
	time.Sleep(700 * time.Millisecond)
	if m := fake.Stats().Requests[fakegraph.OpSetPresence]; m != n {
		t.Errorf("setPresence went on after the call: %d then %d", n, m)
	}
}

// TestApplyOrderAndEcho: a reading older than one applied (by Graph's
// sequenceNumber) is dropped; while the bridge's session is up its own
// pair, and Busy/Busy, are echoes; the user's own state is not.
func TestApplyOrderAndEcho(t *testing.T) {
	fake, srv := newFake(t, nil)
	r := build(t, fake, srv, nil)
	b := r.b
	b.mu.Lock()
	b.addLocked("1001", alice)
	b.mu.Unlock()
	b.apply(reading{id: alice, av: "Busy", act: "InAMeeting", seq: "0005"})
	b.apply(reading{id: alice, av: "Available", act: "Available", seq: "0004"})
	if c := cloudOf(r.hub, "1001"); c.Detail != "Busy/InAMeeting" || b.st.stale.Load() != 1 {
		t.Fatalf("after an older reading: %+v (stale %d)", c, b.st.stale.Load())
	}
	b.mu.Lock()
	u := b.byID[alice]
	u.session = b.opt.Call
	u.echoes, u.echoUntil = []Pair{b.opt.Call, {"Busy", "Busy"}}, time.Now().Add(time.Hour)
	b.mu.Unlock()
	b.apply(reading{id: alice, av: "Available", act: "Available", seq: "0006"})
	b.apply(reading{id: alice, av: "Busy", act: "InACall", seq: "0007"})
	b.apply(reading{id: alice, av: "Busy", act: "Busy", seq: "0008"})
	if c := cloudOf(r.hub, "1001"); c.State != presence.CloudAvailable || b.st.echoes.Load() != 2 {
		t.Fatalf("echoes taken for the user's own: %+v (echoes %d)", c, b.st.echoes.Load())
	}
	b.apply(reading{id: alice, av: "DoNotDisturb", act: "Presenting", seq: "0009"})
	if c := cloudOf(r.hub, "1001"); c.Detail != "DoNotDisturb/Presenting" {
		t.Fatalf("the user's own presenting during the call: %+v", c)
	}
}

// pending is a subscription like s, for ids, still waiting for its id.
func (s *sub) pending(id, state string) *sub {
	return &sub{account: s.account, ids: []string{id}, state: state}
}
