package main

// `blfgw demo` as a newcomer runs it (make demo), twenty times faster: the
// real binary, the example configuration, free loopback ports, and the
// lamps followed the way the web page follows them, on the HUD's event
// stream as 1001.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	bt "github.com/blfgw/blfgw/internal/browsertest"
)

const (
	demoUser     = "1001"
	demoPassword = "change-me-1001" // configs/example.toml
)

// hudPresence is the data of an `event: presence` (api/openapi.json).
type hudPresence struct {
	Number  string `json:"number"`
	Lamp    string `json:"lamp"`
	Status  string `json:"status"`
	Message string `json:"message"`
	Dialogs []struct {
		State  string `json:"state"`
		Held   bool   `json:"held"`
		Remote *struct {
			Display string `json:"display"`
		} `json:"remote"`
	} `json:"dialogs"`
}

// demoRun is one `blfgw demo` child process.
type demoRun struct {
	t    *testing.T
	cmd  *exec.Cmd
	out  *lockedWriter
	buf  *strings.Builder
	done chan struct{}
	err  error
}

func startDemo(t *testing.T, args ...string) *demoRun {
	t.Helper()
	cfg, err := filepath.Abs(filepath.Join("..", "..", "configs", "example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	d := &demoRun{t: t, buf: &strings.Builder{}, done: make(chan struct{})}
	d.out = &lockedWriter{w: d.buf}
	d.cmd = exec.CommandContext(ctx, gatewayBinary(t), append([]string{"demo", "-config", cfg}, args...)...)
	d.cmd.Dir = t.TempDir()
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	d.cmd.WaitDelay = 5 * time.Second
	dieWithTest(d.cmd)
	if err := d.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() {
		d.err = d.cmd.Wait()
		cancel()
		close(d.done)
	}()
	t.Cleanup(func() {
		_ = d.cmd.Process.Kill()
		<-d.done
		out := d.output()
		if i := strings.Index(out, "WARNING: DATA RACE"); i >= 0 {
			t.Errorf("data race in the demo:\n%s", clip(out[i:], 6000))
		}
		if i := strings.Index(out, "\npanic: "); i >= 0 {
			t.Errorf("the demo panicked:\n%s", clip(out[i:], 6000))
		}
		if t.Failed() {
			t.Logf("demo output (last lines):\n%s", lastLines(out, 120))
		}
	})
	return d
}

func (d *demoRun) output() string {
	d.out.mu.Lock()
	defer d.out.mu.Unlock()
	return d.buf.String()
}

// wait for the process to exit and return its error.
func (d *demoRun) wait(limit time.Duration) error {
	d.t.Helper()
	select {
	case <-d.done:
		return d.err
	case <-time.After(limit):
		d.t.Fatalf("the demo did not exit within %v", limit)
		return nil
	}
}

func (d *demoRun) waitOutput(text string, limit time.Duration) {
	d.t.Helper()
	deadline := time.Now().Add(limit)
	for !strings.Contains(d.output(), text) {
		select {
		case <-d.done:
			d.t.Fatalf("the demo exited (%v) before saying %q", d.err, text)
		default:
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("the demo did not say %q within %v", text, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// events follows GET /api/v1/events as user and sends each presence event
// until the stream ends (the gateway stopping ends it).
func events(t *testing.T, ctx context.Context, base, user, password string) <-chan hudPresence {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, password)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("open the event stream: %v", err)
	}
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		res.Body.Close()
		t.Fatalf("event stream: %s %s", res.Status, res.Header.Get("Content-Type"))
	}
	out := make(chan hudPresence, 1024)
	go func() {
		defer close(out)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		event, data := "", ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event:"):
				event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
			case strings.HasPrefix(line, "data:"):
				data += strings.TrimSpace(strings.TrimPrefix(line, "data:"))
			case line == "":
				if event == "presence" {
					var p hudPresence
					if err := json.Unmarshal([]byte(data), &p); err != nil {
						t.Errorf("presence event %q: %v", data, err)
					} else {
						select {
						case out <- p:
						case <-ctx.Done():
							return
						}
					}
				}
				event, data = "", ""
			}
		}
	}()
	return out
}

// TestE2EDemo: `blfgw demo` at twenty times the pace shows 1001 every lamp
// a newcomer should see (a colleague ringing, on the phone, on hold, in Do
// Not Disturb with a note, and their own line ringing with the caller's
// name); Ctrl-C ends the office's calls and statuses and exits 0; the
// database is left with no publication and the statuses as configured.
func TestE2EDemo(t *testing.T) {
	t.Parallel()
	sipPort, httpPort := freePort(t), freePort(t)
	db := filepath.Join(t.TempDir(), "demo.db")
	sipFlag := fmt.Sprintf("udp:127.0.0.1:%d,tcp:127.0.0.1:%d", sipPort, sipPort)
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	d := startDemo(t, "-db", db, "-sip", sipFlag, "-http", fmt.Sprintf("127.0.0.1:%d", httpPort), "-pace", "0.05", "-seed", "11")
	d.waitOutput(fmt.Sprintf("demo: open %s/ and sign in as %s with password %s (Ctrl-C stops)", base, demoUser, demoPassword), 30*time.Second)

	// The newcomer opens the page and signs in as the README says.
	browser := bt.StartSized(t, 900, 760)
	page := bt.Session(t, browser)
	err := bt.Within(page, 20*time.Second,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#number`)),
		chromedp.SendKeys(chromedp.CSS(`#number`), demoUser),
		chromedp.SendKeys(chromedp.CSS(`#password`), demoPassword+"\r"),
		chromedp.WaitVisible(chromedp.CSS(`#lamps li.self[data-lamp]`)),
	)
	if err != nil {
		t.Fatalf("signing in on the demo's page: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
	defer cancel()
	stream := events(t, ctx, base, demoUser, demoPassword)
	want := map[string]bool{}
	need := []string{"ringing", "busy", "held", "dnd", "away", "own caller"}
	deadline := time.After(60 * time.Second)
	for len(want) < len(need) {
		select {
		case p, ok := <-stream:
			if !ok {
				t.Fatalf("the event stream ended; saw %v", want)
			}
			if p.Lamp == "ringing" && p.Number != demoUser {
				want["ringing"] = true
			}
			for _, dl := range p.Dialogs {
				if p.Lamp == "busy" && dl.State == "confirmed" && !dl.Held {
					want["busy"] = true
				}
				if dl.Held && p.Lamp == "hold" {
					want["held"] = true
				}
				if p.Number == demoUser && p.Lamp == "ringing" && dl.State == "early" && dl.Remote != nil && dl.Remote.Display != "" {
					want["own caller"] = true
				}
			}
			if (p.Status == "dnd" || p.Status == "away") && p.Message != "" && p.Number != "1006" {
				want[p.Status] = true
			}
			if p.Number == demoUser && p.Status != "default" {
				t.Errorf("the office changed the status of %s, the newcomer's: %+v", demoUser, p)
			}
		case <-deadline:
			t.Fatalf("within 60 s saw only %v of %v", want, need)
		}
	}

	// ... and sees the lamps move: a colleague's row ringing, on the phone
	// or on hold, in words.
	moving := `#lamps li:not(.self)[data-look="ringing"], #lamps li:not(.self)[data-look="busy"], #lamps li:not(.self)[data-look="hold"], #lamps li:not(.self)[data-look="outgoing"]`
	if err := bt.Within(page, 20*time.Second, chromedp.WaitVisible(chromedp.CSS(moving))); err != nil {
		t.Fatalf("no colleague's lamp moved on the page: %v", err)
	}
	bt.Screenshot(t, page, "demo.png")

	// Ctrl-C: the office ends its calls and restores statuses while the
	// gateway still runs, then the gateway stops.
	if err := d.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	if err := d.wait(15 * time.Second); err != nil {
		t.Fatalf("exit after SIGINT: %v (want status 0)", err)
	}
	if took := time.Since(at); took > 8*time.Second {
		t.Errorf("stopping took %v", took)
	}
	// The gateway stops a moment after the office's last request, so the
	// stream may end before it shows the last change; the database, read
	// below, is the record.
	for range stream {
	}
	out := d.output()
	for _, s := range []string{`msg="office closed"`, `msg="shutting down"`} {
		if !strings.Contains(out, s) {
			t.Errorf("the demo's log does not say %s", s)
		}
	}
	if i, j := strings.Index(out, `msg="office closed"`), strings.Index(out, `msg="shutting down"`); i > j {
		t.Error("the gateway stopped before the office had closed")
	}

	// The same database under serve: nothing published is left, and every
	// status is what the configuration says (1006 starts in Do Not
	// Disturb; nobody else sets one).
	g := &gateway{t: t, dir: t.TempDir(), sipPort: sipPort, httpPort: httpPort, dbPath: db}
	g.cfgPath, _ = filepath.Abs(filepath.Join("..", "..", "configs", "example.toml"))
	g.start()
	defer g.stop(syscall.SIGTERM)
	if h, err := g.health(); err != nil || h.Publications != 0 {
		t.Errorf("after the demo: %+v %v; want no publication", h, err)
	}
	for _, n := range []string{"1001", "1002", "1003", "1004", "1005", "1006"} {
		st, err := meStatus(base, n, "change-me-"+n)
		want := [2]string{"default", ""}
		if n == "1006" {
			want = [2]string{"dnd", "Reviewing calls until 16:00"}
		}
		if err != nil || st != want {
			t.Errorf("%s after the demo: %q %v, want %q", n, st, err, want)
		}
	}
}

func meStatus(base, user, password string) ([2]string, error) {
	req, err := http.NewRequest(http.MethodGet, base+"/api/v1/me", nil)
	if err != nil {
		return [2]string{}, err
	}
	req.SetBasicAuth(user, password)
	c := http.Client{Timeout: 5 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		return [2]string{}, err
	}
	defer res.Body.Close()
	var me struct {
		Status  string `json:"status"`
		Message string `json:"status_message"`
	}
	if res.StatusCode != http.StatusOK {
		return [2]string{}, errors.New(res.Status)
	}
	err = json.NewDecoder(res.Body).Decode(&me)
	return [2]string{me.Status, me.Message}, err
}

// TestE2EDemoPortInUse: a port in use stops the demo at once with the
// gateway's own words, before it invites anyone to open the page.
func TestE2EDemoPortInUse(t *testing.T) {
	t.Parallel()
	port, httpPort := freePort(t), freePort(t)
	busy, err := net.ListenPacket("udp4", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	d := startDemo(t, "-db", filepath.Join(t.TempDir(), "demo.db"), "-sip", fmt.Sprintf("udp:127.0.0.1:%d", port),
		"-http", fmt.Sprintf("127.0.0.1:%d", httpPort))
	err = d.wait(15 * time.Second)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1", err)
	}
	out := d.output()
	if !strings.Contains(out, "address already in use") {
		t.Errorf("no word of the port in use:\n%s", out)
	}
	if strings.Contains(out, "demo: open") {
		t.Error("the demo invited the user in although the gateway never started")
	}
}
