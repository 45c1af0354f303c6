package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blfgw/blfgw/api"
	"github.com/blfgw/blfgw/presence"
	"github.com/blfgw/blfgw/store"
)

// settingsStore adapts store.DB to presence.SettingsStore, field by field,
// as cmd/blfgw does.
type settingsStore struct{ db *store.DB }

func (a settingsStore) Settings(ctx context.Context) ([]presence.Setting, error) {
	rows, err := a.db.Settings(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]presence.Setting, len(rows))
	for i, r := range rows {
		out[i] = presence.Setting{Number: r.Number, Field: r.Field, Value: r.Value, Source: r.Source, TOML: r.TOML, UpdatedAt: r.UpdatedAt, UpdatedBy: r.UpdatedBy}
	}
	return out, nil
}

func (a settingsStore) ApplySettings(ctx context.Context, cs []presence.SettingChange) error {
	out := make([]store.SettingChange, len(cs))
	for i, c := range cs {
		out[i] = store.SettingChange{
			Setting: store.Setting{Number: c.Number, Field: c.Field, Value: c.Value, Source: c.Source, TOML: c.TOML, UpdatedAt: c.UpdatedAt, UpdatedBy: c.UpdatedBy},
			Actor:   c.Actor, Origin: c.Origin, Old: c.Old, Quiet: c.Quiet,
		}
	}
	return a.db.ApplySettings(ctx, out)
}

func auditFrom(db *store.DB) func(context.Context, api.AuditQuery) ([]api.AuditEntry, error) {
	return func(ctx context.Context, q api.AuditQuery) ([]api.AuditEntry, error) {
		es, err := db.Audit(ctx, store.AuditFilter{
			Subject: q.Subject, Actor: q.Actor, Field: q.Field, Origin: q.Origin,
			Since: q.Since, Until: q.Until, Before: q.Before, Limit: q.Limit,
		})
		if err != nil {
			return nil, err
		}
		out := make([]api.AuditEntry, len(es))
		for i, e := range es {
			out[i] = api.AuditEntry{ID: e.ID, At: e.At, Actor: e.Actor, Subject: e.Subject, Field: e.Field, Origin: e.Origin, Old: e.Old, New: e.New}
		}
		return out, nil
	}
}

var departments = []string{"Reception", "Sales", "Support"}

var people = []presence.Person{
	{Number: "1001", Name: "Alice Admin", Department: "Reception", Role: presence.RoleAdmin},
	{Number: "1002", Name: "Bob Baker", Department: "Sales", Role: presence.RoleUser},
	{Number: "1003", Name: "Carol Cooper", Department: "Sales", Role: presence.RoleSupervisor},
	{Number: "1004", Name: "Dave Dyer", Department: "Support", Role: presence.RoleUser},
	{Number: "1005", Name: "Eve Evans", Department: "Support", Role: presence.RoleUser},
	{Number: "1006", Name: "Frank Fisher", Department: "", Role: presence.RoleUser},
}

// seeds: Bob shares with Dave by extension and has Carol as delegate, so
// of Bob's watchers Carol sees everything, Alice (admin) and Dave the
// lamp, and Eve nothing. Dave may not change share_presence; Eve does not
// share.
func seeds() []presence.Seed {
	vals := map[string]map[string]string{
		"1002": {
			"share_presence": `true`,
			"share_with":     `{"everyone":false,"roles":[],"departments":[],"extensions":["1004"]}`,
			"delegates":      `["1003"]`,
		},
		"1004": {"share_presence": `true`},
		"1005": {"share_presence": `false`},
	}
	locked := map[string][]string{"1004": {"share_presence"}}
	var out []presence.Seed
	for _, p := range people {
		sd := presence.Seed{Person: p, Values: map[string]json.RawMessage{}, Locked: locked[p.Number]}
		for f, v := range vals[p.Number] {
			sd.Values[f] = json.RawMessage(v)
		}
		out = append(out, sd)
	}
	return out
}

var polite = presence.PolicyOptions{
	Block:   presence.BlockPolite,
	Default: presence.Sharing{Share: true, With: presence.ShareWith{Roles: []presence.Role{presence.RoleSupervisor}}},
}

// syncBuffer collects the server's log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type env struct {
	t    *testing.T
	srv  *api.Server
	base string
	db   *store.DB
	hub  *presence.Hub
	set  *presence.Settings
	log  *syncBuffer

	mu     sync.Mutex
	pw     map[string]string
	tokens []string // every token issued, none of which may reach the log

	stop func() error  // stops the server (once) and returns Run's error
	ttl  time.Duration // browser sessions' lifetime
	skew time.Duration // how far advance moved the server clock
}

