package office_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"

	"github.com/blfgw/blfgw/sip/dialoginfo"
)

const domain = "pbx.test"

// fakeGateway is the SIP side of a gateway that holds the simulator to
// RFC 3903 to the letter and writes down every PUBLISH: anything a real
// gateway would refuse or that breaks the lifecycle is a problem.
type fakeGateway struct {
	addr   string
	grant  int            // the most seconds granted, so refreshes come soon
	refuse map[string]int // extension -> status code always answered
	silent atomic.Bool    // the gateway is down: nothing is answered

	mu       sync.Mutex
	reqs     []publishRec
	live     map[string]*fakePub // by entity-tag
	dropped  map[string]bool     // Call-ID/CSeq of requests not answered
	lastCSeq map[string]uint32   // by Call-ID
	problems []string
	etags    int
}

type publishRec struct {
	number, callID string
	cseq           uint32
	ifMatch        string
	expires        int
	body           []byte
	info           *dialoginfo.Info
	code           int
	etag           string
}

type fakePub struct {
	number  string
	expires time.Time
}

func startFakeGateway(t *testing.T, grant int) *fakeGateway {
	t.Helper()
	g := &fakeGateway{grant: grant, refuse: map[string]int{}, live: map[string]*fakePub{},
		dropped: map[string]bool{}, lastCSeq: map[string]uint32{}}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("fake-gateway"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	srv.OnPublish(g.onPublish)
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.addr = pc.LocalAddr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.ServeUDP(pc)
	}()
	t.Cleanup(func() {
		_ = pc.Close()
		_ = ua.Close()
		<-done
	})
	return g
}

func (g *fakeGateway) problem(format string, args ...any) {
	g.problems = append(g.problems, fmt.Sprintf(format, args...))
}

func (g *fakeGateway) onPublish(req *gosip.Request, tx gosip.ServerTransaction) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := publishRec{number: req.Recipient.User, callID: req.CallID().Value(), cseq: req.CSeq().SeqNo, body: req.Body()}
	key := r.callID + "/" + strconv.Itoa(int(r.cseq))
	if g.silent.Load() || g.dropped[key] {
		// Retransmissions of what went unanswered stay unanswered, so a
		// transaction the simulator gave up on never takes effect late.
		g.dropped[key] = true
		return
	}
	if last, ok := g.lastCSeq[r.callID]; ok && r.cseq <= last {
		g.problem("%s: CSeq %d after %d on Call-ID %s", r.number, r.cseq, last, r.callID)
	}
	g.lastCSeq[r.callID] = r.cseq
	if h := req.GetHeader("SIP-If-Match"); h != nil {
		r.ifMatch = h.Value()
	}
	answer := func(code int, reason string, hs ...gosip.Header) {
		res := gosip.NewResponseFromRequest(req, code, reason, nil)
		for _, h := range hs {
			res.AppendHeader(h)
		}
		r.code = code
		g.reqs = append(g.reqs, r)
		_ = tx.Respond(res)
	}
	if h := req.GetHeader("Event"); h == nil || h.Value() != "dialog" {
		g.problem("%s: Event %v", r.number, h)
		answer(489, "Bad Event")
		return
	}
	if code, ok := g.refuse[r.number]; ok {
		answer(code, "Not Here")
		return
	}
	h := req.GetHeader("Expires")
	if h == nil {
		g.problem("%s: no Expires", r.number)
		answer(400, "No Expires")
		return
	}
	r.expires, _ = strconv.Atoi(h.Value())
	if r.expires != 0 && r.expires < 60 {
		g.problem("%s: Expires %d below 60", r.number, r.expires)
		answer(423, "Interval Too Brief", gosip.NewHeader("Min-Expires", "60"))
		return
	}
	if len(r.body) > 0 {
		if ct := req.ContentType(); ct == nil || ct.Value() != dialoginfo.ContentType {
			g.problem("%s: Content-Type %v", r.number, ct)
		}
		info, err := dialoginfo.Parse(r.body)
		if err != nil {
			g.problem("%s: body does not parse: %v\n%s", r.number, err, r.body)
			answer(400, "Bad dialog-info")
			return
		}
		if want := "sip:" + r.number + "@" + domain; info.Entity != want {
			g.problem("%s: entity %q, want %q", r.number, info.Entity, want)
		}
		r.info = info
	}
	now := time.Now()
	var old *fakePub
	if r.ifMatch != "" {
		old = g.live[r.ifMatch]
		switch {
		case old == nil:
			g.problem("%s: SIP-If-Match %q names no live publication", r.number, r.ifMatch)
			answer(412, "Conditional Request Failed")
			return
		case old.number != r.number:
			g.problem("%s: SIP-If-Match %q is %s's", r.number, r.ifMatch, old.number)
			answer(412, "Conditional Request Failed")
			return
		case now.After(old.expires):
			g.problem("%s: refreshed %v after expiry", r.number, now.Sub(old.expires))
		}
		delete(g.live, r.ifMatch)
		if r.expires == 0 {
			answer(200, "OK", gosip.NewHeader("Expires", "0"))
			return
		}
	} else {
		if len(r.body) == 0 {
			g.problem("%s: PUBLISH without body or SIP-If-Match", r.number)
			answer(400, "Body or SIP-If-Match")
			return
		}
		for _, p := range g.live {
			if p.number == r.number {
				g.problem("%s: a second publication while one is live", r.number)
			}
		}
	}
	granted := min(r.expires, g.grant)
	g.etags++
	r.etag = "e" + strconv.Itoa(g.etags)
	g.live[r.etag] = &fakePub{number: r.number, expires: now.Add(time.Duration(granted) * time.Second)}
	answer(200, "OK", gosip.NewHeader("SIP-ETag", r.etag), gosip.NewHeader("Expires", strconv.Itoa(granted)))
}

