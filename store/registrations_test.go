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

// regAt is the expiry base of these tests, in unix milliseconds.
const regAt = 1_900_000_000_000

// reg is a plain UDP binding keyed by its Contact URI.
func reg(aor, binding string, expires int64) Registration {
	return Registration{
		AOR: aor, Binding: binding, Contact: "<" + binding + ">",
		CallID: "call-" + aor + "-" + binding, CSeq: 1, Expires: time.UnixMilli(expires),
		Source: "192.0.2.10:5060", Transport: "UDP", UserAgent: "test phone",
	}
}

// outbound is an RFC 5626 client behind two edge proxies, every field set.
func outbound(aor string) Registration {
	inst := "<urn:uuid:00000000-0000-1000-8000-000a95a0e128>"
	return Registration{
		AOR:       aor,
		Binding:   inst + "|1",
		Contact:   `<sip:` + aor + `@192.0.2.20:5062;transport=tcp;ob>;+sip.instance="` + inst + `";reg-id=1`,
		Path:      []string{"<sip:edge1.example.com;lr>", `<sip:edge2.example.com;lr;ob>`},
		CallID:    "a84b4c76e66710@192.0.2.20",
		CSeq:      4294967295,
		Expires:   time.UnixMilli(regAt + 123).In(time.FixedZone("UTC+1", 3600)),
		Source:    "192.0.2.20:5062",
		Transport: "TCP",
		UserAgent: "Yealink SIP-T46S 66.86.0.15",
	}
}

// showRegs prints rows without UpdatedAt, which tests check apart.
func showRegs(t testing.TB, db *DB) []string {
	t.Helper()
	rs, err := db.Registrations(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return regLines(rs)
}

func regLines(rs []Registration) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, regLine(r))
	}
	return out
}

func regLine(r Registration) string {
	path := "nil"
	if r.Path != nil {
		path = fmt.Sprintf("%q", r.Path)
	}
	return fmt.Sprintf("%s %s contact=%s path=%s call=%s cseq=%d exp=%d src=%s %s ua=%q",
		r.AOR, r.Binding, r.Contact, path, r.CallID, r.CSeq, r.Expires.UnixMilli(), r.Source, r.Transport, r.UserAgent)
}

func TestRegistrationsRoundTrip(t *testing.T) {
	db, path := openTest(t)
	ctx := t.Context()
	directory(t, db, "201", "100")

	desk := outbound("201")
	soft := reg("201", "sip:201@198.51.100.7:5060", regAt+1)
	soft.CSeq = 0
	web := reg("100", "sip:abc123@invalid;transport=ws", regAt+2)
	web.Path = []string{} // none, like nil
	web.Transport = "WSS"
	web.Source = "[2001:db8::1]:443"
	web.UserAgent = ""

	before := fromMillis(time.Now().UnixMilli())
	if err := db.PutRegistrations(ctx, []Registration{soft, desk, web}); err != nil {
		t.Fatal(err)
	}
	after := time.Now()

	web.Path = nil
	wantLines(t, "registrations", showRegs(t, db), regLines([]Registration{web, desk, soft}))
	rs, err := db.Registrations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	at := rs[0].UpdatedAt
	if at.Before(before) || at.After(after) || at.Location() != time.UTC {
		t.Errorf("UpdatedAt = %v, want the write's time in UTC, within [%v, %v]", at, before, after)
	}
	for _, r := range rs {
		if !r.UpdatedAt.Equal(at) {
			t.Errorf("%s %s: UpdatedAt = %v, want %v like the rest of its batch", r.AOR, r.Binding, r.UpdatedAt, at)
		}
		if r.Expires.Location() != time.UTC {
			t.Errorf("%s %s: Expires in %v, want UTC", r.AOR, r.Binding, r.Expires.Location())
		}
	}
	if !rs[1].Expires.Equal(desk.Expires) {
		t.Errorf("Expires = %v, want %v to the millisecond", rs[1].Expires, desk.Expires)
	}

	// What a person inspecting the file sees.
	raw := rawOpen(t, path)
	var paths []string
	rows, err := raw.Query("SELECT path FROM registrations ORDER BY aor, binding")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	wantLines(t, "stored paths", paths, []string{
		`[]`,
		`["<sip:edge1.example.com;lr>","<sip:edge2.example.com;lr;ob>"]`,
		`[]`,
	})

	// Nothing to write is no error.
	if err := db.PutRegistrations(ctx, nil); err != nil {
		t.Fatal(err)
	}
}

