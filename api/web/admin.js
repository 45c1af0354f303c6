// The admin view: the directory as the configuration file has it, every
// user's settings, the audit log and the gateway's health. It only reads:
// the directory is changed in the TOML file, a user's settings through the
// API. hud.js shows and hides the #admin panel (its tabs); this script
// fills it, loads its data each time the panel is opened, and empties it
// on sign-out.
"use strict";

// One scope of our own: hud.js is a classic script too, and a top-level
// name declared twice would stop this one from running at all.
(() => {
  const root = document.getElementById("admin");
  let active = false; // an admin is signed in
  // The session's CSRF token: GETs need none, and this view changes
  // nothing yet; kept for the day it does.
  let csrf = "";
  let gen = 0; // bumped by show and hide: answers for an older view are dropped
  let auditSeq = 0; // the latest audit request; an earlier one's answer is dropped
  let ui = null; // the parts build made
  let names = new Map(); // number -> name, as far as known
  let extensions = null; // GET /api/v1/extensions
  let system = null; // GET /api/v1/system
  let auditQuery = null; // the filters of the shown entries
  let auditNext = null; // next_before of the last page shown

  const fieldWords = {
    share_presence: "Sharing",
    share_with: "Shared with",
    delegates: "Delegates",
    appearance: "BLF keys (appearance)",
    status: "Status",
    status_message: "Status message",
  };
  const roleWords = { user: "User", admin: "Administrator", supervisor: "Supervisor", manager: "Manager", qa: "Quality assurance" };
  const rolesWords = { user: "users", admin: "administrators", supervisor: "supervisors", manager: "managers", qa: "quality assurance" };
  const statusWords = { default: "Follows the phone", available: "Available", dnd: "Do not disturb", away: "Appears away" };
  const checkWords = { store: "Database", teams: "Microsoft Teams bridge", genesys: "Genesys Cloud bridge" };

  // h builds an element: attributes by name (class, data-*, aria-*,
  // scope…; true for a bare boolean attribute, false or null for none),
  // "on…" for listeners, then children as nodes or text.
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === false || v === null || v === undefined) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
    return el;
  }

  // get fetches a JSON answer with the session cookie; it resolves to
  // {ok, status, body} and never rejects, so every part can say what
  // went wrong.
  async function get(path) {
    try {
      const res = await fetch(path, { headers: { Accept: "application/json" } });
      const body = await res.json().catch(() => ({}));
      return { ok: res.ok, status: res.status, body };
    } catch {
      return { ok: false, status: 0, body: {} };
    }
  }

  function problem(r, what) {
    if (r.status === 0) return `${what}: the gateway cannot be reached.`;
    if (r.status === 401) return "Your session has ended; please sign in again.";
    return (r.body.error && r.body.error.message) || `${what} failed (HTTP ${r.status}).`;
  }

  function say(el, text, kind) {
    el.textContent = text;
    el.dataset.kind = kind || "";
  }

  // table is a captioned table inside a wrapper that scrolls sideways on
  // a narrow screen, so the page itself never does. The wrapper can take
  // the focus, so the keyboard can scroll it too.
  function table(id, caption, headers) {
    const body = h("tbody");
    const t = h("table", { id },
      h("caption", { id: id + "-caption" }, caption),
      h("thead", {}, h("tr", {}, headers.map((c) => h("th", { scope: "col" }, c)))),
      body);
    const wrap = h("div", { class: "adm-scroll", role: "region", "aria-labelledby": id + "-caption", tabindex: "0" }, t);
    return { wrap, table: t, body, cols: headers.length };
  }

  function emptyRow(t, text) {
    t.body.replaceChildren(h("tr", { class: "adm-empty" }, h("td", { colspan: t.cols }, text)));
  }

  function part(id, title, ...children) {
    return h("section", { id, class: "adm-part", "aria-labelledby": id + "-title" }, h("h3", { id: id + "-title" }, title), children);
  }

  function who(n) {
    return names.has(n) ? `${names.get(n)} (${n})` : n;
  }

  function listText(list, none) {
    return Array.isArray(list) && list.length > 0 ? list.map(who).join(", ") : none;
  }

  function capital(s) {
    return s.charAt(0).toUpperCase() + s.slice(1);
  }

  // withWhom says a share_with value in words.
  function withWhom(sw) {
    if (!sw || typeof sw !== "object") return JSON.stringify(sw);
    if (sw.everyone) return "Everyone";
    const parts = [];
    if (sw.roles && sw.roles.length) parts.push("roles: " + sw.roles.map((r) => rolesWords[r] || r).join(", "));
    if (sw.departments && sw.departments.length) parts.push("departments: " + sw.departments.join(", "));
    if (sw.extensions && sw.extensions.length) parts.push("colleagues: " + sw.extensions.map(who).join(", "));
    return parts.length ? capital(parts.join("; ")) : "Nobody else (administrators and delegates only)";
  }

  // valueText says an audit entry's old or new value in words.
  function valueText(field, v) {
    if (v === null || v === undefined) return "(not set)";
    switch (field) {
      case "share_presence":
        return v === true ? "On" : v === false ? "Off" : JSON.stringify(v);
      case "share_with":
        return withWhom(v);
      case "delegates":
      case "appearance":
        return Array.isArray(v) ? listText(v, "(none)") : JSON.stringify(v);
      case "status":
        return statusWords[v] || String(v);
      case "status_message":
        return v === "" ? "(none)" : `“${v}”`;
    }
    return JSON.stringify(v);
  }

  function duration(s) {
    const d = Math.floor(s / 86400), hr = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    const unit = (n, w) => `${n} ${w}${n === 1 ? "" : "s"}`;
    const parts = [];
    if (d) parts.push(unit(d, "day"));
    if (hr) parts.push(unit(hr, "hour"));
    if (m && !d) parts.push(unit(m, "minute"));
    return parts.length ? parts.join(", ") : unit(s, "second");
  }

  // rfc3339 turns a datetime-local value, which is the browser's local
  // time, into the UTC time the gateway takes; "" stays "".
  function rfc3339(local) {
    if (!local) return "";
    const d = new Date(local);
    return isNaN(d) ? null : d.toISOString().replace(/\.\d{3}Z$/, "Z");
  }

  function build() {
    const fieldSelect = h("select", { id: "adm-field", name: "field" },
      h("option", { value: "" }, "Any field"),
      Object.entries(fieldWords).map(([f, w]) => h("option", { value: f }, `${w} (${f})`)));
    const originSelect = h("select", { id: "adm-origin", name: "origin" },
      h("option", { value: "" }, "Anywhere"),
      h("option", { value: "api" }, "The web page or the API (api)"),
      h("option", { value: "toml" }, "The configuration file (toml)"));
    const u = {
      configNote: h("p", { id: "adm-config-note", class: "adm-note" }),
      extMsg: h("p", { id: "adm-ext-msg", role: "status" }),
      ext: table("adm-ext-table", "Extensions", ["Number", "Name", "Department", "Role"]),
      depts: table("adm-dept-table", "Departments", ["Department", "Members"]),
      setMsg: h("p", { id: "adm-settings-msg", role: "status" }),
      settings: table("adm-settings-table", "Each user's settings", ["Extension", "Sharing", "Shared with", "Delegates", "BLF keys (appearance)", "Status", "Locked by the file"]),
      auditForm: h("form", { id: "adm-audit-form", "aria-label": "Filter the audit log" },
        h("label", {}, "Whose setting (extension)", h("input", { id: "adm-subject", name: "subject", inputmode: "numeric", autocomplete: "off", placeholder: "e.g. 1002" })),
        h("label", {}, "Changed by (extension or toml)", h("input", { id: "adm-actor", name: "actor", autocomplete: "off", placeholder: "e.g. 1001 or toml" })),
        h("label", {}, "Field", fieldSelect),
        h("label", {}, "Where the change came from", originSelect),
        h("label", {}, "From (your local time)", h("input", { id: "adm-since", name: "since", type: "datetime-local", step: "1" })),
        h("label", {}, "Until, not including (your local time)", h("input", { id: "adm-until", name: "until", type: "datetime-local", step: "1" })),
        h("div", { class: "adm-buttons" },
          h("button", { type: "submit" }, "Show entries"),
          h("button", { type: "reset", id: "adm-audit-clear" }, "Clear filters"))),
      auditMsg: h("p", { id: "adm-audit-msg", role: "status" }),
      audit: table("adm-audit-table", "Changes of settings, newest first", ["Time", "Whose", "Field", "Old value", "New value", "Changed by", "From"]),
      auditMore: h("button", { type: "button", id: "adm-audit-more", hidden: true }, "Older entries"),
      refresh: h("button", { type: "button", id: "adm-health-refresh" }, "Refresh"),
      facts: h("dl", { id: "adm-facts" }),
      healthMsg: h("p", { id: "adm-health-msg", role: "status" }),
      checks: table("adm-checks", "Health checks", ["Part", "State", "Reason", "Needed?"]),
    };
    u.auditForm.addEventListener("submit", (e) => {
      e.preventDefault();
      loadAudit(false);
    });
    u.auditForm.addEventListener("reset", () => {
      // After the form has cleared itself.
      setTimeout(() => loadAudit(false), 0);
    });
    u.auditMore.addEventListener("click", () => loadAudit(true));
    u.refresh.addEventListener("click", () => loadSystem(gen));

    root.replaceChildren(
      h("h2", {}, "Admin"),
      h("nav", { "aria-label": "Admin sections", class: "adm-nav" }, h("ul", {},
        [["adm-dir", "Extensions and departments"], ["adm-users", "Users' settings"], ["adm-audit", "Audit log"], ["adm-health", "Health"]]
          .map(([id, text]) => h("li", {}, h("a", { href: "#" + id }, text))))),
      part("adm-dir", "Extensions and departments", u.configNote, u.extMsg, u.ext.wrap, u.depts.wrap),
      part("adm-users", "Users' settings",
        h("p", {}, "What each user has chosen, including users who do not share their presence. Read-only here; fields locked by the configuration file cannot be changed by the user."),
        u.setMsg, u.settings.wrap),
      part("adm-audit", "Audit log",
        h("p", {}, "Every change of a user's settings: by the user, by an administrator, or by the configuration file."),
        u.auditForm, u.auditMsg, u.audit.wrap, u.auditMore),
      part("adm-health", "Health", h("div", { class: "adm-buttons" }, u.refresh), u.healthMsg, u.facts, u.checks.wrap),
    );
    ui = u;
    showConfigNote();
  }

  function showConfigNote() {
    const path = system && system.config_path;
    ui.configNote.replaceChildren(
      "These come from the configuration file",
      path ? h("span", {}, " ", h("code", {}, path)) : " of the gateway",
      ". Change them there: the gateway reloads the file when it changes (or on SIGHUP); they cannot be edited here.");
  }

  async function loadExtensions(g) {
    const r = await get("/api/v1/extensions");
    if (g !== gen) return;
    if (!r.ok) {
      say(ui.extMsg, problem(r, "Loading the extensions"), "error");
      return;
    }
    extensions = r.body.extensions;
    for (const p of extensions) names.set(p.number, p.name);
    say(ui.extMsg, extensions.length === 1 ? "1 extension." : `${extensions.length} extensions.`, "ok");
    if (extensions.length === 0) emptyRow(ui.ext, "No extensions are configured.");
    else {
      ui.ext.body.replaceChildren(...extensions.map((p) => h("tr", { "data-ext": p.number },
        h("th", { scope: "row" }, p.number),
        h("td", {}, p.name),
        h("td", {}, p.department || "(none)"),
        h("td", {}, roleWords[p.role] || p.role))));
    }
    showDepartments();
  }

  // showDepartments: the configured departments with their sizes, and
  // the extensions in none, once both answers are in.
  function showDepartments() {
    if (!system) return;
    const rows = system.departments.map((d) => h("tr", { "data-dept": d.name },
      h("th", { scope: "row" }, d.name), h("td", {}, String(d.members))));
    const none = extensions ? extensions.filter((p) => !p.department).length : 0;
    if (none > 0) rows.push(h("tr", { "data-dept": "" }, h("th", { scope: "row" }, "(no department)"), h("td", {}, String(none))));
    if (rows.length === 0) emptyRow(ui.depts, "No departments are configured.");
    else ui.depts.body.replaceChildren(...rows);
  }

  async function loadSettings(g) {
    const r = await get("/api/v1/settings");
    if (g !== gen) return;
    if (!r.ok) {
      say(ui.setMsg, problem(r, "Loading the settings"), "error");
      return;
    }
    const all = r.body.settings;
    for (const s of all) names.set(s.number, s.name);
    const hidden = all.filter((s) => !s.share_presence).length;
    say(ui.setMsg, `${all.length} ${all.length === 1 ? "user" : "users"}; ${hidden} not sharing their presence.`, "ok");
    if (all.length === 0) {
      emptyRow(ui.settings, "No users.");
      return;
    }
    ui.settings.body.replaceChildren(...all.map((s) => {
      const delegates = s.delegates.length === 0
        ? "(none)"
        : h("span", {}, listText(s.delegates), s.delegates_active ? null : h("span", { class: "adm-suspended" }, " – suspended while sharing is off"));
      const status = h("span", {}, statusWords[s.status] || s.status);
      if (s.status_message) status.append(h("br"), `“${s.status_message}”`);
      return h("tr", { "data-ext": s.number, "data-share": s.share_presence ? "on" : "off" },
        h("th", { scope: "row" }, `${s.name} (${s.number})`),
        h("td", { class: "adm-share" }, h("span", { "aria-hidden": "true" }, s.share_presence ? "✓ " : "✕ "), s.share_presence ? "On" : "Off"),
        h("td", {}, s.share_presence ? withWhom(s.share_with) : `Nobody while sharing is off (when on: ${withWhom(s.share_with)})`),
        h("td", {}, delegates),
        h("td", {}, listText(s.appearance, "(none: everyone who shares with them)")),
        h("td", {}, status),
        h("td", {}, s.locked.length ? s.locked.map((f) => fieldWords[f] || f).join(", ") : "(none)"));
    }));
  }

  // auditFilters reads the form: the query, or why it cannot be sent.
  function auditFilters() {
    const q = new URLSearchParams();
    for (const id of ["subject", "actor", "field", "origin"]) {
      const v = document.getElementById("adm-" + id).value.trim();
      if (v) q.set(id, v);
    }
    const times = {};
    for (const id of ["since", "until"]) {
      const input = document.getElementById("adm-" + id);
      const v = rfc3339(input.value);
      if (v === null) return { error: `“${input.labels[0].firstChild.textContent}” is not a valid time.`, input };
      if (v) q.set(id, v);
      times[id] = v;
    }
    if (times.since && times.until && times.since >= times.until) {
      return { error: "“From” must be before “Until”.", input: document.getElementById("adm-until") };
    }
    q.set("limit", "50");
    return { q };
  }

  // loadAudit shows the first page of what the form asks for, or with
  // more, the next older page of the entries already shown.
  async function loadAudit(more) {
    const g = gen;
    const seq = ++auditSeq;
    let q;
    if (more) {
      q = new URLSearchParams(auditQuery);
      q.set("before", String(auditNext));
    } else {
      const f = auditFilters();
      if (f.error) {
        say(ui.auditMsg, f.error, "error");
        f.input.focus();
        return;
      }
      q = f.q;
    }
    ui.auditMore.disabled = true;
    const r = await get("/api/v1/audit?" + q);
    if (g !== gen || seq !== auditSeq) return;
    ui.auditMore.disabled = false;
    if (!r.ok) {
      // The gateway's refusal says what is wrong with which filter.
      say(ui.auditMsg, problem(r, "Loading the audit log"), "error");
      const field = r.body.error && r.body.error.field;
      const input = field && document.getElementById("adm-" + field);
      if (input && input.form === ui.auditForm) input.setAttribute("aria-invalid", "true");
      return;
    }
    for (const el of ui.auditForm.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    if (!more) {
      q.delete("before");
      auditQuery = q.toString();
    }
    const rows = r.body.entries.map((e) => {
      const at = new Date(e.at);
      return h("tr", { "data-id": e.id, "data-subject": e.subject, "data-field": e.field },
        h("td", {}, h("time", { datetime: e.at }, at.toLocaleString())),
        h("th", { scope: "row" }, who(e.subject)),
        h("td", {}, fieldWords[e.field] || e.field),
        h("td", {}, valueText(e.field, e.old)),
        h("td", {}, valueText(e.field, e.new)),
        h("td", {}, e.actor === "toml" ? "The configuration file" : who(e.actor)),
        h("td", {}, e.origin === "toml" ? "File" : "Web or API"));
    });
    if (more) {
      ui.audit.body.append(...rows);
    } else if (rows.length === 0) {
      emptyRow(ui.audit, "No changes match these filters.");
    } else {
      ui.audit.body.replaceChildren(...rows);
    }
    auditNext = r.body.next_before;
    const shown = ui.audit.body.querySelectorAll("tr[data-id]").length;
    const moreFocused = document.activeElement === ui.auditMore;
    ui.auditMore.hidden = auditNext === null || auditNext === undefined;
    say(ui.auditMsg, shown === 0 ? "No entries." : `${shown} ${shown === 1 ? "entry" : "entries"}${ui.auditMore.hidden ? "" : "; older ones follow"}.`, "ok");
    // The button is gone after the last page: keep the keyboard user
    // near where they were.
    if (more && moreFocused && ui.auditMore.hidden) ui.audit.wrap.focus();
  }

  async function loadSystem(g) {
    ui.refresh.disabled = true;
    const r = await get("/api/v1/system");
    if (g !== gen) return;
    ui.refresh.disabled = false;
    if (!r.ok) {
      say(ui.healthMsg, problem(r, "Loading the health checks"), "error");
      return;
    }
    system = r.body;
    showConfigNote();
    showDepartments();
    ui.facts.replaceChildren(
      h("dt", {}, "Version"), h("dd", {}, system.version || "(unknown)"),
      h("dt", {}, "Running for"), h("dd", {}, duration(system.uptime_seconds)),
      h("dt", {}, "Configuration file"), h("dd", {}, system.config_path ? h("code", {}, system.config_path) : "(not known to the web server)"),
      h("dt", {}, "Checked at"), h("dd", {}, new Date().toLocaleTimeString()));
    const checks = Object.entries(system.checks)
      .sort(([a, x], [b, y]) => (x.soft === y.soft ? a.localeCompare(b) : x.soft ? 1 : -1));
    const failing = checks.filter(([, c]) => c.status !== "ok");
    say(ui.healthMsg, checks.length === 0
      ? "No health checks are configured."
      : failing.length === 0
        ? "Every check passes."
        : `Failing: ${failing.map(([n]) => checkWords[n] || n).join(", ")}.`,
    failing.some(([, c]) => !c.soft) ? "error" : failing.length ? "warn" : "ok");
    if (checks.length === 0) {
      emptyRow(ui.checks, "No health checks are configured.");
      return;
    }
    ui.checks.body.replaceChildren(...checks.map(([name, c]) => {
      const ok = c.status === "ok";
      const icon = ok ? "✓" : c.soft ? "⚠" : "✕";
      return h("tr", { "data-check": name, "data-status": c.status, "data-soft": c.soft ? "true" : "false" },
        h("th", { scope: "row" }, checkWords[name] ? `${checkWords[name]} (${name})` : name),
        h("td", { class: "adm-state" }, h("span", { class: "adm-icon", "aria-hidden": "true" }, icon + " "), ok ? "Working" : "Failing"),
        h("td", { class: "adm-reason" }, ok ? "–" : c.message),
        h("td", {}, c.soft ? "Optional: the gateway works without it" : "Required: the gateway needs it"));
    }));
  }

  // refresh loads everything the panel shows; the audit log keeps the
  // filters in the form.
  function refresh() {
    const g = gen;
    loadSystem(g);
    loadExtensions(g);
    loadSettings(g);
    loadAudit(false);
  }

  // The panel's data is loaded when hud.js opens the tab, every time, so
  // it is never older than the last look.
  new MutationObserver(() => {
    if (active && !root.hidden) refresh();
  }).observe(root, { attributes: true, attributeFilter: ["hidden"] });

  window.blfgwAdmin = {
    show(token) {
      csrf = token || "";
      active = true;
      gen++;
      names = new Map();
      extensions = system = auditQuery = auditNext = null;
      build();
      if (!root.hidden) refresh();
    },
    hide() {
      active = false;
      csrf = "";
      gen++;
      ui = null;
      names = new Map();
      extensions = system = auditQuery = auditNext = null;
      root.replaceChildren();
    },
  };
})();
