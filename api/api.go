// Package api is blfgw's HTTP edge: health and status today, the JSON API
// under /api/v1, Server-Sent Events and the web HUD as they arrive. It reads
// presence; it never speaks SIP.
package api

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blfgw/blfgw/presence"
)

// Check is one dependency health probe, e.g. the database.
type Check struct {
	Name string
	Run  func(ctx context.Context) error
	// Soft marks a dependency the gateway works without (a cloud bridge):
	// its failure makes /healthz say "degraded" with the reason, but the
	// answer stays 200 so a load balancer keeps sending phones here.
	Soft bool
}

// Options configures the HTTP server.
type Options struct {
	Addr    string
	Version string
	Checks  []Check
	Stats   func() map[string]any // figures shown by /healthz
	Pprof   bool                  // serve /debug/pprof/
	// Routes are served beside the API, e.g. a bridge's webhook
	// ("POST /teams/notify"); patterns as http.ServeMux takes them.
	Routes map[string]http.Handler
	Log    *slog.Logger

	// ConfigPath is the TOML file the extensions and departments come
	// from, shown to admins because they are changed there, not here.
	ConfigPath string
	// ListURI gives the SIP URI of an extension's BLF list, which phones
	// subscribe to (sip.Server.ListURI); nil or "": lists are off.
	ListURI func(number string) string

	// The JSON API under /api/v1 (see v1.go and openapi.json).
	Settings *presence.Settings                                            // nil: /api/v1 is not served
	Hub      *presence.Hub                                                 // required with Settings
	Password func(number string) (string, bool)                            // an extension's SIP password, for login; required with Settings
	Audit    func(ctx context.Context, q AuditQuery) ([]AuditEntry, error) // nil: no /api/v1/audit
	TokenKey []byte                                                        // HMAC key for tokens and sessions, at least 32 bytes; nil: a random one (tokens die with the process)

	// Browser sessions and the event stream (session.go, events.go).
	SessionTTL time.Duration // a browser session's absolute lifetime; 0: 8 h
	EventsPing time.Duration // between keep-alive comments on an event stream; 0: 15 s
	MaxStreams int           // open event streams in all; 0: 1,000
}

// Server serves the HTTP API.
type Server struct {
	opt   Options
	srv   *http.Server
	ln    net.Listener
	start time.Time

	key    []byte       // TokenKey
	byExt  *limiter     // failed logins per extension
	byAddr *limiter     // failed logins per source address
	skew   atomic.Int64 // added to the clock; tests move time forward

	sess       *sessions
	sessionTTL time.Duration
	eventsPing time.Duration
	maxStreams int
	streams    streams
	// streamsCtx ends every event stream when Run stops: Shutdown waits for
	// handlers to return, and a stream's would not by itself.
	streamsCtx  context.Context
	stopStreams context.CancelFunc
	conns       conns
}

