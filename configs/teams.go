package configs

import (
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Teams configures the Microsoft Teams presence bridge, which reads the
// users' Teams presence through Microsoft Graph to light their lamps and
// sets it from their phone calls.
//
// ClientSecret holds the resolved secret whichever source it came from and,
// like Extension.Password, is kept out of String, GoString, Format, LogValue
// and JSON. While Enabled is false only the form of the keys is checked:
// the required keys, the secret sources and ca_file are checked once it is
// true, so that a disabled section can be prepared ahead.
type Teams struct {
	Enabled           bool           `toml:"enabled"`                // default false
	Tenant            string         `toml:"tenant"`                 // Entra tenant id (GUID) or verified domain; required when enabled
	ClientID          string         `toml:"client_id"`              // app (client) id, a GUID; required when enabled; also the setPresence sessionId
	ClientSecret      string         `toml:"client_secret" json:"-"` // at most ONE of client_secret, client_secret_file, client_secret_env; exactly one when enabled
	ClientSecretFile  string         `toml:"client_secret_file"`     // file whose content (trailing newline trimmed) is the secret
	ClientSecretEnv   string         `toml:"client_secret_env"`      // environment variable holding the secret
	GraphURL          string         `toml:"graph_url"`              // default DefaultTeamsGraphURL, without /v1.0 (the bridge appends it)
	LoginURL          string         `toml:"login_url"`              // Entra authority host; default DefaultTeamsLoginURL
	CAFile            string         `toml:"ca_file"`                // optional PEM file of extra CA certificates trusted for graph_url and login_url
	NotificationURL   string         `toml:"notification_url"`       // public URL of the gateway's /teams/notify; "" = polling only
	PollInterval      int            `toml:"poll_interval"`          // seconds between polls while notifications are off; default 30; 5..3600
	ReconcileInterval int            `toml:"reconcile_interval"`     // seconds between full re-reads while notifications are on; default 600; 60..86400
	CallExpiry        int            `toml:"call_expiry"`            // minutes of setPresence expirationDuration during a call; default 60; 5..240
	PushStatus        bool           `toml:"push_status"`            // default false: send a manual DND / Appear Away to Teams as the preferred presence
	Accounts          []TeamsAccount `toml:"accounts"`               // delegated service accounts owning the change-notification subscriptions; needed with notification_url
	ToTeams           TeamsToTeams   `toml:"to_teams"`               // what the gateway sets in Teams
	FromTeams         []TeamsRule    `toml:"from_teams"`             // what Teams states light: the written rules, then the DefaultTeamsRules they do not override

	// resolved marks ClientSecret as filled from ClientSecretFile or
	// ClientSecretEnv, as Extension.resolved does for passwords.
	resolved bool
}

// TeamsAccount is a service account (a licensed user, not the app) that
// signs in with delegated Presence.Read.All to own the presence
// subscriptions of up to MaxTeamsUsersPerAccount users. Password is kept out
// of every printed form, like Teams.ClientSecret.
type TeamsAccount struct {
	Username     string `toml:"username"`          // UPN of the service account; required
	Password     string `toml:"password" json:"-"` // at most ONE of password, password_file, password_env; exactly one when used
	PasswordFile string `toml:"password_file"`
	PasswordEnv  string `toml:"password_env"`

	resolved bool
}

// TeamsToTeams holds the "Availability/Activity" pairs the gateway sets in
// Teams. Split one with SplitPair.
type TeamsToTeams struct {
	Call       string `toml:"call"`       // setPresence pair during a phone call; default "Busy/InACall"
	Conference string `toml:"conference"` // setPresence pair during a conference call; default "Busy/InAConferenceCall"
	DND        string `toml:"dnd"`        // setUserPreferredPresence pair for a manual Do Not Disturb (push_status); default "DoNotDisturb/DoNotDisturb"
	Away       string `toml:"away"`       // setUserPreferredPresence pair for Appear Away (push_status); default "Away/Away"
}

// TeamsRule says what a Teams presence lights. See Teams.Lookup for how a
// presence finds its rule.
type TeamsRule struct {
	Match string `toml:"match"` // "Availability/Activity", or one name matching the activity or the availability
	Lamp  string `toml:"lamp"`  // TeamsLampBusy, TeamsLampAway, TeamsLampOffline, TeamsLampAvailable or TeamsLampIgnore
	Note  string `toml:"note"`  // text for PIDF notes and the HUD; default derived from Match; at most MaxTeamsNote characters
}

// The values of TeamsRule.Lamp.
const (
	TeamsLampBusy      = "busy"
	TeamsLampAway      = "away"
	TeamsLampOffline   = "offline"
	TeamsLampAvailable = "available"
	// TeamsLampIgnore leaves the lamp to the gateway's other sources.
	TeamsLampIgnore = "ignore"
)

// TeamsLamps lists the values of TeamsRule.Lamp.
var TeamsLamps = []string{TeamsLampBusy, TeamsLampAway, TeamsLampOffline, TeamsLampAvailable, TeamsLampIgnore}

// Defaults and bounds of [teams].
const (
	DefaultTeamsGraphURL    = "https://graph.microsoft.com"
	DefaultTeamsLoginURL    = "https://login.microsoftonline.com"
	DefaultTeamsPoll        = 30  // seconds
	DefaultTeamsReconcile   = 600 // seconds
	DefaultTeamsCallExpiry  = 60  // minutes
	DefaultTeamsCall        = "Busy/InACall"
	DefaultTeamsConference  = "Busy/InAConferenceCall"
	DefaultTeamsDND         = "DoNotDisturb/DoNotDisturb"
	DefaultTeamsAway        = "Away/Away"
	TeamsNotifyPath         = "/teams/notify" // the gateway's HTTP path for Graph change notifications
	MaxTeamsUsersPerAccount = 650             // user ids in one presence subscription (and one getPresencesByUserId request)
	MaxTeamsNote            = 64              // characters (runes) of TeamsRule.Note
)

// Bounds of the [teams] numbers.
const (
	minTeamsPoll       = 5
	maxTeamsPoll       = 3600
	minTeamsReconcile  = 60
	maxTeamsReconcile  = 86400
	minTeamsCallExpiry = 5   // PT5M, Graph's lower bound
	maxTeamsCallExpiry = 240 // PT4H, Graph's upper bound
)

// graphVersions are the API versions an admin may leave at the end of
// graph_url by mistake; the bridge appends /v1.0 itself.
var graphVersions = []string{"/v1.0", "/beta"}

// SetPresencePairs are the only "Availability/Activity" pairs Graph's
// setPresence accepts.
var SetPresencePairs = []string{"Available/Available", "Busy/InACall", "Busy/InAConferenceCall", "Away/Away", "DoNotDisturb/Presenting"}

// PreferredPairs are the only pairs Graph's setUserPreferredPresence
// accepts.
var PreferredPairs = []string{"Available/Available", "Busy/Busy", "DoNotDisturb/DoNotDisturb", "BeRightBack/BeRightBack", "Away/Away", "Offline/OffWork"}

// TeamsAvailabilities are the presence availability values Graph reports.
var TeamsAvailabilities = []string{"Available", "AvailableIdle", "Away", "BeRightBack", "Busy", "BusyIdle", "DoNotDisturb", "Offline", "PresenceUnknown", "Focusing"}

// TeamsActivities are the presence activity values Graph reports.
var TeamsActivities = []string{"Available", "Away", "BeRightBack", "Busy", "DoNotDisturb", "InACall", "InAConferenceCall", "Inactive", "InAMeeting", "Offline", "OffWork", "OutOfOffice", "PresenceUnknown", "Presenting", "UrgentInterruptionsOnly", "Focusing"}

// teamsNotes words each availability and activity for a person reading a
// HUD; a rule whose note is left out gets the one of its activity (or its
// only name).
var teamsNotes = map[string]string{
	"Available":               "Available",
	"AvailableIdle":           "Available (idle)",
	"Away":                    "Away",
	"BeRightBack":             "Be right back",
	"Busy":                    "Busy",
	"BusyIdle":                "Busy (idle)",
	"DoNotDisturb":            "Do not disturb",
	"Focusing":                "Focusing",
	"InACall":                 "In a Teams call",
	"InAConferenceCall":       "In a Teams conference call",
	"Inactive":                "Inactive",
	"InAMeeting":              "In a meeting",
	"Offline":                 "Offline",
	"OffWork":                 "Off work",
	"OutOfOffice":             "Out of office",
	"PresenceUnknown":         "Presence unknown",
	"Presenting":              "Presenting",
	"UrgentInterruptionsOnly": "Urgent interruptions only",
}

// DefaultTeamsRules is teams.from_teams when the file leaves it out; each
// call returns a fresh slice.
func DefaultTeamsRules() []TeamsRule {
	table := []struct{ lamp, names string }{
		{TeamsLampBusy, "InACall InAConferenceCall InAMeeting Presenting Busy BusyIdle DoNotDisturb Focusing UrgentInterruptionsOnly"},
		{TeamsLampAway, "Away BeRightBack OutOfOffice"},
		{TeamsLampOffline, "Offline OffWork"},
		{TeamsLampAvailable, "Available AvailableIdle"},
		{TeamsLampIgnore, "PresenceUnknown"},
	}
	var rules []TeamsRule
	for _, row := range table {
		for _, name := range strings.Fields(row.names) {
			rules = append(rules, TeamsRule{Match: name, Lamp: row.lamp, Note: teamsNote(name)})
		}
	}
	return rules
}

// teamsNote is the note a rule gets when the file gives none: the wording
// of the pair's activity or of the single name.
func teamsNote(match string) string {
	if _, act, ok := SplitPair(match); ok {
		match = act
	}
	return teamsNotes[match]
}

// SplitPair splits "Availability/Activity" at its one slash; ok is false
// unless both halves are non-empty.
func SplitPair(s string) (availability, activity string, ok bool) {
	availability, activity, ok = strings.Cut(s, "/")
	if !ok || availability == "" || activity == "" || strings.Contains(activity, "/") {
		return "", "", false
	}
	return availability, activity, true
}

// Lookup finds the rule for a presence read from Graph: a rule for the
// exact "availability/activity" pair first, else one naming the activity,
// else one naming the availability; among equals the first written wins.
// A nil FromTeams means DefaultTeamsRules. ok is false when no rule
// matches; the caller then treats the presence as unknown.
func (t Teams) Lookup(availability, activity string) (TeamsRule, bool) {
	rules := t.FromTeams
	if rules == nil {
		rules = DefaultTeamsRules()
	}
	for _, want := range []string{availability + "/" + activity, activity, availability} {
		for _, r := range rules {
			if r.Match == want {
				return r, true
			}
		}
	}
	return TeamsRule{}, false
}

// LogValue describes [teams] without the client secret; accounts are
// named by their user names only.
func (t Teams) LogValue() slog.Value {
	users := make([]string, len(t.Accounts))
	for i, a := range t.Accounts {
		users[i] = a.Username
	}
	attrs := []slog.Attr{
		slog.Bool("enabled", t.Enabled),
		slog.String("tenant", t.Tenant),
		slog.String("client_id", t.ClientID),
	}
	attrs = appendSecretAttrs(attrs, "client_secret", t.ClientSecret, t.ClientSecretFile, t.ClientSecretEnv)
	attrs = append(attrs,
		slog.String("graph_url", t.GraphURL),
		slog.String("login_url", t.LoginURL),
		slog.String("ca_file", t.CAFile),
		slog.String("notification_url", t.NotificationURL),
		slog.Int("poll_interval", t.PollInterval),
		slog.Int("reconcile_interval", t.ReconcileInterval),
		slog.Int("call_expiry", t.CallExpiry),
		slog.Bool("push_status", t.PushStatus),
		slog.Any("accounts", users),
		slog.Int("from_teams", len(t.FromTeams)),
	)
	return slog.GroupValue(attrs...)
}

// LogValue describes the account without its password.
func (a TeamsAccount) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("username", a.Username)}
	return slog.GroupValue(appendSecretAttrs(attrs, "password", a.Password, a.PasswordFile, a.PasswordEnv)...)
}

