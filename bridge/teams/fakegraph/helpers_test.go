package fakegraph

import (
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	tenantID  = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	appID     = "11111111-1111-4111-8111-111111111111"
	appSecret = "s3cret~with:odd&chars=+"
	app2ID    = "22222222-2222-4222-8222-222222222222"
	app2Sec   = "other-secret"

	svc   = "svc-presence@contoso.example"
	svcPW = "pw-svc"
	svc2  = "svc-presence-2@contoso.example"
	svc2W = "pw-svc-2"

	alice = "00000000-0000-4000-8000-000000001001"
	bob   = "00000000-0000-4000-8000-000000001002"
	carol = "00000000-0000-4000-8000-000000001003"
	svcID = "00000000-0000-4000-8000-000000009001"
)

// fakeClock is the injectable clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// trustingClient trusts the certificate every httptest TLS server shares,
// so the fake can reach TLS receivers and tests can reach the fake.
func trustingClient(t *testing.T) *http.Client {
	t.Helper()
	ts := httptest.NewTLSServer(http.NotFoundHandler())
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	ts.Close()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 16}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		Timeout:       20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type env struct {
	t      *testing.T
	fg     *Server
	ts     *httptest.Server
	clock  *fakeClock
	now    func() time.Time // the fake's clock: clock.Now unless a test swapped it
	client *http.Client
}

func testOptions(t *testing.T, clock *fakeClock) Options {
	return Options{
		Tenant:   tenantID,
		Apps:     map[string]string{appID: appSecret, app2ID: app2Sec},
		Accounts: map[string]string{svc: svcPW, svc2: svc2W},
		Users: []User{
			{ID: alice, UPN: "alice@contoso.example", DisplayName: "Alice Reception"},
			{ID: bob, UPN: "bob@contoso.example", DisplayName: "Bob Sales"},
			{ID: carol, UPN: "carol@contoso.example", DisplayName: "Carol Sales Lead"},
			{ID: svcID, UPN: svc, DisplayName: "Presence service"},
		},
		Now:               clock.Now,
		HTTPClient:        trustingClient(t),
		ValidationTimeout: 2 * time.Second,
		DeliveryTimeout:   time.Second,
		RetryDelay:        10 * time.Millisecond,
		MaxAttempts:       4,
		SweepInterval:     time.Hour, // tests sweep by hand
	}
}

func newEnv(t *testing.T, mutate func(*Options)) *env {
	t.Helper()
	clock := newClock()
	opt := testOptions(t, clock)
	if mutate != nil {
		mutate(&opt)
	}
	fg := New(opt)
	ts := httptest.NewTLSServer(fg.Handler())
	t.Cleanup(func() {
		ts.Close()
		fg.Close()
	})
	// Enough idle connections that parallel requests reuse TLS sessions.
	tr := ts.Client().Transport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	t.Cleanup(tr.CloseIdleConnections)
	return &env{t: t, fg: fg, ts: ts, clock: clock, now: opt.Now, client: &http.Client{Transport: tr, Timeout: 20 * time.Second}}
}

func (e *env) appToken() string {
	e.t.Helper()
	tok, err := e.fg.AppToken(appID)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func (e *env) userToken(account string) string {
	e.t.Helper()
	tok, err := e.fg.DelegatedToken(account, appID)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

// graphErr decodes the Graph error envelope and fails the test if the body
// is not one, or if message is empty (the SDK would panic).
func (r resp) graphErr(t *testing.T) graphErrorDetail {
	t.Helper()
	var b graphErrorBody
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatalf("status %d: body is not a Graph error: %v: %s", r.status, err, r.body)
	}
	if b.Error.Code == "" || b.Error.Message == "" {
		t.Fatalf("status %d: error without code or message: %s", r.status, r.body)
	}
	if !isGUID(b.Error.InnerError.RequestID) || b.Error.InnerError.Date == "" {
		t.Fatalf("status %d: innerError incomplete: %s", r.status, r.body)
	}
	return b.Error
}

func (r resp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("status %d: decoding %s: %v", r.status, r.body, err)
	}
}

// do sends a Graph request. A non-nil body is JSON-encoded and, like the
// SDK does, gzipped.
func (e *env) do(method, path, token string, body any) resp {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(b)
		_ = zw.Close()
		rd = &buf
	}
	req, err := http.NewRequest(method, e.ts.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Content-Encoding", "gzip")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.send(req)
}

func (e *env) raw(method, path, token, contentType, encoding string, body []byte) resp {
	e.t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.send(req)
}

func (e *env) send(req *http.Request) resp {
	e.t.Helper()
	res, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

func (e *env) postForm(path string, form url.Values, basicUser, basicPass string) resp {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.ts.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicUser != "" {
		req.SetBasicAuth(url.QueryEscape(basicUser), url.QueryEscape(basicPass))
	}
	return e.send(req)
}

func (e *env) setPresence(token, user string, body map[string]any) resp {
	e.t.Helper()
	return e.do(http.MethodPost, "/v1.0/users/"+user+"/presence/setPresence", token, body)
}

func wantStatus(t *testing.T, r resp, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d: %s", r.status, want, r.body)
	}
}

func wantPresence(t *testing.T, fg *Server, user, av, ac string) string {
	t.Helper()
	gav, gac, seq := fg.Presence(user)
	if gav != av || gac != ac {
		t.Fatalf("presence of %s = %s/%s, want %s/%s (sessions %+v)", user, gav, gac, av, ac, fg.Sessions(user))
	}
	return seq
}

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
