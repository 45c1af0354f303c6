package configs

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Genesys configures the Genesys Cloud presence bridge, which reads the
// users' Genesys presence and routing status to light their lamps, and sets
// their Genesys presence from their Teams presence (through Mappings) and
// from their phone calls and manual statuses (through ToGenesys).
//
// ClientSecret holds the resolved secret whichever source it came from
// and, like Teams.ClientSecret, is kept out of String, GoString, Format,
// LogValue and JSON; fmt's %p of a Genesys value (not a pointer) is the
// one print that bypasses them. While Enabled is false only the form of
// the keys is checked: that client_id is given, the secret is read and
// ca_file holds a certificate are checked once it is true, so that a
// disabled section can be prepared ahead.
//
// The bridge reads Hosts for the URLs, Mapping for what a Teams presence
// sets and Rule for what a Genesys state lights.
type Genesys struct {
	Enabled          bool             `toml:"enabled"`                // default false
	Region           string           `toml:"region"`                 // a GenesysRegions code ("eu-west-1") or its domain ("mypurecloud.ie"); default DefaultGenesysRegion
	ClientID         string           `toml:"client_id"`              // OAuth client id (client credentials grant), a GUID; required when enabled
	ClientSecret     string           `toml:"client_secret" json:"-"` // at most ONE of client_secret, client_secret_file, client_secret_env; exactly one when enabled
	ClientSecretFile string           `toml:"client_secret_file"`     // file whose content (trailing newline trimmed) is the secret
	ClientSecretEnv  string           `toml:"client_secret_env"`      // environment variable holding the secret
	APIURL           string           `toml:"api_url"`                // default "https://api.<domain of region>", without /api/v2 (the bridge appends it)
	LoginURL         string           `toml:"login_url"`              // default "https://login.<domain of region>", without /oauth/token
	CAFile           string           `toml:"ca_file"`                // optional PEM file of extra CA certificates trusted for api_url and login_url
	Rate             int              `toml:"rate"`                   // requests per minute the bridge allows itself per token; default DefaultGenesysRate; 1..MaxGenesysRate
	ToGenesys        GenesysToGenesys `toml:"to_genesys"`             // what the gateway sets in Genesys for calls and manual statuses
	Mappings         []GenesysMapping `toml:"mappings"`               // Teams presence -> Genesys presence; left out = DefaultGenesysMappings; written = replaces them whole
	FromGenesys      []GenesysRule    `toml:"from_genesys"`           // what Genesys states light: the written rules, then the DefaultGenesysRules they do not override

	// resolved marks ClientSecret as filled from ClientSecretFile or
	// ClientSecretEnv, as Teams.resolved does.
	resolved bool
	// apiDerived and loginDerived are the URLs last derived from Region,
	// so that a Region changed in code before Validate derives them anew
	// while a URL set in code is kept.
	apiDerived, loginDerived string
}

// GenesysToGenesys names the Genesys presences the gateway sets for what
// happens on the phones. Each is a presence definition name, system or the
// org's own, resolved against the org by the bridge at start; "" leaves
// Genesys alone for that case.
type GenesysToGenesys struct {
	Phone string `toml:"phone"` // while a phone call lasts; default DefaultGenesysPhone
	DND   string `toml:"dnd"`   // for a Do Not Disturb set in the gateway; default DefaultGenesysDND
	Away  string `toml:"away"`  // for an Appear Away set in the gateway; default DefaultGenesysAway
}

// GenesysMapping is one row of the blueprint's MsTeamsPresenceMappings
// table: the Genesys presence a Teams presence value sets. See
// Genesys.Mapping for how a Teams presence finds its row.
type GenesysMapping struct {
	Teams    string `toml:"teams"`    // one TeamsAvailabilities or TeamsActivities value; unique
	Presence string `toml:"presence"` // Genesys presence definition name, system or secondary; required; never "On Queue"
	ID       string `toml:"id"`       // optional presence definition id, a GUID; the bridge checks that it names Presence
}

