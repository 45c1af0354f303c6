package sip

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/blfgw/blfgw/presence"
)

var versionRe = regexp.MustCompile(`version="(\d+)"`)

func versionOf(t *testing.T, n *gosip.Request) int {
	t.Helper()
	m := versionRe.FindSubmatch(n.Body())
	if m == nil {
		t.Fatalf("no version in body:\n%s", n.Body())
	}
	v, _ := strconv.Atoi(string(m[1]))
	return v
}

func ringing(id string) []presence.Dialog {
	return []presence.Dialog{{ID: id, CallID: "c" + id, State: presence.Early, Direction: presence.Recipient,
		Remote: presence.Party{URI: "sip:300@pbx.test", Display: "Carol"}}}
}

func TestSubscriptionLifecycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, Options{Trusted: trustedLoopback()})
		res := r.do(t, subscribeReq(t, "1001", "dialog", "600", ""))
		if res.StatusCode != 200 {
			t.Fatalf("SUBSCRIBE = %d %s", res.StatusCode, res.Reason)
		}
		tag, _ := res.To().Params.Get("tag")
		if tag == "" || hdr(res, "Contact") == "" {
			t.Fatalf("200 lacks To-tag or Contact:\n%s", res)
		}
		granted, _ := strconv.Atoi(hdr(res, "Expires"))
		if granted > 600 || granted < 540 {
			t.Fatalf("granted Expires %d, want 540..600", granted)
		}
		synctest.Wait()
		got := r.ph.notifies()
		if len(got) != 1 {
			t.Fatalf("want 1 NOTIFY after accept, got %d", len(got))
		}
		n := got[0]
		if versionOf(t, n) != 0 || !strings.Contains(string(n.Body()), `state="full"`) {
			t.Fatalf("first NOTIFY body:\n%s", n.Body())
		}
		if ss := hdr(n, "Subscription-State"); ss != "active;expires="+strconv.Itoa(granted) {
			t.Fatalf("Subscription-State %q, want active;expires=%d", ss, granted)
		}
		if from, _ := n.From().Params.Get("tag"); from != tag {
			t.Fatalf("NOTIFY From tag %q, want %q", from, tag)
		}
		if to, _ := n.To().Params.Get("tag"); to != "w1" {
			t.Fatalf("NOTIFY To tag %q", to)
		}
		if rec, ok := r.store.sub(subKey(n.CallID().Value(), tag, "w1", event{pkg: "dialog"})); !ok || rec.Entity != "1001" {
			t.Fatalf("subscription not stored before the 200: %+v", rec)
		}

		// A change, 10 s later: the countdown and the version move on.
		time.Sleep(10 * time.Second)
		r.hub.SetDialogs("1001", presence.SourceSIP, ringing("1"))
		synctest.Wait()
		got = r.ph.notifies()
		if len(got) != 2 || versionOf(t, got[1]) != 1 || got[1].CSeq().SeqNo != n.CSeq().SeqNo+1 {
			t.Fatalf("after change: %d NOTIFYs", len(got))
		}
		if ss := hdr(got[1], "Subscription-State"); ss != "active;expires="+strconv.Itoa(granted-10) {
			t.Fatalf("Subscription-State %q, want %d left", ss, granted-10)
		}
		if !strings.Contains(string(got[1].Body()), "<state>early</state>") || !strings.Contains(string(got[1].Body()), `display="Carol"`) {
			t.Fatalf("ringing body:\n%s", got[1].Body())
		}

		// A refresh re-sends the unchanged state and restarts the clock.
		res2 := r.do(t, inDialog(t, res, "1001", "dialog", 2, "600"))
		if res2.StatusCode != 200 {
			t.Fatalf("refresh = %d", res2.StatusCode)
		}
		synctest.Wait()
		got = r.ph.notifies()
		if len(got) != 3 || versionOf(t, got[2]) != 2 {
			t.Fatalf("refresh did not NOTIFY: %d", len(got))
		}
		// A stale CSeq is refused.
		if res3 := r.do(t, inDialog(t, res, "1001", "dialog", 2, "600")); res3.StatusCode != 500 {
			t.Fatalf("stale refresh = %d", res3.StatusCode)
		}

		// Expiry ends it with reason=timeout and forgets it.
		refreshed, _ := strconv.Atoi(hdr(res2, "Expires"))
		time.Sleep(time.Duration(refreshed)*time.Second + time.Second)
		synctest.Wait()
		got = r.ph.notifies()
		if len(got) != 4 || hdr(got[3], "Subscription-State") != "terminated;reason=timeout" {
			t.Fatalf("expiry: %d NOTIFYs, last %q", len(got), hdr(got[len(got)-1], "Subscription-State"))
		}
		if r.srv.Subscriptions() != 0 {
			t.Fatalf("subscription kept after expiry")
		}
		time.Sleep(time.Second) // let the persister run
		synctest.Wait()
		if len(r.store.subs) != 0 {
			t.Fatalf("store still has %d subscriptions", len(r.store.subs))
		}
		// A refresh of the ended dialog gets 481.
		if res4 := r.do(t, inDialog(t, res, "1001", "dialog", 3, "600")); res4.StatusCode != 481 {
			t.Fatalf("refresh after expiry = %d", res4.StatusCode)
		}
	})
}

