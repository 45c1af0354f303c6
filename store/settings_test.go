package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func js(s string) *string { return &s }

// directory syncs extensions with these numbers and no departments.
func directory(t testing.TB, db *DB, numbers ...string) {
	t.Helper()
	var exts []Extension
	for _, n := range numbers {
		exts = append(exts, Extension{Number: n})
	}
	if err := db.SyncDirectory(t.Context(), nil, exts); err != nil {
		t.Fatal(err)
	}
}

// apiChange is a change made by actor through the API.
func apiChange(number, field, value string, old *string, actor string) SettingChange {
	return SettingChange{
		Setting: Setting{Number: number, Field: field, Value: value, Source: "api", UpdatedBy: actor},
		Actor:   actor, Origin: "api", Old: old,
	}
}

func orNil(p *string) string {
	if p == nil {
		return "nil"
	}
	return *p
}

// showSettings prints rows without UpdatedAt, which tests check apart.
func showSettings(t testing.TB, db *DB) []string {
	t.Helper()
	ss, err := db.Settings(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, s := range ss {
		out = append(out, fmt.Sprintf("%s %s=%s source=%s toml=%s by=%s", s.Number, s.Field, s.Value, s.Source, orNil(s.TOML), s.UpdatedBy))
	}
	return out
}

// showAudit prints entries without ID and At.
func showAudit(t testing.TB, db *DB, f AuditFilter) []string {
	t.Helper()
	es, err := db.Audit(t.Context(), f)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, e := range es {
		out = append(out, fmt.Sprintf("%s by %s via %s: %s %s -> %s", e.Subject, e.Actor, e.Origin, e.Field, orNil(e.Old), orNil(e.New)))
	}
	return out
}

func auditIDs(t testing.TB, db *DB, f AuditFilter) []int64 {
	t.Helper()
	es, err := db.Audit(t.Context(), f)
	if err != nil {
		t.Fatalf("Audit(%+v): %v", f, err)
	}
	ids := []int64{}
	for _, e := range es {
		ids = append(ids, e.ID)
	}
	return ids
}

func wantLines(t testing.TB, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s =\n\t%s\nwant\n\t%s", what, strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

func TestSettingsRoundTrip(t *testing.T) {
	db, _ := openTest(t)
	ctx := t.Context()
	directory(t, db, "201", "100")

	before := fromMillis(time.Now().UnixMilli())
	err := db.ApplySettings(ctx, []SettingChange{
		apiChange("201", "share", `{"on":true,"with":{"roles":["agent"]}}`, nil, "201"),
		{
			Setting: Setting{Number: "100", Field: "status", Value: `"busy"`, Source: "toml", TOML: js(`"busy"`)},
			Actor:   "toml", Origin: "toml", Quiet: true,
		},
		{
			Setting: Setting{Number: "201", Field: "appearances", Value: `["100", "202"]`, Source: "default", UpdatedAt: time.Unix(1, 0)},
			Actor:   "toml", Origin: "toml",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now()

	wantLines(t, "settings", showSettings(t, db), []string{
		`100 status="busy" source=toml toml="busy" by=`,
		`201 appearances=["100", "202"] source=default toml=nil by=`,
		`201 share={"on":true,"with":{"roles":["agent"]}} source=api toml=nil by=201`,
	})
	ss, err := db.Settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	at := ss[0].UpdatedAt
	if at.Before(before) || at.After(after) || at.Location() != time.UTC {
		t.Errorf("UpdatedAt = %v, want the write's time in UTC, within [%v, %v]", at, before, after)
	}
	for _, s := range ss {
		if !s.UpdatedAt.Equal(at) {
			t.Errorf("%s %s: UpdatedAt = %v, want %v like the rest of its batch", s.Number, s.Field, s.UpdatedAt, at)
		}
	}

	// The quiet change left no entry; the others are newest first.
	wantLines(t, "audit", showAudit(t, db, AuditFilter{}), []string{
		`201 by toml via toml: appearances nil -> ["100", "202"]`,
		`201 by 201 via api: share nil -> {"on":true,"with":{"roles":["agent"]}}`,
	})
	es, err := db.Audit(ctx, AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if es[0].ID <= es[1].ID || !es[0].At.Equal(at) || !es[1].At.Equal(at) {
		t.Errorf("audit ids %d, %d at %v, %v; want descending ids at %v", es[0].ID, es[1].ID, es[0].At, es[1].At, at)
	}

	// Nothing to write is no error.
	if err := db.ApplySettings(ctx, nil); err != nil {
		t.Fatal(err)
	}
}

func TestSettingsUpsertAudits(t *testing.T) {
	db, path := openTest(t)
	ctx := t.Context()
	directory(t, db, "201")

	if err := db.ApplySettings(ctx, []SettingChange{{
		Setting: Setting{Number: "201", Field: "message", Value: `"lunch"`, Source: "toml", TOML: js(`"lunch"`)},
		Actor:   "toml", Origin: "toml",
	}}); err != nil {
		t.Fatal(err)
	}
	raw := rawOpen(t, path)
	if _, err := raw.Exec("UPDATE settings SET updated_at = 1"); err != nil {
		t.Fatal(err)
	}
	if err := db.ApplySettings(ctx, []SettingChange{
		apiChange("201", "message", `"in a meeting"`, js(`"lunch"`), "201"),
	}); err != nil {
		t.Fatal(err)
	}

	// The row is replaced whole: source and toml are what the change says.
	wantLines(t, "settings", showSettings(t, db), []string{
		`201 message="in a meeting" source=api toml=nil by=201`,
	})
	ss, _ := db.Settings(ctx)
	if len(ss) != 1 || ss[0].UpdatedAt.Equal(fromMillis(1)) {
		t.Errorf("settings %v: updated_at did not move", ss)
	}
	wantLines(t, "audit", showAudit(t, db, AuditFilter{}), []string{
		`201 by 201 via api: message "lunch" -> "in a meeting"`,
		`201 by toml via toml: message nil -> "lunch"`,
	})
}

func TestSettingsQuietWritesNoAudit(t *testing.T) {
	db, path := openTest(t)
	ctx := t.Context()
	directory(t, db, "201")
	// A quiet change needs no actor: it is never shown as anyone's.
	if err := db.ApplySettings(ctx, []SettingChange{{
		Setting: Setting{Number: "201", Field: "delegates", Value: `["202"]`, Source: "toml", TOML: js(`["202"]`)},
		Origin:  "toml", Quiet: true,
	}}); err != nil {
		t.Fatal(err)
	}
	wantLines(t, "settings", showSettings(t, db), []string{
		`201 delegates=["202"] source=toml toml=["202"] by=`,
	})
	if n := count(t, rawOpen(t, path), "audit"); n != 0 {
		t.Errorf("audit has %d rows after a quiet change, want 0", n)
	}
}

// One refused change means nothing of its batch is written, whether it is
// caught before queueing or inside the transaction (the directory check runs
// after the earlier changes of the batch were applied).
func TestSettingsBatchAllOrNothing(t *testing.T) {
	db, path := openTest(t)
	ctx := t.Context()
	raw := rawOpen(t, path)
	directory(t, db, "201", "202")
	if err := db.ApplySettings(ctx, []SettingChange{apiChange("201", "share", `true`, nil, "201")}); err != nil {
		t.Fatal(err)
	}
	wantSettings := showSettings(t, db)
	wantAudit := showAudit(t, db, AuditFilter{})

	good := []SettingChange{
		apiChange("201", "share", `false`, js(`true`), "201"),
		apiChange("202", "status", `"away"`, nil, "202"),
	}
	bad := func(edit func(*SettingChange)) SettingChange {
		c := apiChange("202", "message", `"hi"`, nil, "202")
		edit(&c)
		return c
	}
	for name, c := range map[string]struct {
		change SettingChange
		want   string // in the message
	}{
		"empty number":      {bad(func(c *SettingChange) { c.Number = "" }), "empty extension number"},
		"empty field":       {bad(func(c *SettingChange) { c.Field = "" }), "empty field"},
		"bad source":        {bad(func(c *SettingChange) { c.Source = "user" }), `source "user"`},
		"empty source":      {bad(func(c *SettingChange) { c.Source = "" }), `source ""`},
		"bad origin":        {bad(func(c *SettingChange) { c.Origin = "default" }), `origin "default"`},
		"value not JSON":    {bad(func(c *SettingChange) { c.Value = `hi` }), "value is not JSON"},
		"empty value":       {bad(func(c *SettingChange) { c.Value = `` }), "value is not JSON"},
		"TOML not JSON":     {bad(func(c *SettingChange) { c.TOML = js(`{`) }), "TOML is not JSON"},
		"Old not JSON":      {bad(func(c *SettingChange) { c.Old = js(`'x'`) }), "Old is not JSON"},
		"empty actor":       {bad(func(c *SettingChange) { c.Actor = "" }), "empty actor"},
		"unknown extension": {bad(func(c *SettingChange) { c.Number = "999" }), `extension "999" is not in the directory`},
	} {
		batch := append(slices.Clone(good), c.change)
		err := db.ApplySettings(ctx, batch)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want ErrInvalid saying %q", name, err, c.want)
		}
		wantLines(t, name+": settings", showSettings(t, db), wantSettings)
		wantLines(t, name+": audit", showAudit(t, db, AuditFilter{}), wantAudit)
		if n := count(t, raw, "audit"); n != 1 {
			t.Errorf("%s: audit has %d rows, want 1", name, n)
		}
	}
}

// A batch refused inside the transaction rolls back alone: the ops that
// shared its group commit still commit.
func TestSettingsRefusedInGroupCommit(t *testing.T) {
	db, _, g, primer := holdWriter(t)
	ctx := t.Context()
	// The directory write queues behind the held primer, so it cannot be
	// awaited here; the refused batch below runs after it in the same group.
	errs := make(chan error, 3)
	go func() { errs <- db.SyncDirectory(ctx, nil, []Extension{{Number: "201"}}) }()
	waitQueued(t, db, 1)
	go func() {
		errs <- db.ApplySettings(ctx, []SettingChange{
			apiChange("201", "share", `true`, nil, "201"),
			apiChange("404", "share", `true`, nil, "201"),
		})
	}()
	waitQueued(t, db, 2)
	go func() {
		errs <- db.ApplySettings(ctx, []SettingChange{apiChange("201", "status", `"busy"`, nil, "201")})
	}()
	waitQueued(t, db, 3)
	g.open()
	if err := <-primer; err != nil {
		t.Fatal(err)
	}
	oneRefused(t, errs, 3, `"404"`)
	if sizes := g.batchSizes(); !slices.Equal(sizes, []int{1, 3}) {
		t.Errorf("batch sizes %v, want [1 3]: the test did not exercise one shared batch", sizes)
	}
	wantLines(t, "settings", showSettings(t, db), []string{`201 status="busy" source=api toml=nil by=201`})
	wantLines(t, "audit", showAudit(t, db, AuditFilter{}), []string{`201 by 201 via api: status nil -> "busy"`})
}

func TestSettingsCascadeKeepsAudit(t *testing.T) {
	db, _ := openTest(t)
	ctx := t.Context()
	directory(t, db, "201", "202")
	if err := db.ApplySettings(ctx, []SettingChange{
		apiChange("201", "share", `true`, nil, "201"),
		apiChange("201", "status", `"busy"`, nil, "201"),
		apiChange("202", "share", `false`, nil, "202"),
	}); err != nil {
		t.Fatal(err)
	}

	directory(t, db, "202")
	wantLines(t, "settings", showSettings(t, db), []string{`202 share=false source=api toml=nil by=202`})
	wantLines(t, "audit of 201", showAudit(t, db, AuditFilter{Subject: "201"}), []string{
		`201 by 201 via api: status nil -> "busy"`,
		`201 by 201 via api: share nil -> true`,
	})

	// The extension coming back does not bring its old settings back.
	directory(t, db, "201", "202")
	wantLines(t, "settings after re-adding 201", showSettings(t, db), []string{`202 share=false source=api toml=nil by=202`})
}

func TestDeleteSetting(t *testing.T) {
	db, path := openTest(t)
	ctx := t.Context()
	raw := rawOpen(t, path)
	directory(t, db, "201")
	if err := db.ApplySettings(ctx, []SettingChange{
		apiChange("201", "share", `true`, nil, "201"),
		apiChange("201", "status", `"busy"`, nil, "201"),
	}); err != nil {
		t.Fatal(err)
	}

	if err := db.DeleteSetting(ctx, "201", "status", "100", "api"); err != nil {
		t.Fatal(err)
	}
	wantLines(t, "settings", showSettings(t, db), []string{`201 share=true source=api toml=nil by=201`})
	wantLines(t, "audit", showAudit(t, db, AuditFilter{Limit: 1}), []string{`201 by 100 via api: status "busy" -> nil`})

	// Nothing stored: no error and no entry.
	for _, k := range [][2]string{{"201", "status"}, {"999", "share"}} {
		if err := db.DeleteSetting(ctx, k[0], k[1], "toml", "toml"); err != nil {
			t.Errorf("delete %v: %v", k, err)
		}
	}
	if n := count(t, raw, "audit"); n != 3 {
		t.Errorf("audit has %d rows, want 3", n)
	}

	for name, args := range map[string][4]string{
		"empty number": {"", "share", "201", "api"},
		"empty field":  {"201", "", "201", "api"},
		"empty actor":  {"201", "share", "", "api"},
		"bad origin":   {"201", "share", "201", "default"},
	} {
		if err := db.DeleteSetting(ctx, args[0], args[1], args[2], args[3]); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	wantLines(t, "settings after invalid deletes", showSettings(t, db), []string{`201 share=true source=api toml=nil by=201`})
}

// auditBase is the time the filter test stamps entry id at: auditBase + id s.
var auditBase = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// auditFixture writes 12 entries, ids 1..12, entry id at auditBase + id s:
// subject cycles 201, 202, 203; even ids are by "100" via api, odd ids by
// "toml" via toml; ids 1-6 change "share", 7-12 "status".
func auditFixture(t *testing.T) (*DB, string) {
	t.Helper()
	db, path := openTest(t)
	ctx := t.Context()
	directory(t, db, "201", "202", "203")
	for id := 1; id <= 12; id++ {
		c := SettingChange{Setting: Setting{
			Number: []string{"201", "202", "203"}[(id-1)%3],
			Field:  "share",
			Value:  fmt.Sprintf(`{"n":%d}`, id),
			Source: "api",
		}}
		if id > 6 {
			c.Field = "status"
		}
		c.Actor, c.Origin = "toml", "toml"
		if id%2 == 0 {
			c.Actor, c.Origin = "100", "api"
		}
		if err := db.ApplySettings(ctx, []SettingChange{c}); err != nil {
			t.Fatal(err)
		}
	}
	raw := rawOpen(t, path)
	if _, err := raw.Exec("UPDATE audit SET at = ? + id * 1000", auditBase.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	return db, path
}

func TestAuditFilters(t *testing.T) {
	db, _ := auditFixture(t)
	at := func(id int) time.Time { return auditBase.Add(time.Duration(id) * time.Second) }
	for name, c := range map[string]struct {
		f    AuditFilter
		want []int64
	}{
		"all":                {AuditFilter{}, []int64{12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1}},
		"subject":            {AuditFilter{Subject: "201"}, []int64{10, 7, 4, 1}},
		"actor":              {AuditFilter{Actor: "100"}, []int64{12, 10, 8, 6, 4, 2}},
		"field":              {AuditFilter{Field: "status"}, []int64{12, 11, 10, 9, 8, 7}},
		"origin":             {AuditFilter{Origin: "toml"}, []int64{11, 9, 7, 5, 3, 1}},
		"subject and field":  {AuditFilter{Subject: "201", Field: "status"}, []int64{10, 7}},
		"subject and actor":  {AuditFilter{Subject: "202", Actor: "toml"}, []int64{11, 5}},
		"nothing matches":    {AuditFilter{Subject: "201", Actor: "nobody"}, []int64{}},
		"since":              {AuditFilter{Since: at(10)}, []int64{12, 11, 10}},
		"until":              {AuditFilter{Until: at(3)}, []int64{2, 1}},
		"window":             {AuditFilter{Since: at(5), Until: at(9)}, []int64{8, 7, 6, 5}},
		"since between ms":   {AuditFilter{Since: at(5).Add(time.Nanosecond), Until: at(9)}, []int64{8, 7, 6}},
		"until between ms":   {AuditFilter{Since: at(5), Until: at(9).Add(time.Nanosecond)}, []int64{9, 8, 7, 6, 5}},
		"empty window":       {AuditFilter{Since: at(9), Until: at(5)}, []int64{}},
		"window and subject": {AuditFilter{Subject: "203", Since: at(3), Until: at(12)}, []int64{9, 6, 3}},
		"limit":              {AuditFilter{Limit: 3}, []int64{12, 11, 10}},
		"before":             {AuditFilter{Before: 4}, []int64{3, 2, 1}},
		"before and limit":   {AuditFilter{Before: 6, Limit: 2}, []int64{5, 4}},
		"before first":       {AuditFilter{Before: 1}, []int64{}},
		"before and subject": {AuditFilter{Subject: "201", Before: 7, Limit: 1}, []int64{4}},
	} {
		if got := auditIDs(t, db, c.f); !slices.Equal(got, c.want) {
			t.Errorf("%s: ids %v, want %v", name, got, c.want)
		}
	}

	// Paging with the smallest id of each page walks everything once.
	var pages [][]int64
	var before int64
	for {
		ids := auditIDs(t, db, AuditFilter{Origin: "api", Before: before, Limit: 4})
		if len(ids) == 0 {
			break
		}
		pages = append(pages, ids)
		before = ids[len(ids)-1]
	}
	if got := fmt.Sprint(pages); got != "[[12 10 8 6] [4 2]]" {
		t.Errorf("pages %s, want [[12 10 8 6] [4 2]]", got)
	}

	// Every column comes back as written.
	es, err := db.Audit(t.Context(), AuditFilter{Subject: "201", Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := AuditEntry{ID: 10, At: at(10), Actor: "100", Subject: "201", Field: "status", Origin: "api", New: js(`{"n":10}`)}
	if len(es) != 1 || es[0].ID != want.ID || !es[0].At.Equal(want.At) || es[0].At.Location() != time.UTC ||
		es[0].Actor != want.Actor || es[0].Subject != want.Subject || es[0].Field != want.Field ||
		es[0].Origin != want.Origin || es[0].Old != nil || es[0].New == nil || *es[0].New != *want.New {
		t.Errorf("entry = %+v, want %+v", es, want)
	}

	for name, f := range map[string]AuditFilter{
		"negative limit":  {Limit: -1},
		"negative before": {Before: -1},
		"unknown origin":  {Origin: "default"},
	} {
		if _, err := db.Audit(t.Context(), f); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

func TestAuditLimit(t *testing.T) {
	db, path := openTest(t)
	ctx := t.Context()
	directory(t, db, "201")
	changes := make([]SettingChange, 1100)
	for i := range changes {
		changes[i] = apiChange("201", "status", fmt.Sprint(i), nil, "201")
	}
	if err := db.ApplySettings(ctx, changes); err != nil {
		t.Fatal(err)
	}
	if n := count(t, rawOpen(t, path), "audit"); n != 1100 {
		t.Fatalf("audit has %d rows, want 1100", n)
	}
	wantLines(t, "settings", showSettings(t, db), []string{`201 status=1099 source=api toml=nil by=201`})
	for _, c := range []struct{ limit, want int }{{0, 100}, {1, 1}, {1000, 1000}, {1001, 1000}, {1 << 30, 1000}} {
		ids := auditIDs(t, db, AuditFilter{Limit: c.limit})
		if len(ids) != c.want || ids[0] != 1100 {
			t.Errorf("Limit %d: %d entries from id %v, want %d from 1100", c.limit, len(ids), ids[:min(1, len(ids))], c.want)
		}
	}
}

func TestSettingsSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "blfgw.db")
	db := openAt(t, path)
	ctx := t.Context()
	directory(t, db, "201")
	if err := db.ApplySettings(ctx, []SettingChange{
		{
			Setting: Setting{Number: "201", Field: "share", Value: `false`, Source: "toml", TOML: js(`false`)},
			Actor:   "toml", Origin: "toml", Quiet: true,
		},
		func() SettingChange {
			c := apiChange("201", "share", `true`, js(`false`), "201")
			c.TOML = js(`false`) // the row is replaced whole: keep what the file applied
			return c
		}(),
	}); err != nil {
		t.Fatal(err)
	}
	settings, err := db.Settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	audit, err := db.Audit(ctx, AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Settings(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Settings after Close: %v, want ErrClosed", err)
	}
	if _, err := db.Audit(ctx, AuditFilter{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Audit after Close: %v, want ErrClosed", err)
	}
	if err := db.ApplySettings(ctx, []SettingChange{apiChange("201", "x", `1`, nil, "201")}); !errors.Is(err, ErrClosed) {
		t.Errorf("ApplySettings after Close: %v, want ErrClosed", err)
	}

	db = openAt(t, path)
	wantLines(t, "settings", showSettings(t, db), []string{`201 share=true source=api toml=false by=201`})
	got, err := db.Settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[0].UpdatedAt.Equal(settings[0].UpdatedAt) {
		t.Errorf("settings after reopen %+v, want %+v", got, settings)
	}
	es, err := db.Audit(ctx, AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || len(audit) != 1 || es[0].ID != audit[0].ID || !es[0].At.Equal(audit[0].At) ||
		orNil(es[0].Old) != "false" || orNil(es[0].New) != "true" {
		t.Errorf("audit after reopen %+v, want %+v", es, audit)
	}
}

// A file written by a binary that only knew 0001 gains the new tables and
// keeps its directory, and the new tables work with it.
func TestMigrateSettingsFrom0001(t *testing.T) {
	path := filepath.Join(t.TempDir(), "blfgw.db")
	first, err := fs.ReadFile(migrationFiles, "migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	old, err := loadMigrations(fstest.MapFS{"migrations/0001_init.sql": {Data: first}})
	if err != nil {
		t.Fatal(err)
	}
	raw := rawOpen(t, "file:"+path+"?_txlock=immediate")
	raw.SetMaxOpenConns(1)
	if err := migrate(t.Context(), raw, old, testLog(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec("INSERT INTO extensions (number, name, updated_at) VALUES ('201', 'Ana', 1), ('202', 'Bo', 1)"); err != nil {
		t.Fatal(err)
	}
	var tables int
	if err := raw.QueryRow("SELECT count(*) FROM sqlite_schema WHERE name IN ('settings', 'audit')").Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("version 1 file has %d of the new tables (%v)", tables, err)
	}
	raw.Close()

	db := openAt(t, path)
	ctx := t.Context()
	exts, err := db.Extensions(ctx)
	if err != nil || len(exts) != 2 || exts[0].Name != "Ana" {
		t.Fatalf("extensions after migration = %v, %v", exts, err)
	}
	if err := db.ApplySettings(ctx, []SettingChange{apiChange("202", "share", `true`, nil, "202")}); err != nil {
		t.Fatal(err)
	}
	wantLines(t, "settings", showSettings(t, db), []string{`202 share=true source=api toml=nil by=202`})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// The schema itself refuses what the Go checks refuse, for writes that
	// bypass them (a future migration, a hand edit).
	raw = rawOpen(t, "file:"+path+"?_foreign_keys=1")
	migs, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := raw.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != len(migs) {
		t.Fatalf("user_version = %d, %v; want %d", v, err, len(migs))
	}
	for name, stmt := range map[string]string{
		"unknown extension": `INSERT INTO settings (number, field, value, source, updated_at) VALUES ('999', 'f', '1', 'api', 0)`,
		"empty field":       `INSERT INTO settings (number, field, value, source, updated_at) VALUES ('201', '', '1', 'api', 0)`,
		"bad source":        `INSERT INTO settings (number, field, value, source, updated_at) VALUES ('201', 'f', '1', 'x', 0)`,
		"not strict":        `INSERT INTO settings (number, field, value, source, updated_at) VALUES ('201', 'f', '1', 'api', 'noon')`,
		"bad origin":        `INSERT INTO audit (at, actor, subject, field, origin) VALUES (0, 'a', '201', 'f', 'default')`,
		"empty actor":       `INSERT INTO audit (at, actor, subject, field, origin) VALUES (0, '', '201', 'f', 'api')`,
	} {
		if _, err := raw.Exec(stmt); err == nil {
			t.Errorf("%s: the schema accepted %s", name, stmt)
		}
	}
	// Audit entries name extensions that may be gone.
	if _, err := raw.Exec(`INSERT INTO audit (at, actor, subject, field, new, origin) VALUES (0, 'toml', '999', 'f', '1', 'toml')`); err != nil {
		t.Errorf("audit refused a removed extension: %v", err)
	}
}

// A caller that has given up writes nothing and gets ctx.Err() as is.
func TestApplySettingsCancelled(t *testing.T) {
	db, _ := openTest(t)
	directory(t, db, "201")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := db.ApplySettings(ctx, []SettingChange{apiChange("201", "share", `true`, nil, "201")}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	wantLines(t, "settings", showSettings(t, db), []string{})
}
