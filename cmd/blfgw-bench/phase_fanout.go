package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// fanRound is one PUBLISH fanned out to every watcher of one extension.
type fanRound struct {
	state      state
	publishRTT time.Duration // PUBLISH -> 200
	gateway    time.Duration // PUBLISH sent -> notify_ok risen by N (healthz)
	watcher    time.Duration // PUBLISH sent -> last watcher got the NOTIFY (SIPp log)
	watchers   int           // watchers that logged the NOTIFY
	delivered  int64         // notify_ok delta
	failed     int64         // notify_failed delta
	complete   bool
	gwCPU      time.Duration
	sippCPU    time.Duration // watcher SIPps
	machine    float64       // busy cores
	polls      int
	gc         string
	queues     string
}

type fanResult struct {
	n      int
	setup  string // problems while subscribing the watchers
	rounds []fanRound
}

// median of the complete rounds' gateway times.
func (f fanResult) median() (time.Duration, time.Duration, bool) {
	var g, w []time.Duration
	for _, r := range f.rounds {
		if r.complete {
			g = append(g, r.gateway)
			if r.watcher > 0 {
				w = append(w, r.watcher)
			}
		}
	}
	if len(g) == 0 {
		return 0, 0, false
	}
	slices.Sort(g)
	slices.Sort(w)
	var wm time.Duration
	if len(w) > 0 {
		wm = w[len(w)/2]
	}
	return g[len(g)/2], wm, len(g) == len(f.rounds)
}

// phaseFanout subscribes N watchers to one extension and times one PUBLISH
// until every watcher's NOTIFY was answered, for each N.
func (b *bench) phaseFanout(ctx context.Context) error {
	exts := extRange(1000, len(b.sz.fanout))
	g, err := b.startGateway(ctx, "fanout", exts)
	if err != nil {
		return err
	}
	defer func() {
		if msg := g.stop(); msg != "" {
			b.note("fanout: %s", msg)
		}
	}()
	for i, n := range b.sz.fanout {
		fr, err := b.fanoutOne(ctx, g, exts[i], n)
		if err != nil {
			return err
		}
		b.fan = append(b.fan, fr)
		gm, wm, all := fr.median()
		switch {
		case len(fr.rounds) == 0:
			fmt.Printf("fan-out of one PUBLISH to %d watchers: not measured (%s)\n", n, fr.setup)
		case gm == 0:
			fmt.Printf("fan-out of one PUBLISH to %d watchers: INCOMPLETE (no round reached all %d watchers)\n", n, n)
		default:
			extra := ""
			if !all {
				extra = " (some rounds incomplete)"
			}
			fmt.Printf("fan-out of one PUBLISH to %d watchers: %s median of %d (watcher view %s)%s (%s)\n",
				n, ms(gm), len(fr.rounds), ms(wm), extra, fanTarget(n))
		}
	}
	return nil
}

func fanTarget(n int) string {
	switch n {
	case 1000:
		return "Kamailio 5.6 195 ms"
	case 10000:
		return "target <= 500 ms, Kamailio 5.6 4.7 s"
	}
	return "no reference figure for this size"
}

func (b *bench) fanoutOne(ctx context.Context, g *gateway, ext string, n int) (fanResult, error) {
	fr := fanResult{n: n}
	csv := filepath.Join(g.dir, "fan-"+ext+".csv")
	if err := writeCSV(csv, "SEQUENTIAL", []string{ext}); err != nil {
		return fr, err
	}
	h0, err := g.mustHealth(ctx)
	if err != nil {
		return fr, err
	}
	procsN := (n + 4999) / 5000
	var runs []*sippRun
	defer func() {
		for _, r := range runs {
			r.stopNow()
		}
	}()
	t0 := time.Now()
	for i := 0; i < procsN; i++ {
		calls := n / procsN
		if i < n%procsN {
			calls++
		}
		r, err := b.startSipp(g, sippSpec{
			name: fmt.Sprintf("fan%s-%d", ext, i), scenario: "watcher.xml", inf: csv,
			set:  map[string]string{"stay": "1"},
			rate: float64(b.sz.fanRate) / float64(procsN), calls: calls, limit: calls + 10,
			logs: true,
		})
		if err != nil {
			return fr, err
		}
		runs = append(runs, r)
	}
	setupLimit := time.Duration(float64(n)/float64(b.sz.fanRate)*3*float64(time.Second)) + 30*time.Second
	h, settled, err := g.waitSettled(ctx, h0.Subscriptions+int64(n), setupLimit)
	if err != nil {
		return fr, err
	}
	fmt.Printf("   %d watchers of %s subscribed in %s (%d SIPp)\n", h.Subscriptions-h0.Subscriptions, ext, time.Since(t0).Round(time.Millisecond), procsN)
	if !settled {
		var agg sippResult
		for _, r := range runs {
			if rr, err := r.result(); err == nil {
				agg.add(rr)
			}
		}
		fr.setup = fmt.Sprintf("only %d of %d subscriptions, %d NOTIFYs pending; SIPp: %s",
			h.Subscriptions-h0.Subscriptions, n, h.pending(), agg.failures())
		fmt.Printf("   setup of %d watchers incomplete: %s\n", n, fr.setup)
		if h.Subscriptions-h0.Subscriptions < int64(n) {
			return fr, nil
		}
	}
	// Let the 200s of the initial NOTIFYs and any retransmission settle.
	if err := sleepCtx(ctx, time.Second); err != nil {
		return fr, err
	}

	pub, err := newPublisher(g.sipPort)
	if err != nil {
		return fr, err
	}
	defer pub.close()
	offsets := make([]int64, len(runs))
	for i, r := range runs {
		_, offsets[i], _ = readWatcherLog(r.logF, 0)
	}
	for _, st := range []state{stRinging, stBusy, stIdle} {
		rd, err := b.fanRound(ctx, g, pub, runs, offsets, ext, n, st)
		if err != nil {
			return fr, err
		}
		fr.rounds = append(fr.rounds, rd)
		status := "complete"
		if !rd.complete {
			status = fmt.Sprintf("INCOMPLETE: notify_ok +%d, notify_failed +%d of %d", rd.delivered, rd.failed, n)
		}
		perNotify := 0.0
		if rd.delivered > 0 {
			perNotify = float64(rd.gwCPU.Microseconds()) / float64(rd.delivered)
		}
		fmt.Printf("   %5d watchers, PUBLISH %-7s: all NOTIFYs answered after %s (healthz, %d polls), last watcher got its NOTIFY at %s (%d watchers logged); PUBLISH 200 in %s; %s\n",
			n, st, ms(rd.gateway), rd.polls, ms(rd.watcher), rd.watchers, ms(rd.publishRTT), status)
		machine := "" // /proc/stat counts in 10 ms ticks
		if rd.gateway >= 100*time.Millisecond {
			machine = fmt.Sprintf(", machine %.2f of %d cores busy", rd.machine, numCPU())
		}
		fmt.Printf("      CPU while polling (10 ms ticks): gateway %.0f ms (%.0f us/NOTIFY), watcher SIPps %.0f ms%s; gateway GC: %s; %s\n",
			float64(rd.gwCPU.Microseconds())/1000, perNotify, float64(rd.sippCPU.Microseconds())/1000, machine, rd.gc, rd.queues)
		if err := sleepCtx(ctx, 700*time.Millisecond); err != nil {
			return fr, err
		}
	}
	return fr, nil
}

