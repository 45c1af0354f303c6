package sip

import (
	"fmt"
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
	r := newRig(&testing.T{}, Options{Trusted: trustedLoopback()})
	var answered atomic.Int64
	r.ph.answer = func(*gosip.Request) int { answered.Add(1); return 200 }
	const watchers = 1000
	for i := range watchers {
		req := subscribeReq(&testing.T{}, "1001", "dialog", "3600", "")
		req.From().Params.Remove("tag")
		req.From().Params.Add("tag", "w"+strconv.Itoa(i))
		req.CallID()
		cid := gosip.CallIDHeader(fmt.Sprintf("bench-%d", i))
		req.ReplaceHeader(&cid)
		if res := r.do(&testing.T{}, req); res.StatusCode != 200 {
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
		r.ph.got = nil
		r.ph.mu.Unlock()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*watchers), "ns/notify")
}