// GenesysRule says what a Genesys state lights. See Genesys.Rule for how a
// user's presence and routing status find their rule.
type GenesysRule struct {
	Match string `toml:"match"` // a GenesysSystemPresences name, a GenesysRoutingStatuses value, or an org's secondary presence name
	Lamp  string `toml:"lamp"`  // TeamsLampBusy, TeamsLampAway, TeamsLampOffline, TeamsLampAvailable or TeamsLampIgnore
	Note  string `toml:"note"`  // text for PIDF notes and the HUD; default derived from Match; at most MaxGenesysNote characters
}

// Defaults and bounds of [genesys].
const (
	DefaultGenesysRegion = "us-east-1"
	DefaultGenesysRate   = 240 // requests per minute
	MaxGenesysRate       = 300 // Genesys's client.credentials.token.rate.per.minute
	DefaultGenesysPhone  = "Busy"
	DefaultGenesysDND    = "Busy"
	DefaultGenesysAway   = "Away"
	MaxGenesysNote       = 64 // characters (runes) of GenesysRule.Note
	// GenesysOnQueue is the system presence of an agent taking ACD
	// interactions. The gateway never sets it: going on queue is the
	// agent's own choice.
	GenesysOnQueue = "On Queue"
)

const minGenesysRate = 1

// GenesysRegions maps each Genesys Cloud region code to its domain: the API
// is at https://api.DOMAIN and sign-in at https://login.DOMAIN.
var GenesysRegions = map[string]string{
	"us-east-1":      "mypurecloud.com",
	"eu-west-1":      "mypurecloud.ie",
	"ap-southeast-2": "mypurecloud.com.au",
	"ap-northeast-1": "mypurecloud.jp",
	"eu-central-1":   "mypurecloud.de",
	"us-west-2":      "usw2.pure.cloud",
	"ca-central-1":   "cac1.pure.cloud",
	"ap-northeast-2": "apne2.pure.cloud",
	"eu-west-2":      "euw2.pure.cloud",
	"ap-south-1":     "aps1.pure.cloud",
	"us-east-2":      "use2.us-gov-pure.cloud", // FedRAMP
	"sa-east-1":      "sae1.pure.cloud",
	"me-central-1":   "mec1.pure.cloud",
	"ap-northeast-3": "apne3.pure.cloud",
	"eu-central-2":   "euc2.pure.cloud",
	"mx-central-1":   "mxc1.pure.cloud",
	"ap-southeast-1": "apse1.pure.cloud",
}

// GenesysDomain returns the domain of a region given by its code or by its
// domain; ok is false for anything else.
func GenesysDomain(region string) (domain string, ok bool) {
	if d, ok := GenesysRegions[region]; ok {
		return d, true
	}
	for _, d := range GenesysRegions {
		if d == region {
			return d, true
		}
	}
	return "", false
}

// genesysRegionOfHost finds the region whose domain host ends in, for
// comparing URLs with each other and with region.
func genesysRegionOfHost(host string) (code string, ok bool) {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	best := ""
	for c, d := range GenesysRegions {
		// The longest domain wins: mypurecloud.com.au is not
		// mypurecloud.com.
		if (host == d || strings.HasSuffix(host, "."+d)) && len(d) > len(GenesysRegions[best]) {
			best = c
		}
	}
	return best, best != ""
}

// GenesysSystemPresences are the system presences, as the REST API writes
// a presence definition's systemPresence (title case with spaces).
var GenesysSystemPresences = []string{"Available", "Away", "Busy", "Offline", "Idle", "Meal", "Training", "Meeting", "Break", GenesysOnQueue}

// GenesysRoutingStatuses are the values of a user's routing status, in the
// upper snake case the API writes them.
var GenesysRoutingStatuses = []string{"OFF_QUEUE", "IDLE", "INTERACTING", "NOT_RESPONDING", "COMMUNICATING"}

