package sip

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"

	"github.com/blfgw/blfgw/dialog"
	"github.com/blfgw/blfgw/presence"
)

// ProxyOptions turn the server into the phones' record-routing stateful
// proxy (edge-proxy mode; needs Registrar too). Calls between registered
// extensions go straight to their phones; the rest go upstream.
type ProxyOptions struct {
	Upstream          string        // SIP URI of the PBX; "" = none (a standalone office)
	UnknownToUpstream bool          // numbers not registered here go upstream
	MaxCall           time.Duration // a call that never saw its BYE is ended after this
	Keepalive         time.Duration // in-dialog OPTIONS to both phones of a call; 0 = off
	PickupPrefix      string        // dialled before an extension to pick up its ringing call
	Calls             *dialog.Calls // where the calls' state goes
	Store             CallStore     // answered calls, kept across restarts; may be nil
}

// timerC bounds how long a branch may ring without a final answer (RFC
// 3261 16.6 step 11: more than three minutes).
const timerC = 181 * time.Second

// proxy forwards calls. Transactions are sipgo's (server and client);
// what it adds is forking, CANCEL, the choice of the best final response,
// and following every call into dialog.Calls.
type proxy struct {
	s        *Server
	opt      ProxyOptions
	client   *sipgo.Client
	upstream *gosip.Uri
	ctx      context.Context // the server's run context, for background work

	mu      sync.Mutex
	ringing map[string]*invite  // unanswered initial INVITEs, by Call-ID and From tag
	dialogs map[string]*pdialog // answered calls, by Call-ID and From tag

	strays   sync.Map     // Via branch -> chan *gosip.Response, for answers sipgo could not match
	relaying atomic.Int64 // requests being relayed
	clientTx atomic.Int64 // client transactions open
	bg       sync.WaitGroup
	probes   chan struct{} // bounds keepalive probes in flight
	saves    chan callOp
}

func newProxy(s *Server, opt ProxyOptions) (*proxy, error) {
	if opt.Calls == nil {
		return nil, fmt.Errorf("sip: Proxy needs Calls")
	}
	if opt.PickupPrefix == "" {
		opt.PickupPrefix = "**"
	}
	if opt.MaxCall <= 0 {
		opt.MaxCall = 4 * time.Hour
	}
	p := &proxy{
		s:       s,
		opt:     opt,
		ctx:     context.Background(),
		ringing: map[string]*invite{},
		dialogs: map[string]*pdialog{},
		probes:  make(chan struct{}, 64),
		saves:   make(chan callOp, 4096),
	}
	if opt.Upstream != "" {
		var u gosip.Uri
		if err := gosip.ParseUri(opt.Upstream, &u); err != nil {
			return nil, fmt.Errorf("sip: proxy upstream %q: %w", opt.Upstream, err)
		}
		p.upstream = &u
	}
	c, err := sipgo.NewClient(s.ua, sipgo.WithClientHostname(s.opt.Domain))
	if err != nil {
		return nil, fmt.Errorf("sip: proxy client: %w", err)
	}
	p.client = c
	return p, nil
}

func callKey(callID, fromTag string) string { return callID + "\x00" + fromTag }

// keep is a client option that changes nothing: passing any option stops
// sipgo from "completing" a request the proxy built exactly as it wants.
func keep(*sipgo.Client, *gosip.Request) error { return nil }

// onProxy handles every method the proxy relays.
func (s *Server) onProxy(req *gosip.Request, tx gosip.ServerTransaction) error {
	if s.px == nil {
		if req.Method == gosip.ACK {
			return nil
		}
		return fail(405, "Method Not Allowed here: blfgw relays calls only in edge-proxy mode", s.allowHeader())
	}
	return s.px.route(req, tx)
}

// forUs reports whether an OPTIONS (or another request we answer
// ourselves) is addressed to this server rather than through it.
func (p *proxy) forUs(req *gosip.Request) bool {
	routes := p.popOurs(values(req, "Route"))
	if len(routes) > 0 {
		return false
	}
	if req.Recipient.User == "" {
		return true
	}
	_, ext := p.s.opt.Directory.Account(req.Recipient.User)
	return !ext && p.s.ourDomain(req.Recipient) && !strings.HasPrefix(req.Recipient.User, p.opt.PickupPrefix)
}

