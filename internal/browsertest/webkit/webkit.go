// Package webkit drives a real WebKit, the engine inside Safari, so that
// the web page's tests also run in the third engine of the issue's
// "Chromium, Firefox and Safari". Safari itself needs macOS; Debian's
// WebKitGTK is the same engine (WebCore, JavaScriptCore, the same CSS and
// event code) with a GTK shell, and its WebKitWebDriver speaks classic
// W3C WebDriver over HTTP. WebKitGTK has no headless mode, so each test
// gets a private Xvfb display. Only tests import it.
package webkit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blfgw/blfgw/internal/browsertest/drivertest"
	"github.com/blfgw/blfgw/internal/browsertest/proc"
)

// cmdTimeout bounds every command unless the caller gives another bound.
const cmdTimeout = 20 * time.Second

// elementKey names an element reference in WebDriver's JSON.
const elementKey = "element-6066-11e4-a52e-4f735466cecf"

// Tools are the programs a WebKit test needs.
type Tools struct {
	Driver  string // WebKitWebDriver
	Browser string // MiniBrowser, WebKitGTK's own small browser
	Xvfb    string
}

// Find finds the programs. They are a hard requirement (CI installs
// Debian's webkit2gtk-driver and xvfb): a missing one fails the test
// rather than skipping it.
func Find(t testing.TB) Tools {
	t.Helper()
	var tl Tools
	var missing []string
	look := func(name string, candidates ...string) string {
		for _, c := range candidates {
			if c == "" {
				continue
			}
			if p, err := exec.LookPath(c); err == nil {
				return p
			}
		}
		missing = append(missing, name)
		return ""
	}
	browsers, _ := filepath.Glob("/usr/lib/*/webkit2gtk-4.*/MiniBrowser")
	tl.Driver = look("WebKitWebDriver", os.Getenv("BLFGW_WEBKITWEBDRIVER"), "WebKitWebDriver")
	tl.Browser = look("MiniBrowser", append([]string{os.Getenv("BLFGW_MINIBROWSER")}, browsers...)...)
	tl.Xvfb = look("Xvfb", "Xvfb")
	if len(missing) > 0 {
		t.Fatalf("no %s: install them (apt-get install webkit2gtk-driver xvfb) or set BLFGW_WEBKITWEBDRIVER/BLFGW_MINIBROWSER", strings.Join(missing, ", "))
	}
	return tl
}

// Browser is one WebKit window with one WebDriver session.
type Browser struct {
	t       testing.TB
	base    string // http://127.0.0.1:port/session/id
	client  *http.Client
	xvfb    *exec.Cmd
	driver  *exec.Cmd
	exited  map[*exec.Cmd]chan struct{}
	logMu   sync.Mutex
	stderr  []string // the driver's and browser's last lines, for failure messages
	session string
}

// Start starts Xvfb on a free display, WebKitWebDriver on a free loopback
// port and a MiniBrowser window through it; all of them are gone, and
// their files removed, when the test ends.
func Start(t testing.TB) *Browser {
	t.Helper()
	tl := Find(t)
	home := t.TempDir() // removed after the Cleanup below has run
	b := &Browser{t: t, client: &http.Client{}, exited: map[*exec.Cmd]chan struct{}{}}
	t.Cleanup(b.close)

	display := b.startXvfb(tl.Xvfb)
	port := b.startDriver(tl.Driver, home, display)

	// Loopback is never proxied; anything else goes to a closed port and
	// fails, so the browser stays off the network.
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName": "MiniBrowser",
		"webkitgtk:browserOptions": map[string]any{
			"binary": tl.Browser,
			"args":   []string{"--automation", "--proxy=http://127.0.0.1:9", "--ignore-host=127.0.0.1", "--ignore-host=localhost", "--ignore-host=::1"},
		},
	}}}
	var created struct {
		SessionID string `json:"sessionId"`
	}
	// The first window takes seconds, and many more while CI runs every
	// package's tests at once.
	if err := b.do(60*time.Second, http.MethodPost, "http://127.0.0.1:"+port+"/session", caps, &created); err != nil || created.SessionID == "" {
		t.Fatalf("new WebDriver session: %v\n%s", err, b.log())
	}
	b.session = created.SessionID
	b.base = "http://127.0.0.1:" + port + "/session/" + created.SessionID
	// A script's promise may take as long as a command may.
	if err := b.call(http.MethodPost, "/timeouts", map[string]int{"script": int(cmdTimeout / time.Millisecond)}, nil); err != nil {
		t.Fatalf("timeouts: %v", err)
	}
	return b
}

