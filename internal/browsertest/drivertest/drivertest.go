// Package drivertest checks a browser client's steps against a small page
// of its own, so that a broken client shows there rather than as a
// puzzling failure in a test of the gateway's page. The Firefox (BiDi)
// and WebKit (classic WebDriver) clients both pass the same checks.
package drivertest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Driver is what the page tests need of a browser, whatever it speaks.
type Driver interface {
	Navigate(url string) error
	Reload() error
	SetViewport(w, h int) error
	Eval(expr string, out any) error
	WaitJS(expr string, d time.Duration) error
	Keys(keys ...string) error
	Type(text string) error
	Click(selector string) error
}

// Keys that are not characters, as WebDriver (classic and BiDi) encodes
// them.
const (
	Enter     = "\uE007"
	Tab       = "\uE004"
	Backspace = "\uE003"
)

const page = `<!doctype html><title>t</title>
<form id="f"><input id="in" autofocus><button id="go" type="button">Go</button></form>
<p id="out"></p>
<script>
document.getElementById("go").addEventListener("click", (e) => {
  document.getElementById("out").textContent = "clicked:" + e.isTrusted;
});
document.getElementById("f").addEventListener("submit", (e) => {
  e.preventDefault();
  document.getElementById("out").textContent = "sent:" + document.getElementById("in").value;
});
</script>`

// Check runs every step of b against the page: values and exceptions
// from Eval, a trusted click, typed keys with Backspace and Enter, the
// errors of a missing element and a false wait, and the viewport.
func Check(t *testing.T, b Driver) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(page))
	}))
	defer srv.Close()
	if err := b.Navigate(srv.URL); err != nil {
		t.Fatal(err)
	}
	var got struct {
		N int      `json:"n"`
		S []string `json:"s"`
	}
	if err := b.Eval(`Promise.resolve({n: 1 + 1, s: ["a", document.title]})`, &got); err != nil || got.N != 2 || len(got.S) != 2 || got.S[1] != "t" {
		t.Fatalf("eval = %+v %v", got, err)
	}
	if err := b.Eval(`null.x`, nil); err == nil || !strings.Contains(err.Error(), "TypeError") {
		t.Errorf("a thrown exception gives %v", err)
	}
	if err := b.Click(`#go`); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitJS(`document.getElementById("out").textContent === "clicked:true"`, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := b.Click(`#in`); err != nil {
		t.Fatal(err)
	}
	if err := b.Type("ab c"); err != nil {
		t.Fatal(err)
	}
	if err := b.Keys(Backspace, "d", Enter); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitJS(`document.getElementById("out").textContent === "sent:ab d"`, time.Second); err != nil {
		var out string
		_ = b.Eval(`document.getElementById("out").textContent`, &out)
		t.Fatalf("%v (out=%q)", err, out)
	}
	if err := b.Click(`#nothing`); err == nil || !strings.Contains(err.Error(), "no element matches") {
		t.Errorf("clicking nothing gives %v", err)
	}
	if err := b.WaitJS(`false`, 100*time.Millisecond); err == nil {
		t.Error("WaitJS(false) returned nil")
	}
	if err := b.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitJS(`document.getElementById("out").textContent === ""`, time.Second); err != nil {
		t.Errorf("after a reload: %v", err)
	}
	// 500 px: the narrowest that every engine's window allows (WebKit's
	// MiniBrowser stops at about 450).
	if err := b.SetViewport(500, 700); err != nil {
		t.Fatal(err)
	}
	var w int
	if err := b.Eval(`window.innerWidth`, &w); err != nil || w != 500 {
		t.Errorf("innerWidth = %d %v", w, err)
	}
}

// Poll evaluates expr with eval until it is true, for at most d: the
// WaitJS of every client. Errors on the way (say, the page being
// replaced) count as not yet.
func Poll(eval func(expr string, out any) error, expr string, d time.Duration) error {
	end := time.Now().Add(d)
	for {
		var ok bool
		err := eval(expr, &ok)
		if err == nil && ok {
			return nil
		}
		if time.Now().After(end) {
			if err != nil {
				return fmt.Errorf("%s: not true within %v: %w", expr, d, err)
			}
			return fmt.Errorf("%s: not true within %v", expr, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// KeySource is the WebDriver input source (the same in classic and BiDi)
// that presses and releases each key in turn: a character or one of the
// constants above.
func KeySource(keys ...string) map[string]any {
	var acts []map[string]string
	for _, k := range keys {
		acts = append(acts, map[string]string{"type": "keyDown", "value": k}, map[string]string{"type": "keyUp", "value": k})
	}
	return map[string]any{"type": "key", "id": "keyboard", "actions": acts}
}

// Chars splits text into the keys that type it.
func Chars(text string) []string {
	var keys []string
	for _, r := range text {
		keys = append(keys, string(r))
	}
	return keys
}
