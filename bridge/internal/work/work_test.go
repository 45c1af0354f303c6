package work

import (
	"context"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"
)

type item struct {
	Slot
	name string
}

// TestDue: dirty items and those whose time came are handed out once
// (busy until released); the earliest later one says when to look again.
func TestDue(t *testing.T) {
	now := time.Now()
	items := map[string]*item{
		"dirty": {Slot: Slot{Dirty: true}}, "due": {Slot: Slot{Next: now.Add(-time.Second)}},
		"later": {Slot: Slot{Next: now.Add(time.Minute)}}, "busy": {Slot: Slot{Dirty: true, Busy: true}}, "idle": {},
	}
	for n, it := range items {
		it.name = n
	}
	slot := func(it *item) *Slot { return &it.Slot }
	due, next := Due(maps.Values(items), slot, now)
	var names []string
	for _, it := range due {
		names = append(names, it.name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"dirty", "due"}) || !next.Equal(now.Add(time.Minute)) {
		t.Fatalf("due %v next %v", names, next.Sub(now))
	}
	if again, _ := Due(maps.Values(items), slot, now); len(again) != 0 {
		t.Fatalf("handed out twice: %d", len(again))
	}
}

// TestLoop: a burst of changes to one item while it is written ends in
// one more write, never two at once; the loop stops with its context.
func TestLoop(t *testing.T) {
	var mu sync.Mutex
	it := &item{Slot: Slot{Dirty: true}}
	wake := make(chan struct{}, 1)
	poke := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	writes, inFlight, most := 0, 0, 0
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Loop(ctx, 4, wake,
			func(now time.Time) ([]*item, time.Time) {
				mu.Lock()
				defer mu.Unlock()
				return Due(slices.Values([]*item{it}), func(i *item) *Slot { return &i.Slot }, now)
			},
			func(its []*item) {},
			func(ctx context.Context, i *item) {
				mu.Lock()
				writes++
				inFlight++
				most = max(most, inFlight)
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
				mu.Lock()
				inFlight--
				i.Busy = false
				mu.Unlock()
				poke()
			})
	}()
	time.Sleep(5 * time.Millisecond)
	for range 10 {
		mu.Lock()
		it.Dirty = true
		mu.Unlock()
		poke()
	}
	time.Sleep(100 * time.Millisecond)
	cancel()
	<-done
	if writes != 2 || most != 1 {
		t.Fatalf("writes %d, at most %d at once; want 2 and 1", writes, most)
	}
}

func TestBackoff(t *testing.T) {
	for f, want := range map[int][2]time.Duration{0: {500 * time.Millisecond, time.Second}, 1: {500 * time.Millisecond, time.Second}, 3: {2 * time.Second, 4 * time.Second}, 30: {150 * time.Second, 300 * time.Second}} {
		if d := Backoff(f); d < want[0] || d > want[1] {
			t.Errorf("Backoff(%d) = %v, want in %v", f, d, want)
		}
	}
}
