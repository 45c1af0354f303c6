package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// sippSpec is one SIPp process.
type sippSpec struct {
	name     string            // unique label; files are named after it
	scenario string            // watcher.xml or publisher.xml
	inf      string            // injection CSV
	set      map[string]string // -set globals
	rate     float64           // calls per second
	calls    int               // -m
	limit    int               // -l
	logs     bool              // -trace_logs
	// aa answers NOTIFYs for calls SIPp has finished (-aa -deadcall_wait 0),
	// as a phone would: SIPp 3.6.1 otherwise keeps a finished call's
	// Call-ID for 33 s and silently drops what arrives for it, such as a
	// NOTIFY retransmitted because its 200 was lost.
	aa bool
}

// sippRun is a started SIPp process.
type sippRun struct {
	spec    sippSpec
	proc    *child
	dir     string
	statF   string
	logF    string
	errF    string
	outF    string
	port    int
	started time.Time
	ended   time.Time
}

// sippResult is what a SIPp run reports in its statistics file.
type sippResult struct {
	created, ok, failed         int64
	retrans                     int64
	unexpected, recvTimeout     int64
	maxRetrans                  int64
	deadCallMsgs, outOfCallMsgs int64
	autoAnswered                int64
	watchdogMajor               int64
	current                     int64
	responses5xx                int64
	rtd                         []rtdBucket // SUBSCRIBE -> 200 time distribution
	aborts                      map[string]int
	exitCode                    int
	cpu                         time.Duration
	wall                        time.Duration
}

func (r *sippResult) add(o sippResult) {
	r.created += o.created
	r.ok += o.ok
	r.failed += o.failed
	r.retrans += o.retrans
	r.unexpected += o.unexpected
	r.recvTimeout += o.recvTimeout
	r.maxRetrans += o.maxRetrans
	r.deadCallMsgs += o.deadCallMsgs
	r.outOfCallMsgs += o.outOfCallMsgs
	r.autoAnswered += o.autoAnswered
	r.watchdogMajor += o.watchdogMajor
	r.current += o.current
	r.responses5xx += o.responses5xx
	for i, b := range o.rtd {
		if i < len(r.rtd) {
			r.rtd[i].n += b.n
		} else {
			r.rtd = append(r.rtd, b)
		}
	}
	for k, v := range o.aborts {
		if r.aborts == nil {
			r.aborts = map[string]int{}
		}
		r.aborts[k] += v
	}
	r.cpu += o.cpu
	r.wall = max(r.wall, o.wall)
	if o.exitCode != 0 && r.exitCode == 0 {
		r.exitCode = o.exitCode
	}
}

// failures describes the failed calls, or "".
func (r sippResult) failures() string {
	if r.failed == 0 && r.responses5xx == 0 {
		return ""
	}
	var parts []string
	if r.unexpected > 0 {
		parts = append(parts, fmt.Sprintf("%d unexpected message", r.unexpected))
	}
	if r.recvTimeout > 0 {
		parts = append(parts, fmt.Sprintf("%d receive timeout", r.recvTimeout))
	}
	if r.maxRetrans > 0 {
		parts = append(parts, fmt.Sprintf("%d max retransmissions", r.maxRetrans))
	}
	if r.responses5xx > 0 {
		parts = append(parts, fmt.Sprintf("%d 5xx responses", r.responses5xx))
	}
	s := fmt.Sprintf("%d failed calls (%s)", r.failed, strings.Join(parts, ", "))
	if len(r.aborts) > 0 {
		var ab []string
		for k, v := range r.aborts {
			ab = append(ab, fmt.Sprintf("%dx %s", v, k))
		}
		sort.Strings(ab)
		s += "; SIPp error log, unexpected: " + strings.Join(ab, ", ")
	}
	return s
}

// rtdBucket is one bucket of SIPp's response time repartition: n calls
// took less than below (ms); below 0 is the open last bucket.
type rtdBucket struct {
	below int
	n     int64
}

// latency summarises the distribution as the buckets holding the median,
// the 99th percentile and the slowest call.
func (r sippResult) latency() string {
	var total int64
	for _, b := range r.rtd {
		total += b.n
	}
	if total == 0 {
		return ""
	}
	name := func(b rtdBucket) string {
		if b.below < 0 {
			return fmt.Sprintf(">=%d ms", r.rtd[len(r.rtd)-2].below)
		}
		return fmt.Sprintf("<%d ms", b.below)
	}
	var p50, p99, top string
	var acc int64
	for _, b := range r.rtd {
		acc += b.n
		if p50 == "" && acc*2 >= total {
			p50 = name(b)
		}
		if p99 == "" && acc*100 >= total*99 {
			p99 = name(b)
		}
		if b.n > 0 {
			top = name(b)
		}
	}
	return fmt.Sprintf("SUBSCRIBE->200 p50 %s, p99 %s, slowest %s", p50, p99, top)
}

