package fakegraph

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
)

const (
	maxBatch   = 100  // notifications per POST
	maxPending = 1000 // per subscription; beyond this the oldest are dropped
)

// Deliveries counts the fake's outgoing requests, for assertions and the
// benchmark.
type Deliveries struct {
	Delivered          int // change notifications answered 2xx in time
	Failed             int // change notifications given up after MaxAttempts
	Dropped            int // change notifications discarded from a full queue
	Posts              int // POSTs of change notifications, retries included
	Retries            int // POSTs after the first of a batch
	LifecycleDelivered int // lifecycle notifications answered 2xx in time
	LifecycleFailed    int // lifecycle notifications given up
	Validations        int // validation handshakes attempted
	ValidationsFailed  int // validation handshakes that failed
}

// Deliveries returns the delivery counters.
func (s *Server) Deliveries() Deliveries {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deliveries
}

type resourceData struct {
	OdataID   string `json:"@odata.id"`
	OdataType string `json:"@odata.type"`
	ID        string `json:"id"`
}

// changeNotification is a basic (no resource data) presence notification.
// Ids are GUIDs because the SDK's parser rejects anything else.
type changeNotification struct {
	SubscriptionID                 string       `json:"subscriptionId"`
	ClientState                    *string      `json:"clientState"`
	ChangeType                     string       `json:"changeType"`
	TenantID                       string       `json:"tenantId"`
	Resource                       string       `json:"resource"`
	SubscriptionExpirationDateTime string       `json:"subscriptionExpirationDateTime"`
	ResourceData                   resourceData `json:"resourceData"`
	OrganizationID                 string       `json:"organizationId"`
}

type lifecycleNotification struct {
	SubscriptionID                 string  `json:"subscriptionId"`
	SubscriptionExpirationDateTime string  `json:"subscriptionExpirationDateTime"`
	TenantID                       string  `json:"tenantId"`
	ClientState                    *string `json:"clientState"`
	LifecycleEvent                 string  `json:"lifecycleEvent"`
}

// notifier is one subscription's delivery queue and the goroutine draining
// it, so a slow receiver delays only its own subscription.
type notifier struct {
	s      *Server
	subID  string
	ctx    context.Context
	cancel context.CancelFunc
	signal chan struct{} // capacity 1: "the queue is not empty"

	mu      sync.Mutex
	url     string
	pending [][]byte // encoded changeNotification values
}

// startNotifierLocked starts a subscription's worker. The caller has
// checked that the server is not closed.
func (s *Server) startNotifierLocked(subID, url string) *notifier {
	n := &notifier{s: s, subID: subID, url: url, signal: make(chan struct{}, 1)}
	n.ctx, n.cancel = context.WithCancel(s.ctx)
	s.wg.Go(n.run)
	return n
}

func (n *notifier) stop() { n.cancel() }

func (n *notifier) setURL(u string) {
	n.mu.Lock()
	n.url = u
	n.mu.Unlock()
}

// enqueueLocked queues one notification; s.mu is held by the caller.
func (n *notifier) enqueueLocked(b []byte) {
	n.mu.Lock()
	if len(n.pending) >= maxPending {
		n.pending = n.pending[1:]
		n.s.deliveries.Dropped++
	}
	n.pending = append(n.pending, b)
	n.mu.Unlock()
	select {
	case n.signal <- struct{}{}:
	default:
	}
}

func (n *notifier) take() (string, [][]byte) {
	n.mu.Lock()
	defer n.mu.Unlock()
	k := min(len(n.pending), maxBatch)
	batch := n.pending[:k:k]
	n.pending = n.pending[k:]
	return n.url, batch
}

func (n *notifier) run() {
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.signal:
		}
		for {
			url, batch := n.take()
			if len(batch) == 0 {
				break
			}
			body := append([]byte(`{"value":[`), bytes.Join(batch, []byte(","))...)
			body = append(body, "]}"...)
			err := n.s.post(n.ctx, url, body, true)
			if n.ctx.Err() != nil {
				return // the subscription went away; its queue with it
			}
			n.s.mu.Lock()
			if err != nil {
				n.s.deliveries.Failed += len(batch)
			} else {
				n.s.deliveries.Delivered += len(batch)
			}
			n.s.mu.Unlock()
			if err != nil {
				n.s.log.Warn("notification not delivered", "subscription", n.subID, "url", url, "count", len(batch), "err", err)
			}
		}
	}
}

