package main

// End-to-end harness: the real blfgw binary as a child process on loopback
// ports, SIPp (Debian package sip-tester) as watcher and publisher, and the
// SIPp message logs parsed here for what spans several messages (dialog-info
// versions, CSeq, Subscription-State, lamp states). The scenarios live in
// testdata/sipp; the tests themselves are in sip_e2e_test.go.
//
//	go test -race -count=1 ./cmd/blfgw -run E2E -v
//
// A missing sipp binary fails the tests (it never skips them).

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	e2eDomain = "pbx.test"
	// Every SIPp run and every gateway process is bounded by these.
	sippTimeout    = 30 * time.Second
	sippHardLimit  = 45 * time.Second
	gatewayLimit   = 3 * time.Minute
	gatewayStartup = 20 * time.Second
)

// TestMain: the gateway binary is built lazily, once, by the first
// end-to-end test (unit tests in this package don't pay for it) and removed
// here at the end. The end-to-end tests mostly wait on sockets and timers,
// so unless -parallel is given they run more than GOMAXPROCS at a time.
func TestMain(m *testing.M) {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if f := flag.Lookup("test.parallel"); f != nil && !explicit {
		_ = f.Value.Set(strconv.Itoa(max(8, 4*runtime.GOMAXPROCS(0))))
	}
	code := m.Run()
	if e2eBuild.dir != "" {
		_ = os.RemoveAll(e2eBuild.dir)
	}
	os.Exit(code)
}

var e2eBuild struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// gatewayBinary builds cmd/blfgw once per test binary (with -race when the
// tests run with -race, so data races in the server show up in its log).
func gatewayBinary(t testing.TB) string {
	t.Helper()
	e2eBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "blfgw-e2e-bin-")
		if err != nil {
			e2eBuild.err = err
			return
		}
		e2eBuild.dir = dir
		e2eBuild.bin = filepath.Join(dir, "blfgw")
		// go test puts its own GOROOT/bin first on the PATH.
		goTool := "go"
		args := []string{"build", "-o", e2eBuild.bin}
		if raceEnabled && os.Getenv("BLFGW_E2E_RACE") != "0" {
			args = append(args, "-race")
		}
		args = append(args, ".")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, goTool, args...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			e2eBuild.err = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	})
	if e2eBuild.err != nil {
		t.Fatalf("build the gateway: %v", e2eBuild.err)
	}
	return e2eBuild.bin
}

// sippBinary finds SIPp; its absence is a failure, never a skip.
func sippBinary(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("sipp")
	if err != nil {
		t.Fatalf("sipp not found: apt-get install sip-tester (%v)", err)
	}
	return p
}

func scenarioPath(t testing.TB, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "testdata", "sipp", name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("scenario %s: %v", name, err)
	}
	return p
}

// ---------------------------------------------------------------- ports

var ports struct {
	mu   sync.Mutex
	used map[int]bool
}

// freePort returns a loopback port free for both TCP and UDP and never
// handed out before in this test binary (parallel tests can't collide).
func freePort(t testing.TB) int {
	t.Helper()
	ports.mu.Lock()
	defer ports.mu.Unlock()
	if ports.used == nil {
		ports.used = map[int]bool{}
	}
	for range 200 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("pick a port: %v", err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if ports.used[p] {
			continue
		}
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		_ = u.Close()
		ports.used[p] = true
		return p
	}
	t.Fatal("no free port found")
	return 0
}

// ---------------------------------------------------------------- gateway

type extension struct {
	Number, Name, Department string
}

var e2eExtensions = []extension{
	{"1001", "Alice Example", "Sales"},
	{"1002", "Bob Example", "Sales"},
	{"1003", "Carol Example", "Sales"},
	{"1004", "Dave Example", "Support"},
	{"1005", "Erin Example", "Support"},
	{"1006", "Frank Example", "Support"},
}

func passwordOf(ext string) string { return "secret" + ext }

// e2eWatcher is the extension SIPp watchers subscribe as unless a test says
// otherwise; every other extension names it as a delegate.
const e2eWatcher = "1002"

// gwConfig is what a test may change in the gateway's configuration.
type gwConfig struct {
	Trusted []string // default 127.0.0.0/8; ["192.0.2.0/24"] makes loopback untrusted
	Rate    float64  // per-source limit for untrusted sources; 0 = none
	Burst   int      // default 10
	Level   string   // default debug
	Digest  []string // sip.digest_algorithms; nil: the gateway's default
	// Presence is the body of the [presence] table; "" for the defaults.
	Presence string
	// Ext replaces, per extension number, the sharing lines every extension
	// gets (shared, with e2eWatcher as delegate) by these TOML lines.
	Ext map[string]string
	// Admin is the extension with role "admin" (the others are users).
	Admin string
	// Proxy is the body of the [proxy] table; "" for the defaults.
	Proxy string
	// Teams is the body of the [teams] table ("" leaves the bridge off);
	// {http} in it becomes the gateway's HTTP port. With it, every
	// extension gets teams_user = teamsID(number).
	Teams string
	// Genesys is the body of the [genesys] table ("" leaves it off); with
	// it, every extension gets genesys_user = genesysID(number).
	Genesys string
}

type gateway struct {
	t        testing.TB
	dir      string
	cfgPath  string
	dbPath   string
	sipPort  int
	httpPort int

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
	logs    []string // one stderr file per start
	starts  int
}

