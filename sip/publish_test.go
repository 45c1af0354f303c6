package sip

import (
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/blfgw/blfgw/presence"
)

const ringingDoc = `<?xml version="1.0"?>
<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="3" state="full" entity="sip:1001@pbx.test">
<dialog id="a1" call-id="x@y" local-tag="l" remote-tag="r" direction="recipient"><state>early</state>
<remote><identity display="Carol &amp; Co">sip:300@pbx.test</identity></remote></dialog>
</dialog-info>`

const heldDoc = `<?xml version="1.0"?>
<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="4" state="full" entity="sip:1001@pbx.test">
<dialog id="a1" call-id="x@y" direction="recipient"><state>confirmed</state>
<local><identity>sip:1001@pbx.test</identity><target uri="sip:1001@10.0.0.5"><param pname="+sip.rendering" pvalue="no"/></target></local></dialog>
</dialog-info>`

func publishReq(t *testing.T, entity, ifMatch, expires, body string) *gosip.Request {
	t.Helper()
	return publishReqAs(t, entity, ifMatch, expires, body, "application/dialog-info+xml", "dialog")
}

func publishReqAs(t *testing.T, entity, ifMatch, expires, body, ctype, event string) *gosip.Request {
	t.Helper()
	extra := ""
	if ifMatch != "" {
		extra += "SIP-If-Match: " + ifMatch + "\n"
	}
	if expires != "" {
		extra += "Expires: " + expires + "\n"
	}
	if body != "" {
		extra += "Content-Type: " + ctype + "\n"
	}
	return request(t, fmt.Sprintf(`
PUBLISH sip:%s@pbx.test SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-p%d
From: <sip:pbx@pbx.test>;tag=p1
To: <sip:%s@pbx.test>
Call-ID: pub-%d
CSeq: 1 PUBLISH
Max-Forwards: 70
Event: %s
%sContent-Length: %d

%s`, entity, time.Now().UnixNano(), entity, time.Now().UnixNano(), event, extra, len(body), body), "127.0.0.1:5080")
}

func TestPublishLifecycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, Options{Trusted: trustedLoopback(), MinExpires: 10 * time.Second})
		res := r.do(t, publishReq(t, "1001", "", "60", ringingDoc))
		etag := hdr(res, "SIP-ETag")
		if res.StatusCode != 200 || etag == "" || hdr(res, "Expires") != "60" {
			t.Fatalf("initial PUBLISH = %d etag %q expires %q", res.StatusCode, etag, hdr(res, "Expires"))
		}
		snap := r.hub.Current("1001")
		if snap.Lamp() != presence.LampRinging || snap.Dialogs[0].Remote.Display != "Carol & Co" {
			t.Fatalf("state after PUBLISH: %+v", snap.Dialogs)
		}
		if _, ok := r.store.pubs[etag]; !ok {
			t.Fatal("publication not stored before the 200")
		}

		// Refresh: no body, new tag, same state.
		res = r.do(t, publishReq(t, "1001", etag, "60", ""))
		etag2 := hdr(res, "SIP-ETag")
		if res.StatusCode != 200 || etag2 == "" || etag2 == etag {
			t.Fatalf("refresh = %d etag %q (old %q)", res.StatusCode, etag2, etag)
		}
		if p := r.store.pubs[etag2]; string(p.Body) != ringingDoc {
			t.Fatalf("refresh lost the stored body: %q", p.Body)
		}
		if res := r.do(t, publishReq(t, "1001", etag, "60", "")); res.StatusCode != 412 {
			t.Fatalf("refresh with the old tag = %d, want 412", res.StatusCode)
		}

		// Modify: hold.
		res = r.do(t, publishReq(t, "1001", etag2, "60", heldDoc))
		etag3 := hdr(res, "SIP-ETag")
		if res.StatusCode != 200 || r.hub.Current("1001").Lamp() != presence.LampHold {
			t.Fatalf("modify = %d lamp %v", res.StatusCode, r.hub.Current("1001").Lamp())
		}

		// A second publisher for the same extension is merged.
		res = r.do(t, publishReq(t, "1001", "", "30", strings.ReplaceAll(strings.ReplaceAll(ringingDoc, `id="a1"`, `id="b1"`), "x@y", "z@y")))
		other := hdr(res, "SIP-ETag")
		if l := r.hub.Current("1001").Lamp(); l != presence.LampRinging || len(r.hub.Current("1001").Dialogs) != 2 {
			t.Fatalf("merged lamp %v dialogs %d", l, len(r.hub.Current("1001").Dialogs))
		}

		// It expires on its own: expiry is a state change.
		time.Sleep(31 * time.Second)
		r.srv.opt.Tracker.Expire(time.Now())
		if l := r.hub.Current("1001").Lamp(); l != presence.LampHold {
			t.Fatalf("after the second publication expired: %v", l)
		}
		if res := r.do(t, publishReq(t, "1001", other, "60", "")); res.StatusCode != 412 {
			t.Fatalf("refresh of an expired publication = %d, want 412", res.StatusCode)
		}

		// Remove.
		res = r.do(t, publishReq(t, "1001", etag3, "0", ""))
		if res.StatusCode != 200 || r.hub.Current("1001").Lamp() != presence.LampIdle {
			t.Fatalf("remove = %d lamp %v", res.StatusCode, r.hub.Current("1001").Lamp())
		}
		if _, ok := r.store.pubs[etag3]; ok {
			t.Fatal("removed publication still stored")
		}
	})
}

