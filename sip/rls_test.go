package sip

import (
	"bytes"
	"encoding/xml"
	"io"
	"mime"
	"mime/multipart"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/blfgw/blfgw/presence"
)

// memLists is the users' appearance lists, as the settings service keeps
// them.
type memLists struct {
	mu      sync.Mutex
	m       map[string][]string
	changed []chan struct{}
}

func (l *memLists) Appearance(owner string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m[owner]
}

func (l *memLists) Changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := make(chan struct{}, 1)
	l.changed = append(l.changed, c)
	return c
}

func (l *memLists) set(owner string, exts ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.m[owner] = exts
	for _, c := range l.changed {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// rlmi is the part of an RLMI document the tests read.
type rlmi struct {
	URI       string `xml:"uri,attr"`
	Version   int    `xml:"version,attr"`
	FullState bool   `xml:"fullState,attr"`
	Resources []struct {
		URI      string `xml:"uri,attr"`
		Name     string `xml:"name"`
		Instance struct {
			ID     string `xml:"id,attr"`
			State  string `xml:"state,attr"`
			Reason string `xml:"reason,attr"`
			CID    string `xml:"cid,attr"`
		} `xml:"instance"`
	} `xml:"resource"`
}

// listNotify is one list NOTIFY taken apart: its RLMI and its parts by
// Content-ID.
type listNotify struct {
	rlmi  rlmi
	parts map[string]string
}

// resources names the resources the RLMI lists, with their instance state.
func (n listNotify) resources() string {
	var out []string
	for _, r := range n.rlmi.Resources {
		out = append(out, strings.TrimPrefix(strings.TrimSuffix(r.URI, "@pbx.test"), "sip:")+"="+r.Instance.State)
	}
	return strings.Join(out, " ")
}

// body returns the part of resource i.
func (n listNotify) body(i int) string {
	return n.parts["<"+n.rlmi.Resources[i].Instance.CID+">"]
}

func parseListNotify(t *testing.T, req *gosip.Request) listNotify {
	t.Helper()
	if hdr(req, "Require") != "eventlist" {
		t.Fatalf("list NOTIFY without Require: eventlist:\n%s", req)
	}
	mt, params, err := mime.ParseMediaType(hdr(req, "Content-Type"))
	if err != nil || mt != "multipart/related" || params["type"] != rlmiType || params["start"] == "" {
		t.Fatalf("Content-Type %q: %v", hdr(req, "Content-Type"), err)
	}
	mr := multipart.NewReader(bytes.NewReader(req.Body()), params["boundary"])
	n := listNotify{parts: map[string]string{}}
	for i := 0; ; i++ {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("part %d: %v\n%s", i, err, req.Body())
		}
		b, _ := io.ReadAll(p)
		cid, ct := p.Header.Get("Content-ID"), p.Header.Get("Content-Type")
		if i == 0 {
			if cid != params["start"] || !strings.HasPrefix(ct, rlmiType) {
				t.Fatalf("first part is %s %s, want the RLMI %s", cid, ct, params["start"])
			}
			if err := xml.Unmarshal(b, &n.rlmi); err != nil {
				t.Fatalf("RLMI: %v\n%s", err, b)
			}
			continue
		}
		want := "application/dialog-info+xml"
		if eventPackage(req) == "presence" {
			want = "application/pidf+xml"
		}
		if ct != want {
			t.Fatalf("part %s is %s in a list of Event: %s", cid, ct, eventPackage(req))
		}
		n.parts[cid] = string(b)
	}
	for _, r := range n.rlmi.Resources {
		if _, ok := n.parts["<"+r.Instance.CID+">"]; ok != (r.Instance.State == "active") {
			t.Fatalf("resource %s (%s) and its part do not match:\n%s", r.URI, r.Instance.State, req.Body())
		}
	}
	return n
}

// eventPackage is a request's Event package, without parameters.
func eventPackage(req *gosip.Request) string {
	v, _, _ := strings.Cut(hdr(req, "Event"), ";")
	return strings.TrimSpace(v)
}

func listSubscribe(t *testing.T, list, expires, extra string) *gosip.Request {
	return subscribeReq(t, list, "dialog", expires, "Supported: eventlist\nAccept: application/dialog-info+xml, application/rlmi+xml, multipart/related\n"+extra)
}

// TestListSubscription: 1002's phone subscribes to 1002-blf and gets its
// appearance list in one NOTIFY per change: the whole list first, with
// names, then only the colleague who changed; a new list (the web page's
// Directory) is sent whole, and a colleague taken off it is let go; a
// refresh sends everything again.
func TestListSubscription(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lists := &memLists{m: map[string][]string{"1002": {"1001", "9999", "1003", "1001"}}}
		r := newRig(t, Options{Trusted: trustedLoopback(), Lists: lists, ListSuffix: "-blf"})
		r.hub.SetDialogs("1003", presence.SourceSIP, ringing("r1"))

		res := r.do(t, listSubscribe(t, "1002-blf", "600", ""))
		if res.StatusCode != 200 || hdr(res, "Require") != "eventlist" || !strings.Contains(hdr(res, "Contact"), "sip:1002-blf@") {
			t.Fatalf("list SUBSCRIBE answered:\n%s", res)
		}
		synctest.Wait()
		got := r.ph.notifies()
		if len(got) != 1 {
			t.Fatalf("%d NOTIFYs after the SUBSCRIBE, want 1", len(got))
		}
		if c := hdr(got[0], "Contact"); !strings.Contains(c, "sip:1002-blf@") {
			t.Errorf("NOTIFY Contact %s", c)
		}
		n := parseListNotify(t, got[0])
		if !n.rlmi.FullState || n.rlmi.Version != 0 || n.rlmi.URI != "sip:1002-blf@pbx.test" || n.resources() != "1001=active 1003=active" {
			t.Fatalf("first NOTIFY: full %v version %d uri %s resources %q (unknown and repeated entries left out)", n.rlmi.FullState, n.rlmi.Version, n.rlmi.URI, n.resources())
		}
		if n.rlmi.Resources[1].Name != "Ext 1003" {
			t.Errorf("1003 is named %q", n.rlmi.Resources[1].Name)
		}
		if b := n.body(1); !strings.Contains(b, `entity="sip:1003@pbx.test"`) || !strings.Contains(b, "<state>early</state>") {
			t.Errorf("1003's part does not show it ringing:\n%s", b)
		}
		if b := n.body(0); !strings.Contains(b, `entity="sip:1001@pbx.test"`) || strings.Contains(b, "<dialog ") {
			t.Errorf("1001's part is not idle:\n%s", b)
		}

		// 1001 answers a call: only 1001 is in the next NOTIFY.
		r.hub.SetDialogs("1001", presence.SourceSIP, []presence.Dialog{{ID: "c1", State: presence.Confirmed}})
		synctest.Wait()
		got = r.ph.notifies()
		n = parseListNotify(t, got[len(got)-1])
		if len(got) != 2 || n.rlmi.FullState || n.rlmi.Version != 1 || n.resources() != "1001=active" || !strings.Contains(n.body(0), "<state>confirmed</state>") {
			t.Fatalf("after 1001's call: %d NOTIFYs, full %v version %d resources %q", len(got), n.rlmi.FullState, n.rlmi.Version, n.resources())
		}

		// A new list: sent whole, in its order; 1001 is let go.
		lists.set("1002", "1004", "1003")
		r.srv.resyncLists() // what Run does on the signal
		synctest.Wait()
		got = r.ph.notifies()
		n = parseListNotify(t, got[len(got)-1])
		if len(got) != 3 || !n.rlmi.FullState || n.resources() != "1004=active 1003=active" {
			t.Fatalf("after the new list: %d NOTIFYs, full %v resources %q", len(got), n.rlmi.FullState, n.resources())
		}
		r.hub.SetDialogs("1001", presence.SourceSIP, nil)
		synctest.Wait()
		if len(r.ph.notifies()) != 3 {
			t.Fatal("a colleague taken off the list still sends NOTIFYs")
		}
		lists.set("1002", "1004", "1003") // the same list: nothing to send
		r.srv.resyncLists()
		synctest.Wait()
		if len(r.ph.notifies()) != 3 {
			t.Fatal("an unchanged list was sent again")
		}

		// A refresh: the whole list again.
		if res := r.do(t, inDialog(t, res, "1002-blf", "dialog", 2, "600")); res.StatusCode != 200 || hdr(res, "Require") != "eventlist" {
			t.Fatalf("refresh answered:\n%s", res)
		}
		synctest.Wait()
		got = r.ph.notifies()
		n = parseListNotify(t, got[len(got)-1])
		if len(got) != 4 || !n.rlmi.FullState || n.rlmi.Version != 3 || n.resources() != "1004=active 1003=active" {
			t.Fatalf("after the refresh: %d NOTIFYs, full %v version %d resources %q", len(got), n.rlmi.FullState, n.rlmi.Version, n.resources())
		}

		// The store keeps it as a list, and a restart rebuilds it.
		rec, ok := r.store.sub(r.srv.subs.all()[0].key)
		if !ok || !strings.Contains(string(rec.Data), `"list":"1002-blf"`) {
			t.Fatalf("stored as %s", rec.Data)
		}
		if sub, err := r.srv.fromRecord(rec); err != nil || sub.listName() != "1002-blf" {
			t.Fatalf("rebuilt %v %v", sub, err)
		}
		r.srv.opt.ListSuffix = "" // lists turned off since: not restored
		if _, err := r.srv.fromRecord(rec); err == nil {
			t.Fatal("a list restored with lists turned off")
		}
		r.srv.opt.ListSuffix = "-blf"

		// Unsubscribe: a last NOTIFY with the whole list, terminated.
		r.do(t, inDialog(t, res, "1002-blf", "dialog", 3, "0"))
		synctest.Wait()
		got = r.ph.notifies()
		last := got[len(got)-1]
		if n := parseListNotify(t, last); !strings.HasPrefix(hdr(last, "Subscription-State"), "terminated") || !n.rlmi.FullState {
			t.Fatalf("unsubscribe ended with %s, full %v", hdr(last, "Subscription-State"), n.rlmi.FullState)
		}
		if r.srv.subs.len() != 0 {
			t.Fatal("the list subscription outlived its unsubscribe")
		}
	})
}