// popOurs drops the Route entries at the top that name us (RFC 3261 16.4).
func (p *proxy) popOurs(routes []string) []string {
	for len(routes) > 0 {
		u, ok := uriOf(routes[0])
		if !ok || !p.s.ours(u) {
			break
		}
		routes = routes[1:]
	}
	return routes
}

func (p *proxy) route(req *gosip.Request, tx gosip.ServerTransaction) error {
	p.relaying.Add(1)
	defer p.relaying.Add(-1)
	if mf := req.MaxForwards(); mf != nil && mf.Val() == 0 {
		if req.Method == gosip.ACK {
			return nil
		}
		return fail(483, "Too Many Hops (Max-Forwards is 0)")
	}
	if req.CallID() == nil || req.From() == nil || req.To() == nil || req.CSeq() == nil {
		if req.Method == gosip.ACK {
			return nil
		}
		return fail(400, "Missing Call-ID, From, To or CSeq")
	}
	routes := p.popOurs(values(req, "Route"))
	if req.Method == gosip.CANCEL {
		// sipgo answers a CANCEL that matches a pending INVITE itself; this
		// one matched nothing.
		return fail(481, "Call/Transaction Does Not Exist (nothing to cancel)")
	}
	if tag, _ := req.To().Params.Get("tag"); tag != "" {
		return p.inDialog(req, tx, routes)
	}
	if req.Method == gosip.ACK {
		return nil // the ACK of a non-2xx answer we sent: sipgo absorbed its transaction
	}
	return p.initial(req, tx, routes)
}

// initial relays a request that starts something: a call, a MESSAGE, an
// OPTIONS to an extension.
func (p *proxy) initial(req *gosip.Request, tx gosip.ServerTransaction, routes []string) error {
	caller, serr := p.authorize(req)
	if serr != nil {
		return serr
	}
	if req.Method == gosip.INVITE {
		if err := checkBody(req); err != nil {
			return err
		}
	}
	hash := loopHash(req)
	if p.s.looped(req, hash) {
		return fail(482, "Loop Detected (this request has been here before)")
	}
	var targets []target
	if len(routes) > 0 {
		t, ok := p.hop(req, routes)
		if !ok {
			return fail(400, "Unusable Route header")
		}
		targets = []target{t}
	} else {
		if req.Method == gosip.INVITE {
			if done, err := p.pickup(req, tx, caller); done {
				return err
			}
		}
		var err *StatusError
		targets, err = p.locate(req.Recipient)
		if err != nil {
			return err
		}
	}
	return p.relay(req, tx, relay{targets: targets, caller: caller, hash: hash, recordRoute: recordRouted(req.Method)})
}

func recordRouted(m gosip.RequestMethod) bool {
	return m == gosip.INVITE || m == gosip.SUBSCRIBE || m == gosip.REFER
}

// authorize decides whether a source may place calls through us and, if
// it is one of our extensions, which: trusted networks and the upstream
// PBX are believed, a phone is known by the address it registered from,
// anyone else must answer a proxy challenge.
func (p *proxy) authorize(req *gosip.Request) (string, *StatusError) {
	src := req.Source()
	fromUser := req.From().Address.User
	if p.s.trusted(src) || p.fromUpstream(src) {
		if a, ok := p.s.opt.Directory.Account(fromUser); ok {
			return a.Number, nil
		}
		return "", nil
	}
	if aor := p.s.reg.aorOf(src, fromUser); aor != "" {
		return aor, nil
	}
	if req.GetHeader("Proxy-Authorization") == nil {
		return "", p.s.auth.proxyChallenge(false, "Proxy Authentication Required: "+src+" is not registered here")
	}
	return p.s.authenticateProxy(req)
}

