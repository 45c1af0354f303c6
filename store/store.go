// Package store persists the gateway's state in one SQLite file: the
// directory of extensions, SIP subscriptions and publications, registrar
// bindings, small meta facts, and each extension's user settings with the
// audit log of their changes. It is the only package that imports
// go-sqlite3, so cgo stays out of the core.
//
// Memory is the source of truth on the hot path; the store only has to make
// what was accepted survive a restart. Writes from many goroutines are
// funnelled into one writer goroutine that commits them in groups (see
// writer.go), so a burst of SUBSCRIBEs costs one transaction, not one each.
//
// A write method returns once its batch has committed. If its ctx ends first
// it returns ctx.Err() at once; the write is then dropped if the writer had
// not reached it yet, but may still commit if it had, as with any database.
// Every write is an idempotent upsert or delete, so retrying is safe, except
// that a retried ReplacePublication whose first attempt committed reports
// ErrConstraint (its new ETag is already there).
//
// The methods use only stdlib types and the plain structs below. Packages
// that need persistence declare the small interface they use, and *DB
// satisfies it; nothing but cmd/blfgw imports this package.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"
)

// defaultReadConns bounds the read pool. Reads are rare (restore at start,
// API listings), so a few connections are plenty; WAL lets them run while
// the writer commits.
const defaultReadConns = 4

// busyTimeout is how long a connection waits for another's lock.
const busyTimeout = 5 * time.Second

// DB is an open store. It is safe for concurrent use. Close it to commit
// queued writes and release the file.
type DB struct {
	log *slog.Logger

	// wdb has exactly one connection, used only by the writer goroutine, so
	// SQLite never sees two writers from this process and never returns
	// SQLITE_BUSY to ourselves.
	wdb *sql.DB
	// rdb serves reads. It is query_only so a bug cannot write around the
	// writer goroutine. It may be wdb itself (tests measuring the choice).
	rdb *sql.DB

	// mu guards queue, and orders isClosed against it: once isClosed is set
	// under mu, nothing more is queued. Never held while touching SQLite.
	mu       sync.Mutex
	queue    []*op
	isClosed atomic.Bool // read without mu by the read methods

	wake chan struct{} // capacity 1: "the queue is not empty"
	quit chan struct{} // closed by Close: drain and stop
	done chan struct{} // closed when the writer goroutine has returned

	sp savepoints // on wdb, for the writer only

	beforeBatch func(n int) // test hook, called by the writer before each batch

	stats stats
}

// options are knobs for tests and benchmarks; Open uses the defaults.
type options struct {
	// readConns is the size of the read pool; 0 sends reads through the
	// writer's single connection.
	readConns int
	// beforeBatch, if set, runs on the writer goroutine before each batch
	// with the number of queued ops. Tests use it to hold the writer.
	beforeBatch func(n int)
}

// Open opens (creating if needed) the SQLite file at path, applies pending
// migrations and starts the writer goroutine. ctx bounds only the opening and
// migration; the writer lives until Close. A nil log discards.
func Open(ctx context.Context, path string, log *slog.Logger) (*DB, error) {
	return open(ctx, path, log, options{readConns: defaultReadConns})
}

func open(ctx context.Context, path string, log *slog.Logger, opt options) (*DB, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "store")
	if path == "" {
		return nil, fmt.Errorf("store: open: %w: empty path", ErrInvalid)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := createFile(abs); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}

	wdb, err := sql.Open("sqlite3", dsn(abs, url.Values{
		"_journal_mode": {"WAL"},
		// NORMAL in WAL mode: a commit is in the WAL file (the OS has it)
		// when it returns, so a killed process loses nothing; only a power
		// cut can lose the last commits. FULL would fsync every batch.
		"_synchronous":     {"NORMAL"},
		"_busy_timeout":    {strconv.Itoa(int(busyTimeout.Milliseconds()))},
		"_foreign_keys":    {"1"},
		"_txlock":          {"immediate"},
		"_stmt_cache_size": {"32"},
	}))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxIdleTime(0)
	wdb.SetConnMaxLifetime(0)

	db := &DB{
		log:         log,
		wdb:         wdb,
		rdb:         wdb,
		wake:        make(chan struct{}, 1),
		quit:        make(chan struct{}),
		done:        make(chan struct{}),
		beforeBatch: opt.beforeBatch,
	}
	if err := db.init(ctx, abs, opt); err != nil {
		_ = db.sp.close()
		_ = wdb.Close()
		if db.rdb != wdb {
			_ = db.rdb.Close()
		}
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}
	go db.run()
	log.Debug("store open", "path", abs, "read_conns", opt.readConns)
	return db, nil
}

