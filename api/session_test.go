package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/blfgw/blfgw/api"
)

// send makes a request and returns the answer whatever its type.
func (e *env) send(c *http.Client, method, url, body string, mod func(*http.Request)) (*http.Response, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, err := http.NewRequestWithContext(e.t.Context(), method, url, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if mod != nil {
		mod(r)
	}
	if c == nil {
		c = defaultClient
	}
	res, err := c.Do(r)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return res, raw
}

// advance moves the server's clock, and keeps count for signIn's check.
func (e *env) advance(d time.Duration) {
	e.skew += d
	e.srv.Advance(d)
}

type browser struct {
	cookie *http.Cookie
	csrf   string
}

// signIn opens a session for n and checks the cookie's attributes.
func (e *env) signIn(n string) browser {
	e.t.Helper()
	e.mu.Lock()
	pw := e.pw[n]
	e.mu.Unlock()
	res, raw := e.send(nil, "POST", e.base+"/api/v1/session", fmt.Sprintf(`{"number":%q,"password":%q}`, n, pw), nil)
	if res.StatusCode != 200 {
		e.t.Fatalf("sign in %s = %d %s", n, res.StatusCode, raw)
	}
	var c *http.Cookie
	for _, x := range res.Cookies() {
		if x.Name == "blfgw_session" {
			c = x
		}
	}
	if c == nil || c.Value == "" {
		e.t.Fatalf("sign in %s: no session cookie in %q", n, res.Header.Values("Set-Cookie"))
	}
	sc := res.Header.Get("Set-Cookie")
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure ||
		!strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Strict") {
		e.t.Errorf("session cookie over plain HTTP: %q", sc)
	}
	body := e.jsonOf(raw)
	csrf, _ := body["csrf_token"].(string)
	if body["number"] != n || body["name"] == "" || len(csrf) < 32 {
		e.t.Errorf("sign in %s = %s", n, raw)
	}
	exp, err := time.Parse(time.RFC3339, fmt.Sprint(body["expires_at"]))
	if d := time.Until(exp) - e.skew; err != nil || d < e.ttl-time.Minute || d > e.ttl+time.Minute {
		e.t.Errorf("expires_at %v ahead (%v), want %v", d, err, e.ttl)
	}
	e.mu.Lock()
	e.tokens = append(e.tokens, c.Value, csrf)
	e.mu.Unlock()
	return browser{cookie: &http.Cookie{Name: c.Name, Value: c.Value}, csrf: csrf}
}

func (e *env) jsonOf(raw []byte) map[string]any {
	e.t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		e.t.Fatalf("not a JSON object: %v: %q", err, raw)
	}
	return m
}

// withCookie authenticates by the cookie, with csrf as the header if set.
func (b browser) with(csrf string) auth {
	return func(r *http.Request) {
		r.AddCookie(b.cookie)
		if csrf != "" {
			r.Header.Set("X-CSRF-Token", csrf)
		}
	}
}

