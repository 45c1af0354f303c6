// Package teams keeps Microsoft Teams presence and the phones in step,
// both ways, through Microsoft Graph: a phone call shows in Teams as "In a
// call" (an app presence session, cleared when the call ends), and what
// Teams says about a user (a meeting, Do Not Disturb, away, offline)
// reaches that user's colleagues' lamps through presence. It is the only
// importer of msgraph-sdk-go (CLOUD-APIS.md sections 0 to 4).
//
// Reads come from change-notification subscriptions owned by delegated
// service accounts (Graph allows no other owner for presence), with
// polling as the fallback and the reconciler; writes use the app's own
// credentials. Graph is never on the phones' path: if it is slow or gone,
// lamps go on following SIP and the bridge catches up when it returns.
package teams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/blfgw/blfgw/bridge/internal/users"
	"github.com/blfgw/blfgw/bridge/internal/work"
	"github.com/blfgw/blfgw/presence"
)

// maxIDs is Graph's limit of users per getPresencesByUserId request and
// per presence subscription.
const maxIDs = 650

// Account is a delegated service account that owns subscriptions.
type Account struct {
	Username string
	Password string
}

// Store keeps the ids that UPNs were resolved to.
type Store = users.Store

// Options configures the bridge. Durations of zero take the defaults of
// the [teams] table.
type Options struct {
	Tenant       string
	ClientID     string // also the sessionId of every presence session the bridge writes
	ClientSecret string
	GraphURL     string       // without /v1.0
	LoginURL     string       // the Entra authority host
	HTTPClient   *http.Client // trusts ca_file; nil: the default

	// NotificationURL is the public URL that reaches Handler; "" polls.
	NotificationURL   string
	Accounts          []Account
	PollInterval      time.Duration
	ReconcileInterval time.Duration

	CallExpiry time.Duration // expirationDuration of a call's session; refreshed at half
	Call       Pair          // during a phone call
	Conference Pair          // during two calls talking at once
	PushStatus bool          // send a manual Do Not Disturb / Appear Away as the preferred presence
	DND, Away  Pair

	// Map turns a Teams presence into a lamp state and a note;
	// CloudUnknown leaves the lamp to the other sources.
	Map func(availability, activity string) (presence.CloudState, string)

	Users map[string]string // extension -> object id or UPN
	Store Store
	Hub   *presence.Hub
	Log   *slog.Logger

	// Rate and Burst bound Graph requests for the app: by default 40/s
	// (1,200 per 30 s, under Graph's 1,500) with a burst of 100.
	Rate  float64
	Burst int
}

// Bridge is the running Teams bridge.
type Bridge struct {
	opt      Options
	log      *slog.Logger
	g        *graph
	accounts []*account
	gate     gate

	wakeW  chan struct{} // the writer has work
	wakeR  chan struct{} // the reader has work
	wakeRe chan struct{} // a re-read was asked for
	wakeS  chan struct{} // users were added: subscriptions may need to change

	refresh time.Duration // a call's session is sent again this often: half of CallExpiry
	life    chan lifecycle

	mu     sync.Mutex
	byID   map[string]*user // resolved users by object id
	byExt  map[string]*user
	toRead map[string]bool // ids waiting for a read
	subs   map[string]*sub // by subscription id
	// creating are subscriptions asked for whose id Graph has not given
	// yet: a notification may arrive before the 201 does.
	creating map[*sub]struct{}
	polled   []string // ids no subscription covers
	lastErr  error    // the last Graph failure, nil after a success
	errAt    time.Time
	subErr   error // why subscriptions are not (all) up
	unknown  []string
	rereads  map[string]time.Time
	cancels  []func() // the hub watches

	st stats
}

type stats struct {
	writes, writeErrors, reads, notified, refused, echoes, stale atomic.Int64
	requests, throttled, failures                                atomic.Int64
}

// user is one Teams user and the extensions that are theirs.
type user struct {
	id   string
	exts []string

	// The phone side: the latest snapshot per extension, and what the
	// bridge has written to Teams.
	snaps     map[string]*presence.Snapshot
	work.Slot // when to write it: changed, being written, a refresh or retry due
	failures  int
	session   Pair      // the app session's pair while one is up
	refreshAt time.Time // re-send the session before it expires
	pref      Pair      // the preferred presence written, zero if none
	refused   string    // the desired state Graph refused for good, not retried
	echoes    []Pair    // what the bridge wrote, as Graph may read it back
	echoUntil time.Time // readings of echoes are ours until then

	// The Teams side.
	seq string // the newest sequenceNumber applied
}