func (p *proxy) fromUpstream(src string) bool {
	if p.upstream == nil {
		return false
	}
	return strings.EqualFold(hostOf(src), strings.Trim(p.upstream.Host, "[]"))
}

// locate finds where a Request-URI goes: every registered contact of a
// local extension, or the upstream PBX.
func (p *proxy) locate(u gosip.Uri) ([]target, *StatusError) {
	if acct, ok := p.s.opt.Directory.Account(u.User); ok {
		bs := p.s.Bindings(acct.Number)
		var ts []target
		for _, b := range bs {
			c, ok := uriOf(b.Contact)
			if !ok {
				continue
			}
			t := target{uri: c, route: b.Path, callee: acct.Number, device: c.String()}
			t.dest, t.transport = p.s.flowTo(b, c)
			if len(b.Path) > 0 {
				if pu, ok := uriOf(b.Path[0]); ok {
					t.transport = uriTransport(pu, "UDP")
					t.dest = hostPort(strings.Trim(pu.Host, "[]"), pu.Port, t.transport)
				}
			}
			ts = append(ts, t)
		}
		if len(ts) == 0 {
			return nil, fail(480, "Temporarily Unavailable: extension "+acct.Number+" is not registered")
		}
		return ts, nil
	}
	if p.upstream != nil && (p.opt.UnknownToUpstream || !p.s.ourDomain(u)) {
		up := *p.upstream
		tp := uriTransport(up, "UDP")
		return []target{{uri: u, dest: hostPort(strings.Trim(up.Host, "[]"), up.Port, tp), transport: tp}}, nil
	}
	if u.User == "" {
		return nil, fail(404, "Not Found: no user in the Request-URI")
	}
	return nil, fail(404, "Not Found: no extension "+u.User+" here")
}

// hop is where a request with a route set goes next: its first Route, or
// its Request-URI; to the flow a registered phone uses, if it is one.
func (p *proxy) hop(req *gosip.Request, routes []string) (target, bool) {
	next := req.Recipient
	if len(routes) > 0 {
		u, ok := uriOf(routes[0])
		if !ok {
			return target{}, false
		}
		next = u
	}
	t := target{uri: *req.Recipient.Clone(), route: routes}
	if b, ok := p.s.reg.byContactURI(next); ok {
		t.dest, t.transport = p.s.flowTo(b, next)
		return t, true
	}
	// No transport parameter: the way the request came in.
	t.transport = uriTransport(next, transportName(req.Transport()))
	t.dest = hostPort(strings.Trim(next.Host, "[]"), next.Port, t.transport)
	return t, true
}

// relay is one request to forward and where.
type relay struct {
	targets     []target
	caller      string // the local extension placing it, if any
	hash        string // loop hash for our Via branch
	recordRoute bool
	inDialog    bool
	pickup      *pickup // set when this INVITE picks up a ringing call
}

// fork is one branch of a relayed request.
type fork struct {
	t      target
	req    *gosip.Request // as sent
	tx     gosip.ClientTransaction
	key    string // its Via branch; names the branch in dialog.Calls
	heard  bool   // a provisional arrived, so a CANCEL may be sent (RFC 3261 9.1)
	cancel bool   // to be cancelled as soon as it may be
	sent   bool   // the CANCEL went out
	final  int
	failed *gosip.Response      // our own answer for a branch that could not be sent
	late   chan *gosip.Response // a final answer that lost the race with its connection's close
}

type forkEvent struct {
	f       *fork
	res     *gosip.Response // nil: the transaction ended
	retrans bool
}

// invite is an initial INVITE being relayed; pickups find it here.
type invite struct {
	req     *gosip.Request
	caller  string
	mu      sync.Mutex
	stop    chan struct{} // closed to cancel every branch (a pickup took the call)
	started time.Time
	once    sync.Once
	toTag   string // the first ringing branch's To tag
	callee  string
}

func (iv *invite) cancelAll() { iv.once.Do(func() { close(iv.stop) }) }