// GenesysSystemPresence returns the REST (title case) name of a system
// presence given either that way ("On Queue") or as notifications and
// analytics write it ("ON_QUEUE"); ok is false for anything else.
func GenesysSystemPresence(name string) (title string, ok bool) {
	for _, p := range GenesysSystemPresences {
		if name == p || name == upperSnake(p) {
			return p, true
		}
	}
	return "", false
}

func upperSnake(s string) string { return strings.ToUpper(strings.ReplaceAll(s, " ", "_")) }

// foldGenesys is the form in which the two casings of a Genesys state
// compare equal: "On Queue", "ON_QUEUE" and "on queue" all give "on queue".
func foldGenesys(s string) string { return strings.ToLower(strings.ReplaceAll(s, "_", " ")) }

// genesysNotes words each default match for a person reading a HUD; a rule
// for a secondary presence whose note is left out gets the presence's name.
var genesysNotes = map[string]string{
	"Available":      "Available",
	"Away":           "Away",
	"Busy":           "Busy",
	"Offline":        "Offline",
	"Idle":           "Idle",
	"Meal":           "Meal",
	"Training":       "Training",
	"Meeting":        "Meeting",
	"Break":          "Break",
	GenesysOnQueue:   "On queue",
	"OFF_QUEUE":      "Off queue",
	"IDLE":           "On queue, idle",
	"INTERACTING":    "Interacting",
	"NOT_RESPONDING": "Not responding",
	"COMMUNICATING":  "On a call (Genesys)",
}

// genesysNote is the note a rule gets when the file gives none.
func genesysNote(match string) string {
	if n, ok := genesysNotes[match]; ok {
		return n
	}
	if checkText(match, MaxGenesysNote) == nil {
		return match
	}
	return ""
}

// DefaultGenesysMappings is genesys.mappings when the file leaves it out:
// exactly the rows of the blueprint's MsTeamsPresenceMappings table, by
// name. The ids are left empty: the bridge resolves names against the org
// at start. Each call returns a fresh slice.
func DefaultGenesysMappings() []GenesysMapping {
	table := []struct{ presence, teams string }{
		{"Available", "Available"},
		{"Away", "Away BeRightBack"},
		{"Busy", "Busy DoNotDisturb Focusing InACall InAMeeting"},
		{"Offline", "Offline OffWork"},
		{"Busy", "Presenting"},
	}
	var ms []GenesysMapping
	for _, row := range table {
		for _, name := range strings.Fields(row.teams) {
			ms = append(ms, GenesysMapping{Teams: name, Presence: row.presence})
		}
	}
	return ms
}

// DefaultGenesysRules is genesys.from_genesys when the file leaves it out;
// each call returns a fresh slice.
func DefaultGenesysRules() []GenesysRule {
	table := []struct{ lamp, names string }{
		{TeamsLampAvailable, "Available"},
		{TeamsLampAway, "Away Break Meal Training Idle"},
		{TeamsLampBusy, "Busy Meeting On_Queue"},
		{TeamsLampOffline, "Offline"},
		{TeamsLampBusy, "INTERACTING COMMUNICATING NOT_RESPONDING"},
		{TeamsLampIgnore, "IDLE OFF_QUEUE"},
	}
	var rules []GenesysRule
	for _, row := range table {
		for _, name := range strings.Fields(row.names) {
			if name == "On_Queue" {
				name = GenesysOnQueue
			}
			rules = append(rules, GenesysRule{Match: name, Lamp: row.lamp, Note: genesysNote(name)})
		}
	}
	return rules
}

// Mapping finds the Genesys presence for a Teams presence read from Graph
// or from Genesys's own Teams integration. The blueprint keys its table on
// one Teams value, so the row for the activity is taken first, else the
// row for the availability. A nil Mappings means DefaultGenesysMappings;
// ok is false when no row matches, and then Genesys is left alone.
func (g Genesys) Mapping(availability, activity string) (GenesysMapping, bool) {
	ms := g.Mappings
	if ms == nil {
		ms = DefaultGenesysMappings()
	}
	for _, want := range []string{activity, availability} {
		if want == "" {
			continue
		}
		for _, m := range ms {
			if m.Teams == want {
				return m, true
			}
		}
	}
	return GenesysMapping{}, false
}

