package api_test

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/blfgw/blfgw/api"
	"github.com/blfgw/blfgw/internal/browsertest/firefox"
	"github.com/blfgw/blfgw/presence"
)

// TestHUDFirefox: the page's main flow in a real headless Firefox, the
// second engine after Chromium. Dave types his extension and password and
// presses Enter; Bob's lamp turns busy within a second of his call; Dave
// finds Carol in the directory and adds her to his list; he sets Do Not
// Disturb and the gateway has it; a reload keeps him signed in and shows
// his own list; on a phone-sized screen nothing runs off the side.
func TestHUDFirefox(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.EventsPing = time.Hour })
	ff := firefox.Start(t)
	q := strconv.Quote
	// visible: the element exists and is rendered (not hidden, not inside
	// a hidden panel).
	visible := func(sel string) string {
		return `((el) => !!el && el.checkVisibility())(document.querySelector(` + q(sel) + `))`
	}
	text := func(sel string) string {
		t.Helper()
		var s string
		if err := ff.Eval(`document.querySelector(`+q(sel)+`)?.textContent.trim() ?? null`, &s); err != nil {
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
	do("open the page", ff.Navigate(e.base+"/"))
	do("the form", ff.WaitJS(visible(`#number`), 5*time.Second))
	do("click the extension field", ff.Click(`#number`))
	do("type the extension", ff.Type("1004"))
	do("tab to the password", ff.Keys(firefox.Tab))
	do("type the password", ff.Type(e.pw["1004"]))
	do("press Enter", ff.Keys(firefox.Enter))
	do("signed in, Bob's row", ff.WaitJS(visible(row+`[data-lamp="idle"]`)+` && !`+visible(`#login`), 5*time.Second))

	// Bob's call shows within a second.
	e.hub.SetDialogs("1002", presence.SourceSIP, []presence.Dialog{{ID: "c1", State: presence.Confirmed}})
	changed := time.Now()
	do("Bob's lamp busy within 1 s", ff.WaitJS(`!!document.querySelector(`+q(row+`[data-lamp="busy"]`)+`)`, time.Second))
	t.Logf("call to busy on the page in Firefox: %v", time.Since(changed).Round(time.Millisecond))
	if got := text(row + ` .label`); got != "On the phone" {
		t.Errorf("Bob's row says %q", got)
	}

	// The directory: search by name, select Carol, add her.
	do("click the Directory tab", ff.Click(`#tab-dir`))
	do("the directory", ff.WaitJS(visible(`#dir`)+` && !`+visible(`#hud`)+` && document.getElementById("dir-count").textContent === "5 colleagues"`, 5*time.Second))
	do("click the search field", ff.Click(`#q`))
	do("type a name", ff.Type("carol"))
	if err := ff.WaitJS(`document.getElementById("dir-count").textContent === "1 colleague"`, 5*time.Second); err != nil {
		t.Fatalf("search carol: %v (count %q, results %q)", err, text(`#dir-count`), text(`#dir-results`))
	}
	do("select Carol", ff.Click(`#dir-results li[data-ext="1003"] input`))
	do("Carol selected", ff.WaitJS(`document.querySelector('#dir-results li[data-ext="1003"] input').checked`, time.Second))
	do("click Add", ff.Click(`#dir-add`))
	do("Carol on the list", ff.WaitJS(visible(`#my-list li[data-ext="1003"]`), 5*time.Second))
	if u, _, _ := e.set.Get("1004"); !slices.Contains(u.Appearance, "1003") {
		t.Errorf("Dave's appearance = %v, want Carol (1003) on it", u.Appearance)
	}

	// Do Not Disturb: choose it in the drop-down by keyboard (the select
	// has the focus after the click; typing picks the option by its
	// label) and save.
	do("click the My settings tab", ff.Click(`#tab-mine`))
	do("my settings", ff.WaitJS(visible(`#mine`)+` && `+visible(`#status`), 5*time.Second))
	do("click the status", ff.Click(`#status`))
	do("type Do", ff.Type("Do"))
	do("press Enter", ff.Keys(firefox.Enter))
	if err := ff.WaitJS(`document.getElementById("status").value === "dnd"`, 2*time.Second); err != nil {
		var v string
		_ = ff.Eval(`document.getElementById("status").value`, &v)
		t.Fatalf("choosing Do not disturb: %v (value %q)", err, v)
	}
	do("click Save status", ff.Click(`#status-save`))
	do("saved", ff.WaitJS(visible(`#mine-msg[data-kind="ok"]`), 5*time.Second))
	if s := e.hub.Current("1004"); s.Status != presence.StatusDND {
		t.Fatalf("after the page's Do Not Disturb the hub has %v", s.Status)
	}

	// A reload keeps the session: no form, and Dave's HUD is his list
	// now (Carol alone: a chosen list replaces the whole directory), with
	// his own row in Do Not Disturb.
	do("reload", ff.Reload())
	do("still signed in", ff.WaitJS(`!`+visible(`#login`)+` && `+visible(`#lamps li.self[data-look="dnd"]`)+
		` && [...document.querySelectorAll("#lamps li")].map((l) => l.dataset.ext).join() === "1004,1003"`, 5*time.Second))
	row = `#lamps li[data-ext="1003"]`

	// A phone-sized screen: the page fits its width.
	do("narrow the viewport", ff.SetViewport(420, 800))
	var w []int
	do("measure", ff.Eval(`[window.innerWidth, document.documentElement.scrollWidth]`, &w))
	if len(w) != 2 || w[0] != 420 || w[1] > w[0] {
		t.Errorf("at 420 px wide the page is [viewport, content] = %v px wide", w)
	}
	do("rows at 420 px", ff.WaitJS(visible(row), time.Second))
}
