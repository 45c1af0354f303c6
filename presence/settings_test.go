package presence

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
)

// memSettings is the SettingsStore in memory, all or nothing per batch
// like the SQLite one (store has its own tests against a real file).
type memSettings struct {
	mu    sync.Mutex
	rows  map[[2]string]Setting
	audit []SettingChange
	fail  error
}

func newMemSettings() *memSettings { return &memSettings{rows: map[[2]string]Setting{}} }

func (m *memSettings) Settings(context.Context) ([]Setting, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Setting
	for _, r := range m.rows {
		out = append(out, r)
	}
	return out, nil
}

func (m *memSettings) ApplySettings(_ context.Context, cs []SettingChange) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	for _, c := range cs {
		m.rows[[2]string{c.Number, c.Field}] = c.Setting
		if !c.Quiet {
			m.audit = append(m.audit, c)
		}
	}
	return nil
}

func (m *memSettings) value(number, field string) (Setting, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.rows[[2]string{number, field}]
	return r, ok
}

func seeds(extra map[string]map[string]string, locked map[string][]string) []Seed {
	people := []Person{
		{Number: "1001", Name: "Alice", Department: "Reception", Role: RoleAdmin},
		{Number: "1002", Name: "Bob", Department: "Sales", Role: RoleUser},
		{Number: "1003", Name: "Carol", Department: "Sales", Role: RoleSupervisor},
	}
	var out []Seed
	for _, p := range people {
		sd := Seed{Person: p, Values: map[string]json.RawMessage{}, Locked: locked[p.Number]}
		for f, v := range extra[p.Number] {
			sd.Values[f] = json.RawMessage(v)
		}
		out = append(out, sd)
	}
	return out
}

var everyone = PolicyOptions{Default: Sharing{Share: true, With: ShareWith{Everyone: true}}}

func ptr[T any](v T) *T { return &v }

