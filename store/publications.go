package store

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Publication is RFC 3903 event state published by a PBX or phone.
type Publication struct {
	ETag        string // primary key
	Entity      string
	Event       string // "dialog"
	Expires     time.Time
	ContentType string
	Body        []byte // exactly as received, any bytes
}

const insertPublication = `
	INSERT INTO publications (etag, entity, event, expires_at, content_type, body, updated_at)
	VALUES (?, ?, ?, ?, ?, ?, ?)`

// ownBody copies the body, so the caller may reuse its buffer as soon as the
// call returns, and makes it non-nil, because the driver binds a nil []byte
// as NULL.
func ownBody(p Publication) Publication {
	p.Body = bytes.Clone(p.Body)
	if p.Body == nil {
		p.Body = []byte{}
	}
	return p
}

func pubArgs(p Publication, now int64) []any {
	return []any{p.ETag, p.Entity, p.Event, p.Expires.UnixMilli(), p.ContentType, p.Body, now}
}

// PutPublication inserts or replaces the publication with p.ETag.
func (db *DB) PutPublication(ctx context.Context, p Publication) error {
	if p.ETag == "" {
		return fmt.Errorf("store: put publication: %w", invalid("empty ETag"))
	}
	p = ownBody(p)
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx, now int64) error {
		_, err := tx.ExecContext(ctx, insertPublication+`
			ON CONFLICT (etag) DO UPDATE SET
				entity = excluded.entity, event = excluded.event, expires_at = excluded.expires_at,
				content_type = excluded.content_type, body = excluded.body, updated_at = excluded.updated_at`,
			pubArgs(p, now)...)
		return err
	})
	if err != nil {
		return wrap(err, "put publication %q", p.ETag)
	}
	return nil
}

// ReplacePublication deletes oldETag and inserts p atomically, as a PUBLISH
// refresh or modify does when it issues a new entity-tag. A missing oldETag
// is not an error. If p.ETag already belongs to another publication the call
// fails with ErrConstraint and nothing changes: entity-tags must be unique.
func (db *DB) ReplacePublication(ctx context.Context, oldETag string, p Publication) error {
	if oldETag == "" || p.ETag == "" {
		return fmt.Errorf("store: replace publication: %w", invalid("empty ETag"))
	}
	p = ownBody(p)
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx, now int64) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM publications WHERE etag = ?`, oldETag); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, insertPublication, pubArgs(p, now)...)
		return err
	})
	if err != nil {
		return wrap(err, "replace publication %q with %q", oldETag, p.ETag)
	}
	return nil
}

// DeletePublications deletes the publications with these entity-tags;
// missing ones are ignored.
func (db *DB) DeletePublications(ctx context.Context, etags []string) error {
	if err := db.deleteKeys(ctx, `DELETE FROM publications WHERE etag = ?`, etags); err != nil {
		return wrap(err, "delete publications")
	}
	return nil
}

// Publications returns every stored publication ordered by ETag, expired
// ones included.
func (db *DB) Publications(ctx context.Context) ([]Publication, error) {
	if db.isClosed.Load() {
		return nil, ErrClosed
	}
	rows, err := db.rdb.QueryContext(ctx, `
		SELECT etag, entity, event, expires_at, content_type, body
		FROM publications ORDER BY etag`)
	if err != nil {
		return nil, wrap(err, "publications")
	}
	defer rows.Close()
	var out []Publication
	for rows.Next() {
		var p Publication
		var expires int64
		if err := rows.Scan(&p.ETag, &p.Entity, &p.Event, &expires, &p.ContentType, &p.Body); err != nil {
			return nil, wrap(err, "publications")
		}
		p.Expires = fromMillis(expires)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "publications")
	}
	return out, nil
}

// DeleteExpiredPublications deletes publications whose expiry is at or
// before now and returns how many it deleted.
func (db *DB) DeleteExpiredPublications(ctx context.Context, now time.Time) (int, error) {
	n, err := db.deleteExpired(ctx, `DELETE FROM publications WHERE expires_at <= ?`, now)
	if err != nil {
		return 0, wrap(err, "delete expired publications")
	}
	return n, nil
}
