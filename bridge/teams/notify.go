package teams

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/blfgw/blfgw/bridge/internal/work"
)

// Subscription timing: Graph allows 60 minutes for presence and raises
// anything under 45 to 45; the bridge asks for the full hour and renews
// at the half.
const (
	subLifetime = 59 * time.Minute
	subRenew    = 30 * time.Minute
)

// sub is one presence subscription, owned by one service account.
type sub struct {
	id      string
	account *account
	ids     []string
	state   string // clientState, checked on every notification
	expires time.Time
	renewAt time.Time
}

type lifecycle struct {
	sub   string
	event string
}

// notification is what the bridge reads of Graph's payloads: lenient
// strings, since the SDK's models reject a whole payload over one
// unknown enum value (CLOUD-APIS.md 4.4).
type notification struct {
	SubscriptionID string `json:"subscriptionId"`
	ClientState    string `json:"clientState"`
	ChangeType     string `json:"changeType"`
	Resource       string `json:"resource"`
	ResourceData   struct {
		ID string `json:"id"`
	} `json:"resourceData"`
	LifecycleEvent string `json:"lifecycleEvent"`
}

// notify answers Graph at the notification URL. The validation handshake
// echoes the decoded token as text/plain (Graph allows 10 s). A
// notification is checked against its subscription's clientState and
// only queued here, so Graph gets its 202 well within 3 s.
func (b *Bridge) notify(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		jsonError(w, http.StatusMethodNotAllowed, "method_not_allowed", "Graph notifications are POSTed")
		return
	}
	if r.URL.Query().Has("validationToken") {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, r.URL.Query().Get("validationToken"))
		return
	}
	var payload struct {
		Value []notification `json:"value"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4<<20)).Decode(&payload); err != nil {
		jsonError(w, http.StatusBadRequest, "bad_request", "the body is not a Graph notification collection: "+err.Error())
		return
	}
	var ids []string
	var events []lifecycle
	accepted, refused := 0, 0
	b.mu.Lock()
	for _, n := range payload.Value {
		s := b.subs[n.SubscriptionID]
		if s == nil {
			s = b.creatingWith(n.ClientState)
		}
		if s == nil || subtle.ConstantTimeCompare([]byte(s.state), []byte(n.ClientState)) != 1 {
			refused++
			continue
		}
		accepted++
		if n.LifecycleEvent != "" {
			events = append(events, lifecycle{sub: s.id, event: n.LifecycleEvent})
			continue
		}
		id := strings.ToLower(n.ResourceData.ID)
		if id == "" {
			id = strings.ToLower(n.Resource[strings.LastIndexByte(n.Resource, '/')+1:])
		}
		if slices.Contains(s.ids, id) {
			ids = append(ids, id)
		}
	}
	b.mu.Unlock()
	b.st.notified.Add(int64(accepted))
	b.st.refused.Add(int64(refused))
	if refused > 0 {
		b.log.Warn("teams: refused notifications with an unknown subscription or a wrong clientState", "refused", refused, "accepted", accepted, "from", r.RemoteAddr)
	}
	if accepted == 0 && refused > 0 {
		jsonError(w, http.StatusForbidden, "forbidden", "clientState does not match any subscription of this gateway")
		return
	}
	for _, e := range events {
		select {
		case b.life <- e:
		default:
			b.log.Warn("teams: lifecycle queue full; the reconciler will catch up", "event", e.event)
		}
	}
	b.enqueue(ids...)
	w.WriteHeader(http.StatusAccepted)
}

func jsonError(w http.ResponseWriter, code int, kind, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": kind, "message": msg}})
}

// subscribeLoop keeps one subscription per service account (Graph
// allows one per app and delegated user, of at most 650 users), renews
// them, answers lifecycle events, and leaves everyone else to polling.
func (b *Bridge) subscribeLoop(ctx context.Context) {
	if b.opt.NotificationURL == "" || len(b.accounts) == 0 {
		b.mu.Lock()
		b.polled = b.allLocked()
		b.mu.Unlock()
		return
	}
	defer b.unsubscribeAll()
	b.clearStale(ctx)
	failures := 0
	for {
		wait := b.ensureSubs(ctx)
		if wait < 0 {
			failures++
			wait = work.Backoff(failures + 4) // 16 s and up
		} else {
			failures = 0
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case e := <-b.life:
			timer.Stop()
			b.lifecycle(ctx, e)
		case <-b.wakeS:
			timer.Stop()
		case <-timer.C:
		}
	}
}

// ensureSubs creates missing subscriptions and renews due ones; it
// returns when to look again, or a negative duration after a failure.
func (b *Bridge) ensureSubs(ctx context.Context) time.Duration {
	b.mu.Lock()
	all := b.allLocked()
	b.mu.Unlock()
	slices.Sort(all)
	var chunks [][]string
	for len(all) > 0 {
		n := min(len(all), maxIDs)
		chunks = append(chunks, all[:n])
		all = all[n:]
	}
	var polled []string
	var errs []error
	next := subRenew
	for i, chunk := range chunks {
		if i >= len(b.accounts) {
			polled = append(polled, chunk...)
			errs = append(errs, fmt.Errorf("%d users beyond the %d service accounts' capacity of 650 each", len(chunk), len(b.accounts)))
			continue
		}
		ac := b.accounts[i]
		s := b.subOf(ac)
		now := time.Now()
		switch {
		case s != nil && !slices.Equal(s.ids, chunk):
			// The users changed (a late resolve): replace it.
			_ = b.g.unsubscribe(ctx, ac, s.id)
			b.dropSub(s.id)
			s = nil
		case s != nil && now.Before(s.renewAt):
			next = min(next, s.renewAt.Sub(now))
			continue
		case s != nil:
			exp, err := b.g.renew(ctx, ac, s.id, now.Add(subLifetime))
			if err == nil {
				b.mu.Lock()
				s.expires, s.renewAt = exp, renewTime(now, exp)
				b.mu.Unlock()
				next = min(next, s.renewAt.Sub(now))
				continue
			}
			if status(err) != http.StatusNotFound && now.Before(s.expires) {
				errs = append(errs, err)
				continue // still alive: try again soon
			}
			b.dropSub(s.id)
			s = nil
		}
		if err := b.create(ctx, ac, chunk); err != nil {
			polled = append(polled, chunk...)
			errs = append(errs, err)
			continue
		}
	}
	b.mu.Lock()
	b.polled = polled
	b.subErr = errors.Join(errs...)
	b.mu.Unlock()
	if len(errs) > 0 {
		return -1
	}
	return next
}

func renewTime(now, exp time.Time) time.Time {
	if exp.IsZero() || exp.Sub(now) < 2*time.Minute {
		return now.Add(time.Minute)
	}
	return now.Add(min(subRenew, exp.Sub(now)/2))
}

func (b *Bridge) create(ctx context.Context, ac *account, ids []string) error {
	state, err := randomState()
	if err != nil {
		return err
	}
	// A notification may beat Graph's 201 here: it is known by its
	// clientState until the id arrives.
	s := &sub{account: ac, ids: ids, state: state}
	b.mu.Lock()
	b.creating[s] = struct{}{}
	b.mu.Unlock()
	now := time.Now()
	id, exp, err := b.g.subscribe(ctx, ac, ids, b.opt.NotificationURL, b.opt.NotificationURL, state, now.Add(subLifetime))
	b.mu.Lock()
	delete(b.creating, s)
	if err == nil {
		s.id, s.expires, s.renewAt = id, exp, renewTime(now, exp)
		b.subs[id] = s
	}
	b.mu.Unlock()
	if err != nil {
		return fmt.Errorf("subscribing for %d users as %s: %w", len(ids), ac.name, err)
	}
	b.log.Info("teams: subscribed to presence changes", "account", ac.name, "users", len(ids), "subscription", id, "expires", exp)
	// Anything that changed before the subscription existed.
	b.enqueue(ids...)
	return nil
}

// creatingWith is the subscription being created whose clientState is
// state, if any; b.mu is held.
func (b *Bridge) creatingWith(state string) *sub {
	for s := range b.creating {
		if subtle.ConstantTimeCompare([]byte(s.state), []byte(state)) == 1 {
			return s
		}
	}
	return nil
}

func randomState() (string, error) {
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("teams: clientState: %w", err)
	}
	return hex.EncodeToString(buf), nil
}

func (b *Bridge) subOf(ac *account) *sub {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range b.subs {
		if s.account == ac {
			return s
		}
	}
	return nil
}

func (b *Bridge) dropSub(id string) {
	b.mu.Lock()
	delete(b.subs, id)
	b.mu.Unlock()
}

// lifecycle answers Graph's lifecycle events (CLOUD-APIS.md 2.4).
func (b *Bridge) lifecycle(ctx context.Context, e lifecycle) {
	b.mu.Lock()
	s := b.subs[e.sub]
	b.mu.Unlock()
	if s == nil {
		return
	}
	b.log.Info("teams: lifecycle event", "event", e.event, "subscription", e.sub)
	switch e.event {
	case "reauthorizationRequired":
		if err := b.g.reauthorize(ctx, s.account, s.id); err != nil {
			b.log.Warn("teams: reauthorize failed; renewing instead", "err", err)
			b.mu.Lock()
			s.renewAt = time.Now()
			b.mu.Unlock()
		}
	case "subscriptionRemoved":
		b.dropSub(s.id) // ensureSubs creates it again
		b.enqueue(s.ids...)
	case "missed":
		b.enqueue(s.ids...)
	default:
		b.enqueue(s.ids...)
	}
}

// clearStale deletes the subscriptions a previous run of this gateway
// left behind (same notification URL), since Graph refuses a second one
// per account.
func (b *Bridge) clearStale(ctx context.Context) {
	for _, ac := range b.accounts {
		ids, err := b.g.listSubs(ctx, ac, b.opt.NotificationURL)
		if err != nil {
			b.log.Warn("teams: listing old subscriptions", "account", ac.name, "err", err)
			continue
		}
		for _, id := range ids {
			if err := b.g.unsubscribe(ctx, ac, id); err != nil {
				b.log.Warn("teams: deleting an old subscription", "account", ac.name, "subscription", id, "err", err)
			}
		}
	}
}

// unsubscribeAll deletes the live subscriptions on the way out, so that
// Graph stops calling and the next start can subscribe again.
func (b *Bridge) unsubscribeAll() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b.mu.Lock()
	subs := make([]*sub, 0, len(b.subs))
	for _, s := range b.subs {
		subs = append(subs, s)
	}
	b.subs = map[string]*sub{}
	b.mu.Unlock()
	for _, s := range subs {
		if err := b.g.unsubscribe(ctx, s.account, s.id); err != nil {
			b.log.Warn("teams: deleting a subscription on the way out", "subscription", s.id, "err", err)
		}
	}
}
