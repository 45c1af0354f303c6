// The HUD: sign in with the extension's password (a session cookie, the
// CSRF token kept in memory), then follow the colleagues' lamps over
// Server-Sent Events. The server decides what each colleague shows (the
// same rules as the SIP lamps); this page only draws it.
"use strict";

const $ = (id) => document.getElementById(id);
let csrf = "";
let events = null;
let self = "";

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

// look turns a presence body (GET /api/v1/extensions/{n}/presence) into
// what the row shows.
function look(p) {
  const cloud = (p.cloud || []).find((c) => c.state === "busy") || (p.cloud || [])[0];
  let key = p.lamp;
  let label = looks[p.lamp] ? looks[p.lamp].label : p.lamp;
  const calls = p.dialogs || [];
  if (p.lamp === "busy" && calls.length === 0) {
    if (p.status === "dnd") {
      key = "dnd";
      label = looks.dnd.label;
    } else if (cloud && cloud.state === "busy") {
      label = cloud.note || "Busy";
    }
  } else if (p.lamp === "idle") {
    if (p.status === "away" || (cloud && cloud.state === "away" && p.status !== "available")) {
      key = "away";
      label = p.status === "away" ? looks.away.label : cloud.note || looks.away.label;
    }
  }
  if (p.lamp === "ringing") {
    const ring = calls.find((d) => d.state === "early" && d.remote);
    if (ring) {
      label += " – " + (ring.remote.display || ring.remote.identity.replace(/^sips?:/, "").replace(/@.*/, ""));
    }
  }
  return { key, icon: (looks[key] || looks.offline).icon, label };
}

function row(number) {
  let li = document.querySelector(`#lamps li[data-ext="${CSS.escape(number)}"]`);
  if (!li) {
    li = document.createElement("li");
    li.dataset.ext = number;
    li.innerHTML = '<span class="icon" aria-hidden="true"></span><span><span class="name"></span> <span class="number"></span><br><span class="detail"></span></span><span class="state"></span>';
  }
  return li;
}

function showList(list) {
  self = list.self;
  const ul = $("lamps");
  const rows = [list.self, ...list.extensions].map(row);
  ul.replaceChildren(...rows);
  rows[0].classList.add("self");
}

function showPresence(p) {
  const li = row(p.number);
  const l = look(p);
  li.dataset.lamp = p.lamp;
  li.dataset.look = l.key;
  li.querySelector(".icon").textContent = l.icon;
  li.querySelector(".name").textContent = p.number === self ? p.name + " (me)" : p.name;
  li.querySelector(".number").textContent = p.number;
  li.querySelector(".state").textContent = l.label;
  li.querySelector(".detail").textContent = p.message || "";
  li.setAttribute("aria-label", `${p.name}, ${p.number}: ${l.label}${p.message ? ", " + p.message : ""}`);
}

function follow() {
  if (events) events.close();
  events = new EventSource("/api/v1/events");
  events.onopen = () => { $("conn").textContent = "Live"; };
  events.onerror = () => { $("conn").textContent = "Connection lost; reconnecting…"; };
  events.addEventListener("list", (e) => showList(JSON.parse(e.data)));
  events.addEventListener("presence", (e) => showPresence(JSON.parse(e.data)));
}

function signedIn(s) {
  csrf = s.csrf_token;
  $("who").textContent = `${s.name} (${s.number})`;
  $("login").hidden = true;
  $("logout").hidden = false;
  $("hud").hidden = false;
  $("mine").hidden = false;
  loadMine();
  follow();
  if (s.role === "admin") window.blfgwAdmin.show(csrf);
}

// My settings: what GET /api/v1/me says, changed with PATCH; the
// gateway's refusal (a locked field, delegates while sharing is off) is
// shown as it words it.
function showMine(me) {
  $("status").value = me.status;
  $("message").value = me.status_message;
  $("share").checked = me.share_presence;
  $("delegates").value = me.delegates.join(", ");
  for (const [id, field] of [["status", "status"], ["message", "status_message"], ["share", "share_presence"], ["delegates", "delegates"]]) {
    $(id).disabled = me.locked.includes(field);
  }
}

async function loadMine() {
  const res = await fetch("/api/v1/me");
  if (res.ok) showMine(await res.json());
}

async function patchMine(body, done) {
  const res = await fetch("/api/v1/me", {
    method: "PATCH",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify(body),
  });
  const out = await res.json().catch(() => ({}));
  if (!res.ok) {
    $("mine-msg").textContent = (out.error && out.error.message) || `Not saved (${res.status})`;
    $("mine-msg").dataset.kind = "error";
    loadMine();
    return;
  }
  showMine(out);
  $("mine-msg").textContent = done;
  $("mine-msg").dataset.kind = "ok";
}

$("status-form").addEventListener("submit", (e) => {
  e.preventDefault();
  patchMine({ status: $("status").value, status_message: $("message").value }, "Status saved.");
});

$("share").addEventListener("change", () => {
  patchMine({ share_presence: $("share").checked }, $("share").checked ? "Your presence is shared." : "Your presence is hidden.");
});

$("delegates-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const list = $("delegates").value.split(/[\s,;]+/).filter(Boolean);
  patchMine({ delegates: list }, "Saved.");
});

function signedOut(msg) {
  if (events) events.close();
  events = null;
  csrf = "";
  $("who").textContent = "";
  $("logout").hidden = true;
  $("hud").hidden = true;
  $("mine").hidden = true;
  $("mine-msg").textContent = "";
  $("lamps").replaceChildren();
  window.blfgwAdmin.hide();
  $("login").hidden = false;
  $("login-error").textContent = msg || "";
  $("number").focus();
}

$("login").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("login-error").textContent = "";
  const res = await fetch("/api/v1/session", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ number: $("number").value.trim(), password: $("password").value }),
  });
  const body = await res.json().catch(() => ({}));
  $("password").value = "";
  if (!res.ok) {
    signedOut((body.error && body.error.message) || `Sign-in failed (${res.status})`);
    return;
  }
  signedIn(body);
});

$("logout").addEventListener("click", async () => {
  await fetch("/api/v1/session", { method: "DELETE", headers: { "X-CSRF-Token": csrf } });
  signedOut("Signed out.");
});

// A reload keeps the session: ask who is signed in.
fetch("/api/v1/session").then(async (res) => {
  if (res.ok) signedIn(await res.json());
  else signedOut();
}, () => signedOut("The gateway cannot be reached."));