// relay forwards a request to its targets and the best answer back
// (RFC 3261 16.6 and 16.7).
func (p *proxy) relay(req *gosip.Request, tx gosip.ServerTransaction, r relay) error {
	isInvite := req.Method == gosip.INVITE
	initialInvite := isInvite && !r.inDialog
	stampVia(req)
	if isInvite {
		_ = tx.Respond(gosip.NewResponseFromRequest(req, 100, "Trying", nil))
	}
	callID, fromTag := req.CallID().Value(), tagOf(req.From())
	var iv *invite
	if initialInvite {
		iv = &invite{req: req, caller: r.caller, stop: make(chan struct{}), started: time.Now()}
		if len(r.targets) > 0 {
			iv.callee = r.targets[0].callee
		}
		p.mu.Lock()
		p.ringing[callKey(callID, fromTag)] = iv
		p.mu.Unlock()
	}
	// A call stops ringing when the caller has its final answer, though its
	// transactions live on (Timer M, D): pickups must not find it.
	unring := func() {
		if iv == nil {
			return
		}
		p.mu.Lock()
		if p.ringing[callKey(callID, fromTag)] == iv {
			delete(p.ringing, callKey(callID, fromTag))
		}
		p.mu.Unlock()
	}
	defer unring()
	cancelled := make(chan struct{})
	if isInvite {
		var once sync.Once
		tx.OnCancel(func(*gosip.Request) { once.Do(func() { close(cancelled) }) })
	}

	events := make(chan forkEvent, 16)
	var forks []*fork
	var pumps sync.WaitGroup
	inTp := transportName(req.Transport())
	for _, t := range r.targets {
		out := req.Clone()
		out.Recipient = *t.uri.Clone()
		setRoutes(out, t.route)
		if mf := out.MaxForwards(); mf != nil {
			mf.Dec()
		} else {
			out.AppendHeader(gosip.NewHeader("Max-Forwards", "70"))
		}
		if r.recordRoute {
			out.PrependHeader(gosip.NewHeader("Record-Route", p.s.recordRoute(inTp)))
			if t.transport != inTp {
				out.PrependHeader(gosip.NewHeader("Record-Route", p.s.recordRoute(t.transport)))
			}
		}
		via := p.s.newVia(t.transport, r.hash)
		out.PrependHeader(via)
		out.SetTransport(t.transport)
		out.SetDestination(t.dest)
		if t.transport == "UDP" {
			if la, ok := p.s.udpLaddr(t.dest); ok {
				out.Laddr = la
			}
		}
		f := &fork{t: t, req: out, late: make(chan *gosip.Response, 1)}
		f.key, _ = via.Params.Get("branch")
		p.strays.Store(f.key, f.late)
		defer p.strays.Delete(f.key)
		dctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
		cl, err := p.client.TransactionRequest(dctx, out, keep)
		cancel()
		if err != nil {
			p.s.log.Debug("relay: send failed", "dest", t.dest, "err", err)
			f.final = 503
			f.failed = gosip.NewResponseFromRequest(req, 503, "Service Unavailable: the destination could not be reached", nil)
			forks = append(forks, f)
			if initialInvite {
				p.report(req, nil, f, r, 503)
			}
			continue
		}
		f.tx = cl
		p.clientTx.Add(1)
		forks = append(forks, f)
		if initialInvite {
			p.report(req, nil, f, r, 0)
		}
		if isInvite {
			cl.OnRetransmission(func(res *gosip.Response) {
				if res.IsSuccess() {
					events <- forkEvent{f: f, res: res, retrans: true}
				}
			})
		}
		pumps.Add(1)
		go func() {
			defer pumps.Done()
			defer p.clientTx.Add(-1)
			for {
				select {
				case res := <-cl.Responses():
					events <- forkEvent{f: f, res: res}
				case <-cl.Done():
					events <- forkEvent{f: f}
					return
				}
			}
		}()
	}

	var (
		best      *gosip.Response // the best final answer so far (16.7 step 6)
		answered  bool
		finished  bool // the caller has its final answer
		live      = 0
		finals    = 0
		ringTimer = time.NewTimer(timerC)
	)
	defer ringTimer.Stop()
	consider := func(res *gosip.Response) {
		if best == nil || better(res.StatusCode, best.StatusCode) {
			best = res
		}
	}
	for _, f := range forks {
		if f.tx != nil {
			live++
		} else {
			finals++
			consider(f.failed)
		}
	}
	var stop <-chan struct{}
	if iv != nil {
		stop = iv.stop
	}
	cancelAll := func() {
		for _, f := range forks {
			if f.final == 0 {
				f.cancel = true
				p.sendCancel(f)
			}
		}
	}
	finish := func() {
		if finished || answered || finals < len(forks) {
			return
		}
		finished = true
		unring()
		res := best
		if res == nil { // no branch at all (relay always gets one)
			res = gosip.NewResponseFromRequest(req, 480, "Temporarily Unavailable", nil)
		}
		if res.StatusCode == 503 {
			// RFC 3261 16.7 step 6: a 503 would make the caller think
			// this proxy is overloaded.
			res = gosip.NewResponseFromRequest(req, 500, "Server Error: the destination is unavailable", nil)
		}
		if err := tx.Respond(res); err != nil {
			p.s.log.Debug("relay: final answer failed", "err", err)
		}
		if initialInvite {
			p.calls().Handle(dialog.Event{Method: "INVITE", Status: res.StatusCode, CallID: callID, FromTag: fromTag})
		}
	}
	finish()
	for live > 0 {
		select {
		case e := <-events:
			f := e.f
			if e.res == nil {
				live--
				if f.final != 0 {
					continue
				}
				if e.res = p.late(f); e.res == nil {
					// Timer B or F, or a transport error: as good as a 408.
					f.final = 408
					finals++
					// RFC 3261 16.7: the client transaction's own 408
					// competes like any answer.
					consider(gosip.NewResponseFromRequest(req, 408, "Request Timeout: no answer", nil))
					if initialInvite {
						p.report(req, nil, f, r, 408)
					}
					finish()
					continue
				}
			}
			res := e.res
			code := res.StatusCode
			if initialInvite && !e.retrans {
				if code >= 200 && code < 300 && !answered {
					// Kept (and stored) before any lamp shows it busy, so
					// a restart right after the lamp lit still finds it.
					p.answered(req, res, f, r)
				}
				p.report(req, res, f, r, code)
			}
			switch {
			case code < 200:
				f.heard = true
				if f.cancel && !f.sent {
					p.sendCancel(f)
				}
				if iv != nil && code > 100 {
					iv.mu.Lock()
					if iv.toTag == "" {
						iv.toTag = tagOf(res.To())
					}
					iv.mu.Unlock()
				}
				if code > 100 && !answered && !finished {
					ringTimer.Reset(timerC)
					_ = tx.Respond(upstream(req, res))
				}
			case code < 300:
				fwd := upstream(req, res)
				if !isInvite && (answered || finished) {
					continue // one final answer for a non-INVITE
				}
				if f.final == 0 {
					f.final = code
					finals++
				}
				first := !answered
				answered = true
				if err := tx.Respond(fwd); err != nil || finished {
					// The caller already has a final answer (a CANCEL
					// raced this 2xx): every 2xx still reaches it.
					_ = p.s.srv.WriteResponse(fwd)
				}
				finished = true
				if first && isInvite {
					for _, o := range forks {
						if o != f && o.final == 0 {
							o.cancel = true
							p.sendCancel(o)
						}
					}
					if r.pickup != nil {
						r.pickup.iv.cancelAll() // the picker has the call now
					}
				}
				unring() // after answered(): an early ACK finds the call
			default:
				if f.final != 0 {
					continue
				}
				f.final = code
				finals++
				if code >= 600 && !answered {
					cancelAll()
				}
				consider(upstream(req, res))
				finish()
			}
		case <-cancelled:
			cancelled = nil
			cancelAll()
			finished = true // sipgo answered 487 for us
			unring()
			if initialInvite {
				p.calls().Handle(dialog.Event{Request: true, Method: "CANCEL", CallID: callID, FromTag: fromTag})
			}
		case <-stop:
			stop = nil
			cancelAll()
		case <-ringTimer.C:
			if !answered {
				cancelAll()
			}
		}
	}
	pumps.Wait()
	return nil
}

