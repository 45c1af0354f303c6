package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"
	"strconv"
)

// Schema migrations.
//
// To change the schema, add migrations/NNNN_what.sql with the next number.
// Each file runs once, in its own transaction together with the bump of
// PRAGMA user_version, so a crash mid-migration leaves the previous version
// intact. Never edit a file that has shipped.
//
// PRAGMA foreign_keys cannot change inside a transaction, so a migration
// that rebuilds a table (SQLite's 12-step ALTER) must not rely on turning it
// off; use PRAGMA defer_foreign_keys = ON instead. The foreign keys are
// checked before each commit.

//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

var migrationName = regexp.MustCompile(`^([0-9]{4})_[a-z0-9_]+\.sql$`)

// loadMigrations reads migrations/*.sql from fsys and checks that they are
// numbered 1..n without gaps or duplicates, so a misnamed file fails every
// test instead of being skipped in production.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, "migrations")
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	var migs []migration
	for _, e := range entries { // ReadDir sorts by name
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil || e.IsDir() {
			return nil, fmt.Errorf("migrations: %q is not named NNNN_name.sql", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		if want := len(migs) + 1; v != want {
			return nil, fmt.Errorf("migrations: %s has number %d, want %d", e.Name(), v, want)
		}
		b, err := fs.ReadFile(fsys, "migrations/"+e.Name())
		if err != nil {
			return nil, fmt.Errorf("migrations: %w", err)
		}
		migs = append(migs, migration{version: v, name: e.Name(), sql: string(b)})
	}
	if len(migs) == 0 {
		return nil, fmt.Errorf("migrations: none found")
	}
	return migs, nil
}

// migrate brings db to the last migration. The version is read inside each
// write transaction, so two processes opening the same file at once apply
// each migration exactly once.
func migrate(ctx context.Context, db *sql.DB, migs []migration, log *slog.Logger) error {
	latest := len(migs)
	for {
		done, err := migrateOne(ctx, db, migs, log)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("migrate to version %d: %w", latest, err)
		}
	}
}

// migrateOne applies the next migration, or reports that there is none.
func migrateOne(ctx context.Context, db *sql.DB, migs []migration, log *slog.Logger) (done bool, err error) {
	latest := len(migs)
	tx, err := db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: we hold the write lock
	if err != nil {
		return false, fmt.Errorf("migrate: begin: %w", err)
	}
	defer func() {
		if err != nil || done {
			_ = tx.Rollback()
		}
	}()
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return false, fmt.Errorf("migrate: read user_version: %w", err)
	}
	switch {
	case v > latest:
		return false, fmt.Errorf("%w: the file is at schema version %d, this binary knows up to %d; use a newer blfgw or restore a backup", ErrSchemaTooNew, v, latest)
	case v < 0:
		return false, fmt.Errorf("migrate: user_version %d is not a schema version", v)
	case v == latest:
		return true, nil
	}
	m := migs[v]
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return false, fmt.Errorf("migrate %s: %w", m.name, err)
	}
	// PRAGMA takes no bound parameters; m.version is an int we parsed.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.version)); err != nil {
		return false, fmt.Errorf("migrate %s: set user_version: %w", m.name, err)
	}
	if err := foreignKeyCheck(ctx, tx); err != nil {
		return false, fmt.Errorf("migrate %s: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migrate %s: commit: %w", m.name, err)
	}
	log.Info("schema migrated", "version", m.version, "file", m.name)
	return false, nil
}

// foreignKeyCheck fails if any row violates a foreign key, which a migration
// could cause without an error while deferring the checks.
func foreignKeyCheck(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return fmt.Errorf("foreign_key_check: %w", err)
	}
	defer rows.Close()
	if rows.Next() {
		var table, parent string
		var rowid sql.NullInt64
		var fkid int
		if err := rows.Scan(&table, &rowid, &parent, &fkid); err != nil {
			return fmt.Errorf("foreign_key_check: %w", err)
		}
		return fmt.Errorf("foreign key violation: %s row %v references missing %s", table, rowid.Int64, parent)
	}
	return rows.Err()
}
