package configs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const (
	// okGenesys opens [genesys] after a valid file, so the keys under test
	// start at line 7 and the table header is 6:1.
	okGenesys = okSIP + okExt + "[genesys]\n" // lines 1-6
	// genesysOn enables the bridge with every required key, lines 7-9;
	// keys under test then start at line 10.
	genesysOn  = "enabled = true\nclient_id = \"11111111-2222-3333-4444-555555555555\"\nclient_secret = \"s3cret\"\n"
	genesysID1 = "6a3af858-942f-489d-9700-5f9bcdcdae9b"
)

// genesysOnWithout is genesysOn without its secret line, for tests of the
// other sources, which then go at line 9.
var genesysOnWithout = genesysOn[:strings.Index(genesysOn, "client_secret")]

// defaultGenesys is [genesys] with every key left out of the file.
func defaultGenesys() Genesys {
	return Genesys{
		Region:       "us-east-1",
		APIURL:       "https://api.mypurecloud.com",
		LoginURL:     "https://login.mypurecloud.com",
		Rate:         240,
		ToGenesys:    GenesysToGenesys{Phone: "Busy", DND: "Busy", Away: "Away"},
		Mappings:     DefaultGenesysMappings(),
		FromGenesys:  DefaultGenesysRules(),
		apiDerived:   "https://api.mypurecloud.com",
		loginDerived: "https://login.mypurecloud.com",
	}
}

// builtInCode is a valid Config as a program would build it, without a
// file.
func builtInCode() *Config {
	return &Config{
		Log:        Log{Level: "info", Format: "text"},
		SIP:        SIP{Domain: "pbx.test", Listen: []string{"udp:127.0.0.1:0"}, MinExpires: 1, MaxExpires: 10, DefaultExpires: 5, NotifyTimeouts: 1},
		HTTP:       HTTP{Listen: "127.0.0.1:0"},
		Store:      Store{Path: "x.db"},
		Extensions: []Extension{{Number: "1", Name: "One", Role: "user", GenesysUser: "one@example.com"}},
	}
}

func TestGenesysDefaults(t *testing.T) {
	for name, doc := range map[string]string{
		"no [genesys]":    okSIP + okExt,
		"empty [genesys]": okGenesys,
		"empty tables":    okGenesys + "[genesys.to_genesys]\n",
		"disabled":        okGenesys + "enabled = false\n",
	} {
		c, err := Parse("t.toml", []byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(c.Genesys, defaultGenesys()) {
			t.Errorf("%s: Genesys = %+v\nwant %+v", name, c.Genesys, defaultGenesys())
		}
	}

	// The exported constants are what the file gets.
	if DefaultGenesysRegion != "us-east-1" || DefaultGenesysRate != 240 || MaxGenesysRate != 300 ||
		DefaultGenesysPhone != "Busy" || DefaultGenesysDND != "Busy" || DefaultGenesysAway != "Away" ||
		MaxGenesysNote != 64 || GenesysOnQueue != "On Queue" {
		t.Error("the exported defaults differ from the documented ones")
	}

	// Decode alone fills them, for a caller that overrides before
	// validating.
	c, err := Decode("t.toml", []byte(okSIP+okExt))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Genesys, defaultGenesys()) {
		t.Errorf("after Decode: %+v", c.Genesys)
	}

	// A Config built in code gets them from Validate...
	c = builtInCode()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Genesys, defaultGenesys()) {
		t.Errorf("built in code: %+v", c.Genesys)
	}
	// ... follows a region changed in code, but keeps a URL set in code...
	c.Genesys.Region = "eu-west-1"
	c.Genesys.LoginURL = "http://127.0.0.1:9000"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if api, login := c.Genesys.Hosts(); api != "https://api.mypurecloud.ie" || login != "http://127.0.0.1:9000" ||
		c.Genesys.APIURL != "https://api.mypurecloud.ie" {
		t.Errorf("region changed in code: %q %q (APIURL %q)", api, login, c.Genesys.APIURL)
	}
	// ... and its problems have no position.
	c.Genesys = Genesys{Enabled: true, Region: "eu-wset-1", Rate: 301, ToGenesys: GenesysToGenesys{Phone: "ON_QUEUE"}}
	checkProblems(t, c.Validate(), []string{
		`genesys.region: unknown region "eu-wset-1" (did you mean "eu-west-1"?)`,
		`genesys: missing required key "client_id"`,
		`genesys: missing required key "client_secret" (or client_secret_file or client_secret_env)`,
		`genesys.rate: must be between 1 and 300 requests per minute (Genesys allows 300 per client-credentials token), got 301`,
		`genesys.to_genesys.phone: "ON_QUEUE" is refused: the gateway never puts an agent on queue, which is the agent's own choice`,
	})
	// An unknown region leaves no URL behind to be checked as well.
	if c.Genesys.APIURL != "" || c.Genesys.LoginURL != "" {
		t.Errorf("unknown region: %q %q", c.Genesys.APIURL, c.Genesys.LoginURL)
	}
}

func TestDefaultGenesysMappings(t *testing.T) {
	// The blueprint's MsTeamsPresenceMappings table, in its order, by name.
	want := []GenesysMapping{
		{Teams: "Available", Presence: "Available"},
		{Teams: "Away", Presence: "Away"},
		{Teams: "BeRightBack", Presence: "Away"},
		{Teams: "Busy", Presence: "Busy"},
		{Teams: "DoNotDisturb", Presence: "Busy"},
		{Teams: "Focusing", Presence: "Busy"},
		{Teams: "InACall", Presence: "Busy"},
		{Teams: "InAMeeting", Presence: "Busy"},
		{Teams: "Offline", Presence: "Offline"},
		{Teams: "OffWork", Presence: "Offline"},
		{Teams: "Presenting", Presence: "Busy"},
	}
	got := DefaultGenesysMappings()
	if !slices.Equal(got, want) {
		t.Errorf("DefaultGenesysMappings() =\n%v\nwant\n%v", got, want)
	}
	got[0].Presence = "Away"
	if DefaultGenesysMappings()[0].Presence != "Available" {
		t.Error("DefaultGenesysMappings shares its slice")
	}
	for _, m := range want {
		if err := m.Check(); err != nil {
			t.Errorf("default mapping %+v: %v", m, err)
		}
	}
}

func TestDefaultGenesysRules(t *testing.T) {
	want := []GenesysRule{
		{"Available", "available", "Available"},
		{"Away", "away", "Away"},
		{"Break", "away", "Break"},
		{"Meal", "away", "Meal"},
		{"Training", "away", "Training"},
		{"Idle", "away", "Idle"},
		{"Busy", "busy", "Busy"},
		{"Meeting", "busy", "Meeting"},
		{"On Queue", "busy", "On queue"},
		{"Offline", "offline", "Offline"},
		{"INTERACTING", "busy", "Interacting"},
		{"COMMUNICATING", "busy", "On a call (Genesys)"},
		{"NOT_RESPONDING", "busy", "Not responding"},
		{"IDLE", "ignore", "On queue, idle"},
		{"OFF_QUEUE", "ignore", "Off queue"},
	}
	got := DefaultGenesysRules()
	if !slices.Equal(got, want) {
		t.Errorf("DefaultGenesysRules() =\n%v\nwant\n%v", got, want)
	}
	got[0].Lamp = "ignore"
	if DefaultGenesysRules()[0].Lamp != "available" {
		t.Error("DefaultGenesysRules shares its slice")
	}
	// Every system presence and routing status has a default rule and a
	// note, and the defaults are valid rules.
	for _, n := range slices.Concat(GenesysSystemPresences, GenesysRoutingStatuses) {
		if !slices.ContainsFunc(want, func(r GenesysRule) bool { return r.Match == n }) {
			t.Errorf("no default rule for %s", n)
		}
		if genesysNotes[n] == "" {
			t.Errorf("no note for %s", n)
		}
	}
	for _, r := range want {
		if err := checkGenesysMatch(r.Match); err != nil {
			t.Errorf("default rule %q: %v", r.Match, err)
		}
	}
}

