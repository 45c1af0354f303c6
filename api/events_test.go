package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blfgw/blfgw/api"
	"github.com/blfgw/blfgw/presence"
)

// sseEvent is one dispatched Server-Sent Event, or a comment.
type sseEvent struct {
	event, id, data, retry string
	comment                string
}

// sseClient reads a real event stream with a minimal SSE parser.
type sseClient struct {
	t      *testing.T
	events chan sseEvent // closed at the end of the stream
	cancel context.CancelFunc
	done   chan struct{}

	mu  sync.Mutex
	raw strings.Builder // every byte received
}

// openEvents opens /api/v1/events; on any answer but 200 it returns that
// answer's status and body instead.
func (e *env) openEvents(a auth) (*sseClient, int, string) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(e.t.Context())
	r, err := http.NewRequestWithContext(ctx, "GET", e.base+"/api/v1/events", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	a(r)
	r.Header.Set("Last-Event-ID", "1002:99") // ignored: a reconnect gets the full state
	res, err := (&http.Client{}).Do(r)
	if err != nil {
		cancel()
		e.t.Fatal(err)
	}
	if res.StatusCode != 200 {
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		cancel()
		return nil, res.StatusCode, string(raw)
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		e.t.Errorf("Content-Type %q", ct)
	}
	c := &sseClient{t: e.t, events: make(chan sseEvent, 1000), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer close(c.events)
		defer res.Body.Close()
		br := bufio.NewReader(res.Body)
		var ev sseEvent
		var data []string
		have := false
		for {
			line, err := br.ReadString('\n')
			c.mu.Lock()
			c.raw.WriteString(line)
			c.mu.Unlock()
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\r\n")
			switch {
			case line == "":
				if have {
					ev.data = strings.Join(data, "\n")
					c.events <- ev
				}
				ev, data, have = sseEvent{}, nil, false
			case strings.HasPrefix(line, ":"):
				c.events <- sseEvent{comment: strings.TrimSpace(line[1:])}
			default:
				k, v, _ := strings.Cut(line, ":")
				v = strings.TrimPrefix(v, " ")
				have = true
				switch k {
				case "event":
					ev.event = v
				case "id":
					ev.id = v
				case "data":
					data = append(data, v)
				case "retry":
					ev.retry = v
				}
			}
		}
	}()
	e.t.Cleanup(c.close)
	return c, 200, ""
}

func (c *sseClient) close() {
	c.cancel()
	<-c.done
}

func (c *sseClient) rawText() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.raw.String()
}

// next returns the next event or comment, failing after d.
func (c *sseClient) next(d time.Duration) sseEvent {
	c.t.Helper()
	select {
	case ev, ok := <-c.events:
		if !ok {
			c.t.Fatalf("the stream ended")
		}
		return ev
	case <-time.After(d):
		c.t.Fatalf("no event within %v", d)
	}
	return sseEvent{}
}

// until returns the first event that match accepts, and those before it.
func (c *sseClient) until(d time.Duration, match func(sseEvent) bool) (sseEvent, []sseEvent) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	var skipped []sseEvent
	for {
		left := time.Until(deadline)
		if left <= 0 {
			c.t.Fatalf("no matching event within %v; got %v", d, skipped)
		}
		ev := c.next(left)
		if match(ev) {
			return ev, skipped
		}
		skipped = append(skipped, ev)
	}
}

func presenceOf(n string) func(sseEvent) bool {
	return func(ev sseEvent) bool { return ev.event == "presence" && strings.HasPrefix(ev.id, n+":") }
}

func isPing(ev sseEvent) bool { return ev.comment == "ping" }