// startXvfb starts an X server that picks a free display itself
// (-displayfd) and says which, and returns ":N".
func (b *Browser) startXvfb(path string) string {
	r, w, err := os.Pipe()
	if err != nil {
		b.t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command(path, "-displayfd", "3", "-screen", "0", "1280x1024x24", "-nolisten", "tcp", "-noreset")
	cmd.ExtraFiles = []*os.File{w}
	b.xvfb = cmd
	b.start(cmd, "Xvfb")
	w.Close()
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		got <- strings.TrimSpace(line)
	}()
	select {
	case n := <-got:
		if _, err := strconv.Atoi(n); err != nil {
			b.t.Fatalf("Xvfb did not name its display (%q): %s", n, b.log())
		}
		return ":" + n
	case <-time.After(30 * time.Second):
		b.t.Fatalf("Xvfb did not start within 30 s: %s", b.log())
		return ""
	}
}

// startDriver starts WebKitWebDriver on a free loopback port and waits
// until it answers /status; it returns the port.
func (b *Browser) startDriver(path, home, display string) string {
	// The driver cannot be asked for port 0, so take a free one and hand
	// it over; another process taking it in between fails the start
	// with the driver's own message.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	cmd := exec.Command(path, "--port="+port, "--host=local")
	cmd.Env = append(os.Environ(), "DISPLAY="+display, "HOME="+home,
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"), "XDG_CACHE_HOME="+filepath.Join(home, "cache"),
		"XDG_DATA_HOME="+filepath.Join(home, "data"), "XDG_RUNTIME_DIR="+home,
		// No GPU here: software rendering, and no accessibility bus.
		"LIBGL_ALWAYS_SOFTWARE=1", "WEBKIT_DISABLE_DMABUF_RENDERER=1", "NO_AT_BRIDGE=1", "GTK_A11Y=none")
	b.driver = cmd
	b.start(cmd, "WebKitWebDriver")
	end := time.Now().Add(30 * time.Second)
	for {
		var st struct {
			Ready bool `json:"ready"`
		}
		err := b.do(2*time.Second, http.MethodGet, "http://127.0.0.1:"+port+"/status", nil, &st)
		if err == nil && st.Ready {
			return port
		}
		select {
		case <-b.exited[cmd]:
			b.t.Fatalf("WebKitWebDriver exited: %s", b.log())
		default:
		}
		if time.Now().After(end) {
			b.t.Fatalf("WebKitWebDriver not ready within 30 s (%v): %s", err, b.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// start starts cmd in a group of its own and keeps its stderr (a full
// pipe would stall it) for failure messages.
func (b *Browser) start(cmd *exec.Cmd, name string) {
	proc.OwnGroup(cmd)
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		b.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	b.exited[cmd] = done
	go func() {
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			b.logMu.Lock()
			b.stderr = append(b.stderr[max(0, len(b.stderr)-40):], name+": "+sc.Text())
			b.logMu.Unlock()
		}
		_ = cmd.Wait()
		close(done)
	}()
}

// wdError is WebDriver's error answer.
type wdError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// do sends one HTTP request to the driver and decodes the answer's value
// into out (which may be nil), within d.
func (b *Browser) do(d time.Duration, method, url string, body, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	res, err := b.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("%s %s: no answer within %v", method, url, d)
		}
		return err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return err
	}
	var v struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("%s %s: %d, not JSON: %.200s", method, url, res.StatusCode, raw)
	}
	if res.StatusCode != http.StatusOK {
		var we wdError
		_ = json.Unmarshal(v.Value, &we)
		return fmt.Errorf("%s %s: %s: %s", method, url, we.Error, we.Message)
	}
	if out != nil {
		return json.Unmarshal(v.Value, out)
	}
	return nil
}

// call is one command on the session, within cmdTimeout.
func (b *Browser) call(method, path string, body, out any) error {
	return b.do(cmdTimeout, method, b.base+path, body, out)
}

// Navigate opens url and waits for the page's load event.
func (b *Browser) Navigate(url string) error {
	return b.do(30*time.Second, http.MethodPost, b.base+"/url", map[string]string{"url": url}, nil)
}

// Reload reloads the page and waits for its load event.
func (b *Browser) Reload() error {
	return b.do(30*time.Second, http.MethodPost, b.base+"/refresh", map[string]any{}, nil)
}

