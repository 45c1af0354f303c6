package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"html"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The calls phase: the gateway as the edge proxy of an office. SIPp
// callers place calls between local extensions through it at rising rates
// while watchers of the called extensions follow their lamps:
//
//	caller SIPp (caller.xml) -- INVITE/ACK/BYE --> blfgw --> callee SIPp (callee.xml)
//	                                                 \--> NOTIFY --> watcher SIPps (lamp_watcher.xml)
//
// Extensions: callers 1xxx, callees 2xxx, and for each callee one
// delegate 3xxx (a colleague who may pick up its calls). Every callee has
// callWatch watchers: one subscribes as the delegate and sees the calls
// whole (call-id included), the others as plain BLF keys that see
// anonymous dialog ids. One callee SIPp answers every call: the harness
// registers its address as the contact of each callee.
//
// Per step: failed calls (caller and callee SIPp), the calls/s answered,
// and the delay from the 200 OK reaching the caller (it has just passed
// the proxy) to each watcher of the callee receiving the NOTIFY that shows
// that call confirmed (busy). All processes share one clock.

// callStep is one offered-rate step.
type callStep struct {
	target      int // offered calls/s
	offered     int // calls the caller SIPp was given (-m)
	caller      sippResult
	calleeOK    int64 // callee SIPp calls completed during the step
	calleeFail  int64
	answered    int     // 200s the callers logged
	rate        float64 // answered calls/s (first to last 200)
	setup       []time.Duration
	delays      []time.Duration // one per (call, watcher) busy NOTIFY
	inGC        []time.Duration // those of calls answered while the gateway's GC was marking
	outGC       []time.Duration // the others
	worst       []time.Duration // per call: its last watcher
	lampWant    int
	unmatched   int // confirmed dialogs no call could be found for
	run         time.Duration
	drain       time.Duration // from the last caller exit to the gateway quiet
	quiet       bool
	gwCPU       time.Duration
	sippCPU     time.Duration
	maxSipp     float64 // busiest SIPp, in cores
	machine     float64
	irq         float64
	others      float64
	udp         udpCounters
	ntfSent     int64
	ntfFailed   int64
	ntfRetrans  int64
	answerMS    float64
	gc          string
	queues      string
	profile     string
	heapProfile string
	rss         int64 // gateway VmRSS once the step's calls are over
	liveAfter   int64 // Go heap live after a forced GC then (-profile)
	pass        bool
	why         string
}

type callsResult struct {
	callees, watchers int
	setup             string
	steps             []callStep
	best              *callStep
}

// callPlan is the office of the calls phase.
type callPlan struct {
	callers, callees, delegates []string
	watchPer                    int
}

func newCallPlan(n, watchPer int) callPlan {
	return callPlan{
		callers:   extRange(1000, n),
		callees:   extRange(2000, n),
		delegates: extRange(3000, n),
		watchPer:  watchPer,
	}
}

// config is the TOML after the generated [[extensions]] of callers and
// delegates: edge-proxy mode for a standalone office, and the callees with
// their delegate.
func (p callPlan) config() string {
	var b strings.Builder
	b.WriteString("[proxy]\nmode = \"edge-proxy\"\nunknown_to_upstream = false\nmin_register = 60\n")
	for i, e := range p.callees {
		fmt.Fprintf(&b, "[[extensions]]\nnumber = %q\nname = \"Ext %s\"\ndepartment = \"Bench\"\npassword = \"pw\"\ndelegates = [%q]\n", e, e, p.delegates[i])
	}
	return b.String()
}