// appendSecretAttrs logs a secret's sources, and only that there is one
// instead of the secret itself.
func appendSecretAttrs(attrs []slog.Attr, name, secret, file, env string) []slog.Attr {
	if secret != "" {
		attrs = append(attrs, slog.String(name, redacted))
	}
	if file != "" {
		attrs = append(attrs, slog.String(name+"_file", file))
	}
	if env != "" {
		attrs = append(attrs, slog.String(name+"_env", env))
	}
	return attrs
}

// teamsFields and accountFields have the fields of Teams and TeamsAccount
// but none of their methods, so fmt prints them field by field once the
// secret is replaced.
type (
	teamsFields   Teams
	accountFields TeamsAccount
)

// String is what %v and %+v print: every field, the secret redacted.
func (t Teams) String() string {
	f := teamsFields(t)
	f.ClientSecret = redact(f.ClientSecret)
	// Accounts print through TeamsAccount.String.
	return fmt.Sprintf("%+v", f)
}

// GoString covers %#v.
func (t Teams) GoString() string { return "configs.Teams" + t.String() }

// Format makes every verb, %d and %x included, print String or GoString,
// never the fields themselves.
func (t Teams) Format(s fmt.State, verb rune) { formatRedacted(s, verb, t) }

// String is what %v and %+v print: every field, the password redacted.
func (a TeamsAccount) String() string {
	f := accountFields(a)
	f.Password = redact(f.Password)
	return fmt.Sprintf("%+v", f)
}