func TestRegistrationsUpsertReplaces(t *testing.T) {
	db, path := openTest(t)
	ctx := t.Context()
	directory(t, db, "201")
	if err := db.PutRegistrations(ctx, []Registration{outbound("201"), reg("201", "sip:201@198.51.100.7", regAt)}); err != nil {
		t.Fatal(err)
	}
	raw := rawOpen(t, path)
	if _, err := raw.Exec("UPDATE registrations SET updated_at = 1"); err != nil {
		t.Fatal(err)
	}

	// The phone moved: same instance, new flow, no more edge proxies.
	moved := outbound("201")
	moved.Contact = `<sip:201@203.0.113.5:40000;transport=tls;ob>`
	moved.Path = nil
	moved.CallID = "new-call"
	moved.CSeq = 7
	moved.Expires = time.UnixMilli(regAt + 3_600_000)
	moved.Source = "203.0.113.5:40000"
	moved.Transport = "TLS"
	moved.UserAgent = "Yealink SIP-T46S 66.86.0.20"
	if err := db.PutRegistrations(ctx, []Registration{moved}); err != nil {
		t.Fatal(err)
	}
	wantLines(t, "registrations", showRegs(t, db), regLines([]Registration{moved, reg("201", "sip:201@198.51.100.7", regAt)}))
	rs, _ := db.Registrations(ctx)
	if len(rs) != 2 || rs[0].UpdatedAt.Equal(fromMillis(1)) || !rs[1].UpdatedAt.Equal(fromMillis(1)) {
		t.Errorf("registrations %v: want updated_at moved for the replaced binding only", rs)
	}

	// A key given twice in one batch ends with the later one.
	first, second := reg("201", "sip:x", regAt), reg("201", "sip:x", regAt)
	first.CSeq, second.CSeq = 8, 9
	if err := db.PutRegistrations(ctx, []Registration{first, second}); err != nil {
		t.Fatal(err)
	}
	rs, _ = db.Registrations(ctx)
	if len(rs) != 3 || rs[2].Binding != "sip:x" || rs[2].CSeq != 9 {
		t.Errorf("registrations %v: want sip:x with CSeq 9", rs)
	}
}

// One refused registration means nothing of its batch is written, whether
// it is caught before queueing or inside the transaction (the directory
// check runs after the earlier registrations of the batch were applied).
func TestRegistrationsBatchAllOrNothing(t *testing.T) {
	db, _ := openTest(t)
	ctx := t.Context()
	directory(t, db, "201", "202")
	if err := db.PutRegistrations(ctx, []Registration{reg("201", "sip:201@a", regAt)}); err != nil {
		t.Fatal(err)
	}
	want := showRegs(t, db)

	replaced := reg("201", "sip:201@a", regAt+1)
	replaced.CSeq = 2
	good := []Registration{replaced, outbound("202")}
	bad := func(edit func(*Registration)) Registration {
		r := reg("202", "sip:202@b", regAt)
		edit(&r)
		return r
	}
	for name, c := range map[string]struct {
		reg  Registration
		want string // in the message
	}{
		"empty AOR":         {bad(func(r *Registration) { r.AOR = "" }), "empty AOR"},
		"empty binding":     {bad(func(r *Registration) { r.Binding = "" }), "empty binding"},
		"empty contact":     {bad(func(r *Registration) { r.Contact = "" }), "empty contact"},
		"zero expires":      {bad(func(r *Registration) { r.Expires = time.Time{} }), "no expiry"},
		"lower transport":   {bad(func(r *Registration) { r.Transport = "udp" }), `transport "udp"`},
		"empty transport":   {bad(func(r *Registration) { r.Transport = "" }), `transport ""`},
		"unknown transport": {bad(func(r *Registration) { r.Transport = "SCTP" }), `transport "SCTP"`},
		"unknown extension": {bad(func(r *Registration) { r.AOR = "999" }), `extension "999" is not in the directory`},
	} {
		err := db.PutRegistrations(ctx, append(slices.Clone(good), c.reg))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want ErrInvalid saying %q", name, err, c.want)
		}
		wantLines(t, name+": registrations", showRegs(t, db), want)
	}
}

