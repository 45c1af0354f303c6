package api_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/blfgw/blfgw/api"
	bt "github.com/blfgw/blfgw/internal/browsertest"
	"github.com/blfgw/blfgw/presence"
)

// TestHUDBrowser: Dave signs in on the page with his extension's
// password and sees Bob's lamp, which Bob shares with him, turn busy
// within a second of a call and then show his Do Not Disturb, in words
// as well as colour, without the caller's name; a reload keeps the
// session; after signing out, Eve, whom Bob does not share with, sees
// Bob's row stay available through a call.
func TestHUDBrowser(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.EventsPing = time.Hour })
	ctx := bt.Start(t)
	row := `#lamps li[data-ext="1002"]`
	signIn := func(ctx context.Context, n string) {
		t.Helper()
		err := bt.Within(ctx, 10*time.Second,
			chromedp.Navigate(e.base+"/"),
			chromedp.WaitVisible(chromedp.CSS(`#number`)),
			chromedp.SendKeys(chromedp.CSS(`#number`), n),
			chromedp.SendKeys(chromedp.CSS(`#password`), e.pw[n]),
			chromedp.Click(chromedp.CSS(`#login button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(row+`[data-lamp="idle"]`)),
			chromedp.WaitNotVisible(chromedp.CSS(`#login`)), // signed in: the form is gone
		)
		if err != nil {
			html, _ := bt.Get(ctx, time.Second, chromedp.OuterHTML(chromedp.CSS("main")))
			t.Fatalf("%s signs in and sees Bob: %v\n%s", n, err, html)
		}
	}
	signIn(ctx, "1004")

	e.hub.SetDialogs("1002", presence.SourceSIP, []presence.Dialog{{ID: "c1", CallID: "c1@pbx", State: presence.Confirmed, Direction: presence.Recipient,
		Remote: presence.Party{URI: "sip:0999@pbx", Display: "Secret Customer"}}})
	changed := time.Now()
	var page string
	if err := bt.Within(ctx, time.Second, chromedp.WaitVisible(chromedp.CSS(row+`[data-lamp="busy"]`))); err != nil {
		t.Fatalf("Bob's lamp not busy within 1 s: %v", err)
	}
	t.Logf("call to busy on the page: %v", time.Since(changed).Round(time.Millisecond))
	label, err := bt.Get(ctx, time.Second, chromedp.Text(chromedp.CSS(row+` .label`)))
	if err != nil {
		t.Fatal(err)
	}
	if page, err = bt.Get(ctx, time.Second, chromedp.OuterHTML(chromedp.CSS("html"))); err != nil {
		t.Fatal(err)
	}
	if label != "On the phone" || strings.Contains(page, "Secret Customer") {
		t.Errorf("Bob's row says %q (the page must name the state and not the caller Dave may not see)", label)
	}
	bt.Screenshot(t, ctx, "hud.png")

	// Bob hangs up and sets Do Not Disturb: the row says so in words.
	e.hub.SetDialogs("1002", presence.SourceSIP, nil)
	if r := e.patch("/api/v1/me", e.basic("1002"), `{"status":"dnd"}`); r.code != 200 {
		t.Fatalf("dnd = %d %s", r.code, r.raw)
	}
	if err := bt.Within(ctx, time.Second, chromedp.WaitVisible(chromedp.CSS(row+`[data-look="dnd"]`))); err != nil {
		t.Fatalf("Bob's Do Not Disturb not shown within 1 s: %v", err)
	}
	if label, err = bt.Get(ctx, time.Second, chromedp.Text(chromedp.CSS(row+` .label`))); err != nil || label != "Do not disturb" {
		t.Fatalf("Bob's Do Not Disturb: %q %v", label, err)
	}

	// A reload keeps the session and the state.
	if err := bt.Within(ctx, 5*time.Second, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(row+`[data-look="dnd"]`))); err != nil {
		t.Fatalf("after a reload: %v", err)
	}

	// Signing out ends the session; Eve, whom Bob does not share with,
	// then sees his row neutral through a call.
	if err := bt.Within(ctx, 5*time.Second, chromedp.Click(chromedp.CSS(`#logout`)), chromedp.WaitVisible(chromedp.CSS(`#login`))); err != nil {
		t.Fatalf("sign out: %v", err)
	}
	if r := e.patch("/api/v1/me", e.basic("1002"), `{"status":"default"}`); r.code != 200 {
		t.Fatalf("reset = %d %s", r.code, r.raw)
	}
	if r := e.patch("/api/v1/me", e.basic("1005"), `{"appearance":["1002"]}`); r.code != 200 {
		t.Fatalf("eve's keys = %d %s", r.code, r.raw)
	}
	ectx := ctx
	signIn(ectx, "1005")
	e.hub.SetDialogs("1002", presence.SourceSIP, []presence.Dialog{{ID: "c2", State: presence.Confirmed}})
	time.Sleep(500 * time.Millisecond)
	if label, err = bt.Get(ectx, time.Second, chromedp.Text(chromedp.CSS(row+` .label`))); err != nil || label != "Available" {
		t.Errorf("Eve sees Bob as %q (%v), want the neutral Available", label, err)
	}
}