// phaseCalls places calls through the edge proxy at rising rates.
func (b *bench) phaseCalls(ctx context.Context) error {
	sz := b.sz
	plan := newCallPlan(sz.callExts, sz.callWatch)
	res := &callsResult{callees: len(plan.callees)}
	b.calls = res
	g, err := b.startGatewayWith(ctx, "calls", append(slices.Clone(plan.callers), plan.delegates...), plan.config())
	if err != nil {
		return err
	}
	defer func() {
		if msg := g.stop(); msg != "" {
			b.note("calls: %s", msg)
		}
	}()

	// The callees' phones: one SIPp, registered for every callee.
	callee, err := b.startSipp(g, sippSpec{
		name: "callee", scenario: "callee.xml",
		set:  map[string]string{"ring": strconv.Itoa(int(sz.callRing.Milliseconds()))},
		rate: 1, calls: 10_000_000, limit: 50_000,
	})
	if err != nil {
		return err
	}
	defer callee.stopNow()
	t0 := time.Now()
	for _, e := range plan.callees {
		if err := register(ctx, g.sipPort, e, callee.port); err != nil {
			return fmt.Errorf("register %s: %w", e, err)
		}
	}
	fmt.Printf("   %d callers, %d callees registered at one callee SIPp (ring %s) in %s\n",
		len(plan.callers), len(plan.callees), sz.callRing, time.Since(t0).Round(time.Millisecond))

	// The watchers: callWatch per callee, the first of them its delegate,
	// spread over callProcs SIPp processes.
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
	per := (len(plan.callees) + sz.callProcs - 1) / sz.callProcs
	var want int64
	t0 = time.Now()
	for i := 0; i < sz.callProcs; i++ {
		var lines []string
		for j := i * per; j < min((i+1)*per, len(plan.callees)); j++ {
			e := plan.callees[j]
			lines = append(lines, e+";"+plan.delegates[j])
			for k := 1; k < plan.watchPer; k++ {
				lines = append(lines, fmt.Sprintf("%s;key%s-%d", e, e, k))
			}
		}
		if len(lines) == 0 {
			continue
		}
		csv := filepath.Join(g.dir, fmt.Sprintf("watch%d.csv", i))
		if err := writeCSV(csv, "SEQUENTIAL", lines); err != nil {
			return err
		}
		r, err := b.startSipp(g, sippSpec{
			name: fmt.Sprintf("lw%d", i), scenario: "lamp_watcher.xml", inf: csv,
			set:  map[string]string{"stay": "1"},
			rate: float64(sz.callSubRate) / float64(sz.callProcs), calls: len(lines), limit: len(lines) + 10,
			logs: true,
		})
		if err != nil {
			return err
		}
		watchers = append(watchers, r)
		want += int64(len(lines))
	}
	res.watchers = int(want)
	h, settled, err := g.waitSettled(ctx, h0.Subscriptions+want, time.Duration(float64(want)/float64(sz.callSubRate)*3*float64(time.Second))+20*time.Second)
	if err != nil {
		return err
	}
	got := h.Subscriptions - h0.Subscriptions
	fmt.Printf("   %d watchers of the %d callees subscribed in %s (%d per callee: 1 delegate seeing call-ids, %d plain BLF keys; %d SIPp processes)\n",
		got, len(plan.callees), time.Since(t0).Round(time.Millisecond), plan.watchPer, plan.watchPer-1, len(watchers))
	if !settled || got < want {
		res.setup = fmt.Sprintf("only %d of %d subscriptions, %d NOTIFYs pending", got, want, h.pending())
		fmt.Printf("calls/s with no failures: not measured (%s)\n", res.setup)
		return nil
	}

	pairs := make([]string, len(plan.callers))
	for i := range pairs {
		pairs[i] = plan.callers[i] + ";" + plan.callees[i]
	}
	callCSV := filepath.Join(g.dir, "calls.csv")
	if err := writeCSV(callCSV, "SEQUENTIAL", pairs); err != nil {
		return err
	}
	lw := &lampLogs{offsets: make([]int64, len(watchers)), anon: map[string]string{}}
	for i, r := range watchers {
		// Nothing of the set-up matters: start after it.
		if st, err := os.Stat(r.logF); err == nil {
			lw.offsets[i] = st.Size()
		}
	}
	for _, target := range sz.callRates {
		st, err := b.callStep(ctx, g, callee, watchers, lw, callCSV, target, plan.watchPer)
		if err != nil {
			return err
		}
		res.steps = append(res.steps, st)
		b.printCallStep(st)
		if !st.pass {
			break
		}
		if callee.proc.exited() {
			return fmt.Errorf("callee SIPp exited: %s", tail(callee.outF, 400))
		}
	}
	res.best = res.bestWithin(-1)
	fmt.Println(callsHeadline(res))
	return nil
}

