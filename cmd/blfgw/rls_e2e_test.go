package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// listAccept is what a phone that takes BLF lists accepts.
const listAccept = "Accept: multipart/related, application/rlmi+xml, application/dialog-info+xml"

var (
	listResource = regexp.MustCompile(`<resource uri="sip:([^@"]+)@`)
	listFull     = regexp.MustCompile(`<list [^>]*fullState="(true|false)"`)
)

// listOf reads a list NOTIFY: whether it is the whole list, and the
// extensions its RLMI names, in order.
func listOf(t *testing.T, n sipMsg) (full bool, exts string) {
	t.Helper()
	if n.H("Require") != "eventlist" || !strings.HasPrefix(n.H("Content-Type"), "multipart/related;") {
		t.Fatalf("not a list NOTIFY:\n%s", n)
	}
	m := listFull.FindStringSubmatch(n.Body)
	if m == nil {
		t.Fatalf("no RLMI list in:\n%s", n.Body)
	}
	var out []string
	for _, r := range listResource.FindAllStringSubmatch(n.Body, -1) {
		out = append(out, r[1])
	}
	return m[1] == "true", strings.Join(out, ",")
}

// TestE2EBLFList: a SIPp phone of 1003 subscribes to 1003-blf, the list
// its BLF keys can be provisioned from (RFC 4662), over UDP and TCP. The
// first NOTIFY carries 1003's appearance list from the file, whole, with
// names; a PUBLISH for 1001 sends only 1001, busy; 1003 changing the list
// through the API (what the web page's Directory does) sends the new list
// whole within a second, and 1001's later calls send nothing.
func TestE2EBLFList(t *testing.T) {
	t.Parallel()
	for _, tp := range []string{"udp", "tcp"} {
		t.Run(tp, func(t *testing.T) {
			t.Parallel()
			g := startGateway(t, gwConfig{Ext: map[string]string{
				"1003": "share_presence = true\nappearance = [\"1001\", \"1002\"]",
			}})
			w := g.watch(tp, watch{Ext: "1003-blf", Watcher: "1003", Expires: 600, Accept: listAccept, Supported: "Supported: eventlist"})
			n := w.waitNotifies(1, notifyBound)[0]
			if full, exts := listOf(t, n); !full || exts != "1001,1002" {
				t.Fatalf("first NOTIFY: full %v, resources %q\n%s", full, exts, n.Body)
			}
			if !strings.Contains(n.Body, "<name>") || !strings.Contains(n.H("Contact"), "sip:1003-blf@") {
				t.Errorf("first NOTIFY names no one, or its Contact is %q\n%s", n.H("Contact"), n.Body)
			}

			g.publish(tp, publication{Ext: "1001", Body: dialogInfo("1001", talking), Expires: 600})
			n = w.waitNotifies(2, notifyBound)[1]
			if full, exts := listOf(t, n); full || exts != "1001" || !strings.Contains(n.Body, "<state>confirmed</state>") {
				t.Fatalf("after 1001's call: full %v, resources %q\n%s", full, exts, n.Body)
			}

			req, err := http.NewRequest(http.MethodPatch, fmt.Sprintf("http://127.0.0.1:%d/api/v1/me", g.httpPort), strings.NewReader(`{"appearance": ["1002", "1004"]}`))
			if err != nil {
				t.Fatal(err)
			}
			req.SetBasicAuth("1003", passwordOf("1003"))
			req.Header.Set("Content-Type", "application/json")
			at := time.Now()
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var me struct {
				BLFList string `json:"blf_list"`
			}
			err = json.NewDecoder(res.Body).Decode(&me)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || err != nil {
				t.Fatalf("PATCH /api/v1/me appearance = %d %v", res.StatusCode, err)
			}
			if want := "sip:1003-blf@" + e2eDomain; me.BLFList != want {
				t.Errorf("blf_list = %q, want %q", me.BLFList, want)
			}
			n = w.waitNotifies(3, notifyBound)[2]
			if full, exts := listOf(t, n); !full || exts != "1002,1004" {
				t.Fatalf("after the new list: full %v, resources %q\n%s", full, exts, n.Body)
			}
			if lag := n.At.Sub(at); lag > reloadBound {
				t.Errorf("the new list reached the phone after %v (bound %v)", lag, reloadBound)
			}
			t.Logf("%s: list change over the API → full list NOTIFY in %v", tp, n.At.Sub(at).Round(time.Millisecond))

			// 1001 is off the list: its next call sends nothing; 1004's does.
			g.publish(tp, publication{Ext: "1001", Body: dialogInfo("1001"), Expires: 600})
			g.publish(tp, publication{Ext: "1004", Body: dialogInfo("1004", talking), Expires: 600})
			got := w.waitNotifies(4, notifyBound)
			if full, exts := listOf(t, got[3]); full || exts != "1004" {
				t.Fatalf("after 1004's call: full %v, resources %q\n%s", full, exts, got[3].Body)
			}
			if len(got) != 4 {
				t.Fatalf("%d NOTIFYs, want 4 (1001 is off the list)", len(got))
			}
		})
	}
}
