package sip

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/blfgw/blfgw/presence"
)

// BenchmarkFanOut measures the gateway's own cost of one state change
// reaching 1,000 subscriptions: snapshot, body, NOTIFY building, client
// transactions and response handling, with the network replaced by an
// in-memory phone. make bench measures the same over real UDP with SIPp.
func BenchmarkFanOut(b *testing.B) {
	r := newRig(b, Options{Trusted: trustedLoopback()})
	var answered atomic.Int64
	r.ph.answer = func(*gosip.Request) int { answered.Add(1); return 200 }
	const watchers = 1000
	for i := range watchers {
		req := subscribeReq(b, "1001", "dialog", "3600", "")
		req.From().Params.Remove("tag")
		req.From().Params.Add("tag", "w"+strconv.Itoa(i))
		req.CallID()
		cid := gosip.CallIDHeader(fmt.Sprintf("bench-%d", i))
		req.ReplaceHeader(&cid)
		if res := r.do(b, req); res.StatusCode != 200 {
			b.Fatalf("subscribe %d: %d", i, res.StatusCode)
		}
	}
	waitFor := func(n int64) {
		for answered.Load() < n {
			time.Sleep(50 * time.Microsecond)
		}
	}
	waitFor(watchers)
	r.ph.mu.Lock()
	r.ph.got = nil // keep memory flat
	r.ph.mu.Unlock()
	b.ResetTimer()
	for i := range b.N {
		want := answered.Load() + watchers
		st := presence.Confirmed
		if i%2 == 0 {
			st = presence.Early
		}
		r.hub.SetDialogs("1001", presence.SourceSIP, []presence.Dialog{{ID: "x", State: st, Direction: presence.Recipient}})
		waitFor(want)
		r.ph.mu.Lock()
		r.ph.got, r.ph.copies = nil, nil
		r.ph.mu.Unlock()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*watchers), "ns/notify")
}

// discardStore keeps nothing, so that BenchmarkSubscriptionMemory counts
// the subscriptions alone (the real store keeps them in SQLite, not the Go
// heap).
type discardStore struct{ *memStore }

func (discardStore) PutSubscriptions(context.Context, []SubscriptionRecord) error { return nil }

// BenchmarkSubscriptionMemory reports the Go heap one active subscription
// holds: a phone's SUBSCRIBE as Yealink sends it, accepted and notified.
// make bench measures the whole process (RSS) over real UDP.
func BenchmarkSubscriptionMemory(b *testing.B) {
	const n = 20000
	r := newRig(b, Options{Trusted: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}, Store: discardStore{newMemStore()}})
	var answered atomic.Int64
	r.ph.answer = func(*gosip.Request) int { answered.Add(1); return 200 }
	var perSub float64
	for iter := range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for j := range n {
			i := iter*n + j
			ext := strconv.Itoa(1001 + i%6)
			req := request(b, fmt.Sprintf(`
SUBSCRIBE sip:%s@pbx.test SIP/2.0
Via: SIP/2.0/UDP 10.%d.%d.%d:5060;branch=z9hG4bK%08d;rport
From: "Desk %d" <sip:2%05d@pbx.test>;tag=%010d
To: <sip:%s@pbx.test>
Call-ID: %016x@10.%d.%d.%d
CSeq: 1 SUBSCRIBE
Contact: <sip:2%05d@10.%d.%d.%d:5060>
Max-Forwards: 70
User-Agent: Yealink SIP-T54W 96.86.0.70
Accept: application/dialog-info+xml
Event: dialog
Expires: 3600
Content-Length: 0

`, ext, iter, j/250, j%250, i, i, i, i, ext, i, iter, j/250, j%250, i, iter, j/250, j%250), fmt.Sprintf("10.%d.%d.%d:5060", iter, j/250, j%250))
			if res := r.do(b, req); res.StatusCode != 200 {
				b.Fatalf("subscribe %d: %d %s", i, res.StatusCode, res.Reason)
			}
		}
		for answered.Load() < int64((iter+1)*n) {
			time.Sleep(100 * time.Microsecond)
		}
		r.ph.mu.Lock()
		r.ph.got, r.ph.copies = nil, nil
		r.ph.mu.Unlock()
		// The 200s remembered for retransmissions go after Timer J.
		r.srv.answered.sweep(time.Now().Add(2 * gosip.Timer_J))
		runtime.GC()
		runtime.ReadMemStats(&after)
		perSub = float64(after.HeapAlloc-before.HeapAlloc) / n
	}
	b.ReportMetric(perSub, "heapB/sub")
}