func callsHeadline(res *callsResult) string {
	if res.best == nil {
		if res.setup != "" {
			return "calls/s with no failures: not measured (" + res.setup + ")"
		}
		return "calls/s with no failures: none of the steps passed (target >= 200, p99 < 200 ms)"
	}
	st := res.best
	s := fmt.Sprintf("calls/s with no failures: %.0f (target >= 200), p99 %s (target < 200)\n   (offered %d/s; 200 OK -> busy NOTIFY p50 %s; %d watchers of %d callees",
		st.rate, msf(pct(st.delays, 0.99)), st.target, msf(pct(st.delays, 0.50)), res.watchers, res.callees)
	if k := len(res.steps); k > 0 && !res.steps[k-1].pass {
		s += fmt.Sprintf("; offered %d/s failed)", res.steps[k-1].target)
	} else {
		s += "; every step passed: raise the rates to find the limit)"
	}
	if m := res.bestWithin(200 * time.Millisecond); m == nil {
		s += "\n   no step without failures had p99 < 200 ms"
	} else if m != st {
		s += fmt.Sprintf("\n   highest rate with no failures and p99 < 200 ms: %.0f calls/s (offered %d/s), p50 %s, p99 %s",
			m.rate, m.target, msf(pct(m.delays, 0.5)), msf(pct(m.delays, 0.99)))
	}
	return s
}

// bestWithin is the passing step of the highest rate whose busy NOTIFY
// p99 is under limit (limit < 0: any p99).
func (r *callsResult) bestWithin(limit time.Duration) *callStep {
	var best *callStep
	for i := range r.steps {
		st := &r.steps[i]
		within := limit < 0 || (len(st.delays) > 0 && pct(st.delays, 0.99) < limit)
		if st.pass && within && (best == nil || st.rate > best.rate) {
			best = st
		}
	}
	return best
}

