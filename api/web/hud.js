// The HUD: sign in with the extension's password (a session cookie, the
// CSRF token kept in memory), then follow the colleagues' lamps over
// Server-Sent Events. The server decides what each colleague shows (the
// same rules as the SIP lamps); this page only draws it. Every change goes
// through the same JSON API a script would use.
"use strict";

const $ = (id) => document.getElementById(id);
let csrf = "";
let events = null;
let retry = null;
let self = "";
let mine = null; // GET /api/v1/me
let people = new Map(); // number -> {name, department}, as far as known

// What a lamp says, in words and an icon, so colour is never the only
// signal. The icons are plain symbols every desktop font has (no emoji,
// which many kiosk and Linux machines draw as empty boxes).
const looks = {
  idle: { icon: "○", label: "Available" },
  ringing: { icon: "☎", label: "Ringing" },
  outgoing: { icon: "→", label: "Calling" },
  busy: { icon: "●", label: "On the phone" },
  hold: { icon: "‖", label: "On hold" },
  dnd: { icon: "⊘", label: "Do not disturb" },
  away: { icon: "◐", label: "Away" },
  offline: { icon: "✕", label: "Offline" },
};

const sources = { teams: "Teams", genesys: "Genesys" };

// look turns a presence body (GET /api/v1/extensions/{n}/presence) into
// what the row shows.
function look(p) {
  const clouds = p.cloud || [];
  const cloud = clouds.find((c) => c.state === "busy") || clouds.find((c) => c.state === "away") || clouds[0];
  const from = (c) => (sources[c.source] ? ` (${sources[c.source]})` : "");
  let key = p.lamp;
  let label = looks[p.lamp] ? looks[p.lamp].label : p.lamp;
  const calls = p.dialogs || [];
  if (p.lamp === "busy" && calls.length === 0) {
    if (p.status === "dnd") {
      key = "dnd";
      label = looks.dnd.label;
    } else if (cloud && cloud.state === "busy") {
      label = (cloud.note || "Busy") + from(cloud);
    }
  } else if (p.lamp === "idle") {
    if (p.status === "away") {
      key = "away";
      label = looks.away.label;
    } else if (cloud && p.status !== "available" && (cloud.state === "away" || cloud.state === "offline")) {
      key = cloud.state;
      label = (cloud.note || looks[cloud.state].label) + from(cloud);
    }
  }
  if (p.lamp === "ringing") {
    // Only a delegate (or the user themself) is told who is calling.
    const ring = calls.find((d) => d.state === "early" && d.remote);
    if (ring) {
      label += " – " + (ring.remote.display || ring.remote.identity.replace(/^sips?:/, "").replace(/@.*/, ""));
    }
  }
  // The call the lamp shows, for its timer: the held one on hold, the
  // ringing one while ringing, else the one in progress.
  const want = { hold: (d) => d.held, ringing: (d) => d.state === "early", outgoing: (d) => d.state !== "confirmed", busy: (d) => d.state === "confirmed" && !d.held }[p.lamp];
  const call = want && calls.find((d) => want(d) && d.since);
  return { key, icon: (looks[key] || looks.offline).icon, label, since: call ? call.since : "" };
}

// elapsed is how long ago an RFC 3339 time was, as a call timer shows it.
function elapsed(since, now) {
  const s = Math.max(0, Math.floor((now - Date.parse(since)) / 1000));
  const two = (n) => String(n).padStart(2, "0");
  const h = Math.floor(s / 3600);
  const m = Math.floor(s / 60) % 60;
  return h > 0 ? `${h}:${two(m)}:${two(s % 60)}` : `${m}:${two(s % 60)}`;
}

function tick() {
  const now = Date.now();
  for (const t of document.querySelectorAll("#lamps .timer[data-since]")) {
    t.textContent = elapsed(t.dataset.since, now);
  }
}
setInterval(tick, 1000);

function row(number) {
  let li = document.querySelector(`#lamps li[data-ext="${CSS.escape(number)}"]`);
  if (!li) {
    li = document.createElement("li");
    li.dataset.ext = number;
    li.innerHTML = '<span class="icon" aria-hidden="true"></span><span><span class="name"></span> <span class="number"></span><br><span class="detail"></span></span><span class="state"><span class="label"></span> <span class="timer"></span></span>';
    li.querySelector(".number").textContent = number;
    li.querySelector(".name").textContent = nameOf(number);
  }
  return li;
}

function nameOf(n) {
  return (people.get(n) || {}).name || n;
}