func TestGenesysStateSets(t *testing.T) {
	if !slices.Equal(GenesysSystemPresences, []string{"Available", "Away", "Busy", "Offline", "Idle", "Meal", "Training", "Meeting", "Break", "On Queue"}) {
		t.Errorf("GenesysSystemPresences = %q", GenesysSystemPresences)
	}
	if !slices.Equal(GenesysRoutingStatuses, []string{"OFF_QUEUE", "IDLE", "INTERACTING", "NOT_RESPONDING", "COMMUNICATING"}) {
		t.Errorf("GenesysRoutingStatuses = %q", GenesysRoutingStatuses)
	}
	for in, want := range map[string]string{
		"On Queue": "On Queue", "ON_QUEUE": "On Queue", "AVAILABLE": "Available", "Idle": "Idle", "IDLE": "Idle",
		"on queue": "", "Lunch": "", "OFF_QUEUE": "", "": "",
	} {
		if got, ok := GenesysSystemPresence(in); got != want || ok != (want != "") {
			t.Errorf("GenesysSystemPresence(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for in, want := range map[string]bool{
		genesysID1: true, strings.ToUpper(genesysID1): true, "{" + genesysID1 + "}": false,
		genesysID1[:35]: false, "alice@example.com": false, "": false,
	} {
		if IsGUID(in) != want {
			t.Errorf("IsGUID(%q) = %v", in, !want)
		}
	}
}

func TestGenesysRegions(t *testing.T) {
	// CLOUD-APIS.md 5.1: every region and its API host.
	want := map[string]string{
		"us-east-1":      "api.mypurecloud.com",
		"eu-west-1":      "api.mypurecloud.ie",
		"ap-southeast-2": "api.mypurecloud.com.au",
		"ap-northeast-1": "api.mypurecloud.jp",
		"eu-central-1":   "api.mypurecloud.de",
		"us-west-2":      "api.usw2.pure.cloud",
		"ca-central-1":   "api.cac1.pure.cloud",
		"ap-northeast-2": "api.apne2.pure.cloud",
		"eu-west-2":      "api.euw2.pure.cloud",
		"ap-south-1":     "api.aps1.pure.cloud",
		"us-east-2":      "api.use2.us-gov-pure.cloud",
		"sa-east-1":      "api.sae1.pure.cloud",
		"me-central-1":   "api.mec1.pure.cloud",
		"ap-northeast-3": "api.apne3.pure.cloud",
		"eu-central-2":   "api.euc2.pure.cloud",
		"mx-central-1":   "api.mxc1.pure.cloud",
		"ap-southeast-1": "api.apse1.pure.cloud",
	}
	if len(GenesysRegions) != 17 || len(want) != 17 {
		t.Fatalf("%d regions", len(GenesysRegions))
	}
	for code, host := range want {
		domain := strings.TrimPrefix(host, "api.")
		if GenesysRegions[code] != domain {
			t.Errorf("GenesysRegions[%s] = %q, want %q", code, GenesysRegions[code], domain)
		}
		// Written as its code or its domain, a region gives the same
		// hosts.
		for _, region := range []string{code, domain} {
			if d, ok := GenesysDomain(region); !ok || d != domain {
				t.Errorf("GenesysDomain(%q) = %q, %v", region, d, ok)
			}
			c, err := Parse("t.toml", []byte(okGenesys+"region = \""+region+"\"\n"))
			if err != nil {
				t.Fatalf("%s: %v", region, err)
			}
			api, login := c.Genesys.Hosts()
			if api != "https://"+host || login != "https://login."+domain || c.Genesys.APIURL != api || c.Genesys.LoginURL != login {
				t.Errorf("region %s: Hosts() = %q, %q", region, api, login)
			}
		}
		if got, ok := genesysRegionOfHost("login." + domain); !ok || got != code {
			t.Errorf("genesysRegionOfHost(login.%s) = %q", domain, got)
		}
	}
	if _, ok := GenesysDomain("api.mypurecloud.com"); ok {
		t.Error("GenesysDomain takes a host")
	}

	// Hosts: the URLs as written, without a trailing slash; derived for
	// those left empty in code.
	for _, tt := range []struct {
		g          Genesys
		api, login string
	}{
		{Genesys{Region: "eu-west-1"}, "https://api.mypurecloud.ie", "https://login.mypurecloud.ie"},
		{Genesys{Region: "mypurecloud.jp", APIURL: "http://127.0.0.1:8080/"}, "http://127.0.0.1:8080", "https://login.mypurecloud.jp"},
		{Genesys{Region: "mars-1", APIURL: "https://a.test", LoginURL: "https://l.test/x/"}, "https://a.test", "https://l.test/x"},
		{Genesys{Region: "mars-1"}, "", ""},
	} {
		if api, login := tt.g.Hosts(); api != tt.api || login != tt.login {
			t.Errorf("%+v: Hosts() = %q, %q; want %q, %q", tt.g, api, login, tt.api, tt.login)
		}
	}
}

func TestGenesysDecode(t *testing.T) {
	dir := t.TempDir()
	ca := writeCA(t, dir)
	doc := okGenesys + genesysOn + `region = "mypurecloud.ie"
api_url = "http://127.0.0.1:8443/"
login_url = "https://login.mypurecloud.ie"
ca_file = "` + ca + `"
rate = 300
[genesys.to_genesys]
phone = "On a call"
dnd = ""
away = "Break"
[[genesys.mappings]]
teams = "InAMeeting"
presence = "Meeting"
[[genesys.mappings]]
teams = "Away"
presence = "Lunch"
id = "` + strings.ToUpper(genesysID1) + `"
[[genesys.from_genesys]]
match = "Lunch"
lamp = "away"
[[genesys.from_genesys]]
match = "INTERACTING"
lamp = "busy"
note = "On an ACD call"
[[genesys.from_genesys]]
match = "Meal"
lamp = "offline"
note = ""
`
	c, err := Parse("t.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := Genesys{
		Enabled:      true,
		Region:       "mypurecloud.ie",
		ClientID:     "11111111-2222-3333-4444-555555555555",
		ClientSecret: "s3cret",
		APIURL:       "http://127.0.0.1:8443/",
		LoginURL:     "https://login.mypurecloud.ie",
		CAFile:       ca,
		Rate:         300,
		ToGenesys:    GenesysToGenesys{Phone: "On a call", DND: "", Away: "Break"},
		// Written mappings replace the defaults whole.
		Mappings: []GenesysMapping{
			{Teams: "InAMeeting", Presence: "Meeting"},
			{Teams: "Away", Presence: "Lunch", ID: strings.ToUpper(genesysID1)},
		},
		FromGenesys: []GenesysRule{
			// A note left out is derived from the match (a secondary
			// presence's is its name); one written empty stays empty.
			{Match: "Lunch", Lamp: "away", Note: "Lunch"},
			{Match: "INTERACTING", Lamp: "busy", Note: "On an ACD call"},
			{Match: "Meal", Lamp: "offline", Note: ""},
		},
	}
	// Written rules override the default rule with the same match and
	// leave the others, after them.
	for _, d := range DefaultGenesysRules() {
		if d.Match != "INTERACTING" && d.Match != "Meal" {
			want.FromGenesys = append(want.FromGenesys, d)
		}
	}
	if !reflect.DeepEqual(c.Genesys, want) {
		t.Errorf("Genesys =\n%+v\nwant\n%+v", c.Genesys, want)
	}
	if api, login := c.Genesys.Hosts(); api != "http://127.0.0.1:8443" || login != "https://login.mypurecloud.ie" {
		t.Errorf("Hosts() = %q, %q", api, login)
	}

	// Dotted keys and inline tables land in the same places; an empty
	// mappings array is a table of no rows, and an empty from_genesys
	// overrides nothing.
	doc = "genesys.enabled = false\ngenesys.to_genesys.phone = \"Meeting\"\ngenesys.mappings = []\ngenesys.from_genesys = []\n" +
		"genesys.rate = 1\n" + okSIP + okExt
	c, err = Parse("t.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if c.Genesys.ToGenesys.Phone != "Meeting" || c.Genesys.ToGenesys.Away != "Away" || c.Genesys.Rate != 1 ||
		c.Genesys.Mappings == nil || len(c.Genesys.Mappings) != 0 ||
		!reflect.DeepEqual(c.Genesys.FromGenesys, DefaultGenesysRules()) {
		t.Errorf("dotted keys: %+v", c.Genesys)
	}
	if m, ok := c.Genesys.Mapping("Available", "Available"); ok {
		t.Errorf("mappings = []: Mapping = %+v", m)
	}
	c, err = Parse("t.toml", []byte(okGenesys+"mappings = [{ teams = \"Busy\", presence = \"Busy\", id = \""+genesysID1[:8]+"-0000-0000-0000-000000000000\" }]\n"+
		"to_genesys = { phone = \"\" }\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Genesys.Mappings) != 1 || c.Genesys.ToGenesys.Phone != "" || c.Genesys.ToGenesys.DND != "Busy" {
		t.Errorf("inline: %+v", c.Genesys)
	}
}

func TestGenesysMapping(t *testing.T) {
	type want struct {
		presence string
		ok       bool
	}
	check := func(name string, g Genesys, tests map[[2]string]want) {
		t.Helper()
		for in, w := range tests {
			m, ok := g.Mapping(in[0], in[1])
			if ok != w.ok || m.Presence != w.presence {
				t.Errorf("%s: Mapping(%s, %s) = %+v, %v; want %+v", name, in[0], in[1], m, ok, w)
			}
		}
	}
	defaults := map[[2]string]want{
		{"Available", "Available"}:        {"Available", true},
		{"Busy", "InACall"}:               {"Busy", true},
		{"DoNotDisturb", "Presenting"}:    {"Busy", true},
		{"Away", "Away"}:                  {"Away", true},
		{"BeRightBack", "BeRightBack"}:    {"Away", true},
		{"Offline", "OffWork"}:            {"Offline", true},
		{"Focusing", ""}:                  {"Busy", true},
		{"", "InAMeeting"}:                {"Busy", true},
		{"Available", "OutOfOffice"}:      {"Available", true}, // no OutOfOffice row: the availability's
		{"AvailableIdle", "Inactive"}:     {"", false},         // neither has a row: leave Genesys alone
		{"PresenceUnknown", "Presenting"}: {"Busy", true},
		{"", ""}:                          {"", false},
	}
	c, err := Parse("t.toml", []byte(okSIP+okExt))
	if err != nil {
		t.Fatal(err)
	}
	check("defaults", c.Genesys, defaults)
	check("zero Genesys", Genesys{}, defaults)

	// A replaced table: the activity's row beats the availability's
	// whatever their order, and the values left out are unmapped.
	doc := okGenesys + `[[genesys.mappings]]
teams = "Busy"
presence = "Meeting"
[[genesys.mappings]]
teams = "InACall"
presence = "Busy"
[[genesys.mappings]]
teams = "Away"
presence = "Lunch"
`
	c, err = Parse("t.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	check("replaced", c.Genesys, map[[2]string]want{
		{"Busy", "InACall"}:            {"Busy", true},    // activity
		{"Busy", "InAMeeting"}:         {"Meeting", true}, // availability
		{"Busy", "Busy"}:               {"Meeting", true},
		{"Away", "Away"}:               {"Lunch", true},
		{"Available", "Available"}:     {"", false}, // no longer mapped
		{"BeRightBack", "BeRightBack"}: {"", false},
		{"Offline", "OffWork"}:         {"", false},
		{"DoNotDisturb", "Presenting"}: {"", false},
	})
}

func TestGenesysRule(t *testing.T) {
	type want struct {
		lamp, note string
		ok         bool
	}
	check := func(name string, g Genesys, tests map[[2]string]want) {
		t.Helper()
		for in, w := range tests {
			r, ok := g.Rule(in[0], in[1])
			if ok != w.ok || r.Lamp != w.lamp || r.Note != w.note {
				t.Errorf("%s: Rule(%q, %q) = %+v, %v; want %+v", name, in[0], in[1], r, ok, w)
			}
		}
	}
	defaults := map[[2]string]want{
		{"Available", "OFF_QUEUE"}:     {"available", "Available", true},
		{"Available", ""}:              {"available", "Available", true},
		{"Break", "OFF_QUEUE"}:         {"away", "Break", true},
		{"Meeting", "OFF_QUEUE"}:       {"busy", "Meeting", true},
		{"On Queue", "IDLE"}:           {"busy", "On queue", true},            // IDLE is ignore: the presence decides
		{"On Queue", "INTERACTING"}:    {"busy", "Interacting", true},         // the routing status shows over the presence
		{"Available", "COMMUNICATING"}: {"busy", "On a call (Genesys)", true}, // even over available
		{"Away", "NOT_RESPONDING"}:     {"busy", "Not responding", true},
		{"ON_QUEUE", "IDLE"}:           {"busy", "On queue", true}, // the notifications' casing
		{"IDLE", "OFF_QUEUE"}:          {"away", "Idle", true},     // the presence Idle, not the routing status
		{"OFFLINE", ""}:                {"offline", "Offline", true},
		{"Lunch", "OFF_QUEUE"}:         {"", "", false},        // no rule for the presence: the caller tries its system presence
		{"Lunch", ""}:                  {"", "", false},        // nothing: unknown
		{"", "IDLE"}:                   {"", "", false},        // an ignored routing status alone decides nothing
		{"Busy", "Available"}:          {"busy", "Busy", true}, // not a routing status: ignored
		{"INTERACTING", ""}:            {"", "", false},        // a routing status is no presence
		{"", ""}:                       {"", "", false},
	}
	c, err := Parse("t.toml", []byte(okSIP+okExt))
	if err != nil {
		t.Fatal(err)
	}
	check("defaults", c.Genesys, defaults)
	check("zero Genesys", Genesys{}, defaults)

	doc := okGenesys + `[[genesys.from_genesys]]
match = "IDLE"
lamp = "available"
note = "Waiting for calls"
[[genesys.from_genesys]]
match = "INTERACTING"
lamp = "ignore"
[[genesys.from_genesys]]
match = "Lunch"
lamp = "away"
[[genesys.from_genesys]]
match = "On Queue"
lamp = "available"
`
	c, err = Parse("t.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	check("override", c.Genesys, map[[2]string]want{
		{"On Queue", "IDLE"}:        {"available", "Waiting for calls", true}, // a routing rule no longer ignore wins
		{"On Queue", "INTERACTING"}: {"available", "On queue", true},          // an ignored routing status: the presence's
		{"Lunch", "OFF_QUEUE"}:      {"away", "Lunch", true},
		{"Busy", "COMMUNICATING"}:   {"busy", "On a call (Genesys)", true}, // the defaults not overridden stay
		{"Meal", ""}:                {"away", "Meal", true},
	})
}

// TestGenesysProblems checks each [genesys] rule. Documents are okGenesys
// (lines 1-6, [genesys] at 6:1) followed by the keys under test from line 7.
func TestGenesysProblems(t *testing.T) {
	const envUnset = "BLFGW_TEST_GENESYS_UNSET"
	const envEmpty = "BLFGW_TEST_GENESYS_EMPTY"
	t.Setenv(envUnset, "")
	os.Unsetenv(envUnset)
	t.Setenv(envEmpty, "")
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	notPEM := filepath.Join(dir, "not.pem")
	for f, content := range map[string]string{empty: "\n", notPEM: "not a certificate\n"} {
		if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const onQueue = ` is refused: the gateway never puts an agent on queue, which is the agent's own choice`
	const casing = `system presences are written in title case as the REST API has them ("On Queue"), routing statuses in upper snake case ("NOT_RESPONDING")`
	const lamps = `(want "busy", "away", "offline", "available" or "ignore")`
	const regionMismatch = `, and a token from one region is refused by the other: set region = "eu-west-1" and leave api_url and login_url out`
	m := func(teams, presence string) string { // a mapping, 3 lines
		return fmt.Sprintf("[[genesys.mappings]]\nteams = %q\npresence = %q\n", teams, presence)
	}

	tests := []struct {
		name string
		keys string
		want []string // nil: the document is valid
	}{
		// enabled and the required keys
		{"disabled needs nothing", "enabled = false\n", nil},
		{"enabled needs client_id and a secret", "enabled = true\n", []string{
			`t.toml:6:1: genesys: missing required key "client_id"`,
			`t.toml:6:1: genesys: missing required key "client_secret" (or client_secret_file or client_secret_env)`}},
		{"enabled with empty keys", "enabled = true\nclient_id = \"\"\nclient_secret_env = \"\"\n", []string{
			`t.toml:8:13: genesys.client_id: must not be empty`,
			`t.toml:9:21: genesys.client_secret_env: must not be empty`}},
		{"enabled", genesysOn, nil},
		{"client_id upper case", "client_id = \"" + strings.ToUpper(genesysID1) + "\"\n", nil},
		{"client_id checked while disabled", "client_id = \"blfgw-client\"\n", []string{
			`t.toml:7:13: genesys.client_id: "blfgw-client" is not an OAuth client id, a GUID such as 00000000-0000-0000-0000-000000000000`}},
		{"client_id blank", "enabled = true\nclient_id = \" \"\nclient_secret = \"x\"\n", []string{
			`t.toml:8:13: genesys.client_id: " " is not an OAuth client id, a GUID such as 00000000-0000-0000-0000-000000000000`}},

		// the secret sources
		{"two secret sources", "client_secret = \"x\"\nclient_secret_file = \"/f\"\n", []string{
			`t.toml:6:1: genesys: give at most one of client_secret, client_secret_file and client_secret_env (found client_secret and client_secret_file)`}},
		{"two secret sources when enabled", genesysOn + "client_secret_env = \"X\"\n", []string{
			`t.toml:6:1: genesys: give at most one of client_secret, client_secret_file and client_secret_env (found client_secret and client_secret_env)`}},
		{"secret sources not read while disabled", "client_secret_file = \"/nonexistent/secret\"\nclient_secret_env = \"\"\n", nil},
		{"secret env unset", genesysOnWithout + "client_secret_env = \"" + envUnset + "\"\n", []string{
			`t.toml:9:21: genesys.client_secret_env: environment variable ` + envUnset + ` is not set`}},
		{"secret env empty", genesysOnWithout + "client_secret_env = \"" + envEmpty + "\"\n", []string{
			`t.toml:9:21: genesys.client_secret_env: environment variable ` + envEmpty + ` is empty`}},
		{"secret file missing", genesysOnWithout + "client_secret_file = \"/nonexistent/secret\"\n", []string{
			`t.toml:9:22: genesys.client_secret_file: open /nonexistent/secret: no such file or directory`}},
		{"secret file empty", genesysOnWithout + "client_secret_file = \"" + empty + "\"\n", []string{
			fmt.Sprintf(`t.toml:9:22: genesys.client_secret_file: %q is empty`, empty)}},

		// region
		{"region code", "region = \"ap-southeast-2\"\n", nil},
		{"region domain", "region = \"usw2.pure.cloud\"\n", nil},
		{"region typo", "region = \"eu-west1\"\n", []string{
			`t.toml:7:10: genesys.region: unknown region "eu-west1" (did you mean "eu-west-1"?)`}},
		{"region case", "region = \"US-EAST-1\"\n", []string{
			`t.toml:7:10: genesys.region: unknown region "US-EAST-1" (did you mean "us-east-1"?)`}},
		{"region domain typo", "region = \"mypurecloud.iee\"\n", []string{
			`t.toml:7:10: genesys.region: unknown region "mypurecloud.iee" (did you mean "mypurecloud.ie"?)`}},
		{"region API host", "region = \"api.mypurecloud.com.au\"\n", []string{
			`t.toml:7:10: genesys.region: "api.mypurecloud.com.au": give the region code "ap-southeast-2" or its domain "mypurecloud.com.au"; set api_url and login_url only for other hosts`}},
		{"region URL", "region = \"https://login.use2.us-gov-pure.cloud/\"\n", []string{
			`t.toml:7:10: genesys.region: "https://login.use2.us-gov-pure.cloud/": give the region code "us-east-2" or its domain "use2.us-gov-pure.cloud"; set api_url and login_url only for other hosts`}},
		{"region unknown", "region = \"mars-north-1\"\n", []string{
			`t.toml:7:10: genesys.region: unknown region "mars-north-1": give a region code such as "us-east-1" or "eu-west-1", or its domain such as "mypurecloud.ie" (codes: ap-northeast-1, ap-northeast-2, ap-northeast-3, ap-south-1, ap-southeast-1, ap-southeast-2, ca-central-1, eu-central-1, eu-central-2, eu-west-1, eu-west-2, me-central-1, mx-central-1, sa-east-1, us-east-1, us-east-2, us-west-2)`}},
		{"region empty", "region = \"\"\n", []string{
			`t.toml:7:10: genesys.region: must not be empty`}},

		// URLs
		{"api_url loopback", "api_url = \"http://127.0.0.1:9999\"\nlogin_url = \"http://[::1]:9998/fake\"\n", nil},
		{"api_url localhost", "api_url = \"http://localhost:9999/\"\n", nil},
		{"api_url other https host", "api_url = \"https://genesys-proxy.example.com/gc\"\n", nil},
		{"api_url same region", "region = \"eu-west-1\"\napi_url = \"https://api.mypurecloud.ie\"\nlogin_url = \"https://LOGIN.mypurecloud.ie.\"\n", nil},
		{"api_url with /api/v2", "api_url = \"https://api.mypurecloud.com/api/v2/\"\n", []string{
			`t.toml:7:11: genesys.api_url: "https://api.mypurecloud.com/api/v2/": leave out /api/v2, which the bridge appends`}},
		{"api_url http", "api_url = \"http://api.mypurecloud.com\"\n", []string{
			`t.toml:7:11: genesys.api_url: "http://api.mypurecloud.com": use https (http is allowed only for a loopback host such as 127.0.0.1, for tests)`}},
		{"api_url host only", "api_url = \"api.mypurecloud.com\"\n", []string{
			`t.toml:7:11: genesys.api_url: "api.mypurecloud.com" is not an absolute http(s) URL such as "https://api.mypurecloud.com"`}},
		{"api_url empty", "api_url = \"\"\n", []string{
			`t.toml:7:11: genesys.api_url: "" is not an absolute http(s) URL such as "https://api.mypurecloud.com"`}},
		{"api_url query", "api_url = \"https://api.mypurecloud.com?x=1\"\n", []string{
			`t.toml:7:11: genesys.api_url: "https://api.mypurecloud.com?x=1" must not have a query (?...)`}},
		{"api_url fragment", "api_url = \"https://api.mypurecloud.com#x\"\n", []string{
			`t.toml:7:11: genesys.api_url: "https://api.mypurecloud.com#x" must not have a fragment (#...)`}},
		{"api_url credentials", "api_url = \"https://id:secret@api.mypurecloud.com\"\n", []string{
			`t.toml:7:11: genesys.api_url: "https://id:secret@api.mypurecloud.com" must not contain a user name or password`}},
		{"login_url token endpoint", "login_url = \"https://login.mypurecloud.com/oauth/token\"\n", []string{
			`t.toml:7:13: genesys.login_url: "https://login.mypurecloud.com/oauth/token": give the host only; the bridge appends /oauth/token`}},
		{"login_url http", "login_url = \"http://10.0.0.1\"\n", []string{
			`t.toml:7:13: genesys.login_url: "http://10.0.0.1": use https (http is allowed only for a loopback host such as 127.0.0.1, for tests)`}},
		{"api_url in another region than the default", "api_url = \"https://api.mypurecloud.ie\"\n", []string{
			`t.toml:7:11: genesys.api_url: "https://api.mypurecloud.ie" is in region eu-west-1 but region is us-east-1 (the default)` + regionMismatch}},
		{"URLs in another region than written", "region = \"us-west-2\"\napi_url = \"https://api.mypurecloud.ie\"\nlogin_url = \"https://login.mypurecloud.ie\"\n", []string{
			`t.toml:8:11: genesys.api_url: "https://api.mypurecloud.ie" is in region eu-west-1 but region is us-west-2` + regionMismatch,
			`t.toml:9:13: genesys.login_url: "https://login.mypurecloud.ie" is in region eu-west-1 but region is us-west-2` + regionMismatch}},
		{"com is not com.au", "region = \"ap-southeast-2\"\nlogin_url = \"https://login.mypurecloud.com.au\"\n", nil},

		// ca_file
		{"ca_file missing", genesysOn + "ca_file = \"/nonexistent/ca.pem\"\n", []string{
			`t.toml:10:11: genesys.ca_file: open /nonexistent/ca.pem: no such file or directory`}},
		{"ca_file not PEM", genesysOn + "ca_file = \"" + notPEM + "\"\n", []string{
			fmt.Sprintf(`t.toml:10:11: genesys.ca_file: %q holds no PEM certificate`, notPEM)}},
		{"ca_file not read while disabled", "ca_file = \"/nonexistent/ca.pem\"\n", nil},
		{"ca_file empty is none", genesysOn + "ca_file = \"\"\n", nil},

		// rate
		{"rate zero", "rate = 0\n", []string{
			`t.toml:7:8: genesys.rate: must be between 1 and 300 requests per minute (Genesys allows 300 per client-credentials token), got 0`}},
		{"rate high", "rate = 301\n", []string{
			`t.toml:7:8: genesys.rate: must be between 1 and 300 requests per minute (Genesys allows 300 per client-credentials token), got 301`}},
		{"rate negative", "rate = -5\n", []string{
			`t.toml:7:8: genesys.rate: must be between 1 and 300 requests per minute (Genesys allows 300 per client-credentials token), got -5`}},
		{"rate limits", "rate = 1\n", nil},

		// to_genesys: [genesys.to_genesys] is line 7, its keys from line 8
		{"to_genesys leave alone", "[genesys.to_genesys]\nphone = \"\"\ndnd = \"\"\naway = \"\"\n", nil},
		{"to_genesys secondary", "[genesys.to_genesys]\nphone = \"On the phone\"\ndnd = \"Focus time\"\naway = \"Lunch\"\n", nil},
		{"to_genesys On Queue", "[genesys.to_genesys]\nphone = \"On Queue\"\n", []string{
			`t.toml:8:9: genesys.to_genesys.phone: "On Queue"` + onQueue}},
		{"to_genesys on_queue", "[genesys.to_genesys]\ndnd = \"on_queue\"\n", []string{
			`t.toml:8:7: genesys.to_genesys.dnd: "on_queue"` + onQueue}},
		{"to_genesys casing", "[genesys.to_genesys]\naway = \"AWAY\"\n", []string{
			`t.toml:8:8: genesys.to_genesys.away: "AWAY": write the system presence as the REST API names it, "Away"`}},
		{"to_genesys blank", "[genesys.to_genesys]\nphone = \"  \"\n", []string{
			`t.toml:8:9: genesys.to_genesys.phone: must not be blank`}},
		{"to_genesys spaces", "[genesys.to_genesys]\nphone = \" Busy\"\n", []string{
			`t.toml:8:9: genesys.to_genesys.phone: " Busy" has spaces around it, which no presence name has`}},
		{"to_genesys control", "[genesys.to_genesys]\naway = \"Out\\nside\"\n", []string{
			`t.toml:8:8: genesys.to_genesys.away: "Out\nside" contains the control character '\n'`}},

		// mappings: [[genesys.mappings]] is line 7, its keys from line 8
		{"mapping without keys", "[[genesys.mappings]]\n", []string{
			`t.toml:7:1: genesys.mappings[0]: missing required key "teams"`,
			`t.toml:7:1: genesys.mappings[0]: missing required key "presence"`}},
		{"mapping empty", "[[genesys.mappings]]\nteams = \"\"\npresence = \"\"\nid = \"\"\n", []string{
			`t.toml:8:9: genesys.mappings[0].teams: must not be empty`,
			`t.toml:9:12: genesys.mappings[0].presence: must not be empty`,
			`t.toml:10:6: genesys.mappings[0].id: must not be empty (leave id out to resolve the presence by name)`}},
		{"mapping unknown Teams value", m("Lunch", "Away"), []string{
			`t.toml:8:9: genesys.mappings[0].teams: unknown Teams availability or activity "Lunch"`}},
		{"mapping Teams typo", m("InAMeting", "Busy"), []string{
			`t.toml:8:9: genesys.mappings[0].teams: unknown Teams availability or activity "InAMeting" (did you mean "InAMeeting"?)`}},
		{"mapping Teams pair", m("Busy/InACall", "Busy"), []string{
			`t.toml:8:9: genesys.mappings[0].teams: "Busy/InACall": give one Teams availability or activity, not a pair (the activity's row is looked up first, then the availability's)`}},
		{"mapping every Teams value", func() string {
			var b strings.Builder
			for _, n := range teamsValues() {
				b.WriteString(m(n, "Busy"))
			}
			return b.String()
		}(), nil},
		{"mapping duplicate", m("Away", "Away") + m("Busy", "Busy") + m("Away", "Lunch"), []string{
			`t.toml:14:9: genesys.mappings[2].teams: duplicate teams "Away" (also genesys.mappings[0])`}},
		{"mapping On Queue", m("Available", "On Queue"), []string{
			`t.toml:9:12: genesys.mappings[0].presence: "On Queue"` + onQueue}},
		{"mapping presence casing", m("Available", "available"), []string{
			`t.toml:9:12: genesys.mappings[0].presence: "available": write the system presence as the REST API names it, "Available"`}},
		{"mapping secondary presence", m("Away", "Lunch") + m("BeRightBack", "Back in 5") + m("Focusing", "Héads down"), nil},
		{"mapping id", m("Available", "Available") + "id = \"" + genesysID1 + "\"\n", nil},
		{"mapping id not a GUID", m("Available", "Available") + "id = \"6a3af858\"\n", []string{
			`t.toml:10:6: genesys.mappings[0].id: "6a3af858" is not a presence definition id, a GUID such as 6a3af858-942f-489d-9700-5f9bcdcdae9b`}},
		{"mapping same presence, same id", m("Busy", "Busy") + "id = \"" + genesysID1 + "\"\n" + m("InACall", "Busy") + "id = \"" + strings.ToUpper(genesysID1) + "\"\n" + m("Focusing", "Busy"), nil},
		{"mapping one presence, two ids", m("Busy", "Busy") + "id = \"" + genesysID1 + "\"\n" + m("InACall", "Busy") + "id = \"" + guid1 + "\"\n", []string{
			`t.toml:14:6: genesys.mappings[1].id: ` + guid1 + `: presence "Busy" already has id ` + genesysID1 + ` (genesys.mappings[0]), and one presence has one id`}},
		{"mapping one id, two presences", m("Busy", "Busy") + "id = \"" + genesysID1 + "\"\n" + m("Away", "Away") + "id = \"" + genesysID1 + "\"\n", []string{
			`t.toml:14:6: genesys.mappings[1].id: ` + genesysID1 + ` already names presence "Busy" (genesys.mappings[0]), so it cannot name "Away"`}},
		{"mapping inline", "mappings = [{ teams = \"Busy\", presence = \"Busy\" }, { teams = \"Idle\", presence = \"On Queue\" }]\n", []string{
			`t.toml:7:62: genesys.mappings[1].teams: unknown Teams availability or activity "Idle"`,
			`t.toml:7:81: genesys.mappings[1].presence: "On Queue"` + onQueue}},

		// from_genesys: [[genesys.from_genesys]] is line 7, its keys from line 8
		{"rule without keys", "[[genesys.from_genesys]]\n", []string{
			`t.toml:7:1: genesys.from_genesys[0]: missing required key "match"`,
			`t.toml:7:1: genesys.from_genesys[0]: missing required key "lamp"`}},
		{"rule empty", "[[genesys.from_genesys]]\nmatch = \"\"\nlamp = \"\"\n", []string{
			`t.toml:8:9: genesys.from_genesys[0].match: must not be empty`,
			`t.toml:9:8: genesys.from_genesys[0].lamp: must not be empty`}},
		{"rule every state", func() string {
			var b strings.Builder
			for _, n := range slices.Concat(GenesysSystemPresences, GenesysRoutingStatuses, []string{"Lunch", "Réunion d'équipe"}) {
				fmt.Fprintf(&b, "[[genesys.from_genesys]]\nmatch = %q\nlamp = \"busy\"\n", n)
			}
			return b.String()
		}(), nil},
		{"rule presence in notification casing", "[[genesys.from_genesys]]\nmatch = \"ON_QUEUE\"\nlamp = \"busy\"\n", []string{
			`t.toml:8:9: genesys.from_genesys[0].match: "ON_QUEUE": ` + casing + `: did you mean "On Queue"?`}},
		{"rule routing status in title case", "[[genesys.from_genesys]]\nmatch = \"Not Responding\"\nlamp = \"busy\"\n", []string{
			`t.toml:8:9: genesys.from_genesys[0].match: "Not Responding": ` + casing + `: did you mean "NOT_RESPONDING"?`}},
		{"rule idle in lower case", "[[genesys.from_genesys]]\nmatch = \"idle\"\nlamp = \"away\"\n", []string{
			`t.toml:8:9: genesys.from_genesys[0].match: "idle": ` + casing + `: did you mean the presence "Idle" or the routing status "IDLE"?`}},
		{"rule spaces", "[[genesys.from_genesys]]\nmatch = \"Lunch \"\nlamp = \"away\"\n", []string{
			`t.toml:8:9: genesys.from_genesys[0].match: "Lunch " has spaces around it, which no presence name has`}},
		{"rule lamp", "[[genesys.from_genesys]]\nmatch = \"Busy\"\nlamp = \"red\"\n", []string{
			`t.toml:9:8: genesys.from_genesys[0].lamp: unknown lamp "red" ` + lamps}},
		{"rule note long", "[[genesys.from_genesys]]\nmatch = \"Busy\"\nlamp = \"busy\"\nnote = \"" + strings.Repeat("é", 65) + "\"\n", []string{
			`t.toml:10:8: genesys.from_genesys[0].note: must be at most 64 characters (got 65)`}},
		{"rule note control", "[[genesys.from_genesys]]\nmatch = \"Busy\"\nlamp = \"busy\"\nnote = \"a\\tb\"\n", []string{
			`t.toml:10:8: genesys.from_genesys[0].note: must not contain control characters (found '\t')`}},
		{"rule note longest", "[[genesys.from_genesys]]\nmatch = \"Busy\"\nlamp = \"busy\"\nnote = \"" + strings.Repeat("é", 64) + "\"\n", nil},
		{"rule long secondary name gets no note", "[[genesys.from_genesys]]\nmatch = \"" + strings.Repeat("x", 65) + "\"\nlamp = \"busy\"\n", nil},
		{"rule duplicate", "[[genesys.from_genesys]]\nmatch = \"IDLE\"\nlamp = \"away\"\n[[genesys.from_genesys]]\nmatch = \"Idle\"\nlamp = \"away\"\n[[genesys.from_genesys]]\nmatch = \"IDLE\"\nlamp = \"busy\"\n", []string{
			`t.toml:14:9: genesys.from_genesys[2].match: duplicate match "IDLE" (also genesys.from_genesys[0])`}},
		{"rule inline", "from_genesys = [{ match = \"Busy\", lamp = \"busy\" }, { match = \"AWAY\", lamp = \"x\" }]\n", []string{
			`t.toml:7:62: genesys.from_genesys[1].match: "AWAY": ` + casing + `: did you mean "Away"?`,
			`t.toml:7:77: genesys.from_genesys[1].lamp: unknown lamp "x" ` + lamps}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.toml", []byte(okGenesys+tt.keys))
			checkProblems(t, err, tt.want)
		})
	}
}

func TestGenesysMappingCheck(t *testing.T) {
	for _, tt := range []struct {
		m    GenesysMapping
		want []string
	}{
		{GenesysMapping{Teams: "Available", Presence: "Available", ID: genesysID1}, nil},
		{GenesysMapping{Teams: "Away", Presence: "Lunch"}, nil},
		{GenesysMapping{}, []string{"teams: must not be empty", "presence: must not be empty"}},
		{GenesysMapping{Teams: "Availble", Presence: "ON_QUEUE", ID: "x"}, []string{
			`teams: unknown Teams availability or activity "Availble" (did you mean "Available"?)`,
			`presence: "ON_QUEUE" is refused: the gateway never puts an agent on queue, which is the agent's own choice`,
			`id: "x" is not a presence definition id, a GUID such as 6a3af858-942f-489d-9700-5f9bcdcdae9b`}},
	} {
		err := tt.m.Check()
		var got []string
		if err != nil {
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				got = append(got, e.Error())
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%+v: Check() = %q, want %q", tt.m, got, tt.want)
		}
	}
}

func TestGenesysUser(t *testing.T) {
	ext := func(n int, user string) string {
		return fmt.Sprintf("[[extensions]]\nnumber = \"%d\"\nname = \"U\"\ngenesys_user = %q\n", 1000+n, user) // 4 lines
	}
	malformed := []string{"alice", "alice@example", "al ice@example.com", ".alice@example.com", "a..b@example.com",
		"alice@10.0.0.1", "{" + guid1 + "}", "a@b@example.com", "alice.@example.com", "a(b)@example.com", "ålice@example.com"}
	tests := []struct {
		name  string
		users []string
		want  []string
	}{
		{"valid", []string{guid1, "alice@example.com", "bob+blfgw@mail.example.co.uk", "o'brien_j-x!#$%&*/=?^`{|}~@example.com", ""}, nil},
		{"duplicate, case-insensitive", []string{"alice@example.com", guid1, "Alice@Example.COM", strings.ToUpper(guid1)}, []string{
			`t.toml:14:16: extensions[2].genesys_user: duplicate genesys_user "Alice@Example.COM" (also extensions[0])`,
			`t.toml:18:16: extensions[3].genesys_user: duplicate genesys_user "AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE" (also extensions[1])`}},
		{"malformed", malformed, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := okSIP
			for i, u := range tt.users {
				doc += ext(i, u)
			}
			want := tt.want
			if tt.name == "malformed" {
				for i, u := range tt.users {
					want = append(want, fmt.Sprintf(`t.toml:%d:16: extensions[%d].genesys_user: %q is neither a Genesys Cloud user id (GUID) nor an email address such as alice@example.com`, 6+4*i, i, u))
				}
			}
			_, err := Parse("t.toml", []byte(doc))
			checkProblems(t, err, want)
		})
	}
	// genesys_user is checked whether [genesys] is enabled or not, and
	// kept; it is independent of teams_user.
	c, err := Parse("t.toml", []byte(okSIP+ext(1, "bob@example.com")+"teams_user = \"bob@example.com\"\n[genesys]\nenabled = false\n"))
	if err != nil {
		t.Fatal(err)
	}
	if e := c.Extensions[0]; e.GenesysUser != "bob@example.com" || e.TeamsUser != "bob@example.com" {
		t.Errorf("genesys_user = %q, teams_user = %q", e.GenesysUser, e.TeamsUser)
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "ext", c.Extensions[0])
	fmt.Fprintf(&buf, "%v %#v", c.Extensions[0], c.Extensions[0])
	if strings.Count(buf.String(), "bob@example.com") != 6 || !strings.Contains(buf.String(), "genesys_user=bob@example.com") {
		t.Errorf("genesys_user not shown: %s", buf.String())
	}
}

func TestGenesysSecretSources(t *testing.T) {
	base := okGenesys + genesysOnWithout
	checkSecretSources(t, secretSection{
		base: base,
		env:  "BLFGW_TEST_GENESYS_SECRET",
		get:  func(c *Config) *string { return &c.Genesys.ClientSecret },
		on:   func(c *Config, on bool) { c.Genesys.Enabled = on },
		sources: func(c *Config, file, env string) {
			c.Genesys.ClientSecretFile, c.Genesys.ClientSecretEnv = file, env
		},
	})
	// The [teams] and [genesys] secrets are resolved apart.
	c, err := Parse("t.toml", []byte(base+"client_secret_env = \"BLFGW_TEST_GENESYS_SECRET\"\n[teams]\n"+teamsOn))
	if err != nil {
		t.Fatal(err)
	}
	if c.Genesys.ClientSecret != "from-env" || c.Teams.ClientSecret != "s3cret" {
		t.Errorf("genesys %q, teams %q", c.Genesys.ClientSecret, c.Teams.ClientSecret)
	}
}

// TestGenesysOverride: a value set by a caller is reported at its source,
// and a region set so re-derives the URLs.
func TestGenesysOverride(t *testing.T) {
	c, err := Decode("t.toml", []byte(okGenesys+"rate = 100\n"))
	if err != nil {
		t.Fatal(err)
	}
	c.Genesys.Region = "eu-west-9"
	c.MarkOverridden("genesys.region", "-region flag")
	checkProblems(t, c.Validate(), []string{
		`genesys.region (from -region flag): unknown region "eu-west-9" (did you mean "eu-west-1"?)`,
	})
	c.Genesys.Region = "eu-west-2"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if api, login := c.Genesys.Hosts(); api != "https://api.euw2.pure.cloud" || login != "https://login.euw2.pure.cloud" || c.Genesys.Rate != 100 {
		t.Errorf("after override: %q %q rate %d", api, login, c.Genesys.Rate)
	}
}

func TestGenesysUnknownKeys(t *testing.T) {
	doc := okGenesys + `enable = true
regoin = "us-east-1"
client_secrets = "x"
rates = 10
[genesys.to_genesis]
phone = "Busy"
[genesys.to_genesys]
phnoe = "Busy"
[[genesys.mapping]]
teams = "Away"
[[genesys.mappings]]
team = "Away"
presense = "Away"
ids = "x"
[[genesys.from_genesys]]
match = "Busy"
lamp = "busy"
notes = "x"
[[genesys.from_genesis]]
match = "Away"
[[extensions]]
number = "1002"
name = "B"
genesys_users = "b@example.com"
`
	_, err := Parse("t.toml", []byte(doc))
	checkProblems(t, err, []string{
		`t.toml:7:1: genesys.enable: unknown key (did you mean "enabled"?)`,
		`t.toml:8:1: genesys.regoin: unknown key (did you mean "region"?)`,
		`t.toml:9:1: genesys.client_secrets: unknown key (did you mean "client_secret"?)`,
		`t.toml:10:1: genesys.rates: unknown key (did you mean "rate"?)`,
		`t.toml:11:1: genesys.to_genesis: unknown table (did you mean "to_genesys"?)`,
		`t.toml:14:1: genesys.to_genesys.phnoe: unknown key (did you mean "phone"?)`,
		`t.toml:15:1: genesys.mapping: unknown table (did you mean "mappings"?)`,
		`t.toml:17:1: genesys.mappings[0]: missing required key "teams"`,
		`t.toml:17:1: genesys.mappings[0]: missing required key "presence"`,
		`t.toml:18:1: genesys.mappings[0].team: unknown key (did you mean "teams"?)`,
		`t.toml:19:1: genesys.mappings[0].presense: unknown key (did you mean "presence"?)`,
		`t.toml:20:1: genesys.mappings[0].ids: unknown key (did you mean "id"?)`,
		`t.toml:24:1: genesys.from_genesys[0].notes: unknown key (did you mean "note"?)`,
		`t.toml:25:1: genesys.from_genesis: unknown table (did you mean "from_genesys"?)`,
		`t.toml:30:1: extensions[1].genesys_users: unknown key (did you mean "genesys_user"?)`,
	})
}

func TestGenesysDecodeErrors(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"enabled string", okGenesys + "enabled = \"yes\"\n",
			`t.toml:7:11: genesys.enabled: expected true or false, found a string`},
		{"rate string", okGenesys + "rate = \"240/min\"\n",
			`t.toml:7:8: genesys.rate: expected an integer, found a string`},
		{"region integer", okGenesys + "region = 1\n",
			`t.toml:7:10: genesys.region: expected a string, found an integer (put it in quotes)`},
		{"to_genesys string", okGenesys + "to_genesys = \"Busy\"\n",
			`t.toml:7:14: genesys.to_genesys: expected a table, found a string`},
		{"mappings table", okGenesys + "mappings = \"x\"\n",
			`t.toml:7:12: genesys.mappings: expected an array of tables, found a string`},
		{"from_genesys string", okGenesys + "from_genesys = \"x\"\n",
			`t.toml:7:16: genesys.from_genesys: expected an array of tables, found a string`},
		{"genesys_user integer", okSIP + okExt + "genesys_user = 42\n",
			`t.toml:6:16: extensions[0].genesys_user: expected a string, found an integer (put it in quotes)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("t.toml", []byte(tt.doc))
			if c != nil {
				t.Error("got a Config along with a decode error")
			}
			checkProblems(t, err, []string{tt.want})
		})
	}
}

func TestGenesysManyProblemsAtOnce(t *testing.T) {
	doc := `[sip]
domain = "pbx.example.com"

[[extensions]]
number = "1001"
name = "Alice"
genesys_user = "alice"

[genesys]
enabled = true
region = "eu-west"
client_secret = "x"
client_secret_env = "GENESYS_SECRET"
api_url = "https://api.mypurecloud.ie/api/v2"
rate = 600

[genesys.to_genesys]
phone = "On Queue"

[[genesys.mappings]]
teams = "Meeting"
presence = "Busy"

[[genesys.from_genesys]]
match = "OnQueue"
lamp = "grey"
`
	_, err := Parse("t.toml", []byte(doc))
	checkProblems(t, err, []string{
		`t.toml:7:16: extensions[0].genesys_user: "alice" is neither a Genesys Cloud user id (GUID) nor an email address such as alice@example.com`,
		`t.toml:9:1: genesys: missing required key "client_id"`,
		`t.toml:9:1: genesys: give at most one of client_secret, client_secret_file and client_secret_env (found client_secret and client_secret_env)`,
		`t.toml:11:10: genesys.region: unknown region "eu-west" (did you mean "eu-west-1"?)`,
		`t.toml:14:11: genesys.api_url: "https://api.mypurecloud.ie/api/v2": leave out /api/v2, which the bridge appends`,
		`t.toml:15:8: genesys.rate: must be between 1 and 300 requests per minute (Genesys allows 300 per client-credentials token), got 600`,
		`t.toml:18:9: genesys.to_genesys.phone: "On Queue" is refused: the gateway never puts an agent on queue, which is the agent's own choice`,
		`t.toml:21:9: genesys.mappings[0].teams: unknown Teams availability or activity "Meeting"`,
		`t.toml:26:8: genesys.from_genesys[0].lamp: unknown lamp "grey" (want "busy", "away", "offline", "available" or "ignore")`,
	})
}

