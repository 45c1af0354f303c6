// Package firefox drives a real headless Firefox over WebDriver BiDi, so
// that the web page's tests also run in a second browser engine. It is a
// minimal BiDi client (no geckodriver: Firefox speaks BiDi itself): one
// browser and one tab per test, on loopback, every step bounded in time.
// Only tests import it.
package firefox

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blfgw/blfgw/internal/browsertest/drivertest"
	"github.com/blfgw/blfgw/internal/browsertest/proc"
	"github.com/coder/websocket"
)

// cmdTimeout bounds every command unless the caller gives another bound.
const cmdTimeout = 20 * time.Second

// Path finds the browser. It is a hard requirement (CI installs Debian's
// firefox-esr): a missing browser fails the test rather than skipping it.
func Path(t testing.TB) string {
	t.Helper()
	for _, p := range []string{os.Getenv("BLFGW_FIREFOX"), "/usr/bin/firefox-esr", "/usr/bin/firefox"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Fatal("no Firefox: install it (apt-get install firefox-esr) or set BLFGW_FIREFOX")
	return ""
}

// prefs keep the browser quiet and offline apart from loopback: no first
// run pages, updates, telemetry, safe browsing, captive portal or
// connectivity probes. Any request that still tries to leave the machine
// goes to a proxy on a closed loopback port and fails; loopback itself is
// never proxied (network.proxy.allow_hijacking_localhost is false).
var prefs = map[string]any{
	"app.update.enabled":                               false,
	"app.update.auto":                                  false,
	"app.normandy.enabled":                             false,
	"browser.aboutwelcome.enabled":                     false,
	"browser.shell.checkDefaultBrowser":                false,
	"browser.startup.homepage_override.mstone":         "ignore",
	"browser.startup.page":                             0,
	"browser.newtabpage.enabled":                       false,
	"browser.safebrowsing.malware.enabled":             false,
	"browser.safebrowsing.phishing.enabled":            false,
	"browser.safebrowsing.downloads.enabled":           false,
	"browser.safebrowsing.blockedURIs.enabled":         false,
	"browser.safebrowsing.provider.mozilla.gethashURL": "",
	"browser.safebrowsing.provider.mozilla.updateURL":  "",
	"browser.search.update":                            false,
	"datareporting.policy.dataSubmissionEnabled":       false,
	"datareporting.healthreport.uploadEnabled":         false,
	"toolkit.telemetry.enabled":                        false,
	"toolkit.telemetry.unified":                        false,
	"toolkit.telemetry.server":                         "",
	"extensions.update.enabled":                        false,
	"extensions.getAddons.cache.enabled":               false,
	"extensions.blocklist.enabled":                     false,
	"network.captive-portal-service.enabled":           false,
	"network.connectivity-service.enabled":             false,
	"network.dns.disablePrefetch":                      true,
	"network.http.speculative-parallel-limit":          0,
	"network.prefetch-next":                            false,
	"network.proxy.type":                               1,
	"network.proxy.http":                               "127.0.0.1",
	"network.proxy.http_port":                          9,
	"network.proxy.ssl":                                "127.0.0.1",
	"network.proxy.ssl_port":                           9,
	"network.proxy.allow_hijacking_localhost":          false,
	"services.settings.server":                         "http://127.0.0.1:9/",
	"remote.prefs.recommended":                         true,
}

// Browser is one running Firefox with one BiDi session and its first tab.
type Browser struct {
	t       testing.TB
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has been waited for
	conn    *websocket.Conn
	context string // the top-level browsing context: the tab

	mu      sync.Mutex
	next    int
	pending map[int]chan reply
	closed  error // why the socket stopped, once it has

	logMu  sync.Mutex
	stderr []string // the browser's last lines, for failure messages
}

type reply struct {
	Type    string          `json:"type"` // success, error or event
	ID      *int            `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   string          `json:"error"`
	Message string          `json:"message"`
}

var listening = regexp.MustCompile(`WebDriver BiDi listening on (ws://\S+)`)

// Start starts a headless Firefox with a fresh profile, opens a BiDi
// session and finds its tab; the browser is closed, and the profile
// removed, when the test ends.
func Start(t testing.TB) *Browser {
	t.Helper()
	profile := t.TempDir() // removed after the Cleanup below has run
	var user strings.Builder
	for k, v := range prefs {
		j, _ := json.Marshal(v)
		fmt.Fprintf(&user, "user_pref(%q, %s);\n", k, j)
	}
	if err := os.WriteFile(filepath.Join(profile, "user.js"), []byte(user.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	// Port 0: Firefox picks a free port and says which on stderr.
	cmd := exec.Command(Path(t), "--headless", "--no-remote", "--remote-debugging-port=0", "--profile", profile, "about:blank")
	cmd.Env = append(os.Environ(), "MOZ_HEADLESS=1", "MOZ_CRASHREPORTER_DISABLE=1", "HOME="+profile)
	proc.OwnGroup(cmd)
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start firefox: %v", err)
	}
	b := &Browser{t: t, cmd: cmd, exited: make(chan struct{}), pending: map[int]chan reply{}}
	go func() { _ = cmd.Wait(); close(b.exited) }()
	t.Cleanup(b.close)

	// Keep reading stderr for the whole run: a full pipe would stall the
	// browser. The first line naming the socket is the one we wait for.
	// Wait, above, closes the pipe once Firefox exits, which may cut off
	// its last lines; they only ever serve failure messages.
	url := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			line := sc.Text()
			b.logMu.Lock()
			b.stderr = append(b.stderr[max(0, len(b.stderr)-40):], line)
			b.logMu.Unlock()
			if m := listening.FindStringSubmatch(line); m != nil {
				select {
				case url <- m[1]:
				default:
				}
			}
		}
	}()
	var ws string
	select {
	case ws = <-url:
	case <-b.exited:
		t.Fatalf("firefox exited before listening: %s", b.log())
	case <-time.After(60 * time.Second):
		t.Fatalf("firefox did not start listening within 60 s: %s", b.log())
	}

	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	if b.conn, _, err = websocket.Dial(ctx, ws+"/session", nil); err != nil {
		t.Fatalf("connect to firefox: %v", err)
	}
	b.conn.SetReadLimit(64 << 20) // the default 32 KiB is less than one page's HTML
	go b.read()

	// The first window of a fresh profile takes seconds, and many more
	// while CI runs every package's tests at once.
	if err := b.CallWithin(60*time.Second, "session.new", map[string]any{"capabilities": map[string]any{}}, nil); err != nil {
		t.Fatalf("session.new: %v", err)
	}
	var tree struct {
		Contexts []struct {
			Context string `json:"context"`
		} `json:"contexts"`
	}
	if err := b.Call("browsingContext.getTree", map[string]any{"maxDepth": 0}, &tree); err != nil || len(tree.Contexts) == 0 {
		t.Fatalf("browsingContext.getTree: %v %+v", err, tree)
	}
	b.context = tree.Contexts[0].Context
	return b
}

// read hands each command's reply to its caller; events (none are
// subscribed to) are dropped.
func (b *Browser) read() {
	for {
		_, data, err := b.conn.Read(context.Background())
		if err != nil {
			b.mu.Lock()
			b.closed = err
			for id, ch := range b.pending {
				close(ch)
				delete(b.pending, id)
			}
			b.mu.Unlock()
			return
		}
		var r reply
		if json.Unmarshal(data, &r) != nil || r.ID == nil {
			continue
		}
		b.mu.Lock()
		ch := b.pending[*r.ID]
		delete(b.pending, *r.ID)
		b.mu.Unlock()
		if ch != nil {
			ch <- r
		}
	}
}

// Call sends one BiDi command and decodes its result into out (which may
// be nil), within cmdTimeout.
func (b *Browser) Call(method string, params, out any) error {
	return b.CallWithin(cmdTimeout, method, params, out)
}

// CallWithin is Call bounded by d.
func (b *Browser) CallWithin(d time.Duration, method string, params, out any) error {
	ch := make(chan reply, 1)
	b.mu.Lock()
	if b.closed != nil {
		b.mu.Unlock()
		return fmt.Errorf("%s: connection closed: %w", method, b.closed)
	}
	b.next++
	id := b.next
	b.pending[id] = ch
	b.mu.Unlock()
	defer func() { b.mu.Lock(); delete(b.pending, id); b.mu.Unlock() }()

	msg, err := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := b.conn.Write(ctx, websocket.MessageText, msg); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case r, ok := <-ch:
		switch {
		case !ok:
			return fmt.Errorf("%s: connection closed", method)
		case r.Type == "error":
			return fmt.Errorf("%s: %s: %s", method, r.Error, r.Message)
		case out != nil:
			return json.Unmarshal(r.Result, out)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: no reply within %v", method, d)
	}
}

// Navigate opens url in the tab and waits for the page's load event.
func (b *Browser) Navigate(url string) error {
	return b.CallWithin(30*time.Second, "browsingContext.navigate", map[string]any{"context": b.context, "url": url, "wait": "complete"}, nil)
}

// Reload reloads the page and waits for its load event.
func (b *Browser) Reload() error {
	return b.CallWithin(30*time.Second, "browsingContext.reload", map[string]any{"context": b.context, "wait": "complete"}, nil)
}

// SetViewport sets the page's viewport to w×h CSS pixels.
func (b *Browser) SetViewport(w, h int) error {
	return b.Call("browsingContext.setViewport", map[string]any{"context": b.context, "viewport": map[string]int{"width": w, "height": h}}, nil)
}

// remoteValue is the part of BiDi's serialised script value we use.
type remoteValue struct {
	Type     string          `json:"type"`
	Value    json.RawMessage `json:"value"`
	SharedID string          `json:"sharedId"` // for nodes
}

// evaluate runs expr in the page, awaiting a promise it returns; a thrown
// exception becomes the error.
func (b *Browser) evaluate(expr string) (remoteValue, error) {
	var r struct {
		Type             string      `json:"type"`
		Result           remoteValue `json:"result"`
		ExceptionDetails struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	err := b.Call("script.evaluate", map[string]any{
		"expression":      expr,
		"target":          map[string]string{"context": b.context},
		"awaitPromise":    true,
		"resultOwnership": "none",
		// A node comes back as a reference (its sharedId), not a copy of
		// its subtree.
		"serializationOptions": map[string]any{"maxDomDepth": 0, "maxObjectDepth": 0},
	}, &r)
	if err != nil {
		return remoteValue{}, err
	}
	if r.Type == "exception" {
		return remoteValue{}, fmt.Errorf("script: %s", r.ExceptionDetails.Text)
	}
	return r.Result, nil
}

// Eval runs a JavaScript expression in the page (a promise is awaited)
// and decodes its value, which must survive JSON.stringify, into out
// (which may be nil). Going through JSON spares us decoding BiDi's own
// serialisation of arrays and objects.
func (b *Browser) Eval(expr string, out any) error {
	v, err := b.evaluate("(async () => JSON.stringify(await (\n" + expr + "\n)))()")
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	var s string
	if v.Type != "string" || json.Unmarshal(v.Value, &s) != nil {
		return fmt.Errorf("%s: the value is %s, not JSON", expr, v.Type)
	}
	return json.Unmarshal([]byte(s), out)
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
	sel, _ := json.Marshal(selector)
	v, err := b.evaluate(`(() => {
		const el = document.querySelector(` + string(sel) + `);
		if (!el) throw new Error("no element matches " + ` + string(sel) + `);
		el.scrollIntoView({ block: "center", inline: "center" });
		return el;
	})()`)
	if err != nil {
		return err
	}
	if v.Type != "node" || v.SharedID == "" {
		return fmt.Errorf("%s: not a node but %s", selector, v.Type)
	}
	origin := map[string]any{"type": "element", "element": map[string]string{"sharedId": v.SharedID}}
	return b.perform(map[string]any{
		"type": "pointer", "id": "mouse", "parameters": map[string]string{"pointerType": "mouse"},
		"actions": []map[string]any{
			{"type": "pointerMove", "x": 0, "y": 0, "origin": origin},
			{"type": "pointerDown", "button": 0},
			{"type": "pointerUp", "button": 0},
		},
	})
}

func (b *Browser) perform(source map[string]any) error {
	return b.Call("input.performActions", map[string]any{"context": b.context, "actions": []any{source}}, nil)
}

// log is the browser's last lines of stderr, for failure messages.
func (b *Browser) log() string {
	b.logMu.Lock()
	defer b.logMu.Unlock()
	return strings.Join(b.stderr, "\n")
}

// close asks the browser to quit, then makes sure that it and its child
// processes are gone before the profile is removed.
func (b *Browser) close() {
	if b.conn != nil {
		// browser.close ends the session and the browser; the reply may
		// be lost as the socket goes, so its error is of no interest.
		_ = b.CallWithin(5*time.Second, "browser.close", map[string]any{}, nil)
		_ = b.conn.CloseNow()
	}
	select {
	case <-b.exited:
	case <-time.After(10 * time.Second):
		b.t.Logf("firefox did not quit within 10 s; killing it")
	}
	proc.KillGroup(b.cmd)
	select {
	case <-b.exited:
	case <-time.After(5 * time.Second):
		b.t.Errorf("firefox (pid %d) survived a kill", b.cmd.Process.Pid)
	}
}