func TestSubscriptionCoalesces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, Options{Trusted: trustedLoopback()})
		release := make(chan struct{})
		r.ph.answer = func(req *gosip.Request) int {
			if req.CSeq().SeqNo == 2 {
				r.ph.mu.Unlock()
				<-release // hold the second NOTIFY in flight
				r.ph.mu.Lock()
			}
			return 200
		}
		r.do(t, subscribeReq(t, "1001", "dialog", "600", ""))
		synctest.Wait()
		r.hub.SetDialogs("1001", presence.SourceSIP, ringing("1"))
		synctest.Wait()
		// While NOTIFY 2 is unanswered, three more changes arrive.
		r.hub.SetDialogs("1001", presence.SourceSIP, []presence.Dialog{{ID: "1", State: presence.Confirmed}})
		r.hub.SetDialogs("1001", presence.SourceSIP, []presence.Dialog{{ID: "1", State: presence.Confirmed, Held: true}})
		r.hub.SetDialogs("1001", presence.SourceSIP, []presence.Dialog{{ID: "1", State: presence.Confirmed}})
		synctest.Wait()
		if n := len(r.ph.notifies()); n != 2 {
			t.Fatalf("NOTIFYs while one in flight: %d, want 2", n)
		}
		close(release)
		synctest.Wait()
		got := r.ph.notifies()
		if len(got) != 3 {
			t.Fatalf("burst became %d NOTIFYs, want 1 more (3 in all)", len(got))
		}
		body := string(got[2].Body())
		if versionOf(t, got[2]) != 2 || !strings.Contains(body, "<state>confirmed</state>") || strings.Contains(body, "+sip.rendering") {
			t.Fatalf("coalesced NOTIFY is not the latest state:\n%s", body)
		}
	})
}

func TestSubscriptionUnsubscribeAndFetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, Options{Trusted: trustedLoopback()})
		r.hub.SetDialogs("1003", presence.SourceSIP, []presence.Dialog{{ID: "9", State: presence.Confirmed}})

		// Initial Expires: 0 is a fetch: one terminated NOTIFY with the state.
		res := r.do(t, subscribeReq(t, "1003", "presence", "0", ""))
		if res.StatusCode != 200 || hdr(res, "Expires") != "0" {
			t.Fatalf("fetch = %d Expires %q", res.StatusCode, hdr(res, "Expires"))
		}
		synctest.Wait()
		got := r.ph.notifies()
		if len(got) != 1 || hdr(got[0], "Subscription-State") != "terminated;reason=timeout" ||
			!strings.Contains(string(got[0].Body()), "on-the-phone") || hdr(got[0], "Content-Type") != "application/pidf+xml" {
			t.Fatalf("fetch NOTIFY: %v", got)
		}
		if r.srv.Subscriptions() != 0 || r.hub.Watchers("1003") != 0 {
			t.Fatal("fetch left a subscription behind")
		}

		// Unsubscribe: 200, then terminated;reason=timeout.
		res = r.do(t, subscribeReq(t, "1001", "dialog", "600", ""))
		synctest.Wait()
		res2 := r.do(t, inDialog(t, res, "1001", "dialog", 2, "0"))
		if res2.StatusCode != 200 || hdr(res2, "Expires") != "0" {
			t.Fatalf("unsubscribe = %d", res2.StatusCode)
		}
		synctest.Wait()
		got = r.ph.notifies()
		if last := got[len(got)-1]; hdr(last, "Subscription-State") != "terminated;reason=timeout" {
			t.Fatalf("unsubscribe NOTIFY state %q", hdr(last, "Subscription-State"))
		}
		if r.srv.Subscriptions() != 0 || r.hub.Watchers("1001") != 0 {
			t.Fatal("unsubscribe left a subscription behind")
		}
	})
}

func TestSubscriptionRemovedOnNotifyErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		code     int
		timeouts int
		failures int // NOTIFYs failing before it is dropped
	}{
		{"481", 481, 1, 1},
		{"404", 404, 1, 1},
		{"410", 410, 1, 1},
		{"timeout tolerated once", 0, 2, 2},
		{"timeout drops at once", 0, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRig(t, Options{Trusted: trustedLoopback(), NotifyTimeouts: tc.timeouts})
				failing := false
				r.ph.answer = func(*gosip.Request) int {
					if failing {
						return tc.code
					}
					return 200
				}
				r.do(t, subscribeReq(t, "1001", "dialog", "600", ""))
				synctest.Wait()
				failing = true
				for i := range tc.failures {
					if r.srv.Subscriptions() != 1 {
						t.Fatalf("dropped after %d failures, want %d", i, tc.failures)
					}
					r.hub.SetDialogs("1001", presence.SourceSIP, ringing(strconv.Itoa(i)))
					time.Sleep(40 * time.Second) // past Timer F
					synctest.Wait()
				}
				if r.srv.Subscriptions() != 0 || r.hub.Watchers("1001") != 0 {
					t.Fatalf("still subscribed after %d failures", tc.failures)
				}
				before := len(r.ph.notifies())
				r.hub.SetDialogs("1001", presence.SourceSIP, nil)
				synctest.Wait()
				if len(r.ph.notifies()) != before {
					t.Fatal("NOTIFY sent to a removed subscription")
				}
			})
		})
	}
}

func TestSubscribeRefusals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, Options{Trusted: trustedLoopback(), MinExpires: 60 * time.Second})
		for _, tc := range []struct {
			name   string
			req    *gosip.Request
			code   int
			header string // a header the answer must carry
		}{
			{"no event", subscribeReq(t, "1001", "", "600", ""), 489, "Allow-Events"},
			{"unknown event", subscribeReq(t, "1001", "message-summary", "600", ""), 489, "Allow-Events"},
			{"unknown extension", subscribeReq(t, "9999", "dialog", "600", ""), 404, ""},
			{"not acceptable", subscribeReq(t, "1001", "dialog", "600", "Accept: application/xpidf+xml\n"), 406, "Accept"},
			{"too brief", subscribeReq(t, "1001", "dialog", "30", ""), 423, "Min-Expires"},
			{"bad expires", subscribeReq(t, "1001", "dialog", "soon", ""), 400, ""},
		} {
			res := r.do(t, tc.req)
			if res.StatusCode != tc.code {
				t.Errorf("%s: got %d %s, want %d", tc.name, res.StatusCode, res.Reason, tc.code)
			}
			if tc.header != "" && hdr(res, tc.header) == "" {
				t.Errorf("%s: answer lacks %s", tc.name, tc.header)
			}
		}
		// Compact Event form and a wildcard Accept are understood.
		req := subscribeReq(t, "1001", "", "600", "o: presence\nAccept: application/*\n")
		if res := r.do(t, req); res.StatusCode != 200 {
			t.Errorf("compact o: = %d %s", res.StatusCode, res.Reason)
		}
	})
}