function showList(list) {
  self = list.self;
  const ul = $("lamps");
  const rows = [list.self, ...list.extensions].map(row);
  ul.replaceChildren(...rows);
  rows[0].classList.add("self");
}

function showPresence(p) {
  people.set(p.number, { ...(people.get(p.number) || {}), name: p.name });
  const li = row(p.number);
  const l = look(p);
  li.dataset.lamp = p.lamp;
  li.dataset.look = l.key;
  li.querySelector(".icon").textContent = l.icon;
  li.querySelector(".name").textContent = p.number === self ? p.name + " (me)" : p.name;
  li.querySelector(".label").textContent = l.label;
  const timer = li.querySelector(".timer");
  if (l.since) {
    timer.dataset.since = l.since;
    timer.textContent = elapsed(l.since, Date.now());
  } else {
    delete timer.dataset.since;
    timer.textContent = "";
  }
  li.querySelector(".detail").textContent = p.message || "";
  li.setAttribute("aria-label", `${p.name}, ${p.number}: ${l.label}${p.message ? ", " + p.message : ""}`);
}

// follow keeps one event stream open. EventSource reconnects by itself
// after a dropped connection (the server asks for 2 s) and the server then
// sends the whole state again; it gives up only when the server refuses,
// and then the session decides: ended → sign in again, else retry.
function follow() {
  clearTimeout(retry);
  if (events) events.close();
  events = new EventSource("/api/v1/events");
  events.onopen = () => { setConn("live", "Live"); };
  events.onerror = () => {
    setConn("lost", "Connection lost; reconnecting…");
    if (events.readyState !== EventSource.CLOSED) return;
    fetch("/api/v1/session").then((res) => {
      if (res.status === 401) signedOut("Your session has ended; please sign in again.");
      else retry = setTimeout(follow, 3000);
    }, () => { retry = setTimeout(follow, 3000); });
  };
  events.addEventListener("list", (e) => showList(JSON.parse(e.data)));
  events.addEventListener("presence", (e) => showPresence(JSON.parse(e.data)));
}

function setConn(state, text) {
  $("conn").textContent = text;
  $("conn").dataset.state = state;
}

// Tabs, as the WAI-ARIA pattern has them: Tab reaches the selected one,
// arrow keys, Home and End move between them.
function tabs() {
  return [...document.querySelectorAll('#tabs [role="tab"]')].filter((t) => !t.hidden);
}

function selectTab(tab, focus) {
  for (const t of tabs().concat($("tab-admin"))) {
    const on = t === tab;
    t.setAttribute("aria-selected", on ? "true" : "false");
    t.tabIndex = on ? 0 : -1;
    $(t.getAttribute("aria-controls")).hidden = !on;
  }
  if (focus) tab.focus();
  if (tab.id === "tab-dir") search();
}

$("tabs").addEventListener("click", (e) => {
  const t = e.target.closest('[role="tab"]');
  if (t) selectTab(t, false);
});

$("tabs").addEventListener("keydown", (e) => {
  const all = tabs();
  const i = all.indexOf(document.activeElement);
  if (i < 0) return;
  const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: all.length - 1 }[e.key];
  if (to === undefined) return;
  e.preventDefault();
  selectTab(all[(to + all.length) % all.length], true);
});

function signedIn(s) {
  csrf = s.csrf_token;
  self = s.number;
  $("who").textContent = `${s.name} (${s.number})`;
  $("login").hidden = true;
  $("logout").hidden = false;
  $("tabs").hidden = false;
  $("tab-admin").hidden = s.role !== "admin";
  selectTab($("tab-hud"), false);
  loadDirectory();
  loadMine();
  follow();
  if (s.role === "admin") window.blfgwAdmin.show(csrf);
}

// api is blfgw.request with this session's CSRF token; a 401 means the
// session is over, wherever it comes from.
async function api(method, path, body) {
  const r = await blfgw.request(method, path, body, csrf);
  if (r.status === 401) signedOut("Your session has ended; please sign in again.");
  return r;
}

const problem = blfgw.problem;

function say(id, text, kind) {
  $(id).textContent = text;
  $(id).dataset.kind = kind;
}

// My settings: what GET /api/v1/me says, changed with PATCH; the
// gateway's refusal (a locked field, delegates while sharing is off) is
// shown as it words it.

function checkboxes(fieldset, name, items, chosen) {
  const legend = fieldset.querySelector("legend");
  fieldset.replaceChildren(legend, ...items.map(([value, text]) => {
    const label = document.createElement("label");
    label.className = "check";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.name = name;
    box.value = value;
    box.checked = chosen.includes(value);
    label.append(box, " " + text);
    return label;
  }));
}

