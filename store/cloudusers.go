package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// PutCloudUser remembers a presence service's id for the user the
// admin named (names are kept lower case: UPNs and emails are not case
// sensitive).
func (db *DB) PutCloudUser(ctx context.Context, service, name, id string) error {
	if service == "" || name == "" || id == "" {
		return fmt.Errorf("store: put cloud user: %w", invalid("empty service, name or id"))
	}
	name = strings.ToLower(name)
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx, now int64) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO cloud_users (service, name, id, resolved_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (service, name) DO UPDATE SET id = excluded.id, resolved_at = excluded.resolved_at`,
			service, name, id, now)
		return err
	})
	if err != nil {
		return wrap(err, "put %s user %q", service, name)
	}
	return nil
}

// CloudUsers returns a service's known ids by lower-case name.
func (db *DB) CloudUsers(ctx context.Context, service string) (map[string]string, error) {
	if db.isClosed.Load() {
		return nil, ErrClosed
	}
	rows, err := db.rdb.QueryContext(ctx, `SELECT name, id FROM cloud_users WHERE service = ?`, service)
	if err != nil {
		return nil, wrap(err, "read %s users", service)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, id string
		if err := rows.Scan(&name, &id); err != nil {
			return nil, wrap(err, "read %s users", service)
		}
		out[name] = id
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "read %s users", service)
	}
	return out, nil
}