// upstream is a branch's response as it goes back to the request's
// sender: without our Via, to where the request came from (RFC 3581
// symmetric response; the copy would otherwise keep the address it was
// received on, ours).
func upstream(req *gosip.Request, res *gosip.Response) *gosip.Response {
	fwd := res.Clone()
	popVia(fwd)
	fwd.SetDestination(req.Source())
	return fwd
}

// stray takes a response that matched none of sipgo's transactions: if it
// answers one of our branches whose transaction a closing connection
// already failed, the branch still gets it; otherwise it is forwarded
// statelessly. sipgo handles a response and
// the close of its connection in separate goroutines, so a phone that
// answers a BYE and hangs up its TCP connection at once often loses its
// 200 to that race.
func (p *proxy) stray(res *gosip.Response) bool {
	via := res.Via()
	if via == nil {
		return false
	}
	branch, _ := via.Params.Get("branch")
	if !strings.HasPrefix(branch, branchMark) {
		return false
	}
	if ch, ok := p.strays.Load(branch); ok {
		if res.StatusCode >= 200 {
			select {
			case ch.(chan *gosip.Response) <- res:
			default:
			}
		}
		return true
	}
	// No branch waits for it (a restart or Timer M ended the transaction):
	// forward it statelessly (RFC 3261 16.7 step 1), so a callee's 2xx
	// retransmissions still reach the caller and bring back the ACK that
	// a restart swallowed.
	fwd := res.Clone()
	popVia(fwd)
	next := fwd.Via()
	if next == nil {
		return true // it answered one of our own requests
	}
	fwd.SetTransport(strings.ToUpper(next.Transport))
	fwd.SetDestination("")
	if err := p.stateless(fwd); err != nil {
		p.s.log.Debug("relay: stateless forward of an unmatched response failed", "status", res.StatusCode, "err", err)
	}
	return true
}