// New checks the options and builds the Graph clients; nothing is sent
// before Run.
func New(opt Options) (*Bridge, error) {
	if opt.Hub == nil || opt.Map == nil {
		return nil, errors.New("teams: Hub and Map are required")
	}
	if opt.Tenant == "" || opt.ClientID == "" || opt.ClientSecret == "" {
		return nil, errors.New("teams: tenant, client id and secret are required")
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	if opt.GraphURL == "" {
		opt.GraphURL = "https://graph.microsoft.com"
	}
	if opt.LoginURL == "" {
		opt.LoginURL = "https://login.microsoftonline.com"
	}
	if opt.PollInterval <= 0 {
		opt.PollInterval = 30 * time.Second
	}
	if opt.ReconcileInterval <= 0 {
		opt.ReconcileInterval = 10 * time.Minute
	}
	if opt.CallExpiry <= 0 {
		opt.CallExpiry = time.Hour
	}
	if opt.Call == (Pair{}) {
		opt.Call = Pair{"Busy", "InACall"}
	}
	if opt.Conference == (Pair{}) {
		opt.Conference = Pair{"Busy", "InAConferenceCall"}
	}
	if opt.DND == (Pair{}) {
		opt.DND = Pair{"DoNotDisturb", "DoNotDisturb"}
	}
	if opt.Away == (Pair{}) {
		opt.Away = Pair{"Away", "Away"}
	}
	if opt.Rate <= 0 {
		opt.Rate = 40
	}
	if opt.Burst <= 0 {
		opt.Burst = 100
	}
	b := &Bridge{
		opt:      opt,
		log:      opt.Log.With("component", "teams"),
		wakeW:    make(chan struct{}, 1),
		wakeR:    make(chan struct{}, 1),
		wakeRe:   make(chan struct{}, 1),
		wakeS:    make(chan struct{}, 1),
		refresh:  opt.CallExpiry / 2,
		life:     make(chan lifecycle, 256),
		byID:     map[string]*user{},
		byExt:    map[string]*user{},
		toRead:   map[string]bool{},
		subs:     map[string]*sub{},
		creating: map[*sub]struct{}{},
	}
	g, err := newGraph(&b.opt, rate.NewLimiter(rate.Limit(opt.Rate), opt.Burst), &b.gate, b.count)
	if err != nil {
		return nil, err
	}
	b.g = g
	if opt.NotificationURL != "" {
		for _, ac := range opt.Accounts {
			a, err := newAccount(&b.opt, ac)
			if err != nil {
				return nil, err
			}
			b.accounts = append(b.accounts, a)
		}
	}
	return b, nil
}

func (b *Bridge) count(op string, err error) {
	b.st.requests.Add(1)
	if err != nil {
		if _, ok := retryAfter(err); ok {
			b.st.throttled.Add(1)
		}
		if retryable(err) {
			b.st.failures.Add(1)
			b.mu.Lock()
			if b.lastErr == nil {
				b.errAt = time.Now() // "failing since": the first of the run
			}
			b.lastErr = describe(err)
			b.mu.Unlock()
		}
		return
	}
	b.mu.Lock()
	b.lastErr = nil
	b.mu.Unlock()
}

// Run resolves the users, then keeps both directions going until ctx
// ends; subscriptions are deleted on the way out.
func (b *Bridge) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	b.resolve(ctx)
	run := func(f func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}
	run(b.resolveLoop)
	run(b.writeLoop)
	run(b.readLoop)
	run(b.subscribeLoop)
	run(b.rereadLoop)
	<-ctx.Done()
	b.mu.Lock()
	for _, c := range b.cancels {
		c()
	}
	b.cancels = nil
	b.mu.Unlock()
	return nil
}