func TestRegistrationsUnknownExtension(t *testing.T) {
	db, _ := openTest(t)
	directory(t, db, "201")
	err := db.PutRegistrations(t.Context(), []Registration{reg("404", "sip:404@a", regAt)})
	if !errors.Is(err, ErrInvalid) || errors.Is(err, ErrConstraint) || !strings.Contains(err.Error(), `"404"`) {
		t.Fatalf("err = %v, want ErrInvalid naming extension \"404\"", err)
	}
	wantLines(t, "registrations", showRegs(t, db), []string{})
}

func TestDeleteRegistrations(t *testing.T) {
	db, _ := openTest(t)
	ctx := t.Context()
	directory(t, db, "201", "202")
	a, b, c := reg("201", "sip:a", regAt), reg("201", "sip:b", regAt), outbound("201")
	other := reg("202", "sip:a", regAt)
	if err := db.PutRegistrations(ctx, []Registration{a, b, c, other}); err != nil {
		t.Fatal(err)
	}

	// Only the named bindings of that AOR go; unknown ones are no error.
	if err := db.DeleteRegistrations(ctx, "201", []string{"sip:a", "sip:nope", c.Binding}); err != nil {
		t.Fatal(err)
	}
	wantLines(t, "after deleting some", showRegs(t, db), regLines([]Registration{b, other}))
	if err := db.DeleteRegistrations(ctx, "999", nil); err != nil {
		t.Errorf("unknown AOR: %v", err)
	}

	// No bindings: all of the AOR, and only of it.
	if err := db.PutRegistrations(ctx, []Registration{a, c}); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteRegistrations(ctx, "201", []string{}); err != nil {
		t.Fatal(err)
	}
	wantLines(t, "after deleting all of 201", showRegs(t, db), regLines([]Registration{other}))
	if err := db.DeleteRegistrations(ctx, "202", nil); err != nil {
		t.Fatal(err)
	}
	wantLines(t, "after deleting all of 202", showRegs(t, db), []string{})

	if err := db.DeleteRegistrations(ctx, "", nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty AOR: err = %v, want ErrInvalid", err)
	}
}

