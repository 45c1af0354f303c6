package sip

import (
	"strings"
	"testing"
	"testing/synctest"

	"github.com/blfgw/blfgw/presence"
)

var testPeople = []presence.Person{
	{Number: "1001", Department: "Sales", Role: presence.RoleUser},
	{Number: "1002", Department: "Support", Role: presence.RoleUser},
	{Number: "1003", Department: "Sales", Role: presence.RoleUser},
}

func sharing(s presence.Sharing, block presence.BlockMode) *presence.Policy {
	return presence.NewPolicy(testPeople, map[string]presence.Sharing{"1001": s}, presence.PolicyOptions{Block: block})
}

// TestPolicyReachesLiveSubscription: 1002 watches 1001 while 1001 rings.
// Each change of 1001's rules is a new NOTIFY for the live subscription:
// neutral while not allowed (polite block), the lamp without the caller
// once shared, the caller and pickup identifiers as a delegate, neutral
// again when sharing goes off.
func TestPolicyReachesLiveSubscription(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, Options{Trusted: trustedLoopback()})
		r.hub.SetPolicy(sharing(presence.Sharing{Share: true, With: presence.ShareWith{Extensions: []string{"1003"}}}, presence.BlockPolite))
		r.hub.SetDialogs("1001", presence.SourceSIP, ringing("1"))
		if res := r.do(t, subscribeReq(t, "1001", "dialog", "600", "")); res.StatusCode != 200 {
			t.Fatalf("polite block answered %d", res.StatusCode)
		}
		synctest.Wait()
		last := func() string {
			got := r.ph.notifies()
			return string(got[len(got)-1].Body())
		}
		if b := last(); strings.Contains(b, "<dialog ") {
			t.Fatalf("blocked watcher sees a dialog:\n%s", b)
		}

		steps := []struct {
			name     string
			rules    presence.Sharing
			state    bool // the lamp shows the ringing call
			identity bool // caller and call-id/tags are there
		}{
			{"shared with everyone", presence.Sharing{Share: true, With: presence.ShareWith{Everyone: true}}, true, false},
			{"shared with the department", presence.Sharing{Share: true, With: presence.ShareWith{Departments: []string{"Support"}}}, true, false},
			{"delegate", presence.Sharing{Share: true, Delegates: []string{"1002"}}, true, true},
			{"sharing off keeps delegates but suspends them", presence.Sharing{Share: false, Delegates: []string{"1002"}}, false, false},
		}
		for i, st := range steps {
			r.hub.SetPolicy(sharing(st.rules, presence.BlockPolite))
			synctest.Wait()
			if n := len(r.ph.notifies()); n != i+2 {
				t.Fatalf("%s: %d NOTIFYs, want %d", st.name, n, i+2)
			}
			b := last()
			if got := strings.Contains(b, "<state>early</state>"); got != st.state {
				t.Fatalf("%s: ringing shown = %v:\n%s", st.name, got, b)
			}
			if got := strings.Contains(b, `call-id="c1"`) && strings.Contains(b, "Carol") && strings.Contains(b, "sip:300@pbx.test"); got != st.identity {
				t.Fatalf("%s: caller identity shown = %v:\n%s", st.name, got, b)
			}
			if !st.identity && (strings.Contains(b, "Carol") || strings.Contains(b, "c1") || strings.Contains(b, "300@")) {
				t.Fatalf("%s: something of the caller leaked:\n%s", st.name, b)
			}
		}
		if r.srv.Subscriptions() != 1 {
			t.Fatal("polite block ended the subscription")
		}
	})
}

// TestPolicyRefuse: with blocked = "refuse" a watcher who may not see the
// extension gets 403, and a live subscription whose rights go away ends
// with reason=rejected.
func TestPolicyRefuse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, Options{Trusted: trustedLoopback()})
		r.hub.SetPolicy(sharing(presence.Sharing{Share: true, With: presence.ShareWith{Extensions: []string{"1003"}}}, presence.BlockRefuse))
		res := r.do(t, subscribeReq(t, "1001", "dialog", "600", ""))
		if res.StatusCode != 403 || res.Reason != "Presence of 1001 is not shared with 1002" {
			t.Fatalf("refused watcher answered %d %q", res.StatusCode, res.Reason)
		}
		if r.srv.Subscriptions() != 0 {
			t.Fatal("403 left a subscription")
		}

		r.hub.SetPolicy(sharing(presence.Sharing{Share: true, With: presence.ShareWith{Extensions: []string{"1002"}}}, presence.BlockRefuse))
		ok := r.do(t, subscribeReq(t, "1001", "presence", "600", ""))
		if ok.StatusCode != 200 {
			t.Fatalf("allowed watcher answered %d %s", ok.StatusCode, ok.Reason)
		}
		synctest.Wait()
		r.hub.SetPolicy(sharing(presence.Sharing{Share: false}, presence.BlockRefuse))
		synctest.Wait()
		got := r.ph.notifies()
		last := got[len(got)-1]
		if st := hdr(last, "Subscription-State"); st != "terminated;reason=rejected" {
			t.Fatalf("after losing access: Subscription-State %q", st)
		}
		if strings.Contains(string(last.Body()), "on-the-phone") {
			t.Fatalf("final NOTIFY shows state:\n%s", last.Body())
		}
		if r.srv.Subscriptions() != 0 || r.hub.Watchers("1001") != 0 {
			t.Fatal("rejected subscription still there")
		}
	})
}