// GoString covers %#v.
func (a TeamsAccount) GoString() string { return "configs.TeamsAccount" + a.String() }

// Format makes every verb print String or GoString.
func (a TeamsAccount) Format(s fmt.State, verb rune) { formatRedacted(s, verb, a) }

func formatRedacted(s fmt.State, verb rune, v interface {
	fmt.Stringer
	fmt.GoStringer
}) {
	if verb == 'v' && s.Flag('#') {
		io.WriteString(s, v.GoString())
		return
	}
	io.WriteString(s, v.String())
}

func redact(secret string) string {
	if secret == "" {
		return ""
	}
	return redacted
}

// teamsDefaults fills the [teams] keys that are zero and not written. It
// runs from Decode and again from Validate, so a Config built in code gets
// the defaults too and a written zero is kept to be reported.
func (c *Config) teamsDefaults() {
	t := &c.Teams
	setDefault(c, "teams.graph_url", &t.GraphURL, DefaultTeamsGraphURL)
	setDefault(c, "teams.login_url", &t.LoginURL, DefaultTeamsLoginURL)
	setDefault(c, "teams.poll_interval", &t.PollInterval, DefaultTeamsPoll)
	setDefault(c, "teams.reconcile_interval", &t.ReconcileInterval, DefaultTeamsReconcile)
	setDefault(c, "teams.call_expiry", &t.CallExpiry, DefaultTeamsCallExpiry)
	setDefault(c, "teams.to_teams.call", &t.ToTeams.Call, DefaultTeamsCall)
	setDefault(c, "teams.to_teams.conference", &t.ToTeams.Conference, DefaultTeamsConference)
	setDefault(c, "teams.to_teams.dnd", &t.ToTeams.DND, DefaultTeamsDND)
	setDefault(c, "teams.to_teams.away", &t.ToTeams.Away, DefaultTeamsAway)
	for i := range t.FromTeams {
		r := &t.FromTeams[i]
		if r.Note == "" && !c.written("teams.from_teams["+strconv.Itoa(i)+"].note") {
			r.Note = teamsNote(r.Match)
		}
	}
	// Written rules override the default rule with the same match and
	// add to the rest, so an admin writes only what differs. The written
	// ones stay first, at the indexes their problems are reported under.
	for _, d := range DefaultTeamsRules() {
		if !slices.ContainsFunc(t.FromTeams, func(r TeamsRule) bool { return r.Match == d.Match }) {
			t.FromTeams = append(t.FromTeams, d)
		}
	}
}

