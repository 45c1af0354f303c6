package presence

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// The names of the user settings, the same in the TOML, the API, the store
// and the audit log.
const (
	FieldShare      = "share_presence"
	FieldShareWith  = "share_with"
	FieldDelegates  = "delegates"
	FieldAppearance = "appearance"
	FieldStatus     = "status"
	FieldMessage    = "status_message"
)

// Fields lists the user settings in a stable order.
var Fields = []string{FieldShare, FieldShareWith, FieldDelegates, FieldAppearance, FieldStatus, FieldMessage}

// MaxMessage bounds a custom status message, in characters.
const MaxMessage = 200

// UserSettings is everything a user decides about themself.
type UserSettings struct {
	Sharing
	Status     Status
	Message    string
	Appearance []string // the colleagues on my BLF keys and HUD, in order
}

// Patch changes some of a user's settings; nil fields stay as they are.
type Patch struct {
	Share      *bool
	ShareWith  *ShareWith
	Delegates  *[]string
	Appearance *[]string
	Status     *Status
	Message    *string
}

// Seed is what the admin's file says about one extension: who they are,
// the initial value of any user setting (JSON, by field name) and the
// fields users may not change.
type Seed struct {
	Person
	Values map[string]json.RawMessage
	Locked []string
}

// Setting is one stored user setting; values are JSON.
type Setting struct {
	Number, Field, Value string
	Source               string  // "toml", "api" or "default"
	TOML                 *string // the file's value last applied; nil if the file never set it
	UpdatedAt            time.Time
	UpdatedBy            string
}

// SettingChange is one write for the store, with its audit entry.
type SettingChange struct {
	Setting
	Actor  string  // an extension number, or "toml"
	Origin string  // "api" or "toml"
	Old    *string // previous value, for the audit
	Quiet  bool    // no audit entry: a first value from the file
}

// SettingsStore keeps settings and the audit log; a batch is all or nothing.
type SettingsStore interface {
	Settings(ctx context.Context) ([]Setting, error)
	ApplySettings(ctx context.Context, changes []SettingChange) error
}

// SettingsError is a refused change. Code is one of "not_found",
// "forbidden", "locked" and "invalid".
type SettingsError struct {
	Code    string
	Field   string
	Message string
}

func (e *SettingsError) Error() string { return e.Message }

