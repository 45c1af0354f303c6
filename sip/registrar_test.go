package sip

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	gosip "github.com/emiago/sipgo/sip"
)

// memRegs is the RegistrationStore in memory (store has its own tests
// against a real SQLite file).
type memRegs struct {
	mu sync.Mutex
	m  map[[2]string]RegistrationRecord
}

func newMemRegs() *memRegs { return &memRegs{m: map[[2]string]RegistrationRecord{}} }

func (m *memRegs) PutRegistrations(_ context.Context, regs []RegistrationRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range regs {
		m.m[[2]string{r.AOR, r.Binding}] = r
	}
	return nil
}

func (m *memRegs) DeleteRegistrations(_ context.Context, aor string, bindings []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.m {
		if k[0] == aor && (len(bindings) == 0 || slices.Contains(bindings, k[1])) {
			delete(m.m, k)
		}
	}
	return nil
}

func (m *memRegs) Registrations(context.Context) ([]RegistrationRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []RegistrationRecord
	for _, r := range m.m {
		out = append(out, r)
	}
	return out, nil
}

func (m *memRegs) DeleteExpiredRegistrations(_ context.Context, now time.Time) ([]RegistrationRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []RegistrationRecord
	for k, r := range m.m {
		if !r.Expires.After(now) {
			out = append(out, r)
			delete(m.m, k)
		}
	}
	return out, nil
}

func (m *memRegs) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.m)
}

var regSeq int

// registerReq is a REGISTER for ext from 127.0.0.1:5070 with the given
// Contact lines and extra headers.
func registerReq(t testing.TB, ext, callID string, cseq int, lines ...string) *gosip.Request {
	t.Helper()
	regSeq++
	return request(t, fmt.Sprintf(`
REGISTER sip:pbx.test SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-reg%d
From: <sip:%s@pbx.test>;tag=r%d
To: <sip:%s@pbx.test>
Call-ID: %s
CSeq: %d REGISTER
Max-Forwards: 70
User-Agent: Yealink SIP-T54W
%s
Content-Length: 0

`, regSeq, ext, regSeq, ext, callID, cseq, strings.Join(lines, "\n")), "127.0.0.1:5070")
}

func regRig(t *testing.T, opt Options) (*rig, *memRegs) {
	regs := newMemRegs()
	opt.Registrar = &RegistrarOptions{Store: regs, Min: 60 * time.Second, Max: 3600 * time.Second, Default: 1800 * time.Second, MaxBindings: 3}
	return newRig(t, opt), regs
}

func contactsIn(res *gosip.Response) []string {
	var out []string
	for _, h := range res.GetHeaders("Contact") {
		out = append(out, h.Value())
	}
	slices.Sort(out)
	return out
}

