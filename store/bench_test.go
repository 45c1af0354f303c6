package store

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// reportWriter adds throughput (n per second, named unit) and the writer's
// batching to the output.
func reportWriter(b *testing.B, db *DB, n int, unit string, elapsed time.Duration) {
	st := db.Stats()
	b.ReportMetric(float64(n)/elapsed.Seconds(), unit)
	if st.Batches > 0 {
		b.ReportMetric(float64(st.Ops)/float64(st.Batches), "ops/batch")
	}
}

// benchPutConcurrent runs b.N single-record PutSubscriptions calls from
// writers goroutines, as the SIP server does when every SUBSCRIBE is
// persisted before its 200.
func benchPutConcurrent(b *testing.B, writers int, opt options) {
	db, _ := openTest(b, opt)
	ctx := context.Background()
	subs := make([]Subscription, 4096) // rows are overwritten: a table of live dialogs
	for i := range subs {
		subs[i] = sub(i)
	}
	var next atomic.Int64
	var failed atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				s := subs[i%int64(len(subs))]
				s.CSeq = uint32(i)
				if err := db.PutSubscriptions(ctx, []Subscription{s}); err != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d writes failed", n)
	}
	reportWriter(b, db, b.N, "ops/s", elapsed)
}

// BenchmarkPutSubscriptionConcurrent: 64 goroutines, one record per call.
func BenchmarkPutSubscriptionConcurrent(b *testing.B) {
	benchPutConcurrent(b, 64, options{readConns: defaultReadConns})
}

// BenchmarkPutSubscriptionSerial is the same load from one goroutine: every
// call is its own transaction. The ratio to the concurrent figure is what
// group commit buys.
func BenchmarkPutSubscriptionSerial(b *testing.B) {
	benchPutConcurrent(b, 1, options{readConns: defaultReadConns})
}

// BenchmarkPutSubscriptionsBatch1000: one caller, 1000 records per call
// (a restore or a shutdown flush).
func BenchmarkPutSubscriptionsBatch1000(b *testing.B) {
	db, _ := openTest(b)
	ctx := context.Background()
	batch := make([]Subscription, 1000)
	for i := range batch {
		batch[i] = sub(i)
	}
	b.ResetTimer()
	start := time.Now()
	for n := range b.N {
		for i := range batch {
			batch[i].CSeq = uint32(n)
		}
		if err := db.PutSubscriptions(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	reportWriter(b, db, b.N*len(batch), "records/s", elapsed)
}

// BenchmarkReadDuringWrites measures a Meta read while 64 goroutines write,
// with reads on a separate pool (what Open does) or through the writer's
// single connection. It is the measurement behind the two-pool choice.
func BenchmarkReadDuringWrites(b *testing.B) {
	for _, c := range []struct {
		name      string
		readConns int
	}{{"pool=separate", defaultReadConns}, {"pool=shared", 0}} {
		b.Run(c.name, func(b *testing.B) {
			db, _ := openTest(b, options{readConns: c.readConns})
			ctx, cancel := context.WithCancel(context.Background())
			if err := db.SetMeta(ctx, "k", "v"); err != nil {
				b.Fatal(err)
			}
			var wg sync.WaitGroup
			for g := range 64 {
				wg.Go(func() {
					for i := g; ctx.Err() == nil; i += 64 {
						_ = db.PutSubscriptions(ctx, []Subscription{sub(i % 4096)})
					}
				})
			}
			time.Sleep(50 * time.Millisecond) // let the writers reach steady state
			b.ResetTimer()
			for range b.N {
				if _, _, err := db.Meta(context.Background(), "k"); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			cancel()
			wg.Wait()
		})
	}
}
