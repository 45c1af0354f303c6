// Package api is blfgw's HTTP edge: health and status today, the JSON API
// under /api/v1, Server-Sent Events and the web HUD as they arrive. It reads
// presence; it never speaks SIP.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"time"
)

// Check is one dependency health probe, e.g. the database.
type Check struct {
	Name string
	Run  func(ctx context.Context) error
}

// Options configures the HTTP server.
type Options struct {
	Addr    string
	Version string
	Checks  []Check
	Stats   func() map[string]any // figures shown by /healthz
	Pprof   bool                  // serve /debug/pprof/
	Log     *slog.Logger
}

// Server serves the HTTP API.
type Server struct {
	opt   Options
	srv   *http.Server
	ln    net.Listener
	start time.Time
}

// New binds the listener now, so an address in use is reported at start.
func New(opt Options) (*Server, error) {
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	ln, err := net.Listen("tcp", opt.Addr)
	if err != nil {
		return nil, fmt.Errorf("api: listen %s: %w", opt.Addr, err)
	}
	s := &Server{opt: opt, ln: ln, start: time.Now()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
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
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(opt.Log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Run serves until ctx ends, then shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("api: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	body := map[string]any{
		"status":         "ok",
		"version":        s.opt.Version,
		"uptime_seconds": int(time.Since(s.start).Seconds()),
	}
	checks := map[string]string{}
	code := http.StatusOK
	for _, c := range s.opt.Checks {
		if err := c.Run(ctx); err != nil {
			checks[c.Name] = err.Error()
			body["status"] = "degraded"
			code = http.StatusServiceUnavailable
		} else {
			checks[c.Name] = "ok"
		}
	}
	body["checks"] = checks
	if s.opt.Stats != nil {
		for k, v := range s.opt.Stats() {
			body[k] = v
		}
	}
	writeJSON(w, code, body)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError is the one JSON error shape of the API.
func writeError(w http.ResponseWriter, code int, errCode, msg string) {
	writeJSON(w, code, map[string]any{"error": map[string]string{"code": errCode, "message": msg}})
}