// TestListPresence: a list of Event: presence carries PIDF parts.
func TestListPresence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lists := &memLists{m: map[string][]string{"1002": {"1003"}}}
		r := newRig(t, Options{Trusted: trustedLoopback(), Lists: lists, ListSuffix: "-blf"})
		r.hub.SetDialogs("1003", presence.SourceSIP, []presence.Dialog{{ID: "c1", State: presence.Confirmed}})
		req := subscribeReq(t, "1002-blf", "presence", "600", "Supported: eventlist\nAccept: application/pidf+xml, application/rlmi+xml, multipart/related\n")
		if res := r.do(t, req); res.StatusCode != 200 {
			t.Fatalf("SUBSCRIBE = %d %s", res.StatusCode, res.Reason)
		}
		synctest.Wait()
		n := parseListNotify(t, r.ph.notifies()[0])
		if b := n.body(0); n.resources() != "1003=active" || !strings.Contains(b, "<presence") || !strings.Contains(b, "on-the-phone") {
			t.Fatalf("resources %q, part:\n%s", n.resources(), b)
		}
	})
}

// TestListRefused: under blocked = "refuse" a colleague who does not share
// with the owner is listed terminated;reason=rejected with no state.
func TestListRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lists := &memLists{m: map[string][]string{"1002": {"1001", "1003"}}}
		r := newRig(t, Options{Trusted: trustedLoopback(), Lists: lists, ListSuffix: "-blf"})
		everyone := presence.Sharing{Share: true, With: presence.ShareWith{Everyone: true}}
		policy := func(s1001 presence.Sharing) *presence.Policy {
			return presence.NewPolicy(testPeople, map[string]presence.Sharing{"1001": s1001, "1003": everyone}, presence.PolicyOptions{Block: presence.BlockRefuse})
		}
		r.hub.SetPolicy(policy(presence.Sharing{Share: false}))
		if res := r.do(t, listSubscribe(t, "1002-blf", "600", "")); res.StatusCode != 200 {
			t.Fatalf("SUBSCRIBE = %d %s", res.StatusCode, res.Reason)
		}
		synctest.Wait()
		n := parseListNotify(t, r.ph.notifies()[0])
		if n.resources() != "1001=terminated 1003=active" || n.rlmi.Resources[0].Instance.Reason != "rejected" {
			t.Fatalf("resources %q", n.resources())
		}
		// Sharing on: 1001 comes back, alone in the NOTIFY.
		r.hub.SetPolicy(policy(everyone))
		synctest.Wait()
		got := r.ph.notifies()
		if n := parseListNotify(t, got[len(got)-1]); n.resources() != "1001=active" {
			t.Fatalf("after sharing: %q", n.resources())
		}
	})
}

