package sip

import (
	"context"
	"errors"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	gosip "github.com/emiago/sipgo/sip"
)

// notifier sends NOTIFYs for queued subscriptions with bounded concurrency.
// Each queued subscription is sent its latest state once; a subscription
// has at most one NOTIFY in flight, so a burst of changes becomes one
// NOTIFY.
//
// Unreachable phones must not stall everybody else's lamps (a UDP NOTIFY
// to a dead phone waits 32 s for Timer F). Two things keep them apart: a
// NOTIFY unanswered after slowAfter gives its slot back and finishes in
// the background, and a subscription whose last NOTIFY failed goes through
// a small lane of its own until it answers again.
type notifier struct {
	srv     *Server
	healthy *lane
	suspect *lane
	writers chan struct{} // NOTIFYs being written to a socket
	wg      sync.WaitGroup
}

// lane is a queue with its own in-flight slots.
type lane struct {
	mu    sync.Mutex
	queue []*subscription
	kick  chan struct{}
	slots chan struct{}
}

// slowAfter is how long a NOTIFY may hold a slot: a phone that answers at
// all answers long before its second retransmission (T1 = 500 ms).
const slowAfter = time.Second

func newLane(slots int) *lane {
	return &lane{kick: make(chan struct{}, 1), slots: make(chan struct{}, slots)}
}

func newNotifier(s *Server, inflight int) *notifier {
	return &notifier{
		srv:     s,
		healthy: newLane(inflight),
		suspect: newLane(max(inflight/64, 16)),
		writers: make(chan struct{}, 2*runtime.GOMAXPROCS(0)),
	}
}

// enqueue is called with sub.mu held.
func (n *notifier) enqueue(sub *subscription) {
	l := n.healthy
	if sub.fails > 0 {
		l = n.suspect
	}
	l.mu.Lock()
	l.queue = append(l.queue, sub)
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

func (n *notifier) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { n.drain(ctx, n.healthy) })
	wg.Go(func() { n.drain(ctx, n.suspect) })
	wg.Wait()
}

func (n *notifier) drain(ctx context.Context, l *lane) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.kick:
		}
		for {
			l.mu.Lock()
			batch := l.queue
			l.queue = nil
			l.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			for _, sub := range batch {
				select {
				case l.slots <- struct{}{}:
				case <-ctx.Done():
					return
				}
				n.wg.Go(func() {
					var once sync.Once
					release := func() { once.Do(func() { <-l.slots }) }
					slow := time.AfterFunc(slowAfter, func() {
						n.srv.stats.notifySlow.Add(1)
						release()
					})
					n.send(ctx, sub)
					slow.Stop()
					release()
				})
			}
		}
	}
}

func (n *notifier) wait() { n.wg.Wait() }

func (n *notifier) send(ctx context.Context, sub *subscription) {
	req, final := sub.prepare(time.Now())
	if req == nil {
		return
	}
	s := n.srv
	code := 0
	s.stats.notifySent.Add(1)
	res, err := n.do(ctx, req)
	switch {
	case err == nil:
		code = res.StatusCode
	case ctx.Err() != nil:
		// Shutting down: the subscription stays as persisted.
		sub.mu.Lock()
		sub.inflight = false
		sub.mu.Unlock()
		return
	case errors.Is(err, gosip.ErrTransactionTimeout):
		code = 408
	}
	if code >= 200 && code < 300 {
		s.stats.notifyOK.Add(1)
	} else {
		s.stats.notifyFailed.Add(1)
	}
	if err != nil {
		s.log.Debug("NOTIFY failed", "entity", sub.entity, "watcher", sub.watcher, "call_id", sub.callID, "err", err)
	} else if code >= 300 {
		s.log.Debug("NOTIFY refused", "entity", sub.entity, "watcher", sub.watcher, "call_id", sub.callID, "code", code)
	}
	if ended, why := sub.complete(code, final); ended {
		s.drop(sub, why)
	}
}

