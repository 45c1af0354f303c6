package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
)

func TestOpenFreshThenReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "blfgw.db")
	migs, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}

	db := openAt(t, path)
	if err := db.SetMeta(t.Context(), "k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	raw := rawOpen(t, path)
	var v int
	if err := raw.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != len(migs) {
		t.Fatalf("user_version = %d, want %d", v, len(migs))
	}
	for _, table := range []string{"departments", "extensions", "subscriptions", "publications", "meta", "settings", "audit", "registrations"} {
		count(t, raw, table) // fails if the table is missing
	}
	raw.Close()

	// Reopening applies nothing and keeps the data.
	db = openAt(t, path)
	if got, ok, err := db.Meta(t.Context(), "k"); err != nil || !ok || got != "v" {
		t.Fatalf("Meta after reopen = %q, %v, %v", got, ok, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	raw = rawOpen(t, path)
	if err := raw.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != len(migs) {
		t.Fatalf("user_version after reopen = %d, %v", v, err)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "blfgw.db")
	db := openAt(t, path)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	raw := rawOpen(t, path)
	if _, err := raw.Exec("PRAGMA user_version = 999"); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	db, err := Open(t.Context(), path, testLog(t))
	if err == nil {
		db.Close()
		t.Fatal("Open accepted a schema from the future")
	}
	if !errors.Is(err, ErrSchemaTooNew) || !strings.Contains(err.Error(), "999") {
		t.Fatalf("err = %v, want ErrSchemaTooNew naming version 999", err)
	}
}

func TestOpenCreatesDirectoryAndPrivateFile(t *testing.T) {
	// Characters that mean something in a URI must reach the file system as is.
	path := filepath.Join(t.TempDir(), "a dir", "with?query#frag%20", "blfgw.db")
	db := openAt(t, path)
	if err := db.SetMeta(t.Context(), "k", "v"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("database file not at the exact path: %v", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("file mode %v, want no access for group and others", perm)
	}
}

func TestOpenRejectsEmptyPath(t *testing.T) {
	if _, err := Open(t.Context(), "", nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
}

func TestPragmas(t *testing.T) {
	db, _ := openTest(t)
	ctx := t.Context()
	for _, c := range []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"synchronous", "1"}, // NORMAL
		{"busy_timeout", "5000"},
		{"foreign_keys", "1"},
	} {
		var got string
		if err := db.wdb.QueryRowContext(ctx, "PRAGMA "+c.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("writer PRAGMA %s = %s, want %s", c.pragma, got, c.want)
		}
	}
	var q int
	if err := db.rdb.QueryRowContext(ctx, "PRAGMA query_only").Scan(&q); err != nil || q != 1 {
		t.Errorf("reader query_only = %d, %v; want 1", q, err)
	}
	if _, err := db.rdb.ExecContext(ctx, "INSERT INTO meta VALUES ('x', 'y', 0)"); err == nil {
		t.Error("read pool accepted a write")
	}
}

func TestConcurrentOpenMigratesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "blfgw.db")
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			db, err := Open(context.Background(), path, testLog(t))
			if err != nil {
				errs <- err
				return
			}
			errs <- db.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestLoadMigrations(t *testing.T) {
	if _, err := loadMigrations(migrationFiles); err != nil {
		t.Fatalf("embedded migrations: %v", err)
	}
	sql := &fstest.MapFile{Data: []byte("SELECT 1;")}
	for name, files := range map[string]fstest.MapFS{
		"gap":       {"migrations/0001_a.sql": sql, "migrations/0003_c.sql": sql},
		"duplicate": {"migrations/0001_a.sql": sql, "migrations/0001_b.sql": sql},
		"bad name":  {"migrations/0001_a.sql": sql, "migrations/2_b.sql": sql},
		"not sql":   {"migrations/0001_a.sql": sql, "migrations/0002_b.txt": sql},
		"zero":      {"migrations/0000_a.sql": sql},
		"empty":     {"migrations/.keep": nil}, // a dot file is not a migration either
	} {
		if migs, err := loadMigrations(files); err == nil {
			t.Errorf("%s: loaded %d migrations, want an error", name, len(migs))
		}
	}
}

// A failing migration leaves the file at the previous version, with none of
// the failed file's statements applied.
func TestFailedMigrationRollsBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "blfgw.db")
	migs, err := loadMigrations(fstest.MapFS{
		"migrations/0001_a.sql": {Data: []byte("CREATE TABLE a (x INTEGER);")},
		"migrations/0002_b.sql": {Data: []byte("CREATE TABLE b (x INTEGER); INSERT INTO nowhere VALUES (1);")},
	})
	if err != nil {
		t.Fatal(err)
	}
	raw := rawOpen(t, "file:"+path+"?_txlock=immediate")
	raw.SetMaxOpenConns(1)
	if err := migrate(t.Context(), raw, migs, testLog(t)); err == nil || !strings.Contains(err.Error(), "0002_b.sql") {
		t.Fatalf("migrate = %v, want an error naming 0002_b.sql", err)
	}
	var v, tables int
	if err := raw.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != 1 {
		t.Fatalf("user_version = %d, %v; want 1", v, err)
	}
	if err := raw.QueryRow("SELECT count(*) FROM sqlite_schema WHERE name = 'b'").Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("table b exists (%d, %v) after its migration failed", tables, err)
	}
}

func TestPing(t *testing.T) {
	db, _ := openTest(t)
	if err := db.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(t.Context()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Ping after Close = %v, want ErrClosed", err)
	}
}

// Adding a migration is dropping in a file: an existing file at the old
// version is brought forward and keeps its rows.
func TestMigrateAppliesNewFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "blfgw.db")
	db := openAt(t, path)
	if err := db.SetMeta(t.Context(), "k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	files := fstest.MapFS{}
	embedded, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range embedded {
		b, err := fs.ReadFile(migrationFiles, "migrations/"+e.Name())
		if err != nil {
			t.Fatal(err)
		}
		files["migrations/"+e.Name()] = &fstest.MapFile{Data: b}
	}
	// The table name must not be one a real migration may take.
	next := fmt.Sprintf("migrations/%04d_test_extra.sql", len(embedded)+1)
	files[next] = &fstest.MapFile{Data: []byte(`
		CREATE TABLE test_extra (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at INTEGER NOT NULL) STRICT;
		INSERT INTO test_extra SELECT key, value, updated_at FROM meta;`)}
	migs, err := loadMigrations(files)
	if err != nil {
		t.Fatal(err)
	}
	raw := rawOpen(t, "file:"+path+"?_txlock=immediate")
	raw.SetMaxOpenConns(1)
	if err := migrate(t.Context(), raw, migs, testLog(t)); err != nil {
		t.Fatal(err)
	}
	var v int
	var value string
	if err := raw.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != len(embedded)+1 {
		t.Fatalf("user_version = %d, %v; want %d", v, err, len(embedded)+1)
	}
	if err := raw.QueryRow("SELECT value FROM test_extra WHERE key = 'k'").Scan(&value); err != nil || value != "v" {
		t.Fatalf("migrated row = %q, %v", value, err)
	}
	// The binary that only knows the embedded set now refuses the file.
	if _, err := Open(t.Context(), path, testLog(t)); !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open with older binary: %v, want ErrSchemaTooNew", err)
	}
}