// TestListRefusals: what a list SUBSCRIBE that cannot be served gets.
func TestListRefusals(t *testing.T) {
	lists := &memLists{m: map[string][]string{}}
	r := newRig(t, Options{Trusted: trustedLoopback(), Lists: lists, ListSuffix: "-blf"})
	for _, tc := range []struct {
		name string
		req  *gosip.Request
		code int
		hdr  string
	}{
		{"no eventlist", subscribeReq(t, "1002-blf", "dialog", "600", ""), 421, "Require: eventlist"},
		{"no multipart", subscribeReq(t, "1002-blf", "dialog", "600", "Supported: eventlist\nAccept: application/dialog-info+xml\n"), 406, "Accept: multipart/related"},
		{"someone else's list", listSubscribe(t, "1003-blf", "600", ""), 403, ""},
		{"no such owner", listSubscribe(t, "1999-blf", "600", ""), 404, ""},
		{"another suffix", listSubscribe(t, "1002-list", "600", ""), 404, ""},
	} {
		res := r.do(t, tc.req)
		if res.StatusCode != tc.code || (tc.hdr != "" && !strings.Contains(res.String(), tc.hdr)) {
			t.Errorf("%s: %d %s, want %d with %q:\n%s", tc.name, res.StatusCode, res.Reason, tc.code, tc.hdr, res)
		}
	}
	if r.srv.subs.len() != 0 {
		t.Fatal("a refused list SUBSCRIBE left a subscription")
	}

	// Lists turned off (list_suffix = ""): the name is an unknown extension.
	off := newRig(t, Options{Trusted: trustedLoopback()})
	if res := off.do(t, listSubscribe(t, "1002-blf", "600", "")); res.StatusCode != 404 {
		t.Fatalf("with lists off: %d", res.StatusCode)
	}
	if on, none := r.srv.ListURI("1002"), off.srv.ListURI("1002"); on != "sip:1002-blf@pbx.test" || none != "" {
		t.Fatalf("ListURI = %q with lists on, %q with them off", on, none)
	}
}