// TestDeadWatchersDoNotStallOthers: more unreachable phones than NOTIFY
// slots must not hold a live phone's lamp for Timer F (32 s).
func TestDeadWatchersDoNotStallOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, Options{Trusted: trustedLoopback(), NotifyInflight: 4, NotifyTimeouts: 3})
		var live *gosip.Request
		r.ph.answer = func(req *gosip.Request) int {
			if strings.HasPrefix(req.CallID().Value(), "dead-") && req.CSeq().SeqNo > 1 {
				return 0 // unplugged after its first NOTIFY
			}
			if req.CallID().Value() == "live" && req.CSeq().SeqNo > 1 {
				live = req
			}
			return 200
		}
		sub := func(callID, entity string) {
			req := subscribeReq(t, entity, "dialog", "600", "")
			cid := gosip.CallIDHeader(callID)
			req.ReplaceHeader(&cid)
			if res := r.do(t, req); res.StatusCode != 200 {
				t.Fatalf("subscribe %s: %d", callID, res.StatusCode)
			}
		}
		for i := range 20 {
			sub("dead-"+strconv.Itoa(i), "1001")
		}
		synctest.Wait()
		sub("live", "1002")
		synctest.Wait()

		start := time.Now()
		r.hub.SetDialogs("1001", presence.SourceSIP, ringing("a")) // 20 NOTIFYs into the void
		synctest.Wait()
		r.hub.SetDialogs("1002", presence.SourceSIP, ringing("b"))
		got := func() bool {
			r.ph.mu.Lock()
			defer r.ph.mu.Unlock()
			return live != nil
		}
		for !got() && time.Since(start) < time.Minute {
			time.Sleep(100 * time.Millisecond)
			synctest.Wait()
		}
		if !got() {
			t.Fatal("the live watcher never got its NOTIFY")
		}
		// 20 dead NOTIFYs through 4 slots give their slots back in 5 waves
		// of slowAfter, instead of holding them for Timer F (32 s).
		if waited, limit := time.Since(start), 5*slowAfter+time.Second; waited > limit {
			t.Fatalf("live watcher waited %v behind dead ones, want at most %v", waited, limit)
		}
		// The dead ones end up in the suspect lane and are dropped after
		// notify_timeouts failures; the live one stays.
		for range 3 {
			time.Sleep(40 * time.Second)
			r.hub.SetDialogs("1001", presence.SourceSIP, ringing(strconv.Itoa(int(time.Now().Unix()))))
			synctest.Wait()
		}
		time.Sleep(40 * time.Second)
		synctest.Wait()
		if n := r.srv.Subscriptions(); n != 1 {
			t.Fatalf("%d subscriptions left, want only the live one", n)
		}
	})
}