func canonJSON(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not JSON: %v: %q", err, s)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// start reads the opening of a stream: retry, the list, then one presence
// event per listed extension, each the same as GET .../presence answers
// the same caller.
func (e *env) start(c *sseClient, a auth, self string, exts ...string) {
	e.t.Helper()
	if ev := c.next(time.Second); ev.retry != "2000" {
		e.t.Errorf("first = %+v, want retry: 2000", ev)
	}
	e.wantList(c, a, self, exts...)
}

func (e *env) wantList(c *sseClient, a auth, self string, exts ...string) {
	e.t.Helper()
	ev, skipped := c.until(time.Second, func(ev sseEvent) bool { return ev.event == "list" })
	for _, s := range skipped {
		if s.event != "" {
			e.t.Errorf("before the list: %+v", s)
		}
	}
	want, _ := json.Marshal(map[string]any{"self": self, "extensions": exts})
	if canonJSON(e.t, ev.data) != canonJSON(e.t, string(want)) {
		e.t.Errorf("list = %s, want %s", ev.data, want)
	}
	for _, n := range append([]string{self}, exts...) {
		ev := c.next(time.Second)
		if ev.event != "presence" || !strings.HasPrefix(ev.id, n+":") {
			e.t.Fatalf("want presence of %s, got %+v", n, ev)
		}
		if got, want := canonJSON(e.t, ev.data), canon(e.t, e.get("/api/v1/extensions/"+n+"/presence", a)); got != want {
			e.t.Errorf("stream shows %s as\n%s\nGET shows\n%s", n, got, want)
		}
	}
}

func lampOf(t *testing.T, ev sseEvent) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(ev.data), &m); err != nil {
		t.Fatalf("presence data %q: %v", ev.data, err)
	}
	l, _ := m["lamp"].(string)
	return l
}

var eveSecret = presence.Dialog{
	ID: "eve-call@pbx;a;b", CallID: "eve-call@pbx", LocalTag: "eve-lt", RemoteTag: "eve-rt",
	Direction: presence.Recipient, State: presence.Confirmed,
	Remote: presence.Party{URI: "sip:+4930999@pbx.example.com", Display: "Secret Caller"},
}