func refuse(code, field, format string, args ...any) *SettingsError {
	return &SettingsError{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Settings owns every user's settings: it applies the admin's file and the
// users' changes under the rules, writes them (with the audit) before they
// count, and keeps the hub's policy and statuses in step. The API and the
// web page change settings only through it.
type Settings struct {
	hub   *Hub
	store SettingsStore

	mu     sync.Mutex
	opt    PolicyOptions
	people map[string]Person
	order  []string // extension numbers as configured
	depts  []string
	locked map[string]map[string]bool
	rows   map[string]map[string]Setting // number -> field -> stored row
	users  map[string]UserSettings

	changed []chan struct{} // Changed's signals
}

// Changed returns a signal that fires (a value in a channel of one) after
// settings were put in force: a user's change or a reload of the file.
// Like a Watcher it never blocks the settings; a burst of changes is one
// signal, and the receiver reads what it needs with Get.
func (s *Settings) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := make(chan struct{}, 1)
	s.changed = append(s.changed, c)
	return c
}

// NewSettings returns an empty service; Load fills it.
func NewSettings(hub *Hub, store SettingsStore) *Settings {
	return &Settings{hub: hub, store: store}
}

// Load applies the admin's file over what is stored and puts the result in
// force. Called at start and on every reload. A value a user changed
// through the API is kept unless the file now says something else for that
// field than it said when last applied; then the file wins and the audit
// says so. Locked fields always take the file's value when it has one.
func (s *Settings) Load(ctx context.Context, departments []string, seeds []Seed, opt PolicyOptions) error {
	// Held throughout, so a user's change cannot land between reading the
	// stored rows and putting the result in force.
	s.mu.Lock()
	defer s.mu.Unlock()
	stored, err := s.store.Settings(ctx)
	if err != nil {
		return fmt.Errorf("load settings: %w", err)
	}
	rows := map[string]map[string]Setting{}
	for _, r := range stored {
		if rows[r.Number] == nil {
			rows[r.Number] = map[string]Setting{}
		}
		rows[r.Number][r.Field] = r
	}
	var changes []SettingChange
	for _, sd := range seeds {
		locked := map[string]bool{}
		for _, f := range sd.Locked {
			locked[f] = true
		}
		for _, f := range Fields {
			v, ok := sd.Values[f]
			old, had := rows[sd.Number][f]
			switch {
			case !ok && had && old.TOML != nil:
				// The file no longer sets it: the value stays, and a later
				// file value counts as a change again.
				old.TOML = nil
				changes = append(changes, SettingChange{Setting: old, Actor: "toml", Origin: "toml", Quiet: true})
			case !ok:
			case !had:
				val := string(v)
				changes = append(changes, SettingChange{
					Setting: Setting{Number: sd.Number, Field: f, Value: val, Source: "toml", TOML: &val, UpdatedBy: "toml"},
					Actor:   "toml", Origin: "toml", Quiet: true,
				})
			case old.TOML == nil || *old.TOML != string(v) || (locked[f] && old.Value != string(v)):
				val := string(v)
				prev := old.Value
				changes = append(changes, SettingChange{
					Setting: Setting{Number: sd.Number, Field: f, Value: val, Source: "toml", TOML: &val, UpdatedBy: "toml"},
					Actor:   "toml", Origin: "toml", Old: &prev, Quiet: prev == val,
				})
			}
		}
	}
	if len(changes) > 0 {
		if err := s.store.ApplySettings(ctx, changes); err != nil {
			return fmt.Errorf("apply the configuration's settings: %w", err)
		}
		for _, c := range changes {
			if rows[c.Number] == nil {
				rows[c.Number] = map[string]Setting{}
			}
			rows[c.Number][c.Field] = c.Setting
		}
	}

	s.opt = opt
	s.depts = slices.Clone(departments)
	s.people = map[string]Person{}
	s.order = s.order[:0]
	s.locked = map[string]map[string]bool{}
	for _, sd := range seeds {
		s.people[sd.Number] = sd.Person
		s.order = append(s.order, sd.Number)
		s.locked[sd.Number] = map[string]bool{}
		for _, f := range sd.Locked {
			s.locked[sd.Number][f] = true
		}
	}
	s.rows = rows
	s.users = map[string]UserSettings{}
	for _, n := range s.order {
		s.users[n] = s.decodeLocked(n)
	}
	s.publishLocked()
	return nil
}

// decodeLocked builds a user's settings from the stored rows over the
// defaults. Stored values were validated when written; one that no longer
// decodes falls back to the default.
func (s *Settings) decodeLocked(number string) UserSettings {
	u := UserSettings{Sharing: s.opt.Default}
	u.Delegates = nil
	rows := s.rows[number]
	get := func(f string, v any) {
		if r, ok := rows[f]; ok {
			_ = json.Unmarshal([]byte(r.Value), v)
		}
	}
	get(FieldShare, &u.Share)
	var with shareWithJSON
	if r, ok := rows[FieldShareWith]; ok && json.Unmarshal([]byte(r.Value), &with) == nil {
		u.With = with.shareWith()
	}
	get(FieldDelegates, &u.Delegates)
	get(FieldAppearance, &u.Appearance)
	var st string
	get(FieldStatus, &st)
	u.Status, _ = ParseStatus(st)
	get(FieldMessage, &u.Message)
	return u
}

// publishLocked puts the users' settings in force in the hub.
func (s *Settings) publishLocked() {
	people := make([]Person, 0, len(s.order))
	sharing := make(map[string]Sharing, len(s.order))
	for _, n := range s.order {
		people = append(people, s.people[n])
		sharing[n] = s.users[n].Sharing
	}
	s.hub.SetPolicy(NewPolicy(people, sharing, s.opt))
	for _, n := range s.order {
		u := s.users[n]
		s.hub.SetStatus(n, u.Status, u.Message)
	}
	for _, c := range s.changed {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// Get returns a user's settings and the fields they may not change.
func (s *Settings) Get(number string) (UserSettings, []string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[number]
	if !ok {
		return UserSettings{}, nil, false
	}
	var locked []string
	for _, f := range Fields {
		if s.locked[number][f] {
			locked = append(locked, f)
		}
	}
	return cloneUser(u), locked, true
}

// Appearance returns a user's appearance list: their BLF keys and HUD,
// in order (nil for an unknown user). With Changed, Settings is the SIP
// server's source of BLF lists.
func (s *Settings) Appearance(number string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.users[number].Appearance)
}

// People returns the directory in the configured order.
func (s *Settings) People() []Person {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Person, 0, len(s.order))
	for _, n := range s.order {
		out = append(out, s.people[n])
	}
	return out
}

// Departments returns the configured departments.
func (s *Settings) Departments() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.depts)
}

