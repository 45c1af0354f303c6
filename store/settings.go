package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Setting is one stored user setting of one extension.
type Setting struct {
	Number    string
	Field     string
	Value     string  // JSON, as the caller wrote it
	Source    string  // "toml", "api" or "default"
	TOML      *string // JSON of the last TOML value applied; nil if the TOML never set this field
	UpdatedAt time.Time
	UpdatedBy string
}

// SettingChange sets one field and records it in the audit log.
type SettingChange struct {
	Setting         // the new row (UpdatedAt is ignored: the write's time is used)
	Actor   string  // who made the change: an extension number or "toml"; may be "" only when Quiet
	Origin  string  // "api" or "toml"
	Old     *string // JSON of the previous value for the audit (nil: none)
	Quiet   bool    // write the row without an audit entry (a TOML value applied for the first time to an unset field is not a user-visible change)
}

// AuditEntry is one recorded change of a setting.
type AuditEntry struct {
	ID                            int64
	At                            time.Time
	Actor, Subject, Field, Origin string
	Old, New                      *string // JSON; nil for "no value" (Old) or "removed" (New)
}

// AuditFilter selects audit entries. Every condition set must hold.
type AuditFilter struct {
	Subject, Actor, Field, Origin string    // "" = any
	Since, Until                  time.Time // zero = unbounded; Since inclusive, Until exclusive
	Before                        int64     // only ids below this (paging); 0 = no bound
	Limit                         int       // default 100, at most 1000
}

const (
	auditDefaultLimit = 100
	// auditMaxLimit bounds what one call holds in memory; page with Before.
	auditMaxLimit = 1000
)

// settingRow is a SettingChange as bound to SQL, built before queueing so
// the caller's pointers are read once, before the call can return.
type settingRow struct {
	number, field, value, source, updatedBy string
	toml, old                               sql.NullString
	actor, origin                           string
	quiet                                   bool
}

const upsertSetting = `
	INSERT INTO settings (number, field, value, source, toml, updated_at, updated_by)
	VALUES (?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (number, field) DO UPDATE SET
		value = excluded.value, source = excluded.source, toml = excluded.toml,
		updated_at = excluded.updated_at, updated_by = excluded.updated_by`

const insertAudit = `
	INSERT INTO audit (at, actor, subject, field, old, new, origin) VALUES (?, ?, ?, ?, ?, ?, ?)`

// ApplySettings upserts each change's row and, unless Quiet, appends its
// audit entry, in order and in one transaction: if any change is refused,
// nothing of the batch is written. The row is replaced whole, TOML included:
// a change made through the API must carry the TOML it found, or the record
// of what the file applied is lost. A Number that is not in the directory is
// refused with ErrInvalid, checked inside the transaction so a concurrent
// SyncDirectory cannot slip between the check and the write.
func (db *DB) ApplySettings(ctx context.Context, changes []SettingChange) error {
	rows := make([]settingRow, len(changes))
	for i, c := range changes {
		r, err := newSettingRow(c)
		if err != nil {
			return fmt.Errorf("store: apply settings: %w", err)
		}
		rows[i] = r
	}
	if len(rows) == 0 {
		return db.checkOpen()
	}
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx, now int64) error {
		return applySettings(ctx, tx, now, rows)
	})
	if err != nil {
		return wrap(err, "apply settings")
	}
	return nil
}

func newSettingRow(c SettingChange) (settingRow, error) {
	if err := checkKey(c.Number, c.Field, c.Origin); err != nil {
		return settingRow{}, err
	}
	if !c.Quiet && c.Actor == "" {
		return settingRow{}, emptyActor(c.Number, c.Field)
	}
	switch c.Source {
	case "toml", "api", "default":
	default:
		return settingRow{}, invalid("setting %q of %q: source %q is not toml, api or default", c.Field, c.Number, c.Source)
	}
	if !json.Valid([]byte(c.Value)) {
		return settingRow{}, invalid("setting %q of %q: value is not JSON", c.Field, c.Number)
	}
	toml, ok := nullJSON(c.TOML)
	if !ok {
		return settingRow{}, invalid("setting %q of %q: TOML is not JSON", c.Field, c.Number)
	}
	old, ok := nullJSON(c.Old)
	if !ok {
		return settingRow{}, invalid("setting %q of %q: Old is not JSON", c.Field, c.Number)
	}
	return settingRow{
		number: c.Number, field: c.Field, value: c.Value, source: c.Source, updatedBy: c.UpdatedBy,
		toml: toml, old: old, actor: c.Actor, origin: c.Origin, quiet: c.Quiet,
	}, nil
}

// checkKey validates what every setting write needs.
func checkKey(number, field, origin string) error {
	if number == "" {
		return invalid("setting %q: empty extension number", field)
	}
	if field == "" {
		return invalid("setting of %q: empty field", number)
	}
	if origin != "api" && origin != "toml" {
		return invalid("setting %q of %q: origin %q is not api or toml", field, number, origin)
	}
	return nil
}

// emptyActor refuses an audited write without an actor: an audit entry that
// names nobody is worthless, and the schema refuses it too.
func emptyActor(number, field string) error {
	return invalid("setting %q of %q: empty actor", field, number)
}

// nullJSON binds p as NULL when nil; ok is false if it is not JSON.
func nullJSON(p *string) (v sql.NullString, ok bool) {
	if p == nil {
		return sql.NullString{}, true
	}
	return sql.NullString{String: *p, Valid: true}, json.Valid([]byte(*p))
}

