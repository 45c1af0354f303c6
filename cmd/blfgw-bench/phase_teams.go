package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/blfgw/blfgw/bridge/teams/fakegraph"
)

// The teams phase: the gateway's Microsoft Teams bridge keeps 10,000
// users in sync with the fake Microsoft Graph (bridge/teams/fakegraph),
// which the harness serves over TLS on loopback with Graph's real limit
// of 1,500 presence requests per 30 s per application left on:
//
//	harness: fakegraph --HTTPS--> (Graph requests) <-- blfgw --NOTIFY--> lamp watcher SIPps (lamp_watcher.xml)
//	         fakegraph --HTTP change notifications--> blfgw /teams/notify
//
// Every extension has a teams_user (a GUID derived from its number);
// change notifications come from one subscription per service account
// (650 users each, so 16 accounts). The figures, each against Graph's
// limit:
//
//   - start-up: how long until every subscription is up and every user
//     read, and the Graph requests it cost;
//   - steady state: a trickle of Teams changes (2 % of the users per
//     minute, into and out of meetings); Graph requests per minute, per
//     operation, and the delay from the change in Teams to the watcher's
//     NOTIFY;
//   - burst: a company-wide meeting starts (every user Busy/InAMeeting at
//     once); Graph requests in the following minute, 429s, and how long
//     until every watched lamp is busy; then the meeting ends;
//   - phone -> Teams: calls on many phones at once (PUBLISHed confirmed
//     dialogs); how long until every user is "in a call" in Teams, which
//     the bridge's own limiter (40 requests/s) bounds, and the clear.
//
// The fake runs in the harness, so its CPU shows as the harness's.

// Identities of the fake's tenant; the GUIDs are arbitrary but valid.
const (
	teamsTenant    = "5e7c0a11-be4c-4000-8000-000000000001"
	teamsApp       = "5e7c0a11-be4c-4000-8000-0000000a0001"
	teamsSecret    = "blfgw-bench-app-secret"
	teamsPassword  = "blfgw-bench-account-password"
	teamsFirstExt  = 20000
	graphLimit     = fakegraph.DefaultRateLimit // presence requests per 30 s per app
	graphLimitSpan = fakegraph.DefaultRateWindow
)

// teamsSizes are the loads of the teams phase.
type teamsSizes struct {
	users      int           // Teams users (extensions, one each)
	watch      int           // users with one lamp watcher each
	watchProcs int           // SIPp watcher processes
	subRate    int           // SUBSCRIBE/s while setting the watchers up
	steady     time.Duration // steady-state window
	changePct  float64       // % of the users changing per minute in steady state
	inMeeting  int           // users in a meeting at once in steady state
	burstWin   time.Duration // observation after the burst
	untilQuiet bool          // end the burst observation once Graph is quiet
	phone      int           // calls of the phone -> Teams burst
}

func teamsSizesFor(quick bool) teamsSizes {
	if quick {
		return teamsSizes{users: 10000, watch: 1000, watchProcs: 1, subRate: 2000,
			steady: 10 * time.Second, changePct: 2, inMeeting: 5,
			burstWin: 20 * time.Second, untilQuiet: true, phone: 100}
	}
	return teamsSizes{users: 10000, watch: 10000, watchProcs: 2, subRate: 2000,
		steady: 60 * time.Second, changePct: 2, inMeeting: 20,
		burstWin: 60 * time.Second, phone: 500}
}

// teamsUserID is the Entra object id of an extension's Teams user.
func teamsUserID(ext string) string { return fmt.Sprintf("00000000-0000-4000-8000-%012s", ext) }

func teamsAccount(i int) string { return fmt.Sprintf("svc-presence-%02d@bench.example", i+1) }

// teamsAccounts is how many service accounts n users need.
func teamsAccounts(n int) int { return (n + fakegraph.MaxIDs - 1) / fakegraph.MaxIDs }

// teamsConfig is the TOML after the generated header: every extension
// with its teams_user, and [teams] for the fake with change notifications
// to the gateway ({http} is its HTTP port).
func teamsConfig(exts []string, graphURL, caFile string) string {
	var b strings.Builder
	for _, e := range exts {
		fmt.Fprintf(&b, "[[extensions]]\nnumber = %q\nname = \"Ext %s\"\ndepartment = \"Bench\"\npassword = \"pw\"\nteams_user = %q\n", e, e, teamsUserID(e))
	}
	fmt.Fprintf(&b, "[teams]\nenabled = true\ntenant = %q\nclient_id = %q\nclient_secret = %q\n", teamsTenant, teamsApp, teamsSecret)
	fmt.Fprintf(&b, "graph_url = %q\nlogin_url = %q\nca_file = %q\n", graphURL, graphURL, caFile)
	b.WriteString("notification_url = \"http://127.0.0.1:{http}/teams/notify\"\nreconcile_interval = 600\n")
	for i := range teamsAccounts(len(exts)) {
		fmt.Fprintf(&b, "[[teams.accounts]]\nusername = %q\npassword = %q\n", teamsAccount(i), teamsPassword)
	}
	return b.String()
}

// fakeGraph is the fake served over TLS on loopback.
type fakeGraph struct {
	*fakegraph.Server
	srv     *http.Server
	url     string
	ca      string // PEM file of its certificate, for ca_file
	logPath string
	logF    *os.File
}

func startFakeGraph(dir string, exts []string) (*fakeGraph, error) {
	cert, pemBytes, err := fakegraph.SelfSignedCert("127.0.0.1")
	if err != nil {
		return nil, err
	}
	f := &fakeGraph{ca: filepath.Join(dir, "fakegraph-ca.pem"), logPath: filepath.Join(dir, "fakegraph.log")}
	if err := os.WriteFile(f.ca, pemBytes, 0o600); err != nil {
		return nil, err
	}
	if f.logF, err = os.Create(f.logPath); err != nil {
		return nil, err
	}
	users := make([]fakegraph.User, len(exts))
	for i, e := range exts {
		users[i] = fakegraph.User{ID: teamsUserID(e), UPN: "u" + e + "@bench.example", DisplayName: "Ext " + e}
	}
	accounts := map[string]string{}
	for i := range teamsAccounts(len(exts)) {
		accounts[teamsAccount(i)] = teamsPassword
	}
	f.Server = fakegraph.New(fakegraph.Options{
		Tenant:          teamsTenant,
		Apps:            map[string]string{teamsApp: teamsSecret},
		Accounts:        accounts,
		Users:           users,
		AllowHTTPNotify: true, // the gateway's listener is plain HTTP on loopback
		Log:             slog.New(slog.NewTextHandler(f.logF, &slog.HandlerOptions{Level: slog.LevelWarn})),
		// Everything else as Graph: 1,500 presence requests per 30 s,
		// 3 s to answer a notification, retries after 10 s.
	})
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		f.Close()
		return nil, err
	}
	f.url = "https://" + ln.Addr().String()
	f.srv = &http.Server{
		Handler:           f.Handler(),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(f.logF, "fakegraph http: ", log.LstdFlags),
	}
	go func() { _ = f.srv.ServeTLS(ln, "", "") }()
	return f, nil
}