// No client secret may come out of an error, a dump or a log line.
func TestGenesysNoSecretLeak(t *testing.T) {
	const inline = "Gc9-inline-SECRET-4412"
	const fromFile = "Gc9-file-SECRET-7730"
	const fromEnv = "Gc9-env-SECRET-2168"
	secrets := []string{inline, fromFile, fromEnv}
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(fromFile+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BLFGW_TEST_GENESYS_LEAK", fromEnv)
	noSecret := func(what, s string) {
		t.Helper()
		for _, s2 := range secrets {
			if strings.Contains(s, s2) {
				t.Errorf("%s contains a secret: %s", what, s)
			}
		}
	}
	on := okGenesys + genesysOnWithout

	// Problems around the secrets.
	_, err := Parse("t.toml", []byte(on+"client_secret = \""+inline+"\"\nclient_secret_env = \"BLFGW_TEST_GENESYS_LEAK\"\nrate = 0\nbogus = \""+inline+"\"\n"))
	if err == nil {
		t.Fatal("no error")
	}
	noSecret("Error()", err.Error())

	for _, src := range []string{
		"client_secret = \"" + inline + "\"\n",
		"client_secret_file = \"" + secretFile + "\"\n",
		"client_secret_env = \"BLFGW_TEST_GENESYS_LEAK\"\n",
	} {
		c, err := Parse("t.toml", []byte(on+src))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(secrets, c.Genesys.ClientSecret) {
			t.Fatalf("secret not resolved: %q", src)
		}
		g := c.Genesys
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("genesys", "genesys", g, "ptr", &g, "config", c)
		slog.New(slog.NewTextHandler(&buf, nil)).Info("genesys", "genesys", g, "ptr", &g, "config", c)
		// Every verb, valid or not, with flags and widths. Left out: %p
		// of a value (not of a pointer), which fmt answers before asking
		// the value to format itself, with a dump by reflection of every
		// field; no method can redact that, so print a pointer.
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%d", "%x", "%X", "%o", "%b", "%e", "%g", "%c", "%U", "%t", "%z", "%!", "%10.3v", "%-8s", "%08x", "% x", "%+q", "%#q"} {
			fmt.Fprintf(&buf, verb+"\n", g)
			fmt.Fprintf(&buf, verb+"\n", &g)
		}
		fmt.Fprintf(&buf, "%p %T %T\n", &g, g, &g)
		fmt.Fprintf(&buf, "%v %+v %#v\n", *c, *c, *c)
		fmt.Fprintln(&buf, g, []Genesys{g}, map[string]Genesys{"g": g}, struct{ G Genesys }{g})
		j, _ := json.Marshal(c)
		buf.Write(j)
		j, _ = json.Marshal(g)
		buf.Write(j)
		out := buf.String()
		noSecret("output", out)
		for _, want := range []string{redacted, "configs.Genesys{", "11111111-2222-3333-4444-555555555555", "https://api.mypurecloud.com"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q: %s", want, out)
			}
		}
	}
}