// TestHUDSettingsBrowser: Bob sets Do Not Disturb with a message on the
// page and watchers see it; he stops sharing and Dave's view of him goes
// neutral; naming a delegate while sharing is off shows the gateway's
// refusal, and nothing changes.
func TestHUDSettingsBrowser(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.EventsPing = time.Hour })
	ctx := bt.Start(t)
	err := bt.Within(ctx, 10*time.Second,
		chromedp.Navigate(e.base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#number`)),
		chromedp.SendKeys(chromedp.CSS(`#number`), "1002"),
		chromedp.SendKeys(chromedp.CSS(`#password`), e.pw["1002"]),
		chromedp.Click(chromedp.CSS(`#login button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#tab-mine`)),
		chromedp.Click(chromedp.CSS(`#tab-mine`)),
		chromedp.WaitVisible(chromedp.CSS(`#mine`)),
		chromedp.WaitVisible(chromedp.CSS(`#share:checked`)),
	)
	if err != nil {
		t.Fatalf("bob signs in: %v", err)
	}
	err = bt.Within(ctx, 5*time.Second,
		chromedp.SetValue(chromedp.CSS(`#status`), "dnd"),
		chromedp.SendKeys(chromedp.CSS(`#message`), "Back at 3"),
		chromedp.Click(chromedp.CSS(`#status-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#mine-msg[data-kind="ok"]`)),
	)
	if err != nil {
		t.Fatalf("dnd on the page: %v", err)
	}
	if s := e.hub.Current("1002"); s.Status != presence.StatusDND || s.Message != "Back at 3" {
		t.Fatalf("after the page's DND the hub has %v %q", s.Status, s.Message)
	}
	if r := e.get("/api/v1/extensions/1002/presence", e.basic("1004")); r.body["lamp"] != "busy" || r.body["message"] != "Back at 3" {
		t.Errorf("Dave sees %s", r.raw)
	}

	// Share with: the Support department and supervisors as well as Dave;
	// Eve, in Support, now sees him.
	if r := e.get("/api/v1/extensions/1002/presence", e.basic("1005")); r.body["lamp"] != "idle" {
		t.Fatalf("Eve sees Bob before he shares with Support: %s", r.raw)
	}
	if got, err := bt.Get(ctx, time.Second, chromedp.Value(chromedp.CSS(`#sw-exts`))); err != nil || got != "1004" {
		t.Errorf("the colleagues Bob shares with show as %q (%v)", got, err)
	}
	err = bt.Within(ctx, 5*time.Second,
		chromedp.Click(chromedp.CSS(`#sw-depts input[value="Support"]`)),
		chromedp.Click(chromedp.CSS(`#sw-roles input[value="supervisor"]`)),
		chromedp.Click(chromedp.CSS(`#share-form button[type="submit"]`)),
		bt.Until(`document.getElementById("mine-msg").textContent === "Sharing saved."`),
	)
	if err != nil {
		t.Fatalf("share with Support: %v", err)
	}
	if u, _, _ := e.set.Get("1002"); !slices.Equal(u.With.Departments, []string{"Support"}) || !slices.Equal(u.With.Extensions, []string{"1004"}) ||
		len(u.With.Roles) != 1 || u.With.Roles[0] != presence.RoleSupervisor || u.With.Everyone {
		t.Errorf("Bob's share_with after the page: %+v", u.With)
	}
	if r := e.get("/api/v1/extensions/1002/presence", e.basic("1005")); r.body["lamp"] != "busy" || r.body["message"] != "Back at 3" {
		t.Errorf("Eve, in Support, sees %s", r.raw)
	}

	// Sharing off: Dave's view goes neutral.
	if err := bt.Within(ctx, 5*time.Second, chromedp.Click(chromedp.CSS(`#share`)), chromedp.WaitVisible(chromedp.CSS(`#mine-msg[data-kind="ok"]`))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Dave's view of Bob neutral", func() bool {
		r := e.get("/api/v1/extensions/1002/presence", e.basic("1004"))
		return r.body["lamp"] == "idle" && r.body["message"] == ""
	})

	// A delegate while sharing is off: refused, in the gateway's words.
	err = bt.Within(ctx, 5*time.Second,
		chromedp.SetValue(chromedp.CSS(`#delegates`), "1003, 1004"),
		chromedp.Click(chromedp.CSS(`#delegates-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#mine-msg[data-kind="error"]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := bt.Get(ctx, time.Second, chromedp.Text(chromedp.CSS(`#mine-msg`)))
	if err != nil || !strings.Contains(msg, "while presence sharing is on") {
		t.Errorf("refusal shown as %q (%v)", msg, err)
	}
	bt.Screenshot(t, ctx, "settings.png")
	if u, _, _ := e.set.Get("1002"); len(u.Delegates) != 1 || u.Delegates[0] != "1003" {
		t.Errorf("delegates changed despite the refusal: %v", u.Delegates)
	}
}

// signIn opens the page at base and signs in as n with the mouse.
func (e *env) signInPage(ctx context.Context, base, n string) {
	e.t.Helper()
	err := bt.Within(ctx, 10*time.Second,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#number`)),
		chromedp.SendKeys(chromedp.CSS(`#number`), n),
		chromedp.SendKeys(chromedp.CSS(`#password`), e.pw[n]),
		chromedp.Click(chromedp.CSS(`#login button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#lamps li.self[data-lamp]`)),
	)
	if err != nil {
		html, _ := bt.Get(ctx, time.Second, chromedp.OuterHTML(chromedp.CSS("body")))
		e.t.Fatalf("%s signs in: %v\n%s", n, err, html)
	}
}

// textOf is the text of the first element sel matches.
func textOf(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := bt.Get(ctx, 2*time.Second, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// texts is the text of every element sel matches, in order.
func texts(t *testing.T, ctx context.Context, sel string) []string {
	t.Helper()
	out, err := bt.Get(ctx, 2*time.Second, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll(`+strconv.Quote(sel)+`)].map((e) => e.textContent.trim())`))
	if err != nil {
		t.Fatalf("texts of %s: %v", sel, err)
	}
	return out
}

// TestHUDDirectoryBrowser: Carol searches the directory by name and by
// extension, filters by department, selects several results and adds
// them to her list, moves one up, removes another; the gateway keeps the
// list (the phone's BLF keys) in that order and the HUD follows it.
func TestHUDDirectoryBrowser(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.EventsPing = time.Hour })
	ctx := bt.Start(t)
	e.signInPage(ctx, e.base, "1003")
	count := func(want string) chromedp.Action[chromedp.Void] {
		return bt.Until(`document.getElementById("dir-count").textContent === ` + strconv.Quote(want))
	}
	err := bt.Within(ctx, 5*time.Second,
		chromedp.Click(chromedp.CSS(`#tab-dir`)),
		chromedp.WaitVisible(chromedp.CSS(`#dir`)),
		chromedp.WaitNotVisible(chromedp.CSS(`#hud`)),
		(count("5 colleagues")), // everyone but herself
	)
	if err != nil {
		t.Fatalf("directory: %v", err)
	}
	// By name, then by extension.
	if err := bt.Within(ctx, 5*time.Second, chromedp.SendKeys(chromedp.CSS(`#q`), "dyer"), (count("1 colleague"))); err != nil {
		t.Fatalf("search dyer: %v (%v)", err, texts(t, ctx, "#dir-results li"))
	}
	if got := texts(t, ctx, "#dir-results li"); len(got) != 1 || !strings.Contains(got[0], "Dave Dyer (1004) · Support") {
		t.Errorf("dyer finds %q", got)
	}
	if err := bt.Within(ctx, 5*time.Second, chromedp.Focus(chromedp.CSS(`#q`)), chromedp.KeyEvent("a", chromedp.KeyModifiers(chromedp.ModifierCtrl)), chromedp.KeyEvent(kb.Backspace+"100"), (count("5 colleagues"))); err != nil {
		v, _ := bt.Get(ctx, time.Second, chromedp.Value(chromedp.CSS(`#q`)))
		t.Fatalf("search 100: %v (q=%q, %v %v)", err, v, texts(t, ctx, "#dir-count"), texts(t, ctx, "#dir-results li"))
	}
	// Filter by department: Support is Dave and Eve.
	if err := bt.Within(ctx, 5*time.Second, chromedp.Focus(chromedp.CSS(`#dept`)), chromedp.KeyEvent("Sup"), (count("2 colleagues"))); err != nil {
		t.Fatalf("filter Support: %v (%v)", err, texts(t, ctx, "#dir-results li"))
	}
	// Select all results and add them.
	err = bt.Within(ctx, 5*time.Second,
		chromedp.Click(chromedp.CSS(`#dir-all`)),
		chromedp.Click(chromedp.CSS(`#dir-add`)),
		chromedp.WaitVisible(chromedp.CSS(`#dir-msg[data-kind="ok"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#my-list li[data-ext="1005"]`)),
	)
	if err != nil {
		t.Fatalf("add all: %v", err)
	}
	if msg := texts(t, ctx, "#dir-msg"); msg[0] != "Added Dave Dyer, Eve Evans." {
		t.Errorf("after adding: %q", msg)
	}
	// One more, from all departments, picked singly.
	err = bt.Within(ctx, 5*time.Second,
		chromedp.Focus(chromedp.CSS(`#dept`)), chromedp.KeyEvent("All"), (count("5 colleagues")),
		chromedp.Click(chromedp.CSS(`#dir-results li[data-ext="1001"] input`)),
		chromedp.Click(chromedp.CSS(`#dir-add`)),
		chromedp.WaitVisible(chromedp.CSS(`#my-list li[data-ext="1001"]`)),
	)
	if err != nil {
		t.Fatalf("add Alice: %v", err)
	}
	want := func(list ...string) {
		t.Helper()
		u, _, _ := e.set.Get("1003")
		if !slices.Equal(u.Appearance, list) {
			t.Errorf("Carol's appearance = %v, want %v", u.Appearance, list)
		}
	}
	want("1004", "1005", "1001")
	// Alice up one, Dave removed.
	err = bt.Within(ctx, 5*time.Second,
		chromedp.Click(chromedp.CSS(`#my-list li[data-ext="1001"] .up`)),
		bt.Until(`document.querySelector("#my-list li:nth-child(2)").dataset.ext === "1001"`),
		chromedp.Click(chromedp.CSS(`#my-list li[data-ext="1004"] .remove`)),
		chromedp.WaitNotPresent(chromedp.CSS(`#my-list li[data-ext="1004"]`)),
	)
	if err != nil {
		t.Fatalf("reorder and remove: %v", err)
	}
	want("1001", "1005")
	if err := bt.Within(ctx, 5*time.Second, chromedp.Focus(chromedp.CSS(`#dept`)), chromedp.KeyEvent("Sal"), count("1 colleague")); err != nil {
		t.Fatal(err)
	}
	bt.Screenshot(t, ctx, "directory.png")
	// The HUD shows the same list in the same order.
	err = bt.Within(ctx, 5*time.Second,
		chromedp.Click(chromedp.CSS(`#tab-hud`)),
		bt.Until(`[...document.querySelectorAll("#lamps li")].map((l) => l.dataset.ext).join() === "1003,1001,1005"`),
	)
	if err != nil {
		t.Errorf("HUD rows: %v (%v)", err, texts(t, ctx, "#lamps li .number"))
	}
}

// TestHUDResumeBrowser: the network drops Dave's event stream; Bob's Do
// Not Disturb, set while it was down, shows without a reload once the
// page reconnects. Dropped again, Bob's call starts, and a reload then
// shows it too: nothing is lost either way, and the session survives.
func TestHUDResumeBrowser(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.EventsPing = time.Hour })
	net := bt.NewProxy(t, e.base)
	ctx := bt.Start(t)
	row := `#lamps li[data-ext="1002"]`
	e.signInPage(ctx, net.URL, "1004")
	if err := bt.Within(ctx, 5*time.Second, chromedp.WaitVisible(chromedp.CSS(row+`[data-look="idle"]`))); err != nil {
		t.Fatal(err)
	}
	// A mark that a reload would wipe.
	if _, err := bt.Get(ctx, time.Second, chromedp.Evaluate[bool](`window.notReloaded = true`)); err != nil {
		t.Fatal(err)
	}

	if n := net.Cut(); n == 0 {
		t.Fatal("no connection to cut")
	}
	if r := e.patch("/api/v1/me", e.basic("1002"), `{"status":"dnd","status_message":"Back at 3"}`); r.code != 200 {
		t.Fatalf("dnd = %d %s", r.code, r.raw)
	}
	cut := time.Now()
	err := bt.Within(ctx, 10*time.Second,
		chromedp.WaitVisible(chromedp.CSS(row+`[data-look="dnd"]`)),
		bt.Until(`document.getElementById("conn").dataset.state === "live"`),
	)
	if err != nil {
		t.Fatalf("after a dropped stream the page did not catch up: %v (%v)", err, texts(t, ctx, "#lamps li, #conn"))
	}
	t.Logf("dropped stream to Do Not Disturb on the page: %v", time.Since(cut).Round(time.Millisecond))
	if kept, err := bt.Get(ctx, time.Second, chromedp.Evaluate[bool](`window.notReloaded === true`)); err != nil || !kept {
		t.Errorf("the page reloaded itself (%v)", err)
	}
	if got := texts(t, ctx, row+" .detail"); got[0] != "Back at 3" {
		t.Errorf("message = %q", got)
	}

	net.Cut()
	e.patch("/api/v1/me", e.basic("1002"), `{"status":"default","status_message":""}`)
	e.hub.SetDialogs("1002", presence.SourceSIP, []presence.Dialog{{ID: "c1", State: presence.Confirmed, Direction: presence.Initiator}})
	err = bt.Within(ctx, 10*time.Second,
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(row+`[data-look="busy"]`)),
	)
	if err != nil {
		t.Fatalf("after a reload: %v (%v)", err, texts(t, ctx, "body"))
	}
	if got := texts(t, ctx, row+" .detail"); got[0] != "" {
		t.Errorf("message after the reset = %q", got)
	}
}