func TestDeleteExpiredRegistrations(t *testing.T) {
	db, _ := openTest(t)
	ctx := t.Context()
	directory(t, db, "201", "202")
	now := time.UnixMilli(regAt)
	old := outbound("201")
	old.Expires = now.Add(-time.Second)
	edge := reg("201", "sip:edge", regAt)
	later := reg("201", "sip:later", regAt+1)
	gone := reg("202", "sip:gone", regAt-1)
	fresh := reg("202", "sip:fresh", regAt+3_600_000)
	if err := db.PutRegistrations(ctx, []Registration{fresh, later, gone, edge, old}); err != nil {
		t.Fatal(err)
	}

	// At or before now; returned whole, in key order.
	got, err := db.DeleteExpiredRegistrations(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, "deleted", regLines(got), regLines([]Registration{old, edge, gone}))
	for _, r := range got {
		if r.UpdatedAt.IsZero() || r.UpdatedAt.Location() != time.UTC {
			t.Errorf("deleted %s %s: UpdatedAt = %v, want the stored time in UTC", r.AOR, r.Binding, r.UpdatedAt)
		}
	}
	wantLines(t, "kept", showRegs(t, db), regLines([]Registration{later, fresh}))

	if got, err := db.DeleteExpiredRegistrations(ctx, now); err != nil || len(got) != 0 {
		t.Errorf("second sweep = %v, %v; want nothing", got, err)
	}
	got, err = db.DeleteExpiredRegistrations(ctx, now.Add(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, "deleted a millisecond later", regLines(got), regLines([]Registration{later}))
}

// A refused write rolls back alone in a shared group commit, and the sweep
// in the same batch still returns what it deleted.
func TestRegistrationsInGroupCommit(t *testing.T) {
	db, _, g, primer := holdWriter(t)
	ctx := t.Context()
	// Queued behind the held primer, so nothing here can be awaited before
	// g.open; they run in order as one batch.
	errs := make(chan error, 3)
	go func() {
		errs <- db.SyncDirectory(ctx, nil, []Extension{{Number: "201"}})
	}()
	waitQueued(t, db, 1)
	go func() {
		errs <- db.PutRegistrations(ctx, []Registration{reg("201", "sip:expired", regAt-1), reg("201", "sip:kept", regAt+1)})
	}()
	waitQueued(t, db, 2)
	go func() {
		errs <- db.PutRegistrations(ctx, []Registration{reg("201", "sip:refused", regAt-1), reg("404", "sip:x", regAt)})
	}()
	waitQueued(t, db, 3)
	type sweep struct {
		regs []Registration
		err  error
	}
	swept := make(chan sweep, 1)
	go func() {
		rs, err := db.DeleteExpiredRegistrations(ctx, time.UnixMilli(regAt))
		swept <- sweep{rs, err}
	}()
	waitQueued(t, db, 4)
	g.open()
	if err := <-primer; err != nil {
		t.Fatal(err)
	}
	oneRefused(t, errs, 3, `"404"`)
	s := <-swept
	if s.err != nil {
		t.Fatal(s.err)
	}
	wantLines(t, "swept", regLines(s.regs), regLines([]Registration{reg("201", "sip:expired", regAt-1)}))
	if sizes := g.batchSizes(); !slices.Equal(sizes, []int{1, 4}) {
		t.Errorf("batch sizes %v, want [1 4]: the test did not exercise one shared batch", sizes)
	}
	wantLines(t, "registrations", showRegs(t, db), regLines([]Registration{reg("201", "sip:kept", regAt+1)}))
}

func TestRegistrationsSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "blfgw.db")
	db := openAt(t, path)
	ctx := t.Context()
	directory(t, db, "201")
	if err := db.PutRegistrations(ctx, []Registration{outbound("201"), reg("201", "sip:soft", regAt)}); err != nil {
		t.Fatal(err)
	}
	before, err := db.Registrations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Registrations(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Registrations after Close: %v, want ErrClosed", err)
	}
	if err := db.PutRegistrations(ctx, []Registration{reg("201", "sip:x", regAt)}); !errors.Is(err, ErrClosed) {
		t.Errorf("PutRegistrations after Close: %v, want ErrClosed", err)
	}
	if err := db.PutRegistrations(ctx, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("empty PutRegistrations after Close: %v, want ErrClosed", err)
	}
	if err := db.DeleteRegistrations(ctx, "201", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("DeleteRegistrations after Close: %v, want ErrClosed", err)
	}
	if _, err := db.DeleteExpiredRegistrations(ctx, time.Now()); !errors.Is(err, ErrClosed) {
		t.Errorf("DeleteExpiredRegistrations after Close: %v, want ErrClosed", err)
	}

	db = openAt(t, path)
	after, err := db.Registrations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, "after reopen", regLines(after), regLines(before))
	for i := range min(len(before), len(after)) {
		if !after[i].UpdatedAt.Equal(before[i].UpdatedAt) {
			t.Errorf("%s: UpdatedAt after reopen %v, want %v", after[i].Binding, after[i].UpdatedAt, before[i].UpdatedAt)
		}
	}
}

