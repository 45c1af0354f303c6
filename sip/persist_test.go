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
		jump  uint32
	}{
		{"clean stop", true, 0},
		{"kill -9", false, restoreJump},
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
					if err := first.store.SetMeta(context.Background(), metaClean, "1"); err != nil {
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
				if want := last.CSeq().SeqNo + 1 + tc.jump; n.CSeq().SeqNo != want {
					t.Fatalf("CSeq %d, want %d", n.CSeq().SeqNo, want)
				}
				if want := versionOf(t, last) + 1 + int(tc.jump); versionOf(t, n) != want {
					t.Fatalf("version %d, want %d", versionOf(t, n), want)
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