// startSipp launches one SIPp against the gateway.
func (b *bench) startSipp(g *gateway, s sippSpec) (*sippRun, error) {
	dir := filepath.Join(g.dir, "sipp-"+s.name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	r := &sippRun{
		spec:  s,
		dir:   dir,
		statF: filepath.Join(dir, "stat.csv"),
		logF:  filepath.Join(dir, "log.log"),
		errF:  filepath.Join(dir, "errors.log"),
		outF:  filepath.Join(dir, "screen.out"),
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freeUDPPort()
		if err != nil {
			return nil, err
		}
		cport, err := freeUDPPort()
		if err != nil {
			return nil, err
		}
		limit := s.limit
		if limit <= 0 {
			limit = s.calls
		}
		args := []string{
			fmt.Sprintf("127.0.0.1:%d", g.sipPort),
			"-sf", filepath.Join(b.opt.scenDir, s.scenario),
			"-t", "u1", "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-cp", strconv.Itoa(cport),
			"-r", strconv.FormatFloat(s.rate, 'f', 0, 64), "-rp", "1000",
			"-m", strconv.Itoa(s.calls), "-l", strconv.Itoa(limit),
			"-nostdin", "-f", "5",
			"-recv_timeout", "15000",
			"-default_behaviors", "all,-bye",
			"-buff_size", "4194304",
			"-max_recv_loops", "100000", "-max_sched_loops", "100000",
			"-watchdog_minor_maxtriggers", "1000000", "-watchdog_major_maxtriggers", "1000000",
			"-trace_stat", "-stf", r.statF, "-fd", "1",
			"-trace_err", "-error_file", r.errF,
			"-trace_error_codes",
		}
		if s.inf != "" {
			args = append(args, "-inf", s.inf)
		}
		for k, v := range s.set {
			args = append(args, "-set", k, v)
		}
		if s.logs {
			args = append(args, "-trace_logs", "-log_file", r.logF)
		}
		if s.aa {
			args = append(args, "-aa", "-deadcall_wait", "0")
		}
		out, err := os.Create(r.outF)
		if err != nil {
			return nil, err
		}
		cmd := exec.Command("sipp", args...)
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = out, out
		r.started = time.Now()
		p, err := startChild("sipp "+s.name, cmd, syscall.SIGKILL, time.Second)
		out.Close()
		if err != nil {
			return nil, err
		}
		r.proc = p
		r.port = port
		// A SIPp that cannot bind exits at once with -2 (254).
		select {
		case <-p.done:
			code := p.cmd.ProcessState.ExitCode()
			if code == 254 || code == 255 {
				lastErr = fmt.Errorf("sipp %s exited at start (%d): %s", s.name, code, tail(r.outF, 600))
				continue
			}
		case <-time.After(30 * time.Millisecond):
		}
		return r, nil
	}
	return nil, lastErr
}

// wait waits for SIPp to end by itself, or kills it at the deadline.
func (r *sippRun) wait(ctx context.Context, limit time.Duration) (timedOut bool) {
	select {
	case <-r.proc.done:
	case <-time.After(limit):
		timedOut = true
		r.proc.kill()
	case <-ctx.Done():
		r.proc.kill()
	}
	r.ended = time.Now()
	return timedOut
}

// stopNow kills a SIPp whose calls never end on their own (watchers).
func (r *sippRun) stopNow() {
	r.proc.kill()
	if r.ended.IsZero() {
		r.ended = time.Now()
	}
}

// result reads the last line of the statistics file.
func (r *sippRun) result() (sippResult, error) {
	var res sippResult
	if r.proc.exited() {
		res.exitCode = r.proc.cmd.ProcessState.ExitCode()
		end := r.ended
		if end.IsZero() {
			end = time.Now()
		}
		res.wall = end.Sub(r.started)
	} else {
		res.wall = time.Since(r.started)
	}
	res.cpu = r.proc.cpu()
	head, last, err := lastStat(r.statF)
	if err != nil {
		return res, fmt.Errorf("sipp %s: %w (%s)", r.spec.name, err, tail(r.outF, 400))
	}
	get := func(name string) int64 {
		for i, h := range head {
			if h == name && i < len(last) {
				n, _ := strconv.ParseInt(strings.TrimSpace(last[i]), 10, 64)
				return n
			}
		}
		return 0
	}
	res.created = get("OutgoingCall(C)")
	res.ok = get("SuccessfulCall(C)")
	res.failed = get("FailedCall(C)")
	res.retrans = get("Retransmissions(C)")
	res.unexpected = get("FailedUnexpectedMessage(C)")
	res.recvTimeout = get("FailedTimeoutOnRecv(C)")
	res.maxRetrans = get("FailedMaxUDPRetrans(C)")
	res.deadCallMsgs = get("DeadCallMsgs(C)")
	res.outOfCallMsgs = get("OutOfCallMsgs(C)")
	res.autoAnswered = get("AutoAnswered(C)")
	res.watchdogMajor = get("WatchdogMajor(C)")
	res.current = get("CurrentCall")
	res.responses5xx = r.count5xx()
	for i, h := range head {
		rest, ok := strings.CutPrefix(h, "ResponseTimeRepartition1_")
		if !ok || i >= len(last) {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSpace(last[i]), 10, 64)
		b := rtdBucket{below: -1, n: n}
		if v, ok := strings.CutPrefix(rest, "<"); ok {
			b.below, _ = strconv.Atoi(v)
		}
		res.rtd = append(res.rtd, b)
	}
	res.aborts = abortReasons(r.errF)
	return res, nil
}

// abortReasons summarises why SIPp aborted calls, from its error log: the
// first line and CSeq of each unexpected message.
func abortReasons(path string) map[string]int {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out map[string]int
	chunks := strings.Split(string(b), "Aborting call on unexpected message")
	for _, c := range chunks[1:] {
		_, msg, ok := strings.Cut(c, "received '")
		if !ok {
			continue
		}
		lines := strings.Split(msg, "\n")
		key := strings.TrimSpace(lines[0])
		for _, l := range lines[1:min(len(lines), 30)] {
			if strings.HasPrefix(l, "CSeq:") {
				key += " (" + strings.TrimSpace(l) + ")"
				break
			}
		}
		if out == nil {
			out = map[string]int{}
		}
		out[key]++
	}
	return out
}

// count5xx counts 5xx responses SIPp received where it expected another
// message (-trace_error_codes writes one code per line).
func (r *sippRun) count5xx() int64 {
	files, _ := filepath.Glob(filepath.Join(r.dir, "*_error_codes*"))
	var n int64
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		// Each line is "date time;elapsed;code,code,...," per stat period.
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			f := strings.Split(sc.Text(), ";")
			for _, c := range strings.Split(f[len(f)-1], ",") {
				if c = strings.TrimSpace(c); len(c) == 3 && c[0] == '5' {
					n++
				}
			}
		}
		fh.Close()
	}
	return n
}