// resolve turns every configured Teams user into an object id: GUIDs as
// written, UPNs from the store or, once, from Graph.
func (b *Bridge) resolve(ctx context.Context) {
	r := users.Resolver{
		Service: "teams",
		Names:   b.opt.Users,
		Store:   b.opt.Store,
		Lookup:  func(ctx context.Context, name string) (string, error) { return b.g.userID(ctx, name) },
		Resolved: func(ext string) bool {
			b.mu.Lock()
			defer b.mu.Unlock()
			_, done := b.byExt[ext]
			return done
		},
		Add: func(ext, id string) {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.addLocked(ext, id)
		},
		Log: b.log,
	}
	unknown := r.Resolve(ctx)
	if ctx.Err() != nil {
		return
	}
	b.mu.Lock()
	b.unknown = unknown
	b.mu.Unlock()
	b.wake(b.wakeR)
	b.wake(b.wakeS)
}

// resolveLoop retries the users that could not be resolved.
func (b *Bridge) resolveLoop(ctx context.Context) {
	users.Retry(ctx, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.unknown) > 0
	}, b.resolve)
}

// addLocked starts following an extension's phone for its Teams user.
func (b *Bridge) addLocked(ext, id string) {
	u := b.byID[id]
	if u == nil {
		u = &user{id: id, snaps: map[string]*presence.Snapshot{}}
		b.byID[id] = u
	}
	u.exts = append(u.exts, ext)
	b.byExt[ext] = u
	b.toRead[id] = true
	snap, cancel := b.opt.Hub.Watch(ext, watcher{b: b, ext: ext})
	b.cancels = append(b.cancels, cancel)
	u.snaps[ext] = snap
	u.Dirty = true
	b.wake(b.wakeW)
}

// watcher hands an extension's snapshots to the writer; Offer must not
// block, so it only records the newest and wakes the loop.
type watcher struct {
	b   *Bridge
	ext string
}

func (w watcher) Offer(s *presence.Snapshot) {
	b := w.b
	b.mu.Lock()
	u := b.byExt[w.ext]
	if u != nil {
		if old := u.snaps[w.ext]; old == nil || s.Seq > old.Seq {
			u.snaps[w.ext] = s
			u.Dirty = true
		}
	}
	b.mu.Unlock()
	b.wake(b.wakeW)
}

func (b *Bridge) wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Handler serves the notification URL: Graph's validation handshake and
// the change and lifecycle notifications.
func (b *Bridge) Handler() http.Handler { return http.HandlerFunc(b.notify) }

// Health is nil while Graph answers and everything configured is in
// place; otherwise it says what is wrong. The phones are not affected
// either way.
func (b *Bridge) Health() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var why []string
	if b.lastErr != nil {
		why = append(why, fmt.Sprintf("graph failing since %s: %v", b.errAt.UTC().Format(time.RFC3339), b.lastErr))
	}
	if d := b.gate.closedFor(); d > 0 {
		why = append(why, fmt.Sprintf("throttled by graph for %s more", d.Round(time.Second)))
	}
	if b.subErr != nil {
		why = append(why, fmt.Sprintf("change notifications: %v; polling those users every %s", b.subErr, b.opt.PollInterval))
	}
	if len(b.unknown) > 0 {
		why = append(why, fmt.Sprintf("%d extensions' teams_user not found (%s)", len(b.unknown), strings.Join(b.unknown, ", ")))
	}
	if len(why) == 0 {
		return nil
	}
	return errors.New(strings.Join(why, "; "))
}

// Stats are the bridge's figures for /healthz.
func (b *Bridge) Stats() map[string]any {
	b.mu.Lock()
	sessions := 0
	for _, u := range b.byID {
		if u.session != (Pair{}) {
			sessions++
		}
	}
	out := map[string]any{
		"teams_users":         len(b.byID),
		"teams_sessions":      sessions,
		"teams_subscriptions": len(b.subs),
		"teams_polled_users":  len(b.polled),
	}
	b.mu.Unlock()
	out["teams_writes"] = b.st.writes.Load()
	out["teams_write_errors"] = b.st.writeErrors.Load()
	out["teams_reads"] = b.st.reads.Load()
	out["teams_notifications"] = b.st.notified.Load()
	out["teams_notifications_refused"] = b.st.refused.Load()
	out["teams_echoes"] = b.st.echoes.Load()
	out["graph_requests"] = b.st.requests.Load()
	out["graph_throttled"] = b.st.throttled.Load()
	out["graph_failures"] = b.st.failures.Load()
	return out
}