// stateless sends a response to its top Via. Over UDP a peer we have
// not heard from since a restart has no pooled connection, so the
// response leaves through our listening socket, as sipgo's own
// responses do.
func (p *proxy) stateless(res *gosip.Response) error {
	err := p.s.srv.WriteResponse(res)
	if err == nil || res.Transport() != "UDP" {
		return err
	}
	for _, l := range p.s.Bound() {
		if l.Transport != "udp" {
			continue
		}
		c, cerr := p.s.ua.TransportLayer().GetConnection("udp", l.Addr)
		if cerr != nil {
			continue
		}
		err = c.WriteMsg(res)
		c.TryClose()
		return err
	}
	return err
}

// late returns the final answer of a branch whose transaction ended
// without one because its connection closed, if it turns up at once.
func (p *proxy) late(f *fork) *gosip.Response {
	if f.tx == nil || !errors.Is(f.tx.Err(), gosip.ErrTransactionTransport) {
		return nil
	}
	select {
	case res := <-f.late:
		p.s.log.Debug("relay: answer arrived after its connection closed", "status", res.StatusCode, "branch", f.key)
		return res
	case <-time.After(200 * time.Millisecond):
		return nil
	}
}

// better reports whether final code a beats b as the answer to send when
// no branch accepted (RFC 3261 16.7 step 6): 6xx first, then the lowest
// class, 503 last within 5xx.
func better(a, b int) bool {
	if b == 0 {
		return a != 0
	}
	rank := func(c int) int {
		switch {
		case c >= 600:
			return 0
		case c == 503:
			return 9
		default:
			return c / 100
		}
	}
	return rank(a) < rank(b)
}

