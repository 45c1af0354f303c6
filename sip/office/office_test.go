package office_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/blfgw/blfgw/sip/dialoginfo"
	"github.com/blfgw/blfgw/sip/office"
)

var numbers = []string{"1001", "1002", "1003", "1004", "1005", "1006"}

func staff(numbers ...string) []office.Person {
	var out []office.Person
	for _, n := range numbers {
		out = append(out, office.Person{Number: n, Name: "Person " + n, Password: "pw" + n})
	}
	return out
}

// held reports whether a dialog's own side holds the call, as the gateway
// reads it.
func held(d dialoginfo.Dialog) bool {
	if d.Local == nil {
		return false
	}
	for _, p := range d.Local.TargetParams {
		if p.Name == "+sip.rendering" && p.Value == "no" {
			return true
		}
	}
	return false
}

// TestRunLifecycle runs the office fast against a strict fake gateway that
// grants 2 s lifetimes: every publication is created with a body, changed
// and refreshed with the entity-tag of the previous answer, and removed
// with Expires: 0; the bodies are the calls a PBX would report; the spare
// extension's status is never touched and every status set is restored.
func TestRunLifecycle(t *testing.T) {
	t.Parallel()
	gw := startFakeGateway(t, 2)
	desk := startFakeDesk(t, numbers, map[string]status{"1006": {"dnd", "Reviewing calls until 16:00"}})
	logs := &logBuffer{}
	stop := runOffice(t, func(ctx context.Context) error {
		return office.Run(ctx, office.Options{
			SIP: gw.addr, Domain: domain, HTTP: desk.url, People: staff(numbers...),
			Spare: []string{"1001"}, Pace: 0.05, Seed: 42, Log: logs.logger(),
		})
	})
	// Run until everything a PBX reports has happened at least once (a
	// refresh included) and statuses were set, then stop in the middle of
	// whatever is going on.
	waitFor(t, "refresh, hold, internal call, status changes", 40*time.Second, func() bool {
		reqs, _, _ := gw.snapshot()
		_, patches, _ := desk.snapshot()
		var refreshed, onHold bool
		ends := map[string]map[string]bool{} // dialog call-id -> numbers
		why := map[string]bool{}             // how terminated dialogs ended
		for _, r := range reqs {
			refreshed = refreshed || (r.ifMatch != "" && r.body == nil && r.expires > 0)
			if r.info != nil && len(r.info.Dialogs) == 1 {
				d := r.info.Dialogs[0]
				onHold = onHold || held(d)
				why[d.Event] = true
				if ends[d.CallID] == nil {
					ends[d.CallID] = map[string]bool{}
				}
				ends[d.CallID][r.number] = true
			}
		}
		internal := false
		for _, e := range ends {
			internal = internal || len(e) == 2
		}
		// Missed calls are cancelled, answered ones end with a bye.
		ended := why["cancelled"] && (why["local-bye"] || why["remote-bye"])
		return refreshed && onHold && internal && ended && len(patches) >= 4
	})
	took := stop()
	if took > 6*time.Second {
		t.Errorf("closing took %v", took)
	}
	reqs, problems, live := gw.snapshot()
	for _, p := range problems {
		t.Errorf("gateway: %s", p)
	}
	if live != 0 {
		t.Errorf("%d publications left at the gateway after Run returned", live)
	}

	// Each publication, followed by Call-ID: a body first, then each
	// request names the entity-tag the previous answer gave, the last one
	// removes it.
	byCall := map[string][]publishRec{}
	var order []string
	for _, r := range reqs {
		if _, ok := byCall[r.callID]; !ok {
			order = append(order, r.callID)
		}
		byCall[r.callID] = append(byCall[r.callID], r)
	}
	states := map[string]int{}
	var heldSeen, recipient, initiator, named bool
	calls := map[string]map[string]string{} // dialog call-id -> entity -> local tag
	for _, id := range order {
		rs := byCall[id]
		if rs[0].ifMatch != "" || rs[0].body == nil {
			t.Errorf("publication %s starts without a body or with SIP-If-Match: %+v", id, rs[0])
		}
		etag := ""
		for i, r := range rs {
			if r.code != 200 {
				t.Errorf("publication %s request %d answered %d", id, i, r.code)
			}
			if i > 0 && r.ifMatch != etag {
				t.Errorf("publication %s request %d: SIP-If-Match %q, want the last SIP-ETag %q", id, i, r.ifMatch, etag)
			}
			etag = r.etag
			if r.info == nil {
				continue
			}
			if len(r.info.Dialogs) != 1 || r.info.State != "full" {
				t.Errorf("%s: want one dialog in a full document:\n%s", r.number, r.body)
				continue
			}
			d := r.info.Dialogs[0]
			states[d.State]++
			heldSeen = heldSeen || held(d)
			recipient = recipient || d.Direction == "recipient"
			initiator = initiator || d.Direction == "initiator"
			named = named || (d.Remote != nil && d.Remote.IdentityDisplay != "" && strings.HasPrefix(d.Remote.Identity, "sip:+"))
			if calls[d.CallID] == nil {
				calls[d.CallID] = map[string]string{}
			}
			calls[d.CallID][r.number] = d.LocalTag + "/" + d.RemoteTag
		}
		if last := rs[len(rs)-1]; last.expires != 0 || last.ifMatch == "" {
			t.Errorf("publication %s (%s) not removed: last request %+v", id, rs[0].number, last)
		}
	}
	for _, st := range []string{"early", "confirmed", "terminated"} {
		if states[st] == 0 {
			t.Errorf("no dialog published %s (states %v)", st, states)
		}
	}
	if !heldSeen || !recipient || !initiator || !named {
		t.Errorf("held %v, recipient %v, initiator %v, outside caller with a name %v", heldSeen, recipient, initiator, named)
	}
	// An internal call is one dialog seen from both ends: same Call-ID,
	// tags swapped.
	internal := 0
	for id, ends := range calls {
		if len(ends) == 2 {
			internal++
			var tags []string
			for _, tg := range ends {
				tags = append(tags, tg)
			}
			a, b, _ := strings.Cut(tags[0], "/")
			if tags[1] != b+"/"+a {
				t.Errorf("internal call %s: tags %v are not swapped", id, tags)
			}
		}
	}
	if internal == 0 {
		t.Error("no internal call")
	}

	sts, patches, dproblems := desk.snapshot()
	for _, p := range dproblems {
		t.Errorf("desk: %s", p)
	}
	set := map[string]bool{}
	for _, p := range patches {
		if p.number == "1001" {
			t.Errorf("the spare extension's status was changed: %+v", p)
		}
		set[p.st.Status] = true
	}
	if !set["dnd"] && !set["away"] {
		t.Errorf("no Do Not Disturb or away set: %+v", patches)
	}
	for n, st := range sts {
		want := status{Status: "default"}
		if n == "1006" {
			want = status{"dnd", "Reviewing calls until 16:00"}
		}
		if st != want {
			t.Errorf("%s left at %+v, want %+v", n, st, want)
		}
	}
	spareCalls := 0
	for _, r := range reqs {
		if r.number == "1001" {
			spareCalls++
		}
	}
	if spareCalls == 0 {
		t.Error("the spare extension took no calls")
	}
	if !strings.Contains(logs.String(), "office closed") {
		t.Errorf("no closing line in the log:\n%s", logs.String())
	}
	if t.Failed() {
		t.Logf("office log:\n%s", logs.String())
	}
}

