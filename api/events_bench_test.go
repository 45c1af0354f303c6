package api_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/blfgw/blfgw/api"
	"github.com/blfgw/blfgw/presence"
	"github.com/blfgw/blfgw/store"
)

// BenchmarkEventsFanOut: 1,000 users each have the HUD open (one event
// stream over real loopback HTTP, each listing the first 200 colleagues,
// as a user with no list of their own sees them). One op is one colleague's
// call starting or ending, delivered to every stream; it reports the delay
// to the last stream and the heap per open stream.
func BenchmarkEventsFanOut(b *testing.B) {
	const users = 1000
	ctx := b.Context()
	db, err := store.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var ppl []presence.Person
	var exts []store.Extension
	pw := map[string]string{}
	for i := range users {
		n := strconv.Itoa(2000 + i)
		ppl = append(ppl, presence.Person{Number: n, Name: "User " + n, Role: presence.RoleUser})
		exts = append(exts, store.Extension{Number: n, Name: "User " + n, Role: "user"})
		pw[n] = "pw-" + n
	}
	if err := db.SyncDirectory(ctx, nil, exts); err != nil {
		b.Fatal(err)
	}
	hub := presence.NewHub()
	set := presence.NewSettings(hub, settingsStore{db})
	var seeds []presence.Seed
	for _, p := range ppl {
		seeds = append(seeds, presence.Seed{Person: p})
	}
	everyone := presence.PolicyOptions{Block: presence.BlockPolite, Default: presence.Sharing{Share: true, With: presence.ShareWith{Everyone: true}}}
	if err := set.Load(ctx, nil, seeds, everyone); err != nil {
		b.Fatal(err)
	}
	srv, err := api.New(api.Options{
		Addr: "127.0.0.1:0", Settings: set, Hub: hub,
		Password:   func(n string) (string, bool) { p, ok := pw[n]; return p, ok },
		Log:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		EventsPing: time.Hour, MaxStreams: users,
	})
	if err != nil {
		b.Fatal(err)
	}
	rctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- srv.Run(rctx) }()
	defer func() { stop(); <-ran }()

	tr := &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: users}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	// Each stream reports the newest state it has seen of the colleague
	// who changes; the benchmark waits for all of them.
	type seen struct {
		mu   sync.Mutex
		cond *sync.Cond
		n    map[string]int // lamp -> streams showing it
	}
	st := &seen{n: map[string]int{}}
	st.cond = sync.NewCond(&st.mu)
	const target = "2000"
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var wg sync.WaitGroup
	defer wg.Wait()
	sctx, cancelStreams := context.WithCancel(context.Background())
	defer cancelStreams()
	for _, p := range ppl {
		req, _ := http.NewRequestWithContext(sctx, "GET", "http://"+srv.Addr()+"/api/v1/events", nil)
		req.SetBasicAuth(p.Number, pw[p.Number])
		res, err := client.Do(req)
		if err != nil || res.StatusCode != 200 {
			b.Fatalf("stream of %s: %v %v", p.Number, err, res)
		}
		wg.Go(func() {
			defer res.Body.Close()
			sc := bufio.NewScanner(res.Body)
			sc.Buffer(make([]byte, 4<<10), 1<<20)
			prefix := []byte(`data: {"number":"` + target + `"`)
			last := ""
			for sc.Scan() {
				line := sc.Bytes()
				if !bytes.HasPrefix(line, prefix) {
					continue
				}
				lamp := "idle"
				if bytes.Contains(line, []byte(`"lamp":"busy"`)) {
					lamp = "busy"
				}
				st.mu.Lock()
				if last != "" {
					st.n[last]--
				}
				st.n[lamp]++
				last = lamp
				st.mu.Unlock()
				st.cond.Broadcast()
			}
		})
	}
	wait := func(lamp string) {
		st.mu.Lock()
		defer st.mu.Unlock()
		for st.n[lamp] < users {
			st.cond.Wait()
		}
	}
	wait("idle")
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)

	var lags []time.Duration
	b.ResetTimer()
	for i := range b.N {
		lamp, dialogs := "busy", []presence.Dialog{{ID: "c" + strconv.Itoa(i), State: presence.Confirmed}}
		if i%2 == 1 {
			lamp, dialogs = "idle", nil
		}
		start := time.Now()
		hub.SetDialogs(target, presence.SourceSIP, dialogs)
		wait(lamp)
		lags = append(lags, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lags)
	b.ReportMetric(float64(lags[len(lags)/2].Microseconds())/1000, "ms-p50-to-all")
	b.ReportMetric(float64(lags[len(lags)*99/100].Microseconds())/1000, "ms-p99-to-all")
	b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/users/1024, "KB-heap/stream")
	b.Logf("%d streams of 200 colleagues; %s", users, fmt.Sprint(len(lags), " changes"))
	cancelStreams()
}