// notifyLocked queues a change notification of u for every live
// subscription covering u.
func (s *Server) notifyLocked(u *user, now time.Time) {
	if s.closed {
		return
	}
	for _, sub := range s.subs {
		if !sub.ids[u.ID] || !now.Before(sub.expires) {
			continue
		}
		b, err := json.Marshal(changeNotification{
			SubscriptionID:                 sub.id,
			ClientState:                    sub.clientState,
			ChangeType:                     "updated",
			TenantID:                       s.opt.Tenant,
			Resource:                       "communications/presences/" + u.ID,
			SubscriptionExpirationDateTime: graphTime(sub.expires),
			ResourceData: resourceData{
				OdataID:   "users/" + u.ID + "/presence",
				OdataType: "#microsoft.graph.presence",
				ID:        u.ID,
			},
			OrganizationID: s.opt.Tenant,
		})
		if err != nil {
			s.log.Error("encoding notification", "err", err)
			continue
		}
		sub.notifier.enqueueLocked(b)
	}
}

// post delivers body to url: 2xx within DeliveryTimeout counts as
// delivered; anything else is retried after RetryDelay, doubling, up to
// MaxAttempts in all. It returns the last failure.
func (s *Server) post(ctx context.Context, url string, body []byte, change bool) error {
	var err error
	delay := s.opt.RetryDelay
	for attempt := 1; ; attempt++ {
		err = s.postOnce(ctx, url, body)
		if change {
			s.mu.Lock()
			s.deliveries.Posts++
			if attempt > 1 {
				s.deliveries.Retries++
			}
			s.mu.Unlock()
		}
		if err == nil || attempt >= s.opt.MaxAttempts || ctx.Err() != nil {
			return err
		}
		s.log.Debug("delivery failed, retrying", "url", url, "attempt", attempt, "in", delay, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (then: %w)", err, ctx.Err())
		case <-t.C:
		}
		delay *= 2
	}
}

func (s *Server) postOnce(ctx context.Context, url string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, s.opt.DeliveryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("post %s: %w", url, err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("post %s: no 2xx within %s: %w", url, s.opt.DeliveryTimeout, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("post %s: answered %d", url, resp.StatusCode)
	}
	return nil
}

var eventName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]{0,63}$`)

// Lifecycle events Graph sends.
const (
	EventReauthorizationRequired = "reauthorizationRequired"
	EventSubscriptionRemoved     = "subscriptionRemoved"
	EventMissed                  = "missed"
)

// Lifecycle sends a lifecycle notification for a subscription to its
// lifecycleNotificationUrl and returns when it was delivered or given up.
// subscriptionRemoved deletes the subscription first, so a receiver that
// re-creates it at once does not meet a 409; reauthorizationRequired marks
// it until a reauthorize or renewal. Other event names are sent as they are,
// so tests can check that receivers tolerate values they do not know.
func (s *Server) Lifecycle(subID, event string) error {
	if !eventName.MatchString(event) {
		return fmt.Errorf("lifecycle %s: invalid event name %q", subID, event)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("lifecycle %s: %w", subID, ErrClosed)
	}
	s.sweepLocked(s.now())
	sub := s.subs[strings.ToLower(subID)]
	if sub == nil {
		s.mu.Unlock()
		return fmt.Errorf("lifecycle %s: %w", subID, ErrUnknownSubscription)
	}
	b, err := json.Marshal(map[string][]lifecycleNotification{"value": {{
		SubscriptionID:                 sub.id,
		SubscriptionExpirationDateTime: graphTime(sub.expires),
		TenantID:                       s.opt.Tenant,
		ClientState:                    sub.clientState,
		LifecycleEvent:                 event,
	}}})
	url := sub.lifecycle
	switch event {
	case EventSubscriptionRemoved:
		s.removeSubscriptionLocked(sub.id, "subscriptionRemoved lifecycle event")
	case EventReauthorizationRequired:
		sub.needsReauth = true
	}
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("lifecycle %s: encoding: %w", subID, err)
	}
	if url == "" {
		return fmt.Errorf("lifecycle %s %s: %w", subID, event, ErrNoLifecycleURL)
	}
	err = s.post(s.ctx, url, b, false)
	s.mu.Lock()
	if err != nil {
		s.deliveries.LifecycleFailed++
	} else {
		s.deliveries.LifecycleDelivered++
	}
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("lifecycle %s %s: %w", subID, event, err)
	}
	return nil
}
