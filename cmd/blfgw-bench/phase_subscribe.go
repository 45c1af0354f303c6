package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// subStep is one rate step of the SUBSCRIBE phase.
type subStep struct {
	target    int
	procs     int
	calls     int
	res       sippResult
	achieved  float64 // successful calls per second of wall time
	gwRate    float64 // subscriptions/s at the gateway, 5% to 95% of the step
	wall      time.Duration
	gwCPU     time.Duration
	sippCPU   time.Duration
	maxSipp   float64 // busiest SIPp process, in cores
	machine   float64 // busy cores of the whole machine
	others    float64 // cores used by processes we did not start
	irq       float64 // cores in interrupt/softirq context
	udp       udpCounters
	subs      int64
	failedNtf int64
	panics    int64
	gwErrors  int
	pass      bool
	sippBound bool
	retry     bool
	gc        string
	queues    string
	why       string
}

// rate is the achieved rate: at the gateway when sampled, else over the
// whole SIPp run.
func (st *subStep) rate() float64 {
	if st.gwRate > 0 {
		return st.gwRate
	}
	return st.achieved
}

type subResult struct {
	steps []subStep
	best  *subStep
}

// phaseSubscribe measures new SUBSCRIBE/s without failures: every call is
// SUBSCRIBE -> 200 -> NOTIFY -> 200 by a new watcher, at stepped rates,
// each step on a fresh gateway.
func (b *bench) phaseSubscribe(ctx context.Context) error {
	res := &subResult{}
	b.sub = res
	exts := extRange(1000, 1000)
	for _, rate := range b.sz.subRates {
		st, err := b.subscribeStep(ctx, rate, exts)
		if err != nil {
			return err
		}
		b.printSubStep(st)
		if !st.pass && ctx.Err() == nil {
			// The machine is shared: retry a failed step once before
			// calling it the limit.
			fmt.Printf("   retrying %d/s once on a fresh gateway\n", rate)
			res.steps = append(res.steps, st)
			st, err = b.subscribeStep(ctx, rate, exts)
			if err != nil {
				return err
			}
			st.retry = true
			b.printSubStep(st)
			if st.pass {
				b.note("SUBSCRIBE %d/s failed once and passed on a retry", rate)
			}
		}
		res.steps = append(res.steps, st)
		if !st.pass {
			break
		}
		res.best = &res.steps[len(res.steps)-1]
	}
	if res.best != nil {
		fmt.Printf("new SUBSCRIBE/s without failures: %.0f (step target %d/s; %s) (target >= 6000, Kamailio 5.6 ~3000)%s\n",
			res.best.rate(), res.best.target, res.best.res.latency(), boundNote(res.best))
	} else {
		fmt.Printf("new SUBSCRIBE/s without failures: none of the steps passed (lowest %d/s)\n", b.sz.subRates[0])
	}
	return nil
}

func boundNote(st *subStep) string {
	if st.sippBound {
		return " [SIPp-bound]"
	}
	return ""
}