func (b *bench) callStep(ctx context.Context, g *gateway, callee *sippRun, watchers []*sippRun, lw *lampLogs, csv string, target, watchPer int) (callStep, error) {
	sz := b.sz
	st := callStep{target: target, offered: int(float64(target) * sz.callStep.Seconds())}
	h0, err := g.mustHealth(ctx)
	if err != nil {
		return st, err
	}
	ce0, _ := callee.result()
	ab0 := calleeAborts(callee)
	others := append([]*sippRun{callee}, watchers...)
	cpu0, sys0, udp0 := g.cpu(), readSysCPU(), readUDP()
	ocpu0 := make([]time.Duration, len(others))
	for i, r := range others {
		ocpu0[i] = r.proc.cpu()
	}
	start := time.Now()
	caller, err := b.startSipp(g, sippSpec{
		name: fmt.Sprintf("caller%d", target), scenario: "caller.xml", inf: csv,
		set:  map[string]string{"talk": strconv.Itoa(int(sz.callTalk.Milliseconds()))},
		rate: float64(target), calls: st.offered, limit: st.offered,
		logs: true,
	})
	if err != nil {
		return st, err
	}
	prof := make(chan string, 1)
	if b.opt.profile {
		secs := max(1, int(sz.callStep.Seconds())-1)
		go func() {
			prof <- g.pprof(ctx, fmt.Sprintf("profile?seconds=%d", secs), fmt.Sprintf("calls-%d.pprof", target), secs)
		}()
	} else {
		prof <- ""
	}
	qw := newQueueWatch(g.sipPort, append([]*sippRun{caller}, others...))
	deadline := start.Add(sz.callStep + sz.callTalk + 40*time.Second)
	for !caller.proc.exited() {
		if time.Now().After(deadline) {
			caller.stopNow()
			break
		}
		if ctx.Err() != nil {
			caller.stopNow()
			return st, ctx.Err()
		}
		qw.sample()
		time.Sleep(100 * time.Millisecond)
	}
	caller.wait(ctx, time.Second)
	st.run = time.Since(start)
	st.queues = qw.String()
	st.caller, err = caller.result()
	if err != nil {
		return st, err
	}

	// Let the gateway finish: no call left, every NOTIFY answered. The
	// callee SIPp writes its statistics every second.
	end0 := time.Now()
	var h1 health
	for {
		h1, err = g.mustHealth(ctx)
		if err != nil {
			return st, err
		}
		// (proxy_ringing and proxy_client_tx stay up for a while: an
		// INVITE client transaction outlives its 2xx, RFC 6026 Timer M.)
		if h1.CallLegs == 0 && h1.ProxyDialogs == 0 && h1.pending() == 0 {
			st.quiet = true
			break
		}
		if time.Since(end0) > 15*time.Second {
			break
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return st, err
		}
	}
	st.drain = time.Since(end0)
	end := time.Now()
	st.gwCPU = g.cpu() - cpu0
	st.sippCPU = st.caller.cpu
	st.maxSipp = st.caller.cpu.Seconds() / st.run.Seconds()
	for i, r := range others {
		d := r.proc.cpu() - ocpu0[i]
		st.sippCPU += d
		st.maxSipp = max(st.maxSipp, d.Seconds()/end.Sub(start).Seconds())
	}
	sys1 := readSysCPU()
	st.machine = sys0.coresUntil(sys1)
	st.irq = sys0.irqCoresUntil(sys1)
	st.others = otherLoad(sys0, sys1, st.gwCPU+st.sippCPU, end.Sub(start))
	st.udp = readUDP().sub(udp0)
	st.ntfSent = h1.NotifySent - h0.NotifySent
	st.ntfFailed = h1.NotifyFailed - h0.NotifyFailed
	st.ntfRetrans = h1.NotifyRetrans - h0.NotifyRetrans
	if n := (h1.NotifyOK - h0.NotifyOK) + st.ntfFailed; n > 0 {
		st.answerMS = float64(h1.NotifyWaitUS-h0.NotifyWaitUS) / float64(n) / 1000
	}
	st.gc = g.gcSummary(start, end)
	if err := sleepCtx(ctx, time.Until(end0.Add(1200*time.Millisecond))); err != nil {
		return st, err
	}
	ce1, err := callee.result()
	if err != nil {
		return st, err
	}
	st.calleeOK = ce1.ok - ce0.ok
	st.calleeFail = ce1.failed - ce0.failed
	st.profile = <-prof
	st.rss, _ = g.mem()
	if b.opt.profile {
		st.heapProfile = g.pprof(ctx, "heap?gc=1", fmt.Sprintf("calls-%d.heap", target), 0)
		if tr := g.gcTraces(); len(tr) > 0 && tr[len(tr)-1].forced {
			st.liveAfter = tr[len(tr)-1].live
		}
	}

	// Match the callers' 200s with the watchers' busy NOTIFYs.
	oks, err := readCallerLog(caller.logF)
	if err != nil {
		return st, err
	}
	st.answered = len(oks)
	var first, last time.Time
	for _, o := range oks {
		if first.IsZero() || o.at.Before(first) {
			first = o.at
		}
		last = latest(last, o.at)
		st.setup = append(st.setup, o.at.Sub(o.sent))
	}
	if d := last.Sub(first).Seconds(); len(oks) > 1 && d > 0 {
		st.rate = float64(len(oks)-1) / d
	}
	busy, unmatched, err := lw.busySince(watchers)
	if err != nil {
		return st, err
	}
	st.unmatched = unmatched
	st.lampWant = len(oks) * watchPer
	marking := g.markWindows(start, end)
	for _, o := range oks {
		var worst time.Duration
		seen := busy[o.callID]
		gc := inWindow(marking, o.at)
		for _, t := range seen {
			d := t.Sub(o.at)
			st.delays = append(st.delays, d)
			if gc {
				st.inGC = append(st.inGC, d)
			} else {
				st.outGC = append(st.outGC, d)
			}
			worst = max(worst, d)
		}
		if len(seen) == watchPer {
			st.worst = append(st.worst, worst)
		}
	}
	slices.Sort(st.delays)
	slices.Sort(st.inGC)
	slices.Sort(st.outGC)
	slices.Sort(st.worst)
	slices.Sort(st.setup)

	var why []string
	if f := st.caller.failures(); f != "" {
		why = append(why, "callers: "+f)
	}
	if st.caller.ok < int64(st.offered) {
		why = append(why, fmt.Sprintf("callers: %d of %d calls completed", st.caller.ok, st.offered))
	}
	if st.calleeFail > 0 {
		why = append(why, fmt.Sprintf("callee: %d failed calls%s", st.calleeFail, abortsSince(ab0, calleeAborts(callee))))
	}
	if st.ntfFailed > 0 {
		why = append(why, fmt.Sprintf("notify_failed +%d", st.ntfFailed))
	}
	if miss := st.lampWant - len(st.delays); miss > 0 {
		why = append(why, fmt.Sprintf("%d of %d busy NOTIFYs not seen", miss, st.lampWant))
	}
	if !st.quiet {
		why = append(why, fmt.Sprintf("gateway not quiet %s after the calls (call_legs %d, proxy_dialogs %d, %d NOTIFYs pending)",
			st.drain.Round(time.Second), h1.CallLegs, h1.ProxyDialogs, h1.pending()))
	}
	if p := h1.SIPPanics - h0.SIPPanics; p > 0 {
		why = append(why, fmt.Sprintf("sip_panics +%d", p))
	}
	st.why = strings.Join(why, "; ")
	st.pass = st.why == ""
	return st, nil
}