// TestHUDKeyboardBrowser: with the keyboard alone Dave signs in, moves to
// the directory with the arrow keys, finds Carol, adds her and sets Do Not
// Disturb; every focused control shows a visible focus ring.
func TestHUDKeyboardBrowser(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.EventsPing = time.Hour })
	ctx := bt.Start(t)
	active := func() string {
		t.Helper()
		id, err := bt.Get(ctx, time.Second, chromedp.Evaluate[string](
			`(document.activeElement.id || document.activeElement.tagName) + (document.activeElement.value ? "=" + document.activeElement.value : "")`))
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	// tabTo presses Tab until the element with that id has the focus, and
	// checks that it can be seen to have it.
	tabTo := func(id string) {
		t.Helper()
		for range 40 {
			if a := active(); a == id || strings.HasPrefix(a, id+"=") {
				ring, err := bt.Get(ctx, time.Second, chromedp.Evaluate[string](`getComputedStyle(document.activeElement).outlineStyle`))
				if err != nil || ring == "none" {
					t.Errorf("%s has the focus but no visible outline (%q %v)", id, ring, err)
				}
				return
			}
			if err := bt.Within(ctx, time.Second, chromedp.KeyEvent("\t")); err != nil {
				t.Fatal(err)
			}
		}
		t.Fatalf("Tab never reaches #%s (at %s)", id, active())
	}
	key := func(keys string) {
		t.Helper()
		if err := bt.Within(ctx, 2*time.Second, chromedp.KeyEvent(keys)); err != nil {
			t.Fatal(err)
		}
	}
	if err := bt.Within(ctx, 10*time.Second, chromedp.Navigate(e.base+"/"), chromedp.WaitVisible(chromedp.CSS(`#number`))); err != nil {
		t.Fatal(err)
	}
	if a := active(); a != "number" {
		t.Fatalf("the page opens with the focus on %s, want the extension field", a)
	}
	key("1004")
	tabTo("password")
	key(e.pw["1004"] + "\r")
	if err := bt.Within(ctx, 5*time.Second, chromedp.WaitVisible(chromedp.CSS(`#lamps li.self[data-lamp]`))); err != nil {
		t.Fatalf("Enter signs in: %v", err)
	}
	tabTo("tab-hud")
	key(kb.ArrowRight)
	if err := bt.Within(ctx, 2*time.Second, chromedp.WaitVisible(chromedp.CSS(`#dir`))); err != nil || active() != "tab-dir" {
		t.Fatalf("ArrowRight on the tabs: %v, focus on %s", err, active())
	}
	tabTo("q")
	key("carol")
	if err := bt.Within(ctx, 5*time.Second, bt.Until(`document.getElementById("dir-count").textContent === "1 colleague"`)); err != nil {
		t.Fatal(err)
	}
	tabTo("dir-all")
	key(" ")
	tabTo("dir-add")
	key("\r")
	if err := bt.Within(ctx, 5*time.Second, chromedp.WaitVisible(chromedp.CSS(`#my-list li[data-ext="1003"]`))); err != nil {
		t.Fatalf("adding Carol with the keyboard: %v", err)
	}
	// Back to the tabs (Shift+Tab), End goes to the last one: My settings.
	for range 40 {
		if strings.HasPrefix(active(), "tab-") {
			break
		}
		if err := bt.Within(ctx, time.Second, chromedp.KeyEvent("\t", chromedp.KeyModifiers(chromedp.ModifierShift))); err != nil {
			t.Fatal(err)
		}
	}
	key(kb.End)
	if err := bt.Within(ctx, 2*time.Second, chromedp.WaitVisible(chromedp.CSS(`#mine`))); err != nil || active() != "tab-mine" {
		t.Fatalf("End on the tabs: %v, focus on %s", err, active())
	}
	tabTo("status")
	key("Do")
	tabTo("message")
	key("At lunch")
	tabTo("status-save")
	key("\r")
	waitFor(t, "Dave's DND from the keyboard", func() bool {
		s := e.hub.Current("1004")
		return s.Status == presence.StatusDND && s.Message == "At lunch"
	})
	if u, _, _ := e.set.Get("1004"); !slices.Equal(u.Appearance, []string{"1003"}) {
		t.Errorf("Dave's list = %v", u.Appearance)
	}
}