// do is Client.Do with the write to the socket bounded by the writer
// slots: thousands of goroutines writing to the one UDP socket at once form
// a lock convoy that starves the read loop of the 200s they wait for, while
// waiting for an answer costs nothing but a parked goroutine.
func (n *notifier) do(ctx context.Context, req *gosip.Request) (*gosip.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err // stopping: send nothing more
	}
	select {
	case n.writers <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	tx, err := n.srv.cli.TransactionRequest(ctx, req)
	<-n.writers
	if err != nil {
		return nil, err
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			return res, nil
		case <-tx.Done():
			return nil, tx.Err()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// drop forgets a subscription that has ended.
func (s *Server) drop(sub *subscription, why string) {
	sub.mu.Lock()
	sub.gone = true
	unwatch := sub.unwatch
	sub.mu.Unlock()
	if unwatch != nil {
		unwatch()
	}
	if s.subs.remove(sub) {
		s.persist.deleted(sub.key)
		s.log.Debug("subscription ended", "entity", sub.entity, "watcher", sub.watcher, "call_id", sub.callID, "why", why)
	}
}

// buildNotify makes the in-dialog NOTIFY (SIPGO-NOTES.md 1.7). Called with
// sub.mu held.
func (s *Server) buildNotify(sub *subscription, state string, body []byte) *gosip.Request {
	req := gosip.NewRequest(gosip.NOTIFY, *sub.target.Clone())
	from := sub.from
	from.Params = from.Params.Clone()
	to := sub.to
	to.Params = to.Params.Clone()
	req.AppendHeader(&from)
	req.AppendHeader(&to)
	cid := gosip.CallIDHeader(sub.callID)
	req.AppendHeader(&cid)
	req.AppendHeader(&gosip.CSeqHeader{SeqNo: sub.cseq, MethodName: gosip.NOTIFY})
	for _, r := range sub.routes {
		req.AppendHeader(gosip.NewHeader("Route", r))
	}
	req.AppendHeader(&gosip.ContactHeader{Address: s.contact(sub.transport, sub.entity)})
	req.AppendHeader(gosip.NewHeader("Event", sub.ev.raw))
	req.AppendHeader(gosip.NewHeader("Subscription-State", state))
	req.AppendHeader(gosip.NewHeader("Content-Type", sub.format.contentType()))
	req.SetBody(body)
	req.SetTransport(sub.transport)
	req.SetDestination(s.destination(sub))
	if sub.transport == "UDP" {
		// Phones often accept NOTIFY only from the address they subscribed
		// to, so it must leave from the listening socket, also for
		// subscriptions restored after a restart.
		if la, ok := s.udpLaddr(sub.source); ok {
			req.Laddr = la
		}
	}
	return req
}

// destination picks where a NOTIFY goes. Called with sub.mu held.
func (s *Server) destination(sub *subscription) string {
	if sub.transport != "UDP" {
		// Reuse the subscriber's own connection while it lives; a WebSocket
		// Contact (*.invalid) cannot be reached any other way.
		if c, err := s.ua.TransportLayer().GetConnection(netLower(sub.transport), sub.source); err == nil {
			c.TryClose()
			return sub.source
		}
	}
	if len(sub.routes) > 0 {
		var u gosip.Uri
		r := sub.routes[0]
		if i, j := strings.IndexByte(r, '<'), strings.IndexByte(r, '>'); i >= 0 && j > i {
			r = r[i+1 : j]
		}
		if err := gosip.ParseUri(r, &u); err == nil {
			return hostPort(u, sub.transport)
		}
	}
	if sub.transport != "UDP" {
		return hostPort(sub.target, sub.transport)
	}
	// UDP: the Contact, unless the phone is behind NAT (its Contact names
	// another address than the one its request came from).
	if ip := net.ParseIP(sub.target.Host); ip != nil && hostOf(sub.source) == ip.String() {
		return hostPort(sub.target, sub.transport)
	}
	return sub.source
}

func hostPort(u gosip.Uri, transport string) string {
	port := u.Port
	if port == 0 {
		port = int(gosip.DefaultPort(transport))
	}
	return net.JoinHostPort(u.Host, strconv.Itoa(port))
}
