package sip

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/blfgw/blfgw/dialog"
	"github.com/blfgw/blfgw/presence"
)

// TestReapSessionAndMaxCall: an answered call whose RFC 4028 session
// timer ran out without a refresh is ended, as is one older than
// max_call; a refreshed call stays, and so do its lamps.
func TestReapSessionAndMaxCall(t *testing.T) {
	tr := dialog.NewTracker(presence.NewHub())
	calls := dialog.NewCalls(tr, nil)
	p := &proxy{
		s:       &Server{log: slog.New(slog.DiscardHandler)},
		opt:     ProxyOptions{Calls: calls, MaxCall: time.Hour},
		ctx:     context.Background(),
		ringing: map[string]*invite{},
		dialogs: map[string]*pdialog{},
		probes:  make(chan struct{}, 1),
		saves:   make(chan callOp, 16),
	}
	now := time.Now()
	add := func(id, caller, callee string, answered, refreshed time.Time, session time.Duration) {
		d := &pdialog{CallID: id, FromTag: "f" + id, ToTag: "t" + id, Caller: caller, Callee: callee,
			Answered: answered, Refreshed: refreshed, Session: session}
		p.dialogs[callKey(d.CallID, d.FromTag)] = d
		calls.Restore(dialog.Answered{CallID: id, FromTag: d.FromTag, ToTag: d.ToTag, Caller: caller, Callee: callee, At: answered})
	}
	add("stale-session", "1001", "1002", now.Add(-5*time.Minute), now.Add(-3*time.Minute), 90*time.Second)
	add("fresh-session", "1003", "1004", now.Add(-5*time.Minute), now.Add(-30*time.Second), 90*time.Second)
	add("too-long", "1005", "1006", now.Add(-2*time.Hour), now.Add(-2*time.Hour), 0)

	p.reap(now)

	if _, ok := p.dialogs[callKey("fresh-session", "ffresh-session")]; !ok || len(p.dialogs) != 1 {
		t.Fatalf("dialogs left: %d (want only the refreshed one)", len(p.dialogs))
	}
	for ext, want := range map[string]int{"1001": 0, "1002": 0, "1003": 1, "1004": 1, "1005": 0, "1006": 0} {
		if got := len(tr.Calls(ext)); got != want {
			t.Errorf("%s has %d calls after the reap, want %d", ext, got, want)
		}
	}
	if calls.Open() != 2 {
		t.Errorf("call legs = %d, want 2", calls.Open())
	}
}

// TestBetterFinal: with no 2xx, the caller gets a 6xx before anything,
// then the lowest class, and a 503 only if nothing else came.
func TestBetterFinal(t *testing.T) {
	order := []int{603, 302, 486, 408, 500, 503}
	for i, a := range order {
		for _, b := range order[i+1:] {
			if a/100 == b/100 {
				continue
			}
			if !better(a, b) || better(b, a) {
				t.Errorf("better(%d, %d) = %v, better(%d, %d) = %v", a, b, better(a, b), b, a, better(b, a))
			}
		}
	}
	if !better(500, 503) || better(503, 500) {
		t.Error("503 must lose to another 5xx")
	}
	if !better(486, 0) {
		t.Error("any answer beats none")
	}
}

// TestAssertedIdentity: the caller named on a ringing lamp comes from
// P-Asserted-Identity (display name unquoted) when present.
func TestAssertedIdentity(t *testing.T) {
	req := gosip.NewRequest(gosip.INVITE, gosip.Uri{Scheme: "sip", User: "1003", Host: "pbx.test"})
	if asserted(req) != nil {
		t.Fatal("an identity without P-Asserted-Identity")
	}
	req.AppendHeader(gosip.NewHeader("P-Asserted-Identity", `"Front Desk & Co" <sip:200@pbx.test;user=phone>, <tel:+15551230000>`))
	got := asserted(req)
	if got == nil || got.Display != "Front Desk & Co" || got.URI != "sip:200@pbx.test" {
		t.Fatalf("asserted = %+v", got)
	}
}

// TestStrayForwardedStatelessly: a callee's 2xx retransmission that
// matches no transaction (the gateway restarted between the 200 and the
// caller's ACK) still reaches the caller, with our Via removed, so the
// caller's ACK comes back and the callee stops retransmitting.
func TestStrayForwardedStatelessly(t *testing.T) {
	s, _ := startServerWith(t, func(o *Options) {
		o.Registrar = &RegistrarOptions{Store: newMemRegs()}
		o.Proxy = &ProxyOptions{Calls: dialog.NewCalls(o.Tracker, nil)}
	}, "udp")
	gw := s.boundAddr("udp")
	caller, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close()
	callee, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer callee.Close()
	cport := caller.LocalAddr().(*net.UDPAddr).Port
	ok := "SIP/2.0 200 OK\r\n" +
		"Via: SIP/2.0/UDP " + gw + ";branch=" + branchMark + "0123456789ab.restart\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:" + strconv.Itoa(cport) + ";branch=z9hG4bK-caller-1;rport=" + strconv.Itoa(cport) + ";received=127.0.0.1\r\n" +
		"Record-Route: <sip:" + gw + ";lr>\r\n" +
		"From: <sip:1001@pbx.test>;tag=c1\r\n" +
		"To: <sip:1003@pbx.test>;tag=u1\r\n" +
		"Call-ID: stray-2xx@127.0.0.1\r\n" +
		"CSeq: 1 INVITE\r\n" +
		"Contact: <sip:1003@" + callee.LocalAddr().String() + ">\r\n" +
		"Content-Length: 0\r\n\r\n"
	to, _ := net.ResolveUDPAddr("udp", gw)
	if _, err := callee.WriteTo([]byte(ok), to); err != nil {
		t.Fatal(err)
	}
	_ = caller.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 4096)
	n, _, err := caller.ReadFrom(buf)
	if err != nil {
		t.Fatalf("the caller got nothing: %v", err)
	}
	got := string(buf[:n])
	if !strings.HasPrefix(got, "SIP/2.0 200 OK") || strings.Count(got, "Via:") != 1 ||
		strings.Contains(got, branchMark) || !strings.Contains(got, "z9hG4bK-caller-1") ||
		!strings.Contains(got, "Record-Route:") {
		t.Errorf("the caller got, want the 200 with only its own Via and the Record-Route:\n%s", got)
	}
}