func TestSettingsChangeRules(t *testing.T) {
	ctx := context.Background()
	hub := NewHub()
	st := newMemSettings()
	s := NewSettings(hub, st)
	if err := s.Load(ctx, []string{"Reception", "Sales"}, seeds(nil, map[string][]string{"1003": {FieldShare}}), everyone); err != nil {
		t.Fatal(err)
	}
	if got := hub.Policy().Access("1002", "1003"); got != AccessLamp {
		t.Fatalf("default sharing: %s", got)
	}

	for _, tc := range []struct {
		name           string
		actor, subject string
		patch          Patch
		code           string
	}{
		{"another user's settings", "1002", "1003", Patch{Share: ptr(false)}, "forbidden"},
		{"unknown subject", "1001", "9999", Patch{Share: ptr(false)}, "not_found"},
		{"unknown actor", "9999", "1002", Patch{Share: ptr(false)}, "forbidden"},
		{"locked field", "1003", "1003", Patch{Share: ptr(false)}, "locked"},
		{"locked for admins too", "1001", "1003", Patch{Share: ptr(false)}, "locked"},
		{"oneself as delegate", "1002", "1002", Patch{Delegates: &[]string{"1002"}}, "invalid"},
		{"unknown delegate", "1002", "1002", Patch{Delegates: &[]string{"7777"}}, "invalid"},
		{"delegate twice", "1002", "1002", Patch{Delegates: &[]string{"1003", "1003"}}, "invalid"},
		{"delegates while not sharing", "1002", "1002", Patch{Share: ptr(false), Delegates: &[]string{"1003"}}, "invalid"},
		{"unknown role", "1002", "1002", Patch{ShareWith: &ShareWith{Roles: []Role{"boss"}}}, "invalid"},
		{"unknown department", "1002", "1002", Patch{ShareWith: &ShareWith{Departments: []string{"Legal"}}}, "invalid"},
		{"long message", "1002", "1002", Patch{Message: ptr(string(make([]rune, MaxMessage+1)))}, "invalid"},
		{"control character", "1002", "1002", Patch{Message: ptr("a\nb")}, "invalid"},
		{"unknown appearance", "1002", "1002", Patch{Appearance: &[]string{"1003", "42"}}, "invalid"},
	} {
		before, _, _ := s.Get(tc.subject)
		audits := len(st.audit)
		_, err := s.Change(ctx, tc.actor, tc.subject, tc.patch)
		var se *SettingsError
		if !errors.As(err, &se) || se.Code != tc.code || se.Message == "" {
			t.Errorf("%s: err %v, want code %s", tc.name, err, tc.code)
			continue
		}
		if after, _, _ := s.Get(tc.subject); !equalUser(before, after) || len(st.audit) != audits {
			t.Errorf("%s: refused change half-applied", tc.name)
		}
	}

	// 1002 shares with Sales only and names 1003 delegate, in one call.
	u, err := s.Change(ctx, "1002", "1002", Patch{
		Share: ptr(true), ShareWith: &ShareWith{Departments: []string{"Sales"}}, Delegates: &[]string{"1003"},
		Status: ptr(StatusDND), Message: ptr("back at 3"), Appearance: &[]string{"1003", "1001"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !u.Share || !slices.Equal(u.Delegates, []string{"1003"}) || u.Status != StatusDND || !slices.Equal(u.Appearance, []string{"1003", "1001"}) {
		t.Fatalf("settings after change: %+v", u)
	}
	p := hub.Policy()
	if p.Access("1003", "1002") != AccessFull || p.Access("1001", "1002") != AccessLamp {
		t.Fatalf("policy after change: delegate %s, admin %s", p.Access("1003", "1002"), p.Access("1001", "1002"))
	}
	if snap := hub.Current("1002"); snap.Status != StatusDND || snap.Message != "back at 3" {
		t.Fatalf("status not in the hub: %+v", snap)
	}
	if len(st.audit) != 5 || st.audit[0].Actor != "1002" || st.audit[0].Origin != "api" {
		t.Fatalf("audit: %+v", st.audit)
	}

	// Sharing off keeps the delegates but suspends them.
	if _, err := s.Change(ctx, "1002", "1002", Patch{Share: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	u, _, _ = s.Get("1002")
	if !slices.Equal(u.Delegates, []string{"1003"}) || hub.Policy().Access("1003", "1002") != AccessNone {
		t.Fatalf("sharing off: delegates %v, access %s", u.Delegates, hub.Policy().Access("1003", "1002"))
	}
	// An admin may change anyone's (unlocked) settings.
	if _, err := s.Change(ctx, "1001", "1002", Patch{Status: ptr(StatusDefault)}); err != nil {
		t.Fatalf("admin change: %v", err)
	}
	// A store failure changes nothing.
	st.fail = errors.New("disk full")
	if _, err := s.Change(ctx, "1002", "1002", Patch{Message: ptr("x")}); err == nil {
		t.Fatal("store failure not reported")
	}
	if u, _, _ := s.Get("1002"); u.Message != "back at 3" {
		t.Fatalf("store failure half-applied: %q", u.Message)
	}
}

// TestSettingsFileAndAPI: the file seeds values; an API change survives a
// reload of the unchanged file; the admin changing that field in the file
// wins, with an audit entry from "toml".
func TestSettingsFileAndAPI(t *testing.T) {
	ctx := context.Background()
	hub := NewHub()
	st := newMemSettings()
	s := NewSettings(hub, st)
	deps := []string{"Reception", "Sales"}
	file := map[string]map[string]string{"1002": {FieldShare: "true", FieldDelegates: `["1003"]`}}
	if err := s.Load(ctx, deps, seeds(file, nil), everyone); err != nil {
		t.Fatal(err)
	}
	if len(st.audit) != 0 {
		t.Fatalf("first values from the file audited: %+v", st.audit)
	}
	if u, _, _ := s.Get("1002"); !slices.Equal(u.Delegates, []string{"1003"}) {
		t.Fatalf("seeded delegates: %v", u.Delegates)
	}
	if _, err := s.Change(ctx, "1002", "1002", Patch{Delegates: &[]string{"1001"}}); err != nil {
		t.Fatal(err)
	}
	// Restart with the same file: the API value stays.
	s = NewSettings(hub, st)
	if err := s.Load(ctx, deps, seeds(file, nil), everyone); err != nil {
		t.Fatal(err)
	}
	if u, _, _ := s.Get("1002"); !slices.Equal(u.Delegates, []string{"1001"}) {
		t.Fatalf("API value lost on reload: %v", u.Delegates)
	}
	if r, _ := st.value("1002", FieldDelegates); r.Source != "api" || r.TOML == nil || *r.TOML != `["1003"]` {
		t.Fatalf("stored row: %+v", r)
	}
	// The admin changes the field in the file: the file wins.
	file["1002"][FieldDelegates] = `[]`
	audits := len(st.audit)
	if err := s.Load(ctx, deps, seeds(file, nil), everyone); err != nil {
		t.Fatal(err)
	}
	if u, _, _ := s.Get("1002"); len(u.Delegates) != 0 {
		t.Fatalf("file change did not win: %v", u.Delegates)
	}
	if len(st.audit) != audits+1 || st.audit[audits].Actor != "toml" || st.audit[audits].Origin != "toml" ||
		*st.audit[audits].Old != `["1001"]` {
		t.Fatalf("file change not audited: %+v", st.audit[audits:])
	}
	// Locking a field makes the file's value count even if unchanged.
	if _, err := s.Change(ctx, "1002", "1002", Patch{Share: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Load(ctx, deps, seeds(file, map[string][]string{"1002": {FieldShare}}), everyone); err != nil {
		t.Fatal(err)
	}
	if u, locked, _ := s.Get("1002"); !u.Share || !slices.Equal(locked, []string{FieldShare}) {
		t.Fatalf("locked field: share %v, locked %v", u.Share, locked)
	}
}

func equalUser(a, b UserSettings) bool {
	return sharingEqual(a.Sharing, b.Sharing) && a.Status == b.Status && a.Message == b.Message && slices.Equal(a.Appearance, b.Appearance)
}

// TestSettingsStaleReferences: a department or colleague removed from the
// file since a user chose them does not block the user's other changes.
func TestSettingsStaleReferences(t *testing.T) {
	ctx := context.Background()
	s := NewSettings(NewHub(), newMemSettings())
	if err := s.Load(ctx, []string{"Reception", "Sales", "Legal"}, seeds(nil, nil), everyone); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Change(ctx, "1002", "1002", Patch{ShareWith: &ShareWith{Departments: []string{"Legal"}}, Delegates: &[]string{"1003"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Load(ctx, []string{"Reception", "Sales"}, seeds(nil, nil)[:2], everyone); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Change(ctx, "1002", "1002", Patch{Status: ptr(StatusAway)}); err != nil {
		t.Fatalf("status change blocked by stale references: %v", err)
	}
	if _, err := s.Change(ctx, "1002", "1002", Patch{ShareWith: &ShareWith{Departments: []string{"Legal"}}}); err == nil {
		t.Fatal("a removed department accepted when set again")
	}
}