// New binds the listener now, so an address in use is reported at start.
func New(opt Options) (*Server, error) {
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	if opt.ConfigPath != "" {
		// Absolute now: the admin page shows it to someone who was not in
		// the directory the gateway was started from.
		abs, err := filepath.Abs(opt.ConfigPath)
		if err != nil {
			return nil, fmt.Errorf("api: config path %s: %w", opt.ConfigPath, err)
		}
		opt.ConfigPath = abs
	}
	s := &Server{opt: opt, start: time.Now()}
	if opt.Settings != nil {
		if opt.Hub == nil || opt.Password == nil {
			return nil, errors.New("api: Settings needs Hub and Password")
		}
		switch {
		case len(opt.TokenKey) == 0:
			s.key = make([]byte, 32)
			if _, err := rand.Read(s.key); err != nil {
				return nil, fmt.Errorf("api: token key: %w", err)
			}
		case len(opt.TokenKey) < 32:
			return nil, fmt.Errorf("api: TokenKey has %d bytes, want at least 32", len(opt.TokenKey))
		default:
			s.key = append([]byte(nil), opt.TokenKey...)
		}
		s.byExt = newLimiter(0)
		s.byAddr = newLimiter(maxTrackedAddrs)
		s.sess = newSessions()
		var err error
		if s.sessionTTL, err = positive("SessionTTL", opt.SessionTTL, defaultSessionTTL); err != nil {
			return nil, err
		}
		if s.eventsPing, err = positive("EventsPing", opt.EventsPing, defaultEventsPing); err != nil {
			return nil, err
		}
		if s.maxStreams, err = positive("MaxStreams", opt.MaxStreams, defaultMaxStreams); err != nil {
			return nil, err
		}
		s.streams = streams{all: map[*stream]struct{}{}, byUser: map[string]int{}}
	}
	s.streamsCtx, s.stopStreams = context.WithCancel(context.Background())
	ln, err := net.Listen("tcp", opt.Addr)
	if err != nil {
		return nil, fmt.Errorf("api: listen %s: %w", opt.Addr, err)
	}
	s.ln = ln
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	if opt.Settings != nil {
		s.v1(mux)
		s.web(mux)
	}
	for pattern, h := range opt.Routes {
		mux.Handle(pattern, h)
	}
	if opt.Pprof {
		// Contention is what limits a gateway of many goroutines; sample it
		// so /debug/pprof/mutex and /debug/pprof/block have something to say.
		runtime.SetMutexProfileFraction(100)
		runtime.SetBlockProfileRate(int(time.Millisecond))
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	s.conns.fresh = map[net.Conn]struct{}{}
	s.srv = &http.Server{
		ConnState:         s.conns.track,
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(opt.Log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// positive is v, or def for zero; a negative v is a mistake.
func positive[T int | time.Duration](name string, v, def T) (T, error) {
	switch {
	case v < 0:
		return 0, fmt.Errorf("api: %s is %v, want a positive value or 0 for the default", name, v)
	case v == 0:
		return def, nil
	}
	return v, nil
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Run serves until ctx ends, then shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	var wg sync.WaitGroup
	defer wg.Wait() // after stopStreams below has ended the loop
	if s.opt.Settings != nil {
		// A reload of the file may change anyone's list or sharing: every
		// open stream looks again at once rather than at its next ping.
		changed := s.opt.Settings.Changed()
		wg.Go(func() {
			for {
				select {
				case <-s.streamsCtx.Done():
					return
				case <-changed:
					s.pokeAllStreams()
				}
			}
		})
	}
	defer s.stopStreams()
	select {
	case err := <-errc:
		return fmt.Errorf("api: %w", err)
	case <-ctx.Done():
	}
	s.stopStreams()
	// A connection on which no request has arrived yet (browsers open
	// them ahead) would hold Shutdown for 5 s; nothing is lost by closing
	// it, the client opens another when it needs one.
	s.conns.closeNew()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		s.opt.Log.Warn("api: requests still running 5 s after the stop began; closing their connections")
		err = s.srv.Close()
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// conns knows the connections that have not sent a request yet.
type conns struct {
	mu    sync.Mutex
	fresh map[net.Conn]struct{}
}

func (c *conns) track(conn net.Conn, st http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st == http.StateNew {
		c.fresh[conn] = struct{}{}
	} else {
		delete(c.fresh, conn)
	}
}

func (c *conns) closeNew() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for conn := range c.fresh {
		_ = conn.Close()
	}
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	body := map[string]any{
		"status":         "ok",
		"version":        s.opt.Version,
		"uptime_seconds": s.uptime(),
	}
	checks := map[string]string{}
	code := http.StatusOK
	for name, c := range s.runChecks(r.Context()) {
		if c.Status == checkOK {
			checks[name] = "ok"
			continue
		}
		checks[name] = c.Message
		body["status"] = "degraded"
		if !c.Soft {
			code = http.StatusServiceUnavailable
		}
	}
	body["checks"] = checks
	for k, v := range s.figures() {
		body[k] = v
	}
	writeJSON(w, code, body)
}

// figures are the counters /healthz shows at its top level and
// /api/v1/system under "figures": the gateway's (Options.Stats) and the
// web page's own.
func (s *Server) figures() map[string]any {
	m := map[string]any{}
	if s.opt.Stats != nil {
		for k, v := range s.opt.Stats() {
			m[k] = v
		}
	}
	if s.sess != nil {
		m["web_sessions"] = s.sess.len()
		m["event_streams"] = s.streamCount()
	}
	return m
}

func (s *Server) uptime() int { return int(time.Since(s.start).Seconds()) }

const (
	checkOK      = "ok"
	checkFailing = "failing"
)

// checkResult is one check's outcome, as /api/v1/system shows it.
type checkResult struct {
	Status  string `json:"status"`  // checkOK or checkFailing
	Message string `json:"message"` // why it fails; "" when ok
	Soft    bool   `json:"soft"`
}

// runChecks runs every health check under one deadline, so a hung
// dependency cannot hold a load balancer's probe or an admin's page.
// /healthz and /api/v1/system both use it: they must never disagree.
func (s *Server) runChecks(ctx context.Context) map[string]checkResult {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	out := make(map[string]checkResult, len(s.opt.Checks))
	for _, c := range s.opt.Checks {
		res := checkResult{Status: checkOK, Soft: c.Soft}
		if err := c.Run(ctx); err != nil {
			res.Status, res.Message = checkFailing, err.Error()
			if res.Message == "" {
				res.Message = "failing; the check gave no reason"
			}
		}
		out[c.Name] = res
	}
	return out
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// errorBody is the one JSON error shape of the API, under "error". Field
// names the request field at fault, when there is one.
type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func writeError(w http.ResponseWriter, code int, errCode, msg string) {
	writeFieldError(w, code, errCode, msg, "")
}

func writeFieldError(w http.ResponseWriter, code int, errCode, msg, field string) {
	writeJSON(w, code, map[string]errorBody{"error": {Code: errCode, Message: msg, Field: field}})
}