func (f *fakeGraph) close() {
	if f.srv != nil {
		_ = f.srv.Close()
	}
	f.Close()
	_ = f.logF.Close()
}

// presenceOps are the operations Graph's presence limit counts.
var presenceOps = []string{
	fakegraph.OpPresenceGet, fakegraph.OpGetPresencesByUserID, fakegraph.OpSetPresence, fakegraph.OpClearPresence,
	fakegraph.OpSetUserPreferredPresence, fakegraph.OpClearUserPreferredPresence, fakegraph.OpSetStatusMessage,
}

// loginOps are the Entra endpoints, which Stats.Total leaves out.
var loginOps = []string{fakegraph.OpToken, fakegraph.OpOpenIDConfiguration, fakegraph.OpUserRealm}

func presenceCount(st fakegraph.Stats) int {
	n := 0
	for _, op := range presenceOps {
		n += st.Requests[op]
	}
	return n
}

// graphSample is one reading of the fake's counters.
type graphSample struct {
	at              time.Time
	total, presence int
}

// graphSampler reads the fake's counters every 100 ms, for the busiest
// 30 s (Graph's limit is a sliding window).
type graphSampler struct {
	mu      sync.Mutex
	samples []graphSample
	stop    chan struct{}
	done    chan struct{}
}

func sampleGraph(f *fakeGraph) *graphSampler {
	s := &graphSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			st := f.Stats()
			s.mu.Lock()
			s.samples = append(s.samples, graphSample{at: time.Now(), total: st.Total, presence: presenceCount(st)})
			s.mu.Unlock()
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *graphSampler) close() {
	close(s.stop)
	<-s.done
}

// peak is the most presence requests in any window of span that lies
// within [from, to].
func (s *graphSampler) peak(from, to time.Time, span time.Duration) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return peakWithin(s.samples, from, to, span)
}

func peakWithin(samples []graphSample, from, to time.Time, span time.Duration) int {
	// The count when the range began: the last sample at or before from.
	lo := 0
	for lo+1 < len(samples) && !samples[lo+1].at.After(from) {
		lo++
	}
	best, j := 0, lo
	for i := lo; i < len(samples) && !samples[i].at.After(to); i++ {
		for j < i && samples[j].at.Before(samples[i].at.Add(-span)) {
			j++
		}
		best = max(best, samples[i].presence-samples[j].presence)
	}
	return best
}

// teamsHealth is the part of /healthz the teams phase reads.
type teamsHealth struct {
	Status         string            `json:"status"`
	Checks         map[string]string `json:"checks"`
	Subscriptions  int64             `json:"subscriptions"`
	NotifySent     int64             `json:"notify_sent"`
	NotifyOK       int64             `json:"notify_ok"`
	NotifyFailed   int64             `json:"notify_failed"`
	Users          int64             `json:"teams_users"`
	Sessions       int64             `json:"teams_sessions"`
	Subs           int64             `json:"teams_subscriptions"`
	Polled         int64             `json:"teams_polled_users"`
	Writes         int64             `json:"teams_writes"`
	WriteErrors    int64             `json:"teams_write_errors"`
	Reads          int64             `json:"teams_reads"`
	Notifications  int64             `json:"teams_notifications"`
	Refused        int64             `json:"teams_notifications_refused"`
	Echoes         int64             `json:"teams_echoes"`
	GraphRequests  int64             `json:"graph_requests"`
	GraphThrottled int64             `json:"graph_throttled"`
	GraphFailures  int64             `json:"graph_failures"`
	at             time.Time
}

// teamsHealth fetches /healthz; degraded (still 200) is an answer too.
func (g *gateway) teamsHealth(ctx context.Context) (teamsHealth, error) {
	var err error
	for try := 0; try < 5; try++ {
		var h teamsHealth
		if h, err = g.teamsHealthOnce(ctx); err == nil {
			return h, nil
		}
		if g.proc.exited() {
			return h, fmt.Errorf("gateway exited (%v):\n%s", g.proc.err, tail(g.logPath, 2000))
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return h, err
		}
	}
	return teamsHealth{}, err
}

func (g *gateway) teamsHealthOnce(ctx context.Context) (teamsHealth, error) {
	var h teamsHealth
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/healthz", g.httpPort), nil)
	if err != nil {
		return h, err
	}
	res, err := g.http.Do(req)
	if err != nil {
		return h, err
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(&h); err != nil {
		return h, fmt.Errorf("/healthz: %w", err)
	}
	h.at = time.Now()
	return h, nil
}

// goroutines reads the gateway's goroutine count from pprof (on in the
// bench config); -1 if it cannot.
func (g *gateway) goroutines(ctx context.Context) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/goroutine?debug=1", g.httpPort), nil)
	if err != nil {
		return -1
	}
	res, err := g.http.Do(req)
	if err != nil {
		return -1
	}
	defer res.Body.Close()
	line, _ := bufio.NewReader(res.Body).ReadString('\n')
	_, _ = io.Copy(io.Discard, res.Body)
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "goroutine profile: total")))
	if err != nil {
		return -1
	}
	return n
}

// teamsWindow is what one stretch of the phase cost: Graph requests (the
// fake's view), the gateway's Teams counters and CPU.
type teamsWindow struct {
	from, to       time.Time
	s0, s1         fakegraph.Stats
	d0, d1         fakegraph.Deliveries
	h0, h1         teamsHealth
	cpu0, gwCPU    time.Duration
	fcpu0, fakeCPU time.Duration // the harness, where the fake runs
	peak           int           // busiest 30 s of presence requests
}

type teamsMeter struct {
	g    *gateway
	f    *fakeGraph
	samp *graphSampler
}

func (m *teamsMeter) begin(ctx context.Context) (teamsWindow, error) {
	h, err := m.g.teamsHealth(ctx)
	if err != nil {
		return teamsWindow{}, err
	}
	fc, _ := procCPU(os.Getpid())
	return teamsWindow{from: time.Now(), s0: m.f.Stats(), d0: m.f.Deliveries(), h0: h, cpu0: m.g.cpu(), fcpu0: fc}, nil
}

// end closes the window now.
func (m *teamsMeter) end(ctx context.Context, w *teamsWindow) error {
	w.to = time.Now()
	w.s1, w.d1 = m.f.Stats(), m.f.Deliveries()
	w.gwCPU = m.g.cpu() - w.cpu0
	fc, _ := procCPU(os.Getpid())
	w.fakeCPU = fc - w.fcpu0
	w.peak = m.samp.peak(w.from, w.to, graphLimitSpan)
	h, err := m.g.teamsHealth(ctx)
	w.h1 = h
	return err
}

