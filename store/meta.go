package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Meta returns the value stored under key; ok is false if there is none.
func (db *DB) Meta(ctx context.Context, key string) (value string, ok bool, err error) {
	if db.isClosed.Load() {
		return "", false, ErrClosed
	}
	err = db.rdb.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&value)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, wrap(err, "meta %q", key)
	}
	return value, true, nil
}

// SetMeta stores value under key, replacing any previous value.
func (db *DB) SetMeta(ctx context.Context, key, value string) error {
	if key == "" {
		return fmt.Errorf("store: set meta: %w", invalid("empty key"))
	}
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx, now int64) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO meta (key, value, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
			key, value, now)
		return err
	})
	if err != nil {
		return wrap(err, "set meta %q", key)
	}
	return nil
}