function checked(fieldset) {
  return [...fieldset.querySelectorAll("input:checked")].map((b) => b.value);
}

function showMine(me) {
  mine = me;
  $("status").value = me.status;
  $("message").value = me.status_message;
  $("share").checked = me.share_presence;
  const sw = me.share_with;
  $("sw-everyone").checked = sw.everyone;
  checkboxes($("sw-roles"), "role", blfgw.roles, sw.roles);
  checkboxes($("sw-depts"), "department", departments.map((d) => [d, d]), sw.departments);
  $("sw-exts").value = sw.extensions.join(", ");
  $("delegates").value = me.delegates.join(", ");
  $("delegates-note").textContent = me.delegates.length > 0 && !me.delegates_active
    ? "Suspended while your presence is not shared: they cannot answer your calls until you share it again."
    : "";
  const locked = (f) => me.locked.includes(f);
  for (const [id, field] of [["status", "status"], ["message", "status_message"], ["share", "share_presence"], ["delegates", "delegates"]]) {
    $(id).disabled = locked(field);
  }
  for (const el of $("share-form").elements) el.disabled = locked("share_with");
  $("share-form").title = locked("share_with") ? "Your administrator set this; it cannot be changed here." : "";
  showMyList();
}

async function loadMine() {
  const r = await api("GET", "/api/v1/me");
  if (r.ok) showMine(r.body);
}

async function patchMine(body, done, msgID = "mine-msg") {
  const r = await api("PATCH", "/api/v1/me", body);
  if (!r.ok) {
    say(msgID, problem(r, "Saving"), "error");
    loadMine();
    return false;
  }
  showMine(r.body);
  say(msgID, done, "ok");
  return true;
}

const list = (s) => s.split(/[\s,;]+/).filter(Boolean);

$("status-form").addEventListener("submit", (e) => {
  e.preventDefault();
  patchMine({ status: $("status").value, status_message: $("message").value }, "Status saved.");
});

$("share").addEventListener("change", () => {
  patchMine({ share_presence: $("share").checked }, $("share").checked ? "Your presence is shared." : "Your presence is hidden.");
});

$("share-form").addEventListener("submit", (e) => {
  e.preventDefault();
  patchMine({
    share_with: {
      everyone: $("sw-everyone").checked,
      roles: checked($("sw-roles")),
      departments: checked($("sw-depts")),
      extensions: list($("sw-exts").value),
    },
  }, "Sharing saved.");
});

$("delegates-form").addEventListener("submit", (e) => {
  e.preventDefault();
  patchMine({ delegates: list($("delegates").value) }, "Saved.");
});

// The directory: search and filter, select, add to the appearance list;
// the list itself in key order, moved and removed one colleague at a time.
let departments = [];
let results = [];
let searching = 0;

async function loadDirectory() {
  const r = await api("GET", "/api/v1/departments");
  if (!r.ok) return;
  departments = r.body.departments;
  const keep = $("dept").value;
  $("dept").replaceChildren(new Option("All departments", ""), ...departments.map((d) => new Option(d, d)));
  $("dept").value = keep;
  if (mine) showMine(mine);
}

async function search() {
  const n = ++searching;
  const q = new URLSearchParams();
  if ($("q").value.trim()) q.set("q", $("q").value.trim());
  if ($("dept").value) q.set("department", $("dept").value);
  const r = await api("GET", "/api/v1/extensions?" + q);
  if (n !== searching) return; // a later search is on its way
  if (!r.ok) {
    say("dir-count", problem(r, "Searching"), "error");
    return;
  }
  results = r.body.extensions.filter((p) => p.number !== self);
  for (const p of r.body.extensions) people.set(p.number, p);
  say("dir-count", results.length === 1 ? "1 colleague" : `${results.length} colleagues`, "ok");
  $("dir-all").checked = false;
  $("dir-results").replaceChildren(...results.map((p) => {
    const li = document.createElement("li");
    li.dataset.ext = p.number;
    const label = document.createElement("label");
    label.className = "check";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = p.number;
    label.append(box, ` ${p.name} (${p.number})${p.department ? " · " + p.department : ""}`);
    li.append(label);
    if (appearance().includes(p.number)) {
      const on = document.createElement("span");
      on.className = "on-list";
      on.textContent = "on my list";
      li.append(on);
    }
    return li;
  }));
}