// startGateway writes a config, starts the gateway and stops it when the
// test ends (SIGTERM, then SIGKILL if it hangs). On failure its log is
// printed.
func startGateway(t testing.TB, c gwConfig) *gateway {
	t.Helper()
	sippBinary(t) // fail early and clearly
	bin := gatewayBinary(t)
	_ = bin
	if c.Trusted == nil {
		c.Trusted = []string{"127.0.0.0/8"}
	}
	if c.Burst == 0 {
		c.Burst = 10
	}
	if c.Level == "" {
		c.Level = "debug"
	}
	dir := t.TempDir()
	g := &gateway{
		t:        t,
		dir:      dir,
		cfgPath:  filepath.Join(dir, "gw.toml"),
		dbPath:   filepath.Join(dir, "gw.db"),
		sipPort:  freePort(t),
		httpPort: freePort(t),
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[log]\nlevel = %q\nformat = \"text\"\n\n", c.Level)
	fmt.Fprintf(&b, "[sip]\ndomain = %q\nlisten = [\"udp:127.0.0.1:5060\"]\n", e2eDomain)
	fmt.Fprintf(&b, "trusted = [%s]\n", quoteList(c.Trusted))
	fmt.Fprintf(&b, "min_expires = 2\nmax_expires = 3600\ndefault_expires = 3600\nnotify_timeouts = 1\n")
	fmt.Fprintf(&b, "rate = %s\nburst = %d\n", strconv.FormatFloat(c.Rate, 'f', -1, 64), c.Burst)
	if c.Digest != nil {
		fmt.Fprintf(&b, "digest_algorithms = [%s]\n", quoteList(c.Digest))
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "[[sip.devices]]\nuser_agent = \"DummyPhone\"\nidle = \"dummy\"\nsingle_dialog = true\n\n")
	fmt.Fprintf(&b, "[http]\nlisten = \"127.0.0.1:8080\"\n\n[store]\npath = \"x.db\"\n\n")
	fmt.Fprintf(&b, "[[departments]]\nname = \"Sales\"\n\n[[departments]]\nname = \"Support\"\n\n")
	for _, e := range e2eExtensions {
		role := "user"
		if e.Number == c.Admin {
			role = "admin"
		}
		fmt.Fprintf(&b, "[[extensions]]\nnumber = %q\nname = %q\ndepartment = %q\nrole = %q\npassword = %q\n",
			e.Number, e.Name, e.Department, role, passwordOf(e.Number))
		// The default watcher, 1002, answers everyone's calls, so it is
		// shown the caller and the pickup identifiers (1001 answers 1002's).
		delegate := e2eWatcher
		if e.Number == e2eWatcher {
			delegate = "1001"
		}
		if c.Teams != "" {
			fmt.Fprintf(&b, "teams_user = %q\n", teamsID(e.Number))
		}
		if c.Genesys != "" {
			fmt.Fprintf(&b, "genesys_user = %q\n", genesysID(e.Number))
		}
		if extra, ok := c.Ext[e.Number]; ok {
			fmt.Fprintf(&b, "%s\n\n", extra)
			continue
		}
		fmt.Fprintf(&b, "share_presence = true\ndelegates = [%q]\n\n", delegate)
	}
	if c.Presence != "" {
		fmt.Fprintf(&b, "[presence]\n%s\n", c.Presence)
	}
	if c.Proxy != "" {
		fmt.Fprintf(&b, "[proxy]\n%s\n", c.Proxy)
	}
	if c.Teams != "" {
		fmt.Fprintf(&b, "[teams]\n%s\n", strings.ReplaceAll(c.Teams, "{http}", strconv.Itoa(g.httpPort)))
	}
	if c.Genesys != "" {
		fmt.Fprintf(&b, "[genesys]\n%s\n", c.Genesys)
	}
	if err := os.WriteFile(g.cfgPath, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.cleanup)
	g.start()
	return g
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = strconv.Quote(x)
	}
	return strings.Join(q, ", ")
}

// start runs the gateway (again, after stop: same config, ports and
// database) and waits until /healthz answers 200.
func (g *gateway) start() {
	g.t.Helper()
	g.mu.Lock()
	if g.cmd != nil {
		g.mu.Unlock()
		g.t.Fatal("gateway already running")
	}
	g.starts++
	logPath := filepath.Join(g.dir, fmt.Sprintf("gateway-%d.log", g.starts))
	lf, err := os.Create(logPath)
	if err != nil {
		g.mu.Unlock()
		g.t.Fatal(err)
	}
	g.logs = append(g.logs, logPath)
	ctx, cancel := context.WithTimeout(context.Background(), gatewayLimit)
	cmd := exec.CommandContext(ctx, gatewayBinary(g.t), "serve",
		"-config", g.cfgPath,
		"-sip", fmt.Sprintf("udp:127.0.0.1:%d,tcp:127.0.0.1:%d", g.sipPort, g.sipPort),
		"-http", fmt.Sprintf("127.0.0.1:%d", g.httpPort),
		"-db", g.dbPath)
	cmd.Dir = g.dir
	dieWithTest(cmd)
	cmd.Stdout = lf
	cmd.Stderr = lf
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		_ = lf.Close()
		g.mu.Unlock()
		g.t.Fatalf("start gateway: %v", err)
	}
	done := make(chan struct{})
	g.cmd, g.done = cmd, done
	g.mu.Unlock()
	go func() {
		err := cmd.Wait()
		cancel()
		_ = lf.Close()
		g.mu.Lock()
		g.waitErr = err
		g.mu.Unlock()
		close(done)
	}()

	deadline := time.Now().Add(gatewayStartup)
	for {
		h, err := g.health()
		if err == nil && h.code == http.StatusOK {
			return
		}
		select {
		case <-done:
			g.t.Fatalf("gateway exited during start-up: %v\n%s", g.exitErr(), tailFile(logPath, 60))
		default:
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("gateway /healthz not 200 within %v (last: %+v, %v)\n%s", gatewayStartup, h, err, tailFile(logPath, 60))
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (g *gateway) exitErr() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.waitErr
}

// stop signals the gateway and waits for it to exit. After SIGTERM it must
// exit cleanly (status 0) within 15 s.
func (g *gateway) stop(sig syscall.Signal) {
	g.t.Helper()
	g.mu.Lock()
	cmd, done := g.cmd, g.done
	g.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		g.t.Errorf("gateway did not exit within 15s of %v", sig)
	}
	err := g.exitErr()
	g.mu.Lock()
	g.cmd, g.done, g.waitErr = nil, nil, nil
	g.mu.Unlock()
	if sig == syscall.SIGTERM && err != nil {
		g.t.Errorf("gateway exit after SIGTERM: %v (want status 0)", err)
	}
}

// reconfigure edits the configuration file and sends SIGHUP, returning
// when the signal was sent.
func (g *gateway) reconfigure(edit func(string) string) time.Time {
	g.t.Helper()
	g.editConfig(edit)
	g.mu.Lock()
	cmd := g.cmd
	g.mu.Unlock()
	at := time.Now()
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		g.t.Fatal(err)
	}
	return at
}

// editConfig rewrites the configuration file, without telling the gateway.
func (g *gateway) editConfig(edit func(string) string) {
	g.t.Helper()
	data, err := os.ReadFile(g.cfgPath)
	if err != nil {
		g.t.Fatal(err)
	}
	next := edit(string(data))
	if next == string(data) {
		g.t.Fatal("reconfigure: the edit changed nothing")
	}
	if err := os.WriteFile(g.cfgPath, []byte(next), 0o600); err != nil {
		g.t.Fatal(err)
	}
}

