package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// procs is every child process the harness started and has not reaped, so
// that an error or a signal never leaves a gateway or SIPp behind.
var procs = &registry{live: map[*child]struct{}{}}

type registry struct {
	mu   sync.Mutex
	live map[*child]struct{}
}

// child is one started process.
type child struct {
	name  string
	cmd   *exec.Cmd
	done  chan struct{}
	err   error // from Wait
	term  syscall.Signal
	grace time.Duration
}

// startChild starts cmd in its own process group (so a terminal's Ctrl-C
// reaches only the harness, which then stops it in order) with a parent
// death signal (so it cannot outlive a killed harness).
func startChild(name string, cmd *exec.Cmd, term syscall.Signal, grace time.Duration) (*child, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, done: make(chan struct{}), term: term, grace: grace}
	procs.mu.Lock()
	procs.live[c] = struct{}{}
	procs.mu.Unlock()
	go func() {
		c.err = cmd.Wait()
		procs.mu.Lock()
		delete(procs.live, c)
		procs.mu.Unlock()
		close(c.done)
	}()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop sends the polite signal, waits up to the grace period, then kills.
func (c *child) stop() {
	if c.exited() {
		return
	}
	_ = c.cmd.Process.Signal(c.term)
	select {
	case <-c.done:
		return
	case <-time.After(c.grace):
	}
	_ = c.cmd.Process.Kill()
	<-c.done
}

// kill ends the process at once.
func (c *child) kill() {
	if c.exited() {
		return
	}
	_ = c.cmd.Process.Kill()
	<-c.done
}

// cpu is the CPU time the process has used: from rusage once reaped,
// else from /proc.
func (c *child) cpu() time.Duration {
	if c.exited() && c.cmd.ProcessState != nil {
		return c.cmd.ProcessState.UserTime() + c.cmd.ProcessState.SystemTime()
	}
	d, _ := procCPU(c.pid())
	return d
}

func (r *registry) stopAll() {
	r.mu.Lock()
	var all []*child
	for c := range r.live {
		all = append(all, c)
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range all {
		wg.Go(c.stop)
	}
	wg.Wait()
}

// clkTck is USER_HZ; 100 on every Linux architecture Go supports.
const clkTck = 100

// procCPU reads utime+stime of a live process.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	// After "pid (comm)": state is field 3, utime 14, stime 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / clkTck, nil
}

// procMem reads VmRSS and VmHWM (bytes) of a live process.
func procMem(pid int) (rss, hwm int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(fs[0], 10, 64)
		switch k {
		case "VmRSS":
			rss = n * 1024
		case "VmHWM":
			hwm = n * 1024
		}
	}
	return rss, hwm, sc.Err()
}

// sysCPU is the machine's busy, interrupt and total jiffies from
// /proc/stat.
type sysCPU struct{ busy, irq, total int64 }

func readSysCPU() sysCPU {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return sysCPU{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var s sysCPU
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		s.total += n
		if i != 3 && i != 4 { // idle, iowait
			s.busy += n
		}
		if i == 5 || i == 6 { // irq, softirq: the kernel's UDP work
			s.irq += n
		}
	}
	return s
}

// cores is the machine's busy cores over the interval.
func (a sysCPU) coresUntil(b sysCPU) float64 {
	dt := b.total - a.total
	if dt <= 0 {
		return 0
	}
	return float64(b.busy-a.busy) / float64(dt) * float64(numCPU())
}

// irqCoresUntil is the cores spent in interrupt and softirq context.
func (a sysCPU) irqCoresUntil(b sysCPU) float64 {
	dt := b.total - a.total
	if dt <= 0 {
		return 0
	}
	return float64(b.irq-a.irq) / float64(dt) * float64(numCPU())
}

func numCPU() int {
	n := 0
	b, _ := os.ReadFile("/proc/stat")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "cpu") && len(l) > 3 && l[3] >= '0' && l[3] <= '9' {
			n++
		}
	}
	if n == 0 {
		n = 1
	}
	return n
}

// udpCounters are the kernel's UDP error counters (system-wide).
type udpCounters struct{ inErrors, rcvbufErrors, sndbufErrors int64 }

func readUDP() udpCounters {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return udpCounters{}
	}
	var names, vals []string
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "Udp: ") {
			continue
		}
		if names == nil {
			names = strings.Fields(l)
		} else {
			vals = strings.Fields(l)
		}
	}
	var u udpCounters
	for i := range names {
		if i >= len(vals) {
			break
		}
		n, _ := strconv.ParseInt(vals[i], 10, 64)
		switch names[i] {
		case "InErrors":
			u.inErrors = n
		case "RcvbufErrors":
			u.rcvbufErrors = n
		case "SndbufErrors":
			u.sndbufErrors = n
		}
	}
	return u
}

func (a udpCounters) sub(b udpCounters) udpCounters {
	return udpCounters{a.inErrors - b.inErrors, a.rcvbufErrors - b.rcvbufErrors, a.sndbufErrors - b.sndbufErrors}
}

func (a udpCounters) String() string {
	if a == (udpCounters{}) {
		return "no UDP drops"
	}
	return fmt.Sprintf("UDP InErrors +%d (RcvbufErrors +%d, SndbufErrors +%d, system-wide)", a.inErrors, a.rcvbufErrors, a.sndbufErrors)
}

// freeUDPPort and freeTCPPort pick a free loopback port. The socket is
// closed before the port is handed out, so the caller binds it soon.
func freeUDPPort() (int, error) {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

func freeTCPPort() (int, error) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail returns the last n bytes of a file, for error messages.
func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(st.Size()-n, 0)
	buf := make([]byte, st.Size()-off)
	_, _ = f.ReadAt(buf, off)
	return strings.TrimSpace(string(buf))
}

// udpQueues returns the receive queue (bytes) of the UDP sockets bound to
// the given local ports, from /proc/net/udp: a deep queue means the
// process is not reading as fast as datagrams arrive.
func udpQueues(ports map[int]bool) map[int]int64 {
	out := map[int]int64{}
	b, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		return out
	}
	for _, l := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(l)
		if len(f) < 5 {
			continue
		}
		_, portHex, ok := strings.Cut(f[1], ":")
		if !ok {
			continue
		}
		port, err := strconv.ParseInt(portHex, 16, 32)
		if err != nil || !ports[int(port)] {
			continue
		}
		_, rxHex, ok := strings.Cut(f[4], ":")
		if !ok {
			continue
		}
		rx, _ := strconv.ParseInt(rxHex, 16, 64)
		out[int(port)] = rx
	}
	return out
}

// queueWatch tracks the deepest receive queues seen of the gateway's and
// SIPp's sockets.
type queueWatch struct {
	gwPort  int
	ports   map[int]bool
	gwMax   int64
	sippMax int64
}

func newQueueWatch(gwPort int, runs []*sippRun) *queueWatch {
	q := &queueWatch{gwPort: gwPort, ports: map[int]bool{gwPort: true}}
	for _, r := range runs {
		q.ports[r.port] = true
	}
	return q
}

func (q *queueWatch) sample() {
	for port, n := range udpQueues(q.ports) {
		if port == q.gwPort {
			q.gwMax = max(q.gwMax, n)
		} else {
			q.sippMax = max(q.sippMax, n)
		}
	}
}

func (q *queueWatch) String() string {
	return fmt.Sprintf("deepest UDP receive queue: gateway %.0f KB, SIPp %.0f KB", float64(q.gwMax)/1024, float64(q.sippMax)/1024)
}
