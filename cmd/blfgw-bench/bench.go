package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// sizes are the loads of one run.
type sizes struct {
	subRates   []int         // SUBSCRIBE/s steps
	subStep    time.Duration // length of one step
	perProc    int           // calls/s one SIPp process is given at most
	fanout     []int         // watchers of one extension
	fanRate    int           // SUBSCRIBE/s while setting fan-out watchers up
	memSubs    int           // subscriptions held for the memory figure
	memExts    int           // spread over this many extensions
	memRate    int           // SUBSCRIBE/s while building them
	memSettle  bool          // wait for Timer J before the settled figure
	memWait    time.Duration // how long RSS is sampled after the burst
	ntfWatch   int           // watchers in the NOTIFY phase
	ntfExts    int           // over this many extensions
	ntfProcs   int           // SIPp watcher processes
	ntfRate    int           // SUBSCRIBE/s while setting them up
	ntfTargets []int         // offered NOTIFY/s steps
	ntfStep    time.Duration // length of one step

	callRates   []int         // offered calls/s steps
	callStep    time.Duration // length of one step (calls placed)
	callExts    int           // callers, callees (and the callees' delegates)
	callWatch   int           // watchers per callee, the first its delegate
	callProcs   int           // SIPp watcher processes
	callSubRate int           // SUBSCRIBE/s while setting the watchers up
	callRing    time.Duration // callee rings this long before it answers
	callTalk    time.Duration // caller hangs up this long after the answer
}

func sizesFor(quick bool) sizes {
	if quick {
		return sizes{
			subRates: []int{500, 1000}, subStep: 2 * time.Second, perProc: 2500,
			fanout: []int{100, 1000}, fanRate: 2000,
			memSubs: 5000, memExts: 200, memRate: 2000, memSettle: false,
			ntfWatch: 2000, ntfExts: 100, ntfProcs: 2, ntfRate: 2000,
			ntfTargets: []int{1000, 2000}, ntfStep: 4 * time.Second,
			callRates: []int{50, 100}, callStep: 3 * time.Second, callExts: 50, callWatch: 5, callProcs: 1,
			callSubRate: 1000, callRing: 50 * time.Millisecond, callTalk: time.Second,
		}
	}
	return sizes{
		subRates: []int{2000, 4000, 5000, 6000, 7000, 8000, 10000}, subStep: 5 * time.Second, perProc: 2500,
		fanout: []int{1000, 10000}, fanRate: 2500,
		memSubs: 100000, memExts: 1000, memRate: 3000, memSettle: true, memWait: 150 * time.Second,
		ntfWatch: 20000, ntfExts: 1000, ntfProcs: 4, ntfRate: 4000,
		ntfTargets: []int{5000, 10000, 20000, 30000, 40000}, ntfStep: 10 * time.Second,
		callRates: []int{50, 100, 200, 300, 400, 500, 600, 800}, callStep: 10 * time.Second, callExts: 200, callWatch: 5, callProcs: 2,
		callSubRate: 1000, callRing: 50 * time.Millisecond, callTalk: time.Second,
	}
}

// bench holds the run's options and results.
type bench struct {
	opt   options
	sz    sizes
	start time.Time

	gateways int // gateways started, for unique directories

	sub   *subResult
	fan   []fanResult
	mem   *memResult
	ntf   *notifyResult
	calls *callsResult
	notes []string
}

func (b *bench) note(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	b.notes = append(b.notes, s)
	fmt.Println("   note: " + s)
}

func (b *bench) header() {
	b.sz = sizesFor(b.opt.quick)
	mode := "full"
	if b.opt.quick {
		mode = "quick (small counts; figures are not comparable to the targets)"
	}
	ver := ""
	if out, err := exec.Command(b.opt.bin, "version").Output(); err == nil {
		ver = strings.TrimSpace(string(out))
	}
	sv := ""
	out, _ := exec.Command("sipp", "-v").CombinedOutput() // exits non-zero
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "SIPp v") {
			sv = strings.TrimSpace(l)
			break
		}
	}
	host, _ := os.Hostname()
	load, _ := os.ReadFile("/proc/loadavg")
	la := strings.Fields(string(load))
	la = la[:min(3, len(la))]
	fmt.Printf("blfgw-bench: %s run of %s (%s)\n", mode, b.opt.bin, ver)
	fmt.Printf("   %s; %s, %d CPUs, load %s; SIPp and the gateway share the CPUs; UDP on 127.0.0.1\n",
		sv, host, numCPU(), strings.Join(la, " "))
	rmem, _ := os.ReadFile("/proc/sys/net/core/rmem_max")
	fmt.Printf("   net.core.rmem_max=%s (caps the gateway's and SIPp's UDP receive buffers)\n", strings.TrimSpace(string(rmem)))
	fmt.Printf("   work directory %s\n", b.opt.workDir)
}

// otherLoad reports the CPU used outside the processes we started and
// outside interrupt context, so a noisy neighbour shows in the figures.
func otherLoad(a, z sysCPU, ours time.Duration, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return a.coresUntil(z) - a.irqCoresUntil(z) - ours.Seconds()/wall.Seconds()
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

func mb(n int64) float64 { return float64(n) / (1 << 20) }
