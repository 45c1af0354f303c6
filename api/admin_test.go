package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/blfgw/blfgw/api"
	"github.com/blfgw/blfgw/presence"
)

// settingsNumbers is the numbers of a GET /api/v1/settings answer, in its
// order.
func settingsNumbers(t *testing.T, r resp) []string {
	t.Helper()
	if r.code != 200 {
		t.Fatalf("settings = %d %s", r.code, r.raw)
	}
	list, ok := r.body["settings"].([]any)
	if !ok {
		t.Fatalf("settings is not a list: %s", r.raw)
	}
	out := []string{}
	for _, x := range list {
		out = append(out, x.(map[string]any)["number"].(string))
	}
	return out
}

// TestAdminSettings: an admin reads everyone's settings at once, the same
// objects as one by one, including those of a user who hides their
// presence; nobody else may; the filters are the directory's.
func TestAdminSettings(t *testing.T) {
	e := newEnv(t)
	alice := e.basic("1001")
	// Eve does not share her presence; what she sets is hidden from her
	// colleagues but not from the admin.
	if r := e.patch("/api/v1/me", e.basic("1005"), `{"status":"away","status_message":"Dentist"}`); r.code != 200 {
		t.Fatalf("eve's status = %d %s", r.code, r.raw)
	}

	r := e.get("/api/v1/settings", alice)
	if got := settingsNumbers(t, r); !slices.Equal(got, []string{"1001", "1002", "1003", "1004", "1005", "1006"}) {
		t.Fatalf("numbers = %v", got)
	}
	for _, x := range r.body["settings"].([]any) {
		one := x.(map[string]any)
		n := one["number"].(string)
		all, _ := json.Marshal(one)
		if want := canon(t, e.get("/api/v1/extensions/"+n+"/settings", alice)); string(all) != want {
			t.Errorf("settings of %s in the list =\n%s\none by one =\n%s", n, all, want)
		}
	}
	eve := r.body["settings"].([]any)[4].(map[string]any)
	if eve["share_presence"] != false || eve["status"] != "away" || eve["status_message"] != "Dentist" {
		t.Errorf("the admin sees Eve as %v", eve)
	}
	dave := r.body["settings"].([]any)[3].(map[string]any)
	if got, _ := json.Marshal(dave["locked"]); string(got) != `["share_presence"]` {
		t.Errorf("Dave's locked fields = %s", got)
	}
	// Her colleagues still see nothing of it.
	if p := e.get("/api/v1/extensions/1005/presence", e.basic("1004")); p.body["status"] != "default" || p.body["message"] != "" {
		t.Errorf("Dave sees Eve as %s", p.raw)
	}
	// A token works as well as the password.
	if got := settingsNumbers(t, e.get("/api/v1/settings", bearer(e.token("1001")))); len(got) != 6 {
		t.Errorf("with a token: %v", got)
	}

	for q, want := range map[string][]string{
		"?q=er":                   {"1002", "1003", "1004", "1006"},
		"?q=CAROL":                {"1003"},
		"?q=100":                  {"1001", "1002", "1003", "1004", "1005", "1006"},
		"?q=004":                  {}, // a number matches by prefix only
		"?department=Support":     {"1004", "1005"},
		"?department=Sales&q=bob": {"1002"},
		"?q=nobody":               {},
	} {
		if got := settingsNumbers(t, e.get("/api/v1/settings"+q, alice)); !slices.Equal(got, want) {
			t.Errorf("settings%s = %v, want %v", q, got, want)
		}
	}

	wantErr(t, "a user", e.get("/api/v1/settings", e.basic("1002")), 403, "forbidden", "", "only administrators", "1002")
	wantErr(t, "a supervisor", e.get("/api/v1/settings", e.basic("1003")), 403, "forbidden", "", "supervisor")
	wantErr(t, "a user's token", e.get("/api/v1/settings", bearer(e.token("1004"))), 403, "forbidden", "")
	wantErr(t, "no credentials", e.get("/api/v1/settings", anon), 401, "unauthorized", "")
	wantErr(t, "unknown department", e.get("/api/v1/settings?department=Marketing", alice), 400, "invalid", "department", "Marketing", "Sales")
	wantErr(t, "unknown parameter", e.get("/api/v1/settings?role=admin", alice), 400, "invalid", "role", "role", "q, department")
	r = e.do(req{method: "PATCH", path: "/api/v1/settings", auth: alice, body: `{}`})
	wantErr(t, "PATCH", r, 405, "method_not_allowed", "", "PATCH")
	if r.hdr.Get("Allow") != "GET" {
		t.Errorf("Allow = %q", r.hdr.Get("Allow"))
	}
	// A refused request is not a non-admin's way to learn who exists.
	wantErr(t, "a user's bad filter", e.get("/api/v1/settings?department=Marketing", e.basic("1002")), 403, "forbidden", "")
}

// TestAdminSettingsNumberOrder: the list is in number order, 999 before
// 1000, whatever the file's order.
func TestAdminSettingsNumberOrder(t *testing.T) {
	e := newEnv(t)
	sd := seeds()
	sd = append(sd, presence.Seed{Person: presence.Person{Number: "999", Name: "Old Lobby", Role: presence.RoleUser}},
		presence.Seed{Person: presence.Person{Number: "10000", Name: "New Wing", Role: presence.RoleUser}})
	slices.Reverse(sd)
	if err := e.set.Load(t.Context(), departments, sd, polite); err != nil {
		t.Fatal(err)
	}
	want := []string{"999", "1001", "1002", "1003", "1004", "1005", "1006", "10000"}
	if got := settingsNumbers(t, e.get("/api/v1/settings", e.basic("1001"))); !slices.Equal(got, want) {
		t.Errorf("order = %v, want %v", got, want)
	}
}

