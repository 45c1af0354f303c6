// Package sip is blfgw's SIP edge: it listens on UDP, TCP, TLS and
// WebSocket, authenticates requests, accepts PUBLISHed call state into the
// dialog tracker, and keeps RFC 6665 subscriptions that NOTIFY watchers of
// every change presence offers them. It is the only package that speaks
// sipgo; everything it learns or sends goes through dialog and presence.
package sip

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"

	"github.com/blfgw/blfgw/dialog"
	"github.com/blfgw/blfgw/presence"
)

// Listener is one socket the server listens on.
type Listener struct {
	Transport string // udp, tcp, tls, ws or wss
	Addr      string // host:port; port 0 picks a free one
}

// Account is an extension as the SIP edge needs it.
type Account struct {
	Number   string
	Name     string
	Password string
	Profile  Profile // body profile for this extension's own phones as watchers
}

// Profile adapts dialog-info bodies for phones known to need it
// (SIP-CONFORMANCE.md 2.2).
type Profile struct {
	Idle   string // "", "empty" or "dummy"
	Single *bool  // only the most interesting dialog
}

// Device is a profile chosen by the watcher's User-Agent.
type Device struct {
	UserAgent string // case-insensitive substring
	Profile   Profile
}

// Directory looks extensions up; the config is one.
type Directory interface {
	Account(number string) (Account, bool)
}

// Options configures a Server.
type Options struct {
	Domain         string
	Listen         []Listener
	Advertise      string // host written into Contact and Via; "" = the listener's address
	TLS            *tls.Config
	Trusted        []netip.Prefix
	Realm          string
	Digest         []string // digest algorithms offered, in order; default MD5, SHA-256
	MinExpires     time.Duration
	MaxExpires     time.Duration
	DefaultExpires time.Duration
	NotifyTimeouts int     // consecutive failed NOTIFYs tolerated
	Rate           float64 // new requests per second per untrusted source; 0 = unlimited
	Burst          int
	Devices        []Device
	NotifyInflight int // NOTIFY transactions awaiting an answer; default 16384

	Directory Directory
	Hub       *presence.Hub
	Tracker   *dialog.Tracker
	Store     Store
	Log       *slog.Logger
	// Registrar turns on REGISTER (edge-proxy mode); nil answers 405.
	Registrar *RegistrarOptions
	// Proxy turns on call relaying (edge-proxy mode, with Registrar).
	Proxy *ProxyOptions
	// Lists and ListSuffix turn on resource lists (rls.go): a SUBSCRIBE to
	// <extension><ListSuffix> gets the extension's appearance list.
	Lists      Lists
	ListSuffix string
}

// sipgo has one process-wide logger; the first server sets it.
var setLibraryLogger sync.Once

// Server is the SIP edge.
type Server struct {
	opt  Options
	log  *slog.Logger
	ua   *sipgo.UserAgent
	srv  *sipgo.Server
	auth *authenticator
	rate *limiter

	subs     *subscriptions
	notifier *notifier
	persist  *persister

	mu        sync.Mutex
	bound     []Listener // actual addresses, once listening
	udpLocal  map[string]gosip.Addr
	contactOf map[string]gosip.Uri // transport -> our Contact
	localOf   map[string]localAddr // UDP, TCP... -> what NOTIFYs say about us
	udpConn   map[string]*net.UDPConn

	ready   chan struct{}
	panics  atomic.Int64
	stopped atomic.Bool
	stats   counters

	answered *answered  // recent 200s to SUBSCRIBE over UDP
	reg      *registrar // nil unless edge-proxy mode
	px       *proxy     // nil unless edge-proxy mode

	// Every list NOTIFY's multipart boundary and RLMI Content-ID (rls.go).
	rlsBoundary, rlsStart string
}

type localAddr struct{ sentBy, contact string }

// counters are the figures an operator (and make bench) reads.
type counters struct {
	notifySent, notifyOK, notifyFailed atomic.Int64
	notifySlow                         atomic.Int64 // NOTIFYs that gave their slot back unanswered
	notifyRetrans                      atomic.Int64 // copies sent again for want of an answer
	notifyWaitUS                       atomic.Int64 // sum over answered NOTIFYs of send-to-answer time
}