// window is a span of wall-clock time.
type window struct{ from, to time.Time }

// markWindows are the gateway's GC mark phases between two moments, from
// its GC trace.
func (g *gateway) markWindows(from, to time.Time) []window {
	var out []window
	for _, t := range g.gcTraces() {
		at := g.started.Add(t.at)
		if at.After(to) || at.Add(t.mark).Before(from) {
			continue
		}
		out = append(out, window{at, at.Add(t.mark)})
	}
	return out
}

func inWindow(ws []window, t time.Time) bool {
	for _, w := range ws {
		if !t.Before(w.from) && !t.After(w.to) {
			return true
		}
	}
	return false
}

// calleeAborts counts the callee SIPp's aborted calls by reason: the
// unexpected messages, and the BYEs of calls it had already aborted.
func calleeAborts(r *sippRun) map[string]int {
	out := map[string]int{}
	for k, n := range abortReasons(r.errF) {
		// "ACK sip:2013@127.0.0.1:5555;transport=UDP SIP/2.0 (CSeq: 1 ACK)":
		// one key per method and CSeq, not per extension.
		first, cseq, _ := strings.Cut(k, " (")
		if f := strings.Fields(first); len(f) > 0 && !strings.HasPrefix(first, "SIP/") {
			first = f[0]
		}
		if cseq != "" {
			first += " (" + cseq
		}
		out[first] += n
	}
	if b, err := os.ReadFile(r.errF); err == nil {
		if n := strings.Count(string(b), "Aborting call on an unexpected BYE"); n > 0 {
			out["BYE of a call aborted before"] = n
		}
	}
	return out
}