// waitLog waits until the current gateway log contains text.
func (g *gateway) waitLog(text string, timeout time.Duration) string {
	g.t.Helper()
	g.mu.Lock()
	path := g.logs[len(g.logs)-1]
	g.mu.Unlock()
	deadline := time.Now().Add(timeout)
	for {
		data, _ := os.ReadFile(path)
		if i := strings.Index(string(data), text); i >= 0 {
			line := string(data[i:])
			if j := strings.IndexByte(line, '\n'); j >= 0 {
				line = line[:j]
			}
			return line
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("gateway log never said %q within %v", text, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (g *gateway) cleanup() {
	g.mu.Lock()
	running := g.cmd != nil
	g.mu.Unlock()
	if running {
		g.stop(syscall.SIGTERM)
	}
	// Problems only a log shows: data races (with -race) and panics.
	for _, p := range g.logs {
		data, _ := os.ReadFile(p)
		if i := bytes.Index(data, []byte("WARNING: DATA RACE")); i >= 0 {
			g.t.Errorf("data race in the gateway (%s):\n%s", p, clip(string(data[i:]), 6000))
		}
		if i := bytes.Index(data, []byte("\npanic: ")); i >= 0 {
			g.t.Errorf("gateway panicked (%s):\n%s", p, clip(string(data[i:]), 6000))
		}
	}
	if g.t.Failed() {
		for _, p := range g.logs {
			g.t.Logf("gateway log %s (last lines):\n%s", p, tailFile(p, 150))
		}
	}
}

type health struct {
	code          int
	Status        string         `json:"status"`
	Subscriptions float64        `json:"subscriptions"`
	Publications  float64        `json:"publications"`
	SIPPanics     float64        `json:"sip_panics"`
	Stats         map[string]any `json:"-"` // every figure, by name
}

func (g *gateway) health() (health, error) {
	var h health
	c := http.Client{Timeout: 2 * time.Second}
	res, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", g.httpPort))
	if err != nil {
		return h, err
	}
	defer res.Body.Close()
	h.code = res.StatusCode
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return h, err
	}
	if err := json.Unmarshal(body, &h); err != nil {
		return h, fmt.Errorf("decode /healthz: %w", err)
	}
	if err := json.Unmarshal(body, &h.Stats); err != nil {
		return h, fmt.Errorf("decode /healthz: %w", err)
	}
	return h, nil
}

// waitHealth polls /healthz until cond holds.
func (g *gateway) waitHealth(desc string, timeout time.Duration, cond func(health) bool) health {
	g.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		h, err := g.health()
		if err == nil && cond(h) {
			return h
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("healthz: %s not reached within %v (last %+v, err %v)", desc, timeout, h, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (g *gateway) hostPort() string { return fmt.Sprintf("127.0.0.1:%d", g.sipPort) }

// ---------------------------------------------------------------- SIPp

// sippRun is one SIPp process.
type sippRun struct {
	t      testing.TB
	name   string
	dir    string
	msgLog string
	errLog string
	actLog string
	out    string
	args   []string

	cmd  *exec.Cmd
	done chan struct{}
	err  error
	rc   int
}

type sippOpts struct {
	scenario  string
	transport string // udp or tcp
	service   string // -s
	localIP   string // default 127.0.0.1
	localPort int    // -p; default a free port
	keys      map[string]string
	sets      map[string]string
	extra     []string // more SIPp arguments
}

// startSipp launches SIPp against the gateway and returns at once.
func (g *gateway) startSipp(name string, o sippOpts) *sippRun {
	g.t.Helper()
	t := g.t
	bin := sippBinary(t)
	dir := filepath.Join(g.dir, "sipp-"+sanitize(name))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r := &sippRun{
		t: t, name: name, dir: dir,
		msgLog: filepath.Join(dir, "messages.log"),
		errLog: filepath.Join(dir, "errors.log"),
		actLog: filepath.Join(dir, "actions.log"),
		out:    filepath.Join(dir, "stdout.log"),
		done:   make(chan struct{}),
	}
	if o.localIP == "" {
		o.localIP = "127.0.0.1"
	}
	tflag := map[string]string{"udp": "u1", "tcp": "t1"}[o.transport]
	if tflag == "" {
		t.Fatalf("unknown transport %q", o.transport)
	}
	args := []string{
		g.hostPort(),
		"-sf", scenarioPath(t, o.scenario),
		"-t", tflag,
		"-i", o.localIP, "-bind_local",
		"-p", strconv.Itoa(cmp.Or(o.localPort, freePort(t))),
		"-ci", "127.0.0.1", "-cp", strconv.Itoa(freePort(t)),
		"-nostdin",
		"-trace_err", "-error_file", r.errLog,
		"-trace_msg", "-message_file", r.msgLog,
		"-trace_logs", "-log_file", r.actLog,
		"-timeout", fmt.Sprintf("%ds", int(sippTimeout/time.Second)), "-timeout_error",
		"-max_recv_loops", "1000",
		"-f", "1",
		// An aborted call must not send a BYE to the gateway.
		"-default_behaviors", "all,-bye",
	}
	if o.service != "" {
		args = append(args, "-s", o.service)
	}
	for _, k := range sortedKeys(o.keys) {
		args = append(args, "-key", k, o.keys[k])
	}
	for _, k := range sortedKeys(o.sets) {
		args = append(args, "-set", k, o.sets[k])
	}
	if !slices.Contains(o.extra, "-m") {
		args = append(args, "-m", "1")
	}
	args = append(args, o.extra...)
	r.args = args

	outf, err := os.Create(r.out)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), sippHardLimit)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	dieWithTest(cmd)
	cmd.Stdout = outf
	cmd.Stderr = outf
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		_ = outf.Close()
		t.Fatalf("start sipp: %v", err)
	}
	r.cmd = cmd
	go func() {
		err := cmd.Wait()
		cancel()
		_ = outf.Close()
		r.err = err
		r.rc = cmd.ProcessState.ExitCode()
		close(r.done)
	}()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			_ = cmd.Process.Kill()
			<-r.done
		}
	})
	return r
}

