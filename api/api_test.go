package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

func TestHealthz(t *testing.T) {
	var broken, bridgeDown atomic.Bool
	s, err := New(Options{
		Addr:    "127.0.0.1:0",
		Version: "test",
		Checks: []Check{{Name: "store", Run: func(context.Context) error {
			if broken.Load() {
				return errors.New("disk gone")
			}
			return nil
		}}, {Name: "teams", Soft: true, Run: func(context.Context) error {
			if bridgeDown.Load() {
				return errors.New("graph failing: connection refused")
			}
			return nil
		}}},
		Routes: map[string]http.Handler{"POST /hook": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusAccepted, map[string]any{"hooked": true})
		})},
		Stats: func() map[string]any { return map[string]any{"subscriptions": 7} },
		Log:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	get := func(path string) (int, map[string]any) {
		t.Helper()
		res, err := http.Get("http://" + s.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
			t.Fatalf("%s: not JSON: %v", path, err)
		}
		return res.StatusCode, body
	}

	code, body := get("/healthz")
	if code != 200 || body["status"] != "ok" || body["subscriptions"] != float64(7) || body["version"] != "test" {
		t.Fatalf("healthz = %d %v", code, body)
	}
	// A soft check (a cloud bridge) degrades the status but keeps 200.
	bridgeDown.Store(true)
	code, body = get("/healthz")
	checks, _ := body["checks"].(map[string]any)
	if code != 200 || body["status"] != "degraded" || checks["teams"] != "graph failing: connection refused" || checks["store"] != "ok" {
		t.Fatalf("healthz with the bridge down = %d %v", code, body)
	}
	broken.Store(true)
	code, body = get("/healthz")
	checks, _ = body["checks"].(map[string]any)
	if code != 503 || body["status"] != "degraded" || checks["store"] != "disk gone" {
		t.Fatalf("broken healthz = %d %v", code, body)
	}
	res, err := http.Post("http://"+s.Addr()+"/hook", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("an extra route answered %d, want its handler's 202", res.StatusCode)
	}
	code, body = get("/nope")
	e, _ := body["error"].(map[string]any)
	if code != 404 || e["code"] != "not_found" || e["message"] == "" {
		t.Fatalf("unknown path = %d %v", code, body)
	}
}

func TestPprofOnlyWhenEnabled(t *testing.T) {
	for _, on := range []bool{false, true} {
		s, err := New(Options{Addr: "127.0.0.1:0", Pprof: on, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		res, err := http.Get("http://" + s.Addr() + "/debug/pprof/")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if want := map[bool]int{false: 404, true: 200}[on]; res.StatusCode != want {
			t.Errorf("pprof=%v: /debug/pprof/ = %d, want %d", on, res.StatusCode, want)
		}
		cancel()
		<-done
	}
}

func TestListenError(t *testing.T) {
	s, err := New(Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.ln.Close()
	if _, err := New(Options{Addr: s.Addr()}); err == nil {
		t.Fatal("second listener on the same address did not fail")
	}
}

// TestStopWithOpenConnection: a browser's connection opened ahead, with
// no request on it yet, does not hold the stop (Go's Shutdown would wait
// 5 s for it and then report an error, so the gateway would exit 1).
func TestStopWithOpenConnection(t *testing.T) {
	s, err := New(Options{Addr: "127.0.0.1:0", Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Until the server has seen it: a request on another connection.
	res, err := http.Get("http://" + s.Addr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want a clean stop", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("the stop took %v", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
}