// sendCancel cancels a branch once a provisional allows it; until then
// the branch stays marked and the first provisional sends it.
func (p *proxy) sendCancel(f *fork) {
	if f.sent || f.final != 0 || f.tx == nil || !f.heard {
		return
	}
	f.sent = true
	c := gosip.NewRequest(gosip.CANCEL, *f.req.Recipient.Clone())
	c.AppendHeader(gosip.HeaderClone(f.req.Via()))
	for _, r := range values(f.req, "Route") {
		c.AppendHeader(gosip.NewHeader("Route", r))
	}
	c.AppendHeader(gosip.HeaderClone(f.req.From()))
	c.AppendHeader(gosip.HeaderClone(f.req.To()))
	c.AppendHeader(gosip.HeaderClone(f.req.CallID()))
	c.AppendHeader(&gosip.CSeqHeader{SeqNo: f.req.CSeq().SeqNo, MethodName: gosip.CANCEL})
	c.AppendHeader(gosip.NewHeader("Max-Forwards", "70"))
	c.AppendHeader(gosip.NewHeader("Content-Length", "0"))
	c.SetTransport(f.req.Transport())
	c.SetDestination(f.req.Destination())
	c.Laddr = f.req.Laddr
	p.bg.Go(func() {
		ctx, cancel := context.WithTimeout(p.ctx, 32*time.Second)
		defer cancel()
		tx, err := p.client.TransactionRequest(ctx, c, keep)
		if err != nil {
			p.s.log.Debug("relay: CANCEL failed", "err", err)
			return
		}
		defer tx.Terminate()
		select {
		case <-tx.Responses():
		case <-tx.Done():
		case <-ctx.Done():
		}
	})
}

// inDialog relays a request within a call: loose routing along the route
// set, checked against the calls we know unless the source is trusted.
func (p *proxy) inDialog(req *gosip.Request, tx gosip.ServerTransaction, routes []string) error {
	callID, fromTag, toTag := req.CallID().Value(), tagOf(req.From()), tagOf(req.To())
	src := req.Source()
	known := p.known(callID, fromTag, toTag)
	if !known && !p.s.trusted(src) && !p.fromUpstream(src) && p.s.reg.aorOf(src, "") == "" {
		if req.Method == gosip.ACK {
			return nil
		}
		return fail(481, "Call/Transaction Does Not Exist (no such call here)")
	}
	t, ok := p.hop(req, routes)
	if !ok {
		if req.Method == gosip.ACK {
			return nil
		}
		return fail(400, "Unusable Route header")
	}
	if len(routes) == 0 && p.s.ourDomain(req.Recipient) && (req.Recipient.User == "" || !known) {
		if req.Method == gosip.ACK {
			return nil
		}
		return fail(481, "Call/Transaction Does Not Exist (request for a dialog with this server)")
	}
	sender := p.senderOf(req)
	switch req.Method {
	case gosip.INVITE, gosip.UPDATE, gosip.BYE:
		if req.Method != gosip.BYE {
			if err := checkBody(req); err != nil {
				return err
			}
		}
		p.calls().Handle(dialog.Event{Request: true, Method: req.Method.String(), CallID: callID, FromTag: fromTag, ToTag: toTag, SDP: sdpOf(req), Sender: sender})
		p.touch(callID, fromTag, toTag, req)
	}
	if req.Method == gosip.ACK {
		return p.forwardAck(req, t, routes)
	}
	return p.relay(req, tx, relay{targets: []target{t}, hash: loopHash(req), inDialog: true, caller: sender})
}

// forwardAck sends the ACK of a 2xx on, statelessly (RFC 3261 16.11 and
// 13.2.2.4: it is a transaction of its own, with no answer).
func (p *proxy) forwardAck(req *gosip.Request, t target, routes []string) error {
	out := req.Clone()
	setRoutes(out, routes)
	if mf := out.MaxForwards(); mf != nil {
		mf.Dec()
	}
	out.PrependHeader(p.s.newVia(t.transport, loopHash(req)))
	out.SetTransport(t.transport)
	out.SetDestination(t.dest)
	if t.transport == "UDP" {
		if la, ok := p.s.udpLaddr(t.dest); ok {
			out.Laddr = la
		}
	}
	if err := p.client.WriteRequest(out, keep); err != nil {
		p.s.log.Debug("relay: ACK not sent", "dest", t.dest, "err", err)
	}
	return nil
}