// Stats returns the server's counters and gauges by name.
func (s *Server) Stats() map[string]int64 {
	m := map[string]int64{
		"subscriptions":          int64(s.subs.len()),
		"sip_panics":             s.panics.Load(),
		"notify_sent":            s.stats.notifySent.Load(),
		"notify_ok":              s.stats.notifyOK.Load(),
		"notify_failed":          s.stats.notifyFailed.Load(),
		"notify_slow":            s.stats.notifySlow.Load(),
		"notify_retransmissions": s.stats.notifyRetrans.Load(),
		"notify_answer_us_total": s.stats.notifyWaitUS.Load(),
		"notify_open":            int64(s.notifier.txs.len()),
	}
	if s.px != nil {
		for k, v := range s.px.stats() {
			m[k] = v
		}
	}
	return m
}

// New builds a server; Run starts it.
func New(opt Options) (*Server, error) {
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	if opt.Realm == "" {
		opt.Realm = opt.Domain
	}
	if opt.MinExpires <= 0 {
		opt.MinExpires = 60 * time.Second
	}
	if opt.MaxExpires < opt.MinExpires {
		opt.MaxExpires = 3600 * time.Second
	}
	if opt.DefaultExpires <= 0 {
		opt.DefaultExpires = 3600 * time.Second
	}
	if opt.NotifyTimeouts <= 0 {
		opt.NotifyTimeouts = 2
	}
	if opt.NotifyInflight <= 0 {
		opt.NotifyInflight = 16384
	}
	if opt.Hub == nil || opt.Tracker == nil || opt.Directory == nil || opt.Store == nil {
		return nil, errors.New("sip: Hub, Tracker, Directory and Store are required")
	}
	log := opt.Log.With("component", "sip")
	libLog := slog.New(newPeerSafeHandler(log.Handler()))
	setLibraryLogger.Do(func() { gosip.SetDefaultLogger(libLog) })

	// The answers to our NOTIFYs match none of sipgo's transactions
	// (ntx.go); they reach the notifier through the unhandled-response
	// handler. Nothing arrives before Run listens, when s is set.
	var s *Server
	onResponse := func(res *gosip.Response) {
		if s.px != nil && s.px.stray(res) {
			return
		}
		s.notifier.onResponse(res)
	}
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent("blfgw"),
		sipgo.WithUserAgentHostname(opt.Domain),
		sipgo.WithUserAgentTransactionLayerOptions(
			gosip.WithTransactionLayerLogger(libLog),
			gosip.WithTransactionLayerUnhandledResponseHandler(onResponse),
			gosip.WithTransactionLayerTerminateOnConnClose(),
		),
		sipgo.WithUserAgentTransportLayerOptions(
			gosip.WithTransportLayerLogger(libLog),
			gosip.WithTransportLayerTransports(gosip.TransportsConfig{
				TCP: &gosip.TransportTCP{WriteTimeout: 5 * time.Second},
				TLS: &gosip.TransportTLS{TransportTCP: &gosip.TransportTCP{WriteTimeout: 5 * time.Second}},
				WS:  &gosip.TransportWS{WriteTimeout: 5 * time.Second},
				WSS: &gosip.TransportWSS{TransportWS: &gosip.TransportWS{WriteTimeout: 5 * time.Second}},
			}),
		),
	)
	if err != nil {
		return nil, fmt.Errorf("sip: user agent: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(libLog))
	if err != nil {
		return nil, fmt.Errorf("sip: server: %w", err)
	}
	s = &Server{
		opt:       opt,
		log:       log,
		ua:        ua,
		srv:       srv,
		rate:      newLimiter(opt.Rate, opt.Burst),
		udpLocal:  map[string]gosip.Addr{},
		contactOf: map[string]gosip.Uri{},
		localOf:   map[string]localAddr{},
		udpConn:   map[string]*net.UDPConn{},
		ready:     make(chan struct{}),

		rlsBoundary: newBoundary(),
		rlsStart:    "rlmi@" + opt.Domain,
	}
	s.subs = newSubscriptions()
	s.answered = newAnswered()
	if opt.Registrar != nil {
		if opt.Registrar.Store == nil {
			return nil, errors.New("sip: Registrar needs a Store")
		}
		s.reg = newRegistrar(*opt.Registrar)
	}
	if opt.Proxy != nil {
		if s.reg == nil {
			return nil, errors.New("sip: Proxy needs Registrar")
		}
		if s.px, err = newProxy(s, *opt.Proxy); err != nil {
			return nil, err
		}
	}
	s.persist = newPersister(s)
	s.notifier = newNotifier(s, opt.NotifyInflight)

	srv.OnSubscribe(s.handle("SUBSCRIBE", s.onSubscribe))
	srv.OnPublish(s.handle("PUBLISH", s.onPublish))
	srv.OnOptions(s.handle("OPTIONS", s.onOptions))
	srv.OnRegister(s.handle("REGISTER", s.onRegister))
	for _, m := range []gosip.RequestMethod{gosip.INVITE, gosip.ACK, gosip.BYE, gosip.CANCEL, gosip.UPDATE,
		gosip.PRACK, gosip.INFO, gosip.REFER, gosip.MESSAGE, gosip.NOTIFY} {
		srv.OnRequest(m, s.handle(m.String(), s.onProxy))
	}
	srv.OnNoRoute(s.handle("other", s.onOther))
	return s, nil
}

// Ready is closed once every listener is bound.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Bound returns the addresses actually listened on (useful with port 0).
func (s *Server) Bound() []Listener {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Listener(nil), s.bound...)
}

