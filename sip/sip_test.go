package sip

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/emiago/sipgo/siptest"

	"github.com/blfgw/blfgw/dialog"
	"github.com/blfgw/blfgw/presence"
)

// memStore is the Store port in memory. The state-machine tests run under
// testing/synctest, where cgo SQLite cannot take part; the real store is
// exercised by store's own tests and the end-to-end suite.
type memStore struct {
	mu   sync.Mutex
	subs map[string]SubscriptionRecord
	pubs map[string]PublicationRecord
	meta map[string]string
	fail error
}

func newMemStore() *memStore {
	return &memStore{subs: map[string]SubscriptionRecord{}, pubs: map[string]PublicationRecord{}, meta: map[string]string{}}
}

func (m *memStore) PutSubscriptions(_ context.Context, subs []SubscriptionRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	for _, s := range subs {
		m.subs[s.ID] = s
	}
	return nil
}

func (m *memStore) UpdateSubscriptionCounters(_ context.Context, subs []SubscriptionRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range subs {
		if old, ok := m.subs[s.ID]; ok {
			old.CSeq, old.Version, old.Expires = s.CSeq, s.Version, s.Expires
			m.subs[s.ID] = old
		}
	}
	return nil
}

func (m *memStore) DeleteSubscriptions(_ context.Context, ids []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range ids {
		delete(m.subs, id)
	}
	return nil
}

func (m *memStore) Subscriptions(context.Context) ([]SubscriptionRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []SubscriptionRecord
	for _, s := range m.subs {
		out = append(out, s)
	}
	return out, nil
}

func (m *memStore) PutPublication(_ context.Context, p PublicationRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pubs[p.ETag] = p
	return nil
}

func (m *memStore) ReplacePublication(_ context.Context, old string, p PublicationRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.pubs, old)
	m.pubs[p.ETag] = p
	return nil
}

func (m *memStore) DeletePublications(_ context.Context, etags []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range etags {
		delete(m.pubs, e)
	}
	return nil
}

func (m *memStore) Publications(context.Context) ([]PublicationRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []PublicationRecord
	for _, p := range m.pubs {
		out = append(out, p)
	}
	return out, nil
}

func (m *memStore) Meta(_ context.Context, k string) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.meta[k]
	return v, ok, nil
}

func (m *memStore) SetMeta(_ context.Context, k, v string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.meta[k] = v
	return nil
}

func (m *memStore) sub(id string) (SubscriptionRecord, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.subs[id]
	return r, ok
}

type dir map[string]Account

func (d dir) Account(n string) (Account, bool) {
	a, ok := d[n]
	return a, ok
}

func testDirectory() dir {
	d := dir{}
	for i := 1001; i <= 1006; i++ {
		n := fmt.Sprint(i)
		d[n] = Account{Number: n, Name: "Ext " + n, Password: "pw" + n}
	}
	return d
}

// phone answers the NOTIFYs the server sends, in place of the network.
type phone struct {
	mu     sync.Mutex
	got    []*gosip.Request
	copies map[string]int               // by Via branch: 1 + retransmissions
	answer func(req *gosip.Request) int // status code; 0 = never answer
}

// receive takes one datagram from the server, the way a phone would:
// a retransmission of a NOTIFY it is still working on is only counted.
func (p *phone) receive(n *notifier, msg []byte) {
	m, err := gosip.ParseMessage(msg)
	if err != nil {
		panic(fmt.Sprintf("server sent an unparsable NOTIFY: %v\n%s", err, msg))
	}
	req := m.(*gosip.Request)
	branch, _ := req.Via().Params.Get("branch")
	p.mu.Lock()
	if p.copies == nil {
		p.copies = map[string]int{}
	}
	p.copies[branch]++
	if p.copies[branch] > 1 {
		p.mu.Unlock()
		return
	}
	p.got = append(p.got, req)
	code := 200
	if p.answer != nil {
		code = p.answer(req)
	}
	p.mu.Unlock()
	if code == 0 {
		return // let Timer F expire
	}
	n.onResponse(gosip.NewResponseFromRequest(req, code, "X", nil))
}

// retransmissions counts the copies of one NOTIFY after the first.
func (p *phone) retransmissions(req *gosip.Request) int {
	branch, _ := req.Via().Params.Get("branch")
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.copies[branch] - 1
}

func (p *phone) notifies() []*gosip.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.got)
}

type rig struct {
	srv   *Server
	store *memStore
	hub   *presence.Hub
	ph    *phone
}

// newRig builds a server whose NOTIFYs go to an in-memory phone, with its
// notifier and persister running until the test ends.
func newRig(t testing.TB, opt Options) *rig {
	t.Helper()
	r := &rig{store: newMemStore(), hub: presence.NewHub(), ph: &phone{}}
	opt.Domain = "pbx.test"
	opt.Directory = testDirectory()
	opt.Hub = r.hub
	opt.Tracker = dialog.NewTracker(r.hub)
	if opt.Store == nil {
		opt.Store = r.store
	}
	opt.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	s.bind("udp", net.ParseIP("127.0.0.1"), 5060)
	s.auth = newAuthenticator("pbx.test", []byte("0123456789abcdef0123456789abcdef"), opt.Digest)
	s.notifier.out = func(tx *notifyTx) error {
		msg := slices.Clone(tx.msg)
		go r.ph.receive(s.notifier, msg)
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { s.notifier.run(ctx) })
	wg.Go(func() { s.persist.run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		s.notifier.wait()
		s.subs.stopTimers()
		_ = s.ua.Close()
	})
	r.srv = s
	return r
}

