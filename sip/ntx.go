package sip

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	gosip "github.com/emiago/sipgo/sip"
)

// NOTIFYs are the only requests blfgw originates, and it runs their client
// transactions (RFC 3261 17.1.2, non-INVITE) itself instead of through
// sipgo's Client. sipgo keeps every client transaction in one map behind
// one lock and parks goroutines on each; at 10,000 watchers that lock held
// 99.5 % of all lock wait and capped delivery near 7,500 NOTIFY/s. Here a
// transaction is its wire bytes, one timer and an entry in a sharded table
// keyed by Via branch; the answer arrives through sipgo's handler for
// responses that match none of its own transactions.

// errNotifyTimeout is Timer F running out: the phone never answered.
var errNotifyTimeout = errors.New("no answer to NOTIFY within Timer F")

// notifyTx is one NOTIFY client transaction.
type notifyTx struct {
	sub       *subscription
	lane      *lane
	branch    string
	final     bool
	transport string // UDP, TCP, TLS, WS, WSS
	dest      string // host:port, as destination() chose it
	source    string // where the subscriber's requests come from
	msg       []byte // the request as sent, for retransmission

	// Where retransmissions go: a UDP socket and address on the fast path,
	// or a sipgo connection and request when sipgo had to resolve or dial.
	udp  *net.UDPConn
	addr netip.AddrPort
	conn gosip.Connection
	req  *gosip.Request

	mu       sync.Mutex
	timer    *time.Timer
	start    time.Time
	next     time.Time // next retransmission (unreliable transports only)
	interval time.Duration
	held     bool // still holds a slot of its lane
	done     bool
}

// reliable reports whether the transport delivers on its own, so the
// request is never retransmitted (RFC 3261 17.1.2.2).
func (tx *notifyTx) reliable() bool { return tx.transport != "UDP" }

// txTable holds the transactions awaiting a final response. Sharded so
// that sending, answering and timers on different NOTIFYs do not queue on
// one lock.
type txTable struct {
	shards [64]struct {
		mu sync.Mutex
		m  map[string]*notifyTx
	}
}

func newTxTable() *txTable {
	t := &txTable{}
	for i := range t.shards {
		t.shards[i].m = make(map[string]*notifyTx)
	}
	return t
}

func (t *txTable) shard(branch string) int {
	h := uint32(2166136261)
	for i := 0; i < len(branch); i++ {
		h = (h ^ uint32(branch[i])) * 16777619
	}
	return int(h % uint32(len(t.shards)))
}

func (t *txTable) put(tx *notifyTx) {
	sh := &t.shards[t.shard(tx.branch)]
	sh.mu.Lock()
	sh.m[tx.branch] = tx
	sh.mu.Unlock()
}

