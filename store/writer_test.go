package store

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestConcurrentWriters(t *testing.T) {
	db, path := openTest(t)
	const n = 200
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = db.PutSubscriptions(context.Background(), []Subscription{sub(i)}) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if got := count(t, rawOpen(t, path), "subscriptions"); got != n {
		t.Fatalf("%d rows, want %d", got, n)
	}
	st := db.Stats()
	if st.Ops != n || st.Failed != 0 {
		t.Fatalf("stats %+v, want %d ops and no failure", st, n)
	}
	t.Logf("%d writes in %d transactions (largest %d)", st.Ops, st.Batches, st.MaxBatch)
}

func TestCancelledContextReturnsAtOnce(t *testing.T) {
	db, _, g, primer := holdWriter(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// The writer is held, so returning at all proves it did not wait for it.
	if err := db.PutSubscriptions(ctx, []Subscription{sub(1)}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if err := db.SetMeta(ctx, "k", "v"); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	waitQueued(t, db, 0)
	g.open()
	if err := <-primer; err != nil {
		t.Fatal(err)
	}
	if err := db.PutSubscriptions(t.Context(), []Subscription{sub(2)}); err != nil {
		t.Fatal(err)
	}
	checkSubs(t, db, sub(2))
}

// A caller that gives up while queued gets ctx.Err() at once, its write is
// skipped, and the writes queued with it still commit.
func TestCancelWhileQueued(t *testing.T) {
	db, _, g, primer := holdWriter(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancelled := make(chan error, 1)
	go func() { cancelled <- db.PutSubscriptions(ctx, []Subscription{sub(0)}) }()
	waitQueued(t, db, 1)
	others := make(chan error, 10)
	for i := 1; i <= 10; i++ {
		go func() { others <- db.PutSubscriptions(context.Background(), []Subscription{sub(i)}) }()
	}
	waitQueued(t, db, 11)
	cancel()
	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled write: %v, want context.Canceled", err)
	}
	g.open()
	if err := <-primer; err != nil {
		t.Fatal(err)
	}
	var want []Subscription
	for i := 1; i <= 10; i++ {
		if err := <-others; err != nil {
			t.Fatal(err)
		}
		want = append(want, sub(i))
	}
	checkSubs(t, db, want...)
}

// queueWrite starts write on its own goroutine and waits until it is the
// n-th op queued behind the held writer, so batch order is known.
func queueWrite(t *testing.T, db *DB, n int, write func() error) <-chan error {
	t.Helper()
	res := make(chan error, 1)
	go func() { res <- write() }()
	waitQueued(t, db, n)
	return res
}

// One op that violates a constraint fails alone; the others in its batch
// commit.
func TestFailingOpFailsOnlyItsCaller(t *testing.T) {
	db, _, g, primer := holdWriter(t)
	ctx := context.Background()
	var good []<-chan error
	n := 0
	put := func(i int) {
		n++
		good = append(good, queueWrite(t, db, n, func() error { return db.PutSubscriptions(ctx, []Subscription{sub(i)}) }))
	}
	for _, etag := range []string{"a", "b"} {
		n++
		good = append(good, queueWrite(t, db, n, func() error { return db.PutPublication(ctx, Publication{ETag: etag}) }))
	}
	for i := range 20 {
		put(i)
	}
	n++
	clash := queueWrite(t, db, n, func() error { return db.ReplacePublication(ctx, "a", Publication{ETag: "b"}) })
	for i := 20; i < 40; i++ {
		put(i)
	}
	g.open()
	if err := <-primer; err != nil {
		t.Fatal(err)
	}
	if err := <-clash; !errors.Is(err, ErrConstraint) {
		t.Fatalf("clashing replace: %v, want ErrConstraint", err)
	}
	for _, c := range good {
		if err := <-c; err != nil {
			t.Fatal(err)
		}
	}
	if sizes := g.batchSizes(); len(sizes) != 2 || sizes[1] != n {
		t.Fatalf("batch sizes %v, want [1 %d]: the test needs one batch", sizes, n)
	}
	var want []Subscription
	for i := range 40 {
		want = append(want, sub(i))
	}
	checkSubs(t, db, want...)
	checkPubs(t, db, Publication{ETag: "a", Body: []byte{}}, Publication{ETag: "b", Body: []byte{}})
	if st := db.Stats(); st.Failed != 1 || st.Batches != 2 || st.Ops != uint64(n) {
		t.Fatalf("stats %+v, want 1 failed, 2 batches, %d ops", st, n)
	}
}

// An op whose failure takes down the whole transaction (as an I/O error or
// a full disk does) fails alone; the ops before it are re-run in a new one.
func TestAbortedTransactionRetriesOthers(t *testing.T) {
	db, _, g, primer := holdWriter(t)
	ctx := context.Background()
	var good []<-chan error
	n := 0
	for i := range 10 {
		if i == 5 {
			n++
			bad := queueWrite(t, db, n, func() error {
				return db.write(ctx, func(ctx context.Context, tx *sql.Tx, _ int64) error {
					if _, err := tx.ExecContext(ctx, "ROLLBACK"); err != nil {
						return err
					}
					return errors.New("boom")
				})
			})
			defer func() {
				if err := <-bad; err == nil || err.Error() != "boom" {
					t.Errorf("aborting op: %v, want boom", err)
				}
			}()
		}
		n++
		good = append(good, queueWrite(t, db, n, func() error { return db.PutSubscriptions(ctx, []Subscription{sub(i)}) }))
	}
	g.open()
	if err := <-primer; err != nil {
		t.Fatal(err)
	}
	var want []Subscription
	for i, c := range good {
		if err := <-c; err != nil {
			t.Fatal(err)
		}
		want = append(want, sub(i))
	}
	checkSubs(t, db, want...)
	if st := db.Stats(); st.Retried != 5 || st.Failed != 1 {
		t.Fatalf("stats %+v, want 5 retried and 1 failed", st)
	}
}

// Close commits what was queued before it and stops the writer.
func TestCloseDrains(t *testing.T) {
	db, path, g, primer := holdWriter(t)
	const n = 50
	results := make([]<-chan error, n)
	for i := range n {
		results[i] = queueWrite(t, db, i+1, func() error {
			return db.PutSubscriptions(context.Background(), []Subscription{sub(i)})
		})
	}
	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	// Close marks the store closed before it waits for the writer.
	for !db.isClosed.Load() {
		time.Sleep(time.Millisecond)
	}
	if err := db.SetMeta(context.Background(), "late", "x"); !errors.Is(err, ErrClosed) {
		t.Fatalf("write during Close: %v, want ErrClosed", err)
	}
	g.open()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	select {
	case <-db.done:
	default:
		t.Fatal("Close returned before the writer goroutine")
	}
	if err := <-primer; err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if err := <-r; err != nil {
			t.Fatal(err)
		}
	}
	if got := count(t, rawOpen(t, path), "subscriptions"); got != n {
		t.Fatalf("%d rows after Close, want %d", got, n)
	}
}

func TestCallsAfterClose(t *testing.T) {
	db, _ := openTest(t)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	now := time.Now()
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	add(db.Close())
	add(db.Ping(ctx))
	add(db.SyncDirectory(ctx, nil, nil))
	_, err := db.Extensions(ctx)
	add(err)
	_, err = db.Departments(ctx)
	add(err)
	add(db.PutSubscriptions(ctx, []Subscription{sub(1)}))
	add(db.PutSubscriptions(ctx, nil))
	add(db.DeleteSubscriptions(ctx, []string{"x"}))
	add(db.DeleteSubscriptions(ctx, nil))
	_, err = db.Subscriptions(ctx)
	add(err)
	_, err = db.DeleteExpiredSubscriptions(ctx, now)
	add(err)
	add(db.PutPublication(ctx, Publication{ETag: "e"}))
	add(db.ReplacePublication(ctx, "e", Publication{ETag: "f"}))
	add(db.DeletePublications(ctx, []string{"e"}))
	_, err = db.Publications(ctx)
	add(err)
	_, err = db.DeleteExpiredPublications(ctx, now)
	add(err)
	_, _, err = db.Meta(ctx, "k")
	add(err)
	add(db.SetMeta(ctx, "k", "v"))
	for i, err := range errs {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("call %d after Close: %v, want ErrClosed", i, err)
		}
	}
}

// Open and Close leave no goroutine behind (TestMain checks the whole run;
// this pins it to one DB).
func TestCloseStopsGoroutines(t *testing.T) {
	db, _ := openTest(t)
	if err := db.PutSubscriptions(t.Context(), []Subscription{sub(1)}); err != nil {
		t.Fatal(err)
	}
	if storeGoroutines() == "" {
		t.Fatal("no writer goroutine found while open; the leak check would prove nothing")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if leaked := waitNoLeaks(5 * time.Second); leaked != "" {
		t.Fatalf("after Close:\n%s", leaked)
	}
}