// wait waits for SIPp to exit and returns an error unless it exited 0 (every
// call passed).
func (r *sippRun) wait(timeout time.Duration) error {
	select {
	case <-r.done:
	case <-time.After(timeout):
		_ = r.cmd.Process.Kill()
		<-r.done
		return fmt.Errorf("sipp %s still running after %v; killed\n%s", r.name, timeout, r.report())
	}
	if r.rc != 0 {
		return fmt.Errorf("sipp %s exit status %d (0 = all calls passed)\n%s", r.name, r.rc, r.report())
	}
	return nil
}

// mustPass fails the test unless SIPp exits 0 within timeout.
func (r *sippRun) mustPass(timeout time.Duration) {
	r.t.Helper()
	if err := r.wait(timeout); err != nil {
		r.t.Fatal(err)
	}
}

func (r *sippRun) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

func (r *sippRun) report() string {
	var b strings.Builder
	fmt.Fprintf(&b, "--- sipp %s\n", strings.Join(r.args, " "))
	if data, err := os.ReadFile(r.errLog); err == nil && len(data) > 0 {
		fmt.Fprintf(&b, "--- errors.log:\n%s\n", clip(string(data), 4000))
	}
	if data, err := os.ReadFile(r.actLog); err == nil && len(data) > 0 {
		fmt.Fprintf(&b, "--- actions.log:\n%s\n", clip(string(data), 2000))
	}
	fmt.Fprintf(&b, "--- messages.log (last lines):\n%s\n", tailFile(r.msgLog, 120))
	return b.String()
}

// messages parses SIPp's message log as it is now.
func (r *sippRun) messages() []sipMsg {
	data, err := os.ReadFile(r.msgLog)
	if err != nil {
		return nil
	}
	return parseSippLog(data)
}

