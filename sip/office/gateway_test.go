package office_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blfgw/blfgw/dialog"
	"github.com/blfgw/blfgw/presence"
	"github.com/blfgw/blfgw/sip"
	"github.com/blfgw/blfgw/sip/office"
)

// memStore is the SIP edge's Store port in memory: the office needs no
// database to be tested against the real edge.
type memStore struct {
	mu   sync.Mutex
	pubs map[string]sip.PublicationRecord
	meta map[string]string
}

func (m *memStore) PutSubscriptions(context.Context, []sip.SubscriptionRecord) error { return nil }
func (m *memStore) UpdateSubscriptionCounters(context.Context, []sip.SubscriptionRecord) error {
	return nil
}
func (m *memStore) DeleteSubscriptions(context.Context, []string) error { return nil }
func (m *memStore) Subscriptions(context.Context) ([]sip.SubscriptionRecord, error) {
	return nil, nil
}

func (m *memStore) PutPublication(_ context.Context, p sip.PublicationRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pubs[p.ETag] = p
	return nil
}

func (m *memStore) ReplacePublication(_ context.Context, old string, p sip.PublicationRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.pubs, old)
	m.pubs[p.ETag] = p
	return nil
}

func (m *memStore) DeletePublications(_ context.Context, etags []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range etags {
		delete(m.pubs, e)
	}
	return nil
}

func (m *memStore) Publications(context.Context) ([]sip.PublicationRecord, error) { return nil, nil }

func (m *memStore) Meta(_ context.Context, k string) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.meta[k]
	return v, ok, nil
}

func (m *memStore) SetMeta(_ context.Context, k, v string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.meta[k] = v
	return nil
}

func (m *memStore) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.pubs)
}

type directory map[string]sip.Account

func (d directory) Account(n string) (sip.Account, bool) {
	a, ok := d[n]
	return a, ok
}

// lamps records what each extension's lamp showed.
type lamps struct {
	mu   sync.Mutex
	seen map[string]map[string]bool // number -> lamps
	who  map[string]bool            // display names of callers seen
}

type lampWatcher struct {
	l      *lamps
	number string
}

func (w lampWatcher) Offer(s *presence.Snapshot) {
	w.l.mu.Lock()
	defer w.l.mu.Unlock()
	w.l.seen[w.number][s.Lamp().String()] = true
	for _, d := range s.Dialogs {
		if d.Remote.Display != "" {
			w.l.who[d.Remote.Display] = true
		}
	}
}

func (l *lamps) all() map[string]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]bool{}
	for _, s := range l.seen {
		for k := range s {
			out[k] = true
		}
	}
	return out
}

// TestRunRealGateway runs the office against the gateway's own SIP edge
// with loopback untrusted, so every PUBLISH is challenged and answered
// with the extension's password. The lamps go through ringing, outgoing,
// busy and hold; a wrong password is refused and the office carries on;
// at the end no publication is left and every lamp is idle.
//
// Not parallel: sip.New sets sipgo's process-wide logger, which sipgo
// reads without synchronisation whenever a user agent is made; the other
// tests wait until this one is over.
func TestRunRealGateway(t *testing.T) {
	dir := directory{}
	for _, n := range numbers {
		dir[n] = sip.Account{Number: n, Name: "Person " + n, Password: "pw" + n}
	}
	hub := presence.NewHub()
	tracker := dialog.NewTracker(hub)
	store := &memStore{pubs: map[string]sip.PublicationRecord{}, meta: map[string]string{}}
	srv, err := sip.New(sip.Options{
		Domain: domain, Listen: []sip.Listener{{Transport: "udp", Addr: "127.0.0.1:0"}},
		Directory: dir, Hub: hub, Tracker: tracker, Store: store,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("gateway: %v", err)
		}
	})
	select {
	case <-srv.Ready():
	case err := <-served:
		t.Fatal(err)
	}
	addr := srv.Bound()[0].Addr

	seen := &lamps{seen: map[string]map[string]bool{}, who: map[string]bool{}}
	for _, n := range numbers {
		seen.seen[n] = map[string]bool{}
		_, stop := hub.Watch(n, lampWatcher{seen, n})
		t.Cleanup(stop)
	}
	people := staff(numbers...)
	people[5].Password = "not-the-password"
	logs := &logBuffer{}
	stop := runOffice(t, func(ctx context.Context) error {
		return office.Run(ctx, office.Options{SIP: addr, Domain: domain, People: people, Pace: 0.05, Seed: 7, Log: logs.logger()})
	})
	waitFor(t, "every kind of lamp and a refusal", 40*time.Second, func() bool {
		l := seen.all()
		return l["ringing"] && l["outgoing"] && l["busy"] && l["hold"] && strings.Contains(logs.String(), `msg="gateway refused`)
	})
	if took := stop(); took > 6*time.Second {
		t.Errorf("closing took %v", took)
	}
	if n := tracker.Len(); n != 0 {
		t.Errorf("%d publications left in the tracker", n)
	}
	if n := store.count(); n != 0 {
		t.Errorf("%d publications left in the store", n)
	}
	for _, n := range numbers {
		if l := hub.Current(n).Lamp(); l != presence.LampIdle {
			t.Errorf("%s left %v", n, l)
		}
	}
	seen.mu.Lock()
	if len(seen.seen["1006"]) > 1 {
		t.Errorf("1006 published with a wrong password: %v", seen.seen["1006"])
	}
	named := false
	for w := range seen.who {
		named = named || strings.HasSuffix(w, "Ltd") || strings.HasSuffix(w, "Inc") || strings.HasPrefix(w, "Person ")
	}
	seen.mu.Unlock()
	if !named {
		t.Error("no caller's name reached the gateway")
	}
	if !strings.Contains(logs.String(), "ext=1006") {
		t.Error("the refusal of 1006's password was not logged")
	}
	if t.Failed() {
		t.Logf("office log:\n%s", logs.String())
	}
}