func (w teamsWindow) dur() time.Duration { return w.to.Sub(w.from) }

// graph is the Graph (/v1.0) requests in the window.
func (w teamsWindow) graph() int { return w.s1.Total - w.s0.Total }

func (w teamsWindow) presence() int { return presenceCount(w.s1) - presenceCount(w.s0) }

func (w teamsWindow) op(op string) int { return w.s1.Requests[op] - w.s0.Requests[op] }

func (w teamsWindow) throttled() int { return w.s1.Throttled - w.s0.Throttled }

func (w teamsWindow) rateLimited() int { return w.s1.RateLimited - w.s0.RateLimited }

func (w teamsWindow) perMin(n int) float64 {
	if d := w.dur(); d > 0 {
		return float64(n) / d.Minutes()
	}
	return 0
}

// ops lists the Graph operations of the window, most frequent first, with
// the Entra sign-ins apart.
func (w teamsWindow) ops() string {
	type kv struct {
		op string
		n  int
	}
	var graph, login []kv
	for op, n := range w.s1.Requests {
		d := n - w.s0.Requests[op]
		if d <= 0 {
			continue
		}
		if slices.Contains(loginOps, op) {
			login = append(login, kv{op, d})
		} else {
			graph = append(graph, kv{op, d})
		}
	}
	sort.Slice(graph, func(i, j int) bool {
		return graph[i].n > graph[j].n || graph[i].n == graph[j].n && graph[i].op < graph[j].op
	})
	var parts []string
	for _, x := range graph {
		parts = append(parts, fmt.Sprintf("%s %d", x.op, x.n))
	}
	s := strings.Join(parts, ", ")
	if s == "" {
		s = "none"
	}
	if len(login) > 0 {
		slices.SortFunc(login, func(a, b kv) int { return strings.Compare(a.op, b.op) })
		var lp []string
		for _, x := range login {
			lp = append(lp, fmt.Sprintf("%s %d", x.op, x.n))
		}
		s += "; Entra: " + strings.Join(lp, ", ")
	}
	if st := w.s1.Status; len(st) > 0 {
		var bad []string
		for code, n := range st {
			if d := n - w.s0.Status[code]; code >= 400 && d > 0 {
				bad = append(bad, fmt.Sprintf("%dx %d", d, code))
			}
		}
		if len(bad) > 0 {
			slices.Sort(bad)
			s += "; errors: " + strings.Join(bad, ", ")
		}
	}
	return s
}

// limitLine is the window's Graph figures against the limit.
func (w teamsWindow) limitLine() string {
	return fmt.Sprintf("%s Graph requests (%d presence requests; busiest 30 s: %d of %d), 429s: %d (%d from the rate limit)",
		thousands(w.graph()), w.presence(), w.peak, graphLimit, w.throttled(), w.rateLimited())
}

// gatewayLine is what the gateway did meanwhile, from /healthz and /proc.
func (w teamsWindow) gatewayLine() string {
	h0, h1 := w.h0, w.h1
	s := fmt.Sprintf("gateway: %d notifications taken (%d refused), %d users read, %d echoes, %d Teams writes (%d failed), %d NOTIFYs sent (%d failed); graph_throttled +%d, graph_failures +%d; CPU gateway %.2fs, fake Graph (in the harness) %.2fs",
		h1.Notifications-h0.Notifications, h1.Refused-h0.Refused, h1.Reads-h0.Reads, h1.Echoes-h0.Echoes,
		h1.Writes-h0.Writes, h1.WriteErrors-h0.WriteErrors, h1.NotifySent-h0.NotifySent, h1.NotifyFailed-h0.NotifyFailed,
		h1.GraphThrottled-h0.GraphThrottled, h1.GraphFailures-h0.GraphFailures, w.gwCPU.Seconds(), w.fakeCPU.Seconds())
	d := fakegraph.Deliveries{
		Delivered: w.d1.Delivered - w.d0.Delivered, Failed: w.d1.Failed - w.d0.Failed, Dropped: w.d1.Dropped - w.d0.Dropped,
		Posts: w.d1.Posts - w.d0.Posts, Retries: w.d1.Retries - w.d0.Retries,
	}
	s += fmt.Sprintf("; fake: %d change notifications delivered in %d POSTs", d.Delivered, d.Posts)
	if d.Failed > 0 || d.Dropped > 0 || d.Retries > 0 {
		s += fmt.Sprintf(" (%d failed, %d dropped from a full queue, %d retried POSTs)", d.Failed, d.Dropped, d.Retries)
	}
	if h1.Status != "ok" && h1.Status != "" {
		s += fmt.Sprintf("; /healthz %s: %s", h1.Status, h1.Checks["teams"])
	}
	return s
}

func thousands(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// teamsChange is one presence change made in Teams.
type teamsChange struct {
	ext  string
	at   time.Time
	busy bool // into a meeting (else out of it)
}

// planned is one change of the steady state: a user (an index) going into
// a meeting or out of it.
type planned struct {
	user int
	busy bool
}

// steadyPlan is n changes over users: new users go into meetings, and once
// inMeeting of them are in one, every other change ends the longest
// meeting. Users are taken in a stride that spreads them over every
// subscription.
func steadyPlan(users, n, inMeeting int) []planned {
	stride := 7919
	for gcd(stride, users) != 1 {
		stride++
	}
	var out []planned
	var fifo []int
	next := 0
	for j := 0; j < n; j++ {
		if j%2 == 1 && len(fifo) >= max(inMeeting, 1) {
			out = append(out, planned{user: fifo[0], busy: false})
			fifo = fifo[1:]
			continue
		}
		u := (next * stride) % users
		next++
		fifo = append(fifo, u)
		out = append(out, planned{user: u, busy: true})
	}
	return out
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// teamsLamp is one NOTIFY a lamp watcher logged.
type teamsLamp struct {
	ext   string
	at    time.Time
	teams bool // the Teams busy dialog (blfgw-teams) is confirmed
	busy  bool // some dialog is confirmed
}

var entityRE = regexp.MustCompile(`entity="sip:([^@"]+)@`)

// readTeamsLamps parses a lamp watcher's -log_file from byte offset off up
// to its last complete NOTIFY; it returns them and the offset after it.
func readTeamsLamps(path string, off int64) ([]teamsLamp, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, off, nil
		}
		return nil, off, err
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, off, err
	}
	var out []teamsLamp
	var at time.Time
	in := false
	var body strings.Builder
	rd := bufio.NewReaderSize(f, 1<<20)
	pos := off
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			break // a partial last line is read next time
		}
		pos += int64(len(line))
		if rest, ok := strings.CutPrefix(line, "@@ "); ok {
			in = false
			body.Reset()
			if fs := strings.SplitN(rest, " ", 3); len(fs) == 3 {
				if t, ok := sippTime(fs[0]); ok {
					at, in = t, true
					line = fs[2]
				}
			}
		}
		if !in {
			off = pos
			continue
		}
		body.WriteString(line)
		if !strings.Contains(line, "</dialog-info>") {
			continue
		}
		doc := body.String()
		l := teamsLamp{at: at}
		if m := entityRE.FindStringSubmatch(doc); m != nil {
			l.ext = m[1]
		}
		for _, m := range dialogRE.FindAllStringSubmatch(doc, -1) {
			if m[3] == "confirmed" {
				l.busy = true
				if html.UnescapeString(m[1]) == "blfgw-teams" {
					l.teams = true
				}
			}
		}
		out = append(out, l)
		in = false
		off = pos
	}
	return out, off, nil
}