// TestStatusLamps: Do Not Disturb lights the lamp busy and says so in
// PIDF with the message; Appear Away is away in PIDF and idle on a lamp;
// a live call shows over both; reset follows the phone again.
func TestStatusLamps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, Options{Trusted: trustedLoopback()})
		r.do(t, subscribeReq(t, "1001", "dialog", "600", ""))
		r.do(t, subscribeReq(t, "1001", "presence", "600", ""))
		synctest.Wait()
		bodies := func() (dlg, pres string) {
			for _, n := range r.ph.notifies() {
				if strings.Contains(hdr(n, "Content-Type"), "pidf") {
					pres = string(n.Body())
				} else {
					dlg = string(n.Body())
				}
			}
			return dlg, pres
		}
		for _, st := range []struct {
			name                    string
			status                  presence.Status
			msg                     string
			call                    bool
			dlgHas, presHas, absent string
			cloud                   presence.CloudState
			note                    string
		}{
			{"dnd", presence.StatusDND, "back at 3", false, "<state>confirmed</state>", "Do Not Disturb: back at 3", "on-the-phone", 0, ""},
			{"call over dnd", presence.StatusDND, "back at 3", true, "<state>early</state>", "Ringing: back at 3", "Do Not Disturb", 0, ""},
			{"away", presence.StatusAway, "", false, `state="full"`, "<rpid:away", "<dialog ", 0, ""},
			{"reset", presence.StatusDefault, "", false, `state="full"`, "Available", "<dialog ", 0, ""},
			{"teams meeting", presence.StatusDefault, "", false, `id="blfgw-teams"`, "<rpid:busy/>", "on-the-phone", presence.CloudBusy, "In a meeting"},
			{"meeting with a message", presence.StatusDefault, "room 4", false, "<state>confirmed</state>", "In a meeting: room 4", "Available", presence.CloudBusy, "In a meeting"},
			{"call over a meeting", presence.StatusDefault, "", true, "<state>early</state>", "Ringing", "In a meeting", presence.CloudBusy, "In a meeting"},
			{"my available over a meeting", presence.StatusAvailable, "", false, `state="full"`, "Available", "<dialog ", presence.CloudBusy, "In a meeting"},
			{"teams be right back", presence.StatusDefault, "", false, `state="full"`, "Be right back", "<dialog ", presence.CloudAway, "Be right back"},
			{"teams offline", presence.StatusDefault, "", false, `state="full"`, "<basic>closed</basic>", "<dialog ", presence.CloudOffline, "Offline"},
			{"teams available", presence.StatusDefault, "", false, `state="full"`, "<basic>open</basic>", "<dialog ", presence.CloudAvailable, "Available"},
		} {
			var ds []presence.Dialog
			if st.call {
				ds = ringing("9")
			}
			r.hub.SetDialogs("1001", presence.SourceSIP, ds)
			r.hub.SetStatus("1001", st.status, st.msg)
			r.hub.SetCloud("1001", presence.Cloud{Source: presence.SourceTeams, State: st.cloud, Note: st.note})
			synctest.Wait()
			dlg, pres := bodies()
			if !strings.Contains(dlg, st.dlgHas) || !strings.Contains(pres, st.presHas) {
				t.Fatalf("%s: dialog-info lacks %q or PIDF lacks %q:\n%s\n%s", st.name, st.dlgHas, st.presHas, dlg, pres)
			}
			if strings.Contains(dlg+pres, st.absent) {
				t.Fatalf("%s: %q should not be there:\n%s\n%s", st.name, st.absent, dlg, pres)
			}
		}
	})
}