func TestEventsHUD(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.EventsPing = 150 * time.Millisecond })
	dave := e.basic("1004")
	// Dave sees Bob's lamp (Bob shares with him) and nothing of Eve (she
	// does not share).
	if r := e.patch("/api/v1/me", dave, `{"appearance":["1002","1005"]}`); r.code != 200 {
		t.Fatalf("appearance = %d %s", r.code, r.raw)
	}
	c, code, body := e.openEvents(dave)
	if c == nil {
		t.Fatalf("events = %d %s", code, body)
	}
	e.start(c, dave, "1004", "1002", "1005")
	if e.srv.Streams() != 1 || e.hub.Watchers("1002") != 1 {
		t.Errorf("streams %d, watchers of 1002 %d", e.srv.Streams(), e.hub.Watchers("1002"))
	}

	// A call of Bob's arrives within a second, as a lamp without the caller.
	bob := presence.Dialog{
		ID: "bob-call@pbx;x;y", CallID: "bob-call@pbx", LocalTag: "bob-lt", RemoteTag: "bob-rt",
		Direction: presence.Recipient, State: presence.Early,
		Remote: presence.Party{URI: "sip:+4930555@pbx.example.com", Display: "Bob's Customer"},
	}
	e.hub.SetDialogs("1002", presence.SourceSIP, []presence.Dialog{bob})
	ev, _ := c.until(time.Second, presenceOf("1002"))
	if lampOf(t, ev) != "ringing" {
		t.Errorf("bob's lamp = %s", ev.data)
	}
	bob.State = presence.Confirmed
	e.hub.SetDialogs("1002", presence.SourceSIP, []presence.Dialog{bob})
	if ev, _ := c.until(time.Second, presenceOf("1002")); lampOf(t, ev) != "busy" {
		t.Errorf("bob's lamp = %s", ev.data)
	}

	// Eve on a call: nothing of it reaches Dave, not even that something
	// changed. Bob hanging up afterwards is the marker; the ping after it
	// closes the batch.
	e.hub.SetDialogs("1005", presence.SourceSIP, []presence.Dialog{eveSecret})
	e.hub.SetDialogs("1002", presence.SourceSIP, nil)
	ev, before := c.until(time.Second, presenceOf("1002"))
	if lampOf(t, ev) != "idle" {
		t.Errorf("bob's lamp = %s", ev.data)
	}
	_, after := c.until(time.Second, isPing)
	for _, x := range append(before, after...) {
		if presenceOf("1005")(x) {
			t.Errorf("a change of eve's showed: %+v", x)
		}
	}
	for _, secret := range []string{"eve-call", "eve-lt", "eve-rt", "4930999", "Secret Caller", "bob-call", "bob-lt", "4930555", "Customer"} {
		if strings.Contains(c.rawText(), secret) {
			t.Errorf("the stream leaks %q", secret)
		}
	}

	// Bob stops sharing: Dave's lamp for him goes neutral at once.
	e.hub.SetDialogs("1002", presence.SourceSIP, []presence.Dialog{bob})
	if ev, _ := c.until(time.Second, presenceOf("1002")); lampOf(t, ev) != "busy" {
		t.Errorf("bob's lamp = %s", ev.data)
	}
	if r := e.patch("/api/v1/me", e.basic("1002"), `{"share_presence":false}`); r.code != 200 {
		t.Fatalf("sharing off = %d %s", r.code, r.raw)
	}
	ev, _ = c.until(time.Second, presenceOf("1002"))
	if got, want := canonJSON(t, ev.data), `{"dialogs":[],"lamp":"idle","message":"","name":"Bob Baker","number":"1002","status":"default"}`; got != want {
		t.Errorf("after sharing off dave sees %s, want %s", got, want)
	}
	if ev.id != "1002:0" {
		t.Errorf("a neutral event's id %q counts the owner's changes", ev.id)
	}

	// A new appearance list: a new list event, the full state again, and
	// Bob is no longer watched.
	if r := e.patch("/api/v1/me", dave, `{"appearance":["1003","1002"]}`); r.code != 200 {
		t.Fatalf("appearance = %d %s", r.code, r.raw)
	}
	e.wantList(c, dave, "1004", "1003", "1002")
	if r := e.patch("/api/v1/me", dave, `{"appearance":["1003"]}`); r.code != 200 {
		t.Fatalf("appearance = %d %s", r.code, r.raw)
	}
	e.wantList(c, dave, "1004", "1003")
	if n := e.hub.Watchers("1002"); n != 0 {
		t.Errorf("1002 still has %d watchers", n)
	}

	// Pings keep proxies from closing the stream.
	c.until(time.Second, isPing)
	c.until(time.Second, isPing)

	// The client goes: the server's side ends and lets go of the hub.
	c.close()
	waitFor(t, "the stream to end", func() bool { return e.srv.Streams() == 0 && e.hub.Watchers("1004") == 0 && e.hub.Watchers("1003") == 0 })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEventsBrowserSession(t *testing.T) {
	// No ping within the test: what follows must come at once.
	e := newEnv(t, func(o *api.Options) { o.EventsPing = time.Hour })
	// Alice chose no list: everyone, in number order; Eve, who does not
	// share, too (neutral), as a polite block must not tell.
	b := e.signIn("1001")
	c, code, body := e.openEvents(b.with(""))
	if c == nil {
		t.Fatalf("events = %d %s", code, body)
	}
	e.start(c, b.with(""), "1001", "1002", "1003", "1004", "1005", "1006")
	if r := e.get("/healthz", e.basic("1001")); r.body["web_sessions"] != float64(1) || r.body["event_streams"] != float64(1) {
		t.Errorf("healthz counts %v sessions and %v streams, want 1 and 1", r.body["web_sessions"], r.body["event_streams"])
	}

	// Eve, in Do Not Disturb, starts sharing with everyone: her row
	// turns busy at once; the list stays as it was.
	if r := e.patch("/api/v1/me", e.basic("1005"), `{"status":"dnd"}`); r.code != 200 {
		t.Fatalf("eve dnd = %d %s", r.code, r.raw)
	}
	if r := e.patch("/api/v1/me", e.basic("1005"), `{"share_presence":true,"share_with":{"everyone":true,"roles":[],"departments":[],"extensions":[]}}`); r.code != 200 {
		t.Fatalf("eve shares = %d %s", r.code, r.raw)
	}
	ev, skipped := c.until(time.Second, func(ev sseEvent) bool { return ev.event == "presence" })
	if !strings.Contains(ev.data, `"number":"1005"`) || !strings.Contains(ev.data, `"lamp":"busy"`) || len(skipped) > 0 {
		t.Errorf("after Eve shares: %+v (skipped %+v)", ev, skipped)
	}

	// Signing out ends the stream, and a reconnect is refused.
	res, raw := e.send(nil, "DELETE", e.base+"/api/v1/session", "", b.with(b.csrf))
	if res.StatusCode != 204 {
		t.Fatalf("sign out = %d %s", res.StatusCode, raw)
	}
	select {
	case <-c.done:
	case <-time.After(2 * time.Second):
		t.Fatal("the stream outlived its session")
	}
	if c, code, body := e.openEvents(b.with("")); c != nil || code != 401 || !strings.Contains(body, "unauthorized") {
		t.Errorf("reconnect after sign-out = %d %s", code, body)
	}
}