// fanRound sends one PUBLISH and polls /healthz until notify_ok has risen
// by n (or failures make that impossible, or 30 s pass).
func (b *bench) fanRound(ctx context.Context, g *gateway, pub *publisher, runs []*sippRun, offsets []int64, ext string, n int, st state) (fanRound, error) {
	rd := fanRound{state: st}
	h0, err := g.mustHealth(ctx)
	if err != nil {
		return rd, err
	}
	cpu0, sys0 := g.cpu(), readSysCPU()
	var scpu0 time.Duration
	for _, r := range runs {
		scpu0 += r.proc.cpu()
	}
	type pubDone struct {
		sent time.Time
		rtt  time.Duration
		err  error
	}
	done := make(chan pubDone, 1)
	go func() {
		sent, rtt, err := pub.publish(ext, st)
		done <- pubDone{sent, rtt, err}
	}()
	var sent time.Time
	var pubErr error
	pubPending := true
	deadline := time.Now().Add(30 * time.Second)
	var last health
	qw := newQueueWatch(g.sipPort, runs)
	for {
		qw.sample()
		h, err := g.health(ctx)
		if err == nil {
			rd.polls++
			last = h
			if h.NotifyOK-h0.NotifyOK >= int64(n) {
				break
			}
			if h.NotifyOK-h0.NotifyOK+h.NotifyFailed-h0.NotifyFailed >= int64(n) && h.pending() == 0 {
				break
			}
		} else if ctx.Err() != nil {
			return rd, ctx.Err()
		}
		if pubPending {
			select {
			case d := <-done:
				pubPending = false
				sent, rd.publishRTT, pubErr = d.sent, d.rtt, d.err
				if pubErr != nil {
					return rd, fmt.Errorf("fan-out PUBLISH %s: %w", st, pubErr)
				}
			default:
			}
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	if pubPending {
		d := <-done
		sent, rd.publishRTT, pubErr = d.sent, d.rtt, d.err
		if pubErr != nil {
			return rd, fmt.Errorf("fan-out PUBLISH %s: %w", st, pubErr)
		}
	}
	rd.gwCPU = g.cpu() - cpu0
	rd.machine = sys0.coresUntil(readSysCPU())
	rd.gc = g.gcSummary(sent, time.Now())
	rd.queues = qw.String()
	for _, r := range runs {
		rd.sippCPU += r.proc.cpu()
	}
	rd.sippCPU -= scpu0
	rd.delivered = last.NotifyOK - h0.NotifyOK
	rd.failed = last.NotifyFailed - h0.NotifyFailed
	rd.complete = rd.delivered >= int64(n) && rd.failed == 0
	rd.gateway = last.at.Sub(sent)

	// Watcher view: the newest log line of each watcher after the PUBLISH.
	seen := map[string]time.Time{}
	wdeadline := time.Now().Add(10 * time.Second)
	for {
		for i, r := range runs {
			entries, off, err := readWatcherLog(r.logF, offsets[i])
			if err != nil {
				return rd, err
			}
			offsets[i] = off
			for _, e := range entries {
				if e.at.Before(sent.Add(-time.Millisecond)) {
					continue
				}
				seen[strconv.Itoa(i)+"/"+strconv.Itoa(e.call)] = e.at
			}
		}
		if len(seen) >= n || time.Now().After(wdeadline) || !rd.complete {
			break
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return rd, err
		}
	}
	rd.watchers = len(seen)
	var lastAt time.Time
	for _, t := range seen {
		if t.After(lastAt) {
			lastAt = t
		}
	}
	if !lastAt.IsZero() {
		rd.watcher = lastAt.Sub(sent)
	}
	return rd, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
