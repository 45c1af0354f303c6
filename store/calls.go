package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"
)

// Call is an answered call the edge proxy carries. Data is the proxy's own
// record, stored as given.
type Call struct {
	CallID, FromTag string
	Data            []byte
	UpdatedAt       time.Time // set by the store on write
}

// PutCall inserts or replaces a call, keyed by Call-ID and From tag.
func (db *DB) PutCall(ctx context.Context, c Call) error {
	if c.CallID == "" {
		return fmt.Errorf("store: put call: %w", invalid("empty Call-ID"))
	}
	data := slices.Clone(c.Data)
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx, now int64) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO calls (call_id, from_tag, data, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (call_id, from_tag) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at`,
			c.CallID, c.FromTag, data, now)
		return err
	})
	if err != nil {
		return wrap(err, "put call %q", c.CallID)
	}
	return nil
}

// DeleteCall forgets a call; forgetting one that is not there is no error.
func (db *DB) DeleteCall(ctx context.Context, callID, fromTag string) error {
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx, _ int64) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM calls WHERE call_id = ? AND from_tag = ?`, callID, fromTag)
		return err
	})
	if err != nil {
		return wrap(err, "delete call %q", callID)
	}
	return nil
}

// Calls returns every stored call, ordered by Call-ID and From tag.
func (db *DB) Calls(ctx context.Context) ([]Call, error) {
	if db.isClosed.Load() {
		return nil, ErrClosed
	}
	rows, err := db.rdb.QueryContext(ctx, `SELECT call_id, from_tag, data, updated_at FROM calls ORDER BY call_id, from_tag`)
	if err != nil {
		return nil, wrap(err, "read calls")
	}
	defer rows.Close()
	var out []Call
	for rows.Next() {
		var c Call
		var at int64
		if err := rows.Scan(&c.CallID, &c.FromTag, &c.Data, &at); err != nil {
			return nil, wrap(err, "read calls")
		}
		c.UpdatedAt = time.UnixMilli(at)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "read calls")
	}
	return out, nil
}
