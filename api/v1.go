package api

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/blfgw/blfgw/presence"
)

//go:embed openapi.json
var openapi []byte

// maxBody bounds a request body; settings are a few hundred bytes.
const maxBody = 64 << 10

// AuditQuery selects audit entries; zero fields are unbounded.
type AuditQuery struct {
	Subject, Actor, Field, Origin string
	Since, Until                  time.Time // Since inclusive, Until exclusive
	Before                        int64     // only ids below this, for paging; 0: none
	Limit                         int       // 1..1000
}

// AuditEntry is one recorded change of a setting.
type AuditEntry struct {
	ID                            int64
	At                            time.Time
	Actor, Subject, Field, Origin string
	Old, New                      *string // JSON; nil: no value
}

const (
	auditLimit    = 100
	auditMaxLimit = 1000
)

// handler serves an authenticated request.
type handler func(w http.ResponseWriter, r *http.Request, me caller)

func (s *Server) v1(mux *http.ServeMux) {
	s.route(mux, "/api/v1/token", map[string]handler{"POST": s.token})
	s.route(mux, "/api/v1/extensions", map[string]handler{"GET": s.extensions})
	s.route(mux, "/api/v1/departments", map[string]handler{"GET": s.departments})
	s.route(mux, "/api/v1/extensions/{number}/presence", map[string]handler{"GET": s.presence})
	s.route(mux, "/api/v1/me", map[string]handler{
		"GET":   func(w http.ResponseWriter, r *http.Request, me caller) { s.getSettings(w, me, me.Number) },
		"PATCH": func(w http.ResponseWriter, r *http.Request, me caller) { s.patchSettings(w, r, me, me.Number) },
	})
	s.route(mux, "/api/v1/extensions/{number}/settings", map[string]handler{
		"GET": func(w http.ResponseWriter, r *http.Request, me caller) { s.getSettings(w, me, r.PathValue("number")) },
		"PATCH": func(w http.ResponseWriter, r *http.Request, me caller) {
			s.patchSettings(w, r, me, r.PathValue("number"))
		},
	})
	s.route(mux, "/api/v1/events", map[string]handler{"GET": s.events})
	s.route(mux, "/api/v1/settings", map[string]handler{"GET": s.allSettings})
	s.route(mux, "/api/v1/system", map[string]handler{"GET": s.system})
	mux.HandleFunc("/api/v1/session", s.sessionRoute)
	if s.opt.Audit != nil {
		s.route(mux, "/api/v1/audit", map[string]handler{"GET": s.audit})
	}
	// The description is public: a client needs it before it can log in.
	mux.HandleFunc("/api/v1/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		noStore(w)
		if r.Method != http.MethodGet {
			notAllowed(w, r, "GET")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openapi)
	})
	mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
		noStore(w)
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
}

// route serves path with a handler per method. The method is checked before
// authentication, like the mux would; the JSON 405 is ours because the
// mux's own is plain text.
func (s *Server) route(mux *http.ServeMux, path string, methods map[string]handler) {
	allow := make([]string, 0, len(methods))
	for m := range methods {
		allow = append(allow, m)
	}
	sort.Strings(allow)
	mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		noStore(w)
		h, ok := methods[r.Method]
		if !ok {
			notAllowed(w, r, allow...)
			return
		}
		me, ok := s.authenticate(w, r)
		if !ok || !csrfOK(w, r, me) {
			return
		}
		h(w, r, me)
	})
}

// noStore keeps answers, tokens above all, out of shared caches.
func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
}