func (t *txTable) get(branch string) *notifyTx {
	sh := &t.shards[t.shard(branch)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.m[branch]
}

// take removes the transaction; only the caller that took it may finish
// it, so a response, Timer F and shutdown racing each other end it once.
func (t *txTable) take(branch string) *notifyTx {
	sh := &t.shards[t.shard(branch)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	tx := sh.m[branch]
	if tx != nil {
		delete(sh.m, branch)
	}
	return tx
}

func (t *txTable) takeAll() []*notifyTx {
	var out []*notifyTx
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for b, tx := range sh.m {
			out = append(out, tx)
			delete(sh.m, b)
		}
		sh.mu.Unlock()
	}
	return out
}

func (t *txTable) len() int {
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// brancher makes Via branches unique across restarts (random prefix) and
// within a run (counter).
type brancher struct {
	prefix string
	n      atomic.Uint64
}

func newBrancher() *brancher {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &brancher{prefix: gosip.RFC3261BranchMagicCookie + hex.EncodeToString(b[:]) + "."}
}

func (b *brancher) next() string {
	return b.prefix + strconv.FormatUint(b.n.Add(1), 36)
}

// start records the transaction, puts its first copy on the wire and arms
// its timer. The slot of tx.lane is already held.
func (n *notifier) start(ctx context.Context, tx *notifyTx) {
	tx.start = time.Now()
	tx.held = true
	tx.interval = gosip.T1
	tx.next = tx.start.Add(tx.interval)
	n.txs.put(tx)
	n.srv.stats.notifySent.Add(1)
	tx.mu.Lock()
	tx.timer = time.AfterFunc(tx.wake(tx.start), func() { n.tick(tx) })
	if udp, addr, ok := n.srv.fastPath(tx); ok && n.out == nil {
		tx.udp, tx.addr = udp, addr
		err := n.write(tx)
		tx.mu.Unlock()
		if err != nil {
			n.fail(tx, err)
		}
		return
	}
	tx.mu.Unlock()
	// sipgo resolves the name or finds (or dials) the connection; that can
	// take a while, so it runs beside the notifier, not in it.
	n.wg.Go(func() {
		c, req, err := n.dial(ctx, tx)
		tx.mu.Lock()
		switch {
		case err != nil:
		case tx.done:
			if c != nil {
				_, _ = c.TryClose()
			}
		default:
			tx.conn, tx.req = c, req
			err = n.write(tx)
		}
		tx.mu.Unlock()
		if err != nil {
			n.fail(tx, err)
		}
	})
}

// wake is how long until the transaction's next timer event: a
// retransmission, giving back its slot, or Timer F. Called with tx.mu held.
func (tx *notifyTx) wake(now time.Time) time.Duration {
	at := tx.start.Add(gosip.Timer_F)
	if slow := tx.start.Add(slowAfter); tx.held && slow.Before(at) {
		at = slow
	}
	if !tx.reliable() && tx.next.Before(at) {
		at = tx.next
	}
	return max(at.Sub(now), 0)
}

// tick handles the transaction's timer.
func (n *notifier) tick(tx *notifyTx) {
	now := time.Now()
	if now.Sub(tx.start) >= gosip.Timer_F {
		if n.txs.take(tx.branch) == tx {
			n.finish(tx, 408, errNotifyTimeout)
		}
		return
	}
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.done {
		return
	}
	if tx.held && now.Sub(tx.start) >= slowAfter {
		tx.held = false
		n.srv.stats.notifySlow.Add(1)
		<-tx.lane.slots
	}
	if !tx.reliable() && !now.Before(tx.next) && (tx.udp != nil || tx.conn != nil || n.out != nil) {
		_ = n.write(tx) // a failed retransmission is as good as a lost one
		n.srv.stats.notifyRetrans.Add(1)
		tx.interval = min(2*tx.interval, gosip.T2)
		tx.next = now.Add(tx.interval)
	}
	tx.timer.Reset(tx.wake(now))
}

// write puts the request on the wire. Called with tx.mu held.
func (n *notifier) write(tx *notifyTx) error {
	if n.out != nil {
		return n.out(tx)
	}
	if tx.udp != nil {
		_, err := tx.udp.WriteToUDPAddrPort(tx.msg, tx.addr)
		return err
	}
	return tx.conn.WriteMsg(tx.req)
}

// dial has sipgo find the connection for a request it must resolve or
// route itself. In tests (n.out set) there is nothing to dial.
func (n *notifier) dial(ctx context.Context, tx *notifyTx) (gosip.Connection, *gosip.Request, error) {
	if n.out != nil {
		return nil, nil, nil
	}
	msg, err := gosip.ParseMessage(tx.msg)
	if err != nil {
		return nil, nil, err
	}
	req, ok := msg.(*gosip.Request)
	if !ok {
		return nil, nil, errors.New("NOTIFY did not parse as a request")
	}
	req.SetTransport(tx.transport)
	req.SetDestination(tx.dest)
	if tx.transport == "UDP" {
		// Phones often accept NOTIFY only from the address they subscribed
		// to, so it must leave from the listening socket.
		if la, ok := n.srv.udpLaddr(tx.source); ok {
			req.Laddr = la
		}
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := n.srv.ua.TransportLayer().ClientRequestConnection(dctx, req)
	if err != nil {
		return nil, nil, err
	}
	return c, req, nil
}

// onResponse matches a response to its NOTIFY by branch (RFC 3261 17.1.3).
// Called by sipgo for every response that is not one of its own
// transactions.
func (n *notifier) onResponse(res *gosip.Response) {
	cseq, via := res.CSeq(), res.Via()
	if cseq == nil || via == nil || cseq.MethodName != gosip.NOTIFY {
		n.srv.log.Debug("response matches no transaction", "status", res.StatusCode, "cseq", header(res, "CSeq", ""), "via", header(res, "Via", "v"))
		return
	}
	branch, _ := via.Params.Get("branch")
	if res.IsProvisional() {
		// Proceeding: keep retransmitting, but only every T2.
		if tx := n.txs.get(branch); tx != nil {
			tx.mu.Lock()
			tx.interval = gosip.T2
			tx.mu.Unlock()
		}
		return
	}
	if tx := n.txs.take(branch); tx != nil {
		n.finish(tx, res.StatusCode, nil)
	}
	// Otherwise a retransmitted or late answer to a finished NOTIFY.
}

// fail ends a transaction whose request could not be sent at all.
func (n *notifier) fail(tx *notifyTx, err error) {
	if n.txs.take(tx.branch) == tx {
		n.finish(tx, 0, err)
	}
}

// stopTx ends the timer and gives back the slot; it reports false if the
// transaction had already been stopped.
func (n *notifier) stopTx(tx *notifyTx) bool {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.done {
		return false
	}
	tx.done = true
	if tx.timer != nil {
		tx.timer.Stop()
	}
	if tx.held {
		tx.held = false
		<-tx.lane.slots
	}
	if tx.conn != nil {
		// The reference ClientRequestConnection took, as sipgo's own
		// transactions give it back.
		_, _ = tx.conn.TryClose()
	}
	return true
}

// finish records the outcome of a NOTIFY the caller has taken from the
// table. code 0 means it could not be sent.
func (n *notifier) finish(tx *notifyTx, code int, err error) {
	if !n.stopTx(tx) {
		return
	}
	s, sub := n.srv, tx.sub
	if err != nil && s.stopped.Load() {
		// The sockets closed under it: no verdict on the phone, which is
		// notified again after the restart.
		sub.mu.Lock()
		sub.inflight = false
		sub.mu.Unlock()
		return
	}
	if err == nil {
		s.stats.notifyWaitUS.Add(time.Since(tx.start).Microseconds())
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
	if ended, why := sub.complete(code, tx.final); ended {
		s.drop(sub, why)
	}
}

// abort ends every open transaction at shutdown without a verdict: the
// subscriptions stay as persisted and are notified again after the restart.
func (n *notifier) abort() {
	for _, tx := range n.txs.takeAll() {
		if n.stopTx(tx) {
			tx.sub.mu.Lock()
			tx.sub.inflight = false
			tx.sub.mu.Unlock()
		}
	}
}

// fastPath picks the listening UDP socket and the address for a NOTIFY
// that can skip sipgo entirely: UDP to an IP address.
func (s *Server) fastPath(tx *notifyTx) (*net.UDPConn, netip.AddrPort, bool) {
	if tx.transport != "UDP" {
		return nil, netip.AddrPort{}, false
	}
	ap, err := netip.ParseAddrPort(tx.dest)
	if err != nil {
		return nil, netip.AddrPort{}, false
	}
	network := "udp4"
	if ap.Addr().Is6() && !ap.Addr().Is4In6() {
		network = "udp6"
	}
	s.mu.Lock()
	c := s.udpConn[network]
	s.mu.Unlock()
	return c, ap, c != nil
}