// setDefault gives *field its default when it is the zero value and the
// file (or an override) did not write it.
func setDefault[T comparable](c *Config, key string, field *T, def T) {
	var zero T
	if *field == zero && !c.written(key) {
		*field = def
	}
}

var guidPattern = regexp.MustCompile(`^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$`)

func isGUID(s string) bool { return guidPattern.MatchString(s) }

// isDomain accepts a DNS name with at least two labels, as Entra's
// verified domains all have.
func isDomain(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return false
	}
	return strings.Contains(strings.Trim(s, "."), ".") && validHost(s)
}

// checkUPN applies Entra's user principal name rules: a prefix of at most
// 64 characters of A-Z a-z 0-9 ' . - _ ! # ^ ~, not starting or ending
// with a dot or holding two in a row, then @ and a domain.
func checkUPN(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || len(local) > 64 || !isDomain(domain) ||
		local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return false
	}
	for _, r := range local {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("'.-_!#^~", r)) {
			return false
		}
	}
	return true
}

// isLoopback reports whether host names this machine, where plain http
// reaches a test server or the bundled fake without crossing a network.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// checkHTTPURL applies the rules common to the [teams] URLs: absolute,
// http(s), a host, https unless the host is a loopback one, no user
// information, query or fragment.
func checkHTTPURL(s, example string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an absolute http(s) URL such as %q", s, example)
	}
	switch {
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return nil, fmt.Errorf("%q: use https (http is allowed only for a loopback host such as 127.0.0.1, for tests)", s)
	case u.User != nil:
		return nil, fmt.Errorf("%q must not contain a user name or password", s)
	case u.RawQuery != "" || u.ForceQuery:
		return nil, fmt.Errorf("%q must not have a query (?...)", s)
	case u.Fragment != "" || strings.Contains(s, "#"):
		return nil, fmt.Errorf("%q must not have a fragment (#...)", s)
	}
	return u, nil
}