func newEnv(t *testing.T, opts ...func(*api.Options)) *env {
	t.Helper()
	ctx := t.Context()
	e := &env{t: t, log: &syncBuffer{}, pw: map[string]string{
		"1001": "alice-S3cret!pw", "1002": "bob-S3cret!pw", "1003": "carol-S3cret!pw",
		"1004": "dave-S3cret!pw", "1005": "eve-S3cret!pw", "1006": "",
	}}
	// Registered first, so it runs after the server has stopped.
	t.Cleanup(e.checkLog)

	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "blfgw.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	e.db = db
	var exts []store.Extension
	for _, p := range people {
		exts = append(exts, store.Extension{Number: p.Number, Name: p.Name, Department: p.Department, Role: string(p.Role)})
	}
	if err := db.SyncDirectory(ctx, departments, exts); err != nil {
		t.Fatal(err)
	}
	e.hub = presence.NewHub()
	e.set = presence.NewSettings(e.hub, settingsStore{db})
	if err := e.set.Load(ctx, departments, seeds(), polite); err != nil {
		t.Fatal(err)
	}
	opt := api.Options{
		Addr:     "127.0.0.1:0",
		Version:  "test",
		Log:      slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Settings: e.set,
		Hub:      e.hub,
		Password: func(n string) (string, bool) {
			e.mu.Lock()
			defer e.mu.Unlock()
			p, ok := e.pw[n]
			return p, ok
		},
		Audit:    auditFrom(db),
		TokenKey: bytes.Repeat([]byte{7}, 32),
	}
	for _, o := range opts {
		o(&opt)
	}
	e.ttl = 8 * time.Hour
	if opt.SessionTTL != 0 {
		e.ttl = opt.SessionTTL
	}
	srv, err := api.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	e.srv, e.base = srv, "http://"+srv.Addr()
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(rctx) }()
	e.stop = sync.OnceValue(func() error {
		cancel()
		return <-done
	})
	t.Cleanup(func() {
		if err := e.stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return e
}

// checkLog: neither a password nor a token ever reaches the log.
func (e *env) checkLog() {
	logs := e.log.String()
	e.mu.Lock()
	defer e.mu.Unlock()
	for n, p := range e.pw {
		if p != "" && strings.Contains(logs, p) {
			e.t.Errorf("the log contains the password of %s", n)
		}
	}
	for _, tok := range e.tokens {
		if strings.Contains(logs, tok) || strings.Contains(logs, tok[strings.IndexByte(tok, '.')+1:]) {
			e.t.Errorf("the log contains a token")
		}
	}
}

// auth sets a request's credentials.
type auth func(*http.Request)

func (e *env) basic(n string) auth {
	e.mu.Lock()
	pw := e.pw[n]
	e.mu.Unlock()
	return func(r *http.Request) { r.SetBasicAuth(n, pw) }
}

func basicPw(n, pw string) auth { return func(r *http.Request) { r.SetBasicAuth(n, pw) } }

func bearer(tok string) auth {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func anon(*http.Request) {}

type resp struct {
	code int
	hdr  http.Header
	raw  []byte
	body map[string]any
}

// errParts is the JSON error of a response: code, message and field.
func (r resp) errParts() (code, msg, field string) {
	eo, _ := r.body["error"].(map[string]any)
	code, _ = eo["code"].(string)
	msg, _ = eo["message"].(string)
	field, _ = eo["field"].(string)
	return
}

// clientFrom makes requests from a given loopback address, so that tests
// can be several source addresses.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

var defaultClient = clientFrom("127.0.0.1")

type req struct {
	method, path string
	auth         auth
	body         string
	ctype        string // "" with a body: application/json
	client       *http.Client
}

func (e *env) do(q req) resp {
	e.t.Helper()
	var body io.Reader
	if q.body != "" {
		body = strings.NewReader(q.body)
	}
	r, err := http.NewRequestWithContext(e.t.Context(), q.method, e.base+q.path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if q.body != "" {
		ct := q.ctype
		if ct == "" {
			ct = "application/json"
		}
		r.Header.Set("Content-Type", ct)
	}
	if q.auth != nil {
		q.auth(r)
	}
	c := q.client
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
	out := resp{code: res.StatusCode, hdr: res.Header, raw: raw}
	if err := json.Unmarshal(raw, &out.body); err != nil {
		e.t.Fatalf("%s %s: answer is not a JSON object: %v: %q", q.method, q.path, err, raw)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		e.t.Errorf("%s %s: Content-Type %q", q.method, q.path, ct)
	}
	e.mu.Lock()
	for n, p := range e.pw {
		if p != "" && bytes.Contains(raw, []byte(p)) {
			e.t.Errorf("%s %s: the answer contains the password of %s", q.method, q.path, n)
		}
	}
	e.mu.Unlock()
	return out
}

func (e *env) get(path string, a auth) resp {
	e.t.Helper()
	return e.do(req{method: "GET", path: path, auth: a})
}

func (e *env) patch(path string, a auth, body string) resp {
	e.t.Helper()
	return e.do(req{method: "PATCH", path: path, auth: a, body: body})
}

// token logs in with Basic and returns a token.
func (e *env) token(n string) string {
	e.t.Helper()
	r := e.do(req{method: "POST", path: "/api/v1/token", auth: e.basic(n)})
	tok, _ := r.body["token"].(string)
	if r.code != 200 || tok == "" {
		e.t.Fatalf("token for %s = %d %s", n, r.code, r.raw)
	}
	e.mu.Lock()
	e.tokens = append(e.tokens, tok)
	e.mu.Unlock()
	return tok
}

func (e *env) auditCount() int {
	e.t.Helper()
	es, err := e.db.Audit(e.t.Context(), store.AuditFilter{Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	return len(es)
}

func wantErr(t *testing.T, what string, r resp, code int, errCode, field string, msgHas ...string) {
	t.Helper()
	c, msg, f := r.errParts()
	if r.code != code || c != errCode || f != field {
		t.Errorf("%s = %d %s/%q, want %d %s/%q: %s", what, r.code, c, f, code, errCode, field, r.raw)
	}
	for _, s := range msgHas {
		if !strings.Contains(msg, s) {
			t.Errorf("%s: message %q does not mention %q", what, msg, s)
		}
	}
}

func TestV1Auth(t *testing.T) {
	e := newEnv(t)

	r := e.get("/api/v1/me", anon)
	wantErr(t, "no credentials", r, 401, "unauthorized", "")
	if got := r.hdr.Get("WWW-Authenticate"); got != `Basic realm="blfgw"` {
		t.Errorf("WWW-Authenticate = %q", got)
	}
	wantErr(t, "wrong password", e.get("/api/v1/me", basicPw("1002", "carol-S3cret!pw")), 401, "unauthorized", "", "wrong")
	wantErr(t, "unknown user", e.get("/api/v1/me", basicPw("9999", "bob-S3cret!pw")), 401, "unauthorized", "", "wrong")
	wantErr(t, "no password configured", e.get("/api/v1/me", basicPw("1006", "")), 401, "unauthorized", "")
	wantErr(t, "other scheme", e.get("/api/v1/me", func(r *http.Request) { r.Header.Set("Authorization", "Digest x") }), 401, "unauthorized", "", "Basic")

	r = e.get("/api/v1/me", e.basic("1002"))
	if r.code != 200 || r.body["number"] != "1002" {
		t.Fatalf("basic login = %d %s", r.code, r.raw)
	}
	if r.hdr.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", r.hdr.Get("Cache-Control"))
	}

	// Token round trip.
	before := time.Now()
	r = e.do(req{method: "POST", path: "/api/v1/token", auth: e.basic("1002")})
	tok, _ := r.body["token"].(string)
	exp, err := time.Parse(time.RFC3339, fmt.Sprint(r.body["expires_at"]))
	if r.code != 200 || tok == "" || err != nil {
		t.Fatalf("token = %d %s (%v)", r.code, r.raw, err)
	}
	e.tokens = append(e.tokens, tok)
	if d := exp.Sub(before); d < 12*time.Hour-2*time.Second || d > 12*time.Hour+2*time.Second {
		t.Errorf("expires_at is %v ahead, want 12h", d)
	}
	r = e.get("/api/v1/me", bearer(tok))
	if r.code != 200 || r.body["number"] != "1002" || r.body["name"] != "Bob Baker" {
		t.Fatalf("bearer = %d %s", r.code, r.raw)
	}
	wantErr(t, "token for a token", e.do(req{method: "POST", path: "/api/v1/token", auth: bearer(tok)}), 401, "unauthorized", "", "Basic")

	// Tampering: another number under the same MAC, a later expiry, a
	// changed MAC, garbage.
	payload, sig, _ := strings.Cut(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil || !strings.HasPrefix(string(raw), "1002\n") {
		t.Fatalf("token payload %q: %v", raw, err)
	}
	forge := func(p string) string { return base64.RawURLEncoding.EncodeToString([]byte(p)) + "." + sig }
	later := strconv.FormatInt(time.Now().Add(1000*time.Hour).Unix(), 10)
	macBytes, _ := base64.RawURLEncoding.DecodeString(sig)
	macBytes[5] ^= 1
	for name, bad := range map[string]string{
		"as admin":     forge("1001\n" + strings.SplitN(string(raw), "\n", 2)[1]),
		"later expiry": forge("1002\n" + later),
		"changed mac":  payload + "." + base64.RawURLEncoding.EncodeToString(macBytes),
		"no mac":       payload,
		"garbage":      "not a token",
	} {
		wantErr(t, "tampered token "+name, e.get("/api/v1/me", bearer(bad)), 401, "unauthorized", "", "invalid")
	}

	// Still good just before the end, refused after.
	e.srv.Advance(12*time.Hour - time.Minute)
	if r := e.get("/api/v1/me", bearer(tok)); r.code != 200 {
		t.Fatalf("token before expiry = %d %s", r.code, r.raw)
	}
	e.srv.Advance(time.Minute)
	wantErr(t, "expired token", e.get("/api/v1/me", bearer(tok)), 401, "unauthorized", "", "expired")
	// A client that overslept is not guessing: expired tokens do not count
	// towards the login limit.
	for range 12 {
		e.get("/api/v1/me", bearer(tok))
	}
	if r := e.get("/api/v1/me", e.basic("1002")); r.code != 200 {
		t.Fatalf("login after expired tokens = %d %s", r.code, r.raw)
	}

	// A new password revokes the tokens issued under the old one.
	tok = e.token("1003")
	if r := e.get("/api/v1/me", bearer(tok)); r.code != 200 || r.body["number"] != "1003" {
		t.Fatalf("carol's token = %d %s", r.code, r.raw)
	}
	e.mu.Lock()
	e.pw["1003"] = "carol-N3w!pw"
	e.mu.Unlock()
	wantErr(t, "token after password change", e.get("/api/v1/me", bearer(tok)), 401, "unauthorized", "", "invalid")
	wantErr(t, "old password", e.get("/api/v1/me", basicPw("1003", "carol-S3cret!pw")), 401, "unauthorized", "")
	if r := e.get("/api/v1/me", e.basic("1003")); r.code != 200 {
		t.Fatalf("new password = %d %s", r.code, r.raw)
	}
}

func TestV1LoginRateLimit(t *testing.T) {
	e := newEnv(t)
	a1, a2, a3, a4 := defaultClient, clientFrom("127.0.0.2"), clientFrom("127.0.0.3"), clientFrom("127.0.0.4")
	get := func(c *http.Client, a auth) resp {
		t.Helper()
		return e.do(req{method: "GET", path: "/api/v1/me", auth: a, client: c})
	}
	tok := e.token("1002")

	for i := range 10 {
		wantErr(t, fmt.Sprintf("guess %d", i), get(a1, basicPw("1002", fmt.Sprintf("guess-%d", i))), 401, "unauthorized", "")
	}
	// Bob is blocked from any address, even with his password.
	r := get(a2, e.basic("1002"))
	wantErr(t, "blocked extension", r, 429, "too_many_attempts", "")
	if s, err := strconv.Atoi(r.hdr.Get("Retry-After")); err != nil || s < 1 || s > 60 {
		t.Errorf("Retry-After = %q", r.hdr.Get("Retry-After"))
	}
	// Another extension from a fresh address is not.
	if r := get(a2, e.basic("1003")); r.code != 200 {
		t.Errorf("carol from .2 = %d %s", r.code, r.raw)
	}
	// The guessing address is blocked for everyone.
	wantErr(t, "blocked address", get(a1, e.basic("1003")), 429, "too_many_attempts", "")
	// A token issued before is not a password guess: it still works.
	if r := get(a3, bearer(tok)); r.code != 200 || r.body["number"] != "1002" {
		t.Errorf("bob's token during the block = %d %s", r.code, r.raw)
	}

	// Unknown numbers count against the address.
	for i := range 10 {
		wantErr(t, "unknown number", get(a4, basicPw(fmt.Sprintf("9%03d", i), "x")), 401, "unauthorized", "")
	}
	wantErr(t, "address after unknown numbers", get(a4, e.basic("1004")), 429, "too_many_attempts", "")
	// Tampered tokens too.
	for range 10 {
		wantErr(t, "bad token", get(a3, bearer("a.b")), 401, "unauthorized", "")
	}
	wantErr(t, "address after bad tokens", get(a3, bearer(tok)), 429, "too_many_attempts", "")

	// The window slides: a minute later all is forgiven.
	e.srv.Advance(61 * time.Second)
	for _, c := range []*http.Client{a1, a2, a3, a4} {
		if r := get(c, e.basic("1002")); r.code != 200 {
			t.Errorf("after the window = %d %s", r.code, r.raw)
		}
	}
	if logs := e.log.String(); !strings.Contains(logs, "login failed") || strings.Contains(logs, "guess-3") {
		t.Errorf("log of failed logins: want the event without the password tried:\n%s", logs)
	}
}

func TestV1Directory(t *testing.T) {
	e := newEnv(t)
	numbers := func(r resp) []string {
		t.Helper()
		if r.code != 200 {
			t.Fatalf("= %d %s", r.code, r.raw)
		}
		var out []string
		list, _ := r.body["extensions"].([]any)
		for _, x := range list {
			out = append(out, x.(map[string]any)["number"].(string))
		}
		return out
	}
	bob := e.basic("1002")
	for q, want := range map[string][]string{
		"":                       {"1001", "1002", "1003", "1004", "1005", "1006"},
		"?q=carol":               {"1003"},
		"?q=CAROL":               {"1003"},
		"?q=er":                  {"1002", "1003", "1004", "1006"}, // Baker, Cooper, Dyer, Fisher
		"?q=100":                 {"1001", "1002", "1003", "1004", "1005", "1006"},
		"?q=004":                 nil, // a number matches by prefix only
		"?department=Sales":      {"1002", "1003"},
		"?department=Sales&q=co": {"1003"},
		"?q=nobody":              nil,
	} {
		if got := numbers(e.get("/api/v1/extensions"+q, bob)); !slices.Equal(got, want) {
			t.Errorf("extensions%s = %v, want %v", q, got, want)
		}
	}
	r := e.get("/api/v1/extensions?q=alice", bob)
	if got, _ := json.Marshal(r.body["extensions"]); string(got) != `[{"department":"Reception","name":"Alice Admin","number":"1001","role":"admin"}]` {
		t.Errorf("alice = %s", got)
	}
	wantErr(t, "unknown department", e.get("/api/v1/extensions?department=Marketing", bob), 400, "invalid", "department", "Marketing")
	wantErr(t, "unknown parameter", e.get("/api/v1/extensions?dept=Sales", bob), 400, "invalid", "dept", "dept")
	wantErr(t, "directory without login", e.get("/api/v1/extensions", anon), 401, "unauthorized", "")

	r = e.get("/api/v1/departments", bob)
	if got, _ := json.Marshal(r.body); r.code != 200 || string(got) != `{"departments":["Reception","Sales","Support"]}` {
		t.Errorf("departments = %d %s", r.code, got)
	}
}

// settingsOf decodes a settings answer into its canonical JSON, keys sorted.
func canon(t *testing.T, r resp) string {
	t.Helper()
	if r.code != 200 {
		t.Fatalf("settings = %d %s", r.code, r.raw)
	}
	b, _ := json.Marshal(r.body)
	return string(b)
}

func TestV1Me(t *testing.T) {
	e := newEnv(t)
	for n, want := range map[string]string{
		"1002": `{"appearance":[],"delegates":["1003"],"delegates_active":true,"department":"Sales","locked":[],"name":"Bob Baker","number":"1002","role":"user",` +
			`"share_presence":true,"share_with":{"departments":[],"everyone":false,"extensions":["1004"],"roles":[]},"status":"default","status_message":""}`,
		"1004": `{"appearance":[],"delegates":[],"delegates_active":false,"department":"Support","locked":["share_presence"],"name":"Dave Dyer","number":"1004","role":"user",` +
			`"share_presence":true,"share_with":{"departments":[],"everyone":false,"extensions":[],"roles":["supervisor"]},"status":"default","status_message":""}`,
	} {
		if got := canon(t, e.get("/api/v1/me", e.basic(n))); got != want {
			t.Errorf("me of %s =\n%s\nwant\n%s", n, got, want)
		}
	}

	bob := e.basic("1002")
	r := e.do(req{method: "PATCH", path: "/api/v1/me", auth: bob, ctype: "application/json; charset=utf-8",
		body: `{"status":"dnd","status_message":"Lunch – back at 2","appearance":["1003","1001"]}`})
	if r.code != 200 || r.body["status"] != "dnd" || r.body["status_message"] != "Lunch – back at 2" || fmt.Sprint(r.body["appearance"]) != "[1003 1001]" {
		t.Fatalf("patch = %d %s", r.code, r.raw)
	}
	after := canon(t, e.get("/api/v1/me", bob))
	if after != canon(t, r) {
		t.Errorf("GET after PATCH = %s, PATCH answered %s", after, r.raw)
	}
	if n := e.auditCount(); n != 3 {
		t.Errorf("audit has %d entries, want 3 (status, message, appearance)", n)
	}
	// The hub follows: Bob's status is what watchers now see.
	if s := e.hub.Current("1002"); s.Status != presence.StatusDND || s.Message != "Lunch – back at 2" {
		t.Errorf("hub has %v %q", s.Status, s.Message)
	}
	// An empty patch changes nothing and records nothing.
	if got := canon(t, e.patch("/api/v1/me", bob, `{}`)); got != after || e.auditCount() != 3 {
		t.Errorf("empty patch = %s, audit %d", got, e.auditCount())
	}
	// "" is the default status.
	if r := e.patch("/api/v1/me", bob, `{"status":""}`); r.body["status"] != "default" {
		t.Errorf(`status "" = %s`, r.raw)
	}

	// Sharing off keeps the delegates but suspends them.
	r = e.patch("/api/v1/me", bob, `{"share_presence":false}`)
	if r.code != 200 || r.body["delegates_active"] != false || fmt.Sprint(r.body["delegates"]) != "[1003]" {
		t.Errorf("sharing off = %d %s", r.code, r.raw)
	}
}

func TestV1RefusedChangesChangeNothing(t *testing.T) {
	e := newEnv(t)
	who := []string{"1001", "1002", "1003", "1004", "1005"}
	state := func() map[string]string {
		m := map[string]string{}
		for _, n := range who {
			m[n] = canon(t, e.get("/api/v1/me", e.basic(n)))
		}
		return m
	}
	start := state()
	big := `{"status_message":"` + strings.Repeat("x", 70_000) + `"}`
	for _, c := range []struct {
		name, as, path, body, ctype string
		code                        int
		errCode, field              string
		msgHas                      []string
	}{
		{"locked field", "1004", "/api/v1/me", `{"share_presence":false}`, "", 403, "locked", "share_presence", []string{"share_presence", "locked"}},
		{"locked among others", "1004", "/api/v1/me", `{"status":"dnd","share_presence":false}`, "", 403, "locked", "share_presence", nil},
		{"oneself as delegate", "1002", "/api/v1/me", `{"delegates":["1002"]}`, "", 400, "invalid", "delegates", []string{"1002", "own delegate"}},
		{"valid and invalid together", "1002", "/api/v1/me", `{"status":"dnd","status_message":"x","delegates":["1002"]}`, "", 400, "invalid", "delegates", nil},
		{"unknown extension", "1002", "/api/v1/me", `{"appearance":["1003","9999"]}`, "", 400, "invalid", "appearance", []string{"9999"}},
		{"unknown delegate", "1002", "/api/v1/me", `{"delegates":["7777"]}`, "", 400, "invalid", "delegates", []string{"7777"}},
		{"unknown department", "1002", "/api/v1/me", `{"share_with":{"departments":["Nowhere"]}}`, "", 400, "invalid", "share_with", []string{"Nowhere"}},
		{"unknown role", "1002", "/api/v1/me", `{"share_with":{"roles":["ceo"]}}`, "", 400, "invalid", "share_with", []string{"ceo"}},
		{"delegates while sharing is off", "1005", "/api/v1/me", `{"delegates":["1001"]}`, "", 400, "invalid", "delegates", []string{"sharing"}},
		{"turning sharing off while naming delegates", "1002", "/api/v1/me", `{"share_presence":false,"delegates":["1004"]}`, "", 400, "invalid", "delegates", []string{"sharing"}},
		{"unknown status", "1002", "/api/v1/me", `{"status":"busy"}`, "", 400, "invalid", "status", []string{"busy"}},
		{"message too long", "1002", "/api/v1/me", `{"status_message":"` + strings.Repeat("é", 201) + `"}`, "", 400, "invalid", "status_message", []string{"200"}},
		{"control character", "1002", "/api/v1/me", `{"status_message":"a\u0007b"}`, "", 400, "invalid", "status_message", []string{"control"}},
		{"not JSON", "1002", "/api/v1/me", `{"status": "dnd",`, "", 400, "bad_json", "", []string{"not valid JSON"}},
		{"syntax error", "1002", "/api/v1/me", `{status: dnd}`, "", 400, "bad_json", "", []string{"not valid JSON"}},
		{"unknown field", "1002", "/api/v1/me", `{"status":"dnd","colour":"red"}`, "", 400, "bad_json", "colour", []string{`"colour"`}},
		{"unknown nested field", "1002", "/api/v1/me", `{"share_with":{"everyone":true,"teams":["a"]}}`, "", 400, "bad_json", "teams", []string{`"teams"`}},
		{"field in the wrong case", "1002", "/api/v1/me", `{"Status":"dnd"}`, "", 400, "bad_json", "Status", []string{`"Status"`}},
		{"wrong type", "1002", "/api/v1/me", `{"share_presence":"yes"}`, "", 400, "bad_json", "share_presence", []string{"share_presence", "true or false", "string"}},
		{"wrong element type", "1002", "/api/v1/me", `{"delegates":[1003]}`, "", 400, "bad_json", "delegates", []string{"delegates", "string", "number"}},
		{"wrong nested type", "1002", "/api/v1/me", `{"share_with":{"roles":"qa"}}`, "", 400, "bad_json", "share_with.roles", []string{"share_with.roles", "list of strings"}},
		{"null", "1002", "/api/v1/me", `{"delegates":null}`, "", 400, "bad_json", "delegates", []string{"null"}},
		{"null nested", "1002", "/api/v1/me", `{"share_with":{"roles":null}}`, "", 400, "bad_json", "share_with.roles", []string{"null"}},
		{"nested field in the wrong case", "1002", "/api/v1/me", `{"share_with":{"Everyone":true}}`, "", 400, "bad_json", "share_with.Everyone", []string{"Everyone"}},
		{"null body", "1002", "/api/v1/me", `null`, "", 400, "bad_json", "", []string{"JSON object"}},
		{"not an object", "1002", "/api/v1/me", `["status","dnd"]`, "", 400, "bad_json", "", []string{"JSON object", "array"}},
		{"trailing data", "1002", "/api/v1/me", `{"status":"dnd"} {"status":"away"}`, "", 400, "bad_json", "", []string{"after the JSON object"}},
		{"not UTF-8", "1002", "/api/v1/me", "{\"status_message\":\"caf\xe9\"}", "", 400, "bad_json", "", []string{"UTF-8"}},
		{"wrong content type", "1002", "/api/v1/me", `{"status":"dnd"}`, "text/plain", 415, "unsupported_media_type", "", []string{"application/json"}},
		{"form content type", "1002", "/api/v1/me", `status=dnd`, "application/x-www-form-urlencoded", 415, "unsupported_media_type", "", []string{"application/json"}},
		{"other charset", "1002", "/api/v1/me", `{"status":"dnd"}`, "application/json; charset=latin1", 415, "unsupported_media_type", "", []string{"UTF-8"}},
		{"too large", "1002", "/api/v1/me", big, "", 413, "too_large", "", []string{"65536"}},
		{"another's settings", "1002", "/api/v1/extensions/1003/settings", `{"status":"dnd"}`, "", 403, "forbidden", "", []string{"1003"}},
		{"supervisor on another", "1003", "/api/v1/extensions/1002/settings", `{"status":"dnd"}`, "", 403, "forbidden", "", []string{"1002"}},
		{"admin on unknown", "1001", "/api/v1/extensions/9999/settings", `{"status":"dnd"}`, "", 404, "not_found", "", []string{"9999"}},
	} {
		r := e.do(req{method: "PATCH", path: c.path, auth: e.basic(c.as), body: c.body, ctype: c.ctype})
		wantErr(t, c.name, r, c.code, c.errCode, c.field, c.msgHas...)
		if n := e.auditCount(); n != 0 {
			t.Fatalf("%s: the audit has %d entries", c.name, n)
		}
		if now := state(); !mapsEqual(now, start) {
			t.Fatalf("%s changed settings:\n%v\nwas\n%v", c.name, now, start)
		}
	}
	// Nor did the hub see any of it.
	if s := e.hub.Current("1002"); s.Status != presence.StatusDefault || s.Message != "" {
		t.Errorf("hub has %v %q", s.Status, s.Message)
	}
	// No body at all is a bad request too (no Content-Type then, so
	// it fails on that first).
	wantErr(t, "no body", e.do(req{method: "PATCH", path: "/api/v1/me", auth: e.basic("1002")}), 415, "unsupported_media_type", "")
	wantErr(t, "empty body", e.do(req{method: "PATCH", path: "/api/v1/me", auth: e.basic("1002"), body: " ", ctype: "application/json"}), 400, "bad_json", "", "empty")
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestV1OthersSettings(t *testing.T) {
	e := newEnv(t)
	bob, alice := e.basic("1002"), e.basic("1001")
	wantErr(t, "bob reads carol", e.get("/api/v1/extensions/1003/settings", bob), 403, "forbidden", "", "1003")
	wantErr(t, "bob reads unknown", e.get("/api/v1/extensions/9999/settings", bob), 403, "forbidden", "")
	wantErr(t, "admin reads unknown", e.get("/api/v1/extensions/9999/settings", alice), 404, "not_found", "", "9999")

	own := canon(t, e.get("/api/v1/extensions/1002/settings", bob))
	if own != canon(t, e.get("/api/v1/me", bob)) {
		t.Errorf("own settings by number differ from /me: %s", own)
	}
	if got := canon(t, e.get("/api/v1/extensions/1003/settings", alice)); got != canon(t, e.get("/api/v1/me", e.basic("1003"))) {
		t.Errorf("admin's view of carol = %s", got)
	}

	r := e.patch("/api/v1/extensions/1003/settings", alice, `{"status":"away","share_with":{"everyone":true}}`)
	if r.code != 200 || r.body["number"] != "1003" || r.body["status"] != "away" {
		t.Fatalf("admin patches carol = %d %s", r.code, r.raw)
	}
	if got := canon(t, e.get("/api/v1/me", e.basic("1003"))); !strings.Contains(got, `"status":"away"`) || !strings.Contains(got, `"everyone":true`) {
		t.Errorf("carol after the admin's change = %s", got)
	}
	es, err := e.db.Audit(t.Context(), store.AuditFilter{})
	if err != nil || len(es) != 2 {
		t.Fatalf("audit = %v, %v", es, err)
	}
	for _, a := range es {
		if a.Actor != "1001" || a.Subject != "1003" || a.Origin != "api" {
			t.Errorf("audit entry %+v", a)
		}
	}
	// Locked holds for admins too: the file decides.
	wantErr(t, "admin on a locked field", e.patch("/api/v1/extensions/1004/settings", alice, `{"share_presence":false}`), 403, "locked", "share_presence", "locked")
	wantErr(t, "bob reads carol with a token", e.get("/api/v1/extensions/1003/settings", bearer(e.token("1002"))), 403, "forbidden", "")
}

func TestV1Presence(t *testing.T) {
	e := newEnv(t)
	real := presence.Dialog{
		ID: "call-7@pbx;lt-bob;rt-cust", CallID: "call-7@pbx", LocalTag: "lt-bob", RemoteTag: "rt-cust",
		Direction: presence.Recipient, State: presence.Confirmed,
		Local:  presence.Party{URI: "sip:1002@pbx.example.com"},
		Remote: presence.Party{URI: "sip:+4930123@pbx.example.com", Display: "Customer X"},
		Since:  time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC),
	}
	e.hub.SetDialogs("1002", presence.SourceSIP, []presence.Dialog{real})

	look := func(as string) resp {
		t.Helper()
		return e.get("/api/v1/extensions/1002/presence", e.basic(as))
	}
	full := `{"dialogs":[{"call_id":"call-7@pbx","direction":"recipient","held":false,"id":"call-7@pbx;lt-bob;rt-cust","local_tag":"lt-bob",` +
		`"remote":{"display":"Customer X","identity":"sip:+4930123@pbx.example.com"},"remote_tag":"rt-cust","since":"2026-03-01T09:30:00Z","state":"confirmed"}],` +
		`"lamp":"busy","message":"","name":"Bob Baker","number":"1002","status":"default"}`
	for _, as := range []string{"1002", "1003"} { // the owner, the delegate
		if got := canon(t, look(as)); got != full {
			t.Errorf("%s sees\n%s\nwant\n%s", as, got, full)
		}
	}
	for _, as := range []string{"1001", "1004"} { // an admin, a colleague Bob shares with
		r := look(as)
		ds, _ := r.body["dialogs"].([]any)
		if r.code != 200 || r.body["lamp"] != "busy" || len(ds) != 1 {
			t.Fatalf("%s sees %d %s", as, r.code, r.raw)
		}
		d := ds[0].(map[string]any)
		if d["state"] != "confirmed" || d["direction"] != "recipient" || d["id"] == real.ID {
			t.Errorf("%s sees dialog %v", as, d)
		}
		for _, k := range []string{"call_id", "local_tag", "remote_tag", "remote"} {
			if _, ok := d[k]; ok {
				t.Errorf("%s sees %s", as, k)
			}
		}
		for _, secret := range []string{"call-7@pbx", "lt-bob", "rt-cust", "4930123", "Customer X"} {
			if bytes.Contains(r.raw, []byte(secret)) {
				t.Errorf("%s sees %q: %s", as, secret, r.raw)
			}
		}
	}
	neutral := `{"dialogs":[],"lamp":"idle","message":"","name":"Bob Baker","number":"1002","status":"default"}`
	if got := canon(t, look("1005")); got != neutral {
		t.Errorf("blocked eve sees %s", got)
	}

	// Do Not Disturb lights the lamp busy without a call, for those who
	// may see; the blocked still see nothing.
	e.hub.SetDialogs("1002", presence.SourceSIP, nil)
	if r := e.patch("/api/v1/me", e.basic("1002"), `{"status":"dnd","status_message":"Focus time"}`); r.code != 200 {
		t.Fatalf("dnd = %d %s", r.code, r.raw)
	}
	dnd := `{"dialogs":[],"lamp":"busy","message":"Focus time","name":"Bob Baker","number":"1002","status":"dnd"}`
	if got := canon(t, look("1004")); got != dnd {
		t.Errorf("dave sees %s, want %s", got, dnd)
	}
	if got := canon(t, look("1005")); got != neutral {
		t.Errorf("blocked eve sees %s", got)
	}

	// A Teams meeting: the lamp is busy for those who may see, with the
	// note; the raw Graph value only for the owner and delegates.
	if r := e.patch("/api/v1/me", e.basic("1002"), `{"status":"default","status_message":""}`); r.code != 200 {
		t.Fatalf("reset = %d %s", r.code, r.raw)
	}
	e.hub.SetCloud("1002", presence.Cloud{Source: presence.SourceTeams, State: presence.CloudBusy, Note: "In a meeting", Detail: "Busy/InAMeeting"})
	meeting := `{"cloud":[{"detail":"Busy/InAMeeting","note":"In a meeting","source":"teams","state":"busy"}],"dialogs":[],"lamp":"busy","message":"","name":"Bob Baker","number":"1002","status":"default"}`
	if got := canon(t, look("1003")); got != meeting {
		t.Errorf("the delegate sees %s, want %s", got, meeting)
	}
	lampOnly := `{"cloud":[{"note":"In a meeting","source":"teams","state":"busy"}],"dialogs":[],"lamp":"busy","message":"","name":"Bob Baker","number":"1002","status":"default"}`
	if got := canon(t, look("1004")); got != lampOnly {
		t.Errorf("dave sees %s, want %s", got, lampOnly)
	}
	if got := canon(t, look("1005")); got != neutral {
		t.Errorf("blocked eve sees %s", got)
	}
	e.hub.SetCloud("1002", presence.Cloud{Source: presence.SourceTeams})
	if r := e.patch("/api/v1/me", e.basic("1002"), `{"status":"dnd","status_message":"Focus time"}`); r.code != 200 {
		t.Fatalf("dnd again = %d %s", r.code, r.raw)
	}

	// Sharing off: the delegate is suspended, and sees what Eve sees.
	if r := e.patch("/api/v1/me", e.basic("1002"), `{"share_presence":false}`); r.code != 200 {
		t.Fatalf("sharing off = %d %s", r.code, r.raw)
	}
	if got := canon(t, look("1003")); got != neutral {
		t.Errorf("suspended delegate sees %s", got)
	}
	if got := canon(t, look("1002")); !strings.Contains(got, `"lamp":"busy"`) {
		t.Errorf("bob sees himself as %s", got)
	}
	if r := e.patch("/api/v1/me", e.basic("1002"), `{"share_presence":true}`); r.code != 200 {
		t.Fatalf("sharing on = %d %s", r.code, r.raw)
	}

	wantErr(t, "unknown extension", e.get("/api/v1/extensions/9999/presence", e.basic("1002")), 404, "not_found", "", "9999")

	// Under the refusing block the same watcher gets 403, like a SIP
	// subscriber would; the allowed ones are unaffected.
	refuse := polite
	refuse.Block = presence.BlockRefuse
	if err := e.set.Load(t.Context(), departments, seeds(), refuse); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "blocked under refuse", look("1005"), 403, "forbidden", "")
	if got := canon(t, look("1004")); got != dnd {
		t.Errorf("dave under refuse sees %s", got)
	}
}

func TestV1Audit(t *testing.T) {
	e := newEnv(t)
	bob, alice := e.basic("1002"), e.basic("1001")
	start := time.Now().Add(-time.Second)
	for _, body := range []string{`{"status":"dnd"}`, `{"status_message":"out"}`} {
		if r := e.patch("/api/v1/me", bob, body); r.code != 200 {
			t.Fatalf("patch %s = %d %s", body, r.code, r.raw)
		}
	}
	if r := e.patch("/api/v1/extensions/1002/settings", alice, `{"appearance":["1003"]}`); r.code != 200 {
		t.Fatalf("admin patch = %d %s", r.code, r.raw)
	}

	type entry struct {
		ID                            int64
		Actor, Subject, Field, Origin string
		Old, New                      json.RawMessage
		At                            time.Time
	}
	page := func(q string) ([]entry, any) {
		t.Helper()
		r := e.get("/api/v1/audit"+q, alice)
		if r.code != 200 {
			t.Fatalf("audit%s = %d %s", q, r.code, r.raw)
		}
		var out struct {
			Entries    []entry
			NextBefore any `json:"next_before"`
		}
		if err := json.Unmarshal(r.raw, &out); err != nil {
			t.Fatal(err)
		}
		return out.Entries, out.NextBefore
	}
	all, next := page("")
	if len(all) != 3 || next != nil {
		t.Fatalf("audit = %+v next %v", all, next)
	}
	want := []struct{ actor, field, old, new string }{
		{"1001", "appearance", `[]`, `["1003"]`},
		{"1002", "status_message", `""`, `"out"`},
		{"1002", "status", `"default"`, `"dnd"`},
	}
	for i, w := range want {
		a := all[i]
		if a.Actor != w.actor || a.Subject != "1002" || a.Field != w.field || a.Origin != "api" || string(a.Old) != w.old || string(a.New) != w.new {
			t.Errorf("entry %d = %+v (old %s new %s), want %+v", i, a, a.Old, a.New, w)
		}
		if a.At.Before(start) || a.At.After(time.Now().Add(time.Second)) {
			t.Errorf("entry %d at %v", i, a.At)
		}
		if i > 0 && a.ID >= all[i-1].ID {
			t.Errorf("not newest first: %d after %d", a.ID, all[i-1].ID)
		}
	}

	p1, next := page("?limit=2")
	if len(p1) != 2 || p1[0].ID != all[0].ID || next != float64(p1[1].ID) {
		t.Fatalf("page 1 = %+v next %v", p1, next)
	}
	p2, next := page(fmt.Sprintf("?limit=2&before=%d", p1[1].ID))
	if len(p2) != 1 || p2[0].ID != all[2].ID || next != nil {
		t.Fatalf("page 2 = %+v next %v", p2, next)
	}

	if es, _ := page("?actor=1001"); len(es) != 1 || es[0].Field != "appearance" {
		t.Errorf("actor=1001 = %+v", es)
	}
	if es, _ := page("?subject=1002&field=status&origin=api"); len(es) != 1 || string(es[0].New) != `"dnd"` {
		t.Errorf("field=status = %+v", es)
	}
	if es, _ := page("?subject=1003"); len(es) != 0 {
		t.Errorf("subject=1003 = %+v", es)
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if es, _ := page("?since=" + future); len(es) != 0 {
		t.Errorf("since the future = %+v", es)
	}
	if es, _ := page("?until=" + future + "&since=" + start.UTC().Format(time.RFC3339Nano)); len(es) != 3 {
		t.Errorf("since start until the future = %+v", es)
	}

	wantErr(t, "non-admin", e.get("/api/v1/audit", bob), 403, "forbidden", "", "administrators")
	wantErr(t, "supervisor", e.get("/api/v1/audit", e.basic("1003")), 403, "forbidden", "")
	for q, w := range map[string][2]string{ // field, what the message names
		"?since=yesterday":  {"since", "yesterday"},
		"?until=2026-13-01": {"until", "2026-13-01"},
		"?limit=0":          {"limit", "0"},
		"?limit=1001":       {"limit", "1001"},
		"?before=-4":        {"before", "-4"},
		"?origin=web":       {"origin", "web"},
		"?field=colour":     {"field", "colour"},
		"?subjet=1002":      {"subjet", "subjet"},
	} {
		wantErr(t, "audit"+q, e.get("/api/v1/audit"+q, alice), 400, "invalid", w[0], w[1])
	}
}

func TestV1Routes(t *testing.T) {
	e := newEnv(t)
	r := e.do(req{method: "DELETE", path: "/api/v1/me", auth: e.basic("1002")})
	wantErr(t, "DELETE /me", r, 405, "method_not_allowed", "", "DELETE")
	if got := r.hdr.Get("Allow"); got != "GET, PATCH" {
		t.Errorf("Allow = %q", got)
	}
	for path, allow := range map[string]string{
		"/api/v1/token": "POST", "/api/v1/extensions": "GET", "/api/v1/departments": "GET", "/api/v1/audit": "GET",
		"/api/v1/extensions/1002/presence": "GET", "/api/v1/extensions/1002/settings": "GET, PATCH", "/api/v1/openapi.json": "GET",
	} {
		r := e.do(req{method: "PUT", path: path, auth: anon})
		if r.code != 405 || r.hdr.Get("Allow") != allow {
			t.Errorf("PUT %s = %d Allow %q, want 405 %q", path, r.code, r.hdr.Get("Allow"), allow)
		}
	}
	wantErr(t, "unknown path", e.get("/api/v1/nope", e.basic("1002")), 404, "not_found", "", "/api/v1/nope")
	wantErr(t, "unknown path, no login", e.get("/api/v1/extensions/1002/calls", anon), 404, "not_found", "")

	// The API is there only when the settings service is.
	s, err := api.New(api.Options{Addr: "127.0.0.1:0", Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	res, err := http.Get("http://" + s.Addr() + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	cancel()
	<-done
	if res.StatusCode != 404 {
		t.Errorf("without Settings, openapi.json = %d", res.StatusCode)
	}
	if _, err := api.New(api.Options{Addr: "127.0.0.1:0", Settings: e.set, Hub: e.hub, Password: func(string) (string, bool) { return "", false }, TokenKey: []byte("short")}); err == nil {
		t.Error("a 5-byte TokenKey was accepted")
	}
}

func TestV1OpenAPI(t *testing.T) {
	e := newEnv(t)
	r := e.get("/api/v1/openapi.json", anon)
	if r.code != 200 || r.body["openapi"] != "3.1.0" {
		t.Fatalf("openapi.json = %d %.200s", r.code, r.raw)
	}
	paths, _ := r.body["paths"].(map[string]any)
	routes := map[string][]string{
		"/api/v1/token":                        {"post"},
		"/api/v1/extensions":                   {"get"},
		"/api/v1/departments":                  {"get"},
		"/api/v1/extensions/{number}/presence": {"get"},
		"/api/v1/me":                           {"get", "patch"},
		"/api/v1/extensions/{number}/settings": {"get", "patch"},
		"/api/v1/audit":                        {"get"},
		"/api/v1/openapi.json":                 {"get"},
		"/api/v1/session":                      {"post", "get", "delete"},
		"/api/v1/events":                       {"get"},
		"/api/v1/settings":                     {"get"},
		"/api/v1/system":                       {"get"},
	}
	if len(paths) != len(routes) {
		t.Errorf("openapi.json has %d paths, want %d", len(paths), len(routes))
	}
	for p, methods := range routes {
		item, ok := paths[p].(map[string]any)
		if !ok {
			t.Errorf("openapi.json does not describe %s", p)
			continue
		}
		for _, m := range methods {
			op, ok := item[m].(map[string]any)
			if !ok {
				t.Errorf("openapi.json does not describe %s %s", m, p)
				continue
			}
			codes, _ := op["responses"].(map[string]any)
			want := []string{"200", "405"}
			switch {
			case p == "/api/v1/session" && m == "delete":
				want = []string{"204", "401", "403", "405"}
			case p == "/api/v1/session" && m == "get":
				want = append(want, "401") // the cookie only: no login to limit
			case p != "/api/v1/openapi.json":
				want = append(want, "401", "429", "500")
			}
			for _, c := range want {
				if _, ok := codes[c]; !ok {
					t.Errorf("%s %s: no %s response", m, p, c)
				}
			}
			if p == "/api/v1/events" {
				continue // a stream never ends; TestEvents* check it
			}
			// And the server agrees that the operation exists.
			res := e.do(req{method: strings.ToUpper(m), path: strings.ReplaceAll(p, "{number}", "1002"), auth: e.basic("1001"), body: `{}`})
			if res.code == 404 || res.code == 405 {
				t.Errorf("%s %s documented but answers %d", m, p, res.code)
			}
		}
	}
	comp, _ := r.body["components"].(map[string]any)
	schemes, _ := comp["securitySchemes"].(map[string]any)
	schemas, _ := comp["schemas"].(map[string]any)
	if schemes["basic"] == nil || schemes["bearer"] == nil || schemes["session"] == nil || schemas["Error"] == nil || schemas["Session"] == nil {
		t.Errorf("components lack the auth schemes or the error shape: %v", comp)
	}
	// Every $ref points at something that exists.
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				parts := strings.Split(strings.TrimPrefix(ref, "#/"), "/")
				var cur any = r.body
				for _, p := range parts {
					cur = cur.(map[string]any)[p]
				}
				if cur == nil {
					t.Errorf("dangling $ref %s", ref)
				}
			}
			for _, y := range x {
				walk(y)
			}
		case []any:
			for _, y := range x {
				walk(y)
			}
		}
	}
	walk(r.body)
}

func TestV1InternalError(t *testing.T) {
	e := newEnv(t)
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	r := e.patch("/api/v1/me", e.basic("1002"), `{"status":"dnd"}`)
	wantErr(t, "store gone", r, 500, "internal", "")
	if bytes.Contains(r.raw, []byte("closed")) || bytes.Contains(r.raw, []byte("store")) {
		t.Errorf("the 500 leaks the cause: %s", r.raw)
	}
	if logs := e.log.String(); !strings.Contains(logs, "request failed") || !strings.Contains(logs, "closed") {
		t.Errorf("the cause is not in the log:\n%s", logs)
	}
	if got := e.get("/api/v1/me", e.basic("1002")); got.body["status"] != "default" {
		t.Errorf("a failed write changed the settings: %s", got.raw)
	}
	wantErr(t, "audit with the store gone", e.get("/api/v1/audit", e.basic("1001")), 500, "internal", "")
}

// TestMeBLFList: /me names the SIP URI a phone subscribes to for the
// user's BLF list, and leaves it out when lists are off.
func TestMeBLFList(t *testing.T) {
	e := newEnv(t, func(o *api.Options) {
		o.ListURI = func(n string) string { return "sip:" + n + "-blf@pbx.test" }
	})
	if r := e.get("/api/v1/me", e.basic("1002")); r.code != 200 || r.body["blf_list"] != "sip:1002-blf@pbx.test" {
		t.Fatalf("GET /me = %d %v", r.code, r.body)
	}
	off := newEnv(t)
	if r := off.get("/api/v1/me", off.basic("1002")); r.code != 200 || r.body["blf_list"] != nil {
		t.Fatalf("with lists off, GET /me = %d %v", r.code, r.body)
	}
}
