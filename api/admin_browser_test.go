package api_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/blfgw/blfgw/api"
	bt "github.com/blfgw/blfgw/internal/browsertest"
	"github.com/blfgw/blfgw/presence"
)

// pageProblems collects what the page's scripts throw and what the
// Content-Security-Policy blocks, until the test ends.
func pageProblems(t *testing.T, ctx context.Context) func() []string {
	t.Helper()
	cctx, cancel := context.WithCancel(ctx)
	msgs := chromedp.Console(cctx)
	var (
		mu  sync.Mutex
		got []string
		wg  sync.WaitGroup
	)
	wg.Go(func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleException || strings.Contains(m.Text, "Content Security Policy") {
				mu.Lock()
				got = append(got, fmt.Sprintf("%s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line))
				mu.Unlock()
			}
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

// TestAdminBrowser: Alice, an admin, opens the Admin tab on a phone-sized
// screen and sees where the directory comes from, every extension, each
// user's settings including a hidden one's, a failing Teams bridge with its
// reason and that it is optional; she filters the audit log by subject
// with the keyboard and sees only that change, pages to older entries,
// and sees the gateway's refusal of a bad filter in its words. Bob, not an
// admin, never sees the tab, and the API refuses him the settings.
func TestAdminBrowser(t *testing.T) {
	var teamsDown atomic.Bool
	teamsDown.Store(true)
	conf := filepath.Join(t.TempDir(), "etc", "blfgw.toml")
	e := newEnv(t, func(o *api.Options) {
		o.EventsPing = time.Hour
		o.ConfigPath = conf
		o.Checks = []api.Check{
			{Name: "store", Run: func(context.Context) error { return nil }},
			{Name: "teams", Soft: true, Run: func(context.Context) error {
				if teamsDown.Load() {
					return errors.New("graph: 401 Unauthorized: the client secret has expired")
				}
				return nil
			}},
			{Name: "genesys", Soft: true, Run: func(context.Context) error { return nil }},
		}
		o.Stats = func() map[string]any { return map[string]any{"teams_users": 1200, "teams_subscriptions": 2} }
	})
	ctx := bt.Start(t) // 420 px wide
	problems := pageProblems(t, ctx)
	text := func(sel string) string { t.Helper(); return textOf(t, ctx, sel) }
	eval := func(js string) []string {
		t.Helper()
		v, err := bt.Get(ctx, 2*time.Second, chromedp.Evaluate[[]string](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return v
	}
	signIn := func(n string) {
		t.Helper()
		err := bt.Within(ctx, 10*time.Second,
			chromedp.Navigate(e.base+"/"),
			chromedp.WaitVisible(chromedp.CSS(`#number`)),
			chromedp.SendKeys(chromedp.CSS(`#number`), n),
			chromedp.SendKeys(chromedp.CSS(`#password`), e.pw[n]),
			chromedp.Click(chromedp.CSS(`#login button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#tab-mine`)),
			chromedp.WaitNotVisible(chromedp.CSS(`#login`)),
		)
		if err != nil {
			t.Fatalf("%s signs in: %v", n, err)
		}
	}

	signIn("1001")
	opened := time.Now()
	err := bt.Within(ctx, 10*time.Second,
		chromedp.WaitVisible(chromedp.CSS(`#tab-admin`)),
		chromedp.Click(chromedp.CSS(`#tab-admin`)),
		chromedp.WaitVisible(chromedp.CSS(`#admin h2`)),
		chromedp.WaitVisible(chromedp.CSS(`#adm-ext-table tr[data-ext="1006"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#adm-settings-table tr[data-ext="1005"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#adm-checks tr[data-check="teams"][data-status="failing"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#adm-dept-table tr[data-dept="Sales"]`)),
	)
	if err != nil {
		html, _ := bt.Get(ctx, time.Second, chromedp.OuterHTML(chromedp.CSS("#admin")))
		t.Fatalf("the admin view: %v\n%s", err, html)
	}
	t.Logf("admin tab to every part loaded: %v", time.Since(opened).Round(time.Millisecond))

	// Where the directory comes from, and that it is changed there.
	note := text(`#adm-config-note`)
	for _, want := range []string{"configuration file " + conf, "reloads the file when it changes (or on SIGHUP)", "cannot be edited here"} {
		if !strings.Contains(note, want) {
			t.Errorf("the note %q does not say %q", note, want)
		}
	}
	if got := eval(`[...document.querySelectorAll("#adm-ext-table tbody tr")].map((r) => r.dataset.ext)`); !slices.Equal(got, []string{"1001", "1002", "1003", "1004", "1005", "1006"}) {
		t.Errorf("extensions shown: %v", got)
	}
	if got := text(`#adm-ext-table tr[data-ext="1003"]`); !strings.Contains(got, "Carol Cooper") || !strings.Contains(got, "Sales") || !strings.Contains(got, "Supervisor") {
		t.Errorf("Carol's row: %q", got)
	}
	if got := eval(`[...document.querySelectorAll("#adm-dept-table tbody tr")].map((r) => r.textContent)`); !slices.Equal(got, []string{"Reception1", "Sales2", "Support2", "(no department)1"}) {
		t.Errorf("departments shown: %q", got)
	}

	// Each user's settings, in words; Eve hides her presence, the admin
	// still sees it.
	bob := text(`#adm-settings-table tr[data-ext="1002"]`)
	for _, want := range []string{"Bob Baker (1002)", "On", "Colleagues: Dave Dyer (1004)", "Carol Cooper (1003)", "Follows the phone"} {
		if !strings.Contains(bob, want) {
			t.Errorf("Bob's settings row %q does not say %q", bob, want)
		}
	}
	if eve := text(`#adm-settings-table tr[data-ext="1005"]`); !strings.Contains(eve, "Off") || !strings.Contains(eve, "Nobody while sharing is off") {
		t.Errorf("Eve's settings row: %q", eve)
	}
	if dave := text(`#adm-settings-table tr[data-ext="1004"]`); !strings.Contains(dave, "Sharing") {
		t.Errorf("Dave's row does not show his locked field: %q", dave)
	}

	// The failing bridge: its reason, in words, and that it is optional.
	teams := text(`#adm-checks tr[data-check="teams"]`)
	for _, want := range []string{"Microsoft Teams bridge", "Failing", "the client secret has expired", "Optional: the gateway works without it"} {
		if !strings.Contains(teams, want) {
			t.Errorf("the Teams row %q does not say %q", teams, want)
		}
	}
	if f := text(`#adm-figures tr[data-figure="teams_users"]`); !strings.Contains(f, "Teams users") || !strings.Contains(f, "1,200") {
		t.Errorf("the Teams users counter reads %q", f)
	}
	if store := text(`#adm-checks tr[data-check="store"]`); !strings.Contains(store, "Working") || !strings.Contains(store, "Required") {
		t.Errorf("the store row: %q", store)
	}
	if facts := text(`#adm-facts`); !strings.Contains(facts, "test") || !strings.Contains(facts, conf) {
		t.Errorf("facts: %q", facts)
	}

	// A phone-sized screen: the tables scroll inside their frames, the
	// page does not.
	wide, err := bt.Get(ctx, time.Second, chromedp.Evaluate[bool](`window.innerWidth !== 420 || document.documentElement.scrollWidth > window.innerWidth`))
	if err != nil || wide {
		w, _ := bt.Get(ctx, time.Second, chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, window.innerWidth]`))
		t.Errorf("the page (scroll width, screen width) = %v, want it within 420 px: %v", w, err)
	}

	// Changes made through the API; the filter by subject, submitted
	// with the Enter key, shows only the one to Carol.
	for i := range 52 {
		if r := e.patch("/api/v1/me", e.basic("1002"), fmt.Sprintf(`{"status_message":"note %d"}`, i)); r.code != 200 {
			t.Fatalf("bob's change = %d %s", r.code, r.raw)
		}
	}
	if r := e.patch("/api/v1/extensions/1003/settings", e.basic("1001"), `{"status":"away"}`); r.code != 200 {
		t.Fatalf("alice changes carol = %d %s", r.code, r.raw)
	}
	err = bt.Within(ctx, 5*time.Second,
		chromedp.Focus(chromedp.CSS(`#adm-subject`)),
		chromedp.SendKeys(chromedp.CSS(`#adm-subject`), "1003"+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`#adm-audit-table tr[data-subject="1003"]`)),
	)
	if err != nil {
		t.Fatalf("filter the audit log by subject: %v", err)
	}
	if got := eval(`[...document.querySelectorAll("#adm-audit-table tbody tr")].map((r) => r.dataset.subject + " " + r.dataset.field)`); !slices.Equal(got, []string{"1003 status"}) {
		t.Errorf("audit filtered by 1003 shows %v", got)
	}
	if row := text(`#adm-audit-table tr[data-subject="1003"]`); !strings.Contains(row, "Follows the phone") || !strings.Contains(row, "Appears away") || !strings.Contains(row, "Alice Admin (1001)") {
		t.Errorf("Carol's audit row: %q", row)
	}
	if hidden, err := bt.Get(ctx, time.Second, chromedp.Evaluate[bool](`document.getElementById("adm-audit-more").hidden`)); err != nil || !hidden {
		t.Errorf("Older entries offered for a single entry (%v)", err)
	}
	bt.Screenshot(t, ctx, "admin.png")

	// Bob's 52 changes: a page of 50, then the older ones.
	err = bt.Within(ctx, 5*time.Second,
		chromedp.SetValue(chromedp.CSS(`#adm-subject`), "1002"),
		chromedp.Click(chromedp.CSS(`#adm-audit-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#adm-audit-more`)),
	)
	if err != nil {
		t.Fatalf("Bob's changes: %v", err)
	}
	count := func() int {
		t.Helper()
		return len(eval(`[...document.querySelectorAll("#adm-audit-table tbody tr[data-subject='1002']")].map((r) => r.dataset.id)`))
	}
	if n := count(); n != 50 {
		t.Errorf("first page: %d rows", n)
	}
	if err := bt.Within(ctx, 5*time.Second, chromedp.Click(chromedp.CSS(`#adm-audit-more`)), chromedp.WaitNotVisible(chromedp.CSS(`#adm-audit-more`))); err != nil {
		t.Fatalf("older entries: %v", err)
	}
	if n := count(); n != 52 {
		t.Errorf("after Older entries: %d rows", n)
	}
	if ids := eval(`[...document.querySelectorAll("#adm-audit-table tbody tr")].map((r) => r.dataset.id)`); !slices.IsSortedFunc(ids, func(a, b string) int { return compareNumbers(b, a) }) {
		t.Errorf("not newest first: %v", ids)
	}

	// A filter the gateway refuses is shown in its words. The page offers
	// only valid fields, so a stale option stands in for a mistake.
	err = bt.Within(ctx, 5*time.Second,
		chromedp.Evaluate[chromedp.Void](`document.getElementById("adm-field").add(new Option("colour", "colour"))`),
		chromedp.SetValue(chromedp.CSS(`#adm-field`), "colour"),
		chromedp.Click(chromedp.CSS(`#adm-audit-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#adm-audit-msg[data-kind="error"]`)),
	)
	if err != nil {
		t.Fatalf("a refused filter: %v", err)
	}
	if msg := text(`#adm-audit-msg`); !strings.Contains(msg, `unknown field "colour"`) {
		t.Errorf("the refusal is shown as %q", msg)
	}
	// And one the page catches itself: From after Until.
	err = bt.Within(ctx, 5*time.Second,
		chromedp.SetValue(chromedp.CSS(`#adm-field`), ""),
		chromedp.SetValue(chromedp.CSS(`#adm-since`), "2026-03-02T10:00"),
		chromedp.SetValue(chromedp.CSS(`#adm-until`), "2026-03-01T10:00"),
		chromedp.Click(chromedp.CSS(`#adm-audit-form button[type="submit"]`)),
	)
	if err == nil {
		_, err = bt.Get(ctx, 5*time.Second, chromedp.Poll[bool](`document.getElementById("adm-audit-msg").textContent.includes("before")`))
	}
	if err != nil {
		t.Fatalf("From after Until: %v (%q)", err, text(`#adm-audit-msg`))
	}

	// The bridge recovers; Refresh says so.
	teamsDown.Store(false)
	if err := bt.Within(ctx, 5*time.Second,
		chromedp.Click(chromedp.CSS(`#adm-health-refresh`)),
		chromedp.WaitVisible(chromedp.CSS(`#adm-checks tr[data-check="teams"][data-status="ok"]`)),
	); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if msg := text(`#adm-health-msg`); msg != "Every check passes." {
		t.Errorf("health after refresh: %q", msg)
	}

	// Signing out empties the view; Bob, a user, never sees the tab, and
	// the API refuses him everyone's settings.
	if err := bt.Within(ctx, 5*time.Second, chromedp.Click(chromedp.CSS(`#logout`)), chromedp.WaitVisible(chromedp.CSS(`#login`))); err != nil {
		t.Fatalf("sign out: %v", err)
	}
	if n, err := bt.Get(ctx, time.Second, chromedp.Evaluate[int](`document.getElementById("admin").childElementCount`)); err != nil || n != 0 {
		t.Errorf("after sign-out the admin view holds %d elements (%v)", n, err)
	}
	signIn("1002")
	state, err := bt.Get(ctx, 5*time.Second, chromedp.Evaluate[[]any](
		`fetch("/api/v1/settings").then((r) => [document.getElementById("tab-admin").hidden, document.getElementById("admin").childElementCount, r.status])`,
		chromedp.EvalAwaitPromise))
	if err != nil || len(state) != 3 || state[0] != true || state[1] != float64(0) || state[2] != float64(403) {
		t.Errorf("Bob's page: tab-admin hidden, admin view children, GET /api/v1/settings = %v (%v)", state, err)
	}
	wantErr(t, "bob's settings list", e.get("/api/v1/settings", e.basic("1002")), 403, "forbidden", "", "only administrators")

	if p := problems(); len(p) > 0 {
		t.Errorf("the page reported problems:\n%s", strings.Join(p, "\n"))
	}
}

// compareNumbers orders decimal ids as numbers.
func compareNumbers(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

// TestAdminEditBrowser: Alice, an admin, on a phone-sized screen, changes
// other users' settings from the Admin tab. With the keyboard alone she
// opens Bob's editor, sets Do Not Disturb with a message and saves: only
// those two fields are sent, the gateway audits her as the actor, the row
// and the audit list show it, and the focus is back on Bob's Edit button.
// Delegates for Eve, who does not share, are refused in the gateway's
// words and the editor stays open; Escape closes it. Dave's sharing,
// locked by the configuration file, is shown disabled with a note.
func TestAdminEditBrowser(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.EventsPing = time.Hour })
	ctx := bt.Start(t) // 420 px wide
	problems := pageProblems(t, ctx)
	run := func(what string, d time.Duration, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := bt.Within(ctx, d, steps...); err != nil {
			html, _ := bt.Get(ctx, time.Second, chromedp.OuterHTML(chromedp.CSS("#adm-users")))
			t.Fatalf("%s: %v\n%s", what, err, html)
		}
	}
	eval := func(js string) any {
		t.Helper()
		v, err := bt.Get(ctx, 2*time.Second, chromedp.Evaluate[any](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return v
	}
	text := func(sel string) string { t.Helper(); return textOf(t, ctx, sel) }
	edit := func(n string) string { return `#adm-settings-table button.adm-edit[data-ext="` + n + `"]` }
	const editorOpen = `document.getElementById("adm-editor").open`
	focusOn := func(sel string) string {
		return `document.activeElement === document.querySelector(` + strconv.Quote(sel) + `)`
	}

	run("Alice signs in and opens the Admin tab", 10*time.Second,
		chromedp.Navigate(e.base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#number`)),
		chromedp.SendKeys(chromedp.CSS(`#number`), "1001"),
		chromedp.SendKeys(chromedp.CSS(`#password`), e.pw["1001"]),
		chromedp.Click(chromedp.CSS(`#login button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#tab-admin`)),
		chromedp.Click(chromedp.CSS(`#tab-admin`)),
		chromedp.WaitVisible(chromedp.CSS(edit("1005"))),
	)
	// Every Edit button says whose settings it opens.
	if got := eval(`[...document.querySelectorAll("#adm-settings-table button.adm-edit")].map((b) => b.getAttribute("aria-label") + "|" + b.textContent)`); fmt.Sprint(got) != "[Edit settings of Alice Admin|Edit Edit settings of Bob Baker|Edit Edit settings of Carol Cooper|Edit Edit settings of Dave Dyer|Edit Edit settings of Eve Evans|Edit Edit settings of Frank Fisher|Edit]" {
		t.Errorf("Edit buttons: %v", got)
	}
	// What the page sends, seen from inside it.
	eval(`window.sent = []; const f = window.fetch; window.fetch = (u, o) => {
		if (o && o.method && o.method !== "GET") window.sent.push([o.method, String(u), o.headers["Content-Type"], o.headers["X-CSRF-Token"] ? "token" : "none", o.body]);
		return f(u, o);
	}; true`)

	// Bob, with the keyboard: Enter on his Edit button, the status by
	// typing, Tab to the message, Enter saves.
	run("Bob's editor opens with Enter", 5*time.Second,
		chromedp.Focus(chromedp.CSS(edit("1002"))),
		chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(chromedp.CSS(`#adm-ed-status`)),
		bt.Until(`document.getElementById("adm-editor").contains(document.activeElement)`),
	)
	if title := text(`#adm-ed-title`); title != "Settings of Bob Baker (1002)" {
		t.Errorf("editor title %q", title)
	}
	if got := eval(`[...document.querySelectorAll("#adm-editor input, #adm-editor select")].filter((el) => el.labels.length === 0).map((el) => el.id || el.name)`); fmt.Sprint(got) != "[]" {
		t.Errorf("inputs without a label: %v", got)
	}
	// What the editor starts from: Bob's settings as they are.
	if got := eval(`["adm-ed-status", "adm-ed-message", "adm-ed-exts", "adm-ed-delegates", "adm-ed-appearance"].map((id) => document.getElementById(id).value).concat(
		[...document.querySelectorAll("#adm-editor input[type=checkbox]:checked")].map((b) => b.name + "=" + b.value))`); fmt.Sprint(got) != "[default  1004 1003  share_presence=on]" {
		t.Errorf("Bob's editor starts from %v", got)
	}
	if got := eval(`[...document.querySelectorAll("#adm-ed-depts input")].map((b) => b.value)`); fmt.Sprint(got) != "[Reception Sales Support]" {
		t.Errorf("departments offered: %v", got)
	}
	if fits := eval(`(() => {
		const d = document.getElementById("adm-editor"), r = d.getBoundingClientRect();
		return r.left >= 0 && r.right <= window.innerWidth && d.scrollWidth <= d.clientWidth && document.documentElement.scrollWidth <= window.innerWidth;
	})()`); fits != true {
		t.Errorf("the editor does not fit a 420 px screen")
	}
	run("status and message with the keyboard", 5*time.Second,
		chromedp.Focus(chromedp.CSS(`#adm-ed-status`)),
		chromedp.KeyEvent("Do"),
		chromedp.KeyEvent("\t"),
		bt.Until(focusOn(`#adm-ed-message`)),
		chromedp.KeyEvent("In a meeting until 3\r"),
		bt.Until(`document.getElementById("adm-edit-msg").textContent === "Saved Bob Baker's settings."`),
		bt.Until(`!`+editorOpen),
		bt.Until(`document.querySelector('#adm-settings-table tr[data-ext="1002"]').textContent.includes("Do not disturb")`),
		bt.Until(focusOn(edit("1002"))),
	)
	waitFor(t, "Bob's DND set by Alice", func() bool {
		s := e.hub.Current("1002")
		return s.Status == presence.StatusDND && s.Message == "In a meeting until 3"
	})
	if got := eval(`window.sent`); fmt.Sprint(got) != `[[PATCH /api/v1/extensions/1002/settings application/json token {"status":"dnd","status_message":"In a meeting until 3"}]]` {
		t.Errorf("the page sent %v", got)
	}
	if row := text(`#adm-settings-table tr[data-ext="1002"]`); !strings.Contains(row, "“In a meeting until 3”") {
		t.Errorf("Bob's row after the save: %q", row)
	}
	// The gateway audited Alice as the one who changed it; the page's
	// audit list, refreshed, shows it.
	r := e.get("/api/v1/audit?subject=1002", e.basic("1001"))
	entries, _ := r.body["entries"].([]any)
	var fields []string
	for _, x := range entries {
		en, _ := x.(map[string]any)
		if en["actor"] == "1001" && en["origin"] == "api" {
			fields = append(fields, fmt.Sprint(en["field"], "=", en["new"]))
		}
	}
	slices.Sort(fields)
	if r.code != 200 || !slices.Equal(fields, []string{"status=dnd", "status_message=In a meeting until 3"}) {
		t.Errorf("audit of 1002 by 1001: %v (%d %s)", fields, r.code, r.raw)
	}
	run("the audit list shows the change", 5*time.Second,
		chromedp.WaitVisible(chromedp.CSS(`#adm-audit-table tr[data-subject="1002"][data-field="status"]`)))
	if row := text(`#adm-audit-table tr[data-subject="1002"][data-field="status"]`); !strings.Contains(row, "Do not disturb") || !strings.Contains(row, "Alice Admin (1001)") {
		t.Errorf("the audit row: %q", row)
	}

	// Eve does not share: delegates are refused, in the gateway's words,
	// and nothing closes.
	run("Eve's delegates", 5*time.Second,
		chromedp.Click(chromedp.CSS(edit("1005"))),
		chromedp.WaitVisible(chromedp.CSS(`#adm-ed-delegates`)),
		chromedp.SetValue(chromedp.CSS(`#adm-ed-delegates`), "1003"),
		chromedp.Click(chromedp.CSS(`#adm-ed-save`)),
		chromedp.WaitVisible(chromedp.CSS(`#adm-ed-error[data-kind="error"]`)),
	)
	if msg := text(`#adm-ed-error`); !strings.Contains(msg, "while presence sharing is on") {
		t.Errorf("the refusal is shown as %q", msg)
	}
	if got := eval(`[document.getElementById("adm-ed-error").getAttribute("role"), document.getElementById("adm-ed-delegates").getAttribute("aria-invalid"), ` + editorOpen + `]`); fmt.Sprint(got) != "[alert true true]" {
		t.Errorf("after the refusal (role, aria-invalid, open) = %v", got)
	}
	if u, _, _ := e.set.Get("1005"); len(u.Delegates) != 0 {
		t.Errorf("Eve's delegates changed despite the refusal: %v", u.Delegates)
	}
	bt.Screenshot(t, ctx, "admin-edit.png")
	run("Escape closes the editor, the focus goes back", 5*time.Second,
		chromedp.KeyEvent(kb.Escape),
		bt.Until(`!`+editorOpen),
		bt.Until(focusOn(edit("1005"))),
	)

	// Dave's sharing is locked by the file: disabled, with a note; Save
	// with nothing changed sends nothing.
	run("Dave's editor", 5*time.Second,
		chromedp.Click(chromedp.CSS(edit("1004"))),
		chromedp.WaitVisible(chromedp.CSS(`#adm-ed-share-locked`)),
	)
	if got := eval(`["adm-ed-share", "adm-ed-status", "adm-ed-delegates"].map((id) => document.getElementById(id).disabled)`); fmt.Sprint(got) != "[true false false]" {
		t.Errorf("disabled (sharing, status, delegates) = %v", got)
	}
	if note := text(`#adm-ed-share-locked`); !strings.Contains(note, "set in the configuration file") {
		t.Errorf("the locked note: %q", note)
	}
	if d := eval(`document.getElementById("adm-ed-share").getAttribute("aria-describedby")`); d != "adm-ed-share-locked" {
		t.Errorf("the locked checkbox is described by %v", d)
	}
	if n := eval(`document.querySelectorAll("#adm-editor .adm-locked").length`); n != float64(1) {
		t.Errorf("%v locked notes for Dave, want 1", n)
	}
	run("Save with nothing changed, then Cancel", 5*time.Second,
		chromedp.Click(chromedp.CSS(`#adm-ed-save`)),
		bt.Until(`document.getElementById("adm-ed-error").textContent.startsWith("Nothing to save")`),
		chromedp.Click(chromedp.CSS(`#adm-ed-cancel`)),
		bt.Until(`!`+editorOpen),
		bt.Until(focusOn(edit("1004"))),
	)
	if n := eval(`window.sent.length`); n != float64(2) {
		t.Errorf("%v requests sent, want Bob's and Eve's: %v", n, eval(`window.sent`))
	}

	if wide := eval(`document.documentElement.scrollWidth > window.innerWidth`); wide != false {
		t.Errorf("the page is wider than the screen")
	}
	if p := problems(); len(p) > 0 {
		t.Errorf("the page reported problems:\n%s", strings.Join(p, "\n"))
	}
}
