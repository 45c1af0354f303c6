package sip

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/blfgw/blfgw/presence"
)

// TestRestoreContinuesSequence restarts the SIP edge on the same store: the
// watcher gets the unchanged state with a higher CSeq and the next version,
// without subscribing again.
func TestRestoreContinuesSequence(t *testing.T) {
	for _, tc := range []struct {
		name  string
		clean bool
	}{
		{"clean stop", true},
		{"kill -9", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				first := newRig(t, Options{Trusted: trustedLoopback()})
				if res := first.do(t, publishReq(t, "1001", "", "600", heldDoc)); res.StatusCode != 200 {
					t.Fatalf("PUBLISH = %d", res.StatusCode)
				}
				first.do(t, subscribeReq(t, "1001", "dialog", "600", ""))
				synctest.Wait()
				first.hub.SetDialogs("1001", presence.SourceSIP, ringing("x")) // one more NOTIFY
				synctest.Wait()
				before := first.ph.notifies()
				last := before[len(before)-1]
				time.Sleep(time.Second) // the persister writes CSeq and version behind
				synctest.Wait()
				if tc.clean {
					if err := first.srv.persist.flushExact(context.Background()); err != nil {
						t.Fatal(err)
					}
				}

				// A new process: same store, new hub, nothing subscribed.
				second := newRig(t, Options{Trusted: trustedLoopback()})
				second.store = first.store
				second.srv.opt.Store = first.store
				if err := second.srv.restore(context.Background()); err != nil {
					t.Fatal(err)
				}
				synctest.Wait()
				got := second.ph.notifies()
				if len(got) != 1 {
					t.Fatalf("restored watcher got %d NOTIFYs, want 1", len(got))
				}
				n := got[0]
				// Exactly the next numbers after a clean stop; after a kill -9
				// the next after the reservation, higher but at most
				// restoreJump ahead.
				cseq, lastCSeq := n.CSeq().SeqNo, last.CSeq().SeqNo
				ver, lastVer := versionOf(t, n), versionOf(t, last)
				if tc.clean && (cseq != lastCSeq+1 || ver != lastVer+1) {
					t.Fatalf("CSeq %d version %d, want exactly %d and %d", cseq, ver, lastCSeq+1, lastVer+1)
				}
				if !tc.clean && (cseq <= lastCSeq || cseq > lastCSeq+restoreJump+1 || ver <= lastVer || ver > lastVer+restoreJump+1) {
					t.Fatalf("CSeq %d version %d after %d and %d: want higher, by at most %d", cseq, ver, lastCSeq, lastVer, restoreJump+1)
				}
				// The next reservation is stored before the restored NOTIFY.
				if rec, _ := first.store.sub(first.srv.subs.all()[0].key); rec.CSeq < cseq {
					t.Fatalf("stored CSeq mark %d below the CSeq sent (%d)", rec.CSeq, cseq)
				}
				if n.CallID().Value() != last.CallID().Value() || hdr(n, "Event") != hdr(last, "Event") {
					t.Fatalf("restored NOTIFY is in another dialog:\n%s", n)
				}
				// The published hold survived too (the ringing was set on the
				// old hub only, not published, so it is gone).
				if body := string(n.Body()); !strings.Contains(body, `pname="+sip.rendering"`) {
					t.Fatalf("restored state lost the published hold:\n%s", body)
				}
				if v, _, _ := first.store.Meta(context.Background(), metaClean); v != "0" {
					t.Fatalf("clean marker not reset after start: %q", v)
				}
			})
		})
	}
}

// TestCountersReservedInBlocks: NOTIFYs do not write the store one by one;
// the stored marks stay ahead of what was sent and move a block at a time.
func TestCountersReservedInBlocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, Options{Trusted: trustedLoopback()})
		res := r.do(t, subscribeReq(t, "1001", "dialog", "3600", ""))
		synctest.Wait()
		tag, _ := res.To().Params.Get("tag")
		key := subKey(res.CallID().Value(), tag, "w1", event{pkg: "dialog"})
		stored := func() SubscriptionRecord {
			time.Sleep(time.Second) // past the write-behind interval
			synctest.Wait()
			rec, _ := r.store.sub(key)
			return rec
		}
		first := stored()
		if first.CSeq != restoreJump || first.Version != restoreJump {
			t.Fatalf("initial reservation CSeq %d version %d, want %d", first.CSeq, first.Version, restoreJump)
		}
		for i := range restoreJump {
			st := presence.Confirmed
			if i%2 == 0 {
				st = presence.Early
			}
			r.hub.SetDialogs("1001", presence.SourceSIP, []presence.Dialog{{ID: "d", State: st, Direction: presence.Recipient}})
			synctest.Wait()
			sent := uint32(len(r.ph.notifies()))
			if rec := stored(); rec.CSeq < sent || rec.Version < sent {
				t.Fatalf("after %d NOTIFYs the stored marks (%d, %d) fell behind", sent, rec.CSeq, rec.Version)
			}
		}
		if rec := stored(); rec.CSeq == first.CSeq {
			t.Fatalf("mark never moved after %d NOTIFYs", restoreJump)
		}
	})
}
