package fakegenesys

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

const (
	clientID  = "0b1f9e2c-7d3a-4c5e-9f10-00000000c001"
	secret    = "s3cret+with/odd=chars&more"
	client2ID = "0b1f9e2c-7d3a-4c5e-9f10-00000000c002"
	secret2   = "other-secret"

	alice = "00000000-0000-4000-8000-000000001001"
	bob   = "00000000-0000-4000-8000-000000001002"
	carol = "00000000-0000-4000-8000-000000001003"

	lunchID   = "9b0f3c3e-5b0a-4a7e-9d7e-1a2b3c4d5e6f"
	retiredID = "4c1d2e3f-6a7b-4c8d-9e0f-a1b2c3d4e5f6"
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

type env struct {
	t      *testing.T
	fg     *Server
	ts     *httptest.Server
	clock  *fakeClock
	client *http.Client
	tok    string // an access token of clientID
}

func testOptions(clock *fakeClock) Options {
	return Options{
		Clients: map[string]string{clientID: secret, client2ID: secret2},
		Users: []User{
			{ID: alice, Email: "alice@contoso.example", Name: "Alice Reception"},
			{ID: bob, Email: "bob@contoso.example", Name: "Bob Sales"},
			{ID: carol, Email: "carol@contoso.example", Name: "Carol Sales Lead"},
		},
		Definitions: []Definition{
			{ID: lunchID, Name: "Lunch", SystemPresence: "Meal"},
			{ID: retiredID, Name: "Old Break", SystemPresence: "BREAK", Deactivated: true},
		},
		Now:           clock.Now,
		Heartbeat:     time.Hour, // tests that want heartbeats set it
		SweepInterval: time.Hour, // tests sweep by hand
	}
}

func newEnv(t *testing.T, mutate func(*Options)) *env {
	t.Helper()
	return newEnvWith(t, mutate, httptest.NewServer)
}

func newEnvWith(t *testing.T, mutate func(*Options), start func(http.Handler) *httptest.Server) *env {
	t.Helper()
	clock := newClock()
	opt := testOptions(clock)
	if mutate != nil {
		mutate(&opt)
	}
	fg := New(opt)
	ts := start(fg.Handler())
	t.Cleanup(func() {
		fg.Close()
		ts.Close()
	})
	tok, err := fg.Token(clientID)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, fg: fg, ts: ts, clock: clock, client: ts.Client(), tok: tok}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("status %d: decoding %s: %v", r.status, r.body, err)
	}
}

// apiErr decodes ErrorBody and fails the test unless it is complete: a
// message, a code, the HTTP status, a contextId and the two arrays.
func (r resp) apiErr(t *testing.T) ErrorBody {
	t.Helper()
	var raw map[string]json.RawMessage
	r.json(t, &raw)
	var b ErrorBody
	r.json(t, &b)
	if b.Message == "" || b.Code == "" || b.Status != r.status || !isGUID(b.ContextID) {
		t.Fatalf("status %d: incomplete ErrorBody %s", r.status, r.body)
	}
	if string(raw["details"]) != "[]" || string(raw["errors"]) != "[]" {
		t.Fatalf("status %d: details/errors not empty arrays: %s", r.status, r.body)
	}
	return b
}

func wantStatus(t *testing.T, r resp, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d: %s", r.status, want, r.body)
	}
}

// do sends an /api/v2 request with the env's token; a non-nil body is
// sent as JSON.
func (e *env) do(method, path string, body any) resp {
	e.t.Helper()
	return e.doTok(method, path, e.tok, body)
}

func (e *env) doTok(method, path, tok string, body any) resp {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.ts.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return e.send(req)
}