func TestSessionLogin(t *testing.T) {
	e := newEnv(t)
	b := e.signIn("1002")

	// The cookie is a way in for the API, and GET /session says who.
	if r := e.get("/api/v1/me", b.with("")); r.code != 200 || r.body["number"] != "1002" {
		t.Fatalf("GET /me with the cookie = %d %s", r.code, r.raw)
	}
	r := e.get("/api/v1/session", b.with(""))
	if r.code != 200 || r.body["number"] != "1002" || r.body["name"] != "Bob Baker" || r.body["csrf_token"] != b.csrf {
		t.Fatalf("GET /session = %d %s", r.code, r.raw)
	}
	r = e.get("/api/v1/session", anon)
	wantErr(t, "GET /session without cookie", r, 401, "unauthorized", "", "POST /api/v1/session")
	if got := r.hdr.Get("WWW-Authenticate"); strings.HasPrefix(got, "Basic") {
		t.Errorf("a browser's 401 asks for Basic, which pops the browser's own dialog: %q", got)
	}
	// Basic is not a browser session.
	wantErr(t, "GET /session with Basic", e.get("/api/v1/session", e.basic("1002")), 401, "unauthorized", "")

	// Changes need the CSRF header; a refused one changes nothing.
	wantErr(t, "PATCH without CSRF", e.patch("/api/v1/me", b.with(""), `{"status":"dnd"}`), 403, "csrf", "", "X-CSRF-Token")
	wantErr(t, "PATCH with a wrong CSRF", e.patch("/api/v1/me", b.with(b.csrf[:len(b.csrf)-1]+"x"), `{"status":"dnd"}`), 403, "csrf", "", "wrong")
	wantErr(t, "POST /token with the cookie, no CSRF", e.do(req{method: "POST", path: "/api/v1/token", auth: b.with("")}), 403, "csrf", "")
	if r := e.get("/api/v1/me", b.with("")); r.body["status"] != "default" {
		t.Fatalf("a refused PATCH changed the status: %s", r.raw)
	}
	if r := e.patch("/api/v1/me", b.with(b.csrf), `{"status":"dnd"}`); r.code != 200 || r.body["status"] != "dnd" {
		t.Fatalf("PATCH with CSRF = %d %s", r.code, r.raw)
	}
	// Another session's token does not do.
	b2 := e.signIn("1002")
	wantErr(t, "PATCH with the other session's CSRF", e.patch("/api/v1/me", b.with(b2.csrf), `{"status":"away"}`), 403, "csrf", "")
	// A token is issued only for the password, not for a cookie.
	wantErr(t, "token for a cookie", e.do(req{method: "POST", path: "/api/v1/token", auth: b.with(b.csrf)}), 401, "unauthorized", "", "Basic")
	// Basic needs no CSRF header, even with a cookie beside it.
	if r := e.patch("/api/v1/me", func(r *http.Request) { b.with("")(r); e.basic("1002")(r) }, `{"status":"default"}`); r.code != 200 {
		t.Fatalf("PATCH with Basic = %d %s", r.code, r.raw)
	}

	// Logout: needs CSRF, revokes the session server-side, clears the cookie.
	res, raw := e.send(nil, "DELETE", e.base+"/api/v1/session", "", b.with(""))
	if res.StatusCode != 403 || !strings.Contains(string(raw), `"csrf"`) {
		t.Errorf("DELETE without CSRF = %d %s", res.StatusCode, raw)
	}
	res, raw = e.send(nil, "DELETE", e.base+"/api/v1/session", "", b.with(b.csrf))
	if res.StatusCode != 204 || len(raw) != 0 {
		t.Fatalf("DELETE /session = %d %s", res.StatusCode, raw)
	}
	if sc := res.Header.Get("Set-Cookie"); !strings.Contains(sc, "blfgw_session=;") || !strings.Contains(sc, "Max-Age=0") {
		t.Errorf("logout Set-Cookie = %q", sc)
	}
	wantErr(t, "replayed cookie", e.get("/api/v1/me", b.with(b.csrf)), 401, "unauthorized", "", "ended")
	wantErr(t, "replayed cookie, GET /session", e.get("/api/v1/session", b.with("")), 401, "unauthorized", "")
	if r := e.get("/api/v1/me", b2.with("")); r.code != 200 {
		t.Errorf("the other session ended with the first: %d %s", r.code, r.raw)
	}
	wantErr(t, "made-up cookie", e.get("/api/v1/me", browser{cookie: &http.Cookie{Name: "blfgw_session", Value: "forged"}}.with("")), 401, "unauthorized", "")

	// Refused sign-ins.
	for body, field := range map[string]string{`{"number":"1002"}`: "password", `{"password":"x"}`: "number"} {
		res, raw := e.send(nil, "POST", e.base+"/api/v1/session", body, nil)
		if res.StatusCode != 400 || !strings.Contains(string(raw), `"field":"`+field+`"`) {
			t.Errorf("sign in with %s = %d %s", body, res.StatusCode, raw)
		}
	}
	res, raw = e.send(nil, "POST", e.base+"/api/v1/session", `{"number":"1002","password":"x","extra":1}`, nil)
	if res.StatusCode != 400 || !strings.Contains(string(raw), "bad_json") {
		t.Errorf("unknown field = %d %s", res.StatusCode, raw)
	}
	res, raw = e.send(nil, "POST", e.base+"/api/v1/session", "", func(r *http.Request) {
		r.Body = io.NopCloser(strings.NewReader("number=1002&password=x"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	})
	if res.StatusCode != 415 {
		t.Errorf("a form sign-in = %d %s", res.StatusCode, raw)
	}
	res, raw = e.send(nil, "PUT", e.base+"/api/v1/session", "", nil)
	if res.StatusCode != 405 || res.Header.Get("Allow") != "DELETE, GET, POST" {
		t.Errorf("PUT /session = %d %q %s", res.StatusCode, res.Header.Get("Allow"), raw)
	}
}

func TestSessionRateLimit(t *testing.T) {
	e := newEnv(t)
	guesser, other := clientFrom("127.0.0.5"), clientFrom("127.0.0.6")
	for i := range 10 {
		res, raw := e.send(guesser, "POST", e.base+"/api/v1/session", fmt.Sprintf(`{"number":"1002","password":"guess-%d"}`, i), nil)
		if res.StatusCode != 401 || !strings.Contains(string(raw), "wrong extension number or password") {
			t.Fatalf("guess %d = %d %s", i, res.StatusCode, raw)
		}
		if got := res.Header.Get("WWW-Authenticate"); strings.HasPrefix(got, "Basic") {
			t.Errorf("WWW-Authenticate = %q", got)
		}
	}
	// The same limits as the API: the extension, from anywhere, and by
	// any way in.
	res, raw := e.send(other, "POST", e.base+"/api/v1/session", `{"number":"1002","password":"bob-S3cret!pw"}`, nil)
	if res.StatusCode != 429 || res.Header.Get("Retry-After") == "" || !strings.Contains(string(raw), "too_many_attempts") {
		t.Errorf("sign in while blocked = %d %s", res.StatusCode, raw)
	}
	wantErr(t, "Basic while blocked", e.do(req{method: "GET", path: "/api/v1/me", auth: e.basic("1002"), client: other}), 429, "too_many_attempts", "")
	res, _ = e.send(guesser, "POST", e.base+"/api/v1/session", `{"number":"1003","password":"carol-S3cret!pw"}`, nil)
	if res.StatusCode != 429 {
		t.Errorf("another extension from the guessing address = %d", res.StatusCode)
	}
	e.advance(61 * time.Second)
	e.signIn("1002")
	if logs := e.log.String(); strings.Contains(logs, "guess-3") {
		t.Errorf("a tried password reached the log")
	}
}

func TestSessionExpiryAndPassword(t *testing.T) {
	e := newEnv(t)
	b := e.signIn("1002")
	e.advance(8*time.Hour - time.Minute)
	if r := e.get("/api/v1/me", b.with("")); r.code != 200 {
		t.Fatalf("before expiry = %d %s", r.code, r.raw)
	}
	e.advance(time.Minute)
	wantErr(t, "expired session", e.get("/api/v1/me", b.with("")), 401, "unauthorized", "", "expired")
	wantErr(t, "expired session, PATCH", e.patch("/api/v1/me", b.with(b.csrf), `{"status":"dnd"}`), 401, "unauthorized", "", "expired")

	// A shorter lifetime by option.
	e2 := newEnv(t, func(o *api.Options) { o.SessionTTL = time.Hour })
	b2 := e2.signIn("1002")
	e2.advance(time.Hour)
	wantErr(t, "1 h session after 1 h", e2.get("/api/v1/me", b2.with("")), 401, "unauthorized", "", "expired")

	// A new password in the file ends the sessions opened under the old one.
	c := e.signIn("1003")
	if r := e.get("/api/v1/me", c.with("")); r.code != 200 {
		t.Fatalf("carol = %d %s", r.code, r.raw)
	}
	e.mu.Lock()
	e.pw["1003"] = "carol-N3w!pw"
	e.mu.Unlock()
	wantErr(t, "session after a password change", e.get("/api/v1/me", c.with("")), 401, "unauthorized", "", "password")
	// Changing it back does not revive it: the session is gone.
	e.mu.Lock()
	e.pw["1003"] = "carol-S3cret!pw"
	e.mu.Unlock()
	wantErr(t, "session after the password came back", e.get("/api/v1/me", c.with("")), 401, "unauthorized", "")
}

func TestSessionSecureOverTLS(t *testing.T) {
	e := newEnv(t)
	ts := httptest.NewUnstartedServer(e.srv.Handler())
	ts.StartTLS()
	t.Cleanup(ts.Close)
	res, raw := e.send(ts.Client(), "POST", ts.URL+"/api/v1/session", `{"number":"1002","password":"bob-S3cret!pw"}`, nil)
	if res.StatusCode != 200 {
		t.Fatalf("sign in over TLS = %d %s", res.StatusCode, raw)
	}
	var c *http.Cookie
	for _, x := range res.Cookies() {
		if x.Name == "blfgw_session" {
			c = x
		}
	}
	if c == nil || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
		t.Errorf("cookie over TLS: %q", res.Header.Get("Set-Cookie"))
	}
	body := e.jsonOf(raw)
	e.mu.Lock()
	e.tokens = append(e.tokens, c.Value, fmt.Sprint(body["csrf_token"]))
	e.mu.Unlock()
}

// TestSessionSecureBehindProxy: a reverse proxy that ends TLS and says so
// (X-Forwarded-Proto or Forwarded) gets a Secure cookie too; plain HTTP
// does not.
func TestSessionSecureBehindProxy(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		name, header, value string
		secure              bool
	}{
		{"X-Forwarded-Proto", "X-Forwarded-Proto", "https", true},
		{"Forwarded", "Forwarded", "for=192.0.2.60;proto=https;by=203.0.113.43", true},
		{"plain", "X-Forwarded-Proto", "http", false},
	} {
		res, raw := e.send(nil, "POST", e.base+"/api/v1/session", `{"number":"1002","password":"bob-S3cret!pw"}`,
			func(r *http.Request) { r.Header.Set(c.header, c.value) })
		if res.StatusCode != 200 {
			t.Fatalf("%s: sign in = %d %s", c.name, res.StatusCode, raw)
		}
		for _, x := range res.Cookies() {
			if x.Name == "blfgw_session" {
				if x.Secure != c.secure {
					t.Errorf("%s: cookie %q, want Secure %v", c.name, res.Header.Get("Set-Cookie"), c.secure)
				}
				e.mu.Lock()
				e.tokens = append(e.tokens, x.Value, fmt.Sprint(e.jsonOf(raw)["csrf_token"]))
				e.mu.Unlock()
			}
		}
	}
}