// TestRunGatewayTrouble starts the office while the gateway answers
// nothing over SIP and 503 over HTTP, and refuses one extension for good:
// the office waits it out, carries on when the gateway is back, leaves the
// refused extension out, and still closes cleanly.
func TestRunGatewayTrouble(t *testing.T) {
	t.Parallel()
	gw := startFakeGateway(t, 3600)
	gw.refuse["1003"] = 404
	gw.silent.Store(true)
	desk := startFakeDesk(t, numbers, nil)
	desk.down.Store(true)
	logs := &logBuffer{}
	start := time.Now()
	stop := runOffice(t, func(ctx context.Context) error {
		return office.Run(ctx, office.Options{
			SIP: gw.addr, Domain: domain, HTTP: desk.url, People: staff(numbers...),
			Spare: []string{"1001"}, Pace: 0.05, Seed: 3, Log: logs.logger(),
		})
	})
	waitFor(t, "the office retrying", 10*time.Second, func() bool {
		return strings.Contains(logs.String(), "PUBLISH failed; retrying")
	})
	time.Sleep(time.Until(start.Add(4 * time.Second)))
	gw.silent.Store(false)
	desk.down.Store(false)
	waitFor(t, "calls and statuses after the gateway came back", 30*time.Second, func() bool {
		reqs, _, _ := gw.snapshot()
		_, patches, _ := desk.snapshot()
		ok, refused := 0, false
		for _, r := range reqs {
			if r.code == 200 {
				ok++
			}
			refused = refused || r.number == "1003"
		}
		return ok >= 20 && len(patches) >= 2 && refused
	})
	stop()
	reqs, problems, live := gw.snapshot()
	for _, p := range problems {
		t.Errorf("gateway: %s", p)
	}
	if live != 0 {
		t.Errorf("%d publications left", live)
	}
	refusals := 0
	for _, r := range reqs {
		if r.number == "1003" {
			refusals++
		}
	}
	if refusals > 2 {
		t.Errorf("1003 was tried %d times; once refused it should sit out a minute", refusals)
	}
	if !strings.Contains(logs.String(), "404 Not Here") {
		t.Error("the refusal's reason is not in the log")
	}
	sts, _, dproblems := desk.snapshot()
	for _, p := range dproblems {
		t.Errorf("desk: %s", p)
	}
	for n, st := range sts {
		if st != (status{Status: "default"}) {
			t.Errorf("%s left at %+v", n, st)
		}
	}
	if t.Failed() {
		t.Logf("office log:\n%s", logs.String())
	}
}

// TestRunOptions: what cannot work is said at once, not retried.
func TestRunOptions(t *testing.T) {
	t.Parallel()
	ok := office.Options{SIP: "127.0.0.1:9", Domain: domain, People: staff("1001")}
	for name, edit := range map[string]func(*office.Options){
		"no SIP":      func(o *office.Options) { o.SIP = "" },
		"no domain":   func(o *office.Options) { o.Domain = "" },
		"nobody":      func(o *office.Options) { o.People = nil },
		"twice":       func(o *office.Options) { o.People = staff("1001", "1001") },
		"HTTP no URL": func(o *office.Options) { o.HTTP = "127.0.0.1:8080" },
	} {
		o := ok
		edit(&o)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := office.Run(ctx, o)
		cancel()
		if err == nil {
			t.Errorf("%s: Run accepted %+v", name, o)
		}
	}
}
