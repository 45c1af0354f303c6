// Package genesys keeps Genesys Cloud presence and the phones in step,
// both ways: a phone call, a manual status or a Teams presence moves the
// agent's Genesys presence the way the Genesys blueprint "Update the
// presence of a Genesys Cloud User from Microsoft Teams User Presence
// Update" does (a mapping table, and never an agent who is On Queue),
// and what Genesys says about a user (On Queue, interacting, a break)
// reaches the colleagues' lamps through presence (CLOUD-APIS.md 5 to 7).
//
// The official Go SDK cannot be downloaded here, so Client is a small
// typed client over net/http behind the API interface, named after the
// public API so the SDK can replace it.
package genesys

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blfgw/blfgw/bridge/internal/users"
	"github.com/blfgw/blfgw/bridge/internal/work"
	"github.com/blfgw/blfgw/presence"
)

// Store keeps the ids that emails were resolved to.
type Store = users.Store

// Options configures the bridge.
type Options struct {
	// API is the Platform API; nil builds a Client from Client.
	API    API
	Client ClientOptions

	Users map[string]string // extension -> Genesys user id or email

	// Presence names (system or the org's own) set in Genesys; "" leaves
	// Genesys alone for that case.
	Phone, DND, Away string
	// Teams maps a Teams presence to a Genesys presence name (the
	// blueprint's table); false: do not update Genesys for it.
	Teams func(availability, activity string) (string, bool)
	// Names are every presence name the configuration uses, with where
	// (the config key), checked against the org at start; IDs the ids
	// the configuration gives for some of them.
	Names map[string]string
	IDs   map[string]string

	// Map turns a Genesys presence (its definition's name and system
	// presence) and routing status into a lamp state and a note;
	// CloudUnknown leaves the lamp to other sources.
	Map func(presenceName, systemPresence, routingStatus string) (presence.CloudState, string)

	Store Store
	Hub   *presence.Hub
	Log   *slog.Logger

	// Heartbeat is how often Genesys sends a heartbeat (30 s); a socket
	// silent for 2.5 times that is taken for dead.
	Heartbeat time.Duration
	// Resubscribe is how often a channel's topics are put again, which
	// extends its 24 h life; default 23 h.
	Resubscribe time.Duration
	// DialClient is the HTTP client for WebSocket dials (trusts ca_file).
	DialClient *http.Client
}

// topicsPerChannel: Genesys allows 1,000 topics per channel, two per user.
const topicsPerChannel = 1000

// Bridge is the running Genesys bridge.
type Bridge struct {
	opt  Options
	log  *slog.Logger
	api  API
	gate interface{ ThrottledFor() time.Duration }

	wakeW chan struct{}

	mu       sync.Mutex
	defs     map[string]PresenceDefinition // by id
	byName   map[string]PresenceDefinition // by lower-case name
	byID     map[string]*user
	byExt    map[string]*user
	unknown  []string
	lastErr  error
	errAt    time.Time
	defsErr  error
	channels map[int]*channelState
	cancels  []func()

	st stats
}

type stats struct {
	requests, failures, throttled, patches, guarded, events, echoes, reconnects atomic.Int64
}

type channelState struct {
	id        string
	users     int
	connected bool
}

// want is what Genesys should show for a user, and why.
type want struct {
	why    string // "phone", "dnd", "away", "teams" or ""
	target string // a presence name; "" leaves Genesys alone
}

type user struct {
	id   string
	exts []string

	snaps     map[string]*presence.Snapshot
	work.Slot // when to write it
	failures  int

	applied  want      // what the bridge last acted on
	before   string    // the definition id before the call, to restore
	preCall  want      // what was wanted before the call
	wrote    string    // the definition id the bridge last set
	wroteMod time.Time // its modifiedDate, to tell the echo from a later change
	patching bool      // a PATCH of wrote is in flight

	presenceID  string // what Genesys says now
	presenceMod time.Time
	routing     string
	routingAt   time.Time
}

