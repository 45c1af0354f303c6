package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

type memResult struct {
	subs             int64
	idle             int64 // VmRSS before any subscription
	after, afterHWM  int64 // right after the burst settled
	settled          int64 // after Timer J (0 when not measured)
	settledAfter     time.Duration
	end              int64 // the last sample, after Go's forced GC
	live, liveIdle   int64 // Go live heap at the last GC, and when idle
	endAfter         time.Duration
	burst            time.Duration
	res              sippResult
	gwCPU            time.Duration
	failedNtf        int64
	panics, gwErrors int64
}

// phaseMemory measures the gateway's resident memory with many active
// subscriptions spread over many extensions and watchers.
func (b *bench) phaseMemory(ctx context.Context) error {
	exts := extRange(1000, b.sz.memExts)
	// The GC trace shows the live heap next to RSS (GC slack and pages
	// not yet returned to the kernel are in RSS, not in the live heap).
	g, err := b.startGateway(ctx, "memory", exts)
	if err != nil {
		return err
	}
	defer func() {
		if msg := g.stop(); msg != "" {
			b.note("memory: %s", msg)
		}
	}()
	m := &memResult{}
	b.mem = m
	csv := filepath.Join(g.dir, "exts.csv")
	if err := writeCSV(csv, "SEQUENTIAL", exts); err != nil {
		return err
	}
	// Idle: after start-up work (config sync, first GC cycles) is done.
	if err := sleepCtx(ctx, 3*time.Second); err != nil {
		return err
	}
	m.idle, _ = g.mem()
	idleLive := int64(0)
	if t := g.gcTraces(); len(t) > 0 {
		idleLive = t[len(t)-1].live
	}
	idleHeap := "no GC has run yet: Go heap under 4 MB"
	if idleLive > 0 {
		idleHeap = fmt.Sprintf("Go live heap %.0f MB at the last GC", mb(idleLive))
	}
	fmt.Printf("   idle gateway with %d extensions: VmRSS %.1f MB (%s)\n", len(exts), mb(m.idle), idleHeap)
	h0, err := g.mustHealth(ctx)
	if err != nil {
		return err
	}
	cpu0 := g.cpu()

	procsN := (b.sz.memRate + b.sz.perProc - 1) / b.sz.perProc
	var runs []*sippRun
	t0 := time.Now()
	for i := 0; i < procsN; i++ {
		calls := b.sz.memSubs / procsN
		if i < b.sz.memSubs%procsN {
			calls++
		}
		r, err := b.startSipp(g, sippSpec{
			name: fmt.Sprintf("m%d", i), scenario: "watcher.xml", inf: csv,
			set:  map[string]string{"stay": "0"},
			aa:   true,
			rate: float64(b.sz.memRate) / float64(procsN), calls: calls,
			limit: max(500, 3*b.sz.memRate/procsN),
		})
		if err != nil {
			for _, r := range runs {
				r.stopNow()
			}
			return err
		}
		runs = append(runs, r)
	}
	limit := time.Duration(float64(b.sz.memSubs)/float64(b.sz.memRate)*float64(time.Second)) + 120*time.Second
	for _, r := range runs {
		r.wait(ctx, limit-time.Since(t0))
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	tEnd := time.Now()
	m.burst = tEnd.Sub(t0)
	for _, r := range runs {
		rr, err := r.result()
		if err != nil {
			return err
		}
		m.res.add(rr)
	}
	h, _, err := g.waitSettled(ctx, -1, 20*time.Second)
	if err != nil {
		return err
	}
	m.gwCPU = g.cpu() - cpu0
	m.subs = h.Subscriptions - h0.Subscriptions
	m.failedNtf = h.NotifyFailed - h0.NotifyFailed
	m.panics = h.SIPPanics - h0.SIPPanics
	m.after, m.afterHWM = g.mem()
	fmt.Printf("   %d subscriptions over %d extensions built in %s (%.0f/s, %d SIPp); %s; gateway CPU %.1fs (%.0f us/subscription)\n",
		m.subs, len(exts), m.burst.Round(time.Millisecond), float64(m.res.ok)/m.burst.Seconds(), procsN, orOK(m.res.failures()),
		m.gwCPU.Seconds(), float64(m.gwCPU.Microseconds())/float64(max(m.subs, 1)))
	if l := m.res.latency(); l != "" {
		fmt.Printf("      %s; gateway GC: %s\n", l, g.gcSummary(t0, time.Now()))
	}
	fmt.Printf("   right after the burst: VmRSS %.1f MB (+%.1f MB over idle, %.2f KB/subscription), peak VmHWM %.1f MB\n",
		mb(m.after), mb(m.after-m.idle), perSubKB(m.after-m.idle, m.subs), mb(m.afterHWM))

	if b.sz.memSettle {
		// Timer J frees the burst's server transactions after 32 s, but
		// an idle Go process only collects garbage when forced (every
		// 2 minutes) and returns freed pages to the kernel gradually, so
		// RSS is sampled until well after that.
		fmt.Printf("   sampling VmRSS every 5 s for %s (Timer J 32 s; Go forces a GC every 2 min when idle)...\n", b.sz.memWait)
		var curve []string
		for next := 5 * time.Second; next <= b.sz.memWait; next += 5 * time.Second {
			if err := sleepCtx(ctx, next-time.Since(tEnd)); err != nil {
				return err
			}
			rss, _ := g.mem()
			if m.settled == 0 && time.Since(tEnd) >= b.opt.settle {
				m.settled = rss
				m.settledAfter = time.Since(tEnd)
			}
			m.end, m.endAfter = rss, time.Since(tEnd)
			curve = append(curve, fmt.Sprintf("%.0f", mb(rss)))
		}
		hs, err := g.mustHealth(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("   VmRSS MB every 5 s after the burst: %s\n", strings.Join(curve, " "))
		fmt.Printf("   Timer J expired (%s after the burst): VmRSS %.1f MB (+%.1f MB over idle, %.2f KB/subscription)\n",
			m.settledAfter.Round(time.Second), mb(m.settled), mb(m.settled-m.idle), perSubKB(m.settled-m.idle, m.subs))
		fmt.Printf("   settled (%s after the burst, %d subscriptions still active): VmRSS %.1f MB (+%.1f MB over idle, %.2f KB/subscription)\n",
			m.endAfter.Round(time.Second), hs.Subscriptions, mb(m.end), mb(m.end-m.idle), perSubKB(m.end-m.idle, m.subs))
	}
	if t := g.gcTraces(); len(t) > 0 {
		last := t[len(t)-1]
		m.live, m.liveIdle = last.live, idleLive
		fmt.Printf("   Go heap at the last GC (#%d, %s after start%s): %.0f MB live (+%.0f MB over idle, %.2f KB/subscription), %.0f MB goal, %.0f MB goroutine stacks\n",
			last.n, last.at.Round(time.Second), map[bool]string{true: ", forced", false: ""}[last.forced],
			mb(last.live), mb(last.live-idleLive), perSubKB(last.live-idleLive, m.subs), mb(last.goal), mb(last.stacks))
	}
	n, _ := g.logErrors()
	m.gwErrors = int64(n)

	final, finalAt := m.final()
	live := ""
	if m.live > 0 {
		live = fmt.Sprintf("; Go live heap +%.0f MB, %.2f KB/subscription", mb(m.live-m.liveIdle), perSubKB(m.live-m.liveIdle, m.subs))
	}
	if m.end > 0 {
		finalAt += fmt.Sprintf("; right after the burst +%.1f MB", mb(m.after-m.idle))
	}
	fmt.Printf("memory with %d active subscriptions: +%.1f MB RSS over idle (%.2f KB/subscription, %s%s) (target <= 200 MB for 100000, Kamailio 5.6 ~5.3 KB/subscription)\n",
		m.subs, mb(final-m.idle), perSubKB(final-m.idle, m.subs), finalAt, live)
	return nil
}

// final is the figure reported: the last sample after Timer J and Go's
// forced GC, if measured.
func (m *memResult) final() (int64, string) {
	if m.end > 0 {
		return m.end, fmt.Sprintf("settled, %s after the burst", m.endAfter.Round(time.Second))
	}
	return m.after, "right after the burst"
}

func perSubKB(bytes, subs int64) float64 {
	if subs <= 0 {
		return 0
	}
	return float64(bytes) / 1024 / float64(subs)
}

func orOK(s string) string {
	if s == "" {
		return "no failed calls"
	}
	return s
}