func (g *fakeGateway) snapshot() ([]publishRec, []string, int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]publishRec(nil), g.reqs...), append([]string(nil), g.problems...), len(g.live)
}

// fakeDesk is /api/v1/me of the gateway's HTTP API: HTTP Basic with the
// extension's password, statuses as the OpenAPI document describes them.
type fakeDesk struct {
	url       string
	passwords map[string]string
	down      atomic.Bool // answer 503

	mu       sync.Mutex
	statuses map[string]status
	patches  []patchRec
	problems []string
}

type status struct {
	Status  string `json:"status"`
	Message string `json:"status_message"`
}

type patchRec struct {
	number string
	st     status
}

func startFakeDesk(t *testing.T, people []string, initial map[string]status) *fakeDesk {
	t.Helper()
	d := &fakeDesk{passwords: map[string]string{}, statuses: map[string]status{}}
	for _, n := range people {
		d.passwords[n] = "pw" + n
		d.statuses[n] = status{Status: "default"}
	}
	for n, st := range initial {
		d.statuses[n] = st
	}
	srv := httptest.NewServer(http.HandlerFunc(d.serve))
	t.Cleanup(srv.Close)
	d.url = srv.URL
	return d
}

func (d *fakeDesk) serve(w http.ResponseWriter, r *http.Request) {
	if d.down.Load() {
		http.Error(w, `{"error":{"code":"unavailable","message":"starting"}}`, http.StatusServiceUnavailable)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	n, pw, ok := r.BasicAuth()
	if !ok || d.passwords[n] == "" || d.passwords[n] != pw {
		d.problems = append(d.problems, fmt.Sprintf("bad credentials for %q", n))
		http.Error(w, `{"error":{"code":"unauthorized","message":"wrong extension number or password"}}`, http.StatusUnauthorized)
		return
	}
	if r.URL.Path != "/api/v1/me" {
		d.problems = append(d.problems, "path "+r.URL.Path)
		http.NotFound(w, r)
		return
	}
	switch r.Method {
	case http.MethodGet:
	case http.MethodPatch:
		var st status
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&st); err != nil || r.Header.Get("Content-Type") != "application/json" {
			d.problems = append(d.problems, fmt.Sprintf("%s: bad PATCH: %v", n, err))
			http.Error(w, `{"error":{"code":"bad_request","message":"bad body"}}`, http.StatusBadRequest)
			return
		}
		switch st.Status {
		case "default", "available", "dnd", "away":
		default:
			d.problems = append(d.problems, fmt.Sprintf("%s: status %q", n, st.Status))
		}
		d.statuses[n] = st
		d.patches = append(d.patches, patchRec{n, st})
	default:
		d.problems = append(d.problems, "method "+r.Method)
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(d.statuses[n])
}

func (d *fakeDesk) snapshot() (map[string]status, []patchRec, []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	sts := map[string]status{}
	for k, v := range d.statuses {
		sts[k] = v
	}
	return sts, append([]patchRec(nil), d.patches...), append([]string(nil), d.problems...)
}

// logBuffer collects the simulator's log for assertions.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// waitFor polls cond until it holds or the time is up.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runOffice runs the simulator in the background; stop ends it and says
// how long it took to close.
func runOffice(t *testing.T, o func(ctx context.Context) error) (stop func() time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o(ctx) }()
	var once sync.Once
	var took time.Duration
	stop = func() time.Duration {
		once.Do(func() {
			at := time.Now()
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("Run did not return within 20 s of its context ending")
			}
			took = time.Since(at)
		})
		return took
	}
	t.Cleanup(func() { stop() })
	return stop
}