// Rule finds the rule for a user's Genesys state. A rule for the routing
// status comes first unless its lamp is ignore, so an agent INTERACTING
// shows busy whatever their presence says; else the rule for the presence,
// given by its definition's name (a secondary presence's own name, or a
// system presence in either casing, "On Queue" or "ON_QUEUE"). ok is false
// when neither gives a rule (an ignored routing status leaves the decision
// to the presence), so a bridge that finds no rule for a secondary
// presence looks again with its system presence. A nil FromGenesys means
// DefaultGenesysRules; the caller treats a state that finds no rule as
// unknown.
func (g Genesys) Rule(presenceName, routingStatus string) (GenesysRule, bool) {
	rules := g.FromGenesys
	if rules == nil {
		rules = DefaultGenesysRules()
	}
	find := func(match string, routing bool) (GenesysRule, bool) {
		for _, r := range rules {
			if r.Match == match && slices.Contains(GenesysRoutingStatuses, r.Match) == routing {
				return r, true
			}
		}
		return GenesysRule{}, false
	}
	if slices.Contains(GenesysRoutingStatuses, routingStatus) {
		if r, ok := find(routingStatus, true); ok && r.Lamp != TeamsLampIgnore {
			return r, true
		}
	}
	if presenceName != "" {
		if title, ok := GenesysSystemPresence(presenceName); ok {
			presenceName = title
		}
		if r, ok := find(presenceName, false); ok {
			return r, true
		}
	}
	return GenesysRule{}, false
}

// Hosts returns the URLs the bridge talks to, without a trailing slash:
// api_url and login_url, or for either left empty the one derived from
// region ("" if region is not one).
func (g Genesys) Hosts() (api, login string) {
	api, login = g.APIURL, g.LoginURL
	if d, ok := GenesysDomain(g.Region); ok {
		if api == "" {
			api = "https://api." + d
		}
		if login == "" {
			login = "https://login." + d
		}
	}
	return strings.TrimRight(api, "/"), strings.TrimRight(login, "/")
}

// Check applies the rules of one [[genesys.mappings]] entry on its own,
// everything but uniqueness, for a tool that builds entries from another
// source. Each problem is a separate error (see errors.Join) naming its
// key: `teams: unknown Teams availability or activity "Availble" (did you
// mean "Available"?)`.
func (m GenesysMapping) Check() error {
	var errs []error
	add := func(key string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
	}
	if strings.TrimSpace(m.Teams) == "" {
		add("teams", errors.New("must not be empty"))
	} else {
		add("teams", checkGenesysTeams(m.Teams))
	}
	if strings.TrimSpace(m.Presence) == "" {
		add("presence", errors.New("must not be empty"))
	} else {
		add("presence", checkGenesysPresence(m.Presence))
	}
	if m.ID != "" {
		add("id", checkGenesysID(m.ID))
	}
	return errors.Join(errs...)
}

// IsGUID reports whether s is a GUID written the usual way, 8-4-4-4-12 hex
// digits without braces: the form of Genesys user, client and presence
// definition ids, and of Entra ids.
func IsGUID(s string) bool { return isGUID(s) }

// teamsValues is every Teams availability and activity, sorted, without
// repeats.
func teamsValues() []string {
	both := slices.Concat(TeamsAvailabilities, TeamsActivities)
	slices.Sort(both)
	return slices.Compact(both)
}

// checkGenesysTeams accepts one Teams availability or activity, the
// blueprint's key column.
func checkGenesysTeams(name string) error {
	if strings.Contains(name, "/") {
		return fmt.Errorf("%q: give one Teams availability or activity, not a pair (the activity's row is looked up first, then the availability's)", name)
	}
	return teamsName("Teams availability or activity", name, teamsValues())
}

