package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Group commit.
//
// Every write method builds an op and blocks until the writer goroutine has
// committed it. The writer takes everything queued, runs it in one
// transaction and commits once, so N concurrent writers pay for one commit
// (one WAL append of each touched page) instead of N. Each op runs inside its
// own SAVEPOINT, so a failing op is rolled back alone and only its caller
// sees the error.

// opFunc applies one write inside the batch transaction. now is the batch
// time in unix milliseconds, used for updated_at. ctx is the writer's, never
// the caller's: a caller's cancellation must not interrupt SQLite in the
// middle of someone else's batch (an interrupted statement rolls back the
// whole transaction).
type opFunc func(ctx context.Context, tx *sql.Tx, now int64) error

type op struct {
	ctx context.Context // the caller's, checked before the op runs
	fn  opFunc
	res chan error // capacity 1 so the writer never blocks on a caller that left
}

// savepoints are prepared once on the writer's connection. Statements
// without arguments bypass the driver's statement cache, and these run twice
// per op.
type savepoints struct {
	save, release, rollback *sql.Stmt
}

func (sp *savepoints) prepare(ctx context.Context, db *sql.DB) error {
	var err error
	for _, s := range []struct {
		stmt **sql.Stmt
		sql  string
	}{{&sp.save, "SAVEPOINT op"}, {&sp.release, "RELEASE op"}, {&sp.rollback, "ROLLBACK TO op"}} {
		if *s.stmt, err = db.PrepareContext(ctx, s.sql); err != nil {
			return fmt.Errorf("prepare %s: %w", s.sql, err)
		}
	}
	return nil
}

func (sp *savepoints) close() error {
	var errs []error
	for _, s := range []*sql.Stmt{sp.save, sp.release, sp.rollback} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	return errors.Join(errs...)
}

// stats are the writer's counters; see Stats.
type stats struct {
	batches       atomic.Uint64
	ops           atomic.Uint64
	failed        atomic.Uint64
	retried       atomic.Uint64
	maxBatch      atomic.Int64
	lastCommitErr atomic.Pointer[error]
}

// Stats are cumulative counters of the writer, for metrics.
type Stats struct {
	Batches  uint64 // transactions committed
	Ops      uint64 // write calls committed
	Failed   uint64 // write calls that returned an error from SQLite
	Retried  uint64 // ops re-run because another op aborted their transaction
	MaxBatch int    // most ops committed in one transaction
}

// Stats returns the writer's counters. Ops/Batches is the average batch size.
func (db *DB) Stats() Stats {
	return Stats{
		Batches:  db.stats.batches.Load(),
		Ops:      db.stats.ops.Load(),
		Failed:   db.stats.failed.Load(),
		Retried:  db.stats.retried.Load(),
		MaxBatch: int(db.stats.maxBatch.Load()),
	}
}

// write queues fn and waits for its batch to commit. If ctx ends first it
// returns ctx.Err(); the op is then skipped if the writer has not started it,
// and may still commit if it has.
func (db *DB) write(ctx context.Context, fn opFunc) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	o := &op{ctx: ctx, fn: fn, res: make(chan error, 1)}
	db.mu.Lock()
	if db.isClosed.Load() {
		db.mu.Unlock()
		return ErrClosed
	}
	db.queue = append(db.queue, o)
	db.mu.Unlock()
	select {
	case db.wake <- struct{}{}:
	default: // a wake-up is already pending; the writer will take our op too
	}
	select {
	case err := <-o.res:
		return err
	case <-ctx.Done():
		// Prefer the real outcome if it arrived at the same moment.
		select {
		case err := <-o.res:
			return err
		default:
			return ctx.Err()
		}
	}
}

// run is the writer goroutine, started by Open and stopped by Close.
func (db *DB) run() {
	defer close(db.done)
	for {
		select {
		case <-db.wake:
		case <-db.quit:
		}
		db.mu.Lock()
		ops := db.queue
		db.queue = nil
		last := db.isClosed.Load() // nothing can be queued after this
		db.mu.Unlock()
		if len(ops) > 0 {
			db.apply(ops)
		}
		if last {
			return
		}
	}
}