// teams checks [teams] and the extensions' teams_user. It runs after the
// extensions are read, since the accounts must cover their Teams users.
func (v *validator) teams() {
	c := v.c
	c.teamsDefaults()
	t := &c.Teams
	on := t.Enabled

	if t.Tenant != "" && !isGUID(t.Tenant) && !isDomain(t.Tenant) {
		v.at("teams.tenant", "%q is neither a tenant id (GUID) nor a domain such as contoso.onmicrosoft.com", t.Tenant)
	} else if on {
		v.required("teams.tenant", t.Tenant)
	}
	if t.ClientID != "" && !isGUID(t.ClientID) {
		v.at("teams.client_id", "%q is not an application (client) id, a GUID such as 00000000-0000-0000-0000-000000000000", t.ClientID)
	} else if on {
		v.required("teams.client_id", t.ClientID)
	}
	v.secret(secretRef{"teams", "client_secret", &t.ClientSecret, t.ClientSecretFile, t.ClientSecretEnv, &t.resolved}, on, on)

	if u, err := checkHTTPURL(t.GraphURL, DefaultTeamsGraphURL); err != nil {
		v.at("teams.graph_url", "%v", err)
	} else {
		for _, suffix := range graphVersions {
			if strings.HasSuffix(strings.TrimRight(u.Path, "/"), suffix) {
				v.at("teams.graph_url", "%q: leave out %s, which the bridge appends", t.GraphURL, suffix)
			}
		}
	}
	if u, err := checkHTTPURL(t.LoginURL, DefaultTeamsLoginURL); err != nil {
		v.at("teams.login_url", "%v", err)
	} else if strings.Contains(u.Path, "oauth2") {
		v.at("teams.login_url", "%q: give the authority host only; the bridge appends /TENANT/oauth2/v2.0/token", t.LoginURL)
	}
	if t.NotificationURL != "" {
		if u, err := checkHTTPURL(t.NotificationURL, "https://gw.example.com"+TeamsNotifyPath); err != nil {
			v.at("teams.notification_url", "%v", err)
		} else if !strings.HasSuffix(u.Path, TeamsNotifyPath) {
			v.at("teams.notification_url", "%q: the path must end in %s, which the gateway serves", t.NotificationURL, TeamsNotifyPath)
		}
	}
	if on && t.CAFile != "" {
		v.caFile("teams.ca_file", t.CAFile)
	}

	for _, r := range []struct {
		key      string
		val      int
		min, max int
		unit     string
	}{
		{"teams.poll_interval", t.PollInterval, minTeamsPoll, maxTeamsPoll, "seconds"},
		{"teams.reconcile_interval", t.ReconcileInterval, minTeamsReconcile, maxTeamsReconcile, "seconds"},
		{"teams.call_expiry", t.CallExpiry, minTeamsCallExpiry, maxTeamsCallExpiry, "minutes (Graph's PT5M to PT4H)"},
	} {
		if r.val < r.min || r.val > r.max {
			v.at(r.key, "must be between %d and %d %s, got %d", r.min, r.max, r.unit, r.val)
		}
	}

	v.pair("teams.to_teams.call", t.ToTeams.Call, "setPresence", SetPresencePairs)
	v.pair("teams.to_teams.conference", t.ToTeams.Conference, "setPresence", SetPresencePairs)
	v.pair("teams.to_teams.dnd", t.ToTeams.DND, "setUserPreferredPresence", PreferredPairs)
	v.pair("teams.to_teams.away", t.ToTeams.Away, "setUserPreferredPresence", PreferredPairs)

	v.teamsRules()
	users := v.teamsUsers()
	v.teamsAccounts(on && t.NotificationURL != "", users)
}