// TestAdminSystem: the admin sees where the file is, the version, the
// departments' sizes and every health check, with a failing bridge's
// reason and that it is optional; /healthz agrees.
func TestAdminSystem(t *testing.T) {
	var teamsDown, storeDown atomic.Bool
	e := newEnv(t, func(o *api.Options) {
		o.ConfigPath = filepath.Join("conf", "blfgw.toml") // relative: shown absolute
		o.Checks = []api.Check{
			{Name: "store", Run: func(ctx context.Context) error {
				if storeDown.Load() {
					return errors.New("database is locked")
				}
				return nil
			}},
			{Name: "teams", Soft: true, Run: func(context.Context) error {
				if teamsDown.Load() {
					return errors.New("graph: 401 Unauthorized: the client secret has expired")
				}
				return nil
			}},
			{Name: "genesys", Soft: true, Run: func(context.Context) error { return nil }},
		}
		o.Stats = func() map[string]any { return map[string]any{"subscriptions": 7, "teams_users": 42} }
	})
	alice := e.basic("1001")
	abs, err := filepath.Abs(filepath.Join("conf", "blfgw.toml"))
	if err != nil {
		t.Fatal(err)
	}

	type check struct {
		Status, Message string
		Soft            bool
	}
	type system struct {
		ConfigPath  string `json:"config_path"`
		Version     string
		Uptime      *int `json:"uptime_seconds"`
		Checks      map[string]check
		Figures     map[string]float64
		Departments []struct {
			Name    string
			Members int
		}
	}
	get := func() system {
		t.Helper()
		r := e.get("/api/v1/system", alice)
		if r.code != 200 {
			t.Fatalf("system = %d %s", r.code, r.raw)
		}
		var s system
		if err := json.Unmarshal(r.raw, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}

	s := get()
	if s.ConfigPath != abs || s.Version != "test" || s.Uptime == nil || *s.Uptime < 0 {
		t.Errorf("system = %+v, want config_path %s", s, abs)
	}
	if got, _ := json.Marshal(s.Departments); string(got) != `[{"Name":"Reception","Members":1},{"Name":"Sales","Members":2},{"Name":"Support","Members":2}]` {
		t.Errorf("departments = %s", got)
	}
	if f := s.Figures; len(f) != 4 || f["subscriptions"] != 7 || f["teams_users"] != 42 || f["web_sessions"] != 0 || f["event_streams"] != 0 {
		t.Errorf("figures = %v, want the gateway's and the page's counters", f)
	}
	wantChecks := map[string]check{"store": {"ok", "", false}, "teams": {"ok", "", true}, "genesys": {"ok", "", true}}
	if len(s.Checks) != 3 || s.Checks["store"] != wantChecks["store"] || s.Checks["teams"] != wantChecks["teams"] || s.Checks["genesys"] != wantChecks["genesys"] {
		t.Errorf("checks = %+v", s.Checks)
	}

	// A failing bridge: the reason and that it is optional; /healthz
	// says degraded but stays 200.
	teamsDown.Store(true)
	s = get()
	if s.Checks["teams"] != (check{"failing", "graph: 401 Unauthorized: the client secret has expired", true}) || s.Checks["store"].Status != "ok" {
		t.Errorf("with Teams down: %+v", s.Checks)
	}
	h := e.get("/healthz", anon)
	hc, _ := h.body["checks"].(map[string]any)
	if h.code != 200 || h.body["status"] != "degraded" || hc["teams"] != s.Checks["teams"].Message || hc["store"] != "ok" {
		t.Errorf("healthz with Teams down = %d %s", h.code, h.raw)
	}
	// The database failing is not optional: the page shows it, /healthz
	// answers 503.
	storeDown.Store(true)
	if s = get(); s.Checks["store"] != (check{"failing", "database is locked", false}) {
		t.Errorf("with the store down: %+v", s.Checks)
	}
	if h := e.get("/healthz", anon); h.code != 503 {
		t.Errorf("healthz with the store down = %d %s", h.code, h.raw)
	}

	wantErr(t, "a user", e.get("/api/v1/system", e.basic("1002")), 403, "forbidden", "", "only administrators")
	wantErr(t, "no credentials", e.get("/api/v1/system", anon), 401, "unauthorized", "")
	wantErr(t, "a parameter", e.get("/api/v1/system?verbose=1", alice), 400, "invalid", "verbose", "verbose", "takes none")
	r := e.do(req{method: "POST", path: "/api/v1/system", auth: alice, body: `{}`})
	wantErr(t, "POST", r, 405, "method_not_allowed", "", "POST")
}

// TestAdminSystemNoChecks: a gateway told nothing still answers the same
// shape, with empty lists rather than nulls.
func TestAdminSystemNoChecks(t *testing.T) {
	e := newEnv(t)
	r := e.get("/api/v1/system", e.basic("1001"))
	if r.code != 200 {
		t.Fatalf("system = %d %s", r.code, r.raw)
	}
	if got, _ := json.Marshal(r.body["checks"]); string(got) != `{}` || r.body["config_path"] != "" {
		t.Errorf("system without checks or file = %s", r.raw)
	}
}
