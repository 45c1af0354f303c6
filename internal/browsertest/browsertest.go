// Package browsertest drives the real headless Chromium that the web page's
// tests run in: one browser per test, on loopback, with bounded steps and
// screenshots. Only tests import it.
package browsertest

import (
	"cmp"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path finds the browser. It is a hard requirement (CI installs Debian's
// chromium): a missing browser fails the test rather than skipping it.
func Path(t testing.TB) string {
	t.Helper()
	for _, p := range []string{os.Getenv("BLFGW_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Fatal("no Chromium: install it (apt-get install chromium) or set BLFGW_CHROMIUM")
	return ""
}

// Start starts a headless Chromium with a phone-sized window for the test
// and stops it when the test ends.
func Start(t testing.TB) context.Context {
	return StartSized(t, 420, 800)
}

// StartSized is Start with a window of w×h CSS pixels.
func StartSized(t testing.TB, w, h int) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(Path(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(w, h),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	// The window alone is not enough: headless Chromium keeps it at least
	// 500 px wide, wider than a phone.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(w), int64(h))); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// Within runs steps, all of them bounded by d.
func Within(ctx context.Context, d time.Duration, steps ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return chromedp.Do(ctx, steps...)
}

// Get runs one action that returns a value, bounded by d.
func Get[T any](ctx context.Context, d time.Duration, a chromedp.Action[T]) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return chromedp.Run(ctx, a)
}

// Screenshot takes a PNG of the whole page into the test's temporary
// folder; BLFGW_SCREENSHOTS=DIR writes it there instead, which is how the
// README's pictures are kept current (BLFGW_SCREENSHOTS=$PWD/docs).
func Screenshot(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	png, err := Get(ctx, 5*time.Second, chromedp.FullScreenshot(100))
	if err != nil || len(png) == 0 {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(cmp.Or(os.Getenv("BLFGW_SCREENSHOTS"), t.TempDir()), name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Until waits for a JavaScript expression to be true on the page.
func Until(expr string) chromedp.Action[chromedp.Void] {
	poll := chromedp.Poll[bool](expr)
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := poll(ctx, t)
		return chromedp.Void{}, err
	}
}

// Session opens a window of its own (its own cookies, like another
// person's browser) in the browser that Start started.
func Session(t testing.TB, browser context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// The first action creates the target; it must not run under a
	// timeout, whose end would close the window.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a browser window: %v", err)
	}
	return ctx
}
