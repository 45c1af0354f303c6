package sip

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// peerSafeHandler guards the log against what peers send. sipgo logs every
// unparseable message at ERROR with its whole payload, so one host sending
// garbage could fill the disk at line rate; here such records keep a short,
// printable excerpt and come at most once per interval per message, with a
// count of those left out. sipgo's reference-count warnings, which fire when
// a peer closes a connection we are writing to, are demoted to debug.
type peerSafeHandler struct {
	slog.Handler
	lim *logLimiter
}

const (
	peerLogInterval = 10 * time.Second
	peerDataMax     = 120
)

func newPeerSafeHandler(h slog.Handler) slog.Handler {
	return &peerSafeHandler{Handler: h, lim: &logLimiter{last: map[string]time.Time{}, dropped: map[string]int{}}}
}

func (h *peerSafeHandler) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "ref went negative") { // "TCP ref went negative", "UDP ref went negative on try close"
		if !h.Handler.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		r.Level = slog.LevelDebug
		return h.Handler.Handle(ctx, r)
	}
	if !hasData(r) {
		return h.Handler.Handle(ctx, r)
	}
	dropped, ok := h.lim.allow(r.Message, r.Time)
	if !ok {
		return nil
	}
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "data" {
			a = slog.String("data", excerpt(a.Value.String()))
		}
		out.AddAttrs(a)
		return true
	})
	if dropped > 0 {
		out.AddAttrs(slog.Int("suppressed", dropped))
	}
	return h.Handler.Handle(ctx, out)
}

func (h *peerSafeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &peerSafeHandler{Handler: h.Handler.WithAttrs(as), lim: h.lim}
}

func (h *peerSafeHandler) WithGroup(name string) slog.Handler {
	return &peerSafeHandler{Handler: h.Handler.WithGroup(name), lim: h.lim}
}

func hasData(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == "data"
		return !found
	})
	return found
}

// excerpt keeps the start of a peer's message, printable and short.
func excerpt(s string) string {
	var b strings.Builder
	for i, c := range s {
		if i >= peerDataMax {
			b.WriteString("...")
			break
		}
		if c < 0x20 || c == 0x7f {
			c = '.'
		}
		b.WriteRune(c)
	}
	return b.String()
}

type logLimiter struct {
	mu      sync.Mutex
	last    map[string]time.Time
	dropped map[string]int
}

// allow reports whether a record with this message may be written now, and
// how many were left out since the last one written.
func (l *logLimiter) allow(msg string, now time.Time) (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if last, ok := l.last[msg]; ok && now.Sub(last) < peerLogInterval {
		l.dropped[msg]++
		return 0, false
	}
	l.last[msg] = now
	n := l.dropped[msg]
	delete(l.dropped, msg)
	return n, true
}