// caFile checks that path holds at least one PEM certificate.
func (v *validator) caFile(key, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		v.at(key, "%v", err)
		return
	}
	if !x509.NewCertPool().AppendCertsFromPEM(b) {
		v.at(key, "%q holds no PEM certificate", path)
	}
}

// pair reports a value that is not one of the pairs a Graph call accepts.
func (v *validator) pair(key, value, call string, allowed []string) {
	if slices.Contains(allowed, value) {
		return
	}
	msg := fmt.Sprintf("%q: %s accepts only %s", value, call, orList(allowed))
	if s := suggest(value, allowed); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	v.at(key, "%s", msg)
}

// teamsName reports a name that is not in set, with the one meant when it
// looks like a typo.
func teamsName(what, name string, set []string) error {
	if slices.Contains(set, name) {
		return nil
	}
	if s := suggest(name, set); s != "" {
		return fmt.Errorf("unknown %s %q (did you mean %q?)", what, name, s)
	}
	return fmt.Errorf("unknown %s %q", what, name)
}

// checkTeamsMatch accepts a known "Availability/Activity" pair or a single
// known availability or activity.
func checkTeamsMatch(m string) error {
	if !strings.Contains(m, "/") {
		both := append(slices.Clone(TeamsAvailabilities), TeamsActivities...)
		slices.Sort(both)
		both = slices.Compact(both)
		if err := teamsName("availability or activity", m, both); err != nil {
			return fmt.Errorf("%w (write one name, or Availability/Activity)", err)
		}
		return nil
	}
	av, act, ok := SplitPair(m)
	if !ok {
		return fmt.Errorf("%q is not Availability/Activity, such as \"Busy/InAMeeting\"", m)
	}
	if err := teamsName("availability", av, TeamsAvailabilities); err != nil {
		return fmt.Errorf("%q: %w", m, err)
	}
	if err := teamsName("activity", act, TeamsActivities); err != nil {
		return fmt.Errorf("%q: %w", m, err)
	}
	return nil
}