// raw sends a request with exactly the given body and headers.
func (e *env) raw(method, path string, header map[string]string, body string) resp {
	e.t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
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

func (e *env) postToken(form url.Values, basicUser, basicPass string) resp {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.ts.URL+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicUser != "" {
		req.SetBasicAuth(basicUser, basicPass)
	}
	return e.send(req)
}

func (e *env) patch(user string, body any) resp {
	e.t.Helper()
	return e.do(http.MethodPatch, "/api/v2/users/"+user+"/presences/purecloud", body)
}

func defBody(id string) map[string]any {
	return map[string]any{"presenceDefinition": map[string]string{"id": id}, "primary": true}
}

// createChannel makes a channel and returns its id and connectUri.
func (e *env) createChannel(tok string) (string, string) {
	e.t.Helper()
	r := e.doTok(http.MethodPost, "/api/v2/notifications/channels", tok, nil)
	wantStatus(e.t, r, http.StatusOK)
	var ch struct{ ConnectURI, ID, Expires string }
	r.json(e.t, &ch)
	return ch.ID, ch.ConnectURI
}

type topicEntity struct {
	ID              string `json:"id"`
	State           string `json:"state"`
	RejectionReason string `json:"rejectionReason"`
}

func (e *env) subscribe(method, chID string, topics ...string) (resp, []topicEntity) {
	e.t.Helper()
	body := make([]map[string]string, len(topics))
	for i, t := range topics {
		body[i] = map[string]string{"id": t}
	}
	r := e.do(method, "/api/v2/notifications/channels/"+chID+"/subscriptions", body)
	var out struct{ Entities []topicEntity }
	if r.status == http.StatusOK {
		r.json(e.t, &out)
	}
	return r, out.Entities
}

// wsMsg is any message the notification socket sends.
type wsMsg struct {
	raw       []byte
	TopicName string          `json:"topicName"`
	Version   string          `json:"version"`
	EventBody json.RawMessage `json:"eventBody"`
	Metadata  struct {
		CorrelationID string `json:"CorrelationId"`
	} `json:"metadata"`
	Result        string `json:"result"`
	Status        string `json:"status"`
	Message       string `json:"message"`
	CorrelationID string `json:"correlationId"`
}

func (m wsMsg) body(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(m.EventBody, v); err != nil {
		t.Fatalf("eventBody of %s: %v", m.raw, err)
	}
}

func (m wsMsg) isHeartbeat() bool {
	return m.TopicName == "channel.metadata" && strings.Contains(string(m.EventBody), "WebSocket Heartbeat")
}

// wsClient is a notification socket with a reader goroutine, so tests can
// wait for messages with a timeout. The goroutine ends when the socket
// closes; Cleanup closes it and waits.
type wsClient struct {
	t    *testing.T
	conn *websocket.Conn
	msgs chan wsMsg
	done chan struct{}
	err  error // why reading ended; valid after done
}

func dialWS(t *testing.T, connectURI string, client *http.Client) (*wsClient, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, res, err := websocket.Dial(ctx, connectURI, &websocket.DialOptions{HTTPClient: client})
	if err != nil {
		return nil, res, err
	}
	conn.SetReadLimit(1 << 20)
	w := &wsClient{t: t, conn: conn, msgs: make(chan wsMsg, 4096), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			_, b, err := conn.Read(context.Background())
			if err != nil {
				w.err = err
				return
			}
			var m wsMsg
			if err := json.Unmarshal(b, &m); err != nil {
				w.err = fmt.Errorf("message is not JSON: %w: %s", err, b)
				return
			}
			m.raw = b
			w.msgs <- m
		}
	}()
	t.Cleanup(func() {
		_ = conn.CloseNow()
		<-w.done
	})
	return w, res, nil
}

func (e *env) dial(connectURI string) *wsClient {
	e.t.Helper()
	w, _, err := dialWS(e.t, connectURI, e.client)
	if err != nil {
		e.t.Fatalf("dial %s: %v", connectURI, err)
	}
	return w
}

// expect returns the first message that matches, skipping others, or
// fails after 5 s.
func (w *wsClient) expect(what string, match func(wsMsg) bool) wsMsg {
	w.t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case m := <-w.msgs:
			if match(m) {
				return m
			}
		case <-w.done:
			// Drain what arrived before the close.
			select {
			case m := <-w.msgs:
				if match(m) {
					return m
				}
				continue
			default:
			}
			w.t.Fatalf("socket closed (%v) while waiting for %s", w.err, what)
		case <-timeout:
			w.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func topicIs(name string) func(wsMsg) bool {
	return func(m wsMsg) bool { return m.TopicName == name }
}

// expectNone fails if a message other than a heartbeat matching match
// arrives within d.
func (w *wsClient) expectNone(d time.Duration, match func(wsMsg) bool) {
	w.t.Helper()
	timeout := time.After(d)
	for {
		select {
		case m := <-w.msgs:
			if match(m) {
				w.t.Fatalf("unexpected message %s", m.raw)
			}
		case <-timeout:
			return
		}
	}
}

// closed waits for the socket to end and returns why.
func (w *wsClient) closed() error {
	w.t.Helper()
	select {
	case <-w.done:
		return w.err
	case <-time.After(5 * time.Second):
		w.t.Fatal("socket still open after 5 s")
		return nil
	}
}

func (w *wsClient) send(v any) {
	w.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.conn.Write(ctx, websocket.MessageText, b); err != nil {
		w.t.Fatal(err)
	}
}

func closeReason(err error) (websocket.StatusCode, string) {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code, ce.Reason
	}
	return -1, ""
}

// connected reports whether channel id has a live socket. Channels made
// on one fake-clock instant sort by their random ids, so tests with
// several channels name the one they mean.
func (e *env) connected(id string) bool {
	for _, ch := range e.fg.Channels() {
		if ch.ID == id {
			return ch.Connected
		}
	}
	return false
}