func checkGenesysID(id string) error {
	if !isGUID(id) {
		return fmt.Errorf("%q is not a presence definition id, a GUID such as 6a3af858-942f-489d-9700-5f9bcdcdae9b", id)
	}
	return nil
}

// checkGenesysName applies the rules common to every Genesys state name
// the file writes: printable, valid UTF-8, no surrounding spaces.
func checkGenesysName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return errors.New("must not be blank")
	case !utf8.ValidString(name):
		return errors.New("must be valid UTF-8")
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("%q has spaces around it, which no presence name has", name)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fmt.Errorf("%q contains the control character %q", name, r)
		}
	}
	return nil
}

// checkGenesysPresence accepts a presence definition name the gateway may
// set: a system presence in the REST API's title case, or any other name
// (an org's secondary presence, checked by the bridge at start), never On
// Queue.
func checkGenesysPresence(name string) error {
	if err := checkGenesysName(name); err != nil {
		return err
	}
	if foldGenesys(name) == foldGenesys(GenesysOnQueue) {
		return fmt.Errorf("%q is refused: the gateway never puts an agent on queue, which is the agent's own choice", name)
	}
	if slices.Contains(GenesysSystemPresences, name) {
		return nil
	}
	for _, p := range GenesysSystemPresences {
		if foldGenesys(name) == foldGenesys(p) {
			return fmt.Errorf("%q: write the system presence as the REST API names it, %q", name, p)
		}
	}
	return nil
}

// checkGenesysMatch accepts a system presence in title case, a routing
// status in upper snake case, or any other name (a secondary presence).
// A known state in the other casing is refused, since it would be taken
// for a secondary presence and never match.
func checkGenesysMatch(m string) error {
	if err := checkGenesysName(m); err != nil {
		return err
	}
	if slices.Contains(GenesysSystemPresences, m) || slices.Contains(GenesysRoutingStatuses, m) {
		return nil
	}
	var presence, routing string
	for _, p := range GenesysSystemPresences {
		if foldGenesys(m) == foldGenesys(p) {
			presence = p
		}
	}
	for _, s := range GenesysRoutingStatuses {
		if foldGenesys(m) == foldGenesys(s) {
			routing = s
		}
	}
	const how = "system presences are written in title case as the REST API has them (\"On Queue\"), routing statuses in upper snake case (\"NOT_RESPONDING\")"
	switch {
	case presence != "" && routing != "":
		return fmt.Errorf("%q: %s: did you mean the presence %q or the routing status %q?", m, how, presence, routing)
	case presence != "":
		return fmt.Errorf("%q: %s: did you mean %q?", m, how, presence)
	case routing != "":
		return fmt.Errorf("%q: %s: did you mean %q?", m, how, routing)
	}
	return nil
}

// checkEmail accepts an address as Genesys stores a user's email: a local
// part of printable ASCII without spaces or the characters that need
// quoting, not starting or ending with a dot or holding two in a row, then
// @ and a domain.
func checkEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || len(local) > 64 || !isDomain(domain) ||
		local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return false
	}
	for _, r := range local {
		if r <= ' ' || r > '~' || strings.ContainsRune(`"(),:;<>@[\]`, r) {
			return false
		}
	}
	return true
}

// LogValue describes [genesys] without the client secret.
func (g Genesys) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.Bool("enabled", g.Enabled),
		slog.String("region", g.Region),
		slog.String("client_id", g.ClientID),
	}
	attrs = appendSecretAttrs(attrs, "client_secret", g.ClientSecret, g.ClientSecretFile, g.ClientSecretEnv)
	api, login := g.Hosts()
	attrs = append(attrs,
		slog.String("api_url", api),
		slog.String("login_url", login),
		slog.String("ca_file", g.CAFile),
		slog.Int("rate", g.Rate),
		slog.String("phone", g.ToGenesys.Phone),
		slog.String("dnd", g.ToGenesys.DND),
		slog.String("away", g.ToGenesys.Away),
		slog.Int("mappings", len(g.Mappings)),
		slog.Int("from_genesys", len(g.FromGenesys)),
	)
	return slog.GroupValue(attrs...)
}

