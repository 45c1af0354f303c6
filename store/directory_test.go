package store

import (
	"errors"
	"slices"
	"strconv"
	"testing"
)

func TestSyncDirectory(t *testing.T) {
	db, path := openTest(t)
	ctx := t.Context()
	raw := rawOpen(t, path)
	updatedAt := func(number string) int64 {
		t.Helper()
		var ms int64
		if err := raw.QueryRow("SELECT updated_at FROM extensions WHERE number = ?", number).Scan(&ms); err != nil {
			t.Fatal(err)
		}
		return ms
	}
	check := func(step string, wantDeps []string, wantExts []Extension) {
		t.Helper()
		deps, err := db.Departments(ctx)
		if err != nil {
			t.Fatal(err)
		}
		exts, err := db.Extensions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(deps, wantDeps) {
			t.Errorf("%s: departments = %q, want %q", step, deps, wantDeps)
		}
		if !slices.Equal(exts, wantExts) {
			t.Errorf("%s: extensions =\n%q\nwant\n%q", step, exts, wantExts)
		}
	}

	// Add, in any input order; the result comes back sorted.
	exts := []Extension{
		{Number: "201", Name: "Ana", Department: "Sales", Role: "agent"},
		{Number: "100", Name: "Reception", Department: "", Role: "operator"},
		{Number: "202", Name: "Björn Ødegård", Department: "Support"},
	}
	if err := db.SyncDirectory(ctx, []string{"Support", "Sales"}, exts); err != nil {
		t.Fatal(err)
	}
	check("add", []string{"Sales", "Support"}, []Extension{exts[1], exts[0], exts[2]})
	stamp100 := updatedAt("100")

	// Update one, remove one, add one; rename Sales to Revenue.
	if _, err := raw.Exec("UPDATE extensions SET updated_at = 1"); err != nil { // so a real change is visible
		t.Fatal(err)
	}
	exts = []Extension{
		{Number: "100", Name: "Reception", Role: "operator"},
		{Number: "201", Name: "Ana Lima", Department: "Revenue", Role: "lead"},
		{Number: "203", Name: "Chen", Department: "Revenue"},
	}
	if err := db.SyncDirectory(ctx, []string{"Revenue"}, exts); err != nil {
		t.Fatal(err)
	}
	check("update", []string{"Revenue"}, exts)
	if got := updatedAt("100"); got != 1 {
		t.Errorf("unchanged extension 100: updated_at moved from 1 to %d (first stamp %d)", got, stamp100)
	}
	if got := updatedAt("201"); got == 1 {
		t.Error("changed extension 201: updated_at did not move")
	}

	// Invalid input changes nothing.
	for name, c := range map[string]struct {
		deps []string
		exts []Extension
	}{
		"unknown department": {[]string{"Revenue"}, []Extension{{Number: "1", Department: "Nope"}}},
		"duplicate number":   {nil, []Extension{{Number: "1"}, {Number: "1"}}},
		"empty number":       {nil, []Extension{{Name: "x"}}},
		"empty department":   {[]string{""}, nil},
		"duplicate dept":     {[]string{"A", "A"}, nil},
	} {
		if err := db.SyncDirectory(ctx, c.deps, c.exts); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	check("after invalid", []string{"Revenue"}, exts)

	// An empty directory empties the tables.
	if err := db.SyncDirectory(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	check("empty", nil, nil)
}

// A directory larger than SQLite's bound-parameter limit syncs and shrinks.
func TestSyncDirectoryLarge(t *testing.T) {
	db, _ := openTest(t)
	ctx := t.Context()
	var exts []Extension
	for i := range 40000 {
		exts = append(exts, Extension{Number: strconv.Itoa(100000 + i), Department: "D"})
	}
	if err := db.SyncDirectory(ctx, []string{"D"}, exts); err != nil {
		t.Fatal(err)
	}
	if err := db.SyncDirectory(ctx, []string{"D"}, exts[:10]); err != nil {
		t.Fatal(err)
	}
	got, err := db.Extensions(ctx)
	if err != nil || len(got) != 10 {
		t.Fatalf("Extensions = %d rows, %v; want 10", len(got), err)
	}
}
