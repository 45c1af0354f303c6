package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Subscription is a SIP subscription dialog as the SIP layer persists it, so
// a restart restores every watcher without waiting for a re-SUBSCRIBE. The
// dialog details are the SIP layer's business and live in Data; the columns
// hold what is queried or updated often.
type Subscription struct {
	ID      string    // stable key (Call-ID + tags + event id)
	Entity  string    // watched extension number
	Event   string    // "dialog" or "presence"
	Watcher string    // authenticated user or From user
	Expires time.Time // absolute expiry, kept to the millisecond
	CSeq    uint32    // last local NOTIFY CSeq used
	Version uint32    // last dialog-info version sent
	Data    []byte    // JSON document, returned byte for byte; may be empty
}

// subRow is a Subscription as bound to SQL. Building it before queueing
// copies Data, so the caller may reuse its buffers as soon as the call
// returns, even when it returns early on a cancelled ctx.
type subRow struct {
	id, entity, event, watcher string
	expires                    int64
	cseq, version              int64
	data                       string
}

const upsertSubscription = `
	INSERT INTO subscriptions (id, entity, event, watcher, expires_at, cseq, version, data, updated_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (id) DO UPDATE SET
		entity = excluded.entity, event = excluded.event, watcher = excluded.watcher,
		expires_at = excluded.expires_at, cseq = excluded.cseq, version = excluded.version,
		data = excluded.data, updated_at = excluded.updated_at`

const updateSubscriptionCounters = `
	UPDATE subscriptions SET cseq = ?, version = ?, expires_at = ?, updated_at = ? WHERE id = ?`

// UpdateSubscriptionCounters writes only CSeq, Version and Expires of
// subscriptions already stored, leaving Data alone: the SIP layer moves these
// with every NOTIFY, far more often than the dialog details change. IDs that
// are not stored (ended meanwhile) are skipped, not inserted.
func (db *DB) UpdateSubscriptionCounters(ctx context.Context, subs []Subscription) error {
	rows := make([]subRow, len(subs))
	for i, s := range subs {
		rows[i] = subRow{id: s.ID, expires: s.Expires.UnixMilli(), cseq: int64(s.CSeq), version: int64(s.Version)}
	}
	if len(rows) == 0 {
		return db.checkOpen()
	}
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx, now int64) error {
		for _, r := range rows {
			if _, err := tx.ExecContext(ctx, updateSubscriptionCounters, r.cseq, r.version, r.expires, now, r.id); err != nil {
				return fmt.Errorf("subscription %q: %w", r.id, err)
			}
		}
		return nil
	})
	if err != nil {
		return wrap(err, "update subscription counters")
	}
	return nil
}

// PutSubscriptions inserts or replaces (all fields) each subscription, in
// one transaction. It returns when the batch has committed.
func (db *DB) PutSubscriptions(ctx context.Context, subs []Subscription) error {
	rows := make([]subRow, len(subs))
	for i, s := range subs {
		if s.ID == "" {
			return fmt.Errorf("store: put subscriptions: %w", invalid("subscription with empty ID"))
		}
		// Restore would choke on it much later and far from the bug.
		if len(s.Data) > 0 && !json.Valid(s.Data) {
			return fmt.Errorf("store: put subscription %q: %w", s.ID, invalid("Data is not a JSON document"))
		}
		rows[i] = subRow{
			id: s.ID, entity: s.Entity, event: s.Event, watcher: s.Watcher,
			expires: s.Expires.UnixMilli(), cseq: int64(s.CSeq), version: int64(s.Version),
			data: string(s.Data),
		}
	}
	if len(rows) == 0 {
		return db.checkOpen()
	}
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx, now int64) error {
		for _, r := range rows {
			if _, err := tx.ExecContext(ctx, upsertSubscription,
				r.id, r.entity, r.event, r.watcher, r.expires, r.cseq, r.version, r.data, now); err != nil {
				return fmt.Errorf("subscription %q: %w", r.id, err)
			}
		}
		return nil
	})
	if err != nil {
		return wrap(err, "put subscriptions")
	}
	return nil
}

// DeleteSubscriptions deletes the subscriptions with these IDs; IDs that are
// not stored are ignored.
func (db *DB) DeleteSubscriptions(ctx context.Context, ids []string) error {
	if err := db.deleteKeys(ctx, `DELETE FROM subscriptions WHERE id = ?`, ids); err != nil {
		return wrap(err, "delete subscriptions")
	}
	return nil
}

// Subscriptions returns every stored subscription, ordered by ID, expired
// ones included: the caller decides what expiry means at restore.
func (db *DB) Subscriptions(ctx context.Context) ([]Subscription, error) {
	if db.isClosed.Load() {
		return nil, ErrClosed
	}
	rows, err := db.rdb.QueryContext(ctx, `
		SELECT id, entity, event, watcher, expires_at, cseq, version, data
		FROM subscriptions ORDER BY id`)
	if err != nil {
		return nil, wrap(err, "subscriptions")
	}
	defer rows.Close()
	var out []Subscription
	for rows.Next() {
		var s Subscription
		var expires, cseq, version int64
		if err := rows.Scan(&s.ID, &s.Entity, &s.Event, &s.Watcher, &expires, &cseq, &version, &s.Data); err != nil {
			return nil, wrap(err, "subscriptions")
		}
		s.Expires = fromMillis(expires)
		s.CSeq, s.Version = uint32(cseq), uint32(version) // CHECK keeps them in range
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "subscriptions")
	}
	return out, nil
}

// DeleteExpiredSubscriptions deletes subscriptions whose expiry is at or
// before now and returns how many it deleted.
func (db *DB) DeleteExpiredSubscriptions(ctx context.Context, now time.Time) (int, error) {
	n, err := db.deleteExpired(ctx, `DELETE FROM subscriptions WHERE expires_at <= ?`, now)
	if err != nil {
		return 0, wrap(err, "delete expired subscriptions")
	}
	return n, nil
}

// deleteKeys deletes one row per key with del, in one op.
func (db *DB) deleteKeys(ctx context.Context, del string, keys []string) error {
	if len(keys) == 0 {
		return db.checkOpen()
	}
	keys = slices.Clone(keys)
	return db.write(ctx, func(ctx context.Context, tx *sql.Tx, _ int64) error {
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, del, k); err != nil {
				return fmt.Errorf("%q: %w", k, err)
			}
		}
		return nil
	})
}

// deleteExpired runs del with now in milliseconds and returns the row count.
func (db *DB) deleteExpired(ctx context.Context, del string, now time.Time) (int, error) {
	var n int64
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx, _ int64) error {
		res, err := tx.ExecContext(ctx, del, now.UnixMilli())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, err
	}
	return int(n), nil
}

// checkOpen is the answer of a write with nothing to write.
func (db *DB) checkOpen() error {
	if db.isClosed.Load() {
		return ErrClosed
	}
	return nil
}

// fromMillis is the inverse of time.Time.UnixMilli, in UTC so that values
// read back print the same on every host.
func fromMillis(ms int64) time.Time {
	return time.UnixMilli(ms).UTC()
}