// Change applies a user's (or an admin's) patch to subject's settings:
// validated as a whole, written with its audit entries, then in force.
// A refused patch changes nothing.
func (s *Settings) Change(ctx context.Context, actor, subject string, p Patch) (UserSettings, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.people[actor]
	if !ok {
		return UserSettings{}, refuse("forbidden", "", "%s is not a configured extension", actor)
	}
	cur, ok := s.users[subject]
	if !ok {
		return UserSettings{}, refuse("not_found", "", "extension %s does not exist", subject)
	}
	if actor != subject && a.Role != RoleAdmin {
		return UserSettings{}, refuse("forbidden", "", "%s may change only their own settings, not those of %s", actor, subject)
	}
	next := cloneUser(cur)
	var fields []string
	set := func(f string) error {
		if s.locked[subject][f] {
			return refuse("locked", f, "%s is locked by the administrator in the configuration file", f)
		}
		fields = append(fields, f)
		return nil
	}
	type step struct {
		present bool
		field   string
		apply   func()
	}
	steps := []step{
		{p.Share != nil, FieldShare, func() { next.Share = *p.Share }},
		{p.ShareWith != nil, FieldShareWith, func() { next.With = normalWith(*p.ShareWith) }},
		{p.Delegates != nil, FieldDelegates, func() { next.Delegates = slices.Clone(*p.Delegates) }},
		{p.Appearance != nil, FieldAppearance, func() { next.Appearance = slices.Clone(*p.Appearance) }},
		{p.Status != nil, FieldStatus, func() { next.Status = *p.Status }},
		{p.Message != nil, FieldMessage, func() { next.Message = *p.Message }},
	}
	for _, st := range steps {
		if !st.present {
			continue
		}
		if err := set(st.field); err != nil {
			return UserSettings{}, err
		}
		st.apply()
	}
	if err := s.validLocked(subject, next, p); err != nil {
		return UserSettings{}, err
	}

	var changes []SettingChange
	now := time.Now()
	for _, f := range fields {
		val := encodeField(next, f)
		old, had := s.rows[subject][f]
		prev := encodeField(cur, f)
		if had {
			prev = old.Value
		}
		if prev == val {
			continue
		}
		changes = append(changes, SettingChange{
			Setting: Setting{Number: subject, Field: f, Value: val, Source: "api", TOML: old.TOML, UpdatedAt: now, UpdatedBy: actor},
			Actor:   actor, Origin: "api", Old: &prev,
		})
	}
	if len(changes) == 0 {
		return cloneUser(cur), nil
	}
	if err := s.store.ApplySettings(ctx, changes); err != nil {
		return UserSettings{}, fmt.Errorf("store settings of %s: %w", subject, err)
	}
	for _, c := range changes {
		if s.rows[subject] == nil {
			s.rows[subject] = map[string]Setting{}
		}
		s.rows[subject][c.Field] = c.Setting
	}
	s.users[subject] = next
	s.publishLocked()
	return cloneUser(next), nil
}

