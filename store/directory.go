package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
)

// Extension is one directory entry from the admin's configuration.
type Extension struct {
	Number     string
	Name       string
	Department string // "" for none; otherwise one of the synced departments
	Role       string
}

// SyncDirectory makes the stored directory equal to departments and exts in
// one transaction: new rows are inserted, changed rows updated (updated_at
// moves only when something changed) and rows no longer listed deleted.
// Every non-empty Extension.Department must be in departments; a renamed
// department just appears under its new name in both lists.
func (db *DB) SyncDirectory(ctx context.Context, departments []string, exts []Extension) error {
	deps := slices.Clone(departments)
	list := slices.Clone(exts)
	if err := validateDirectory(deps, list); err != nil {
		return wrap(err, "sync directory")
	}
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx, now int64) error {
		return syncDirectory(ctx, tx, now, deps, list)
	})
	if err != nil {
		return wrap(err, "sync directory")
	}
	return nil
}

func validateDirectory(deps []string, exts []Extension) error {
	known := make(map[string]bool, len(deps))
	for _, d := range deps {
		if d == "" {
			return invalid("empty department name")
		}
		if known[d] {
			return invalid("department %q listed twice", d)
		}
		known[d] = true
	}
	seen := make(map[string]bool, len(exts))
	for _, e := range exts {
		if e.Number == "" {
			return invalid("extension with empty number")
		}
		if seen[e.Number] {
			return invalid("extension %q listed twice", e.Number)
		}
		seen[e.Number] = true
		if e.Department != "" && !known[e.Department] {
			return invalid("extension %q: department %q is not in the department list", e.Number, e.Department)
		}
	}
	return nil
}

// syncDirectory inserts departments before extensions (the foreign key) and
// deletes stale departments last, after every extension has moved away.
func syncDirectory(ctx context.Context, tx *sql.Tx, now int64, deps []string, exts []Extension) error {
	for _, d := range deps {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO departments (name, updated_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, d, now); err != nil {
			return fmt.Errorf("department %q: %w", d, err)
		}
	}

	const upsert = `
		INSERT INTO extensions (number, name, department, role, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (number) DO UPDATE SET
			name = excluded.name, department = excluded.department,
			role = excluded.role, updated_at = excluded.updated_at
		WHERE extensions.name IS NOT excluded.name
			OR extensions.department IS NOT excluded.department
			OR extensions.role IS NOT excluded.role`
	for _, e := range exts {
		var dep sql.NullString
		if e.Department != "" {
			dep = sql.NullString{String: e.Department, Valid: true}
		}
		if _, err := tx.ExecContext(ctx, upsert, e.Number, e.Name, dep, e.Role, now); err != nil {
			return fmt.Errorf("extension %q: %w", e.Number, err)
		}
	}

	wantExt := make(map[string]bool, len(exts))
	for _, e := range exts {
		wantExt[e.Number] = true
	}
	if err := deleteUnlisted(ctx, tx, "SELECT number FROM extensions", "DELETE FROM extensions WHERE number = ?", wantExt); err != nil {
		return fmt.Errorf("extensions: %w", err)
	}
	wantDep := make(map[string]bool, len(deps))
	for _, d := range deps {
		wantDep[d] = true
	}
	if err := deleteUnlisted(ctx, tx, "SELECT name FROM departments", "DELETE FROM departments WHERE name = ?", wantDep); err != nil {
		return fmt.Errorf("departments: %w", err)
	}
	return nil
}

// deleteUnlisted deletes the keys that list returns and want lacks. The
// difference is computed in Go rather than with NOT IN (?, ?, ...) so the
// size of the directory is not bounded by SQLite's parameter limit.
func deleteUnlisted(ctx context.Context, tx *sql.Tx, list, del string, want map[string]bool) error {
	rows, err := tx.QueryContext(ctx, list)
	if err != nil {
		return err
	}
	var stale []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			rows.Close()
			return err
		}
		if !want[k] {
			stale = append(stale, k)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, k := range stale {
		if _, err := tx.ExecContext(ctx, del, k); err != nil {
			return fmt.Errorf("delete %q: %w", k, err)
		}
	}
	return nil
}

// requireExtension refuses with ErrInvalid a number that is not in the
// directory. Writes of rows that reference an extension call it inside their
// transaction, so a concurrent SyncDirectory cannot slip between the check
// and the write. The foreign key would refuse the row too, but as a bare
// constraint failure that names neither the extension nor the cause.
func requireExtension(ctx context.Context, tx *sql.Tx, number string) error {
	var ok bool
	if err := tx.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM extensions WHERE number = ?)`, number).Scan(&ok); err != nil {
		return fmt.Errorf("extension %q: %w", number, err)
	}
	if !ok {
		return invalid("extension %q is not in the directory", number)
	}
	return nil
}

// Extensions returns the directory ordered by number (byte order, so "100"
// sorts before "20").
func (db *DB) Extensions(ctx context.Context) ([]Extension, error) {
	if db.isClosed.Load() {
		return nil, ErrClosed
	}
	rows, err := db.rdb.QueryContext(ctx,
		`SELECT number, name, coalesce(department, ''), role FROM extensions ORDER BY number`)
	if err != nil {
		return nil, wrap(err, "extensions")
	}
	defer rows.Close()
	var out []Extension
	for rows.Next() {
		var e Extension
		if err := rows.Scan(&e.Number, &e.Name, &e.Department, &e.Role); err != nil {
			return nil, wrap(err, "extensions")
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "extensions")
	}
	return out, nil
}

// Departments returns the department names in byte order.
func (db *DB) Departments(ctx context.Context) ([]string, error) {
	if db.isClosed.Load() {
		return nil, ErrClosed
	}
	rows, err := db.rdb.QueryContext(ctx, `SELECT name FROM departments ORDER BY name`)
	if err != nil {
		return nil, wrap(err, "departments")
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, wrap(err, "departments")
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "departments")
	}
	return out, nil
}