func TestEventsPasswordChange(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.EventsPing = 150 * time.Millisecond })
	// A password change ends a stream opened with the old password, at
	// the next ping.
	c, code, body := e.openEvents(e.basic("1003"))
	if c == nil {
		t.Fatalf("events = %d %s", code, body)
	}
	e.mu.Lock()
	e.pw["1003"] = "carol-N3w!pw"
	e.mu.Unlock()
	select {
	case <-c.done:
	case <-time.After(2 * time.Second):
		t.Fatal("the stream outlived its password")
	}
	waitFor(t, "streams to end", func() bool { return e.srv.Streams() == 0 })
}

func TestEventsLimits(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.MaxStreams = 12 })
	for range 10 {
		if c, code, body := e.openEvents(e.basic("1002")); c == nil {
			t.Fatalf("events = %d %s", code, body)
		}
	}
	_, code, body := e.openEvents(e.basic("1002"))
	if code != 503 || !strings.Contains(body, `"too_many_streams"`) || !strings.Contains(body, "1002") {
		t.Errorf("11th stream of one user = %d %s", code, body)
	}
	for _, n := range []string{"1003", "1004"} {
		if c, code, body := e.openEvents(e.basic(n)); c == nil {
			t.Fatalf("events of %s = %d %s", n, code, body)
		}
	}
	_, code, body = e.openEvents(e.basic("1005"))
	if code != 503 || !strings.Contains(body, `"too_many_streams"`) || !strings.Contains(body, "12") {
		t.Errorf("13th stream = %d %s", code, body)
	}
	if c, code, body := e.openEvents(e.basic("1005")); c != nil || code != 503 {
		t.Errorf("refused streams are not counted: %d %s", code, body)
	}
	_, code, body = e.openEvents(anon)
	if code != 401 {
		t.Errorf("events without credentials = %d %s", code, body)
	}
}

func TestEventsShutdown(t *testing.T) {
	e := newEnv(t)
	c, code, body := e.openEvents(e.basic("1001"))
	if c == nil {
		t.Fatalf("events = %d %s", code, body)
	}
	e.start(c, e.basic("1001"), "1001", "1002", "1003", "1004", "1005", "1006")
	start := time.Now()
	if err := e.stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shutting down with an open stream took %v", d)
	}
	select {
	case <-c.done:
	case <-time.After(2 * time.Second):
		t.Fatal("the stream is still open after shutdown")
	}
	if n := e.srv.Streams(); n != 0 {
		t.Errorf("%d streams after shutdown", n)
	}
}

// TestEventsReload: a reload of the admin's file that changes a user's
// appearance list reaches their open stream at once, not at the next
// ping.
func TestEventsReload(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.EventsPing = time.Hour })
	a := e.basic("1004")
	c, code, body := e.openEvents(a)
	if c == nil {
		t.Fatalf("events = %d %s", code, body)
	}
	first, _ := c.until(time.Second, func(ev sseEvent) bool { return ev.event == "list" })
	sd := seeds()
	for i := range sd {
		if sd[i].Number == "1004" {
			sd[i].Values["appearance"] = json.RawMessage(`["1002","1001"]`)
		}
	}
	if err := e.set.Load(t.Context(), departments, sd, polite); err != nil {
		t.Fatal(err)
	}
	ev, _ := c.until(2*time.Second, func(ev sseEvent) bool { return ev.event == "list" && ev.data != first.data })
	if !strings.Contains(ev.data, `"extensions":["1002","1001"]`) {
		t.Errorf("after the reload the list is %s (was %s)", ev.data, first.data)
	}
}
