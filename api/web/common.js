// What the page's two scripts share: the JSON request to the gateway, the
// wording of its failures, and the role and status names. Loaded first.
"use strict";

window.blfgw = {
  // request sends a JSON request with the session cookie (and, for a
  // change, the session's CSRF token); it resolves to {ok, status, body}
  // and never rejects, so every caller can say what went wrong.
  async request(method, path, body, csrf) {
    const opt = { method, headers: { Accept: "application/json" } };
    if (method !== "GET") opt.headers["X-CSRF-Token"] = csrf;
    if (body !== undefined) {
      opt.headers["Content-Type"] = "application/json";
      opt.body = JSON.stringify(body);
    }
    try {
      const res = await fetch(path, opt);
      return { ok: res.ok, status: res.status, body: await res.json().catch(() => ({})) };
    } catch {
      return { ok: false, status: 0, body: {} };
    }
  },

  // problem words a failed request: the gateway's own message when it
  // gave one.
  problem(r, what) {
    if (r.status === 0) return `${what}: the gateway cannot be reached.`;
    if (r.status === 401 && !(r.body.error && r.body.error.message)) return "Your session has ended; please sign in again.";
    return (r.body.error && r.body.error.message) || `${what} failed (HTTP ${r.status}).`;
  },

  roles: [["user", "Users"], ["admin", "Administrators"], ["supervisor", "Supervisors"], ["manager", "Managers"], ["qa", "Quality assurance"]],
};
