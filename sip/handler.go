package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	gosip "github.com/emiago/sipgo/sip"
)

func init() {
	// Large bodies (several dialogs, lists later) must still go out over UDP;
	// the RFC 3261 switch to TCP is not something desk phones expect.
	gosip.UDPMTUSize = 65000
}

// StatusError is a SIP error answer: the adapter turns it into a response
// with this code, reason phrase and extra headers.
type StatusError struct {
	Code    int
	Reason  string
	Headers []gosip.Header
	Err     error // for the log only
}

func (e *StatusError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%d %s: %v", e.Code, e.Reason, e.Err)
	}
	return fmt.Sprintf("%d %s", e.Code, e.Reason)
}

func (e *StatusError) Unwrap() error { return e.Err }

func fail(code int, reason string, hdrs ...gosip.Header) *StatusError {
	return &StatusError{Code: code, Reason: reason, Headers: hdrs}
}

type handlerFunc func(req *gosip.Request, tx gosip.ServerTransaction) error

// respondingTx remembers whether the handler answered, so the recover and
// error paths never answer twice.
type respondingTx struct {
	gosip.ServerTransaction
	mu        sync.Mutex
	responded bool
}

func (t *respondingTx) Respond(res *gosip.Response) error {
	t.mu.Lock()
	if res.StatusCode >= 200 {
		t.responded = true
	}
	t.mu.Unlock()
	return t.ServerTransaction.Respond(res)
}

func (t *respondingTx) done() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.responded
}

// handle wraps a handler with the middleware every request gets: panic
// recovery (sipgo has none), rate limiting of untrusted sources, and the
// mapping of returned errors to SIP answers.
func (s *Server) handle(name string, h handlerFunc) func(*gosip.Request, gosip.ServerTransaction) {
	return func(req *gosip.Request, tx gosip.ServerTransaction) {
		if name == "SUBSCRIBE" && req.Transport() == "UDP" {
			// Once answered, a SUBSCRIBE's retransmissions are absorbed by
			// s.answered, not by sipgo keeping the transaction for Timer J
			// (answered.go). Deferred first, so it runs after every answer.
			defer tx.Terminate()
		}
		rtx := &respondingTx{ServerTransaction: tx}
		defer func() {
			if r := recover(); r != nil {
				s.panics.Add(1)
				s.log.Error("panic in SIP handler", "method", name, "panic", r, "stack", string(debug.Stack()))
				if !rtx.done() {
					s.reply(req, rtx, 500, "Internal Server Error")
				}
			}
		}()
		if req.Method == gosip.ACK {
			// An ACK gets no answer, whatever happens to it.
			if s.px != nil && !s.stopped.Load() {
				_ = h(req, rtx)
			}
			return
		}
		if s.stopped.Load() {
			s.reply(req, rtx, 503, "Shutting down", gosip.NewHeader("Retry-After", "5"))
			return
		}
		src := req.Source()
		if !s.trusted(src) && !s.rate.allow(hostOf(src), time.Now()) {
			if s.rate.shouldLog(hostOf(src), time.Now()) {
				s.log.Warn("rate limit exceeded; answering 503", "source", src, "method", req.Method.String())
			}
			s.reply(req, rtx, 503, "Too many requests from your address", gosip.NewHeader("Retry-After", "5"))
			return
		}
		err := h(req, rtx)
		if err == nil {
			return
		}
		var se *StatusError
		if errors.As(err, &se) {
			if se.Code >= 500 || se.Err != nil {
				s.log.Warn("request failed", "method", req.Method.String(), "source", src, "code", se.Code, "err", err)
			} else if s.log.Enabled(context.Background(), slog.LevelDebug) {
				s.log.Debug("request refused", "method", req.Method.String(), "source", src, "code", se.Code, "reason", se.Reason)
			}
			if !rtx.done() {
				s.reply(req, rtx, se.Code, se.Reason, se.Headers...)
			}
			return
		}
		s.log.Error("request failed", "method", req.Method.String(), "source", src, "err", err)
		if !rtx.done() {
			s.reply(req, rtx, 500, "Internal Server Error")
		}
	}
}

func (s *Server) reply(req *gosip.Request, tx gosip.ServerTransaction, code int, reason string, hdrs ...gosip.Header) {
	res := gosip.NewResponseFromRequest(req, code, sanitizeReason(reason), nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		s.log.Debug("respond failed", "code", code, "err", err)
	}
}

// sanitizeReason keeps a reason phrase on one printable line, whatever an
// error message derived from the input contains.
func sanitizeReason(r string) string {
	var b strings.Builder
	for _, c := range r {
		if c >= 0x20 && c < 0x7f {
			b.WriteRune(c)
		} else {
			b.WriteByte(' ')
		}
		if b.Len() >= 120 {
			break
		}
	}
	return b.String()
}

func (s *Server) allowHeader() gosip.Header {
	if s.px != nil {
		return gosip.NewHeader("Allow", "INVITE, ACK, BYE, CANCEL, UPDATE, PRACK, INFO, REFER, MESSAGE, NOTIFY, SUBSCRIBE, PUBLISH, OPTIONS, REGISTER")
	}
	if s.reg != nil {
		return gosip.NewHeader("Allow", "SUBSCRIBE, NOTIFY, PUBLISH, OPTIONS, REGISTER")
	}
	return gosip.NewHeader("Allow", "SUBSCRIBE, NOTIFY, PUBLISH, OPTIONS")
}

func (s *Server) onOptions(req *gosip.Request, tx gosip.ServerTransaction) error {
	if s.px != nil && !s.px.forUs(req) {
		return s.px.route(req, tx)
	}
	res := gosip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(s.allowHeader())
	res.AppendHeader(gosip.NewHeader("Allow-Events", allowEvents))
	res.AppendHeader(gosip.NewHeader("Accept", acceptAll))
	return tx.Respond(res)
}

func (s *Server) onOther(req *gosip.Request, tx gosip.ServerTransaction) error {
	return fail(405, "Method Not Allowed", s.allowHeader())
}

func hostOf(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i > 0 {
		return strings.Trim(addr[:i], "[]")
	}
	return addr
}

// limiter is a token bucket per source address. It exists so that one
// misbehaving phone or a scanner cannot crowd out the others.
type limiter struct {
	rate  float64
	burst float64

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens  float64
	last    time.Time
	lastLog time.Time
}

func newLimiter(rate float64, burst int) *limiter {
	if burst < 1 {
		burst = 1
	}
	return &limiter{rate: rate, burst: float64(burst), buckets: map[string]*bucket{}}
}

func (l *limiter) allow(host string, now time.Time) bool {
	if l.rate <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[host]
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[host] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// shouldLog allows one log line per source per 10 s.
func (l *limiter) shouldLog(host string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[host]
	if b == nil || now.Sub(b.lastLog) < 10*time.Second {
		return false
	}
	b.lastLog = now
	return true
}

// sweep forgets sources whose bucket has refilled.
func (l *limiter) sweep(now time.Time) {
	if l.rate <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, b := range l.buckets {
		if now.Sub(b.last).Seconds()*l.rate >= l.burst && now.Sub(b.lastLog) > 10*time.Second {
			delete(l.buckets, k)
		}
	}
}