// SetViewport makes the page's viewport w×h CSS pixels. WebDriver sizes
// the window, whose frame takes some of it, so the frame is measured and
// added. MiniBrowser's toolbar keeps its window about 450 px wide at the
// least: a narrower w is an error that says how narrow it got.
func (b *Browser) SetViewport(w, h int) error {
	var in []int
	if err := b.Eval(`[window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight]`, &in); err != nil || len(in) != 2 {
		return fmt.Errorf("measure the window frame: %v %v", err, in)
	}
	if err := b.call(http.MethodPost, "/window/rect", map[string]int{"width": w + in[0], "height": h + in[1]}, nil); err != nil {
		return err
	}
	var got []int
	if err := b.Eval(`[window.innerWidth, window.innerHeight]`, &got); err != nil || len(got) != 2 {
		return fmt.Errorf("measure the viewport: %v %v", err, got)
	}
	if got[0] != w || got[1] != h {
		return fmt.Errorf("asked for a %d×%d viewport, got %d×%d (the window's smallest size)", w, h, got[0], got[1])
	}
	return nil
}

// Eval runs a JavaScript expression in the page (a promise is awaited)
// and decodes its value, which must survive JSON.stringify, into out
// (which may be nil). A thrown exception becomes the error.
func (b *Browser) Eval(expr string, out any) error {
	script := `const done = arguments[arguments.length - 1];
Promise.resolve().then(() => (` + expr + `)).then(
  (v) => done({ json: JSON.stringify(v === undefined ? null : v) }),
  (e) => done({ thrown: String(e) }));`
	var r struct {
		JSON   *string `json:"json"`
		Thrown string  `json:"thrown"`
	}
	if err := b.call(http.MethodPost, "/execute/async", map[string]any{"script": script, "args": []any{}}, &r); err != nil {
		return err
	}
	if r.Thrown != "" {
		return fmt.Errorf("%s: %s", expr, r.Thrown)
	}
	if r.JSON == nil {
		return fmt.Errorf("%s: no value", expr)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal([]byte(*r.JSON), out)
}

// WaitJS polls a JavaScript expression until it is true, for at most d.
func (b *Browser) WaitJS(expr string, d time.Duration) error {
	return drivertest.Poll(b.Eval, expr, d)
}

// Keys presses and releases each key in turn, into whatever has the
// focus: real key events, as a person typing. A key is a character or one
// of drivertest's constants.
func (b *Browser) Keys(keys ...string) error {
	return b.perform(drivertest.KeySource(keys...))
}

// Type types text, character by character.
func (b *Browser) Type(text string) error {
	return b.Keys(drivertest.Chars(text)...)
}

// Click clicks the middle of the element that the CSS selector finds,
// with the mouse, after scrolling it into view: whatever is on top at that
// point gets the click, as it would for a person.
func (b *Browser) Click(selector string) error {
	var found map[string]string
	if err := b.call(http.MethodPost, "/element", map[string]string{"using": "css selector", "value": selector}, &found); err != nil {
		return fmt.Errorf("no element matches %s: %w", selector, err)
	}
	el := map[string]string{elementKey: found[elementKey]}
	if err := b.call(http.MethodPost, "/execute/sync", map[string]any{
		"script": `arguments[0].scrollIntoView({ block: "center", inline: "center" });`, "args": []any{el}}, nil); err != nil {
		return err
	}
	return b.perform(map[string]any{
		"type": "pointer", "id": "mouse", "parameters": map[string]string{"pointerType": "mouse"},
		"actions": []map[string]any{
			{"type": "pointerMove", "x": 0, "y": 0, "origin": el},
			{"type": "pointerDown", "button": 0},
			{"type": "pointerUp", "button": 0},
		},
	})
}

func (b *Browser) perform(source map[string]any) error {
	if err := b.call(http.MethodPost, "/actions", map[string]any{"actions": []any{source}}, nil); err != nil {
		return err
	}
	// Release what is still pressed, so the next call starts clean.
	return b.call(http.MethodDelete, "/actions", nil, nil)
}

// log is the programs' last lines of stderr, for failure messages.
func (b *Browser) log() string {
	b.logMu.Lock()
	defer b.logMu.Unlock()
	return strings.Join(b.stderr, "\n")
}

// close ends the session (which closes the window), then makes sure the
// driver, the browser and Xvfb are gone before their files are removed.
func (b *Browser) close() {
	if b.session != "" {
		_ = b.do(10*time.Second, http.MethodDelete, b.base, nil, nil)
	}
	for _, cmd := range []*exec.Cmd{b.driver, b.xvfb} {
		if cmd == nil || cmd.Process == nil {
			continue
		}
		proc.KillGroup(cmd)
		select {
		case <-b.exited[cmd]:
		case <-time.After(10 * time.Second):
			b.t.Errorf("%s (pid %d) survived a kill", cmd.Path, cmd.Process.Pid)
		}
	}
}
