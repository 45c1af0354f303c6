// Package work schedules the bridges' writes to their cloud: each user
// is written by one worker at a time, from their newest state, again when
// a retry or a refresh falls due; and it holds the back-off both bridges
// use. Teams and Genesys differ in what they write, not in when.
package work

import (
	"context"
	"iter"
	"math/rand/v2"
	"sync"
	"time"
)

// Slot is one item's place in the schedule. Embed it in the item and
// guard it with the owner's mutex.
type Slot struct {
	Dirty bool      // its state changed: write it
	Busy  bool      // a worker is writing it
	Next  time.Time // write it again then (a retry, a refresh); zero: no need
}

// Due marks the items to write now busy and returns them, with when the
// next one falls due. Call it with the owner's mutex held.
func Due[T any](items iter.Seq[T], slot func(T) *Slot, now time.Time) ([]T, time.Time) {
	next := now.Add(time.Hour)
	var due []T
	for it := range items {
		s := slot(it)
		switch {
		case s.Busy:
		case s.Dirty || (!s.Next.IsZero() && !now.Before(s.Next)):
			s.Busy, s.Dirty = true, false
			due = append(due, it)
		case !s.Next.IsZero() && s.Next.Before(next):
			next = s.Next
		}
	}
	return due, next
}

// Loop hands what due returns to at most workers goroutines running write,
// and looks again when woken, when the next item falls due, or when a
// write ends (write must wake it, or set Next, for what it leaves
// undone). On the way out the items not started are given to release,
// and Loop waits for the writes in flight.
func Loop[T any](ctx context.Context, workers int, wake <-chan struct{}, due func(time.Time) ([]T, time.Time), release func([]T), write func(context.Context, T)) {
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		items, next := due(now)
		for i, it := range items {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				release(items[i:])
				return
			}
			wg.Go(func() {
				defer func() { <-sem }()
				write(ctx, it)
			})
		}
		timer.Reset(max(next.Sub(now), 10*time.Millisecond))
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-timer.C:
		}
	}
}

// Jitter spreads d over [d/2, d], so retries of many users do not land
// together.
func Jitter(d time.Duration) time.Duration { return d/2 + rand.N(d/2+1) }

// Backoff is exponential from 1 s to 5 min after failures in a row, with
// jitter.
func Backoff(failures int) time.Duration {
	return Jitter(min(time.Second<<min(max(failures, 1)-1, 9), 5*time.Minute))
}