// lampLogs follows the watchers' logs from where the last read stopped.
type teamsLampLogs struct {
	runs    []*sippRun
	offsets []int64
}

func (l *teamsLampLogs) skip() {
	for i, r := range l.runs {
		if st, err := os.Stat(r.logF); err == nil {
			l.offsets[i] = st.Size()
		}
	}
}

// read returns the NOTIFYs logged since the last read, by extension in
// the order they arrived.
func (l *teamsLampLogs) read() (map[string][]teamsLamp, error) {
	out := map[string][]teamsLamp{}
	for i, r := range l.runs {
		ls, off, err := readTeamsLamps(r.logF, l.offsets[i])
		if err != nil {
			return nil, err
		}
		l.offsets[i] = off
		for _, x := range ls {
			out[x.ext] = append(out[x.ext], x)
		}
	}
	for _, ls := range out {
		slices.SortStableFunc(ls, func(a, b teamsLamp) int { return a.at.Compare(b.at) })
	}
	return out, nil
}

// changeDelays finds, for every change of a watched extension, the first
// NOTIFY of that extension after the change that shows it (Teams busy, or
// not), before the extension's next change. It returns the delays sorted,
// how many changes no NOTIFY showed, and when the last one arrived.
func changeDelays(changes []teamsChange, lamps map[string][]teamsLamp, watched map[string]bool) ([]time.Duration, int, time.Time) {
	next := make([]time.Time, len(changes))
	lastOf := map[string]int{}
	for i := len(changes) - 1; i >= 0; i-- {
		c := changes[i]
		if j, ok := lastOf[c.ext]; ok {
			next[i] = changes[j].at
		}
		lastOf[c.ext] = i
	}
	var ds []time.Duration
	var last time.Time
	missed := 0
	for i, c := range changes {
		if !watched[c.ext] {
			continue
		}
		found := false
		for _, l := range lamps[c.ext] {
			if l.at.Before(c.at) {
				continue
			}
			if !next[i].IsZero() && !l.at.Before(next[i]) {
				break
			}
			if l.teams == c.busy {
				ds = append(ds, l.at.Sub(c.at))
				last = latest(last, l.at)
				found = true
				break
			}
		}
		if !found {
			missed++
		}
	}
	slices.Sort(ds)
	return ds, missed, last
}

func delayLine(ds []time.Duration) string {
	return fmt.Sprintf("p50 %s, p99 %s, max %s", msf(pct(ds, 0.5)), msf(pct(ds, 0.99)), msf(pct(ds, 1)))
}

// teamsBurst is one company-wide change and what followed it.
type teamsBurst struct {
	name       string
	w          teamsWindow
	set        time.Duration // setting every user in the fake
	delays     []time.Duration
	missed     int
	allLamps   time.Duration // from the first change to the last watched lamp
	delivered  time.Duration // every change notification delivered (fake)
	readAll    time.Duration // teams_reads risen by the users (healthz)
	lastRead   time.Duration // the last rise of teams_reads
	notified   time.Duration // notify_ok risen by the watchers (healthz)
	lastGraph  time.Duration // the last Graph request seen
	firstWin   time.Duration // the window the "first minute" figure covers
	firstCount int
}

// teamsPhone is the phone -> Teams burst.
type teamsPhone struct {
	n            int
	publishFail  int
	set, clear   teamsWindow
	setAll       time.Duration // PUBLISHes start -> every app session up
	clearAll     time.Duration // idle PUBLISHes start -> every session gone
	setN, clearN int           // sessions up at the end / still up at the end
	publishDur   time.Duration
}

type teamsResult struct {
	users, watched, accounts int
	setup                    string // why the phase stopped short

	startup       time.Duration // gateway start -> every subscription up and every user read
	startupQuiet  time.Duration // -> Graph quiet
	start         teamsWindow
	steady        *teamsWindow
	steadyChanges int
	steadyDelays  []time.Duration
	steadyMissed  int
	burst, ending *teamsBurst
	phone         *teamsPhone
	total         teamsWindow
	peakAll       int
	rss           []string
	goroutines    []string
	leftSubs      int
}

// teamsRes is the teams phase's result for the summary.
var teamsRes *teamsResult

