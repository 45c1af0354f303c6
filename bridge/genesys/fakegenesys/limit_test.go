package fakegenesys

import (
	"net/http"
	"testing"
	"time"
)

func TestRateLimitPerToken(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.RateLimit = 5 })
	path := "/api/v2/users/" + alice + "/presences/purecloud"
	for i := range 5 {
		e.clock.Advance(time.Second)
		if r := e.do(http.MethodGet, path, nil); r.status != http.StatusOK {
			t.Fatalf("request %d: %d %s", i+1, r.status, r.body)
		}
	}
	// The first request was at +1 s, so the window frees at +61 s; now is
	// +5 s.
	r := e.do(http.MethodGet, path, nil)
	wantStatus(t, r, http.StatusTooManyRequests)
	b := r.apiErr(t)
	if b.Code != "too.many.requests.retry.after" || b.Message != "Rate limit exceeded the maximum. Retry the request in [56] seconds" || r.header.Get("Retry-After") != "56" {
		t.Fatalf("429: Retry-After %q %+v", r.header.Get("Retry-After"), b)
	}
	// Every endpoint counts; another token of the same client has its own
	// budget.
	wantStatus(t, e.patch(alice, defBody(BusyID)), http.StatusTooManyRequests)
	tok2, err := e.fg.Token(clientID)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.doTok(http.MethodGet, path, tok2, nil), http.StatusOK)

	e.clock.Advance(56*time.Second - time.Millisecond)
	wantStatus(t, e.do(http.MethodGet, path, nil), http.StatusTooManyRequests)
	e.clock.Advance(time.Millisecond)
	wantStatus(t, e.do(http.MethodGet, path, nil), http.StatusOK)
	wantStatus(t, e.do(http.MethodGet, path, nil), http.StatusTooManyRequests)

	st := e.fg.Stats()
	if st.RateLimited != 4 || st.Throttled != 4 || st.Status[http.StatusTooManyRequests] != 4 || st.Requests[OpPresenceGet] != 10 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRateLimitDisabled(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.RateLimit = -1 })
	for range DefaultRateLimit + 5 {
		r := e.do(http.MethodGet, "/api/v2/users/"+alice+"/routingstatus", nil)
		if r.status != http.StatusOK {
			t.Fatalf("status %d with the limit disabled", r.status)
		}
	}
}

func TestDefaultRateLimit(t *testing.T) {
	e := newEnv(t, nil)
	h := e.fg.Handler()
	for i := range DefaultRateLimit {
		r := httpRecord(h, http.MethodGet, "/api/v2/users/"+alice+"/routingstatus", e.tok)
		if r != http.StatusOK {
			t.Fatalf("request %d: %d", i+1, r)
		}
	}
	if r := httpRecord(h, http.MethodGet, "/api/v2/users/"+alice+"/routingstatus", e.tok); r != http.StatusTooManyRequests {
		t.Fatalf("request %d: %d, want 429", DefaultRateLimit+1, r)
	}
}

func TestThrottle(t *testing.T) {
	e := newEnv(t, nil)
	e.fg.Throttle(2, 1500*time.Millisecond)
	for range 2 {
		// Injected 429s come before authentication.
		r := e.doTok(http.MethodGet, "/api/v2/presence/definitions", "", nil)
		wantStatus(t, r, http.StatusTooManyRequests)
		if b := r.apiErr(t); b.Code != "too.many.requests.retry.after" || b.Message != "Rate limit exceeded the maximum. Retry the request in [2] seconds" {
			t.Fatalf("%+v", b)
		}
		if got := r.header.Get("Retry-After"); got != "2" {
			t.Fatalf("Retry-After %q, want 2 (1.5 s rounded up)", got)
		}
	}
	wantStatus(t, e.do(http.MethodGet, "/api/v2/presence/definitions", nil), http.StatusOK)
	st := e.fg.Stats()
	if st.Throttled != 2 || st.RateLimited != 0 || st.Total != 3 {
		t.Fatalf("stats %+v", st)
	}
	e.clock.Advance(30 * time.Second)
	if got := e.fg.Stats().PerMinute(""); got != 6 {
		t.Fatalf("PerMinute = %v, want 6", got)
	}
	e.fg.ResetStats()
	if st := e.fg.Stats(); st.Total != 0 || len(st.Requests) != 0 {
		t.Fatalf("after reset %+v", st)
	}
}