// request parses a raw SIP request as if it came from src.
func request(t testing.TB, raw, src string) *gosip.Request {
	t.Helper()
	head, body, _ := strings.Cut(strings.TrimLeft(raw, "\n"), "\n\n")
	raw = strings.ReplaceAll(head, "\n", "\r\n") + "\r\n\r\n" + body
	msg, err := gosip.ParseMessage([]byte(raw))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, raw)
	}
	req := msg.(*gosip.Request)
	req.SetSource(src)
	req.SetTransport("UDP")
	return req
}

// do runs a request through the server's middleware and handler and returns
// the final response.
func (r *rig) do(t testing.TB, req *gosip.Request) *gosip.Response {
	t.Helper()
	tx := siptest.NewServerTxRecorder(req)
	var h func(*gosip.Request, gosip.ServerTransaction)
	switch req.Method {
	case gosip.SUBSCRIBE:
		h = r.srv.handle("SUBSCRIBE", r.srv.onSubscribe)
	case gosip.PUBLISH:
		h = r.srv.handle("PUBLISH", r.srv.onPublish)
	case gosip.REGISTER:
		h = r.srv.handle("REGISTER", r.srv.onRegister)
	default:
		h = r.srv.handle("other", r.srv.onOther)
	}
	h(req, tx)
	tx.Terminate() // as over TCP: no Timer J holding it in memory
	res := tx.Result()
	if len(res) == 0 {
		t.Fatalf("no response to %s", req.Method)
	}
	return res[len(res)-1]
}

func subscribeReq(t testing.TB, entity, event, expires, extra string) *gosip.Request {
	t.Helper()
	return request(t, fmt.Sprintf(`
SUBSCRIBE sip:%s@pbx.test SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-%s-%s
From: <sip:1002@pbx.test>;tag=w1
To: <sip:%s@pbx.test>
Call-ID: call-%s-%s@127.0.0.1
CSeq: 1 SUBSCRIBE
Contact: <sip:1002@127.0.0.1:5070>
Max-Forwards: 70
%s%s
Content-Length: 0

`, entity, entity, event, entity, entity, event, eventLine(event), expiresLine(expires)+extra), "127.0.0.1:5070")
}

func eventLine(e string) string {
	if e == "" {
		return ""
	}
	return "Event: " + e + "\n"
}

func expiresLine(e string) string {
	if e == "" {
		return ""
	}
	return "Expires: " + e + "\n"
}

// inDialog builds a refresh or unsubscribe for the subscription that res
// accepted.
func inDialog(t *testing.T, res *gosip.Response, entity, event string, cseq int, expires string) *gosip.Request {
	t.Helper()
	tag, _ := res.To().Params.Get("tag")
	return request(t, fmt.Sprintf(`
SUBSCRIBE sip:%s@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-r%d-%d
From: <sip:1002@pbx.test>;tag=w1
To: <sip:%s@pbx.test>;tag=%s
Call-ID: %s
CSeq: %d SUBSCRIBE
Contact: <sip:1002@127.0.0.1:5070>
Max-Forwards: 70
Event: %s
Expires: %s
Content-Length: 0

`, entity, cseq, branches.Add(1), entity, tag, res.CallID().Value(), cseq, event, expires), "127.0.0.1:5070")
}

func hdr(m interface{ GetHeader(string) gosip.Header }, name string) string {
	if h := m.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}

func trustedLoopback() []netip.Prefix { return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} }

func newTxRecorder(req *gosip.Request) *siptest.ServerTxRecorder {
	return siptest.NewServerTxRecorder(req)
}

func TestPeerSafeLog(t *testing.T) {
	var buf strings.Builder
	log := slog.New(newPeerSafeHandler(slog.NewTextHandler(&buf, nil)))
	garbage := "SUBSCRIBE x\r\n" + strings.Repeat("x", 5000)
	for range 100 {
		log.Error("failed to parse", "data", garbage, "error", "bad")
	}
	log.Warn("TCP ref went negative", "ref", -1)
	log.Warn("UDP ref went negative on try close", "ref", -1)
	log.Info("ordinary", "k", "v")
	out := buf.String()
	if n := strings.Count(out, "failed to parse"); n != 1 {
		t.Fatalf("garbage logged %d times in one interval, want 1", n)
	}
	if len(out) > 1000 || strings.Contains(out, "\r") {
		t.Fatalf("garbage not cut to an excerpt (%d bytes):\n%s", len(out), out)
	}
	if strings.Contains(out, "ref went negative") || !strings.Contains(out, "ordinary") {
		t.Fatalf("filtering wrong:\n%s", out)
	}
}
