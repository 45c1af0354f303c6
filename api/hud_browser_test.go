package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

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
	label, err := bt.Get(ctx, time.Second, chromedp.Text(chromedp.CSS(row+` .state`)))
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
	if label, err = bt.Get(ctx, time.Second, chromedp.Text(chromedp.CSS(row+` .state`))); err != nil || label != "Do not disturb" {
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
	if label, err = bt.Get(ectx, time.Second, chromedp.Text(chromedp.CSS(row+` .state`))); err != nil || label != "Available" {
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