// Panics counts handler panics that were recovered.
func (s *Server) Panics() int64 { return s.panics.Load() }

// Subscriptions counts live subscriptions.
func (s *Server) Subscriptions() int { return s.subs.len() }

// Run listens, restores persisted state and serves until ctx ends. On return
// every subscription and publication is persisted for the next start.
func (s *Server) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var serve []func() error
	var closers []func()
	for _, l := range s.opt.Listen {
		fn, closer, err := s.listen(l)
		if err != nil {
			for _, c := range closers {
				c()
			}
			return err
		}
		serve = append(serve, fn)
		closers = append(closers, closer)
	}

	secret, err := s.nonceSecret(ctx)
	if err != nil {
		for _, c := range closers {
			c()
		}
		return err
	}
	s.auth = newAuthenticator(s.opt.Realm, secret, s.opt.Digest)
	if s.px != nil {
		s.px.ctx = ctx // before any request can arrive
	}

	var wg sync.WaitGroup
	errc := make(chan error, len(serve)+1)
	for _, fn := range serve {
		wg.Go(func() {
			if err := fn(); err != nil && ctx.Err() == nil {
				errc <- err
			}
		})
	}

	var listsChanged <-chan struct{}
	if s.opt.Lists != nil {
		listsChanged = s.opt.Lists.Changed() // before restore: no change is missed
	}
	if err := s.restore(ctx); err != nil {
		s.log.Error("restore from store failed; starting empty", "err", err)
	}
	if s.reg != nil {
		n, err := s.reg.restore(ctx)
		if err != nil {
			s.log.Error("restore registrations failed; phones register again", "err", err)
		} else {
			s.log.Info("restored registrations", "bindings", n)
		}
	}
	if s.px != nil {
		n, err := s.px.restore(ctx)
		if err != nil {
			s.log.Error("restore calls failed; their lamps stay dark until they end", "err", err)
		} else if n > 0 {
			s.log.Info("restored answered calls", "calls", n)
		}
		wg.Go(func() { s.px.run(ctx) })
	}
	close(s.ready)

	wg.Go(func() { s.notifier.run(ctx) })
	wg.Go(func() { s.persist.run(ctx) })
	wg.Go(func() { s.expireLoop(ctx) })
	if listsChanged != nil {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-listsChanged:
					s.resyncLists()
				}
			}
		})
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	s.stopped.Store(true)
	cancel()
	for _, c := range closers {
		c()
	}
	wg.Wait()
	s.notifier.wait()
	s.subs.stopTimers()
	// Nothing sends any more; write the exact counters and mark the stop
	// clean so the next start continues CSeq and version without a jump.
	flushCtx, done := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer done()
	if err := s.persist.flushExact(flushCtx); err != nil {
		s.log.Error("final persist failed", "err", err)
	} else if err := s.opt.Store.SetMeta(flushCtx, metaClean, "1"); err != nil {
		s.log.Error("mark clean shutdown", "err", err)
	}
	_ = s.ua.Close()
	return runErr
}