func applySettings(ctx context.Context, tx *sql.Tx, now int64, rows []settingRow) error {
	known := make(map[string]bool)
	for _, r := range rows {
		if !known[r.number] {
			if err := requireExtension(ctx, tx, r.number); err != nil {
				return err
			}
			known[r.number] = true
		}
		if _, err := tx.ExecContext(ctx, upsertSetting,
			r.number, r.field, r.value, r.source, r.toml, now, r.updatedBy); err != nil {
			return fmt.Errorf("setting %q of %q: %w", r.field, r.number, err)
		}
		if r.quiet {
			continue
		}
		newValue := sql.NullString{String: r.value, Valid: true}
		if _, err := tx.ExecContext(ctx, insertAudit,
			now, r.actor, r.number, r.field, r.old, newValue, r.origin); err != nil {
			return fmt.Errorf("audit %q of %q: %w", r.field, r.number, err)
		}
	}
	return nil
}

// DeleteSetting removes one field of one extension and records the removal
// (old: the stored value, new: NULL). A row that is not stored is no error
// and leaves no audit entry: there was no change.
func (db *DB) DeleteSetting(ctx context.Context, number, field, actor, origin string) error {
	err := checkKey(number, field, origin)
	if err == nil && actor == "" {
		err = emptyActor(number, field)
	}
	if err != nil {
		return fmt.Errorf("store: delete setting: %w", err)
	}
	err = db.write(ctx, func(ctx context.Context, tx *sql.Tx, now int64) error {
		// RETURNING gives the value as deleted, in the same statement.
		var old string
		err := tx.QueryRowContext(ctx,
			`DELETE FROM settings WHERE number = ? AND field = ? RETURNING value`, number, field).Scan(&old)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, insertAudit,
			now, actor, number, field, sql.NullString{String: old, Valid: true}, sql.NullString{}, origin)
		return err
	})
	if err != nil {
		return wrap(err, "delete setting %q of %q", field, number)
	}
	return nil
}

// Settings returns every stored setting ordered by number, then field (byte
// order).
func (db *DB) Settings(ctx context.Context) ([]Setting, error) {
	if db.isClosed.Load() {
		return nil, ErrClosed
	}
	rows, err := db.rdb.QueryContext(ctx, `
		SELECT number, field, value, source, toml, updated_at, updated_by
		FROM settings ORDER BY number, field`)
	if err != nil {
		return nil, wrap(err, "settings")
	}
	defer rows.Close()
	var out []Setting
	for rows.Next() {
		var s Setting
		var toml sql.NullString
		var updated int64
		if err := rows.Scan(&s.Number, &s.Field, &s.Value, &s.Source, &toml, &updated, &s.UpdatedBy); err != nil {
			return nil, wrap(err, "settings")
		}
		s.TOML = ptr(toml)
		s.UpdatedAt = fromMillis(updated)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "settings")
	}
	return out, nil
}

// Audit returns the entries that match f, newest first (id descending). To
// page, pass the smallest ID returned as the next call's Before.
func (db *DB) Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	switch {
	case f.Limit < 0:
		return nil, fmt.Errorf("store: audit: %w", invalid("negative limit %d", f.Limit))
	case f.Before < 0:
		return nil, fmt.Errorf("store: audit: %w", invalid("negative Before %d", f.Before))
	case f.Origin != "" && f.Origin != "api" && f.Origin != "toml":
		return nil, fmt.Errorf("store: audit: %w", invalid("origin %q is not api or toml", f.Origin))
	}
	limit := f.Limit
	if limit == 0 {
		limit = auditDefaultLimit
	}
	limit = min(limit, auditMaxLimit)
	if db.isClosed.Load() {
		return nil, ErrClosed
	}

	var where []string
	var args []any
	for _, c := range []struct{ col, v string }{
		{"subject", f.Subject}, {"actor", f.Actor}, {"field", f.Field}, {"origin", f.Origin},
	} {
		if c.v != "" {
			where = append(where, c.col+" = ?") // col is one of ours, never input
			args = append(args, c.v)
		}
	}
	if !f.Since.IsZero() {
		where = append(where, "at >= ?")
		args = append(args, ceilMillis(f.Since))
	}
	if !f.Until.IsZero() {
		where = append(where, "at < ?")
		args = append(args, ceilMillis(f.Until))
	}
	if f.Before != 0 {
		where = append(where, "id < ?")
		args = append(args, f.Before)
	}
	q := "SELECT id, at, actor, subject, field, origin, old, new FROM audit"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, limit)

	rows, err := db.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap(err, "audit")
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at int64
		var o, n sql.NullString
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Subject, &e.Field, &e.Origin, &o, &n); err != nil {
			return nil, wrap(err, "audit")
		}
		e.At = fromMillis(at)
		e.Old, e.New = ptr(o), ptr(n)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "audit")
	}
	return out, nil
}

// ceilMillis is t in unix milliseconds rounded up, so that comparing stored
// milliseconds with it keeps the meaning of comparing with t itself: an
// entry at 1000 ms is before a Since of 1000.5 ms, not at it.
func ceilMillis(t time.Time) int64 {
	ms := t.UnixMilli()
	if t.After(time.UnixMilli(ms)) {
		ms++
	}
	return ms
}

func ptr(s sql.NullString) *string {
	if !s.Valid {
		return nil
	}
	return &s.String
}