// senderOf names the local extension that sent an in-dialog request: the
// registered phone it came from, else its From user if that is ours.
func (p *proxy) senderOf(req *gosip.Request) string {
	if aor := p.s.reg.aorOf(req.Source(), req.From().Address.User); aor != "" {
		return aor
	}
	if a, ok := p.s.opt.Directory.Account(req.From().Address.User); ok {
		return a.Number
	}
	return ""
}

func (p *proxy) calls() *dialog.Calls { return p.opt.Calls }

// report tells dialog.Calls about a branch of an initial INVITE: its
// request (res nil, code 0) or an answer (code; res nil for one we made
// up, such as a timeout).
func (p *proxy) report(req *gosip.Request, res *gosip.Response, f *fork, r relay, code int) {
	e := dialog.Event{
		Method:  "INVITE",
		CallID:  req.CallID().Value(),
		FromTag: tagOf(req.From()),
		Branch:  f.key,
		Caller:  r.caller,
		Callee:  f.t.callee,
		Device:  f.t.device,
	}
	if code == 0 {
		e.Request = true
		e.From = partyOf(req.From().Address, req.From().DisplayName)
		e.To = partyOf(req.To().Address, req.To().DisplayName)
		e.Asserted = asserted(req)
		e.SDP = sdpOf(req)
	} else {
		e.Status = code
		if res != nil {
			e.ToTag = tagOf(res.To())
		}
	}
	p.calls().Handle(e)
}

func tagOf(h interface{ Value() string }) string {
	switch x := h.(type) {
	case *gosip.FromHeader:
		if x == nil {
			return ""
		}
		t, _ := x.Params.Get("tag")
		return t
	case *gosip.ToHeader:
		if x == nil {
			return ""
		}
		t, _ := x.Params.Get("tag")
		return t
	}
	return ""
}

func partyOf(u gosip.Uri, display string) presence.Party {
	v := u
	v.UriParams, v.Headers = nil, nil
	return presence.Party{URI: v.String(), Display: strings.Trim(display, `"`)}
}

// asserted is the caller's P-Asserted-Identity, if any (RFC 3325).
func asserted(req *gosip.Request) *presence.Party {
	for _, v := range values(req, "P-Asserted-Identity") {
		u, ok := uriOf(v)
		if !ok {
			continue
		}
		display := ""
		if i := strings.IndexByte(v, '<'); i > 0 {
			display = strings.Trim(strings.TrimSpace(v[:i]), `"`)
		}
		pa := partyOf(u, display)
		return &pa
	}
	return nil
}

func sdpOf(m interface {
	GetHeader(string) gosip.Header
	Body() []byte
}) []byte {
	ct := strings.ToLower(header(m, "Content-Type", "c"))
	if !strings.HasPrefix(ct, "application/sdp") || len(m.Body()) == 0 {
		return nil
	}
	return m.Body()
}

// checkBody refuses an SDP offer that cannot be read, before it reaches a
// phone that might choke on it.
func checkBody(req *gosip.Request) *StatusError {
	sdp := sdpOf(req)
	if sdp == nil {
		return nil
	}
	if err := dialog.CheckSDP(sdp); err != nil {
		return fail(400, "Malformed SDP: "+err.Error())
	}
	return nil
}

// stats are the proxy's gauges, by name, for /healthz.
func (p *proxy) stats() map[string]int64 {
	p.mu.Lock()
	ringing, dialogs := len(p.ringing), len(p.dialogs)
	p.mu.Unlock()
	return map[string]int64{
		"proxy_relaying":  p.relaying.Load(),
		"proxy_client_tx": p.clientTx.Load(),
		"proxy_ringing":   int64(ringing),
		"proxy_dialogs":   int64(dialogs),
		"call_legs":       int64(p.calls().Open()),
	}
}