func (b *bench) phaseTeams(ctx context.Context) error {
	sz := teamsSizesFor(b.opt.quick)
	exts := extRange(teamsFirstExt, sz.users)
	res := &teamsResult{users: sz.users, watched: sz.watch, accounts: teamsAccounts(sz.users)}
	teamsRes = res

	fdir := filepath.Join(b.opt.workDir, "teams-fakegraph")
	if err := os.MkdirAll(fdir, 0o755); err != nil {
		return err
	}
	fake, err := startFakeGraph(fdir, exts)
	if err != nil {
		return err
	}
	defer fake.close()
	// Everyone runs Teams and is available: a user without a session is
	// Offline, which would show on the lamps.
	for _, e := range exts {
		if err := fake.SetClient(teamsUserID(e), "Available", "Available"); err != nil {
			return err
		}
	}
	fcpu0, _ := procCPU(os.Getpid())
	fake.ResetStats()
	samp := sampleGraph(fake)
	defer samp.close()
	fmt.Printf("   fake Graph on %s (TLS, in the harness): %d users, 1 app, %d service accounts (650 users each); Graph's limit on: %s presence requests per %.0f s per app\n",
		fake.url, sz.users, res.accounts, thousands(graphLimit), graphLimitSpan.Seconds())

	// The gateway: every extension a Teams user, change notifications on.
	g, err := b.startGatewayWith(ctx, "teams", nil, teamsConfig(exts, fake.url, fake.ca))
	if err != nil {
		return err
	}
	stopped := false
	stopGW := func() {
		if stopped {
			return
		}
		stopped = true
		if msg := g.stop(); msg != "" {
			b.note("teams: %s", msg)
		}
		res.leftSubs = len(fake.Subscriptions())
	}
	defer stopGW()
	m := &teamsMeter{g: g, f: fake, samp: samp}
	// The start-up window and the whole phase's run from the gateway's
	// start (its CPU from zero, the fake's counters from the reset).
	res.start = teamsWindow{from: g.started, s0: fakegraph.Stats{Requests: map[string]int{}, Status: map[int]int{}}, fcpu0: fcpu0}
	res.total = res.start
	snap := func(label string) {
		rss, _ := g.mem()
		live := ""
		if tr := g.gcTraces(); len(tr) > 0 {
			live = fmt.Sprintf(" (Go live heap %.0f MB at the last GC)", mb(tr[len(tr)-1].live))
		}
		res.rss = append(res.rss, fmt.Sprintf("%s %.0f MB%s", label, mb(rss), live))
		res.goroutines = append(res.goroutines, fmt.Sprintf("%s %d", label, g.goroutines(ctx)))
	}

	// Start-up: every subscription up, every user read once, Graph quiet.
	wantSubs := int64(res.accounts)
	var h teamsHealth
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if h, err = g.teamsHealth(ctx); err != nil {
			return err
		}
		if h.Subs == wantSubs && h.Users == int64(sz.users) && h.Reads >= int64(sz.users) {
			res.startup = h.at.Sub(g.started)
			break
		}
		if time.Now().After(deadline) {
			res.setup = fmt.Sprintf("start-up incomplete after %s: teams_subscriptions %d of %d, teams_users %d of %d, teams_reads %d; %s",
				time.Since(g.started).Round(time.Second), h.Subs, wantSubs, h.Users, sz.users, h.Reads, h.Checks["teams"])
			fmt.Println("   " + res.setup)
			return nil
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	if _, err := waitGraphQuiet(ctx, fake, 2*time.Second, 30*time.Second); err != nil {
		return err
	}
	if err := m.end(ctx, &res.start); err != nil {
		return err
	}
	res.startupQuiet = res.start.to.Sub(g.started)
	fmt.Printf("   start-up: %d subscriptions up and all %d users read %s after the gateway started (Graph quiet after %s): %s\n",
		res.start.h1.Subs, res.start.h1.Users, res.startup.Round(time.Millisecond), res.startupQuiet.Round(time.Millisecond), res.start.limitLine())
	fmt.Printf("      requests: %s\n", res.start.ops())
	fmt.Printf("      %s\n", res.start.gatewayLine())
	snap("after start-up")

	// The watchers: one lamp watcher on every watched user.
	step := max(sz.users/max(sz.watch, 1), 1)
	watched := map[string]bool{}
	var wl []string
	for i := 0; i < sz.users && len(wl) < sz.watch; i += step {
		watched[exts[i]] = true
		wl = append(wl, exts[i]+";key"+exts[i])
	}
	h0, err := g.mustHealth(ctx)
	if err != nil {
		return err
	}
	var runs []*sippRun
	defer func() {
		for _, r := range runs {
			r.stopNow()
		}
	}()
	const scen = "lamp_watcher.xml"
	per := (len(wl) + sz.watchProcs - 1) / sz.watchProcs
	t0 := time.Now()
	for i := 0; i < sz.watchProcs; i++ {
		lines := wl[min(i*per, len(wl)):min((i+1)*per, len(wl))]
		if len(lines) == 0 {
			continue
		}
		csv := filepath.Join(g.dir, fmt.Sprintf("teams-watch%d.csv", i))
		if err := writeCSV(csv, "SEQUENTIAL", lines); err != nil {
			return err
		}
		r, err := b.startSipp(g, sippSpec{
			name: fmt.Sprintf("tw%d", i), scenario: scen, inf: csv,
			set:  map[string]string{"stay": "1"},
			rate: float64(sz.subRate) / float64(sz.watchProcs), calls: len(lines), limit: len(lines) + 10,
			logs: true,
		})
		if err != nil {
			return err
		}
		runs = append(runs, r)
	}
	limit := time.Duration(float64(len(wl))/float64(sz.subRate)*3*float64(time.Second)) + 30*time.Second
	hs, settled, err := g.waitSettled(ctx, h0.Subscriptions+int64(len(wl)), limit)
	if err != nil {
		return err
	}
	got := hs.Subscriptions - h0.Subscriptions
	every := "every user"
	if step > 1 {
		every = fmt.Sprintf("1 user in %d", step)
	}
	fmt.Printf("   %d lamp watchers (one each on %s) subscribed in %s (%d SIPp)\n", got, every, time.Since(t0).Round(time.Millisecond), len(runs))
	if !settled || got < int64(len(wl)) {
		res.setup = fmt.Sprintf("only %d of %d watchers subscribed, %d NOTIFYs pending", got, len(wl), hs.pending())
		fmt.Println("   " + res.setup)
		return nil
	}
	if err := sleepCtx(ctx, time.Second); err != nil {
		return err
	}
	logs := &teamsLampLogs{runs: runs, offsets: make([]int64, len(runs))}
	logs.skip()

	// Steady state.
	if err := b.teamsSteady(ctx, m, sz, exts, watched, logs, res); err != nil {
		return err
	}
	snap("after steady state")

	// The company-wide meeting starts, then ends.
	res.burst, err = b.teamsBurst(ctx, m, sz, exts, watched, logs, "meeting starts", "Busy", "InAMeeting", true, sz.burstWin, sz.untilQuiet)
	if err != nil {
		return err
	}
	snap("after the burst")
	res.ending, err = b.teamsBurst(ctx, m, sz, exts, watched, logs, "meeting ends", "Available", "Available", false, 30*time.Second, true)
	if err != nil {
		return err
	}

	// Phone -> Teams.
	pexts := make([]string, 0, sz.phone)
	for i := 0; i < sz.users && len(pexts) < sz.phone; i += max(sz.users/max(sz.phone, 1), 1) {
		pexts = append(pexts, exts[i])
	}
	res.phone, err = b.teamsPhoneBurst(ctx, m, pexts)
	if err != nil {
		return err
	}
	snap("at the end")

	if err := m.end(ctx, &res.total); err != nil {
		return err
	}
	res.peakAll = res.total.peak
	hEnd := res.total.h1
	fmt.Printf("   gateway over the phase: RSS %s; goroutines %s\n", strings.Join(res.rss, ", "), strings.Join(res.goroutines, ", "))
	fmt.Printf("      /healthz at the end: status %s, teams_sessions %d, teams_polled_users %d, graph_requests %d (the fake counted %d Graph requests), graph_throttled %d, graph_failures %d, teams_write_errors %d, teams_notifications_refused %d\n",
		hEnd.Status, hEnd.Sessions, hEnd.Polled, hEnd.GraphRequests, res.total.s1.Total, hEnd.GraphThrottled, hEnd.GraphFailures, hEnd.WriteErrors, hEnd.Refused)
	for _, r := range runs {
		r.stopNow()
	}
	runs = nil
	stopGW()
	warn, wsample := countLog(g.logPath, "level=WARN")
	errs, esample := g.logErrors()
	fw, fsample := countLog(fake.logPath, "level=WARN")
	fe, _ := countLog(fake.logPath, "level=ERROR")
	fmt.Printf("      after SIGTERM: %d subscriptions left in the fake (the gateway deletes its own on the way out); gateway log: %d WARN, %d ERROR lines; fake log: %d WARN, %d ERROR lines\n",
		res.leftSubs, warn, errs, fw, fe)
	for _, s := range []string{wsample, esample, fsample} {
		if s != "" {
			fmt.Printf("      e.g. %s\n", s)
		}
	}
	if res.leftSubs > 0 {
		b.note("teams: %d Graph subscriptions left behind after the gateway stopped", res.leftSubs)
	}
	if n := res.total.throttled(); n > 0 {
		b.note("teams: the fake Graph answered 429 %d times (%d from its rate limit)", n, res.total.rateLimited())
	}
	fmt.Println(teamsHeadline(res))
	return nil
}

// waitGraphQuiet waits until the fake has seen no Graph request for
// quiet, at most limit; it returns whether it got quiet.
func waitGraphQuiet(ctx context.Context, f *fakeGraph, quiet, limit time.Duration) (bool, error) {
	deadline := time.Now().Add(limit)
	last, lastAt := f.Stats().Total, time.Now()
	for {
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return false, err
		}
		if n := f.Stats().Total; n != last {
			last, lastAt = n, time.Now()
		}
		if time.Since(lastAt) >= quiet {
			return true, nil
		}
		if time.Now().After(deadline) {
			return false, nil
		}
	}
}