// New builds the bridge; nothing is sent before Check or Run.
func New(opt Options) (*Bridge, error) {
	if opt.Hub == nil || opt.Map == nil {
		return nil, errors.New("genesys: Hub and Map are required")
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	if opt.Heartbeat <= 0 {
		opt.Heartbeat = 30 * time.Second
	}
	if opt.Resubscribe <= 0 {
		opt.Resubscribe = 23 * time.Hour
	}
	if opt.Teams == nil {
		opt.Teams = func(string, string) (string, bool) { return "", false }
	}
	b := &Bridge{
		opt:      opt,
		log:      opt.Log.With("component", "genesys"),
		wakeW:    make(chan struct{}, 1),
		byID:     map[string]*user{},
		byExt:    map[string]*user{},
		channels: map[int]*channelState{},
	}
	if opt.API == nil {
		co := opt.Client
		if co.APIURL == "" || co.LoginURL == "" || co.ClientID == "" || co.ClientSecret == "" {
			return nil, errors.New("genesys: API and login URLs, client id and secret are required")
		}
		co.Count = b.count
		c := NewClient(co)
		b.api, b.gate = c, c
	} else {
		b.api = opt.API
	}
	return b, nil
}

func (b *Bridge) count(op string, err error) {
	b.st.requests.Add(1)
	b.mu.Lock()
	defer b.mu.Unlock()
	if err == nil {
		b.lastErr = nil
		return
	}
	if status(err) == http.StatusTooManyRequests {
		b.st.throttled.Add(1)
	}
	if retryable(err) {
		b.st.failures.Add(1)
		if b.lastErr == nil {
			b.errAt = time.Now()
		}
		b.lastErr = err
	}
}

// Check reads the org's presence definitions and checks every name the
// configuration uses. It fails only on what the configuration says
// wrong; an unreachable Genesys is reported by Health and retried.
func (b *Bridge) Check(ctx context.Context) error {
	defs, err := b.api.GetPresenceDefinitions(ctx)
	if err != nil {
		b.mu.Lock()
		b.defsErr = err
		b.mu.Unlock()
		if retryable(err) {
			return nil
		}
		return fmt.Errorf("genesys: reading the presence definitions: %w", err)
	}
	byID := map[string]PresenceDefinition{}
	byName := map[string]PresenceDefinition{}
	for _, d := range defs {
		if d.Deactivated {
			continue
		}
		byID[d.ID] = d
		for _, n := range append([]string{d.Name}, labels(d)...) {
			if _, taken := byName[strings.ToLower(n)]; !taken && n != "" {
				byName[strings.ToLower(n)] = d
			}
		}
	}
	var problems NameErrors
	names := make([]string, 0, len(b.opt.Names))
	for n := range b.opt.Names {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		d, ok := byName[strings.ToLower(n)]
		switch {
		case !ok:
			problems = append(problems, NameError{Key: b.opt.Names[n], Msg: fmt.Sprintf("the Genesys org has no presence named %q", n)})
		case b.opt.IDs[n] != "" && !strings.EqualFold(b.opt.IDs[n], d.ID):
			problems = append(problems, NameError{Key: b.opt.Names[n], Msg: fmt.Sprintf("the org's %q has the id %s, not %s", n, d.ID, b.opt.IDs[n])})
		}
	}
	if len(problems) > 0 {
		return problems
	}
	b.mu.Lock()
	b.defs, b.byName, b.defsErr = byID, byName, nil
	b.mu.Unlock()
	return nil
}

// NameError is a presence name of the configuration that the org does
// not have, with the configuration key that names it.
type NameError struct{ Key, Msg string }

// NameErrors are what Check found wrong in the configuration.
type NameErrors []NameError

func (es NameErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Key + ": " + e.Msg
	}
	return strings.Join(lines, "\n")
}

func labels(d PresenceDefinition) []string {
	var out []string
	for _, l := range d.LanguageLabels {
		out = append(out, l)
	}
	slices.Sort(out)
	return out
}

// definition finds a presence by name.
func (b *Bridge) definition(name string) (PresenceDefinition, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d, ok := b.byName[strings.ToLower(name)]
	return d, ok
}

// nameOf names a definition id: its definition's name and system
// presence, or the notified system presence in REST title case when the
// id is new to the bridge.
func (b *Bridge) nameOf(id, system string) (name, sys string) {
	b.mu.Lock()
	d, ok := b.defs[id]
	b.mu.Unlock()
	if ok {
		return d.Name, d.SystemPresence
	}
	return titleSystem(system), titleSystem(system)
}

// titleSystem turns a notification's "ON_QUEUE" into REST's "On Queue".
func titleSystem(s string) string {
	words := strings.Fields(strings.ReplaceAll(strings.ToLower(s), "_", " "))
	for i, w := range words {
		words[i] = strings.ToUpper(w[:1]) + w[1:]
	}
	return strings.Join(words, " ")
}

// onQueue is the blueprint's guard, widened: the presence is On Queue in
// either casing, or the routing status says the agent is taking ACD
// work.
func onQueue(system, routing string) bool {
	s := strings.ToUpper(strings.ReplaceAll(system, " ", "_"))
	return s == "ON_QUEUE" || (routing != "" && routing != "OFF_QUEUE")
}