func (b *bench) subscribeStep(ctx context.Context, rate int, exts []string) (subStep, error) {
	st := subStep{target: rate}
	g, err := b.startGateway(ctx, fmt.Sprintf("subscribe-%d", rate), exts)
	if err != nil {
		return st, err
	}
	defer func() {
		if msg := g.stop(); msg != "" {
			b.note("subscribe %d/s: %s", rate, msg)
		}
	}()
	csv := filepath.Join(g.dir, "exts.csv")
	if err := writeCSV(csv, "SEQUENTIAL", exts); err != nil {
		return st, err
	}
	st.procs = (rate + b.sz.perProc - 1) / b.sz.perProc
	st.calls = int(float64(rate) * b.sz.subStep.Seconds())
	h0, err := g.mustHealth(ctx)
	if err != nil {
		return st, err
	}
	cpu0, sys0, udp0 := g.cpu(), readSysCPU(), readUDP()

	var runs []*sippRun
	t0 := time.Now()
	for i := 0; i < st.procs; i++ {
		calls := st.calls / st.procs
		if i < st.calls%st.procs {
			calls++
		}
		r, err := b.startSipp(g, sippSpec{
			name: fmt.Sprintf("w%d", i), scenario: "watcher.xml", inf: csv,
			set:  map[string]string{"stay": "0"},
			aa:   true,
			rate: float64(rate) / float64(st.procs), calls: calls,
			limit: max(500, 3*rate/st.procs),
		})
		if err != nil {
			for _, r := range runs {
				r.stopNow()
			}
			return st, err
		}
		runs = append(runs, r)
	}
	// Sample the gateway's subscription count while SIPp runs: the
	// gateway-side rate is taken between 5% and 95% of the step's
	// subscriptions, free of SIPp's start-up and the last calls' tail.
	samples := []sample{{t0, h0.Subscriptions}}
	qw := newQueueWatch(g.sipPort, runs)
	limit := b.sz.subStep + 40*time.Second
	var timedOut bool
	for {
		running := false
		for _, r := range runs {
			if !r.proc.exited() {
				running = true
			} else if r.ended.IsZero() {
				r.ended = time.Now()
			}
		}
		if !running || ctx.Err() != nil {
			break
		}
		if time.Since(t0) > limit {
			timedOut = true
			break
		}
		if h, err := g.health(ctx); err == nil {
			samples = append(samples, sample{h.at, h.Subscriptions})
		}
		qw.sample()
		time.Sleep(100 * time.Millisecond)
	}
	for _, r := range runs {
		r.wait(ctx, time.Second)
	}
	if ctx.Err() != nil {
		return st, ctx.Err()
	}
	t1 := time.Now()
	st.wall = t1.Sub(t0)
	if h, err := g.health(ctx); err == nil {
		samples = append(samples, sample{h.at, h.Subscriptions})
	}
	st.gwRate, _ = ratesBetween(samples, 0.05, 0.95)
	var sippCPU time.Duration
	for _, r := range runs {
		rr, err := r.result()
		if err != nil {
			return st, err
		}
		st.res.add(rr)
		sippCPU += rr.cpu
		st.maxSipp = max(st.maxSipp, rr.cpu.Seconds()/rr.wall.Seconds())
	}
	st.sippCPU = sippCPU
	gwCPU := g.cpu() - cpu0
	sys1, udp1 := readSysCPU(), readUDP()
	st.gwCPU = gwCPU
	st.machine = sys0.coresUntil(sys1)
	st.irq = sys0.irqCoresUntil(sys1)
	st.others = otherLoad(sys0, sys1, gwCPU+sippCPU, st.wall)
	st.udp = udp1.sub(udp0)
	st.achieved = float64(st.res.ok) / st.wall.Seconds()

	h1, settled, err := g.waitSettled(ctx, -1, 15*time.Second)
	if err != nil {
		return st, err
	}
	st.gc = g.gcSummary(t0, time.Now())
	st.queues = qw.String()
	st.subs = h1.Subscriptions - h0.Subscriptions
	st.failedNtf = h1.NotifyFailed - h0.NotifyFailed
	st.panics = h1.SIPPanics - h0.SIPPanics
	st.gwErrors, _ = g.logErrors()

	var why []string
	if timedOut {
		why = append(why, "SIPp did not finish in time")
	}
	if f := st.res.failures(); f != "" {
		why = append(why, f)
	}
	if st.res.ok < int64(st.calls) {
		why = append(why, fmt.Sprintf("%d of %d calls succeeded", st.res.ok, st.calls))
	}
	if st.failedNtf > 0 {
		why = append(why, fmt.Sprintf("notify_failed +%d", st.failedNtf))
	}
	if st.panics > 0 {
		why = append(why, fmt.Sprintf("sip_panics +%d", st.panics))
	}
	if !settled {
		why = append(why, fmt.Sprintf("gateway did not settle (%d NOTIFYs pending)", h1.pending()))
	}
	// SIPp keeps offering calls whatever the gateway does; a step where
	// the gateway fell behind is not a rate it sustains.
	if st.rate() < 0.9*float64(rate) {
		why = append(why, fmt.Sprintf("gateway fell behind: %.0f/s accepted of %d/s offered", st.rate(), rate))
	}
	st.why = strings.Join(why, "; ")
	st.pass = st.why == ""
	// One SIPp process is single-threaded: near a full core it is the
	// limit, not the gateway.
	st.sippBound = st.maxSipp >= 0.85 && st.rate() < 0.97*float64(rate)
	return st, nil
}

func (b *bench) printSubStep(st subStep) {
	verdict := "ok"
	if !st.pass {
		verdict = "FAILED: " + st.why
	}
	again := ""
	if st.retry {
		again = " (retry)"
	}
	fmt.Printf("   target %5d/s x %s%s (%d SIPp): achieved %6.0f/s at the gateway (%.0f/s over SIPp's whole run), %d/%d calls ok, %d retransmissions, gateway %d new subscriptions; %s\n",
		st.target, b.sz.subStep, again, st.procs, st.gwRate, st.achieved, st.res.ok, st.calls, st.res.retrans, st.subs, verdict)
	perOp := 0.0
	if st.res.ok > 0 {
		perOp = float64(st.gwCPU.Microseconds()) / float64(st.res.ok)
	}
	fmt.Printf("      CPU: gateway %.2fs (%.2f cores, %.0f us/subscription), SIPp %.2fs (busiest process %.0f%% of a core), machine %.2f of %d cores busy (softirq %.2f, other processes %.2f); %s\n",
		st.gwCPU.Seconds(), st.gwCPU.Seconds()/st.wall.Seconds(), perOp, st.sippCPU.Seconds(), 100*st.maxSipp,
		st.machine, numCPU(), st.irq, max(st.others, 0), st.udp)
	if l := st.res.latency(); l != "" {
		fmt.Printf("      %s; gateway GC: %s; %s\n", l, st.gc, st.queues)
	}
	if st.sippBound {
		fmt.Printf("      SIPp-bound: achieved %.0f/s at target %d/s with the busiest SIPp at %.0f%% CPU\n", st.rate(), st.target, 100*st.maxSipp)
	}
	if st.gwErrors > 0 {
		fmt.Printf("      gateway logged %d ERROR lines\n", st.gwErrors)
	}
}
