package fakegenesys

import (
	"maps"
	"net/http"
	"time"
)

// Throttle makes the next n /api/v2 requests answer 429 with Retry-After
// (whole seconds, rounded up), before authentication. It replaces an
// earlier Throttle.
func (s *Server) Throttle(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttleN, s.throttleRA = max(n, 0), max(retryAfter, 0)
}

// rateLog holds the times of a token's admitted requests within the last
// minute, oldest first.
type rateLog struct {
	times []time.Time
}

// rateLocked enforces RateLimit requests per minute per access token
// (client.credentials.token.rate.per.minute) over a sliding minute on the
// clock. Refused requests do not count, so a client that waits
// Retry-After gets through.
func (s *Server) rateLocked(tok string, now time.Time) *apiError {
	if s.opt.RateLimit < 0 {
		return nil
	}
	rl := s.rate[tok]
	if rl == nil {
		rl = &rateLog{}
		s.rate[tok] = rl
	}
	cutoff := now.Add(-rateWindow)
	i := 0
	for i < len(rl.times) && !rl.times[i].After(cutoff) {
		i++
	}
	rl.times = rl.times[i:]
	if len(rl.times) >= s.opt.RateLimit {
		s.stats.rateLimited++
		return tooManyRequests(max(rl.times[0].Add(rateWindow).Sub(now), time.Second))
	}
	rl.times = append(rl.times, now)
	return nil
}

// Stats is a snapshot of the counters.
type Stats struct {
	Since time.Time `json:"since"` // when counting started: New or ResetStats, on Options.Now
	At    time.Time `json:"at"`    // when the snapshot was taken, on Options.Now
	// Total counts /api/v2 requests of every outcome.
	Total int `json:"total"`
	// Requests counts requests per operation (the Op* constants):
	// /api/v2, the token endpoint and socket connects alike.
	Requests map[string]int `json:"requests"`
	// Status counts /api/v2 answers per HTTP status.
	Status        map[int]int `json:"status"`
	Throttled     int         `json:"throttled"`     // 429 answers, injected and from the rate limit
	RateLimited   int         `json:"rateLimited"`   // 429 answers from the rate limit alone
	Events        int         `json:"events"`        // events queued to sockets
	EventsDropped int         `json:"eventsDropped"` // events that found a socket's queue full
	Heartbeats    int         `json:"heartbeats"`    // heartbeats written
}

// PerMinute is the rate of an operation between Since and At, or of all
// /api/v2 requests when op is "". It is 0 when no time has passed.
func (st Stats) PerMinute(op string) float64 {
	d := st.At.Sub(st.Since)
	if d <= 0 {
		return 0
	}
	n := st.Total
	if op != "" {
		n = st.Requests[op]
	}
	return float64(n) / d.Minutes()
}

type statsState struct {
	since         time.Time
	total         int
	requests      map[string]int
	status        map[int]int
	throttled     int
	rateLimited   int
	events        int
	eventsDropped int
	heartbeats    int
}

func newStats(now time.Time) statsState {
	return statsState{since: now, requests: make(map[string]int), status: make(map[int]int)}
}

func (st *statsState) record(op string, status int) {
	st.total++
	st.requests[op]++
	st.status[status]++
	if status == http.StatusTooManyRequests {
		st.throttled++
	}
}

// recordOther counts a request outside /api/v2.
func (st *statsState) recordOther(op string) {
	st.requests[op]++
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	return Stats{
		Since: st.since, At: s.now(), Total: st.total,
		Requests: maps.Clone(st.requests), Status: maps.Clone(st.status),
		Throttled: st.throttled, RateLimited: st.rateLimited,
		Events: st.events, EventsDropped: st.eventsDropped, Heartbeats: st.heartbeats,
	}
}

// ResetStats zeroes the counters and restarts Since, for a benchmark that
// measures one phase.
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = newStats(s.now())
}