// TestExampleGenesys keeps example.toml's [genesys] disabled, valid and
// documented, and checks that enabling it asks for exactly what is left.
func TestExampleGenesys(t *testing.T) {
	c, err := Parse("example.toml", Example)
	if err != nil {
		t.Fatal(err)
	}
	want := defaultGenesys()
	want.ClientSecretEnv = "BLFGW_GENESYS_CLIENT_SECRET"
	if !reflect.DeepEqual(c.Genesys, want) {
		t.Errorf("Genesys = %+v\nwant %+v", c.Genesys, want)
	}
	if e, _ := c.Extension("1001"); e.GenesysUser != "alice@example.com" {
		t.Errorf("1001 genesys_user = %q", e.GenesysUser)
	}

	// Every [genesys] key is documented in the section, with the default
	// mappings, the OAuth role and the import command.
	section := Example[bytes.Index(Example, []byte("# Genesys Cloud presence bridge.")):]
	for _, typ := range []reflect.Type{reflect.TypeFor[Genesys](), reflect.TypeFor[GenesysToGenesys](), reflect.TypeFor[GenesysMapping](), reflect.TypeFor[GenesysRule]()} {
		for f := range typ.Fields() {
			if name := tomlName(f); name != "" && !bytes.Contains(section, []byte(name)) {
				t.Errorf("example.toml's [genesys] does not mention %s", name)
			}
		}
	}
	for _, s := range []string{"genesys_user", "[[genesys.mappings]]", "[[genesys.from_genesys]]", "[genesys.to_genesys]",
		"Client Credentials", "Presence > User Presence > View and Edit", "Presence > Presence Definition > View",
		"Directory > User > View", "Routing > Agent", "Notifications", "blfgw import-genesys-mappings",
		"Busy, DoNotDisturb, Focusing, InACall, InAMeeting, Presenting -> Busy", "Away, BeRightBack -> Away",
		"Offline, OffWork -> Offline", "Available -> Available"} {
		if !bytes.Contains(Example, []byte(s)) {
			t.Errorf("example.toml does not mention %s", s)
		}
	}
	for code := range maps.Keys(GenesysRegions) {
		if !bytes.Contains(Example, []byte(code)) {
			t.Errorf("example.toml does not list region %s", code)
		}
	}

	// Enabled, it asks for the client id at its line and for the secret's
	// variable.
	const from, to = "\n[genesys]\nenabled = false", "\n[genesys]\nenabled = true"
	if bytes.Count(Example, []byte(from)) != 1 {
		t.Fatalf("example.toml has %d lines %s", bytes.Count(Example, []byte(from)), from)
	}
	doc := bytes.Replace(Example, []byte(from), []byte(to), 1)
	start := bytes.Index(doc, []byte(to))
	lineOf := func(s string) int {
		t.Helper()
		i := bytes.Index(doc[start:], []byte("\n"+s))
		if i < 0 {
			t.Fatalf("no line %s", s)
		}
		return 2 + bytes.Count(doc[:start+i], []byte("\n"))
	}
	os.Unsetenv("BLFGW_GENESYS_CLIENT_SECRET")
	_, err = Parse("example.toml", doc)
	checkProblems(t, err, []string{
		fmt.Sprintf("example.toml:%d:13: genesys.client_id: must not be empty", lineOf(`client_id = ""`)),
		fmt.Sprintf("example.toml:%d:21: genesys.client_secret_env: environment variable BLFGW_GENESYS_CLIENT_SECRET is not set", lineOf(`client_secret_env = "BLFGW_GENESYS`)),
	})

	// Filled in, it loads; the commented mappings and rules, written out,
	// are valid too.
	t.Setenv("BLFGW_GENESYS_CLIENT_SECRET", "s")
	i := start + bytes.Index(doc[start:], []byte(`client_id = ""`))
	doc = slices.Concat(doc[:i], []byte(`client_id = "`+guid1+`"`), doc[i+len(`client_id = ""`):])
	c, err = Parse("example.toml", doc)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Genesys.Enabled || c.Genesys.ClientSecret != "s" || c.Genesys.ClientID != guid1 {
		t.Errorf("enabled example: %+v", c.Genesys)
	}
	var uncommented []byte
	for _, line := range bytes.Split(doc[start:], []byte("\n")) {
		if l, ok := bytes.CutPrefix(line, []byte("# ")); ok && (bytes.Equal(l, []byte("[[genesys.mappings]]")) || bytes.Equal(l, []byte("[[genesys.from_genesys]]")) || bytes.HasPrefix(l, []byte("teams = ")) ||
			bytes.HasPrefix(l, []byte("presence = ")) || bytes.HasPrefix(l, []byte("match = ")) || bytes.HasPrefix(l, []byte("lamp = ")) || bytes.HasPrefix(l, []byte("note = "))) {
			line = l
		}
		uncommented = append(append(uncommented, line...), '\n')
	}
	c, err = Parse("example.toml", slices.Concat(doc[:start], uncommented))
	if err != nil {
		t.Fatalf("examples written out:\n%v", err)
	}
	if len(c.Genesys.Mappings) != 2 || len(c.Genesys.FromGenesys) != len(DefaultGenesysRules())+1 {
		t.Errorf("examples written out: %d mappings, %d rules", len(c.Genesys.Mappings), len(c.Genesys.FromGenesys))
	}
}

// TestExtensionRedactedForEveryVerb: an extension's password never
// prints, whatever the verb.
func TestExtensionRedactedForEveryVerb(t *testing.T) {
	e := Extension{Number: "1001", Name: "Alice", Password: "hunter2-secret"}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x", "%q"} {
		for _, v := range []any{e, &e} {
			if out := fmt.Sprintf(verb, v); strings.Contains(out, "hunter2") {
				t.Errorf("%s prints the password: %s", verb, out)
			}
		}
	}
}