// genesysFields has the fields of Genesys but none of its methods, so fmt
// prints it field by field once the secret is replaced.
type genesysFields Genesys

// String is what %v and %+v print: every field, the secret redacted.
func (g Genesys) String() string {
	f := genesysFields(g)
	f.ClientSecret = redact(f.ClientSecret)
	return fmt.Sprintf("%+v", f)
}

// GoString covers %#v.
func (g Genesys) GoString() string { return "configs.Genesys" + g.String() }

// Format makes every verb, %d and %x included, print String or GoString,
// never the fields themselves.
func (g Genesys) Format(s fmt.State, verb rune) { formatRedacted(s, verb, g) }

// genesysDefaults fills the [genesys] keys that are zero and not written.
// Like teamsDefaults it runs from Decode and again from Validate.
func (c *Config) genesysDefaults() {
	g := &c.Genesys
	setDefault(c, "genesys.region", &g.Region, DefaultGenesysRegion)
	domain, _ := GenesysDomain(g.Region)
	deriveURL(c, "genesys.api_url", &g.APIURL, &g.apiDerived, domain, "https://api.")
	deriveURL(c, "genesys.login_url", &g.LoginURL, &g.loginDerived, domain, "https://login.")
	setDefault(c, "genesys.rate", &g.Rate, DefaultGenesysRate)
	setDefault(c, "genesys.to_genesys.phone", &g.ToGenesys.Phone, DefaultGenesysPhone)
	setDefault(c, "genesys.to_genesys.dnd", &g.ToGenesys.DND, DefaultGenesysDND)
	setDefault(c, "genesys.to_genesys.away", &g.ToGenesys.Away, DefaultGenesysAway)

	// Mappings written replace the defaults whole, as the blueprint's
	// table does: a Teams value left out never updates Genesys.
	if g.Mappings == nil {
		if c.written("genesys.mappings") {
			g.Mappings = []GenesysMapping{}
		} else {
			g.Mappings = DefaultGenesysMappings()
		}
	}

	for i := range g.FromGenesys {
		r := &g.FromGenesys[i]
		if r.Note == "" && !c.written("genesys.from_genesys["+strconv.Itoa(i)+"].note") {
			r.Note = genesysNote(r.Match)
		}
	}
	// Written rules override the default rule with the same match and
	// add to the rest, as teams.from_teams does.
	for _, d := range DefaultGenesysRules() {
		if !slices.ContainsFunc(g.FromGenesys, func(r GenesysRule) bool { return r.Match == d.Match }) {
			g.FromGenesys = append(g.FromGenesys, d)
		}
	}
}

// deriveURL gives *field prefix+domain unless the file wrote it or the
// caller set it to something else than what was derived last time. With
// no domain (an unknown region, reported by the validator) a derived URL
// is dropped rather than left pointing at another region.
func deriveURL(c *Config, key string, field, derived *string, domain, prefix string) {
	if c.written(key) {
		*derived = ""
		return
	}
	if *field != "" && *field != *derived {
		return // set in code
	}
	want := ""
	if domain != "" {
		want = prefix + domain
	}
	*field, *derived = want, want
}