func TestRegistrationsCascade(t *testing.T) {
	db, _ := openTest(t)
	ctx := t.Context()
	directory(t, db, "201", "202")
	if err := db.PutRegistrations(ctx, []Registration{
		outbound("201"), reg("201", "sip:soft", regAt), reg("202", "sip:desk", regAt),
	}); err != nil {
		t.Fatal(err)
	}
	directory(t, db, "202")
	wantLines(t, "registrations", showRegs(t, db), regLines([]Registration{reg("202", "sip:desk", regAt)}))

	// Listing the extension again does not bring its bindings back.
	directory(t, db, "201", "202")
	wantLines(t, "registrations after re-adding 201", showRegs(t, db), regLines([]Registration{reg("202", "sip:desk", regAt)}))
}

// A file at version 2 gains the registrations table and keeps what it had;
// the schema itself refuses what the Go checks refuse, for writes that
// bypass them (a future migration, a hand edit).
func TestMigrateRegistrationsFrom0002(t *testing.T) {
	path := filepath.Join(t.TempDir(), "blfgw.db")
	files := fstest.MapFS{}
	for _, name := range []string{"0001_init.sql", "0002_settings.sql"} {
		b, err := fs.ReadFile(migrationFiles, "migrations/"+name)
		if err != nil {
			t.Fatal(err)
		}
		files["migrations/"+name] = &fstest.MapFile{Data: b}
	}
	old, err := loadMigrations(files)
	if err != nil {
		t.Fatal(err)
	}
	raw := rawOpen(t, "file:"+path+"?_txlock=immediate")
	raw.SetMaxOpenConns(1)
	if err := migrate(t.Context(), raw, old, testLog(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`
		INSERT INTO extensions (number, name, updated_at) VALUES ('201', 'Ana', 1);
		INSERT INTO settings (number, field, value, source, updated_at) VALUES ('201', 'share', 'true', 'api', 1);`); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	db := openAt(t, path)
	ctx := t.Context()
	wantLines(t, "settings", showSettings(t, db), []string{`201 share=true source=api toml=nil by=`})
	if err := db.PutRegistrations(ctx, []Registration{reg("201", "sip:desk", regAt)}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	raw = rawOpen(t, "file:"+path+"?_foreign_keys=1")
	const cols = `INSERT INTO registrations (aor, binding, contact, path, call_id, cseq, expires_at, source, transport, updated_at) VALUES `
	if _, err := raw.Exec(cols + `('201', 'b', 'c', '[]', '', 4294967295, 0, '', 'WSS', 0)`); err != nil {
		t.Fatalf("the schema refused a valid row: %v", err)
	}
	for name, values := range map[string]string{
		"unknown extension": `('999', 'b2', 'c', '[]', '', 0, 0, '', 'UDP', 0)`,
		"empty binding":     `('201', '', 'c', '[]', '', 0, 0, '', 'UDP', 0)`,
		"empty contact":     `('201', 'b2', '', '[]', '', 0, 0, '', 'UDP', 0)`,
		"lower transport":   `('201', 'b2', 'c', '[]', '', 0, 0, '', 'udp', 0)`,
		"cseq too big":      `('201', 'b2', 'c', '[]', '', 4294967296, 0, '', 'UDP', 0)`,
		"negative cseq":     `('201', 'b2', 'c', '[]', '', -1, 0, '', 'UDP', 0)`,
		"not strict":        `('201', 'b2', 'c', '[]', '', 0, 'noon', '', 'UDP', 0)`,
		"same key":          `('201', 'b', 'c', '[]', '', 0, 0, '', 'UDP', 0)`,
	} {
		if _, err := raw.Exec(cols + values); err == nil {
			t.Errorf("%s: the schema accepted %s", name, values)
		}
	}
}

// A caller that has given up writes nothing and gets ctx.Err() as is.
func TestPutRegistrationsCancelled(t *testing.T) {
	db, _ := openTest(t)
	directory(t, db, "201")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := db.PutRegistrations(ctx, []Registration{reg("201", "sip:a", regAt)}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	wantLines(t, "registrations", showRegs(t, db), []string{})
}