func notAllowed(w http.ResponseWriter, r *http.Request, allow ...string) {
	w.Header().Set("Allow", strings.Join(allow, ", "))
	writeError(w, http.StatusMethodNotAllowed, "method_not_allowed",
		fmt.Sprintf("%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, strings.Join(allow, ", ")))
}

// fail answers an error of the settings service: a refusal as what it is,
// anything else as a 500 whose cause goes to the log, not the client.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var se *presence.SettingsError
	if errors.As(err, &se) {
		code, ok := map[string]int{
			"not_found": http.StatusNotFound,
			"forbidden": http.StatusForbidden,
			"locked":    http.StatusForbidden,
			"invalid":   http.StatusBadRequest,
		}[se.Code]
		if !ok {
			code = http.StatusBadRequest
		}
		writeFieldError(w, code, se.Code, se.Message, se.Field)
		return
	}
	s.opt.Log.Error("api: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, "internal", "internal error; the server log has the details")
}

// onlyParams refuses query parameters other than allowed, so a typo is not
// silently ignored.
func onlyParams(w http.ResponseWriter, r *http.Request, allowed ...string) bool {
	for k := range r.URL.Query() {
		if !slices.Contains(allowed, k) {
			known := "this endpoint takes none"
			if len(allowed) > 0 {
				known = "parameters: " + strings.Join(allowed, ", ")
			}
			writeFieldError(w, http.StatusBadRequest, "invalid",
				fmt.Sprintf("unknown query parameter %q (%s)", k, known), k)
			return false
		}
	}
	return true
}

func (s *Server) token(w http.ResponseWriter, r *http.Request, me caller) {
	if !me.basic {
		// Else a stolen token could renew itself forever.
		s.unauthorized(w, "a token is issued only for the extension number and SIP password (HTTP Basic), not for a token")
		return
	}
	pw, ok := s.opt.Password(me.Number)
	if !ok {
		s.unauthorized(w, "wrong extension number or password") // removed between the check and here
		return
	}
	exp := s.now().Add(tokenTTL).Truncate(time.Second)
	s.opt.Log.Info("api: token issued", "number", me.Number, "expires", exp)
	writeJSON(w, http.StatusOK, map[string]string{
		"token":      s.issueToken(me.Number, pw, exp),
		"expires_at": exp.UTC().Format(time.RFC3339),
	})
}

type personJSON struct {
	Number     string `json:"number"`
	Name       string `json:"name"`
	Department string `json:"department"`
	Role       string `json:"role"`
}

func personOf(p presence.Person) personJSON {
	return personJSON{Number: p.Number, Name: p.Name, Department: p.Department, Role: string(p.Role)}
}

func (s *Server) extensions(w http.ResponseWriter, r *http.Request, _ caller) {
	if !onlyParams(w, r, "q", "department") {
		return
	}
	people, ok := s.matchPeople(w, r)
	if !ok {
		return
	}
	out := make([]personJSON, 0, len(people))
	for _, p := range people {
		out = append(out, personOf(p))
	}
	writeJSON(w, http.StatusOK, map[string]any{"extensions": out})
}

// matchPeople is the directory filtered by the query parameters q (a name
// substring or a number prefix) and department, as GET /api/v1/extensions
// takes them; false: the refusal is written.
func (s *Server) matchPeople(w http.ResponseWriter, r *http.Request) ([]presence.Person, bool) {
	q := strings.ToLower(r.URL.Query().Get("q"))
	dept := r.URL.Query().Get("department")
	if dept != "" && !slices.Contains(s.opt.Settings.Departments(), dept) {
		writeFieldError(w, http.StatusBadRequest, "invalid",
			fmt.Sprintf("unknown department %q (departments: %s)", dept, strings.Join(s.opt.Settings.Departments(), ", ")), "department")
		return nil, false
	}
	var out []presence.Person
	for _, p := range s.opt.Settings.People() {
		if dept != "" && p.Department != dept {
			continue
		}
		if q != "" && !strings.HasPrefix(p.Number, q) && !strings.Contains(strings.ToLower(p.Name), q) {
			continue
		}
		out = append(out, p)
	}
	return out, true
}

func (s *Server) departments(w http.ResponseWriter, _ *http.Request, _ caller) {
	d := s.opt.Settings.Departments()
	if d == nil {
		d = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"departments": d})
}

type partyJSON struct {
	Identity string `json:"identity"`
	Display  string `json:"display,omitempty"`
}

type dialogJSON struct {
	ID        string     `json:"id"`
	State     string     `json:"state"`
	Direction string     `json:"direction,omitempty"`
	Held      bool       `json:"held"`
	Since     *time.Time `json:"since,omitempty"`
	// Only with full access: oneself and one's delegates.
	CallID    string     `json:"call_id,omitempty"`
	LocalTag  string     `json:"local_tag,omitempty"`
	RemoteTag string     `json:"remote_tag,omitempty"`
	Remote    *partyJSON `json:"remote,omitempty"`
}

type presenceJSON struct {
	Number  string       `json:"number"`
	Name    string       `json:"name"`
	Lamp    string       `json:"lamp"`
	Status  string       `json:"status"`
	Message string       `json:"message"`
	Dialogs []dialogJSON `json:"dialogs"`
	Cloud   []cloudJSON  `json:"cloud,omitempty"`
}

type cloudJSON struct {
	Source string     `json:"source"`
	State  string     `json:"state"`
	Note   string     `json:"note"`
	Detail string     `json:"detail,omitempty"` // only with full access
	Since  *time.Time `json:"since,omitempty"`
}

// presence shows an extension as a SIP watcher with the caller's rights
// would see it: the same access, the same lamp, the same neutral answer or
// refusal when blocked. The access level itself is not shown, so a polite
// block stays unnoticed.
func (s *Server) presence(w http.ResponseWriter, r *http.Request, me caller) {
	number := r.PathValue("number")
	// Checked before Current, which would create an entry for any number.
	pe, ok := s.person(number)
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("extension %s does not exist", number))
		return
	}
	snap := s.opt.Hub.Current(number)
	acc, refuse := accessOf(s.opt.Hub, me.Number, number, snap)
	if refuse {
		writeError(w, http.StatusForbidden, "forbidden", fmt.Sprintf("%s does not share their presence with you", number))
		return
	}
	writeJSON(w, http.StatusOK, presenceBody(number, pe.Name, snap, acc))
}