// waitFor polls the message log until cond holds; SIPp still running or not.
func (r *sippRun) waitFor(desc string, timeout time.Duration, cond func([]sipMsg) bool) []sipMsg {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msgs := r.messages()
		if cond(msgs) {
			return msgs
		}
		if r.exited() {
			// One last read: SIPp may have written the message on its way out.
			if msgs = r.messages(); cond(msgs) {
				return msgs
			}
			r.t.Fatalf("sipp %s exited (status %d) before %s\n%s", r.name, r.rc, desc, r.report())
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("sipp %s: %s not seen within %v\n%s", r.name, desc, timeout, r.report())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// seen reports whether n NOTIFYs arrive within timeout, without failing
// the test when they do not.
func (r *sippRun) seen(n int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if len(received(r.messages(), "NOTIFY")) >= n {
			return true
		}
		if r.exited() || time.Now().After(deadline) {
			return len(received(r.messages(), "NOTIFY")) >= n
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitNotifies waits until n NOTIFYs have been received and returns them.
func (r *sippRun) waitNotifies(n int, timeout time.Duration) []sipMsg {
	r.t.Helper()
	msgs := r.waitFor(fmt.Sprintf("NOTIFY #%d", n), timeout, func(ms []sipMsg) bool {
		return len(received(ms, "NOTIFY")) >= n
	})
	return received(msgs, "NOTIFY")
}

// ---------------------------------------------------------------- SIP messages

// sipMsg is one message of a SIPp message log.
type sipMsg struct {
	At        time.Time
	Sent      bool // sent by SIPp (else received from the gateway)
	Transport string
	Raw       string
	First     string
	Method    string // requests
	Code      int    // responses
	Reason    string // responses
	Headers   map[string][]string
	Body      string
}

var compactHeaders = map[string]string{
	"i": "call-id", "m": "contact", "e": "content-encoding", "l": "content-length",
	"c": "content-type", "f": "from", "s": "subject", "k": "supported", "t": "to",
	"v": "via", "o": "event", "u": "allow-events", "r": "refer-to", "b": "referred-by",
	"x": "session-expires", "a": "accept-contact", "j": "reject-contact", "d": "request-disposition",
}

// H returns the first value of a header (any form), "" if absent.
func (m sipMsg) H(name string) string {
	v := m.Headers[strings.ToLower(name)]
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func (m sipMsg) All(name string) []string { return m.Headers[strings.ToLower(name)] }

func (m sipMsg) Has(name string) bool { return len(m.Headers[strings.ToLower(name)]) > 0 }

// CSeq returns the CSeq number.
func (m sipMsg) CSeq() int {
	f := strings.Fields(m.H("CSeq"))
	if len(f) == 0 {
		return -1
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return -1
	}
	return n
}

func (m sipMsg) CSeqMethod() string {
	f := strings.Fields(m.H("CSeq"))
	if len(f) < 2 {
		return ""
	}
	return f[1]
}

func (m sipMsg) String() string {
	dir := "received"
	if m.Sent {
		dir = "sent"
	}
	return fmt.Sprintf("[%s %s %s]\n%s", m.At.Format("15:04:05.000000"), m.Transport, dir, m.Raw)
}

var sippSep = []byte("-----------------------------------------------")

// parseSippLog splits a SIPp -trace_msg log into messages.
func parseSippLog(data []byte) []sipMsg {
	var out []sipMsg
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	var cur *sipMsg
	var buf []string
	flush := func() {
		if cur == nil {
			return
		}
		for len(buf) > 0 && strings.TrimSpace(buf[len(buf)-1]) == "" {
			buf = buf[:len(buf)-1]
		}
		for len(buf) > 0 && strings.TrimSpace(buf[0]) == "" {
			buf = buf[1:]
		}
		if len(buf) > 0 {
			parseSIP(cur, strings.Join(buf, "\n"))
			out = append(out, *cur)
		}
		cur, buf = nil, nil
	}
	for i := 0; i < len(lines); i++ {
		ln := lines[i]
		if strings.HasPrefix(ln, string(sippSep)) && i+1 < len(lines) &&
			(strings.Contains(lines[i+1], " message sent") || strings.Contains(lines[i+1], " message received")) {
			flush()
			ts := strings.TrimSpace(strings.TrimLeft(ln, "-"))
			at, _ := time.ParseInLocation("2006-01-02 15:04:05.000000", ts, time.Local)
			hdr := lines[i+1]
			cur = &sipMsg{At: at, Sent: strings.Contains(hdr, " message sent"), Transport: strings.Fields(hdr)[0]}
			i++
			continue
		}
		if cur != nil {
			buf = append(buf, ln)
		}
	}
	flush()
	return out
}

// parseSIP fills a message from its text (LF line ends).
func parseSIP(m *sipMsg, raw string) {
	m.Raw = raw
	m.Headers = map[string][]string{}
	head, body, _ := strings.Cut(raw, "\n\n")
	m.Body = body
	hl := strings.Split(head, "\n")
	m.First = strings.TrimSpace(hl[0])
	if strings.HasPrefix(m.First, "SIP/2.0 ") {
		rest := strings.TrimPrefix(m.First, "SIP/2.0 ")
		code, reason, _ := strings.Cut(rest, " ")
		m.Code, _ = strconv.Atoi(code)
		m.Reason = reason
	} else {
		m.Method, _, _ = strings.Cut(m.First, " ")
	}
	var last string
	for _, l := range hl[1:] {
		if l == "" {
			continue
		}
		if (l[0] == ' ' || l[0] == '\t') && last != "" {
			vs := m.Headers[last]
			vs[len(vs)-1] += " " + strings.TrimSpace(l)
			continue
		}
		name, val, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		name = strings.ToLower(strings.TrimSpace(name))
		if full, ok := compactHeaders[name]; ok {
			name = full
		}
		m.Headers[name] = append(m.Headers[name], strings.TrimSpace(val))
		last = name
	}
}

// received returns the requests of a method received by SIPp, in order.
func received(msgs []sipMsg, method string) []sipMsg {
	var out []sipMsg
	for _, m := range msgs {
		if !m.Sent && m.Method == method {
			out = append(out, m)
		}
	}
	return out
}

// responses returns the responses SIPp received to requests of a method.
func responses(msgs []sipMsg, method string) []sipMsg {
	var out []sipMsg
	for _, m := range msgs {
		if !m.Sent && m.Code > 0 && m.CSeqMethod() == method {
			out = append(out, m)
		}
	}
	return out
}

func sentRequests(msgs []sipMsg, method string) []sipMsg {
	var out []sipMsg
	for _, m := range msgs {
		if m.Sent && m.Method == method {
			out = append(out, m)
		}
	}
	return out
}

// finalResponses drops provisional responses.
func finalResponses(ms []sipMsg) []sipMsg {
	var out []sipMsg
	for _, m := range ms {
		if m.Code >= 200 {
			out = append(out, m)
		}
	}
	return out
}

// tagOf returns the tag parameter of a From/To value.
func tagOf(v string) string {
	for _, p := range strings.Split(v, ";")[1:] {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "tag") {
			return val
		}
	}
	return ""
}

// uriOf returns the URI of a name-addr (inside <>), or the value up to ';'.
func uriOf(v string) string {
	if i := strings.IndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			return v[i+1 : i+j]
		}
	}
	u, _, _ := strings.Cut(v, ";")
	return strings.TrimSpace(u)
}

// param returns a ;name=value parameter of a header value.
func param(v, name string) (string, bool) {
	for _, p := range strings.Split(v, ";")[1:] {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(val), true
		}
	}
	return "", false
}

// ---------------------------------------------------------------- requests

// request is one out-of-dialog request sent with testdata/sipp/request.xml.
type request struct {
	Method  string   // PUBLISH (default), SUBSCRIBE, OPTIONS
	Ext     string   // Request-URI user
	From    string   // From user; default: Ext
	FromTag *string  // nil: a fresh tag; pointer to "": no tag
	ToTag   string   // "": out of dialog
	Headers []string // at most 6 whole header lines
	Body    string
	Expect  int // 0: any final response
	Local   string
	Extra   []string
}

// do sends the request over a transport and returns SIPp's message log
// and the final response; SIPp itself checks the response code.
func (g *gateway) do(tp string, r request) (sipMsg, []sipMsg) {
	g.t.Helper()
	run := g.startRequest(tp, r)
	run.mustPass(sippHardLimit)
	msgs := run.messages()
	finals := finalResponses(responses(msgs, orDefault(r.Method, "PUBLISH")))
	if len(finals) == 0 {
		g.t.Fatalf("%s: no final response\n%s", r.Method, run.report())
	}
	return finals[len(finals)-1], msgs
}

var reqSeq struct {
	mu sync.Mutex
	n  int
}

func nextSeq() int {
	reqSeq.mu.Lock()
	defer reqSeq.mu.Unlock()
	reqSeq.n++
	return reqSeq.n
}

func (g *gateway) startRequest(tp string, r request) *sippRun {
	g.t.Helper()
	method := orDefault(r.Method, "PUBLISH")
	if len(r.Headers) > 6 {
		g.t.Fatalf("request.xml takes at most 6 header lines, got %d", len(r.Headers))
	}
	n := nextSeq()
	keys := map[string]string{
		"from":     orDefault(r.From, r.Ext),
		"from_tag": fmt.Sprintf(";tag=r%d", n),
		"to_tag":   "",
		"body":     r.Body,
	}
	if r.FromTag != nil {
		keys["from_tag"] = *r.FromTag
	}
	if r.ToTag != "" {
		keys["to_tag"] = ";tag=" + r.ToTag
	}
	for i := range 6 {
		h := "X-Pad: 1"
		if i < len(r.Headers) {
			h = r.Headers[i]
		}
		keys[fmt.Sprintf("h%d", i+1)] = h
	}
	expect := "any"
	if r.Expect != 0 {
		expect = strconv.Itoa(r.Expect)
	}
	return g.startSipp(fmt.Sprintf("req%d-%s-%s", n, strings.ToLower(method), tp), sippOpts{
		scenario:  "request.xml",
		transport: tp,
		service:   r.Ext,
		localIP:   r.Local,
		keys:      keys,
		sets:      map[string]string{"method": method, "expect": expect},
		extra:     r.Extra,
	})
}

// publication is a PUBLISH as a PBX sends it.
type publication struct {
	Ext         string
	Body        string // "" for a refresh or remove
	IfMatch     string
	Expires     int // -1: no Expires header
	ContentType string
	Event       string // default dialog
	Expect      int    // default 200
	Auth        string // an Authorization header line
}

type pubResult struct {
	Resp sipMsg
	ETag string
	At   time.Time // when the 200 arrived
}

func (g *gateway) publish(tp string, p publication) pubResult {
	g.t.Helper()
	var hs []string
	hs = append(hs, "Event: "+orDefault(p.Event, "dialog"))
	if p.Expires >= 0 {
		hs = append(hs, fmt.Sprintf("Expires: %d", p.Expires))
	}
	if p.Body != "" {
		hs = append(hs, "Content-Type: "+orDefault(p.ContentType, "application/dialog-info+xml"))
	}
	if p.IfMatch != "" {
		hs = append(hs, "SIP-If-Match: "+p.IfMatch)
	}
	if p.Auth != "" {
		hs = append(hs, p.Auth)
	}
	if p.Expect == 0 {
		p.Expect = 200
	}
	resp, _ := g.do(tp, request{Method: "PUBLISH", Ext: p.Ext, Headers: hs, Body: p.Body, Expect: p.Expect})
	res := pubResult{Resp: resp, ETag: resp.H("SIP-ETag"), At: resp.At}
	if p.Expect == 200 && p.Expires != 0 && res.ETag == "" {
		g.t.Fatalf("PUBLISH 200 without SIP-ETag:\n%s", resp)
	}
	return res
}

// ---------------------------------------------------------------- watchers

type watch struct {
	Ext         string
	Event       string // default dialog
	Accept      string // whole Accept line; "" for none
	Supported   string // whole Supported line; "" for none
	UA          string // default "SIPp watcher"
	Watcher     string // From user; default e2eWatcher
	Expires     int
	RefreshAt   int
	UnsubAt     int
	RejectAt    int
	RejectCode  int
	QuietMs     int
	Auth        string // Authorization header line for the initial SUBSCRIBE
	AuthRefresh string // ... for the refresh
	AuthUnsub   string // ... for the unsubscribe
	Extra       []string
}

// watcher is a running watcher.xml.
type watcher struct {
	*sippRun
	w watch
}

func (g *gateway) watch(tp string, w watch) *watcher {
	g.t.Helper()
	n := nextSeq()
	accept := w.Accept
	if accept == "" {
		accept = "X-No-Accept: 1"
	}
	noAuth := func(h string) string { return cmp.Or(h, "X-No-Auth: 1") }
	run := g.startSipp(fmt.Sprintf("watch%d-%s-%s", n, w.Ext, tp), sippOpts{
		scenario:  "watcher.xml",
		transport: tp,
		service:   w.Ext,
		keys: map[string]string{
			"watcher":      orDefault(w.Watcher, e2eWatcher),
			"event":        orDefault(w.Event, "dialog"),
			"accept":       accept,
			"supported":    cmp.Or(w.Supported, "X-No-Supported: 1"),
			"ua":           orDefault(w.UA, "SIPp watcher"),
			"auth":         noAuth(w.Auth),
			"auth_refresh": noAuth(w.AuthRefresh),
			"auth_unsub":   noAuth(w.AuthUnsub),
		},
		sets: map[string]string{
			"expires":     strconv.Itoa(w.Expires),
			"refresh_at":  strconv.Itoa(w.RefreshAt),
			"unsub_at":    strconv.Itoa(w.UnsubAt),
			"reject_at":   strconv.Itoa(w.RejectAt),
			"reject_code": strconv.Itoa(cmp.Or(w.RejectCode, 481)),
			"quiet":       strconv.Itoa(w.QuietMs),
		},
		extra: w.Extra,
	})
	return &watcher{sippRun: run, w: w}
}

// subscription is what the SIPp log says about one subscription dialog.
type subscriptionLog struct {
	Subscribe sipMsg   // the initial SUBSCRIBE
	OK        sipMsg   // its 200
	Notifies  []sipMsg // NOTIFYs received, in order
	Refreshes []sipMsg // in-dialog SUBSCRIBEs sent
}

func (w *watcher) subscription() subscriptionLog {
	w.t.Helper()
	msgs := w.messages()
	subs := sentRequests(msgs, "SUBSCRIBE")
	if len(subs) == 0 {
		w.t.Fatalf("watcher %s sent no SUBSCRIBE\n%s", w.name, w.report())
	}
	var ok sipMsg
	for _, m := range responses(msgs, "SUBSCRIBE") {
		if m.Code == 200 && m.CSeq() == subs[0].CSeq() {
			ok = m
			break
		}
	}
	return subscriptionLog{Subscribe: subs[0], OK: ok, Notifies: received(msgs, "NOTIFY"), Refreshes: subs[1:]}
}

// checkDialog asserts what every NOTIFY of one subscription must share
// (RFC 6665 4.2.2, SIP-CONFORMANCE.md 2.1): the dialog identifiers, the
// Event header, our CSeq space rising by one, Contact, Content-Type, and a
// Subscription-State that counts down; then dialog-info versions from 0.
func checkNotifyDialog(t testing.TB, s subscriptionLog, gwPort int, tp string) {
	t.Helper()
	if len(s.Notifies) == 0 {
		t.Fatalf("no NOTIFY")
	}
	var ourTag string
	granted := 1 << 30
	switch {
	case s.OK.Code == 200:
		ourTag = tagOf(s.OK.H("To"))
		if ourTag == "" {
			t.Errorf("200 to SUBSCRIBE has no To-tag: %q", s.OK.H("To"))
		}
		if !s.OK.Has("Contact") {
			t.Errorf("200 to SUBSCRIBE has no Contact")
		}
		g, err := strconv.Atoi(s.OK.H("Expires"))
		if err != nil {
			t.Errorf("200 to SUBSCRIBE: Expires %q", s.OK.H("Expires"))
		}
		granted = g
	case tp == "tcp":
		// SIPp lost the 200 read together with the first NOTIFY (SIPp
		// issue #675); the NOTIFYs still carry the dialog.
		t.Logf("SIPp dropped the 200 to the SUBSCRIBE (TCP, SIPp issue #675); checking the NOTIFYs only")
		ourTag = tagOf(s.Notifies[0].H("From"))
	default:
		t.Fatalf("no 200 to the SUBSCRIBE")
	}
	event := s.Subscribe.H("Event")
	wantCT := "application/dialog-info+xml"
	if strings.HasPrefix(strings.ToLower(event), "presence") {
		wantCT = "application/pidf+xml"
	}
	prevCSeq, prevLeft := -1, granted
	for i, n := range s.Notifies {
		if i > 0 {
			for _, r := range s.Refreshes {
				if r.At.After(s.Notifies[i-1].At) && !r.At.After(n.At) {
					prevLeft = 1 << 30 // a refresh restarts the count-down
				}
			}
		}
		where := fmt.Sprintf("NOTIFY #%d (CSeq %s)", i+1, n.H("CSeq"))
		if n.H("Call-ID") != s.Subscribe.H("Call-ID") {
			t.Errorf("%s: Call-ID %q, want %q", where, n.H("Call-ID"), s.Subscribe.H("Call-ID"))
		}
		if got := tagOf(n.H("From")); got != ourTag {
			t.Errorf("%s: From tag %q, want the To-tag of the 200, %q", where, got, ourTag)
		}
		if got, want := uriOf(n.H("From")), uriOf(s.Subscribe.H("To")); got != want {
			t.Errorf("%s: From URI %q, want the SUBSCRIBE's To URI %q", where, got, want)
		}
		if got, want := tagOf(n.H("To")), tagOf(s.Subscribe.H("From")); got != want {
			t.Errorf("%s: To tag %q, want the subscriber's From tag %q", where, got, want)
		}
		if got, want := uriOf(n.H("To")), uriOf(s.Subscribe.H("From")); got != want {
			t.Errorf("%s: To URI %q, want the subscriber's From URI %q", where, got, want)
		}
		if n.CSeqMethod() != "NOTIFY" {
			t.Errorf("%s: CSeq method %q", where, n.CSeqMethod())
		}
		if prevCSeq >= 0 && n.CSeq() != prevCSeq+1 {
			t.Errorf("%s: CSeq %d after %d, want +1", where, n.CSeq(), prevCSeq)
		}
		prevCSeq = n.CSeq()
		if got := n.H("Event"); !strings.EqualFold(strings.ReplaceAll(got, " ", ""), strings.ReplaceAll(event, " ", "")) {
			t.Errorf("%s: Event %q, want the SUBSCRIBE's %q", where, got, event)
		}
		if !n.Has("Contact") {
			t.Errorf("%s: no Contact", where)
		}
		if !n.Has("Max-Forwards") {
			t.Errorf("%s: no Max-Forwards", where)
		}
		if ct := n.H("Content-Type"); n.Body != "" && !strings.EqualFold(strings.TrimSpace(strings.Split(ct, ";")[0]), wantCT) {
			t.Errorf("%s: Content-Type %q, want %s", where, ct, wantCT)
		}
		state := n.H("Subscription-State")
		last := i == len(s.Notifies)-1
		switch {
		case strings.HasPrefix(state, "active"):
			left, ok := param(state, "expires")
			secs, err := strconv.Atoi(left)
			if !ok || err != nil {
				t.Errorf("%s: Subscription-State %q has no expires=<seconds>", where, state)
				break
			}
			if secs > prevLeft {
				t.Errorf("%s: Subscription-State expires=%d went up from %d (granted %d)", where, secs, prevLeft, granted)
			}
			prevLeft = secs
		case strings.HasPrefix(state, "terminated"):
			if !last {
				t.Errorf("%s: terminated but not the last NOTIFY", where)
			}
		default:
			t.Errorf("%s: Subscription-State %q", where, state)
		}
		if tp == "udp" {
			// Via sent-by names the socket the NOTIFY left from.
			if via := n.H("Via"); !strings.Contains(via, fmt.Sprintf("127.0.0.1:%d", gwPort)) {
				t.Errorf("%s: Via %q, want the gateway's listening port %d", where, via, gwPort)
			}
		}
		if wantCT == "application/dialog-info+xml" {
			doc, err := parseDialogInfo(n.Body)
			if err != nil {
				t.Errorf("%s: %v\n%s", where, err, n.Body)
				continue
			}
			if doc.Version != strconv.Itoa(i) {
				t.Errorf("%s: dialog-info version %q, want %d", where, doc.Version, i)
			}
			if doc.State != "full" {
				t.Errorf("%s: dialog-info state %q, want full", where, doc.State)
			}
			if want := "sip:" + uriUser(uriOf(s.Subscribe.H("To"))) + "@" + e2eDomain; doc.Entity != want {
				t.Errorf("%s: entity %q, want %q", where, doc.Entity, want)
			}
		}
	}
}

func uriUser(u string) string {
	u = strings.TrimPrefix(strings.TrimPrefix(u, "sips:"), "sip:")
	user, _, _ := strings.Cut(u, "@")
	return user
}

// ---------------------------------------------------------------- bodies

// call is one dialog as a PBX publishes it.
type call struct {
	ID        string
	Direction string // initiator or recipient
	State     string // trying, proceeding, early, confirmed, terminated
	Held      bool
	Remote    string // URI
	Display   string // remote display name
}

// dialogInfo builds a one-line dialog-info document (SIPp keyword values
// can't hold line breaks).
func dialogInfo(ext string, calls ...call) string {
	var b strings.Builder
	entity := "sip:" + ext + "@" + e2eDomain
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?><dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="0" state="full" entity="%s">`, entity)
	for _, c := range calls {
		fmt.Fprintf(&b, `<dialog id="%s" call-id="%s@pbx" local-tag="lt-%s" remote-tag="rt-%s"`, esc(c.ID), esc(c.ID), esc(c.ID), esc(c.ID))
		if c.Direction != "" {
			fmt.Fprintf(&b, ` direction="%s"`, c.Direction)
		}
		fmt.Fprintf(&b, `><state>%s</state>`, c.State)
		b.WriteString(`<local><identity>` + entity + `</identity><target uri="` + entity + `">`)
		if c.Held {
			b.WriteString(`<param pname="+sip.rendering" pvalue="no"/>`)
		}
		b.WriteString(`</target></local>`)
		if c.Remote != "" {
			b.WriteString(`<remote><identity`)
			if c.Display != "" {
				fmt.Fprintf(&b, ` display="%s"`, esc(c.Display))
			}
			fmt.Fprintf(&b, `>%s</identity><target uri="%s"/></remote>`, esc(c.Remote), esc(c.Remote))
		}
		b.WriteString(`</dialog>`)
	}
	b.WriteString(`</dialog-info>`)
	return b.String()
}

func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

type diDoc struct {
	XMLName xml.Name   `xml:"urn:ietf:params:xml:ns:dialog-info dialog-info"`
	Version string     `xml:"version,attr"`
	State   string     `xml:"state,attr"`
	Entity  string     `xml:"entity,attr"`
	Dialogs []diDialog `xml:"dialog"`
}

type diDialog struct {
	ID        string   `xml:"id,attr"`
	CallID    string   `xml:"call-id,attr"`
	LocalTag  string   `xml:"local-tag,attr"`
	RemoteTag string   `xml:"remote-tag,attr"`
	Direction string   `xml:"direction,attr"`
	State     string   `xml:"state"`
	Local     *diParty `xml:"local"`
	Remote    *diParty `xml:"remote"`
}

type diParty struct {
	Identity struct {
		Display string `xml:"display,attr"`
		URI     string `xml:",chardata"`
	} `xml:"identity"`
	Target struct {
		URI    string `xml:"uri,attr"`
		Params []struct {
			Name  string `xml:"pname,attr"`
			Value string `xml:"pvalue,attr"`
		} `xml:"param"`
	} `xml:"target"`
}

func parseDialogInfo(body string) (*diDoc, error) {
	var d diDoc
	if err := xml.Unmarshal([]byte(body), &d); err != nil {
		return nil, fmt.Errorf("dialog-info does not parse: %w", err)
	}
	return &d, nil
}

// lamp classifies one dialog the way BLF phones light lamps
// (SIP-CONFORMANCE.md 2.2).
func (d diDialog) lamp() string {
	st := strings.TrimSpace(d.State)
	switch {
	case st == "terminated":
		return "idle"
	case st == "confirmed":
		if d.Local != nil {
			for _, p := range d.Local.Target.Params {
				if p.Name == "+sip.rendering" && p.Value == "no" {
					return "hold"
				}
			}
		}
		return "busy"
	case d.Direction == "recipient" && st == "early":
		return "ringing"
	case d.Direction == "initiator" && (st == "trying" || st == "proceeding" || st == "early"):
		return "outgoing"
	}
	return "?" + st
}

// lamps returns the lamp of every dialog, "idle" for none (or only
// terminated ones), joined with "+".
func (d *diDoc) lamps() string {
	var ls []string
	for _, dl := range d.Dialogs {
		if l := dl.lamp(); l != "idle" {
			ls = append(ls, l)
		}
	}
	if len(ls) == 0 {
		return "idle"
	}
	return strings.Join(ls, "+")
}

type pidfDoc struct {
	XMLName xml.Name `xml:"urn:ietf:params:xml:ns:pidf presence"`
	Entity  string   `xml:"entity,attr"`
	Tuples  []struct {
		Basic string   `xml:"urn:ietf:params:xml:ns:pidf status>basic"`
		Notes []string `xml:"urn:ietf:params:xml:ns:pidf note"`
	} `xml:"urn:ietf:params:xml:ns:pidf tuple"`
	Persons []struct {
		Activities *struct {
			OnThePhone *struct{} `xml:"urn:ietf:params:xml:ns:pidf:rpid on-the-phone"`
		} `xml:"urn:ietf:params:xml:ns:pidf:rpid activities"`
		Notes []string `xml:"urn:ietf:params:xml:ns:pidf:data-model note"`
	} `xml:"urn:ietf:params:xml:ns:pidf:data-model person"`
}

func parsePIDF(body string) (*pidfDoc, error) {
	var d pidfDoc
	if err := xml.Unmarshal([]byte(body), &d); err != nil {
		return nil, fmt.Errorf("PIDF does not parse: %w", err)
	}
	if len(d.Tuples) == 0 {
		return nil, errors.New("PIDF without a tuple")
	}
	return &d, nil
}

// summary is "open/On the phone/on-the-phone": basic, the tuple note, and
// whether the person is on the phone.
func (d *pidfDoc) summary() string {
	basic := strings.TrimSpace(d.Tuples[0].Basic)
	note := ""
	if len(d.Tuples[0].Notes) > 0 {
		note = strings.TrimSpace(d.Tuples[0].Notes[0])
	}
	for _, p := range d.Persons {
		if note == "" && len(p.Notes) > 0 {
			note = strings.TrimSpace(p.Notes[0])
		}
		if p.Activities != nil && p.Activities.OnThePhone != nil {
			return basic + "/" + note + "/on-the-phone"
		}
	}
	return basic + "/" + note
}

// lampOf returns the lamp (dialog-info) or the PIDF summary of a NOTIFY.
func lampOf(t testing.TB, n sipMsg) string {
	t.Helper()
	if strings.Contains(strings.ToLower(n.H("Content-Type")), "pidf") {
		d, err := parsePIDF(n.Body)
		if err != nil {
			t.Fatalf("%v\n%s", err, n)
		}
		return d.summary()
	}
	d, err := parseDialogInfo(n.Body)
	if err != nil {
		t.Fatalf("%v\n%s", err, n)
	}
	return d.lamps()
}

// ---------------------------------------------------------------- digest

// challenge returns the parameters of the WWW-Authenticate header of a 401
// that offers algo.
func challengeFor(resp sipMsg, algo string) (map[string]string, bool) {
	for _, h := range resp.All("WWW-Authenticate") {
		p := digestParams(h)
		if strings.EqualFold(p["algorithm"], algo) {
			return p, true
		}
	}
	return nil, false
}

func digestParams(h string) map[string]string {
	out := map[string]string{}
	h = strings.TrimSpace(h)
	if s, ok := strings.CutPrefix(h, "Digest"); ok {
		h = s
	}
	for _, part := range splitQuoted(h) {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		out[strings.ToLower(strings.TrimSpace(k))] = strings.Trim(strings.TrimSpace(v), `"`)
	}
	return out
}