// listen binds one listener now (so errors surface before Run reports ready)
// and returns the function that serves it.
func (s *Server) listen(l Listener) (func() error, func(), error) {
	tp := l.Transport
	switch tp {
	case "udp":
		addr, err := net.ResolveUDPAddr("udp", l.Addr)
		if err != nil {
			return nil, nil, fmt.Errorf("sip: listen %s:%s: %w", tp, l.Addr, err)
		}
		network := "udp4"
		if addr.IP != nil && addr.IP.To4() == nil {
			network = "udp6"
		}
		conn, err := net.ListenUDP(network, addr)
		if err != nil {
			return nil, nil, fmt.Errorf("sip: listen %s:%s: %w", tp, l.Addr, err)
		}
		// A reboot storm of phones arrives in one burst; the default
		// buffer drops datagrams (UdpRcvbufErrors) long before we are busy.
		_ = conn.SetReadBuffer(8 << 20)
		_ = conn.SetWriteBuffer(4 << 20)
		local := conn.LocalAddr().(*net.UDPAddr)
		s.bind(tp, local.IP, local.Port)
		s.mu.Lock()
		s.udpLocal[network] = gosip.Addr{IP: local.IP, Port: local.Port}
		s.udpConn[network] = conn
		s.mu.Unlock()
		return func() error { return s.srv.ServeUDP(conn) }, func() { _ = conn.Close() }, nil
	case "tcp", "ws", "tls", "wss":
		var ln net.Listener
		var err error
		if tp == "tls" || tp == "wss" {
			if s.opt.TLS == nil {
				return nil, nil, fmt.Errorf("sip: listen %s:%s: no TLS certificate configured", tp, l.Addr)
			}
			ln, err = tls.Listen("tcp", l.Addr, s.opt.TLS)
		} else {
			ln, err = net.Listen("tcp", l.Addr)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("sip: listen %s:%s: %w", tp, l.Addr, err)
		}
		local := ln.Addr().(*net.TCPAddr)
		s.bind(tp, local.IP, local.Port)
		serve := map[string]func(net.Listener) error{
			"tcp": s.srv.ServeTCP, "ws": s.srv.ServeWS, "tls": s.srv.ServeTLS, "wss": s.srv.ServeWSS,
		}[tp]
		return func() error { return serve(ln) }, func() { _ = ln.Close() }, nil
	}
	return nil, nil, fmt.Errorf("sip: listen %s:%s: unknown transport", tp, l.Addr)
}

func (s *Server) bind(tp string, ip net.IP, port int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bound = append(s.bound, Listener{Transport: tp, Addr: net.JoinHostPort(ip.String(), strconv.Itoa(port))})
	host := s.opt.Advertise
	if host == "" {
		host = advertisable(ip)
	}
	u := gosip.Uri{Scheme: "sip", Host: host, Port: port}
	if tp != "udp" {
		u.UriParams = gosip.NewParams()
		u.UriParams.Add("transport", tp)
	}
	if _, ok := s.contactOf[tp]; !ok {
		s.contactOf[tp] = u
		s.localOf[strings.ToUpper(tp)] = localAddr{
			sentBy:  net.JoinHostPort(host, strconv.Itoa(port)),
			contact: strings.TrimPrefix(u.String(), "sip:"),
		}
	}
}

// advertisable turns a wildcard listen address into one a phone can reach.
func advertisable(ip net.IP) string {
	if ip != nil && !ip.IsUnspecified() {
		return ip.String()
	}
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
				return n.IP.String()
			}
		}
	}
	return "127.0.0.1"
}

// contact is our Contact URI for a transport, with the extension as user so
// phones that match NOTIFY on it are satisfied.
func (s *Server) contact(transport, user string) gosip.Uri {
	tp := netLower(transport)
	s.mu.Lock()
	u, ok := s.contactOf[tp]
	if !ok {
		for _, v := range s.contactOf {
			u = v
			break
		}
	}
	s.mu.Unlock()
	u.User = user
	if u.UriParams != nil {
		u.UriParams = u.UriParams.Clone()
	}
	return u
}

// local is what requests we send over a transport say about us: the Via
// sent-by (host:port) and our Contact after "sip:user@".
func (s *Server) local(transport string) (sentBy, contact string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.localOf[transport]; ok {
		return a.sentBy, a.contact
	}
	for _, tp := range []string{"UDP", "TCP", "TLS", "WS", "WSS"} {
		if a, ok := s.localOf[tp]; ok {
			return a.sentBy, a.contact
		}
	}
	return "127.0.0.1", "127.0.0.1"
}

func (s *Server) udpLaddr(remote string) (gosip.Addr, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	network := "udp4"
	if ap, err := netip.ParseAddrPort(remote); err == nil && ap.Addr().Is6() && !ap.Addr().Is4In6() {
		network = "udp6"
	}
	a, ok := s.udpLocal[network]
	return a, ok
}

func (s *Server) trusted(source string) bool {
	ap, err := netip.ParseAddrPort(source)
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	for _, p := range s.opt.Trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func (s *Server) expireLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if gone := s.opt.Tracker.Expire(now); len(gone) > 0 {
				dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				if err := s.opt.Store.DeletePublications(dctx, gone); err != nil {
					s.log.Error("delete expired publications", "err", err)
				}
				cancel()
			}
			s.rate.sweep(now)
			s.answered.sweep(now)
			if s.reg != nil {
				if err := s.reg.sweep(ctx, now); err != nil {
					s.log.Error("delete expired registrations", "err", err)
				}
			}
			s.auth.sweep()
		}
	}
}