func TestRegistrar(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, regs := regRig(t, Options{Trusted: trustedLoopback()})
		desk := "Contact: <sip:1001@10.0.0.7:5060>"
		soft := "Contact: <sip:1001@10.0.0.8:5062;transport=tcp>;expires=600"

		res := r.do(t, registerReq(t, "1001", "c1", 1, desk, "Expires: 3600"))
		if res.StatusCode != 200 {
			t.Fatalf("REGISTER = %d %s", res.StatusCode, res.Reason)
		}
		if got := contactsIn(res); !slices.Equal(got, []string{"<sip:1001@10.0.0.7:5060>;expires=3600"}) {
			t.Fatalf("200 Contacts: %q", got)
		}
		// A second device keeps the first; its own expires param wins.
		res = r.do(t, registerReq(t, "1001", "c2", 1, soft))
		if got := contactsIn(res); len(got) != 2 || !strings.Contains(got[1], "transport=tcp>;expires=600") {
			t.Fatalf("two devices: %q", got)
		}
		if n := len(r.srv.Bindings("1001")); n != 2 || regs.len() != 2 {
			t.Fatalf("bindings in memory %d, stored %d; want 2 and 2", n, regs.len())
		}
		// A query (no Contact) lists them and changes nothing.
		if res := r.do(t, registerReq(t, "1001", "c3", 1)); len(contactsIn(res)) != 2 || res.GetHeader("Date") == nil {
			t.Fatalf("query: %q", contactsIn(res))
		}
		// The same Call-ID must raise the CSeq.
		if res := r.do(t, registerReq(t, "1001", "c1", 1, desk)); res.StatusCode != 500 {
			t.Fatalf("stale CSeq = %d", res.StatusCode)
		}
		// Too brief; Min-Expires says what is allowed.
		if res := r.do(t, registerReq(t, "1001", "c1", 2, desk, "Expires: 30")); res.StatusCode != 423 || hdr(res, "Min-Expires") != "60" {
			t.Fatalf("too brief = %d Min-Expires %q", res.StatusCode, hdr(res, "Min-Expires"))
		}
		// Too long is shortened to the maximum.
		if res := r.do(t, registerReq(t, "1001", "c1", 3, desk, "Expires: 99999")); !slices.Contains(contactsIn(res), "<sip:1001@10.0.0.7:5060>;expires=3600") {
			t.Fatalf("long interval: %q", contactsIn(res))
		}
		// Removing one binding leaves the other.
		res = r.do(t, registerReq(t, "1001", "c2", 2, "Contact: <sip:1001@10.0.0.8:5062;transport=tcp>;expires=0"))
		if got := contactsIn(res); len(got) != 1 || regs.len() != 1 {
			t.Fatalf("after removing one: %q, stored %d", got, regs.len())
		}
		// At most MaxBindings contacts.
		for i, c := range []string{"10.0.0.20", "10.0.0.21"} {
			if res := r.do(t, registerReq(t, "1001", "more"+c, 1, "Contact: <sip:1001@"+c+">")); res.StatusCode != 200 {
				t.Fatalf("binding %d: %d", i+2, res.StatusCode)
			}
		}
		if res := r.do(t, registerReq(t, "1001", "toomany", 1, "Contact: <sip:1001@10.0.0.22>")); res.StatusCode != 403 || !strings.Contains(res.Reason, "at most 3") {
			t.Fatalf("fourth binding = %d %s", res.StatusCode, res.Reason)
		}
		// Contact: * with Expires: 0 removes them all; * otherwise is a 400.
		if res := r.do(t, registerReq(t, "1001", "c9", 1, "Contact: *")); res.StatusCode != 400 {
			t.Fatalf("* without Expires: 0 = %d", res.StatusCode)
		}
		if res := r.do(t, registerReq(t, "1001", "c9", 2, "Contact: *", "Expires: 0")); res.StatusCode != 200 || len(contactsIn(res)) != 0 || regs.len() != 0 {
			t.Fatalf("* removal = %d %q, stored %d", res.StatusCode, contactsIn(res), regs.len())
		}
		if res := r.do(t, registerReq(t, "9999", "c10", 1, desk)); res.StatusCode != 404 {
			t.Fatalf("unknown extension = %d", res.StatusCode)
		}

		// Bindings expire on their own, in memory and in the store.
		r.do(t, registerReq(t, "1002", "e1", 1, "Contact: <sip:1002@10.0.0.9>", "Expires: 60"))
		time.Sleep(61 * time.Second)
		if err := r.srv.reg.sweep(context.Background(), time.Now()); err != nil {
			t.Fatal(err)
		}
		if n := len(r.srv.Bindings("1002")); n != 0 || regs.len() != 0 {
			t.Fatalf("after expiry: %d bindings, %d stored", n, regs.len())
		}
	})
}

// TestRegistrarOutboundAndPath: an RFC 5626 client is keyed by instance
// and reg-id, so a new Contact address from the same phone replaces its
// binding; Path is kept and echoed.
func TestRegistrarOutboundAndPath(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, _ := regRig(t, Options{Trusted: trustedLoopback()})
		inst := `+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";reg-id=1`
		res := r.do(t, registerReq(t, "1003", "o1", 1, "Contact: <sip:1003@192.0.2.4:5060;ob>;"+inst,
			"Supported: path, outbound", "Path: <sip:edge.example.com;lr>"))
		if res.StatusCode != 200 || hdr(res, "Require") != "outbound" || hdr(res, "Path") != "<sip:edge.example.com;lr>" {
			t.Fatalf("outbound REGISTER = %d Require %q Path %q", res.StatusCode, hdr(res, "Require"), hdr(res, "Path"))
		}
		r.do(t, registerReq(t, "1003", "o1", 2, "Contact: <sip:1003@192.0.2.99:6000;ob>;"+inst, "Supported: path, outbound"))
		b := r.srv.Bindings("1003")
		if len(b) != 1 || !strings.Contains(b[0].Contact, "192.0.2.99:6000") || b[0].Source != "127.0.0.1:5070" || b[0].Transport != "UDP" {
			t.Fatalf("outbound binding not replaced: %+v", b)
		}
	})
}