// apply commits ops, retrying in a new transaction those whose transaction
// was aborted by another op's failure.
func (db *DB) apply(ops []*op) {
	if db.beforeBatch != nil {
		db.beforeBatch(len(ops))
	}
	live := ops[:0]
	for _, o := range ops {
		if err := o.ctx.Err(); err != nil {
			o.res <- err // the caller has gone; don't write what it gave up on
			continue
		}
		live = append(live, o)
	}
	for len(live) > 0 {
		live = db.applyTx(live)
	}
}

// applyTx runs ops in one transaction and answers each caller. It returns
// the ops that must run again because their transaction was lost; there are
// always fewer of them than ops, so apply terminates.
func (db *DB) applyTx(ops []*op) (retry []*op) {
	ctx := context.Background()
	now := time.Now().UnixMilli()
	tx, err := db.wdb.BeginTx(ctx, nil)
	if err != nil {
		err = fmt.Errorf("begin: %w", err)
		db.stats.lastCommitErr.Store(&err)
		db.log.Error("group commit failed", "err", err, "ops", len(ops))
		db.failAll(ops, err)
		return nil
	}
	// A lone op needs no savepoint: rolling back the transaction is the same.
	if len(ops) == 1 {
		o := ops[0]
		if err := o.fn(ctx, tx, now); err != nil {
			_ = tx.Rollback()
			db.stats.failed.Add(1)
			o.res <- classify(err)
			return nil
		}
		return db.commit(tx, ops)
	}

	save := tx.StmtContext(ctx, db.sp.save)
	release := tx.StmtContext(ctx, db.sp.release)
	rollback := tx.StmtContext(ctx, db.sp.rollback)
	applied := make([]*op, 0, len(ops))
	for i, o := range ops {
		// abort answers o and hands back the ops that must run again.
		abort := func(err error) []*op {
			_ = tx.Rollback()
			db.stats.failed.Add(1)
			db.stats.retried.Add(uint64(len(applied)))
			o.res <- classify(err)
			db.log.Warn("write aborted its batch; retrying the others", "err", err, "retry", len(applied)+len(ops)-i-1)
			return append(applied, ops[i+1:]...)
		}
		if _, err := save.ExecContext(ctx); err != nil {
			return abort(fmt.Errorf("savepoint: %w", err))
		}
		if err := o.fn(ctx, tx, now); err != nil {
			// Some errors (I/O, full disk, interrupt) make SQLite roll back
			// the whole transaction; then the savepoint is gone too and the
			// ops applied so far are lost with it.
			if _, rerr := rollback.ExecContext(ctx); rerr != nil {
				return abort(err)
			}
			if _, rerr := release.ExecContext(ctx); rerr != nil {
				return abort(err)
			}
			db.stats.failed.Add(1)
			o.res <- classify(err)
			continue
		}
		if _, err := release.ExecContext(ctx); err != nil {
			return abort(fmt.Errorf("release savepoint: %w", err))
		}
		applied = append(applied, o)
	}
	return db.commit(tx, applied)
}

// commit commits tx and answers the ops applied in it.
func (db *DB) commit(tx *sql.Tx, applied []*op) []*op {
	if len(applied) == 0 {
		_ = tx.Rollback()
		return nil
	}
	if err := tx.Commit(); err != nil {
		err = fmt.Errorf("commit: %w", err)
		db.stats.lastCommitErr.Store(&err)
		db.log.Error("group commit failed", "err", err, "ops", len(applied))
		db.failAll(applied, err)
		return nil
	}
	db.stats.lastCommitErr.Store(nil)
	db.stats.batches.Add(1)
	db.stats.ops.Add(uint64(len(applied)))
	if n := int64(len(applied)); n > db.stats.maxBatch.Load() {
		db.stats.maxBatch.Store(n) // only the writer stores, so no CAS needed
	}
	for _, o := range applied {
		o.res <- nil
	}
	return nil
}

func (db *DB) failAll(ops []*op, err error) {
	err = classify(err) // a deferred foreign key fails at commit
	db.stats.failed.Add(uint64(len(ops)))
	for _, o := range ops {
		o.res <- err
	}
}
