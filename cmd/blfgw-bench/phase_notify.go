package main

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ntfStep is one offered-rate step of the sustained NOTIFY phase.
type ntfStep struct {
	target     int     // offered NOTIFY/s
	pubRate    float64 // PUBLISH/s offered
	pauseMS    int
	cycles     int
	publishes  int64   // PUBLISHes answered 200
	pubPerSec  float64 // achieved PUBLISH/s
	delivered  int64   // notify_ok delta over the step
	failed     int64   // notify_failed delta
	retrans    int64   // notify_retransmissions delta
	answerMS   float64 // mean NOTIFY -> 200 time at the gateway
	maxOpen    int64   // most NOTIFYs awaiting an answer at one sample
	steady     float64 // NOTIFY/s between 10% and 90% of the step's NOTIFYs
	peak       float64 // best one-second window
	idleSeen   int     // watchers that logged the final idle state
	finalIn    time.Duration
	pubRes     sippResult
	run        time.Duration
	gwCPU      time.Duration
	watchCPU   time.Duration
	maxWatcher float64 // busiest watcher SIPp, in cores
	pubCPU     float64
	machine    float64
	others     float64
	irq        float64
	udp        udpCounters
	gc         string
	queues     string
	pass       bool
	why        string
}

type notifyResult struct {
	watchers, exts int
	setup          string
	steps          []ntfStep
	best           *ntfStep
}

type sample struct {
	at time.Time
	ok int64
}

// phaseNotify drives PUBLISH state changes at increasing rates against
// many subscriptions and reports the NOTIFY rate delivered without loss.
func (b *bench) phaseNotify(ctx context.Context) error {
	sz := b.sz
	exts := extRange(1000, sz.ntfExts)
	g, err := b.startGateway(ctx, "notify", exts)
	if err != nil {
		return err
	}
	defer func() {
		if msg := g.stop(); msg != "" {
			b.note("notify: %s", msg)
		}
	}()
	res := &notifyResult{watchers: sz.ntfWatch, exts: sz.ntfExts}
	b.ntf = res
	csv := filepath.Join(g.dir, "exts.csv")
	if err := writeCSV(csv, "SEQUENTIAL", exts); err != nil {
		return err
	}
	h0, err := g.mustHealth(ctx)
	if err != nil {
		return err
	}
	var watchers []*sippRun
	defer func() {
		for _, r := range watchers {
			r.stopNow()
		}
	}()
	t0 := time.Now()
	for i := 0; i < sz.ntfProcs; i++ {
		calls := sz.ntfWatch / sz.ntfProcs
		r, err := b.startSipp(g, sippSpec{
			name: fmt.Sprintf("nw%d", i), scenario: "watcher.xml", inf: csv,
			set:  map[string]string{"stay": "1"},
			rate: float64(sz.ntfRate) / float64(sz.ntfProcs), calls: calls, limit: calls + 10,
			logs: true,
		})
		if err != nil {
			return err
		}
		watchers = append(watchers, r)
	}
	want := int64(sz.ntfWatch / sz.ntfProcs * sz.ntfProcs)
	res.watchers = int(want)
	setupLimit := time.Duration(float64(want)/float64(sz.ntfRate)*3*float64(time.Second)) + 30*time.Second
	h, settled, err := g.waitSettled(ctx, h0.Subscriptions+want, setupLimit)
	if err != nil {
		return err
	}
	got := h.Subscriptions - h0.Subscriptions
	fmt.Printf("   %d watchers over %d extensions subscribed in %s (%d SIPp watcher processes)\n",
		got, sz.ntfExts, time.Since(t0).Round(time.Millisecond), sz.ntfProcs)
	if !settled || got < want {
		res.setup = fmt.Sprintf("only %d of %d subscriptions, %d NOTIFYs pending", got, want, h.pending())
		fmt.Printf("sustained NOTIFY/s without loss: not measured (%s)\n", res.setup)
		return nil
	}
	var setupRes sippResult
	for _, r := range watchers {
		if rr, err := r.result(); err == nil {
			setupRes.add(rr)
		}
	}
	if setupRes.failed > 0 {
		b.note("notify: %d watcher calls failed during setup (%s); the gateway keeps NOTIFYing those subscriptions until they time out", setupRes.failed, setupRes.failures())
	}
	if setupRes.retrans > 0 {
		fmt.Printf("   setup: %d SUBSCRIBE retransmissions; %s\n", setupRes.retrans, setupRes.latency())
	}
	offsets := make([]int64, len(watchers))
	for i, r := range watchers {
		_, offsets[i], _ = readWatcherLog(r.logF, 0)
	}
	perExt := float64(want) / float64(sz.ntfExts)
	for _, target := range sz.ntfTargets {
		st, err := b.notifyStep(ctx, g, watchers, offsets, csv, target, perExt, int(want))
		if err != nil {
			return err
		}
		res.steps = append(res.steps, st)
		b.printNtfStep(st, int(want))
		if !st.pass {
			break
		}
		if res.best == nil || st.steady > res.best.steady {
			res.best = &res.steps[len(res.steps)-1]
		}
		if err := sleepCtx(ctx, time.Second); err != nil {
			return err
		}
	}
	if res.best != nil {
		fmt.Printf("sustained NOTIFY/s without loss: %.0f (steady; peak 1-s window %.0f; offered %d/s; %d watchers over %d extensions) (target >= 20000, Kamailio 5.6 ~7800)%s\n",
			res.best.steady, res.best.peak, res.best.target, res.watchers, res.exts, ntfBound(res.best))
	} else {
		fmt.Printf("sustained NOTIFY/s without loss: none of the steps passed\n")
	}
	return nil
}