func TestPublishRefusals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, Options{Trusted: trustedLoopback(), MinExpires: 10 * time.Second})
		wrongType := publishReqAs(t, "1001", "", "60", ringingDoc, "application/pidf+xml", "dialog")
		presenceEvent := publishReqAs(t, "1001", "", "60", ringingDoc, "application/dialog-info+xml", "presence")
		for _, tc := range []struct {
			name   string
			req    *gosip.Request
			code   int
			reason string
		}{
			{"unknown etag", publishReq(t, "1001", "nope", "60", ""), 412, ""},
			{"remove unknown etag", publishReq(t, "1001", "nope", "0", ""), 412, ""},
			{"wrong body type", wrongType, 415, ""},
			{"bad xml", publishReq(t, "1001", "", "60", "<dialog-info"), 400, "Bad dialog-info:"},
			{"no dialog id", publishReq(t, "1001", "", "60", strings.Replace(ringingDoc, ` id="a1"`, "", 1)), 400, "Bad dialog-info:"},
			{"billion laughs", publishReq(t, "1001", "", "60", `<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><dialog-info>&b;</dialog-info>`), 400, "DTD"},
			{"too brief", publishReq(t, "1001", "", "5", ringingDoc), 423, ""},
			{"no body no etag", publishReq(t, "1001", "", "60", ""), 400, ""},
			{"unknown extension", publishReq(t, "9999", "", "60", ringingDoc), 404, ""},
			{"presence event", presenceEvent, 489, ""},
		} {
			res := r.do(t, tc.req)
			if res.StatusCode != tc.code || !strings.Contains(res.Reason, tc.reason) {
				t.Errorf("%s: got %d %q, want %d containing %q", tc.name, res.StatusCode, res.Reason, tc.code, tc.reason)
			}
			if strings.ContainsAny(res.Reason, "\r\n") {
				t.Errorf("%s: reason phrase spans lines: %q", tc.name, res.Reason)
			}
		}
		if r.hub.Current("1001").Lamp() != presence.LampIdle || len(r.store.pubs) != 0 {
			t.Fatal("a refused PUBLISH changed state")
		}
	})
}

func TestHandlerRecoversPanics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, Options{Trusted: trustedLoopback()})
		h := r.srv.handle("X", func(*gosip.Request, gosip.ServerTransaction) error { panic("boom") })
		req := subscribeReq(t, "1001", "dialog", "600", "")
		tx := newTxRecorder(req)
		h(req, tx)
		res := tx.Result()
		if len(res) != 1 || res[0].StatusCode != 500 || r.srv.Panics() != 1 {
			t.Fatalf("panic answered %v, panics %d", res, r.srv.Panics())
		}
	})
}

func TestRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, Options{Rate: 1, Burst: 3, Trusted: nil})
		codes := map[int]int{}
		for range 10 {
			codes[r.do(t, subscribeReq(t, "1001", "dialog", "600", "")).StatusCode]++
		}
		if codes[401] != 3 || codes[503] != 7 {
			t.Fatalf("codes %v, want 3x401 then 7x503", codes)
		}
		time.Sleep(2 * time.Second)
		if c := r.do(t, subscribeReq(t, "1001", "dialog", "600", "")).StatusCode; c != 401 {
			t.Fatalf("after refill = %d", c)
		}
	})
}