// accessOf is what watcher may see of number's snapshot, under the rules
// the snapshot was rendered with; refuse: nothing, and the rules say to
// refuse rather than show a neutral lamp.
func accessOf(hub *presence.Hub, watcher, number string, snap *presence.Snapshot) (acc presence.Access, refuse bool) {
	pol := snap.Policy
	if pol == nil {
		pol = hub.Policy()
	}
	acc = pol.Access(watcher, number)
	return acc, acc == presence.AccessNone && pol != nil && pol.Options().Block == presence.BlockRefuse
}

// presenceBody is the answer about one extension for a watcher with access
// acc, the same for GET .../presence and the event stream, so the HUD and
// SIP watchers follow the same rules.
func presenceBody(number, name string, snap *presence.Snapshot, acc presence.Access) presenceJSON {
	v := snap.View(acc)
	out := presenceJSON{
		Number: number, Name: name, Lamp: snap.LampFor(acc).String(),
		Status: v.Status.String(), Message: v.Message, Dialogs: []dialogJSON{},
	}
	// A manual status lights the lamp through a synthetic dialog; here the
	// status field says it, so it is not listed as a call.
	if !v.Synthetic {
		for _, d := range v.Dialogs {
			j := dialogJSON{ID: d.ID, State: d.State.String(), Direction: d.Direction.String(), Held: d.Held}
			if !d.Since.IsZero() {
				t := d.Since.UTC()
				j.Since = &t
			}
			if acc == presence.AccessFull {
				j.CallID, j.LocalTag, j.RemoteTag = d.CallID, d.LocalTag, d.RemoteTag
				if d.Remote.URI != "" || d.Remote.Display != "" {
					j.Remote = &partyJSON{Identity: d.Remote.URI, Display: d.Remote.Display}
				}
			}
			out.Dialogs = append(out.Dialogs, j)
		}
	}
	if acc != presence.AccessNone {
		for _, c := range snap.Clouds {
			j := cloudJSON{Source: c.Source.String(), State: c.State.String(), Note: c.Note}
			if acc == presence.AccessFull {
				j.Detail = c.Detail
			}
			if !c.Since.IsZero() {
				t := c.Since.UTC()
				j.Since = &t
			}
			out.Cloud = append(out.Cloud, j)
		}
	}
	return out
}

type settingsJSON struct {
	personJSON
	Share           bool            `json:"share_presence"`
	ShareWith       json.RawMessage `json:"share_with"`
	Delegates       []string        `json:"delegates"`
	DelegatesActive bool            `json:"delegates_active"`
	Appearance      []string        `json:"appearance"`
	BLFList         string          `json:"blf_list,omitempty"`
	Status          string          `json:"status"`
	Message         string          `json:"status_message"`
	Locked          []string        `json:"locked"`
}