func TestRegistrarAuthAndRestore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, regs := regRig(t, Options{}) // nothing trusted
		req := registerReq(t, "1001", "a1", 1, "Contact: <sip:1001@10.0.0.7>")
		res := r.do(t, req)
		if res.StatusCode != 401 {
			t.Fatalf("unauthenticated REGISTER = %d", res.StatusCode)
		}
		if got := r.do(t, answerChallenge(t, req, res, "MD5", "1002", "pw1002")); got.StatusCode != 403 {
			t.Fatalf("registering another extension = %d", got.StatusCode)
		}
		if got := r.do(t, answerChallenge(t, req, res, "MD5", "1001", "pw1001")); got.StatusCode != 200 {
			t.Fatalf("own registration = %d %s", got.StatusCode, got.Reason)
		}
		// A new server on the same store has the binding back.
		s2 := newRig(t, Options{Registrar: &RegistrarOptions{Store: regs}})
		if n, err := s2.srv.reg.restore(context.Background()); err != nil || n != 1 || len(s2.srv.Bindings("1001")) != 1 {
			t.Fatalf("restore: %d %v", n, err)
		}
	})
}

func TestRegisterOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, Options{Trusted: trustedLoopback()})
		res := r.do(t, registerReq(t, "1001", "x", 1, "Contact: <sip:1001@10.0.0.7>"))
		if res.StatusCode != 405 || !strings.Contains(res.Reason, "edge-proxy") || strings.Contains(hdr(res, "Allow"), "REGISTER") {
			t.Fatalf("REGISTER in presence mode = %d %q Allow %q", res.StatusCode, res.Reason, hdr(res, "Allow"))
		}
	})
}

// TestRegistrarIndexes: the proxy finds a phone by the address it
// registered from (a two-line phone: the From user picks the line) and a
// binding by its contact; both forget what expired or was removed.
func TestRegistrarIndexes(t *testing.T) {
	r := newRegistrar(RegistrarOptions{Store: newMemRegs()})
	now := time.Now()
	rec := func(aor, contact, src string, ttl time.Duration) RegistrationRecord {
		return RegistrationRecord{AOR: aor, Binding: contact, Contact: "<" + contact + ">", Source: src, Transport: "UDP", Expires: now.Add(ttl)}
	}
	r.mu.Lock()
	r.set("1001", map[string]RegistrationRecord{"a": rec("1001", "sip:1001@10.0.0.5:5060", "10.0.0.5:5060", time.Hour)})
	r.set("1002", map[string]RegistrationRecord{"a": rec("1002", "sip:1002@10.0.0.5", "10.0.0.5:5060", time.Hour)})
	r.set("1003", map[string]RegistrationRecord{"a": rec("1003", "sip:1003@10.0.0.6:5062", "10.0.0.6:5062", -time.Second)})
	r.mu.Unlock()

	if got := r.aorOf("10.0.0.5:5060", "1002"); got != "1002" {
		t.Errorf("aorOf(two-line phone, From 1002) = %q", got)
	}
	if got := r.aorOf("10.0.0.5:5060", "9999"); got != "1001" && got != "1002" {
		t.Errorf("aorOf(two-line phone, stranger) = %q", got)
	}
	if got := r.aorOf("10.0.0.6:5062", ""); got != "" {
		t.Errorf("an expired binding still names %q", got)
	}
	var u gosip.Uri
	_ = gosip.ParseUri("sip:1002@10.0.0.5:5060", &u)
	if b, ok := r.byContactURI(u); !ok || b.AOR != "1002" {
		t.Errorf("byContactURI(default port written out) = %+v, %v", b, ok)
	}
	r.mu.Lock()
	r.set("1002", nil)
	r.mu.Unlock()
	if _, ok := r.byContactURI(u); ok {
		t.Error("a removed binding is still found by contact")
	}
	if got := r.aorOf("10.0.0.5:5060", "1002"); got != "1001" {
		t.Errorf("after removing 1002: aorOf = %q, want 1001", got)
	}
}