// validLocked checks what a patch sets, in the light of the whole result.
// Fields the patch leaves alone are not checked again: a department or
// colleague removed from the file since must not block a change of status.
func (s *Settings) validLocked(subject string, u UserSettings, p Patch) error {
	knownExt := func(field string, list []string, self string) error {
		seen := map[string]bool{}
		for _, n := range list {
			if _, ok := s.people[n]; !ok {
				return refuse("invalid", field, "%s: extension %q does not exist", field, n)
			}
			if n == self {
				return refuse("invalid", field, "%s cannot be %s's own delegate", n, n)
			}
			if seen[n] {
				return refuse("invalid", field, "%s: extension %s is listed twice", field, n)
			}
			seen[n] = true
		}
		return nil
	}
	if p.Delegates != nil {
		if err := knownExt(FieldDelegates, u.Delegates, subject); err != nil {
			return err
		}
		if len(u.Delegates) > 0 && !u.Share {
			return refuse("invalid", FieldDelegates, "delegates can only be assigned while presence sharing is on")
		}
	}
	if p.Appearance != nil {
		if err := knownExt(FieldAppearance, u.Appearance, ""); err != nil {
			return err
		}
	}
	if p.ShareWith != nil {
		if err := knownExt(FieldShareWith, u.With.Extensions, ""); err != nil {
			return err
		}
		for _, r := range u.With.Roles {
			if !slices.Contains(Roles, r) {
				return refuse("invalid", FieldShareWith, "share_with: unknown role %q (roles: user, admin, supervisor, manager, qa)", r)
			}
		}
		for _, d := range u.With.Departments {
			if !slices.Contains(s.depts, d) {
				return refuse("invalid", FieldShareWith, "share_with: unknown department %q", d)
			}
		}
	}
	if utf8.RuneCountInString(u.Message) > MaxMessage {
		return refuse("invalid", FieldMessage, "status_message is longer than %d characters", MaxMessage)
	}
	if strings.IndexFunc(u.Message, unicode.IsControl) >= 0 {
		return refuse("invalid", FieldMessage, "status_message contains a control character")
	}
	if u.Status > StatusAway {
		return refuse("invalid", FieldStatus, "unknown status")
	}
	return nil
}

// shareWithJSON is share_with as the file, the store and the API write it.
type shareWithJSON struct {
	Everyone    bool     `json:"everyone"`
	Roles       []string `json:"roles"`
	Departments []string `json:"departments"`
	Extensions  []string `json:"extensions"`
}

func (w shareWithJSON) shareWith() ShareWith {
	out := ShareWith{Everyone: w.Everyone, Departments: w.Departments, Extensions: w.Extensions}
	for _, r := range w.Roles {
		out.Roles = append(out.Roles, Role(r))
	}
	return normalWith(out)
}

// ShareWithJSON encodes share_with for the store and the API.
func ShareWithJSON(w ShareWith) json.RawMessage {
	j := shareWithJSON{Everyone: w.Everyone, Roles: []string{}, Departments: nonNil(w.Departments), Extensions: nonNil(w.Extensions)}
	for _, r := range w.Roles {
		j.Roles = append(j.Roles, string(r))
	}
	b, _ := json.Marshal(j)
	return b
}

func normalWith(w ShareWith) ShareWith {
	return ShareWith{Everyone: w.Everyone, Roles: slices.Clone(w.Roles), Departments: slices.Clone(w.Departments), Extensions: slices.Clone(w.Extensions)}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// encodeField is one field of u as stored.
func encodeField(u UserSettings, f string) string {
	var v any
	switch f {
	case FieldShare:
		v = u.Share
	case FieldShareWith:
		return string(ShareWithJSON(u.With))
	case FieldDelegates:
		v = nonNil(u.Delegates)
	case FieldAppearance:
		v = nonNil(u.Appearance)
	case FieldStatus:
		v = u.Status.String()
	case FieldMessage:
		v = u.Message
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func cloneUser(u UserSettings) UserSettings {
	u.With = normalWith(u.With)
	u.Delegates = slices.Clone(u.Delegates)
	u.Appearance = slices.Clone(u.Appearance)
	return u
}