// lastStat returns the header and the last data line of a SIPp -trace_stat
// file.
func lastStat(path string) (head, last []string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) < 2 {
		return nil, nil, fmt.Errorf("statistics file %s has no data", filepath.Base(path))
	}
	return strings.Split(lines[0], ";"), strings.Split(lines[len(lines)-1], ";"), nil
}

// watcherLog is one line of the watcher scenario's log: a NOTIFY received
// in the stay loop.
type watcherLog struct {
	idle bool
	at   time.Time
	call int
}

// readWatcherLog parses the -log_file of a watcher run from byte offset
// off; it returns the entries and the offset after the last full line.
func readWatcherLog(path string, off int64) ([]watcherLog, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, off, nil
		}
		return nil, off, err
	}
	defer f.Close()
	if _, err := f.Seek(off, 0); err != nil {
		return nil, off, err
	}
	var out []watcherLog
	rd := bufio.NewReader(f)
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			break // a partial last line is read next time
		}
		off += int64(len(line))
		fs := strings.Fields(line)
		if len(fs) == 3 {
			// SIPp prints a variable holding exactly 0 as nothing.
			fs = []string{fs[0], fs[1], "0", fs[2]}
		}
		// The first field is the first tag of the NOTIFY body:
		// "<dialog" (a state with dialogs) or "</dialog-info>" (idle).
		if len(fs) != 4 || (fs[0] != "<dialog" && fs[0] != "<dialog>" && fs[0] != "</dialog-info>") {
			continue
		}
		sec, err1 := strconv.ParseFloat(fs[1], 64)
		usec, err2 := strconv.ParseFloat(fs[2], 64)
		call, err3 := strconv.Atoi(fs[3])
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		out = append(out, watcherLog{
			idle: fs[0] == "</dialog-info>",
			at:   time.Unix(int64(sec), int64(usec)*1000),
			call: call,
		})
	}
	return out, off, nil
}

// writeCSV writes a SIPp injection file of one field per line.
func writeCSV(path, order string, vals []string) error {
	var b strings.Builder
	b.WriteString(order + "\n")
	for _, v := range vals {
		b.WriteString(v + "\n")
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