// init checks the connection, migrates and opens the read pool.
func (db *DB) init(ctx context.Context, path string, opt options) error {
	var mode string
	err := retryBusy(ctx, func() error {
		return db.wdb.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode)
	})
	if err != nil {
		return fmt.Errorf("writer connection: %w", err)
	}
	// Without WAL readers would block the writer and the read pool would see
	// SQLITE_BUSY; some file systems (network mounts) cannot do WAL.
	if mode != "wal" {
		return fmt.Errorf("journal_mode is %q, want wal (is the file on a network file system?)", mode)
	}
	migs, err := loadMigrations(migrationFiles)
	if err != nil {
		return err
	}
	if err := migrate(ctx, db.wdb, migs, db.log); err != nil {
		return err
	}
	if err := db.sp.prepare(ctx, db.wdb); err != nil {
		return err
	}
	if opt.readConns <= 0 {
		return nil
	}
	rdb, err := sql.Open("sqlite3", dsn(path, url.Values{
		"_busy_timeout":    {strconv.Itoa(int(busyTimeout.Milliseconds()))},
		"_foreign_keys":    {"1"},
		"_query_only":      {"1"},
		"_stmt_cache_size": {"32"},
	}))
	if err != nil {
		return fmt.Errorf("read pool: %w", err)
	}
	rdb.SetMaxOpenConns(opt.readConns)
	rdb.SetMaxIdleConns(opt.readConns)
	rdb.SetConnMaxIdleTime(0)
	db.rdb = rdb
	if err := rdb.PingContext(ctx); err != nil {
		return fmt.Errorf("read pool: %w", err)
	}
	return nil
}

// retryBusy retries fn for as long as busy_timeout would wait. The driver
// switches a new file to WAL when it connects, and SQLite answers that
// switch with SQLITE_BUSY at once, without the busy handler, while another
// process is opening the same file.
func retryBusy(ctx context.Context, fn func() error) error {
	deadline := time.Now().Add(busyTimeout)
	for {
		err := fn()
		var se sqlite3.Error
		if err == nil || !errors.As(err, &se) || se.Code != sqlite3.ErrBusy || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// createFile creates the directory and an empty database file readable only
// by us: meta holds secrets (the digest nonce key), and SQLite gives the
// -wal and -shm files the mode of the database file.
func createFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// dsn builds a SQLite URI. The path is escaped so that '?', '#' or '%' in a
// directory name cannot be taken for URI syntax.
func dsn(path string, params url.Values) string {
	u := url.URL{Scheme: "file", OmitHost: true, Path: filepath.ToSlash(path), RawQuery: params.Encode()}
	return u.String()
}

// Close commits every write queued before it, stops the writer goroutine and
// closes the file. Writes and reads after Close return ErrClosed, as does a
// second Close.
func (db *DB) Close() error {
	db.mu.Lock()
	first := db.isClosed.CompareAndSwap(false, true)
	db.mu.Unlock()
	if !first {
		return ErrClosed
	}
	close(db.quit)
	<-db.done

	// Recommended by SQLite before closing a long-lived connection: it
	// refreshes planner statistics only where they are stale, usually a no-op.
	if _, err := db.wdb.Exec("PRAGMA optimize"); err != nil {
		db.log.Debug("pragma optimize failed", "err", err)
	}
	errs := []error{db.sp.close()}
	if db.rdb != db.wdb {
		errs = append(errs, db.rdb.Close())
	}
	// Closing the last connection checkpoints the WAL into the main file.
	errs = append(errs, db.wdb.Close())
	if err := errors.Join(errs...); err != nil {
		return wrap(err, "close")
	}
	return nil
}

// Ping reports whether the store can serve: it is open, the file answers a
// query and the last group commit did not fail. For /healthz.
func (db *DB) Ping(ctx context.Context) error {
	if db.isClosed.Load() {
		return ErrClosed
	}
	var one int
	if err := db.rdb.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return wrap(err, "ping")
	}
	if p := db.stats.lastCommitErr.Load(); p != nil {
		return fmt.Errorf("store: last commit failed: %w", *p)
	}
	return nil
}
