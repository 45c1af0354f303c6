// The admin view: the directory as the configuration file has it, every
// user's settings, the audit log and the gateway's health. The directory
// is changed in the TOML file; a user's settings are changed here, in an
// editor (a modal <dialog>) that sends only what changed with the same
// PATCH a script would use, so the gateway audits the admin as the actor.
// hud.js shows and hides the #admin panel (its tabs); this script fills
// it, loads its data each time the panel is opened, and empties it on
// sign-out.
"use strict";

// One scope of our own: hud.js is a classic script too, and a top-level
// name declared twice would stop this one from running at all.
(() => {
  const root = document.getElementById("admin");
  let active = false; // an admin is signed in
  // The session's CSRF token, from show(): GETs need none, the editor's
  // PATCH does.
  let csrf = "";
  let gen = 0; // bumped by show and hide: answers for an older view are dropped
  let auditSeq = 0; // the latest audit request; an earlier one's answer is dropped
  let ui = null; // the parts build made
  let names = new Map(); // number -> name, as far as known
  let extensions = null; // GET /api/v1/extensions
  let system = null; // GET /api/v1/system
  let auditQuery = null; // the filters of the shown entries
  let auditNext = null; // next_before of the last page shown
  let depts = null; // GET /api/v1/departments: the department names
  let editing = null; // the editor's user: {number, name, s (settings as loaded), locked}
  let opening = false; // an editor's settings are on their way

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
  const statusChoices = [["default", "Follow the phone"], ["available", "Available"], ["dnd", "Do not disturb"], ["away", "Appear away"]];
  const checkWords = { store: "Database", teams: "Microsoft Teams bridge", genesys: "Genesys Cloud bridge" };
  // What the counters most looked at mean; the rest show by name.
  const figureWords = {
    subscriptions: "BLF and presence subscriptions",
    publications: "Published call states",
    notify_open: "NOTIFYs awaiting an answer",
    notify_failed: "NOTIFYs failed",
    web_sessions: "Signed-in browsers",
    event_streams: "Open pages (event streams)",
    teams_users: "Teams users",
    teams_subscriptions: "Teams change subscriptions (650 users each)",
    teams_polled_users: "Teams users polled",
    graph_throttled: "Graph throttling answers (429)",
    genesys_users: "Genesys users",
    genesys_channels: "Genesys notification channels connected",
    genesys_throttled: "Genesys throttling answers (429)",
  };

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

  const get = (path) => blfgw.request("GET", path);
  const send = (method, path, body) => blfgw.request(method, path, body, csrf);
  const problem = blfgw.problem;

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
      editMsg: h("p", { id: "adm-edit-msg", role: "status" }),
      settings: table("adm-settings-table", "Each user's settings", ["Extension", "Change", "Sharing", "Shared with", "Delegates", "BLF keys (appearance)", "Status", "Locked by the file"]),
      editor: h("dialog", { id: "adm-editor", "aria-labelledby": "adm-ed-title" }),
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
      figures: table("adm-figures", "Counters (also in /healthz)", ["Counter", "Value"]),
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
    // Escape, Cancel or a save: the keyboard goes back to the row's Edit
    // button (the rows may have been drawn anew meanwhile).
    u.editor.addEventListener("close", () => {
      const n = editing && editing.number;
      editing = null;
      const b = n && ui === u && editButton(n);
      if (b) b.focus();
    });

    root.replaceChildren(
      h("h2", {}, "Admin"),
      h("nav", { "aria-label": "Admin sections", class: "adm-nav" }, h("ul", {},
        [["adm-dir", "Extensions and departments"], ["adm-users", "Users' settings"], ["adm-audit", "Audit log"], ["adm-health", "Health"]]
          .map(([id, text]) => h("li", {}, h("a", { href: "#" + id }, text))))),
      part("adm-dir", "Extensions and departments", u.configNote, u.extMsg, u.ext.wrap, u.depts.wrap),
      part("adm-users", "Users' settings",
        h("p", {}, "What each user has chosen, including users who do not share their presence. Edit changes a user's settings for them; the audit log records you as the one who changed them. Fields the configuration file locks cannot be changed, here or by the user."),
        u.setMsg, u.editMsg, u.settings.wrap, u.editor),
      part("adm-audit", "Audit log",
        h("p", {}, "Every change of a user's settings: by the user, by an administrator, or by the configuration file."),
        u.auditForm, u.auditMsg, u.audit.wrap, u.auditMore),
      part("adm-health", "Health", h("div", { class: "adm-buttons" }, u.refresh), u.healthMsg, u.facts, u.checks.wrap, u.figures.wrap),
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
    // The rows are drawn anew: an Edit button with the focus keeps it.
    const focused = document.activeElement && document.activeElement.classList.contains("adm-edit") && ui.settings.body.contains(document.activeElement)
      ? document.activeElement.dataset.ext
      : null;
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
        h("td", {}, h("button", {
          type: "button", class: "adm-edit", "data-ext": s.number, "aria-label": `Edit settings of ${s.name}`,
          "aria-haspopup": "dialog", onclick: () => openEditor(s.number),
        }, "Edit")),
        h("td", { class: "adm-share" }, h("span", { "aria-hidden": "true" }, s.share_presence ? "✓ " : "✕ "), s.share_presence ? "On" : "Off"),
        h("td", {}, s.share_presence ? withWhom(s.share_with) : `Nobody while sharing is off (when on: ${withWhom(s.share_with)})`),
        h("td", {}, delegates),
        h("td", {}, listText(s.appearance, "(none: everyone who shares with them)")),
        h("td", {}, status),
        h("td", {}, s.locked.length ? s.locked.map((f) => fieldWords[f] || f).join(", ") : "(none)"));
    }));
    const b = focused && editButton(focused);
    if (b) b.focus();
  }

  function editButton(n) {
    return ui.settings.body.querySelector(`button.adm-edit[data-ext="${CSS.escape(n)}"]`);
  }

  async function loadDepartments(g) {
    const r = await get("/api/v1/departments");
    if (g !== gen || !r.ok) return; // the editor falls back on what it knows
    depts = r.body.departments;
  }

  // The editor: one user's settings in a modal dialog, which keeps the
  // keyboard inside and closes on Escape. Fields the configuration file
  // locks are shown disabled, with a note that says why.

  const splitList = (v) => v.split(/[\s,;]+/).filter(Boolean);
  const sameList = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  const sameSet = (a, b) => sameList([...a].sort(), [...b].sort());

  // The input or fieldset of each field, for the locked note and for the
  // gateway's refusal of one field.
  const fieldControl = {
    status: "adm-ed-status",
    status_message: "adm-ed-message",
    share_presence: "adm-ed-share",
    share_with: "adm-ed-with",
    delegates: "adm-ed-delegates",
    appearance: "adm-ed-appearance",
  };

  async function openEditor(n) {
    if (opening || (editing && ui.editor.open)) return;
    opening = true;
    const g = gen;
    const [r] = await Promise.all([
      get(`/api/v1/extensions/${encodeURIComponent(n)}/settings`),
      depts ? null : loadDepartments(g),
    ]);
    opening = false;
    if (g !== gen) return;
    if (!r.ok) {
      say(ui.editMsg, problem(r, `Loading the settings of ${who(n)}`), "error");
      return;
    }
    say(ui.editMsg, "", "");
    fillEditor(r.body);
    ui.editor.showModal();
  }

  function fillEditor(s) {
    const locked = new Set(s.locked);
    editing = { number: s.number, name: s.name, s, locked };
    // lockNote: the note under a locked field; its id describes the field.
    const lockNote = (field) => locked.has(field)
      ? h("p", { id: `${fieldControl[field]}-locked`, class: "adm-locked" }, `${fieldWords[field]}: set in the configuration file; it cannot be changed here.`)
      : null;
    const described = (field, ...more) => [locked.has(field) ? `${fieldControl[field]}-locked` : null, ...more].filter(Boolean).join(" ") || null;
    const box = (name, value, text, on) => h("label", { class: "check" },
      h("input", { type: "checkbox", name, value, checked: on }), " " + text);
    const sw = s.share_with;
    // Configured departments, and any the user still has that the file
    // no longer names, so saving does not drop them unasked.
    const deptNames = [...new Set([...(depts || (system ? system.departments.map((d) => d.name) : [])), ...sw.departments])];
    const delegatesHelp = s.share_presence
      ? "Delegates see this user's calls and may answer them. Only while sharing is on."
      : "This user does not share their presence: the gateway accepts delegates only while sharing is on.";

    const form = h("form", { id: "adm-ed-form", novalidate: true },
      h("h2", { id: "adm-ed-title" }, `Settings of ${s.name} (${s.number})`),
      h("p", { class: "adm-ed-help" }, "Only the fields you change are saved. The audit log records you as the one who changed them."),
      h("fieldset", {}, h("legend", {}, "Status"),
        h("label", {}, "Status",
          h("select", { id: "adm-ed-status", name: "status", disabled: locked.has("status"), "aria-describedby": described("status") },
            statusChoices.map(([v, t]) => h("option", { value: v, selected: v === s.status }, t)))),
        lockNote("status"),
        h("label", {}, "Status message",
          h("input", { id: "adm-ed-message", name: "status_message", maxlength: "200", autocomplete: "off", value: s.status_message, disabled: locked.has("status_message"), "aria-describedby": described("status_message") })),
        lockNote("status_message")),
      h("fieldset", {}, h("legend", {}, "Sharing"),
        h("label", { class: "check" },
          h("input", { id: "adm-ed-share", type: "checkbox", name: "share_presence", checked: s.share_presence, disabled: locked.has("share_presence"), "aria-describedby": described("share_presence") }),
          " Share this user's presence"),
        lockNote("share_presence"),
        h("fieldset", { id: "adm-ed-with", disabled: locked.has("share_with"), "aria-describedby": described("share_with") },
          h("legend", {}, "Share with"),
          box("everyone", "true", "Everyone", sw.everyone),
          h("fieldset", { id: "adm-ed-roles" }, h("legend", {}, "Roles"),
            blfgw.roles.map(([v, t]) => box("role", v, t, sw.roles.includes(v)))),
          h("fieldset", { id: "adm-ed-depts" }, h("legend", {}, "Departments"),
            deptNames.length ? deptNames.map((d) => box("department", d, d, sw.departments.includes(d))) : h("p", {}, "No departments are configured.")),
          h("label", {}, "Colleagues (extensions, comma separated)",
            h("input", { id: "adm-ed-exts", name: "extensions", inputmode: "numeric", autocomplete: "off", value: sw.extensions.join(", ") }))),
        lockNote("share_with")),
      h("label", {}, "Delegates (extensions, comma separated)",
        h("input", { id: "adm-ed-delegates", name: "delegates", inputmode: "numeric", autocomplete: "off", value: s.delegates.join(", "), disabled: locked.has("delegates"), "aria-describedby": described("delegates", "adm-ed-delegates-help") })),
      h("p", { id: "adm-ed-delegates-help", class: "adm-ed-help" }, delegatesHelp),
      lockNote("delegates"),
      h("label", {}, "BLF keys, in key order (extensions, comma separated)",
        h("input", { id: "adm-ed-appearance", name: "appearance", inputmode: "numeric", autocomplete: "off", value: s.appearance.join(", "), disabled: locked.has("appearance"), "aria-describedby": described("appearance", "adm-ed-appearance-help") })),
      h("p", { id: "adm-ed-appearance-help", class: "adm-ed-help" }, "Empty: the user's page shows the whole directory."),
      lockNote("appearance"),
      // Kept in sight at the bottom of a tall editor: the refusal and the
      // buttons.
      h("div", { class: "adm-ed-actions" },
        h("p", { id: "adm-ed-error", role: "alert" }),
        h("div", { class: "adm-buttons" },
          h("button", { type: "submit", id: "adm-ed-save" }, "Save"),
          h("button", { type: "button", id: "adm-ed-cancel", onclick: () => ui.editor.close() }, "Cancel"))));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      saveEditor();
    });
    ui.editor.replaceChildren(form);
  }

  // changes: what differs from the settings the editor was opened with;
  // a locked field cannot differ (its control is disabled).
  function changes() {
    const { s, locked } = editing;
    const $ = (id) => document.getElementById(id);
    const picked = (name) => [...ui.editor.querySelectorAll(`input[name="${name}"]:checked`)].map((b) => b.value);
    const p = {};
    if (!locked.has("status") && $("adm-ed-status").value !== s.status) p.status = $("adm-ed-status").value;
    if (!locked.has("status_message") && $("adm-ed-message").value !== s.status_message) p.status_message = $("adm-ed-message").value;
    if (!locked.has("share_presence") && $("adm-ed-share").checked !== s.share_presence) p.share_presence = $("adm-ed-share").checked;
    if (!locked.has("share_with")) {
      const sw = {
        everyone: picked("everyone").length > 0,
        roles: picked("role"),
        departments: picked("department"),
        extensions: splitList($("adm-ed-exts").value),
      };
      const was = s.share_with;
      if (sw.everyone !== was.everyone || !sameSet(sw.roles, was.roles) || !sameSet(sw.departments, was.departments) || !sameSet(sw.extensions, was.extensions)) {
        p.share_with = sw;
      }
    }
    for (const [field, id] of [["delegates", "adm-ed-delegates"], ["appearance", "adm-ed-appearance"]]) {
      const v = splitList($(id).value);
      if (!locked.has(field) && !sameList(v, s[field])) p[field] = v;
    }
    return p;
  }

  async function saveEditor() {
    const cur = editing;
    if (!cur) return;
    const g = gen;
    const error = document.getElementById("adm-ed-error");
    const saveButton = document.getElementById("adm-ed-save");
    for (const el of ui.editor.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    const p = changes();
    if (Object.keys(p).length === 0) {
      say(error, "Nothing to save: no field was changed.", "info");
      return;
    }
    say(error, "", "");
    saveButton.disabled = true;
    ui.editor.setAttribute("aria-busy", "true");
    const r = await send("PATCH", `/api/v1/extensions/${encodeURIComponent(cur.number)}/settings`, p);
    if (g !== gen) return;
    saveButton.disabled = false;
    ui.editor.removeAttribute("aria-busy");
    const open = editing === cur && ui.editor.open;
    if (!r.ok) {
      // The gateway's words; the editor stays open as it was.
      const msg = problem(r, `Saving the settings of ${cur.name}`);
      if (!open) {
        say(ui.editMsg, msg, "error");
        return;
      }
      say(error, msg, "error");
      const field = r.body.error && r.body.error.field;
      const el = field && document.getElementById(fieldControl[field.split(".")[0]] || "");
      if (el) {
        // Marked and in sight; the focus stays on Save, the alert says why.
        el.setAttribute("aria-invalid", "true");
        el.scrollIntoView({ block: "center" });
      }
      return;
    }
    say(ui.editMsg, `Saved ${cur.name}'s settings.`, "ok");
    if (open) ui.editor.close();
    await loadSettings(g);
    // The change is in the audit log now; the list shows it with the
    // filters in the form.
    if (g === gen) loadAudit(false);
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
    const figures = Object.entries(system.figures || {})
      .sort(([a], [b]) => (a in figureWords) === (b in figureWords) ? a.localeCompare(b) : a in figureWords ? -1 : 1);
    if (figures.length === 0) emptyRow(ui.figures, "No counters.");
    else {
      ui.figures.body.replaceChildren(...figures.map(([name, v]) => h("tr", { "data-figure": name },
        h("th", { scope: "row" }, figureWords[name] ? `${figureWords[name]} (${name})` : name),
        h("td", { class: "adm-num" }, Number(v).toLocaleString()))));
    }
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
    loadDepartments(g);
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
      extensions = system = auditQuery = auditNext = depts = editing = null;
      opening = false;
      build();
      if (!root.hidden) refresh();
    },
    hide() {
      active = false;
      csrf = "";
      gen++;
      if (ui && ui.editor.open) ui.editor.close();
      ui = null;
      names = new Map();
      extensions = system = auditQuery = auditNext = depts = editing = null;
      opening = false;
      root.replaceChildren();
    },
  };
})();