// teamsSteady changes a trickle of users in Teams, evenly spread over the
// window, and measures what it costs in Graph requests and how soon the
// lamps follow.
func (b *bench) teamsSteady(ctx context.Context, m *teamsMeter, sz teamsSizes, exts []string, watched map[string]bool, logs *teamsLampLogs, res *teamsResult) error {
	n := max(int(math.Round(float64(sz.users)*sz.changePct/100*sz.steady.Minutes())), 1)
	plan := steadyPlan(sz.users, n, sz.inMeeting)
	w, err := m.begin(ctx)
	if err != nil {
		return err
	}
	start := w.from
	var changes []teamsChange
	busy := map[int]bool{}
	for j, p := range plan {
		if err := sleepCtx(ctx, time.Until(start.Add(time.Duration(j)*sz.steady/time.Duration(n)))); err != nil {
			return err
		}
		av, act := "Available", "Available"
		if p.busy {
			av, act = "Busy", "InAMeeting"
		}
		at := time.Now()
		if err := m.f.SetClient(teamsUserID(exts[p.user]), av, act); err != nil {
			return err
		}
		changes = append(changes, teamsChange{ext: exts[p.user], at: at, busy: p.busy})
		busy[p.user] = p.busy
	}
	if err := sleepCtx(ctx, time.Until(start.Add(sz.steady))); err != nil {
		return err
	}
	if err := m.end(ctx, &w); err != nil {
		return err
	}
	res.steady, res.steadyChanges = &w, len(changes)
	// Let the last changes arrive, then end the meetings still going so
	// that the burst changes everyone (not measured).
	if err := sleepCtx(ctx, 3*time.Second); err != nil {
		return err
	}
	lamps, err := logs.read()
	if err != nil {
		return err
	}
	res.steadyDelays, res.steadyMissed, _ = changeDelays(changes, lamps, watched)
	var left []int
	for u, on := range busy {
		if on {
			left = append(left, u)
		}
	}
	for _, u := range left {
		if err := m.f.SetClient(teamsUserID(exts[u]), "Available", "Available"); err != nil {
			return err
		}
	}
	if _, err := waitGraphQuiet(ctx, m.f, 2*time.Second, 20*time.Second); err != nil {
		return err
	}
	if _, _, err := m.g.waitSettled(ctx, -1, 10*time.Second); err != nil {
		return err
	}
	if err := sleepCtx(ctx, 500*time.Millisecond); err != nil {
		return err
	}
	logs.skip()

	nw := 0
	for _, c := range changes {
		if watched[c.ext] {
			nw++
		}
	}
	fmt.Printf("   steady state, %s: %d Teams changes (%.0f%% of the users per minute, into and out of meetings, at most %d in one at once)\n",
		w.dur().Round(time.Second), len(changes), sz.changePct, sz.inMeeting)
	fmt.Printf("      Graph requests/min steady: %.0f (limit 3,000/min = %s per 30 s); %s\n", w.perMin(w.graph()), thousands(graphLimit), w.limitLine())
	fmt.Printf("      requests: %s (%.2f getPresencesByUserId per change)\n", w.ops(), float64(w.op(fakegraph.OpGetPresencesByUserID))/float64(max(len(changes), 1)))
	fmt.Printf("      Teams change -> NOTIFY: %s (%d of %d changes of watched users seen", delayLine(res.steadyDelays), len(res.steadyDelays), nw)
	if res.steadyMissed > 0 {
		fmt.Printf("; %d NOT seen", res.steadyMissed)
	}
	fmt.Println(")")
	fmt.Printf("      %s\n", w.gatewayLine())
	if res.steadyMissed > 0 {
		b.note("teams: %d of %d steady-state Teams changes of watched users never reached the lamp", res.steadyMissed, nw)
	}
	return nil
}