// BenchmarkListNotify: 100 receptionists' phones each subscribe to their
// own BLF list of the same 100 colleagues; one colleague's change is a
// partial NOTIFY (that colleague alone) to each. It reports the cost per
// NOTIFY and the size of a full-state NOTIFY of 100 colleagues.
func BenchmarkListNotify(b *testing.B) {
	const n = 100
	d := dir{}
	var all []string
	for i := range 2 * n {
		num := strconv.Itoa(2000 + i)
		d[num] = Account{Number: num, Name: "Colleague " + num}
		if i >= n {
			all = append(all, num)
		}
	}
	lists := &memLists{m: map[string][]string{}}
	r := newRig(b, Options{Trusted: trustedLoopback(), Lists: lists, ListSuffix: "-blf"})
	r.srv.opt.Directory = d
	var answered atomic.Int64
	var full atomic.Int64
	r.ph.answer = func(req *gosip.Request) int {
		if answered.Add(1) == 1 {
			full.Store(int64(len(req.Body())))
		}
		return 200
	}
	for i := range n {
		owner := strconv.Itoa(2000 + i)
		lists.m[owner] = all
		req := subscribeReq(b, owner+"-blf", "dialog", "3600", "Supported: eventlist\n")
		req.From().Address.User = owner
		req.From().Params.Remove("tag")
		req.From().Params.Add("tag", "w"+owner)
		cid := gosip.CallIDHeader("list-" + owner)
		req.ReplaceHeader(&cid)
		if res := r.do(b, req); res.StatusCode != 200 {
			b.Fatalf("subscribe %s: %d %s", owner, res.StatusCode, res.Reason)
		}
	}
	waitFor := func(want int64) {
		for answered.Load() < want {
			time.Sleep(50 * time.Microsecond)
		}
	}
	waitFor(n)
	r.ph.mu.Lock()
	r.ph.got, r.ph.copies = nil, nil
	r.ph.mu.Unlock()
	b.ResetTimer()
	for i := range b.N {
		want := answered.Load() + n
		st := presence.Confirmed // each colleague's state flips on every round
		if (i/n)%2 == 0 {
			st = presence.Early
		}
		r.hub.SetDialogs(all[i%n], presence.SourceSIP, []presence.Dialog{{ID: "x", State: st, Direction: presence.Recipient}})
		waitFor(want)
		r.ph.mu.Lock()
		r.ph.got, r.ph.copies = nil, nil
		r.ph.mu.Unlock()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/notify")
	b.ReportMetric(float64(full.Load()), "B/full-list")
}
