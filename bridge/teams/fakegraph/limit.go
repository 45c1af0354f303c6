package fakegraph

import (
	"maps"
	"net/http"
	"time"
)

// Throttle makes the next n Graph requests answer 429 TooManyRequests with
// Retry-After (whole seconds, rounded up). It replaces an earlier Throttle.
func (s *Server) Throttle(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttleN, s.throttleRA = max(n, 0), max(retryAfter, 0)
}

// Unavailable makes the next n Graph requests answer 503 ServiceUnavailable
// with Retry-After. Pending Throttle answers come first.
func (s *Server) Unavailable(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unavailN, s.unavailRA = max(n, 0), max(retryAfter, 0)
}

// rateLog holds the times of an application's admitted presence requests
// within the window, oldest first.
type rateLog struct {
	times []time.Time
}

// rateLocked enforces RateLimit presence requests per RateWindow per
// application over a sliding window. Refused requests are not counted, so a
// client that waits Retry-After gets through.
func (s *Server) rateLocked(appID string, now time.Time) *apiError {
	if s.opt.RateLimit < 0 {
		return nil
	}
	rl := s.rate[appID]
	if rl == nil {
		rl = &rateLog{}
		s.rate[appID] = rl
	}
	cutoff := now.Add(-s.opt.RateWindow)
	i := 0
	for i < len(rl.times) && !rl.times[i].After(cutoff) {
		i++
	}
	rl.times = rl.times[i:]
	if len(rl.times) >= s.opt.RateLimit {
		s.stats.rateLimited++
		e := errorf(http.StatusTooManyRequests, "TooManyRequests",
			"Too many requests: application %s made %d presence requests in the last %s; the limit is %d per %s per application per tenant.",
			appID, len(rl.times), s.opt.RateWindow, s.opt.RateLimit, s.opt.RateWindow)
		e.retryAfter = max(rl.times[0].Add(s.opt.RateWindow).Sub(now), time.Second)
		return e
	}
	rl.times = append(rl.times, now)
	return nil
}

// Stats is a snapshot of the request counters.
type Stats struct {
	Since time.Time // when counting started: New or ResetStats, on Options.Now
	At    time.Time // when the snapshot was taken, on Options.Now
	// Total counts Graph (/v1.0) requests of every outcome; login
	// endpoints are not included.
	Total int
	// Requests counts requests per operation (the Op* constants),
	// Graph and login endpoints alike.
	Requests map[string]int
	// Status counts Graph responses per HTTP status.
	Status      map[int]int
	Throttled   int // 429 answers, injected and from the rate limit
	RateLimited int // 429 answers from the rate limit alone
	Unavailable int // 503 answers
}

// PerMinute is the rate of an operation between Since and At, or of all
// Graph requests when op is "". It is 0 when no time has passed.
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
	since       time.Time
	total       int
	requests    map[string]int
	status      map[int]int
	throttled   int
	rateLimited int
	unavailable int
}

func newStats(now time.Time) statsState {
	return statsState{since: now, requests: make(map[string]int), status: make(map[int]int)}
}

func (st *statsState) record(op string, status int) {
	st.total++
	st.requests[op]++
	st.status[status]++
	switch status {
	case http.StatusTooManyRequests:
		st.throttled++
	case http.StatusServiceUnavailable:
		st.unavailable++
	}
}

func (st *statsState) recordLogin(op string, _ int) {
	st.requests[op]++
}

// Stats returns the request counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	return Stats{
		Since: st.since, At: s.now(), Total: st.total,
		Requests: maps.Clone(st.requests), Status: maps.Clone(st.status),
		Throttled: st.throttled, RateLimited: st.rateLimited, Unavailable: st.unavailable,
	}
}

// ResetStats zeroes the request counters and restarts Since, for a
// benchmark that measures one phase.
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = newStats(s.now())
}
