package sip

import (
	"context"
	"net"
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
	srv      *Server
	healthy  *lane
	suspect  *lane
	txs      *txTable
	branches *brancher
	// out replaces the network in tests: it gets every copy of every
	// NOTIFY put on the wire.
	out func(tx *notifyTx) error
	wg  sync.WaitGroup
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
		srv:      s,
		healthy:  newLane(inflight),
		suspect:  newLane(max(inflight/64, 16)),
		txs:      newTxTable(),
		branches: newBrancher(),
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

// drain sends the lane's queue. Writing a UDP datagram takes microseconds,
// so one goroutine per lane puts every NOTIFY on the wire; thousands of
// goroutines writing to the one socket at once only formed a lock convoy
// that starved the read loop of the answers.
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
				tx := sub.prepare(time.Now(), n.branches.next())
				if tx == nil {
					<-l.slots
					continue
				}
				tx.lane = l
				n.start(ctx, tx)
			}
		}
	}
}

// wait returns once nothing is sent any more; NOTIFYs still unanswered are
// abandoned and go again after the restart.
func (n *notifier) wait() {
	n.wg.Wait()
	n.abort()
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
	if sub.list != nil {
		sub.unwatchList()
	}
	if s.subs.remove(sub) {
		s.persist.deleted(sub.key)
		s.log.Debug("subscription ended", "entity", sub.entity, "watcher", sub.watcher, "call_id", sub.callID, "why", why)
	}
}

// appendNotify writes the in-dialog NOTIFY (RFC 6665 4.2.2, SIPGO-NOTES.md
// 1.7) straight into its wire form: sipgo's header objects cost more than
// the rest of the send, and keeping a prebuilt head per subscription costs
// more memory than building it each time. Called with sub.mu held.
func (s *Server) appendNotify(b []byte, sub *subscription, branch, state string, body []byte) []byte {
	sentBy, contact := s.local(sub.transport)
	b = append(b, "NOTIFY "...)
	b = append(b, sub.targetRaw...)
	b = append(b, " SIP/2.0\r\nVia: SIP/2.0/"...)
	b = append(b, sub.transport...)
	b = append(b, ' ')
	b = append(b, sentBy...)
	b = append(b, ";rport;branch="...)
	b = append(b, branch...)
	b = append(b, "\r\nMax-Forwards: 70\r\nFrom: "...)
	b = append(b, sub.peerTo...)
	b = append(b, ";tag="...)
	b = append(b, sub.ourTag...)
	b = append(b, "\r\nTo: "...)
	b = append(b, sub.peerFrom...)
	b = append(b, "\r\nCall-ID: "...)
	b = append(b, sub.callID...)
	b = append(b, "\r\nCSeq: "...)
	b = strconv.AppendUint(b, uint64(sub.cseq), 10)
	b = append(b, " NOTIFY\r\n"...)
	for _, r := range sub.routes {
		b = append(b, "Route: "...)
		b = append(b, r...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "Contact: <sip:"...)
	b = append(b, sub.contact()...)
	b = append(b, '@')
	b = append(b, contact...)
	b = append(b, ">\r\nEvent: "...)
	b = append(b, sub.ev.raw...)
	b = append(b, "\r\nSubscription-State: "...)
	b = append(b, state...)
	b = append(b, "\r\nContent-Type: "...)
	if sub.list != nil {
		b = append(b, s.listContentType()...)
		b = append(b, "\r\nRequire: eventlist"...)
	} else {
		b = append(b, sub.format.contentType()...)
	}
	b = append(b, "\r\nUser-Agent: blfgw\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	return append(b, body...)
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
			return hostPort(u.Host, u.Port, sub.transport)
		}
	}
	if sub.transport != "UDP" {
		return hostPort(sub.targetHost, sub.targetPort, sub.transport)
	}
	// UDP: the Contact, unless the phone is behind NAT (its Contact names
	// another address than the one its request came from).
	if ip := net.ParseIP(sub.targetHost); ip != nil && hostOf(sub.source) == ip.String() {
		return hostPort(sub.targetHost, sub.targetPort, sub.transport)
	}
	return sub.source
}

func hostPort(host string, port int, transport string) string {
	if port == 0 {
		port = int(gosip.DefaultPort(transport))
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}
