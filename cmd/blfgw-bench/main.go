// Command blfgw-bench is the load benchmark harness of blfgw (`make bench`).
//
// It starts the real gateway binary (-bin) on free loopback ports with a
// generated config, drives it with SIPp over UDP on 127.0.0.1 using the
// scenarios in testdata/bench, and prints the four figures of issue 2
// ("Performance to design for") and the calls figure of the edge proxy:
//
//  1. new SUBSCRIBE/s without failures (SUBSCRIBE -> 200 -> NOTIFY -> 200,
//     stepped rates, several SIPp processes);
//  2. fan-out time of one PUBLISH to 1,000 and to 10,000 watchers of one
//     extension (gateway view from /healthz notify_ok polled every 2 ms,
//     watcher view from the SIPp watchers' log timestamps);
//  3. resident memory per active subscription (VmRSS idle vs with 100,000
//     subscriptions, right after the burst and after Timer J has expired);
//  4. sustained NOTIFY/s without loss (PUBLISH state changes at increasing
//     rates; notify_failed must stay 0 and every watcher must see the final
//     idle state);
//  5. calls/s through the edge proxy without a failed call, and the delay
//     from the 200 OK passing the proxy to the busy NOTIFY reaching the
//     1,000 watchers of the called extensions (p50/p99; SIPp callers at
//     rising rates, one SIPp callee registered for every called extension);
//  6. the Teams bridge keeping 10,000 users in sync through the fake
//     Microsoft Graph (bridge/teams/fakegraph, served over TLS by the
//     harness with Graph's 1,500 requests per 30 s limit on): Graph
//     requests per minute in steady state, after a company-wide meeting
//     starts and for a burst of phone calls, and the delay from a Teams
//     change to the watchers' NOTIFY (phase_teams.go).
//
// Every load is bounded in count and time, every process it starts is
// stopped at the end, also on Ctrl-C or error. Figures are reported, never
// asserted: the exit status is non-zero only when the harness itself
// breaks (the binary does not start, SIPp is missing, and the like).
//
// Usage:
//
//	go run ./cmd/blfgw-bench -bin bin/blfgw [-phase all|subscribe|fanout|memory|notify|calls|teams] [-quick] [-profile]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"
)

type options struct {
	bin     string
	phase   string
	quick   bool
	keep    bool
	profile bool
	scenDir string
	workDir string
	settle  time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin/blfgw", "gateway binary to benchmark")
	flag.StringVar(&o.phase, "phase", "all", "phase to run: all, subscribe, fanout, memory, notify, calls or teams")
	flag.BoolVar(&o.quick, "quick", false, "small counts: a smoke run of about a minute")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (configs, SIPp logs) for inspection")
	flag.BoolVar(&o.profile, "profile", false, "save a gateway CPU profile of every calls step in the work directory (implies -keep)")
	flag.StringVar(&o.scenDir, "scenarios", "", "directory of the SIPp scenarios (default: testdata/bench of the module)")
	flag.Parse()

	if o.profile {
		o.keep = true
	}
	code := run(o)
	os.Exit(code)
}

func run(o options) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()

	if err := prepare(&o); err != nil {
		fmt.Fprintln(os.Stderr, "blfgw-bench:", err)
		return 2
	}
	defer procs.stopAll()
	if !o.keep {
		defer os.RemoveAll(o.workDir)
	}

	b := &bench{opt: o, start: time.Now()}
	b.header()
	phases := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"subscribe", b.phaseSubscribe},
		{"fanout", b.phaseFanout},
		{"memory", b.phaseMemory},
		{"notify", b.phaseNotify},
		{"calls", b.phaseCalls},
		{"teams", b.phaseTeams},
	}
	var broke error
	for _, p := range phases {
		if o.phase != "all" && o.phase != p.name {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		fmt.Printf("\n== %s ==\n", p.name)
		if err := p.fn(ctx); err != nil {
			procs.stopAll()
			if ctx.Err() != nil {
				fmt.Printf("   interrupted: %v\n", err)
				break
			}
			fmt.Printf("   HARNESS ERROR in phase %s: %v\n", p.name, err)
			broke = errors.Join(broke, fmt.Errorf("%s: %w", p.name, err))
		}
	}
	procs.stopAll()
	b.summary()
	teamsSummary()
	if o.keep {
		fmt.Printf("\nwork directory kept: %s\n", o.workDir)
	}
	switch {
	case ctx.Err() != nil:
		fmt.Fprintln(os.Stderr, "blfgw-bench: interrupted")
		return 130
	case broke != nil:
		fmt.Fprintln(os.Stderr, "blfgw-bench:", broke)
		return 1
	}
	return 0
}

// prepare checks the tools and files the run needs.
func prepare(o *options) error {
	switch o.phase {
	case "all", "subscribe", "fanout", "memory", "notify", "calls", "teams":
	default:
		return fmt.Errorf("unknown -phase %q (all, subscribe, fanout, memory, notify, calls, teams)", o.phase)
	}
	if runtime.GOOS != "linux" {
		return errors.New("needs Linux (/proc is read for RSS and CPU time)")
	}
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return err
	}
	if st, err := os.Stat(bin); err != nil || st.IsDir() {
		return fmt.Errorf("gateway binary %s not found (run make build first)", o.bin)
	}
	o.bin = bin
	if _, err := exec.LookPath("sipp"); err != nil {
		return errors.New("sipp not found in PATH (apt-get install sip-tester)")
	}
	if o.scenDir == "" {
		o.scenDir, err = findScenarios()
		if err != nil {
			return err
		}
	}
	for _, f := range []string{"watcher.xml", "publisher.xml", "caller.xml", "callee.xml", "lamp_watcher.xml"} {
		if _, err := os.Stat(filepath.Join(o.scenDir, f)); err != nil {
			return fmt.Errorf("scenario %s: %w", f, err)
		}
	}
	raiseFileLimit()
	o.workDir, err = os.MkdirTemp("", "blfgw-bench-")
	if err != nil {
		return err
	}
	o.settle = 35 * time.Second // Timer J (64*T1 = 32 s) plus a margin
	return nil
}

// findScenarios looks for testdata/bench from the working directory up to
// the module root.
func findScenarios() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		cand := filepath.Join(dir, "testdata", "bench")
		if _, err := os.Stat(filepath.Join(cand, "watcher.xml")); err == nil {
			return cand, nil
		}
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", errors.New("testdata/bench not found; run from the module or pass -scenarios")
}

// raiseFileLimit lifts the soft open-file limit to the hard one; SIPp and
// the gateway inherit it.
func raiseFileLimit() {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil && rl.Cur < rl.Max {
		rl.Cur = rl.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
}
