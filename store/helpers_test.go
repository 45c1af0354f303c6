package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMain fails the run if a writer goroutine or a database/sql opener is
// still alive after the tests: every DB a test opens must be closed.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := waitNoLeaks(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "leaked goroutines:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

func waitNoLeaks(limit time.Duration) string {
	deadline := time.Now().Add(limit)
	for {
		leaked := storeGoroutines()
		if leaked == "" || time.Now().After(deadline) {
			return leaked
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// storeGoroutines returns the stacks of goroutines owned by a DB.
func storeGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "blfgw/store.(*DB).run") || strings.Contains(g, "database/sql.(*DB).connectionOpener") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// openTest opens a store in a fresh temp dir and closes it at cleanup.
func openTest(t testing.TB, opt ...options) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "blfgw.db")
	return openAt(t, path, opt...), path
}

func openAt(t testing.TB, path string, opt ...options) *DB {
	t.Helper()
	o := options{readConns: defaultReadConns}
	if len(opt) > 0 {
		o = opt[0]
	}
	db, err := open(t.Context(), path, testLog(t), o)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// rawOpen opens the file with no store logic, to inspect or tamper with it.
func rawOpen(t testing.TB, path string) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	return raw
}

// gate holds the writer goroutine inside beforeBatch so a test can queue a
// known set of ops and have them run as one batch.
type gate struct {
	mu      sync.Mutex
	sizes   []int
	held    chan struct{} // receives once the writer is held
	release chan struct{}
	once    sync.Once
}

func newGate() *gate {
	return &gate{held: make(chan struct{}, 1), release: make(chan struct{})}
}

// hook holds only the first batch; later ones are recorded and run.
func (g *gate) hook(n int) {
	g.mu.Lock()
	g.sizes = append(g.sizes, n)
	first := len(g.sizes) == 1
	g.mu.Unlock()
	if first {
		g.held <- struct{}{}
		<-g.release
	}
}

func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

func (g *gate) batchSizes() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]int(nil), g.sizes...)
}

// holdWriter opens a store whose writer is held on a primer write; the
// caller queues ops, waits with waitQueued and then calls g.open.
func holdWriter(t *testing.T) (*DB, string, *gate, <-chan error) {
	t.Helper()
	g := newGate()
	db, path := openTest(t, options{readConns: defaultReadConns, beforeBatch: g.hook})
	t.Cleanup(g.open) // cleanups run last-in first-out: release before Close
	primer := make(chan error, 1)
	go func() { primer <- db.SetMeta(context.Background(), "primer", "1") }()
	<-g.held
	return db, path, g, primer
}

// waitQueued waits until n ops are queued behind the held writer.
func waitQueued(t *testing.T, db *DB, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		db.mu.Lock()
		q := len(db.queue)
		db.mu.Unlock()
		if q == n {
			return
		}
		if q > n || time.Now().After(deadline) {
			t.Fatalf("queued %d ops, want %d", q, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func sub(i int) Subscription {
	return Subscription{
		ID:      fmt.Sprintf("call-%05d;from-tag=a;to-tag=b;id=", i),
		Entity:  fmt.Sprintf("%d", 200+i%50),
		Event:   "dialog",
		Watcher: fmt.Sprintf("%d", 300+i%70),
		Expires: time.UnixMilli(1_900_000_000_000 + int64(i)).UTC(),
		CSeq:    uint32(i),
		Version: uint32(i * 2),
		Data:    []byte(fmt.Sprintf(`{"call_id":"call-%05d","route_set":["<sip:10.0.0.1;lr>"],"transport":"udp"}`, i)),
	}
}

func count(t testing.TB, db *sql.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// oneRefused reads n write results and checks that exactly one was refused
// as invalid for naming what, and that the others succeeded: a bad write in
// a group commit must fail alone.
func oneRefused(t *testing.T, errs <-chan error, n int, what string) {
	t.Helper()
	refused := 0
	for range n {
		if err := <-errs; errors.Is(err, ErrInvalid) && strings.Contains(err.Error(), what) {
			refused++
		} else if err != nil {
			t.Errorf("unexpected error: %v", err)
		}
	}
	if refused != 1 {
		t.Errorf("%d writes refused, want 1", refused)
	}
}