func (v *validator) teamsRules() {
	seen := map[string]int{}
	for i, r := range v.c.Teams.FromTeams {
		key := "teams.from_teams[" + strconv.Itoa(i) + "]"
		if v.required(key+".match", r.Match) {
			if err := checkTeamsMatch(r.Match); err != nil {
				v.at(key+".match", "%v", err)
			} else if j, dup := seen[r.Match]; dup {
				v.at(key+".match", "duplicate match %q (also teams.from_teams[%d])", r.Match, j)
			} else {
				seen[r.Match] = i
			}
		}
		if v.required(key+".lamp", r.Lamp) {
			v.oneOf(key+".lamp", "lamp", r.Lamp, TeamsLamps)
		}
		if err := checkText(r.Note, MaxTeamsNote); err != nil {
			v.at(key+".note", "%v", err)
		}
	}
}

// teamsUsers checks each extension's teams_user and counts the valid,
// distinct ones.
func (v *validator) teamsUsers() int {
	seen := map[string]int{} // lower case -> extension index
	for i, e := range v.c.Extensions {
		if e.TeamsUser == "" {
			continue
		}
		key := "extensions[" + strconv.Itoa(i) + "].teams_user"
		lower := strings.ToLower(e.TeamsUser)
		switch j, dup := seen[lower]; {
		case !isGUID(e.TeamsUser) && !checkUPN(e.TeamsUser):
			v.at(key, "%q is neither an Entra object id (GUID) nor a user principal name such as alice@contoso.com", e.TeamsUser)
		case dup:
			v.at(key, "duplicate teams_user %q (also extensions[%d])", e.TeamsUser, j)
		default:
			seen[lower] = i
		}
	}
	return len(seen)
}

// teamsAccounts checks [[teams.accounts]]; used says that change
// notifications are on, so the accounts must exist, sign in and cover
// every Teams user.
func (v *validator) teamsAccounts(used bool, users int) {
	t := &v.c.Teams
	seen := map[string]int{}
	for i := range t.Accounts {
		a := &t.Accounts[i]
		key := "teams.accounts[" + strconv.Itoa(i) + "]"
		if v.required(key+".username", a.Username) {
			lower := strings.ToLower(a.Username)
			if !checkUPN(a.Username) {
				v.at(key+".username", "%q is not a user principal name such as blfgw-presence@contoso.com", a.Username)
			} else if j, dup := seen[lower]; dup {
				v.at(key+".username", "duplicate account %q (also teams.accounts[%d]): Graph allows one presence subscription per app and user", a.Username, j)
			} else {
				seen[lower] = i
			}
		}
		v.secret(secretRef{key, "password", &a.Password, a.PasswordFile, a.PasswordEnv, &a.resolved}, used, used)
	}
	if !used {
		return
	}
	switch need := (users + MaxTeamsUsersPerAccount - 1) / MaxTeamsUsersPerAccount; {
	case len(t.Accounts) == 0:
		v.at("teams.notification_url", "needs at least one [[teams.accounts]] entry: Graph takes presence subscriptions only from a signed-in user (delegated Presence.Read.All)")
	case need > len(t.Accounts):
		v.at("teams.accounts", "%d extensions have a teams_user, which needs %d accounts (each covers at most %d), found %d", users, need, MaxTeamsUsersPerAccount, len(t.Accounts))
	}
}