// TestHUDCallerAndCloudBrowser: Carol, Bob's delegate, sees who is calling
// him while his phone rings (Dave, who is not, was shown no name in
// TestHUDBrowser); Dave's Teams meeting and Genesys away show in words
// with the service that said so; Eve, who does not share with Carol,
// shows neutral whatever Teams says.
func TestHUDCallerAndCloudBrowser(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.EventsPing = time.Hour })
	ctx := bt.Start(t)
	e.signInPage(ctx, e.base, "1003")
	state := func(n string) string { return texts(t, ctx, `#lamps li[data-ext="`+n+`"] .label`)[0] }
	look := func(n, want string) {
		t.Helper()
		if err := bt.Within(ctx, time.Second, chromedp.WaitVisible(chromedp.CSS(`#lamps li[data-ext="`+n+`"][data-look="`+want+`"]`))); err != nil {
			t.Fatalf("%s does not look %s within 1 s: %v (%q)", n, want, err, state(n))
		}
	}

	e.hub.SetDialogs("1002", presence.SourceSIP, []presence.Dialog{{ID: "r1", CallID: "r1@pbx", State: presence.Early, Direction: presence.Recipient,
		Remote: presence.Party{URI: "sip:0999@pbx", Display: "Secret Customer"}, Since: time.Now().Add(-75 * time.Second)}})
	look("1002", "ringing")
	if s := state("1002"); s != "Ringing – Secret Customer" {
		t.Errorf("the delegate sees Bob's ringing as %q", s)
	}
	// The timer says how long it has been ringing, and keeps counting.
	timer := func() string { return texts(t, ctx, `#lamps li[data-ext="1002"] .timer`)[0] }
	if tm := timer(); tm != "1:15" && tm != "1:16" {
		t.Errorf("Bob's timer shows %q, want 1:15", tm)
	}
	if err := bt.Within(ctx, 3*time.Second, bt.Until(`document.querySelector('#lamps li[data-ext="1002"] .timer').textContent >= "1:17"`)); err != nil {
		t.Errorf("the timer does not count: %q", timer())
	}

	e.hub.SetCloud("1004", presence.Cloud{Source: presence.SourceTeams, State: presence.CloudBusy, Note: "In a meeting", Detail: "Busy/InAMeeting"})
	look("1004", "busy")
	if s := state("1004"); s != "In a meeting (Teams)" {
		t.Errorf("Dave's Teams meeting shows as %q", s)
	}
	e.hub.SetCloud("1004", presence.Cloud{Source: presence.SourceTeams, State: presence.CloudUnknown})
	e.hub.SetCloud("1004", presence.Cloud{Source: presence.SourceGenesys, State: presence.CloudAway, Note: "Break"})
	look("1004", "away")
	if s := state("1004"); s != "Break (Genesys)" {
		t.Errorf("Dave's Genesys break shows as %q", s)
	}

	e.hub.SetCloud("1005", presence.Cloud{Source: presence.SourceTeams, State: presence.CloudBusy, Note: "In a meeting"})
	time.Sleep(300 * time.Millisecond)
	if s := state("1005"); s != "Available" {
		t.Errorf("Eve, hidden from Carol, shows as %q", s)
	}
}

// TestHUDSessionEndsBrowser: when the session runs out, the open page
// notices by itself (its stream is refused), says so and asks to sign in
// again; nothing more is shown.
func TestHUDSessionEndsBrowser(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.EventsPing = 200 * time.Millisecond })
	ctx := bt.Start(t)
	e.signInPage(ctx, e.base, "1004")
	e.advance(e.ttl + time.Minute)
	err := bt.Within(ctx, 10*time.Second,
		chromedp.WaitVisible(chromedp.CSS(`#login`)),
		bt.Until(`document.getElementById("login-error").textContent.includes("session has ended")`),
	)
	if err != nil {
		t.Fatalf("the page did not notice its session ended: %v (%v)", err, texts(t, ctx, "body"))
	}
	if rows := texts(t, ctx, "#lamps li"); len(rows) != 0 {
		t.Errorf("after the session ended the page still shows %q", rows)
	}
}
