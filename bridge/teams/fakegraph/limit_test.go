package fakegraph

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestInjectedThrottleAndUnavailable(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.appToken()
	path := "/v1.0/users/" + alice + "/presence"
	e.fg.Throttle(2, 1500*time.Millisecond)
	for range 2 {
		r := e.do(http.MethodGet, path, tok, nil)
		wantStatus(t, r, http.StatusTooManyRequests)
		if ge := r.graphErr(t); ge.Code != "TooManyRequests" {
			t.Fatalf("%+v", ge)
		}
		if got := r.header.Get("Retry-After"); got != "2" {
			t.Fatalf("Retry-After %q, want 2 (1.5 s rounded up)", got)
		}
	}
	wantStatus(t, e.do(http.MethodGet, path, tok, nil), http.StatusOK)

	e.fg.Unavailable(1, 3*time.Second)
	r := e.do(http.MethodPost, "/v1.0/users/"+alice+"/presence/setPresence", tok, map[string]any{"sessionId": appID, "availability": "Busy", "activity": "InACall"})
	wantStatus(t, r, http.StatusServiceUnavailable)
	if ge := r.graphErr(t); ge.Code != "ServiceUnavailable" || r.header.Get("Retry-After") != "3" {
		t.Fatalf("%+v Retry-After %q", ge, r.header.Get("Retry-After"))
	}
	wantStatus(t, e.do(http.MethodPost, "/v1.0/users/"+alice+"/presence/setPresence", tok, map[string]any{"sessionId": appID, "availability": "Busy", "activity": "InACall"}), http.StatusOK)

	st := e.fg.Stats()
	if st.Total != 5 || st.Throttled != 2 || st.Unavailable != 1 || st.Requests[OpPresenceGet] != 3 || st.Requests[OpSetPresence] != 2 ||
		st.Status[http.StatusOK] != 2 || st.Status[http.StatusTooManyRequests] != 2 {
		t.Fatalf("stats %+v", st)
	}
	e.clock.Advance(2 * time.Minute)
	if got := e.fg.Stats().PerMinute(""); got != 2.5 {
		t.Fatalf("PerMinute = %v, want 2.5", got)
	}
	e.fg.ResetStats()
	if st := e.fg.Stats(); st.Total != 0 || len(st.Requests) != 0 {
		t.Fatalf("after reset %+v", st)
	}
}

func TestPresenceRateLimit(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.appToken()
	path := "/v1.0/users/" + alice + "/presence"
	// 1500 presence requests in one instant of the fake clock. They go to
	// the handler directly, 4 at a time, to keep the test fast under -race;
	// the requests that matter below go over TLS.
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	work := make(chan struct{})
	h := e.fg.Handler()
	for range 4 {
		wg.Go(func() {
			for range work {
				req := httptest.NewRequest(http.MethodGet, path, nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				mu.Lock()
				codes[rec.Code]++
				mu.Unlock()
			}
		})
	}
	for range DefaultRateLimit {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	if codes[http.StatusOK] != DefaultRateLimit {
		t.Fatalf("status counts %v, want %d x 200", codes, DefaultRateLimit)
	}
	wantStatus(t, e.do(http.MethodGet, path, tok, nil), http.StatusTooManyRequests)

	e.clock.Advance(10 * time.Second)
	r := e.do(http.MethodGet, path, tok, nil)
	wantStatus(t, r, http.StatusTooManyRequests)
	if ge := r.graphErr(t); ge.Code != "TooManyRequests" {
		t.Fatalf("%+v", ge)
	}
	if ra, _ := strconv.Atoi(r.header.Get("Retry-After")); ra != 20 {
		t.Fatalf("Retry-After %q, want 20 (the window frees in 20 s)", r.header.Get("Retry-After"))
	}
	// Writes count too; other endpoints and other apps do not.
	wantStatus(t, e.setPresence(tok, alice, map[string]any{"sessionId": appID, "availability": "Busy", "activity": "InACall"}), http.StatusTooManyRequests)
	wantStatus(t, e.do(http.MethodGet, "/v1.0/users/"+alice, tok, nil), http.StatusOK)
	tok2, err := e.fg.AppToken(app2ID)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.do(http.MethodGet, path, tok2, nil), http.StatusOK)

	e.clock.Advance(20*time.Second - time.Millisecond)
	wantStatus(t, e.do(http.MethodGet, path, tok, nil), http.StatusTooManyRequests)
	e.clock.Advance(time.Millisecond)
	wantStatus(t, e.do(http.MethodGet, path, tok, nil), http.StatusOK)
	if st := e.fg.Stats(); st.RateLimited != 4 {
		t.Fatalf("stats %+v, want 4 rate-limited", st)
	}
}