// abortsSince describes the calls SIPp aborted on an unexpected message
// between two readings of its error log, or "".
func abortsSince(before, after map[string]int) string {
	var out []string
	for k, n := range after {
		if d := n - before[k]; d > 0 {
			out = append(out, fmt.Sprintf("%dx %s", d, k))
		}
	}
	if len(out) == 0 {
		return ""
	}
	slices.Sort(out)
	return " (SIPp error log, unexpected: " + strings.Join(out, ", ") + ")"
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func (b *bench) printCallStep(st callStep) {
	verdict := "no failures"
	if !st.pass {
		verdict = "FAILED: " + st.why
	}
	fmt.Printf("   offered %3d calls/s: %d of %d calls attempted, %d answered, %d completed, %d failed; %.0f calls/s answered; %s\n",
		st.target, st.caller.created, st.offered, st.answered, st.caller.ok, st.caller.failed, st.rate, verdict)
	fmt.Printf("      200 OK -> busy NOTIFY at the watchers: p50 %s, p99 %s, max %s (%d of %d NOTIFYs; last watcher of a call: p50 %s, p99 %s); INVITE -> 200 at the caller (ring %s): p50 %s, p99 %s\n",
		msf(pct(st.delays, 0.5)), msf(pct(st.delays, 0.99)), msf(pct(st.delays, 1)), len(st.delays), st.lampWant,
		msf(pct(st.worst, 0.5)), msf(pct(st.worst, 0.99)), b.sz.callRing, msf(pct(st.setup, 0.5)), msf(pct(st.setup, 0.99)))
	perCall := 0.0
	if st.caller.ok > 0 {
		perCall = float64(st.gwCPU.Microseconds()) / float64(st.caller.ok)
	}
	wall := st.run + st.drain
	fmt.Printf("      CPU: gateway %.2fs (%.2f cores, %.0f us/call), SIPps %.2fs (busiest %.0f%% of a core), machine %.2f of %d cores busy (softirq %.2f, other processes %.2f); %s\n",
		st.gwCPU.Seconds(), st.gwCPU.Seconds()/wall.Seconds(), perCall, st.sippCPU.Seconds(), 100*st.maxSipp,
		st.machine, numCPU(), st.irq, max(st.others, 0), st.udp)
	fmt.Printf("      gateway: %d NOTIFYs sent (%d failed, %d retransmissions, %.1f ms mean to their 200); quiet %s after the last call; caller retransmissions %d; callee SIPp %d calls ok, %d failed\n",
		st.ntfSent, st.ntfFailed, st.ntfRetrans, st.answerMS, st.drain.Round(time.Millisecond), st.caller.retrans, st.calleeOK, st.calleeFail)
	live := ""
	if st.liveAfter > 0 {
		live = fmt.Sprintf(", live heap %.0f MB after a forced GC", mb(st.liveAfter))
	}
	fmt.Printf("      gateway GC: %s; RSS %.0f MB once the calls were over%s; %s\n", st.gc, mb(st.rss), live, st.queues)
	if n := len(st.inGC) + len(st.outGC); n > 0 && len(st.inGC) > 0 {
		fmt.Printf("      busy NOTIFYs of calls answered while the GC was marking (%.0f%%): p50 %s, p99 %s; the others: p50 %s, p99 %s\n",
			100*float64(len(st.inGC))/float64(n), msf(pct(st.inGC, 0.5)), msf(pct(st.inGC, 0.99)), msf(pct(st.outGC, 0.5)), msf(pct(st.outGC, 0.99)))
	}
	if st.unmatched > 0 {
		fmt.Printf("      %d confirmed dialogs of plain watchers matched no call: no delegate NOTIFY named them (if that is most of them, anonID no longer matches presence.anonymous)\n", st.unmatched)
	}
	if st.profile != "" {
		fmt.Printf("      CPU profile: go tool pprof -top %s %s\n", b.opt.bin, st.profile)
	}
	if st.heapProfile != "" {
		fmt.Printf("      heap profile after the step: go tool pprof -sample_index=inuse_space -top %s %s\n", b.opt.bin, st.heapProfile)
	}
}

// pct is the q-quantile of sorted durations (q = 1: the largest); -1 if
// there are none.
func pct(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return -1
	}
	i := int(float64(len(d))*q+0.999999) - 1
	return d[min(max(i, 0), len(d)-1)]
}