// genesys checks [genesys] and the extensions' genesys_user.
func (v *validator) genesys() {
	c := v.c
	c.genesysDefaults()
	g := &c.Genesys
	on := g.Enabled

	regionOK := false
	if v.required("genesys.region", g.Region) {
		if err := checkGenesysRegion(g.Region); err != nil {
			v.at("genesys.region", "%v", err)
		} else {
			regionOK = true
		}
	}
	if g.ClientID != "" && !isGUID(g.ClientID) {
		v.at("genesys.client_id", "%q is not an OAuth client id, a GUID such as 00000000-0000-0000-0000-000000000000", g.ClientID)
	} else if on {
		v.required("genesys.client_id", g.ClientID)
	}
	v.secret(secretRef{"genesys", "client_secret", &g.ClientSecret, g.ClientSecretFile, g.ClientSecretEnv, &g.resolved}, on, on)

	apiRegion := v.genesysURL("genesys.api_url", g.APIURL, "https://api.mypurecloud.com", func(u *url.URL) string {
		if strings.HasSuffix(strings.TrimRight(u.Path, "/"), "/api/v2") {
			return "leave out /api/v2, which the bridge appends"
		}
		return ""
	})
	loginRegion := v.genesysURL("genesys.login_url", g.LoginURL, "https://login.mypurecloud.com", func(u *url.URL) string {
		if strings.Contains(u.Path, "oauth") {
			return "give the host only; the bridge appends /oauth/token"
		}
		return ""
	})
	// A token from one region is refused by every other, so URLs on
	// Genesys hosts must be in the region.
	if regionOK {
		code := g.Region
		if _, ok := GenesysRegions[code]; !ok {
			code, _ = genesysRegionOfHost(code)
		}
		dflt := ""
		if !v.written("genesys.region") {
			dflt = " (the default)"
		}
		for _, u := range []struct{ key, value, region string }{
			{"genesys.api_url", g.APIURL, apiRegion},
			{"genesys.login_url", g.LoginURL, loginRegion},
		} {
			if u.region != "" && u.region != code {
				v.at(u.key, "%q is in region %s but region is %s%s, and a token from one region is refused by the other: set region = %q and leave api_url and login_url out", u.value, u.region, code, dflt, u.region)
			}
		}
	}
	if on && g.CAFile != "" {
		v.caFile("genesys.ca_file", g.CAFile)
	}
	if g.Rate < minGenesysRate || g.Rate > MaxGenesysRate {
		v.at("genesys.rate", "must be between %d and %d requests per minute (Genesys allows %d per client-credentials token), got %d", minGenesysRate, MaxGenesysRate, MaxGenesysRate, g.Rate)
	}

	for _, p := range []struct{ key, val string }{
		{"genesys.to_genesys.phone", g.ToGenesys.Phone},
		{"genesys.to_genesys.dnd", g.ToGenesys.DND},
		{"genesys.to_genesys.away", g.ToGenesys.Away},
	} {
		if p.val == "" {
			continue // leave Genesys alone
		}
		if err := checkGenesysPresence(p.val); err != nil {
			v.at(p.key, "%v", err)
		}
	}

	v.genesysMappings()
	v.genesysRules()
	v.genesysUsers()
}

// checkGenesysRegion accepts a region code or its domain, and words the
// usual slips: a typo, an API host or a URL.
func checkGenesysRegion(r string) error {
	if _, ok := GenesysDomain(r); ok {
		return nil
	}
	codes := slices.Sorted(maps.Keys(GenesysRegions))
	host := r
	if u, err := url.Parse(r); err == nil && u.Host != "" {
		host = u.Hostname()
	}
	if code, ok := genesysRegionOfHost(host); ok {
		return fmt.Errorf("%q: give the region code %q or its domain %q; set api_url and login_url only for other hosts", r, code, GenesysRegions[code])
	}
	candidates := slices.Concat(codes, slices.Sorted(maps.Values(GenesysRegions)))
	if s := suggest(r, candidates); s != "" {
		return fmt.Errorf("unknown region %q (did you mean %q?)", r, s)
	}
	return fmt.Errorf("unknown region %q: give a region code such as \"us-east-1\" or \"eu-west-1\", or its domain such as \"mypurecloud.ie\" (codes: %s)", r, strings.Join(codes, ", "))
}

// genesysURL checks api_url or login_url when the file wrote it or it was
// derived, and returns the region of its host when it is a Genesys one.
func (v *validator) genesysURL(key, value, example string, extra func(*url.URL) string) string {
	if value == "" && !v.written(key) {
		return "" // an unknown region left nothing to derive from
	}
	u, err := checkHTTPURL(value, example)
	if err != nil {
		v.at(key, "%v", err)
		return ""
	}
	if msg := extra(u); msg != "" {
		v.at(key, "%q: %s", value, msg)
		return ""
	}
	code, _ := genesysRegionOfHost(u.Hostname())
	return code
}