// Run resolves the users, then keeps both directions going until ctx
// ends.
func (b *Bridge) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		b.mu.Lock()
		ready := b.defs != nil
		b.mu.Unlock()
		if ready {
			break
		}
		if err := b.Check(ctx); err != nil {
			b.log.Error("genesys: presence names the org does not have; the bridge stays off", "err", err)
			b.mu.Lock()
			b.defsErr = err
			b.mu.Unlock()
			<-ctx.Done()
			return nil
		}
		b.mu.Lock()
		ready = b.defs != nil
		b.mu.Unlock()
		if ready {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(work.Jitter(15 * time.Second)):
		}
	}
	b.resolve(ctx)
	wg.Go(func() { b.writeLoop(ctx) })
	wg.Go(func() { b.resolveLoop(ctx) })
	b.mu.Lock()
	ids := b.allLocked()
	b.mu.Unlock()
	slices.Sort(ids)
	per := topicsPerChannel / 2
	for i := 0; i*per < len(ids); i++ {
		chunk := ids[i*per : min((i+1)*per, len(ids))]
		wg.Go(func() { b.streamLoop(ctx, i, chunk) })
	}
	<-ctx.Done()
	b.mu.Lock()
	for _, c := range b.cancels {
		c()
	}
	b.cancels = nil
	b.mu.Unlock()
	return nil
}

func (b *Bridge) allLocked() []string {
	ids := make([]string, 0, len(b.byID))
	for id := range b.byID {
		ids = append(ids, id)
	}
	return ids
}

// resolve turns every configured user into a Genesys user id: ids as
// written, emails from the store or, once, by search.
func (b *Bridge) resolve(ctx context.Context) {
	r := users.Resolver{
		Service: "genesys",
		Names:   b.opt.Users,
		Store:   b.opt.Store,
		Lookup: func(ctx context.Context, email string) (string, error) {
			u, err := b.api.SearchUserByEmail(ctx, email)
			return u.ID, err
		},
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
}

// resolveLoop retries the users that could not be resolved; they join
// the lamps and writes at once, the notification channels at the next
// start.
func (b *Bridge) resolveLoop(ctx context.Context) {
	users.Retry(ctx, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.unknown) > 0
	}, b.resolve)
}

func (b *Bridge) addLocked(ext, id string) {
	u := b.byID[id]
	if u == nil {
		u = &user{id: id, snaps: map[string]*presence.Snapshot{}}
		b.byID[id] = u
	}
	u.exts = append(u.exts, ext)
	b.byExt[ext] = u
	snap, cancel := b.opt.Hub.Watch(ext, watcher{b: b, ext: ext})
	b.cancels = append(b.cancels, cancel)
	u.snaps[ext] = snap
	// What the user wants at start is where they are, not a change to
	// push: only later changes move Genesys.
	u.applied = b.wantLocked(u)
	b.wake()
}

type watcher struct {
	b   *Bridge
	ext string
}

func (w watcher) Offer(s *presence.Snapshot) {
	b := w.b
	b.mu.Lock()
	if u := b.byExt[w.ext]; u != nil {
		if old := u.snaps[w.ext]; old == nil || s.Seq > old.Seq {
			u.snaps[w.ext] = s
			u.Dirty = true
		}
	}
	b.mu.Unlock()
	b.wake()
}

func (b *Bridge) wake() {
	select {
	case b.wakeW <- struct{}{}:
	default:
	}
}

// Health is nil while Genesys answers and everything configured is in
// place; otherwise it says what is wrong.
func (b *Bridge) Health() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var why []string
	if b.defsErr != nil {
		why = append(why, fmt.Sprintf("presence definitions: %v", b.defsErr))
	}
	if b.lastErr != nil {
		why = append(why, fmt.Sprintf("genesys failing since %s: %v", b.errAt.UTC().Format(time.RFC3339), b.lastErr))
	}
	if b.gate != nil {
		if d := b.gate.ThrottledFor(); d > 0 {
			why = append(why, fmt.Sprintf("throttled by genesys for %s more", d.Round(time.Second)))
		}
	}
	down := 0
	for _, c := range b.channels {
		if !c.connected {
			down++
		}
	}
	if down > 0 {
		why = append(why, fmt.Sprintf("%d of %d notification channels not connected", down, len(b.channels)))
	}
	if len(b.unknown) > 0 {
		why = append(why, fmt.Sprintf("%d extensions' genesys_user not found (%s)", len(b.unknown), strings.Join(b.unknown, ", ")))
	}
	if len(why) == 0 {
		return nil
	}
	return errors.New(strings.Join(why, "; "))
}

// Stats are the bridge's figures for /healthz.
func (b *Bridge) Stats() map[string]any {
	b.mu.Lock()
	connected := 0
	for _, c := range b.channels {
		if c.connected {
			connected++
		}
	}
	out := map[string]any{"genesys_users": len(b.byID), "genesys_channels": connected}
	b.mu.Unlock()
	out["genesys_requests"] = b.st.requests.Load()
	out["genesys_failures"] = b.st.failures.Load()
	out["genesys_throttled"] = b.st.throttled.Load()
	out["genesys_patches"] = b.st.patches.Load()
	out["genesys_on_queue_skipped"] = b.st.guarded.Load()
	out["genesys_events"] = b.st.events.Load()
	out["genesys_echoes"] = b.st.echoes.Load()
	out["genesys_reconnects"] = b.st.reconnects.Load()
	return out
}