// teamsBurst sets every user to one presence as fast as the fake takes it
// and follows what the bridge does for window (or until Graph is quiet,
// if untilQuiet, at most window).
func (b *bench) teamsBurst(ctx context.Context, m *teamsMeter, sz teamsSizes, exts []string, watched map[string]bool, logs *teamsLampLogs,
	name, av, act string, busy bool, window time.Duration, untilQuiet bool) (*teamsBurst, error) {
	r := &teamsBurst{name: name}
	w, err := m.begin(ctx)
	if err != nil {
		return nil, err
	}
	start := w.from
	changes := make([]teamsChange, len(exts))
	for i, e := range exts {
		changes[i] = teamsChange{ext: e, at: time.Now(), busy: busy}
		if err := m.f.SetClient(teamsUserID(e), av, act); err != nil {
			return nil, err
		}
	}
	r.set = time.Since(start)
	nw := int64(len(watched))
	lastTotal, lastReads := w.s0.Total, w.h0.Reads
	graphAt, readAt := start, start
	minuteTaken := false
	for {
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return nil, err
		}
		h, err := m.g.teamsHealth(ctx)
		if err != nil {
			return nil, err
		}
		now := time.Now()
		el := now.Sub(start)
		if r.notified == 0 && h.NotifyOK-w.h0.NotifyOK >= nw {
			r.notified = el
		}
		if h.Reads != lastReads {
			lastReads, readAt = h.Reads, now
		}
		if r.readAll == 0 && h.Reads-w.h0.Reads >= int64(len(exts)) {
			r.readAll = el
		}
		if d := m.f.Deliveries(); r.delivered == 0 && d.Delivered+d.Failed+d.Dropped-(w.d0.Delivered+w.d0.Failed+w.d0.Dropped) >= len(exts) {
			r.delivered = el
		}
		st := m.f.Stats()
		if st.Total != lastTotal {
			lastTotal, graphAt = st.Total, now
		}
		if !minuteTaken && el >= time.Minute {
			minuteTaken = true
			r.firstWin, r.firstCount = el, st.Total-w.s0.Total
		}
		done := r.notified > 0 && r.readAll > 0 && r.delivered > 0
		quiet := now.Sub(graphAt) >= 3*time.Second && now.Sub(readAt) >= 3*time.Second
		if el >= window || (untilQuiet && done && quiet) {
			break
		}
	}
	if err := m.end(ctx, &w); err != nil {
		return nil, err
	}
	r.w = w
	if !minuteTaken {
		r.firstWin, r.firstCount = w.dur(), w.graph()
	}
	r.lastRead, r.lastGraph = readAt.Sub(start), graphAt.Sub(start)
	// The watchers' view; the NOTIFYs may still be landing.
	if _, _, err := m.g.waitSettled(ctx, -1, 10*time.Second); err != nil {
		return nil, err
	}
	if err := sleepCtx(ctx, 300*time.Millisecond); err != nil {
		return nil, err
	}
	lamps, err := logs.read()
	if err != nil {
		return nil, err
	}
	var last time.Time
	r.delays, r.missed, last = changeDelays(changes, lamps, watched)
	if !last.IsZero() {
		r.allLamps = last.Sub(start)
	}

	lamp := "busy"
	if !busy {
		lamp = "idle"
	}
	fmt.Printf("   %s: all %d users %s/%s in the fake in %s; observed %s\n", name, len(exts), av, act, r.set.Round(time.Millisecond), w.dur().Round(time.Second))
	if r.firstWin >= time.Minute {
		fmt.Printf("      burst: %s Graph requests in the first minute (limit 3,000/min = %s per 30 s), 429s: %d; %s\n",
			thousands(r.firstCount), thousands(graphLimit), w.throttled(), w.limitLine())
	} else {
		fmt.Printf("      burst: %s Graph requests until Graph was quiet (%s, all of them in the first minute), 429s: %d; %s\n",
			thousands(r.firstCount), r.firstWin.Round(time.Second), w.throttled(), w.limitLine())
	}
	fmt.Printf("      requests: %s (getPresencesByUserId: %d = %.1f per 650 users; the last Graph request %s after the burst)\n",
		w.ops(), w.op(fakegraph.OpGetPresencesByUserID), float64(w.op(fakegraph.OpGetPresencesByUserID))/(float64(len(exts))/fakegraph.MaxIDs), r.lastGraph.Round(time.Millisecond))
	fmt.Printf("      every watched lamp %s after %s (%d of %d lamps; Teams change -> NOTIFY %s)",
		lamp, msf(orNA(r.allLamps)), len(r.delays), len(watched), delayLine(r.delays))
	if r.missed > 0 {
		fmt.Printf("; %d lamps NEVER %s", r.missed, lamp)
	}
	fmt.Println()
	fmt.Printf("      all %d users' Teams state at the gateway: change notifications all delivered after %s, teams_reads +%d reached %d after %s (last read %s); every watcher's NOTIFY answered after %s\n",
		len(exts), msf(orNA(r.delivered)), w.h1.Reads-w.h0.Reads, len(exts), msf(orNA(r.readAll)), msf(r.lastRead), msf(orNA(r.notified)))
	fmt.Printf("      %s\n", w.gatewayLine())
	if r.missed > 0 {
		b.note("teams: %s: %d of %d watched lamps never showed %s", name, r.missed, len(watched), lamp)
	}
	logs.skip()
	return r, nil
}

func orNA(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}

// teamsPhoneBurst puts n extensions in a call at once (a PUBLISHed
// confirmed dialog each) and waits for every one to show "in a call" in
// Teams, then ends the calls and waits for every session to go.
func (b *bench) teamsPhoneBurst(ctx context.Context, m *teamsMeter, exts []string) (*teamsPhone, error) {
	p := &teamsPhone{n: len(exts)}
	pubs := make([]*publisher, len(exts))
	for i := range pubs {
		pb, err := newPublisher(m.g.sipPort)
		if err != nil {
			return nil, err
		}
		defer pb.close()
		pubs[i] = pb
	}
	publishAll := func(st state) int {
		var mu sync.Mutex
		fails := 0
		var wg sync.WaitGroup
		next := make(chan int)
		for range 16 {
			wg.Go(func() {
				for i := range next {
					if ctx.Err() != nil || m.g.proc.exited() {
						mu.Lock()
						fails++
						mu.Unlock()
						continue
					}
					if _, _, err := pubs[i].publish(exts[i], st); err != nil {
						mu.Lock()
						fails++
						mu.Unlock()
					}
				}
			})
		}
		for i := range exts {
			next <- i
		}
		close(next)
		wg.Wait()
		return fails
	}
	inCall := func() int {
		n := 0
		for _, e := range exts {
			if s, ok := m.f.AppSession(teamsUserID(e), teamsApp); ok && s.Availability == "Busy" && s.Activity == "InACall" {
				n++
			}
		}
		return n
	}
	anySession := func() int {
		n := 0
		for _, e := range exts {
			if _, ok := m.f.AppSession(teamsUserID(e), teamsApp); ok {
				n++
			}
		}
		return n
	}
	// wait polls until cond reaches want or limit passes.
	wait := func(start time.Time, limit time.Duration, count func() int, want int) (time.Duration, int, error) {
		for {
			n := count()
			if n == want {
				return time.Since(start), n, nil
			}
			if time.Since(start) > limit {
				return -1, n, nil
			}
			if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
				return -1, n, err
			}
		}
	}
	// 40 requests/s by default, and the echo reads share them.
	limit := time.Duration(len(exts))*time.Second/20 + 30*time.Second

	var err error
	if p.set, err = m.begin(ctx); err != nil {
		return nil, err
	}
	p.publishFail = publishAll(stBusy)
	p.publishDur = time.Since(p.set.from)
	if p.setAll, p.setN, err = wait(p.set.from, limit, inCall, len(exts)); err != nil {
		return nil, err
	}
	if err := m.end(ctx, &p.set); err != nil {
		return nil, err
	}
	if _, err := waitGraphQuiet(ctx, m.f, time.Second, 10*time.Second); err != nil {
		return nil, err
	}
	if p.clear, err = m.begin(ctx); err != nil {
		return nil, err
	}
	p.publishFail += publishAll(stIdle)
	left := 0
	if p.clearAll, left, err = wait(p.clear.from, limit, anySession, 0); err != nil {
		return nil, err
	}
	p.clearN = left
	if err := m.end(ctx, &p.clear); err != nil {
		return nil, err
	}
	if _, err := waitGraphQuiet(ctx, m.f, time.Second, 10*time.Second); err != nil {
		return nil, err
	}

	fmt.Printf("   phone -> Teams: %d calls PUBLISHed at once (in %s", p.n, p.publishDur.Round(time.Millisecond))
	if p.publishFail > 0 {
		fmt.Printf(", %d PUBLISHes FAILED", p.publishFail)
	}
	fmt.Println(")")
	if p.setAll > 0 {
		fmt.Printf("      all %d in a call in Teams after %s: %s (the bridge's limiter: 40/s = 2,400/min after a burst of 100; Graph's limit 3,000/min = %s per 30 s); %s\n",
			p.n, ms(p.setAll), rateOver(p.set), thousands(graphLimit), p.set.limitLine())
	} else {
		fmt.Printf("      only %d of %d in a call in Teams after %s; %s\n", p.setN, p.n, p.set.dur().Round(time.Second), p.set.limitLine())
	}
	fmt.Printf("      requests: %s\n", p.set.ops())
	fmt.Printf("      %s\n", p.set.gatewayLine())
	if p.clearAll > 0 {
		fmt.Printf("      calls ended: every session cleared after %s: %s; %s\n", ms(p.clearAll), rateOver(p.clear), p.clear.limitLine())
	} else {
		fmt.Printf("      calls ended: %d of %d sessions still up after %s; %s\n", p.clearN, p.n, p.clear.dur().Round(time.Second), p.clear.limitLine())
	}
	fmt.Printf("      requests: %s\n", p.clear.ops())
	if p.setAll <= 0 || p.clearAll <= 0 || p.publishFail > 0 {
		b.note("teams: phone -> Teams burst incomplete (%d of %d in a call, %d sessions left, %d PUBLISHes failed)", p.setN, p.n, p.clearN, p.publishFail)
	}
	return p, nil
}