func msf(d time.Duration) string {
	if d == -1 {
		return "n/a"
	}
	return ms(d)
}

// register binds ext to the callee SIPp's address, as the phone would
// (from a trusted address, so without a digest).
func register(ctx context.Context, sipPort int, ext string, contactPort int) error {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	defer c.Close()
	gw := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sipPort}
	branch := "z9hG4bK" + randHex(8)
	local := c.LocalAddr().(*net.UDPAddr)
	var m strings.Builder
	fmt.Fprintf(&m, "REGISTER sip:pbx.bench SIP/2.0\r\n")
	fmt.Fprintf(&m, "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=%s\r\n", local.Port, branch)
	fmt.Fprintf(&m, "From: <sip:%s@pbx.bench>;tag=%s\r\nTo: <sip:%s@pbx.bench>\r\n", ext, randHex(4), ext)
	fmt.Fprintf(&m, "Call-ID: %s@blfgw-bench\r\nCSeq: 1 REGISTER\r\nMax-Forwards: 70\r\n", randHex(8))
	fmt.Fprintf(&m, "Contact: <sip:%s@127.0.0.1:%d;transport=udp>\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n", ext, contactPort)
	buf := make([]byte, 65535)
	for try := 0; try < 4; try++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if _, err := c.WriteToUDP([]byte(m.String()), gw); err != nil {
			return err
		}
		deadline := time.Now().Add(time.Second)
		for {
			_ = c.SetReadDeadline(deadline)
			n, _, err := c.ReadFromUDP(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				return err
			}
			code, _, ok := parseResponse(string(buf[:n]), branch)
			if !ok || code < 200 {
				continue
			}
			if code != 200 {
				return fmt.Errorf("REGISTER: %d", code)
			}
			return nil
		}
	}
	return errors.New("REGISTER: no response")
}

// callOK is one ok200 line of the caller log.
type callOK struct {
	callID   string
	at, sent time.Time
}

// readCallerLog reads the caller SIPp's ok200 lines.
func readCallerLog(path string) ([]callOK, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var out []callOK
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) != 4 || f[0] != "ok200" {
			continue
		}
		at, ok1 := sippTime(f[1])
		sent, ok2 := sippTime(f[2])
		if !ok1 || !ok2 {
			continue
		}
		out = append(out, callOK{callID: f[3], at: at, sent: sent})
	}
	return out, nil
}

// sippTime parses "<seconds>:<microseconds>" as SIPp prints two doubles
// (a part that is exactly 0 prints as nothing).
func sippTime(s string) (time.Time, bool) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return time.Time{}, false
	}
	num := func(x string) (float64, bool) {
		if x == "" {
			return 0, true
		}
		v, err := strconv.ParseFloat(x, 64)
		return v, err == nil
	}
	sec, ok1 := num(a)
	usec, ok2 := num(b)
	if !ok1 || !ok2 || sec <= 0 {
		return time.Time{}, false
	}
	return time.Unix(int64(sec), int64(usec)*1000), true
}

// lampLogs reads the lamp watchers' logs step by step.
type lampLogs struct {
	offsets []int64
	// anon maps the anonymous dialog id plain watchers see to the call-id
	// the delegates see with the real id.
	anon map[string]string
}

// lampNotify is one logged NOTIFY.
type lampNotify struct {
	watcher string // SIPp process and call number
	at      time.Time
	dialogs []lampDialog
}

type lampDialog struct{ id, callID, state string }

var (
	dialogRE = regexp.MustCompile(`<dialog id="([^"]*)"([^>]*)>\s*<state[^>]*>([^<]*)</state>`)
	callIDRE = regexp.MustCompile(`call-id="([^"]*)"`)
)

