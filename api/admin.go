package api

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/blfgw/blfgw/presence"
)

// The admin view's endpoints: everything an administrator needs to see at
// once, read-only. The directory itself is not edited here: it lives in
// the TOML file, which the gateway reloads when it changes.

// adminOnly lets administrators through and tells anyone else what they
// tried and why it is refused.
func adminOnly(w http.ResponseWriter, me caller, what string) bool {
	if me.Role == presence.RoleAdmin {
		return true
	}
	writeError(w, http.StatusForbidden, "forbidden",
		fmt.Sprintf("only administrators may %s; %s has the role %s", what, me.Number, me.Role))
	return false
}

// allSettings serves GET /api/v1/settings: every user's settings, the same
// objects as GET /api/v1/extensions/{number}/settings, in number order.
// Hidden presence is shown too: admins may see and change anyone's
// settings one by one already, this is the same at a glance.
func (s *Server) allSettings(w http.ResponseWriter, r *http.Request, me caller) {
	if !adminOnly(w, me, "read every user's settings") {
		return
	}
	if !onlyParams(w, r, "q", "department") {
		return
	}
	people, ok := s.matchPeople(w, r)
	if !ok {
		return
	}
	slices.SortStableFunc(people, func(a, b presence.Person) int { return numberOrder(a.Number, b.Number) })
	out := make([]settingsJSON, 0, len(people))
	for _, p := range people {
		u, locked, ok := s.opt.Settings.Get(p.Number)
		if !ok {
			continue // removed by a reload of the file since People
		}
		out = append(out, s.settingsOf(p, u, locked))
	}
	writeJSON(w, http.StatusOK, map[string]any{"settings": out})
}

type departmentJSON struct {
	Name    string `json:"name"`
	Members int    `json:"members"`
}

type systemJSON struct {
	ConfigPath  string                 `json:"config_path"`
	Version     string                 `json:"version"`
	Uptime      int                    `json:"uptime_seconds"`
	Checks      map[string]checkResult `json:"checks"`
	Figures     map[string]any         `json:"figures"`
	Departments []departmentJSON       `json:"departments"`
}

// system serves GET /api/v1/system: where the configuration lives, the
// health checks /healthz runs (with the bridges' reasons, which a load
// balancer does not need but an admin does), the counters /healthz shows
// (subscriptions, the bridges' users and subscriptions...) and the
// departments' sizes.
func (s *Server) system(w http.ResponseWriter, r *http.Request, me caller) {
	if !adminOnly(w, me, "read the gateway's health and configuration") {
		return
	}
	if !onlyParams(w, r) {
		return
	}
	members := map[string]int{}
	for _, p := range s.opt.Settings.People() {
		members[p.Department]++
	}
	depts := []departmentJSON{}
	for _, d := range s.opt.Settings.Departments() {
		depts = append(depts, departmentJSON{Name: d, Members: members[d]})
	}
	writeJSON(w, http.StatusOK, systemJSON{
		ConfigPath:  s.opt.ConfigPath,
		Version:     s.opt.Version,
		Uptime:      s.uptime(),
		Checks:      s.runChecks(r.Context()),
		Figures:     s.figures(),
		Departments: depts,
	})
}