// rateOver is a window's Graph requests per minute, if it lasted long
// enough for one to mean something.
func rateOver(w teamsWindow) string {
	if w.dur() < 5*time.Second {
		return fmt.Sprintf("%d Graph requests in %s, too short for a rate per minute", w.graph(), w.dur().Round(time.Millisecond))
	}
	return fmt.Sprintf("%d Graph requests in %s = %.0f/min while it lasted", w.graph(), w.dur().Round(time.Millisecond), w.perMin(w.graph()))
}

// countLog counts the lines of a log holding substr and returns one.
func countLog(path, substr string) (int, string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, ""
	}
	n, sample := 0, ""
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, substr) {
			n++
			if sample == "" {
				sample = l
				if len(sample) > 300 {
					sample = sample[:300] + "..."
				}
			}
		}
	}
	return n, sample
}

func teamsHeadline(r *teamsResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Teams bridge, %d users through the fake Graph (limit %s per 30 s = 3,000/min per app):", r.users, thousands(graphLimit))
	if st := r.steady; st != nil {
		fmt.Fprintf(&b, "\n   Graph requests/min steady: %.0f (limit 3,000/min = %s per 30 s), busiest 30 s %d; Teams change -> NOTIFY p50 %s, p99 %s",
			st.perMin(st.graph()), thousands(graphLimit), st.peak, msf(pct(r.steadyDelays, 0.5)), msf(pct(r.steadyDelays, 0.99)))
	}
	if bu := r.burst; bu != nil {
		win := "in the first minute"
		if bu.firstWin < time.Minute {
			win = fmt.Sprintf("until quiet (%s)", bu.firstWin.Round(time.Second))
		}
		fmt.Fprintf(&b, "\n   burst (company-wide meeting starts): %s %s, busiest 30 s %d of %s, 429s: %d; every lamp busy after %s (p50 %s, p99 %s)",
			thousands(bu.firstCount), win, bu.w.peak, thousands(graphLimit), bu.w.throttled(), msf(orNA(bu.allLamps)), msf(pct(bu.delays, 0.5)), msf(pct(bu.delays, 0.99)))
	}
	if p := r.phone; p != nil {
		fmt.Fprintf(&b, "\n   phone -> Teams: %d calls all in Teams after %s (%s), cleared after %s",
			p.n, msf(orNA(p.setAll)), rateOver(p.set), msf(orNA(p.clearAll)))
	}
	return b.String()
}

// teamsSummary prints the teams figures under the summary table.
func teamsSummary() {
	r := teamsRes
	if r == nil {
		return
	}
	fmt.Printf("\nteams (%d users, %d watched lamps, %d service accounts; Graph's limit %s presence requests per 30 s per app = 3,000/min):\n",
		r.users, r.watched, r.accounts, thousands(graphLimit))
	if r.setup != "" {
		fmt.Printf("  not measured: %s\n", r.setup)
		return
	}
	if r.startup > 0 {
		fmt.Printf("  start-up: %s to every subscription and user, %d Graph requests\n", r.startup.Round(time.Millisecond), r.start.graph())
	}
	if st := r.steady; st != nil {
		fmt.Printf("  Graph requests/min steady: %.0f (limit 3,000/min = 1,500 per 30 s), busiest 30 s %d, 429s %d\n", st.perMin(st.graph()), st.peak, st.throttled())
		fmt.Printf("  Teams change -> NOTIFY (steady): p50 %s, p99 %s, max %s, %d not seen\n",
			msf(pct(r.steadyDelays, 0.5)), msf(pct(r.steadyDelays, 0.99)), msf(pct(r.steadyDelays, 1)), r.steadyMissed)
	}
	for _, bu := range []*teamsBurst{r.burst, r.ending} {
		if bu == nil {
			continue
		}
		win := "in the first minute"
		if bu.firstWin < time.Minute {
			win = fmt.Sprintf("until quiet (%s)", bu.firstWin.Round(time.Second))
		}
		fmt.Printf("  %s: %s %s (getPresencesByUserId %d), busiest 30 s %d, 429s: %d; every lamp after %s (p50 %s, p99 %s), %d never\n",
			bu.name, thousands(bu.firstCount), win, bu.w.op(fakegraph.OpGetPresencesByUserID), bu.w.peak, bu.w.throttled(),
			msf(orNA(bu.allLamps)), msf(pct(bu.delays, 0.5)), msf(pct(bu.delays, 0.99)), bu.missed)
	}
	if p := r.phone; p != nil {
		fmt.Printf("  phone -> Teams, %d calls at once: all in Teams after %s (%s, 429s %d), cleared after %s\n",
			p.n, msf(orNA(p.setAll)), rateOver(p.set), p.set.throttled(), msf(orNA(p.clearAll)))
	}
	if r.peakAll > 0 {
		fmt.Printf("  busiest 30 s of the whole phase: %d presence requests of %s; 429s in all: %d\n", r.peakAll, thousands(graphLimit), r.total.throttled())
	}
}