// anonID is the id presence.anonymous gives a dialog for watchers who may
// see the lamp but not the call.
func anonID(id string) string {
	h := fnv.New64a()
	h.Write([]byte(id))
	return "d" + strconv.FormatUint(h.Sum64(), 36)
}

// busySince reads what the watchers logged since the last call and
// returns, by Call-ID, when each watcher first saw that call confirmed.
func (lw *lampLogs) busySince(watchers []*sippRun) (map[string][]time.Time, int, error) {
	var all []lampNotify
	for i, r := range watchers {
		ns, off, err := readLampLog(r.logF, lw.offsets[i], strconv.Itoa(i))
		if err != nil {
			return nil, 0, err
		}
		lw.offsets[i] = off
		all = append(all, ns...)
	}
	for _, n := range all {
		for _, d := range n.dialogs {
			if d.callID != "" {
				lw.anon[anonID(d.id)] = d.callID
			}
		}
	}
	type key struct{ watcher, callID string }
	first := map[key]time.Time{}
	unknown := map[string]bool{}
	for _, n := range all {
		for _, d := range n.dialogs {
			if d.state != "confirmed" {
				continue
			}
			cid := d.callID
			if cid == "" {
				cid = lw.anon[d.id]
			}
			if cid == "" {
				unknown[d.id] = true
				continue
			}
			k := key{n.watcher, cid}
			if t, ok := first[k]; !ok || n.at.Before(t) {
				first[k] = n.at
			}
		}
	}
	out := map[string][]time.Time{}
	for k, t := range first {
		out[k.callID] = append(out[k.callID], t)
	}
	return out, len(unknown), nil
}

// readLampLog parses a lamp watcher's -log_file from byte offset off up to
// its last complete NOTIFY; it returns them and the offset after it.
func readLampLog(path string, off int64, proc string) ([]lampNotify, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, off, nil
		}
		return nil, off, err
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, off, err
	}
	var out []lampNotify
	var cur *lampNotify
	var body strings.Builder
	rd := bufio.NewReaderSize(f, 1<<20)
	pos := off
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			break // a partial last line is read next time
		}
		pos += int64(len(line))
		if rest, ok := strings.CutPrefix(line, "@@ "); ok {
			f := strings.SplitN(rest, " ", 3)
			cur = nil
			body.Reset()
			if len(f) == 3 {
				if at, ok := sippTime(f[0]); ok {
					cur = &lampNotify{watcher: proc + "/" + f[1], at: at}
					line = f[2]
				}
			}
		}
		if cur == nil {
			off = pos
			continue
		}
		body.WriteString(line)
		if strings.Contains(line, "</dialog-info>") {
			for _, m := range dialogRE.FindAllStringSubmatch(body.String(), -1) {
				d := lampDialog{id: html.UnescapeString(m[1]), state: m[3]}
				if c := callIDRE.FindStringSubmatch(m[2]); c != nil {
					d.callID = html.UnescapeString(c[1])
				}
				cur.dialogs = append(cur.dialogs, d)
			}
			out = append(out, *cur)
			cur = nil
			off = pos
		}
	}
	return out, off, nil
}

// pprof saves a profile of the gateway (pprof is on in the bench config)
// into its directory and returns the path, or "" if it fails: what is
// "profile?seconds=N" (CPU, N seconds) or "heap?gc=1" (live heap).
func (g *gateway) pprof(ctx context.Context, what, name string, secs int) string {
	url := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/%s", g.httpPort, what)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return ""
	}
	c := &http.Client{Timeout: time.Duration(secs+10) * time.Second}
	res, err := c.Do(req)
	if err != nil {
		fmt.Printf("      (%s profile failed: %v)\n", what, err)
		return ""
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		fmt.Printf("      (%s profile failed: %s)\n", what, res.Status)
		return ""
	}
	path := filepath.Join(g.dir, name)
	fh, err := os.Create(path)
	if err != nil {
		return ""
	}
	defer fh.Close()
	if _, err := io.Copy(fh, res.Body); err != nil {
		return ""
	}
	return path
}