// TestNotifyRetransmission: a NOTIFY over UDP that gets no answer is sent
// again at T1, doubling up to T2 (RFC 3261 17.1.2.2), and given up at
// Timer F; a provisional answer slows the copies to one per T2.
func TestNotifyRetransmission(t *testing.T) {
	for _, tc := range []struct {
		name        string
		provisional bool
		want        int // retransmissions within Timer F
	}{
		// 0.5, 1.5, 3.5, 7.5, 11.5 ... 31.5 s
		{"unanswered", false, 10},
		// 100 Trying at once: Timer E still fires at 0.5 s, then is reset
		// to T2 every time (17.1.2.2): 0.5, 4.5 ... 28.5 s
		{"after 100 Trying", true, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRig(t, Options{Trusted: trustedLoopback(), NotifyTimeouts: 5})
				silent := false
				r.ph.answer = func(req *gosip.Request) int {
					if !silent {
						return 200
					}
					if tc.provisional {
						go r.srv.notifier.onResponse(gosip.NewResponseFromRequest(req, 100, "Trying", nil))
					}
					return 0
				}
				r.do(t, subscribeReq(t, "1001", "dialog", "600", ""))
				synctest.Wait()
				silent = true
				r.hub.SetDialogs("1001", presence.SourceSIP, ringing("1"))
				synctest.Wait()
				got := r.ph.notifies()
				last := got[len(got)-1]
				time.Sleep(gosip.Timer_F - time.Millisecond)
				synctest.Wait()
				if n := r.ph.retransmissions(last); n != tc.want {
					t.Fatalf("%d retransmissions before Timer F, want %d", n, tc.want)
				}
				st := r.srv.Stats()
				if st["notify_failed"] != 0 || st["notify_slow"] != 1 {
					t.Fatalf("before Timer F: %v", st)
				}
				time.Sleep(time.Second)
				synctest.Wait()
				st = r.srv.Stats()
				if st["notify_failed"] != 1 || r.srv.notifier.txs.len() != 0 {
					t.Fatalf("after Timer F: %v, %d transactions open", st, r.srv.notifier.txs.len())
				}
				if r.ph.retransmissions(last) != tc.want {
					t.Fatal("retransmitted after Timer F")
				}
			})
		})
	}
}

// TestSubscribeRetransmission: a SUBSCRIBE that arrives again over UDP
// (our 200 was lost) gets the same 200 and neither a second subscription
// nor a second NOTIFY; so does a retransmitted refresh, which is not a
// stale CSeq. The answers are kept for Timer J, not longer.
func TestSubscribeRetransmission(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, Options{Trusted: trustedLoopback()})
		req := subscribeReq(t, "1001", "dialog", "600", "")
		res := r.do(t, req)
		synctest.Wait()
		again := r.do(t, resend(req))
		synctest.Wait()
		if again.StatusCode != 200 || again.To().Value() != res.To().Value() || hdr(again, "Expires") != hdr(res, "Expires") {
			t.Fatalf("retransmission answered %d To %q Expires %q, first %q %q",
				again.StatusCode, again.To().Value(), hdr(again, "Expires"), res.To().Value(), hdr(res, "Expires"))
		}
		if n, subs := len(r.ph.notifies()), r.srv.Subscriptions(); n != 1 || subs != 1 {
			t.Fatalf("after a retransmitted SUBSCRIBE: %d NOTIFYs, %d subscriptions; want 1 and 1", n, subs)
		}

		refresh := inDialog(t, res, "1001", "dialog", 2, "600")
		if got := r.do(t, refresh); got.StatusCode != 200 {
			t.Fatalf("refresh = %d", got.StatusCode)
		}
		synctest.Wait()
		if got := r.do(t, resend(refresh)); got.StatusCode != 200 {
			t.Fatalf("retransmitted refresh = %d %s, want the same 200", got.StatusCode, got.Reason)
		}
		synctest.Wait()
		if n := len(r.ph.notifies()); n != 2 {
			t.Fatalf("%d NOTIFYs after refresh and its retransmission, want 2", n)
		}

		time.Sleep(gosip.Timer_J)
		r.srv.answered.sweep(time.Now())
		if n := r.srv.answered.len(); n != 2 {
			t.Fatalf("%d answers kept after Timer J, want 2", n)
		}
		time.Sleep(gosip.Timer_J)
		r.srv.answered.sweep(time.Now())
		if n := r.srv.answered.len(); n != 0 {
			t.Fatalf("%d answers kept after 2 x Timer J, want 0", n)
		}
	})
}

// resend is the same request once more, as a retransmission.
func resend(req *gosip.Request) *gosip.Request {
	again := req.Clone()
	again.SetSource(req.Source())
	again.SetTransport(req.Transport())
	return again
}