func (s *Server) settingsOf(p presence.Person, u presence.UserSettings, locked []string) settingsJSON {
	var list string
	if s.opt.ListURI != nil {
		list = s.opt.ListURI(p.Number)
	}
	return settingsJSON{
		BLFList:    list,
		personJSON: personOf(p),
		Share:      u.Share,
		ShareWith:  presence.ShareWithJSON(u.With),
		Delegates:  nonNil(u.Delegates),
		// Delegates are kept while sharing is off, but suspended.
		DelegatesActive: u.Share && len(u.Delegates) > 0,
		Appearance:      nonNil(u.Appearance),
		Status:          u.Status.String(),
		Message:         u.Message,
		Locked:          nonNil(locked),
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// mayManage: oneself, or an admin for anyone.
func mayManage(w http.ResponseWriter, me caller, subject string) bool {
	if subject == me.Number || me.Role == presence.RoleAdmin {
		return true
	}
	writeError(w, http.StatusForbidden, "forbidden",
		fmt.Sprintf("%s may see and change only their own settings, not those of %s", me.Number, subject))
	return false
}

func (s *Server) getSettings(w http.ResponseWriter, me caller, subject string) {
	if !mayManage(w, me, subject) {
		return
	}
	u, locked, ok := s.opt.Settings.Get(subject)
	pe, known := s.person(subject)
	if !ok || !known {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("extension %s does not exist", subject))
		return
	}
	writeJSON(w, http.StatusOK, s.settingsOf(pe, u, locked))
}

func (s *Server) patchSettings(w http.ResponseWriter, r *http.Request, me caller, subject string) {
	if !mayManage(w, me, subject) {
		return
	}
	p, ok := readPatch(w, r)
	if !ok {
		return
	}
	u, err := s.opt.Settings.Change(r.Context(), me.Number, subject, p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.pokeStreams(subject)
	_, locked, _ := s.opt.Settings.Get(subject)
	pe, _ := s.person(subject)
	writeJSON(w, http.StatusOK, s.settingsOf(pe, u, locked))
}

// patchJSON is the body of a settings PATCH: any subset of the fields.
type patchJSON struct {
	Share      *bool          `json:"share_presence"`
	ShareWith  *shareWithJSON `json:"share_with"`
	Delegates  *[]string      `json:"delegates"`
	Appearance *[]string      `json:"appearance"`
	Status     *string        `json:"status"`
	Message    *string        `json:"status_message"`
}

type shareWithJSON struct {
	Everyone    bool     `json:"everyone"`
	Roles       []string `json:"roles"`
	Departments []string `json:"departments"`
	Extensions  []string `json:"extensions"`
}

// readPatch decodes and checks the body of a PATCH, or writes why not.
func readPatch(w http.ResponseWriter, r *http.Request) (presence.Patch, bool) {
	bad := func(code int, errCode, field, format string, args ...any) (presence.Patch, bool) {
		writeFieldError(w, code, errCode, fmt.Sprintf(format, args...), field)
		return presence.Patch{}, false
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return bad(http.StatusUnsupportedMediaType, "unsupported_media_type", "",
			"Content-Type must be application/json, not %q", r.Header.Get("Content-Type"))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return bad(http.StatusUnsupportedMediaType, "unsupported_media_type", "", "the body must be UTF-8, not %s", cs)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return bad(http.StatusRequestEntityTooLarge, "too_large", "", "the body is larger than %d bytes", maxBody)
		}
		return bad(http.StatusBadRequest, "bad_json", "", "reading the body: %v", err)
	}
	if !utf8.Valid(body) {
		return bad(http.StatusBadRequest, "bad_json", "", "the body is not valid UTF-8")
	}
	var in patchJSON
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		field, msg := jsonProblem(err)
		return bad(http.StatusBadRequest, "bad_json", field, "%s", msg)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return bad(http.StatusBadRequest, "bad_json", "", "unexpected data after the JSON object")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil || raw == nil {
		return bad(http.StatusBadRequest, "bad_json", "", "the body must be a JSON object")
	}
	if field, msg := exactNames(raw, presence.Fields, ""); msg != "" {
		return bad(http.StatusBadRequest, "bad_json", field, "%s", msg)
	}
	if sw, ok := raw[presence.FieldShareWith]; ok {
		var m map[string]json.RawMessage
		_ = json.Unmarshal(sw, &m) // an object: the struct decode succeeded
		if field, msg := exactNames(m, []string{"everyone", "roles", "departments", "extensions"}, "share_with."); msg != "" {
			return bad(http.StatusBadRequest, "bad_json", field, "%s", msg)
		}
	}

	p := presence.Patch{Share: in.Share, Delegates: in.Delegates, Appearance: in.Appearance, Message: in.Message}
	if in.ShareWith != nil {
		sw := presence.ShareWith{Everyone: in.ShareWith.Everyone, Departments: in.ShareWith.Departments, Extensions: in.ShareWith.Extensions}
		for _, ro := range in.ShareWith.Roles {
			sw.Roles = append(sw.Roles, presence.Role(ro))
		}
		p.ShareWith = &sw
	}
	if in.Status != nil {
		st, ok := presence.ParseStatus(*in.Status)
		if !ok {
			return bad(http.StatusBadRequest, "invalid", presence.FieldStatus,
				"status: unknown status %q (statuses: default, available, dnd, away)", *in.Status)
		}
		p.Status = &st
	}
	return p, true
}

// exactNames checks an object's member names against names, exactly: the
// decoder matches case-insensitively and takes null as "absent", and both
// would let a mistake pass silently.
func exactNames(obj map[string]json.RawMessage, names []string, prefix string) (field, msg string) {
	for k, v := range obj {
		if !slices.Contains(names, k) {
			return prefix + k, fmt.Sprintf("unknown field %q (fields: %s)", prefix+k, strings.Join(names, ", "))
		}
		if string(v) == "null" {
			return prefix + k, fmt.Sprintf("%s: null is not a value; leave the field out to keep it", prefix+k)
		}
	}
	return "", ""
}

// jsonProblem says in the client's terms what is wrong with a body, and
// which field, when known.
func jsonProblem(err error) (field, msg string) {
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if te.Field == "" {
			return "", fmt.Sprintf("the body must be a JSON object, not %s", te.Value)
		}
		return te.Field, fmt.Sprintf("%s: expected %s, got %s", te.Field, jsonKind(te.Type), te.Value)
	}
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return "", fmt.Sprintf("the body is not valid JSON: %v (at byte %d)", se, se.Offset)
	}
	if errors.Is(err, io.EOF) {
		return "", "the body is empty; expected a JSON object"
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "", "the body is not valid JSON: it ends too early"
	}
	// DisallowUnknownFields has no error type of its own.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		n, _ := strconv.Unquote(name)
		return n, fmt.Sprintf("unknown field %s (fields: %s)", name, strings.Join(presence.Fields, ", "))
	}
	return "", "the body is not valid: " + err.Error()
}

