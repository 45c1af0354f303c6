package firefox_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/blfgw/blfgw/internal/browsertest/firefox"
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

// TestClient: the client's steps against a page of its own, so that a
// broken client shows here rather than as a puzzling failure in the HUD's
// test.
func TestClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(page))
	}))
	defer srv.Close()
	b := firefox.Start(t)
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
	if err := b.Keys(firefox.Backspace, "d", firefox.Enter); err != nil {
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
	if err := b.SetViewport(420, 800); err != nil {
		t.Fatal(err)
	}
	var w int
	if err := b.Eval(`window.innerWidth`, &w); err != nil || w != 420 {
		t.Errorf("innerWidth = %d %v", w, err)
	}
}