func ntfBound(st *ntfStep) string {
	if st.maxWatcher >= 0.85 {
		return " [watcher SIPp near a full core: SIPp-bound]"
	}
	return ""
}

func (b *bench) notifyStep(ctx context.Context, g *gateway, watchers []*sippRun, offsets []int64, csv string, target int, perExt float64, nWatchers int) (ntfStep, error) {
	sz := b.sz
	st := ntfStep{target: target}
	st.pubRate = float64(target) / perExt
	st.pauseMS = int(math.Round(float64(sz.ntfExts) / st.pubRate * 1000))
	st.cycles = max(1, int(math.Round(float64(sz.ntfStep.Milliseconds())/float64(st.pauseMS)/3)))

	h0, err := g.mustHealth(ctx)
	if err != nil {
		return st, err
	}
	cpu0, sys0, udp0 := g.cpu(), readSysCPU(), readUDP()
	wcpu0 := make([]time.Duration, len(watchers))
	for i, w := range watchers {
		wcpu0[i] = w.proc.cpu()
	}
	start := time.Now()
	pub, err := b.startSipp(g, sippSpec{
		name: fmt.Sprintf("pub%d", target), scenario: "publisher.xml", inf: csv,
		set:  map[string]string{"cycles": strconv.Itoa(st.cycles), "pause_ms": strconv.Itoa(st.pauseMS)},
		rate: float64(sz.ntfExts), calls: sz.ntfExts, limit: sz.ntfExts + 10,
	})
	if err != nil {
		return st, err
	}
	// Sample notify_ok every 100 ms while the publisher runs.
	samples := []sample{{start, h0.NotifyOK}}
	qw := newQueueWatch(g.sipPort, append([]*sippRun{pub}, watchers...))
	expect := time.Duration(st.cycles*3+1)*time.Duration(st.pauseMS)*time.Millisecond + 2*time.Second
	deadline := start.Add(expect + 60*time.Second)
	for !pub.proc.exited() {
		if time.Now().After(deadline) {
			pub.stopNow()
			break
		}
		if ctx.Err() != nil {
			pub.stopNow()
			return st, ctx.Err()
		}
		if h, err := g.health(ctx); err == nil {
			samples = append(samples, sample{h.at, h.NotifyOK})
			st.maxOpen = max(st.maxOpen, h.NotifyOpen)
		}
		qw.sample()
		time.Sleep(100 * time.Millisecond)
	}
	pub.wait(ctx, time.Second)
	st.queues = qw.String()
	pubEnd := time.Now()
	st.run = pubEnd.Sub(start)
	st.pubRes, err = pub.result()
	if err != nil {
		return st, err
	}
	st.pubCPU = st.pubRes.cpu.Seconds() / st.run.Seconds()
	// Each successful publisher call made 1 + 3*cycles + 1 PUBLISHes.
	st.publishes = st.pubRes.ok * int64(3*st.cycles+2)
	st.pubPerSec = float64(st.publishes) / st.run.Seconds()

	// Every watcher must log the final idle state; wait for it and for the
	// gateway to have no NOTIFY pending.
	seen := map[string]bool{}
	vdeadline := time.Now().Add(30 * time.Second)
	for {
		for i, r := range watchers {
			entries, off, err := readWatcherLog(r.logF, offsets[i])
			if err != nil {
				return st, err
			}
			offsets[i] = off
			for _, e := range entries {
				if e.idle {
					seen[strconv.Itoa(i)+"/"+strconv.Itoa(e.call)] = true
				}
			}
		}
		h, herr := g.health(ctx)
		if herr == nil {
			samples = append(samples, sample{h.at, h.NotifyOK})
		}
		if len(seen) >= nWatchers && herr == nil && h.pending() == 0 {
			break
		}
		if time.Now().After(vdeadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ctx.Err() != nil {
		return st, ctx.Err()
	}
	st.finalIn = time.Since(pubEnd)
	st.idleSeen = len(seen)
	h1, err := g.mustHealth(ctx)
	if err != nil {
		return st, err
	}
	end := time.Now()
	st.gwCPU = g.cpu() - cpu0
	var wcpu time.Duration
	for i, w := range watchers {
		d := w.proc.cpu() - wcpu0[i]
		wcpu += d
		st.maxWatcher = max(st.maxWatcher, d.Seconds()/end.Sub(start).Seconds())
	}
	st.watchCPU = wcpu
	sys1 := readSysCPU()
	st.machine = sys0.coresUntil(sys1)
	st.irq = sys0.irqCoresUntil(sys1)
	st.others = otherLoad(sys0, sys1, st.gwCPU+wcpu+st.pubRes.cpu, end.Sub(start))
	st.udp = readUDP().sub(udp0)
	st.delivered = h1.NotifyOK - h0.NotifyOK
	st.failed = h1.NotifyFailed - h0.NotifyFailed
	st.retrans = h1.NotifyRetrans - h0.NotifyRetrans
	if n := st.delivered + st.failed; n > 0 {
		st.answerMS = float64(h1.NotifyWaitUS-h0.NotifyWaitUS) / float64(n) / 1000
	}
	samples = append(samples, sample{h1.at, h1.NotifyOK})
	st.steady, st.peak = rates(samples)
	st.gc = g.gcSummary(start, end)

	var why []string
	if st.failed > 0 {
		why = append(why, fmt.Sprintf("notify_failed +%d", st.failed))
	}
	if st.idleSeen < nWatchers {
		why = append(why, fmt.Sprintf("only %d of %d watchers got the final state", st.idleSeen, nWatchers))
	}
	if f := st.pubRes.failures(); f != "" {
		why = append(why, "publisher: "+f)
	}
	if st.pubRes.ok < int64(sz.ntfExts) {
		why = append(why, fmt.Sprintf("publisher: %d of %d calls ok", st.pubRes.ok, sz.ntfExts))
	}
	if h1.pending() != 0 {
		why = append(why, fmt.Sprintf("%d NOTIFYs still pending", h1.pending()))
	}
	if p := h1.SIPPanics - h0.SIPPanics; p > 0 {
		why = append(why, fmt.Sprintf("sip_panics +%d", p))
	}
	st.why = strings.Join(why, "; ")
	st.pass = st.why == ""
	return st, nil
}

// rates returns the rate between the moments 10% and 90% of the step's
// count had been reached, and the best one-second window.
func rates(s []sample) (steady, peak float64) {
	return ratesBetween(s, 0.10, 0.90)
}

func ratesBetween(s []sample, lo, hi float64) (steady, peak float64) {
	if len(s) < 2 {
		return 0, 0
	}
	base, total := s[0].ok, s[len(s)-1].ok-s[0].ok
	if total <= 0 {
		return 0, 0
	}
	at := func(frac float64) (time.Time, int64) {
		lim := base + int64(frac*float64(total))
		for _, x := range s {
			if x.ok >= lim {
				return x.at, x.ok
			}
		}
		return s[len(s)-1].at, s[len(s)-1].ok
	}
	t10, n10 := at(lo)
	t90, n90 := at(hi)
	if d := t90.Sub(t10).Seconds(); d > 0 {
		steady = float64(n90-n10) / d
	}
	j := 0
	for i := range s {
		for j < len(s) && s[j].at.Sub(s[i].at) < time.Second {
			j++
		}
		if j >= len(s) {
			break
		}
		d := s[j].at.Sub(s[i].at).Seconds()
		peak = max(peak, float64(s[j].ok-s[i].ok)/d)
	}
	return steady, peak
}

func (b *bench) printNtfStep(st ntfStep, nWatchers int) {
	verdict := "no loss"
	if !st.pass {
		verdict = "LOSS/FAILED: " + st.why
	}
	offered := float64(st.publishes) * float64(nWatchers) / float64(b.sz.ntfExts)
	coalesced := ""
	if float64(st.delivered) < offered {
		coalesced = ", the rest coalesced"
	}
	fmt.Printf("   offered %5d NOTIFY/s (%.0f PUBLISH/s, pause %d ms, %d PUBLISHes/extension): delivered %d NOTIFYs (%.0f%% of %.0f state changes x watchers%s), steady %.0f/s, peak %.0f/s, %.0f PUBLISH/s achieved; final idle state at %d/%d watchers %s after the last PUBLISH; %s\n",
		st.target, st.pubRate, st.pauseMS, 3*st.cycles+2, st.delivered, 100*float64(st.delivered)/max(offered, 1), offered, coalesced,
		st.steady, st.peak, st.pubPerSec, st.idleSeen, nWatchers, st.finalIn.Round(time.Millisecond), verdict)
	perOp := 0.0
	if st.delivered > 0 {
		perOp = float64(st.gwCPU.Microseconds()) / float64(st.delivered)
	}
	wall := st.run + st.finalIn
	fmt.Printf("      CPU: gateway %.2fs (%.2f cores, %.1f us/NOTIFY), watcher SIPps %.2fs (busiest %.0f%% of a core), publisher SIPp %.0f%%, machine %.2f of %d cores busy (softirq %.2f, other processes %.2f); %s\n",
		st.gwCPU.Seconds(), st.gwCPU.Seconds()/wall.Seconds(), perOp, st.watchCPU.Seconds(), 100*st.maxWatcher, 100*st.pubCPU,
		st.machine, numCPU(), st.irq, max(st.others, 0), st.udp)
	fmt.Printf("      NOTIFY -> 200 at the gateway: %.1f ms mean; up to %d unanswered at once; %d retransmissions\n", st.answerMS, st.maxOpen, st.retrans)
	fmt.Printf("      gateway GC: %s; %s\n", st.gc, st.queues)
}