func (v *validator) genesysMappings() {
	ms := v.c.Genesys.Mappings
	seen := map[string]int{}
	idOf := map[string]int{}   // presence name -> first mapping giving it an id
	nameOf := map[string]int{} // lower-case id -> first mapping having it
	for i, m := range ms {
		key := "genesys.mappings[" + strconv.Itoa(i) + "]"
		if v.required(key+".teams", m.Teams) {
			if err := checkGenesysTeams(m.Teams); err != nil {
				v.at(key+".teams", "%v", err)
			} else if j, dup := seen[m.Teams]; dup {
				v.at(key+".teams", "duplicate teams %q (also genesys.mappings[%d])", m.Teams, j)
			} else {
				seen[m.Teams] = i
			}
		}
		presenceOK := false
		if v.required(key+".presence", m.Presence) {
			if err := checkGenesysPresence(m.Presence); err != nil {
				v.at(key+".presence", "%v", err)
			} else {
				presenceOK = true
			}
		}
		if m.ID == "" {
			if v.written(key + ".id") {
				v.at(key+".id", "must not be empty (leave id out to resolve the presence by name)")
			}
			continue
		}
		if err := checkGenesysID(m.ID); err != nil {
			v.at(key+".id", "%v", err)
			continue
		}
		if !presenceOK {
			continue
		}
		// One presence has one id, and one id names one presence.
		id := strings.ToLower(m.ID)
		switch j, ok := idOf[m.Presence]; {
		case ok && !strings.EqualFold(ms[j].ID, m.ID):
			v.at(key+".id", "%s: presence %q already has id %s (genesys.mappings[%d]), and one presence has one id", m.ID, m.Presence, ms[j].ID, j)
			continue
		case !ok:
			idOf[m.Presence] = i
		}
		switch j, ok := nameOf[id]; {
		case ok && ms[j].Presence != m.Presence:
			v.at(key+".id", "%s already names presence %q (genesys.mappings[%d]), so it cannot name %q", m.ID, ms[j].Presence, j, m.Presence)
		case !ok:
			nameOf[id] = i
		}
	}
}

func (v *validator) genesysRules() {
	seen := map[string]int{}
	for i, r := range v.c.Genesys.FromGenesys {
		key := "genesys.from_genesys[" + strconv.Itoa(i) + "]"
		if v.required(key+".match", r.Match) {
			if err := checkGenesysMatch(r.Match); err != nil {
				v.at(key+".match", "%v", err)
			} else if j, dup := seen[r.Match]; dup {
				v.at(key+".match", "duplicate match %q (also genesys.from_genesys[%d])", r.Match, j)
			} else {
				seen[r.Match] = i
			}
		}
		if v.required(key+".lamp", r.Lamp) {
			v.oneOf(key+".lamp", "lamp", r.Lamp, TeamsLamps)
		}
		if err := checkText(r.Note, MaxGenesysNote); err != nil {
			v.at(key+".note", "%v", err)
		}
	}
}

// genesysUsers checks each extension's genesys_user: a user id or an
// email, each user at most once.
func (v *validator) genesysUsers() {
	seen := map[string]int{} // lower case -> extension index
	for i, e := range v.c.Extensions {
		if e.GenesysUser == "" {
			continue
		}
		key := "extensions[" + strconv.Itoa(i) + "].genesys_user"
		lower := strings.ToLower(e.GenesysUser)
		switch j, dup := seen[lower]; {
		case !isGUID(e.GenesysUser) && !checkEmail(e.GenesysUser):
			v.at(key, "%q is neither a Genesys Cloud user id (GUID) nor an email address such as alice@example.com", e.GenesysUser)
		case dup:
			v.at(key, "duplicate genesys_user %q (also extensions[%d])", e.GenesysUser, j)
		default:
			seen[lower] = i
		}
	}
}