let typing = null;
$("q").addEventListener("input", () => {
  clearTimeout(typing);
  typing = setTimeout(search, 150);
});
$("dept").addEventListener("change", search);
$("dir-search").addEventListener("submit", (e) => {
  e.preventDefault();
  search();
});

$("dir-all").addEventListener("change", () => {
  for (const b of $("dir-results").querySelectorAll("input")) b.checked = $("dir-all").checked;
});

function appearance() {
  return mine ? mine.appearance : [];
}

$("dir-add").addEventListener("click", async () => {
  const picked = [...$("dir-results").querySelectorAll("input:checked")].map((b) => b.value);
  const add = picked.filter((n) => !appearance().includes(n));
  if (picked.length === 0) {
    say("dir-msg", "Select one or more colleagues first.", "error");
    return;
  }
  if (add.length === 0) {
    say("dir-msg", "They are on your list already.", "ok");
    return;
  }
  const names = add.map(nameOf).join(", ");
  if (await patchMine({ appearance: [...appearance(), ...add] }, `Added ${names}.`, "dir-msg")) search();
});

async function setList(next, done, focusSel) {
  if (await patchMine({ appearance: next }, done, "dir-msg")) {
    search();
    if (focusSel) {
      const el = document.querySelector(focusSel);
      if (el) el.focus();
    }
  }
}

function showMyList() {
  const ol = $("my-list");
  const locked = mine.locked.includes("appearance");
  const app = appearance();
  $("list-help").textContent = locked
    ? "Your administrator keeps this list; it cannot be changed here."
    : app.length === 0
      ? "Empty: your page shows everyone who shares their presence with you. Add colleagues from the search above."
      : "Your BLF list, in key order: the same list the API and your administrator manage." +
        (mine.blf_list ? ` A phone that takes a BLF list (its "BLF List URI") follows it: ${mine.blf_list}` : "");
  ol.replaceChildren(...app.map((n, i) => {
    const li = document.createElement("li");
    li.dataset.ext = n;
    const name = document.createElement("span");
    name.textContent = `${nameOf(n)} (${n})`;
    li.append(name);
    if (!locked) {
      const button = (cls, text, label, disabled, next, done) => {
        const b = document.createElement("button");
        b.type = "button";
        b.className = cls;
        b.textContent = text;
        b.setAttribute("aria-label", label);
        b.disabled = disabled;
        b.addEventListener("click", () => setList(next(), done, `#my-list li[data-ext="${CSS.escape(n)}"] .${cls}:not(:disabled)`));
        return b;
      };
      const moved = (j) => () => {
        const next = [...app];
        [next[i], next[j]] = [next[j], next[i]];
        return next;
      };
      li.append(
        button("up", "↑", `Move ${nameOf(n)} up`, i === 0, moved(i - 1), `Moved ${nameOf(n)} up.`),
        button("down", "↓", `Move ${nameOf(n)} down`, i === app.length - 1, moved(i + 1), `Moved ${nameOf(n)} down.`),
        button("remove", "Remove", `Remove ${nameOf(n)} from my list`, false, () => app.filter((x) => x !== n), `Removed ${nameOf(n)}.`),
      );
    }
    return li;
  }));
}

function signedOut(msg) {
  if (events) events.close();
  events = null;
  clearTimeout(retry);
  csrf = "";
  mine = null;
  $("who").textContent = "";
  $("logout").hidden = true;
  $("tabs").hidden = true;
  for (const id of ["hud", "dir", "mine", "admin"]) $(id).hidden = true;
  for (const id of ["mine-msg", "dir-msg", "dir-count"]) $(id).textContent = "";
  $("lamps").replaceChildren();
  $("my-list").replaceChildren();
  $("dir-results").replaceChildren();
  window.blfgwAdmin.hide();
  $("login").hidden = false;
  $("login-error").textContent = msg || "";
  $("number").focus();
}

$("login").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("login-error").textContent = "";
  const r = await api("POST", "/api/v1/session", { number: $("number").value.trim(), password: $("password").value });
  $("password").value = "";
  if (!r.ok) {
    signedOut(problem(r, "Sign-in"));
    return;
  }
  signedIn(r.body);
});

$("logout").addEventListener("click", async () => {
  await api("DELETE", "/api/v1/session");
  signedOut("Signed out.");
});

// A reload keeps the session: ask who is signed in, once every script
// (admin.js too) has run.
document.addEventListener("DOMContentLoaded", () => {
  fetch("/api/v1/session").then(async (res) => {
    if (res.ok) signedIn(await res.json());
    else signedOut();
  }, () => signedOut("The gateway cannot be reached."));
});
