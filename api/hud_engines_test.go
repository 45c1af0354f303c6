package api_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/blfgw/blfgw/api"
	"github.com/blfgw/blfgw/internal/browsertest/drivertest"
	"github.com/blfgw/blfgw/internal/browsertest/firefox"
	"github.com/blfgw/blfgw/internal/browsertest/webkit"
	"github.com/blfgw/blfgw/presence"
)

// TestHUDFirefox: the page's main flow (hudFlow) in a real headless
// Firefox, the second engine after Chromium, at a phone's 420 px.
func TestHUDFirefox(t *testing.T) {
	hudFlow(t, "Firefox", firefox.Start(t), 420)
}

// TestHUDWebKit: the same flow in WebKit, Safari's engine (WebKitGTK;
// Safari itself needs macOS), at 450 px: MiniBrowser's toolbar keeps its
// window from getting narrower.
func TestHUDWebKit(t *testing.T) {
	hudFlow(t, "WebKit", webkit.Start(t), 450)
}

// hudFlow: Dave types his extension and password and presses Enter;
// Bob's lamp turns busy within a second of his call; Dave finds Carol in
// the directory and adds her to his list; he sets Do Not Disturb and the
// gateway has it; a reload keeps him signed in and shows his own list; on
// a phone-sized screen (narrow px wide) nothing runs off the side.
func hudFlow(t *testing.T, engine string, b drivertest.Driver, narrow int) {
	e := newEnv(t, func(o *api.Options) {
		o.EventsPing = time.Hour
		o.ListURI = func(n string) string { return "sip:" + n + "-blf@pbx.test" }
	})
	q := strconv.Quote
	// visible: the element exists and is rendered (not hidden, not inside
	// a hidden panel).
	visible := func(sel string) string {
		return `((el) => !!el && el.checkVisibility())(document.querySelector(` + q(sel) + `))`
	}
	text := func(sel string) string {
		t.Helper()
		var s string
		if err := b.Eval(`document.querySelector(`+q(sel)+`)?.textContent.trim() ?? null`, &s); err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	do := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v\nbody: %s", what, err, text("body"))
		}
	}
	row := `#lamps li[data-ext="1002"]`

	// Signing in with the keyboard: the real key events that a person's
	// typing makes, Tab between the fields and Enter to submit.
	do("open the page", b.Navigate(e.base+"/"))
	do("the form", b.WaitJS(visible(`#number`), 5*time.Second))
	do("click the extension field", b.Click(`#number`))
	do("type the extension", b.Type("1004"))
	do("tab to the password", b.Keys(drivertest.Tab))
	do("type the password", b.Type(e.pw["1004"]))
	do("press Enter", b.Keys(drivertest.Enter))
	do("signed in, Bob's row", b.WaitJS(visible(row+`[data-lamp="idle"]`)+` && !`+visible(`#login`), 5*time.Second))

	// Bob's call shows within a second.
	e.hub.SetDialogs("1002", presence.SourceSIP, []presence.Dialog{{ID: "c1", State: presence.Confirmed}})
	changed := time.Now()
	do("Bob's lamp busy within 1 s", b.WaitJS(`!!document.querySelector(`+q(row+`[data-lamp="busy"]`)+`)`, time.Second))
	t.Logf("call to busy on the page in %s: %v", engine, time.Since(changed).Round(time.Millisecond))
	if got := text(row + ` .label`); got != "On the phone" {
		t.Errorf("Bob's row says %q", got)
	}

	// The directory: search by name, select Carol, add her.
	do("click the Directory tab", b.Click(`#tab-dir`))
	do("the directory", b.WaitJS(visible(`#dir`)+` && !`+visible(`#hud`)+` && document.getElementById("dir-count").textContent === "5 colleagues"`, 5*time.Second))
	do("click the search field", b.Click(`#q`))
	do("type a name", b.Type("carol"))
	if err := b.WaitJS(`document.getElementById("dir-count").textContent === "1 colleague"`, 5*time.Second); err != nil {
		t.Fatalf("search carol: %v (count %q, results %q)", err, text(`#dir-count`), text(`#dir-results`))
	}
	do("select Carol", b.Click(`#dir-results li[data-ext="1003"] input`))
	do("Carol selected", b.WaitJS(`document.querySelector('#dir-results li[data-ext="1003"] input').checked`, time.Second))
	do("click Add", b.Click(`#dir-add`))
	do("Carol on the list", b.WaitJS(visible(`#my-list li[data-ext="1003"]`), 5*time.Second))
	// The list's help names the URI a phone takes the same list from.
	if got := text(`#list-help`); !strings.Contains(got, "sip:1004-blf@pbx.test") {
		t.Errorf("the list's help says %q, without the phone's BLF list URI", got)
	}
	if u, _, _ := e.set.Get("1004"); !slices.Contains(u.Appearance, "1003") {
		t.Errorf("Dave's appearance = %v, want Carol (1003) on it", u.Appearance)
	}

	// Do Not Disturb: choose it in the drop-down by keyboard (the select
	// has the focus after the click; typing picks the option by its
	// label) and save.
	do("click the My settings tab", b.Click(`#tab-mine`))
	do("my settings", b.WaitJS(visible(`#mine`)+` && `+visible(`#status`), 5*time.Second))
	do("click the status", b.Click(`#status`))
	do("type Do", b.Type("Do"))
	do("press Enter", b.Keys(drivertest.Enter))
	if err := b.WaitJS(`document.getElementById("status").value === "dnd"`, 2*time.Second); err != nil {
		var v string
		_ = b.Eval(`document.getElementById("status").value`, &v)
		t.Fatalf("choosing Do not disturb: %v (value %q)", err, v)
	}
	do("click Save status", b.Click(`#status-save`))
	do("saved", b.WaitJS(visible(`#mine-msg[data-kind="ok"]`), 5*time.Second))
	if s := e.hub.Current("1004"); s.Status != presence.StatusDND {
		t.Fatalf("after the page's Do Not Disturb the hub has %v", s.Status)
	}

	// A reload keeps the session: no form, and Dave's HUD is his list
	// now (Carol alone: a chosen list replaces the whole directory), with
	// his own row in Do Not Disturb.
	do("reload", b.Reload())
	do("still signed in", b.WaitJS(`!`+visible(`#login`)+` && `+visible(`#lamps li.self[data-look="dnd"]`)+
		` && [...document.querySelectorAll("#lamps li")].map((l) => l.dataset.ext).join() === "1004,1003"`, 5*time.Second))
	row = `#lamps li[data-ext="1003"]`

	// A phone-sized screen: the page fits its width.
	do("narrow the viewport", b.SetViewport(narrow, 800))
	var w []int
	do("measure", b.Eval(`[window.innerWidth, document.documentElement.scrollWidth]`, &w))
	if len(w) != 2 || w[0] != narrow || w[1] > w[0] {
		t.Errorf("at %d px wide the page is [viewport, content] = %v px wide", narrow, w)
	}
	do("rows on a phone-sized screen", b.WaitJS(visible(row), time.Second))
}
