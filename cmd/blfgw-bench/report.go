package main

import (
	"fmt"
	"os"
	"text/tabwriter"
	"time"
)

// summary prints the figures as a table next to the targets.
func (b *bench) summary() {
	fmt.Printf("\n== summary (%s, %s) ==\n", map[bool]string{true: "quick run", false: "full run"}[b.opt.quick], time.Since(b.start).Round(time.Second))
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tblfgw\ttarget\tKamailio 5.6\tnotes")
	if b.sub != nil {
		v, n := "n/a", ""
		if st := b.sub.best; st != nil {
			v = fmt.Sprintf("%.0f/s", st.rate())
			n = fmt.Sprintf("step %d/s, %s, gateway %.0f us CPU/subscription", st.target, st.res.latency(), float64(st.gwCPU.Microseconds())/float64(max(st.res.ok, 1)))
			if st.sippBound {
				n += ", SIPp-bound"
			}
		}
		if k := len(b.sub.steps); k > 0 && !b.sub.steps[k-1].pass {
			n += fmt.Sprintf("; %d/s failed", b.sub.steps[k-1].target)
		}
		fmt.Fprintf(tw, "new SUBSCRIBE/s without failures\t%s\t>= 6000/s\t~3000/s\t%s\n", v, n)
	}
	for _, f := range b.fan {
		gm, wm, all := f.median()
		v, n := "n/a", f.setup
		if gm > 0 {
			v = ms(gm)
			n = fmt.Sprintf("median of %d PUBLISHes; watcher view %s", len(f.rounds), ms(wm))
			if !all {
				n += "; some incomplete"
			}
		}
		target, kam := "-", "-"
		switch f.n {
		case 1000:
			kam = "195 ms"
		case 10000:
			target, kam = "<= 500 ms", "4.7 s"
		}
		fmt.Fprintf(tw, "fan-out 1 PUBLISH -> %d watchers\t%s\t%s\t%s\t%s\n", f.n, v, target, kam, n)
	}
	if m := b.mem; m != nil {
		final, at := m.final()
		live := ""
		if m.live > 0 {
			live = fmt.Sprintf("; Go live heap +%.0f MB (%.2f KB/sub)", mb(m.live-m.liveIdle), perSubKB(m.live-m.liveIdle, m.subs))
		}
		if m.end > 0 {
			at += fmt.Sprintf("; right after burst +%.1f MB", mb(m.after-m.idle))
		}
		fmt.Fprintf(tw, "memory (RSS), %d subscriptions\t+%.1f MB (%.2f KB/sub)\t<= 200 MB per 100000\t~5.3 KB/sub\t%s; idle %.1f MB%s\n",
			m.subs, mb(final-m.idle), perSubKB(final-m.idle, m.subs), at, mb(m.idle), live)
	}
	if r := b.ntf; r != nil {
		v, n := "n/a", r.setup
		if st := r.best; st != nil {
			v = fmt.Sprintf("%.0f/s", st.steady)
			n = fmt.Sprintf("offered %d/s, peak %.0f/s, %d watchers/%d exts, %.1f us CPU/NOTIFY", st.target, st.peak, r.watchers, r.exts,
				float64(st.gwCPU.Microseconds())/float64(max(st.delivered, 1)))
			if st.maxWatcher >= 0.85 {
				n += ", SIPp-bound"
			}
		}
		if k := len(r.steps); k > 0 && !r.steps[k-1].pass {
			n += fmt.Sprintf("; offered %d/s lost", r.steps[k-1].target)
		}
		fmt.Fprintf(tw, "sustained NOTIFY/s without loss\t%s\t>= 20000/s\t~7800/s\t%s\n", v, n)
	}
	if r := b.calls; r != nil {
		v, n := "n/a", r.setup
		if st := r.best; st != nil {
			v = fmt.Sprintf("%.0f/s, p99 %s", st.rate, msf(pct(st.delays, 0.99)))
			n = fmt.Sprintf("offered %d/s; 200 OK -> busy NOTIFY p50 %s; %d watchers of %d callees; gateway %.0f us CPU/call",
				st.target, msf(pct(st.delays, 0.5)), r.watchers, r.callees, float64(st.gwCPU.Microseconds())/float64(max(st.caller.ok, 1)))
		}
		if k := len(r.steps); k > 0 && !r.steps[k-1].pass {
			n += fmt.Sprintf("; offered %d/s failed", r.steps[k-1].target)
		}
		if m := r.bestWithin(200 * time.Millisecond); m != nil && m != r.best {
			n += fmt.Sprintf("; p99 < 200 ms up to %.0f/s", m.rate)
		}
		fmt.Fprintf(tw, "calls/s through the proxy without failures\t%s\t>= 200/s, p99 < 200 ms\t-\t%s\n", v, n)
	}
	tw.Flush()
	if len(b.notes) > 0 {
		fmt.Println("notes:")
		for _, n := range b.notes {
			fmt.Println("  - " + n)
		}
	}
}