func splitQuoted(s string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
			cur.WriteRune(r)
		case r == ',' && !quoted:
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteRune(r)
		}
	}
	return append(out, cur.String())
}

// md5Authorization answers an MD5 challenge (RFC 2617 with qop=auth), with
// a fresh cnonce each time: the gateway refuses a replayed header.
func md5Authorization(chal map[string]string, user, pass, method, uri string) string {
	h := func(s string) string { sum := md5.Sum([]byte(s)); return hex.EncodeToString(sum[:]) }
	cnonce, nc := rand.Text()[:16], "00000001"
	ha1 := h(user + ":" + chal["realm"] + ":" + pass)
	ha2 := h(method + ":" + uri)
	resp := h(ha1 + ":" + chal["nonce"] + ":" + nc + ":" + cnonce + ":auth:" + ha2)
	return fmt.Sprintf(`Authorization: Digest username="%s", realm="%s", nonce="%s", uri="%s", algorithm=MD5, qop=auth, nc=%s, cnonce="%s", response="%s"`,
		user, chal["realm"], chal["nonce"], uri, nc, cnonce, resp)
}

// ---------------------------------------------------------------- misc

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "\n[... clipped]"
}

// tailFile returns the last n lines of a file.
func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if len(l) > 600 {
			l = l[:600] + fmt.Sprintf(" [... %d bytes]", len(l))
		}
		lines = append(lines, l)
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