func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list of " + strings.TrimPrefix(jsonKind(t.Elem()), "a ") + "s"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return t.Kind().String()
}

type auditJSON struct {
	ID      int64           `json:"id"`
	At      time.Time       `json:"at"`
	Actor   string          `json:"actor"`
	Subject string          `json:"subject"`
	Field   string          `json:"field"`
	Origin  string          `json:"origin"`
	Old     json.RawMessage `json:"old"`
	New     json.RawMessage `json:"new"`
}

func (s *Server) audit(w http.ResponseWriter, r *http.Request, me caller) {
	if me.Role != presence.RoleAdmin {
		writeError(w, http.StatusForbidden, "forbidden", "only administrators may read the audit log")
		return
	}
	if !onlyParams(w, r, "subject", "actor", "field", "origin", "since", "until", "before", "limit") {
		return
	}
	q, ok := auditQuery(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	entries, err := s.opt.Audit(ctx, q)
	if err != nil {
		s.fail(w, r, fmt.Errorf("audit: %w", err))
		return
	}
	out := make([]auditJSON, 0, len(entries))
	for _, e := range entries {
		out = append(out, auditJSON{
			ID: e.ID, At: e.At.UTC(), Actor: e.Actor, Subject: e.Subject, Field: e.Field, Origin: e.Origin,
			Old: rawJSON(e.Old), New: rawJSON(e.New),
		})
	}
	// A full page may have more behind it; a short one is the last.
	var next *int64
	if len(out) > 0 && len(out) >= q.Limit {
		next = &out[len(out)-1].ID
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": out, "next_before": next})
}

// rawJSON embeds a stored value as JSON; one that is not (it should
// always be) is shown as a string rather than breaking the answer.
func rawJSON(p *string) json.RawMessage {
	switch {
	case p == nil:
		return json.RawMessage("null")
	case json.Valid([]byte(*p)):
		return json.RawMessage(*p)
	}
	b, _ := json.Marshal(*p)
	return b
}

func auditQuery(w http.ResponseWriter, r *http.Request) (AuditQuery, bool) {
	v := r.URL.Query()
	q := AuditQuery{Subject: v.Get("subject"), Actor: v.Get("actor"), Field: v.Get("field"), Origin: v.Get("origin"), Limit: auditLimit}
	bad := func(field, format string, args ...any) (AuditQuery, bool) {
		writeFieldError(w, http.StatusBadRequest, "invalid", fmt.Sprintf(format, args...), field)
		return AuditQuery{}, false
	}
	if q.Origin != "" && q.Origin != "api" && q.Origin != "toml" {
		return bad("origin", "origin must be api or toml, not %q", q.Origin)
	}
	if q.Field != "" && !slices.Contains(presence.Fields, q.Field) {
		return bad("field", "unknown field %q (fields: %s)", q.Field, strings.Join(presence.Fields, ", "))
	}
	for _, t := range []struct {
		name string
		to   *time.Time
	}{{"since", &q.Since}, {"until", &q.Until}} {
		if s := v.Get(t.name); s != "" {
			tm, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return bad(t.name, "%s: %q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", t.name, s)
			}
			*t.to = tm
		}
	}
	if s := v.Get("before"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return bad("before", "before: %q is not a positive audit entry id", s)
		}
		q.Before = n
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > auditMaxLimit {
			return bad("limit", "limit: %q is not a number from 1 to %d", s, auditMaxLimit)
		}
		q.Limit = n
	}
	return q, true
}
