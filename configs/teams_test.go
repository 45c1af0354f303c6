package configs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	// okTeams opens [teams] after a valid file, so the keys under test
	// start at line 7 and the table header is 6:1.
	okTeams = okSIP + okExt + "[teams]\n" // lines 1-6
	// teamsOn enables the bridge with every required key, lines 7-10; keys
	// under test then start at line 11.
	teamsOn = "enabled = true\ntenant = \"contoso.onmicrosoft.com\"\nclient_id = \"11111111-2222-3333-4444-555555555555\"\nclient_secret = \"s3cret\"\n"
	guid1   = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
)

// defaultTeams is [teams] with every key left out of the file.
func defaultTeams() Teams {
	return Teams{
		GraphURL:          "https://graph.microsoft.com",
		LoginURL:          "https://login.microsoftonline.com",
		PollInterval:      30,
		ReconcileInterval: 600,
		CallExpiry:        60,
		ToTeams: TeamsToTeams{
			Call:       "Busy/InACall",
			Conference: "Busy/InAConferenceCall",
			DND:        "DoNotDisturb/DoNotDisturb",
			Away:       "Away/Away",
		},
		FromTeams: DefaultTeamsRules(),
	}
}

func TestTeamsDefaults(t *testing.T) {
	for name, doc := range map[string]string{
		"no [teams]":    okSIP + okExt,
		"empty [teams]": okTeams,
		"empty tables":  okTeams + "[teams.to_teams]\n",
	} {
		c, err := Parse("t.toml", []byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(c.Teams, defaultTeams()) {
			t.Errorf("%s: Teams = %+v\nwant %+v", name, c.Teams, defaultTeams())
		}
	}

	// The exported constants are what the file gets.
	if DefaultTeamsGraphURL != "https://graph.microsoft.com" || DefaultTeamsLoginURL != "https://login.microsoftonline.com" ||
		DefaultTeamsPoll != 30 || DefaultTeamsReconcile != 600 || DefaultTeamsCallExpiry != 60 ||
		DefaultTeamsCall != "Busy/InACall" || DefaultTeamsConference != "Busy/InAConferenceCall" ||
		DefaultTeamsDND != "DoNotDisturb/DoNotDisturb" || DefaultTeamsAway != "Away/Away" ||
		TeamsNotifyPath != "/teams/notify" || MaxTeamsUsersPerAccount != 650 || MaxTeamsNote != 64 {
		t.Error("the exported defaults differ from the documented ones")
	}

	// Decode alone fills them, for a caller that overrides before
	// validating.
	c, err := Decode("t.toml", []byte(okSIP+okExt))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Teams, defaultTeams()) {
		t.Errorf("after Decode: %+v", c.Teams)
	}

	// A Config built in code gets them from Validate.
	c = &Config{
		Log:        Log{Level: "info", Format: "text"},
		SIP:        SIP{Domain: "pbx.test", Listen: []string{"udp:127.0.0.1:0"}, MinExpires: 1, MaxExpires: 10, DefaultExpires: 5, NotifyTimeouts: 1},
		HTTP:       HTTP{Listen: "127.0.0.1:0"},
		Store:      Store{Path: "x.db"},
		Extensions: []Extension{{Number: "1", Name: "One", Role: "user", TeamsUser: guid1}},
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Teams, defaultTeams()) {
		t.Errorf("built in code: %+v", c.Teams)
	}
	// ... and its problems have no position.
	c.Teams = Teams{Enabled: true, Tenant: "contoso", PollInterval: 1}
	checkProblems(t, c.Validate(), []string{
		`teams.tenant: "contoso" is neither a tenant id (GUID) nor a domain such as contoso.onmicrosoft.com`,
		`teams: missing required key "client_id"`,
		`teams: missing required key "client_secret" (or client_secret_file or client_secret_env)`,
		`teams.poll_interval: must be between 5 and 3600 seconds, got 1`,
	})
}

func TestDefaultTeamsRules(t *testing.T) {
	want := []TeamsRule{
		{"InACall", "busy", "In a Teams call"},
		{"InAConferenceCall", "busy", "In a Teams conference call"},
		{"InAMeeting", "busy", "In a meeting"},
		{"Presenting", "busy", "Presenting"},
		{"Busy", "busy", "Busy"},
		{"BusyIdle", "busy", "Busy (idle)"},
		{"DoNotDisturb", "busy", "Do not disturb"},
		{"Focusing", "busy", "Focusing"},
		{"UrgentInterruptionsOnly", "busy", "Urgent interruptions only"},
		{"Away", "away", "Away"},
		{"BeRightBack", "away", "Be right back"},
		{"OutOfOffice", "away", "Out of office"},
		{"Offline", "offline", "Offline"},
		{"OffWork", "offline", "Off work"},
		{"Available", "available", "Available"},
		{"AvailableIdle", "available", "Available (idle)"},
		{"PresenceUnknown", "ignore", "Presence unknown"},
	}
	got := DefaultTeamsRules()
	if !slices.Equal(got, want) {
		t.Errorf("DefaultTeamsRules() =\n%v\nwant\n%v", got, want)
	}
	// Each call is a fresh copy.
	got[0].Lamp = "ignore"
	if DefaultTeamsRules()[0].Lamp != "busy" {
		t.Error("DefaultTeamsRules shares its slice")
	}
	// Every name has a note, and the defaults are valid rules.
	for _, n := range slices.Concat(TeamsAvailabilities, TeamsActivities) {
		if teamsNotes[n] == "" {
			t.Errorf("no note for %s", n)
		}
	}
	for _, r := range want {
		if err := checkTeamsMatch(r.Match); err != nil {
			t.Errorf("default rule %q: %v", r.Match, err)
		}
	}
}

func TestTeamsPairSets(t *testing.T) {
	if !slices.Equal(SetPresencePairs, []string{"Available/Available", "Busy/InACall", "Busy/InAConferenceCall", "Away/Away", "DoNotDisturb/Presenting"}) {
		t.Errorf("SetPresencePairs = %q", SetPresencePairs)
	}
	if !slices.Equal(PreferredPairs, []string{"Available/Available", "Busy/Busy", "DoNotDisturb/DoNotDisturb", "BeRightBack/BeRightBack", "Away/Away", "Offline/OffWork"}) {
		t.Errorf("PreferredPairs = %q", PreferredPairs)
	}
	// Every pair Graph accepts is one it reports back.
	for _, p := range slices.Concat(SetPresencePairs, PreferredPairs) {
		if err := checkTeamsMatch(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if len(TeamsAvailabilities) != 10 || len(TeamsActivities) != 16 {
		t.Errorf("%d availabilities, %d activities", len(TeamsAvailabilities), len(TeamsActivities))
	}
	if !slices.Equal(TeamsLamps, []string{"busy", "away", "offline", "available", "ignore"}) {
		t.Errorf("TeamsLamps = %q", TeamsLamps)
	}
}

func TestSplitPair(t *testing.T) {
	tests := []struct {
		in, av, act string
		ok          bool
	}{
		{"Busy/InACall", "Busy", "InACall", true},
		{"Away/Away", "Away", "Away", true},
		{"Busy", "", "", false},
		{"Busy/", "", "", false},
		{"/InACall", "", "", false},
		{"a/b/c", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		av, act, ok := SplitPair(tt.in)
		if av != tt.av || act != tt.act || ok != tt.ok {
			t.Errorf("SplitPair(%q) = %q, %q, %v", tt.in, av, act, ok)
		}
	}
}

func TestTeamsDecode(t *testing.T) {
	dir := t.TempDir()
	ca := writeCA(t, dir)
	doc := okTeams + teamsOn + `graph_url = "http://127.0.0.1:8443/"
login_url = "https://login.microsoftonline.us"
ca_file = "` + ca + `"
notification_url = "https://gw.example.com/blfgw/teams/notify"
poll_interval = 5
reconcile_interval = 86400
call_expiry = 240
push_status = true
[[teams.accounts]]
username = "svc1@contoso.onmicrosoft.com"
password = "pw1"
[teams.to_teams]
call = "DoNotDisturb/Presenting"
conference = "Busy/InACall"
dnd = "Busy/Busy"
away = "BeRightBack/BeRightBack"
[[teams.from_teams]]
match = "Busy/InAMeeting"
lamp = "ignore"
[[teams.from_teams]]
match = "Away"
lamp = "offline"
note = "Gone"
[[teams.from_teams]]
match = "Presenting"
lamp = "busy"
note = ""
`
	c, err := Parse("t.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := Teams{
		Enabled:           true,
		Tenant:            "contoso.onmicrosoft.com",
		ClientID:          "11111111-2222-3333-4444-555555555555",
		ClientSecret:      "s3cret",
		GraphURL:          "http://127.0.0.1:8443/",
		LoginURL:          "https://login.microsoftonline.us",
		CAFile:            ca,
		NotificationURL:   "https://gw.example.com/blfgw/teams/notify",
		PollInterval:      5,
		ReconcileInterval: 86400,
		CallExpiry:        240,
		PushStatus:        true,
		Accounts:          []TeamsAccount{{Username: "svc1@contoso.onmicrosoft.com", Password: "pw1"}},
		ToTeams:           TeamsToTeams{Call: "DoNotDisturb/Presenting", Conference: "Busy/InACall", DND: "Busy/Busy", Away: "BeRightBack/BeRightBack"},
		FromTeams: []TeamsRule{
			// A note left out is derived from the match; one written
			// empty stays empty.
			{Match: "Busy/InAMeeting", Lamp: "ignore", Note: "In a meeting"},
			{Match: "Away", Lamp: "offline", Note: "Gone"},
			{Match: "Presenting", Lamp: "busy", Note: ""},
		},
	}
	// The default rules the written ones do not override follow them.
	for _, d := range DefaultTeamsRules() {
		if d.Match != "Away" && d.Match != "Presenting" {
			want.FromTeams = append(want.FromTeams, d)
		}
	}
	if !reflect.DeepEqual(c.Teams, want) {
		t.Errorf("Teams =\n%+v\nwant\n%+v", c.Teams, want)
	}

	// Dotted keys and inline tables land in the same places; an empty
	// from_teams overrides nothing.
	doc = "teams.enabled = false\nteams.to_teams.call = \"Busy/InAConferenceCall\"\nteams.from_teams = []\n" + okSIP + okExt
	c, err = Parse("t.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if c.Teams.ToTeams.Call != "Busy/InAConferenceCall" || c.Teams.ToTeams.Away != "Away/Away" ||
		!reflect.DeepEqual(c.Teams.FromTeams, DefaultTeamsRules()) {
		t.Errorf("dotted keys: %+v", c.Teams)
	}
}

func TestTeamsLookup(t *testing.T) {
	type want struct {
		lamp, note string
		ok         bool
	}
	check := func(name string, tm Teams, tests map[[2]string]want) {
		t.Helper()
		for in, w := range tests {
			r, ok := tm.Lookup(in[0], in[1])
			if ok != w.ok || r.Lamp != w.lamp || r.Note != w.note {
				t.Errorf("%s: Lookup(%s, %s) = %+v, %v; want %+v", name, in[0], in[1], r, ok, w)
			}
		}
	}
	defaults := map[[2]string]want{
		{"Available", "Available"}:             {"available", "Available", true},
		{"Available", "OutOfOffice"}:           {"away", "Out of office", true}, // activity before availability
		{"Busy", "InACall"}:                    {"busy", "In a Teams call", true},
		{"Busy", "InAMeeting"}:                 {"busy", "In a meeting", true},
		{"DoNotDisturb", "Presenting"}:         {"busy", "Presenting", true},
		{"Away", "Away"}:                       {"away", "Away", true},
		{"BeRightBack", "BeRightBack"}:         {"away", "Be right back", true},
		{"Offline", "OffWork"}:                 {"offline", "Off work", true},
		{"AvailableIdle", "Inactive"}:          {"available", "Available (idle)", true}, // no Inactive rule: the availability's
		{"Available", "AvailableInactive"}:     {"available", "Available", true},        // an activity not in the sets
		{"PresenceUnknown", "PresenceUnknown"}: {"ignore", "Presence unknown", true},
		{"Sleeping", "Dreaming"}:               {"", "", false},
	}
	c, err := Parse("t.toml", []byte(okSIP+okExt))
	if err != nil {
		t.Fatal(err)
	}
	check("defaults", c.Teams, defaults)
	// A Teams never validated (nil FromTeams) uses the defaults too.
	check("zero Teams", Teams{}, defaults)

	// An override: the pair beats the activity, which beats the
	// availability, whatever the order of the rules.
	doc := okTeams + `[[teams.from_teams]]
match = "Busy"
lamp = "away"
[[teams.from_teams]]
match = "InAMeeting"
lamp = "ignore"
[[teams.from_teams]]
match = "Busy/InAMeeting"
lamp = "busy"
note = "Big meeting"
[[teams.from_teams]]
match = "Away"
lamp = "available"
`
	c, err = Parse("t.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	check("override", c.Teams, map[[2]string]want{
		{"Busy", "InAMeeting"}:         {"busy", "Big meeting", true},     // pair
		{"DoNotDisturb", "InAMeeting"}: {"ignore", "In a meeting", true},  // activity
		{"Busy", "Busy"}:               {"away", "Busy", true},            // activity (and availability)
		{"Busy", "InACall"}:            {"busy", "In a Teams call", true}, // the default activity rule beats the written availability
		{"Busy", "BusyIdle"}:           {"busy", "Busy (idle)", true},
		{"Away", "Away"}:               {"available", "Away", true},
		{"Available", "OutOfOffice"}:   {"away", "Out of office", true}, // the defaults not overridden stay
		{"Available", "Available"}:     {"available", "Available", true},
	})
}

// TestTeamsProblems checks each [teams] rule. Documents are okTeams (lines
// 1-6, [teams] at 6:1) followed by the keys under test from line 7.
func TestTeamsProblems(t *testing.T) {
	const envUnset = "BLFGW_TEST_TEAMS_UNSET"
	const envEmpty = "BLFGW_TEST_TEAMS_EMPTY"
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
	const setPresence = `setPresence accepts only "Available/Available", "Busy/InACall", "Busy/InAConferenceCall", "Away/Away" or "DoNotDisturb/Presenting"`
	const preferred = `setUserPreferredPresence accepts only "Available/Available", "Busy/Busy", "DoNotDisturb/DoNotDisturb", "BeRightBack/BeRightBack", "Away/Away" or "Offline/OffWork"`

	tests := []struct {
		name string
		keys string
		want []string // nil: the document is valid
	}{
		// enabled and the required keys
		{"disabled needs nothing", "enabled = false\n", nil},
		{"enabled needs tenant, client_id and a secret", "enabled = true\n", []string{
			`t.toml:6:1: teams: missing required key "tenant"`,
			`t.toml:6:1: teams: missing required key "client_id"`,
			`t.toml:6:1: teams: missing required key "client_secret" (or client_secret_file or client_secret_env)`}},
		{"enabled with empty keys", "enabled = true\ntenant = \"\"\nclient_id = \" \"\nclient_secret = \"\"\n", []string{
			`t.toml:8:10: teams.tenant: must not be empty`,
			`t.toml:9:13: teams.client_id: " " is not an application (client) id, a GUID such as 00000000-0000-0000-0000-000000000000`,
			`t.toml:10:17: teams.client_secret: must not be empty`}},
		{"enabled with an empty secret file key", teamsOn[:strings.Index(teamsOn, "client_secret")] + "client_secret_file = \"\"\n", []string{
			`t.toml:10:22: teams.client_secret_file: must not be empty`}},
		{"enabled", teamsOn, nil},
		{"tenant as GUID", "tenant = \"" + strings.ToUpper(guid1) + "\"\nclient_id = \"" + guid1 + "\"\n", nil},
		{"tenant not a domain", "tenant = \"contoso\"\n", []string{
			`t.toml:7:10: teams.tenant: "contoso" is neither a tenant id (GUID) nor a domain such as contoso.onmicrosoft.com`}},
		{"tenant URL", "tenant = \"https://login.microsoftonline.com/contoso.com\"\n", []string{
			`t.toml:7:10: teams.tenant: "https://login.microsoftonline.com/contoso.com" is neither a tenant id (GUID) nor a domain such as contoso.onmicrosoft.com`}},
		{"client_id checked while disabled", "client_id = \"my-app\"\n", []string{
			`t.toml:7:13: teams.client_id: "my-app" is not an application (client) id, a GUID such as 00000000-0000-0000-0000-000000000000`}},
		{"client_id GUID with braces", "client_id = \"{" + guid1 + "}\"\n", []string{
			`t.toml:7:13: teams.client_id: "{` + guid1 + `}" is not an application (client) id, a GUID such as 00000000-0000-0000-0000-000000000000`}},

		// the secret sources
		{"two secret sources", "client_secret = \"x\"\nclient_secret_env = \"X\"\n", []string{
			`t.toml:6:1: teams: give at most one of client_secret, client_secret_file and client_secret_env (found client_secret and client_secret_env)`}},
		{"three secret sources", "client_secret = \"x\"\nclient_secret_file = \"/f\"\nclient_secret_env = \"X\"\n", []string{
			`t.toml:6:1: teams: give at most one of client_secret, client_secret_file and client_secret_env (found client_secret and client_secret_file and client_secret_env)`}},
		{"secret sources not read while disabled", "client_secret_file = \"/nonexistent/secret\"\n", nil},
		{"secret env unset", teamsOn[:strings.Index(teamsOn, "client_secret")] + "client_secret_env = \"" + envUnset + "\"\n", []string{
			`t.toml:10:21: teams.client_secret_env: environment variable ` + envUnset + ` is not set`}},
		{"secret env empty", teamsOn[:strings.Index(teamsOn, "client_secret")] + "client_secret_env = \"" + envEmpty + "\"\n", []string{
			`t.toml:10:21: teams.client_secret_env: environment variable ` + envEmpty + ` is empty`}},
		{"secret file missing", teamsOn[:strings.Index(teamsOn, "client_secret")] + "client_secret_file = \"/nonexistent/secret\"\n", []string{
			`t.toml:10:22: teams.client_secret_file: open /nonexistent/secret: no such file or directory`}},
		{"secret file empty", teamsOn[:strings.Index(teamsOn, "client_secret")] + "client_secret_file = \"" + empty + "\"\n", []string{
			fmt.Sprintf(`t.toml:10:22: teams.client_secret_file: %q is empty`, empty)}},

		// URLs
		{"graph_url with version", "graph_url = \"https://graph.microsoft.com/v1.0\"\n", []string{
			`t.toml:7:13: teams.graph_url: "https://graph.microsoft.com/v1.0": leave out /v1.0, which the bridge appends`}},
		{"graph_url with beta", "graph_url = \"https://graph.microsoft.com/beta/\"\n", []string{
			`t.toml:7:13: teams.graph_url: "https://graph.microsoft.com/beta/": leave out /beta, which the bridge appends`}},
		{"graph_url http", "graph_url = \"http://graph.microsoft.com\"\n", []string{
			`t.toml:7:13: teams.graph_url: "http://graph.microsoft.com": use https (http is allowed only for a loopback host such as 127.0.0.1, for tests)`}},
		{"graph_url http loopback", "graph_url = \"http://127.0.0.1:9999\"\nlogin_url = \"http://[::1]:9998/fake\"\n", nil},
		{"graph_url http localhost", "graph_url = \"http://localhost:9999\"\n", nil},
		{"graph_url host only", "graph_url = \"graph.microsoft.com\"\n", []string{
			`t.toml:7:13: teams.graph_url: "graph.microsoft.com" is not an absolute http(s) URL such as "https://graph.microsoft.com"`}},
		{"graph_url other scheme", "graph_url = \"ftp://graph.microsoft.com\"\n", []string{
			`t.toml:7:13: teams.graph_url: "ftp://graph.microsoft.com" is not an absolute http(s) URL such as "https://graph.microsoft.com"`}},
		{"graph_url empty", "graph_url = \"\"\n", []string{
			`t.toml:7:13: teams.graph_url: "" is not an absolute http(s) URL such as "https://graph.microsoft.com"`}},
		{"graph_url query", "graph_url = \"https://graph.microsoft.com?x=1\"\n", []string{
			`t.toml:7:13: teams.graph_url: "https://graph.microsoft.com?x=1" must not have a query (?...)`}},
		{"graph_url fragment", "graph_url = \"https://graph.microsoft.com#x\"\n", []string{
			`t.toml:7:13: teams.graph_url: "https://graph.microsoft.com#x" must not have a fragment (#...)`}},
		{"graph_url credentials", "graph_url = \"https://u:p@graph.microsoft.com\"\n", []string{
			`t.toml:7:13: teams.graph_url: "https://u:p@graph.microsoft.com" must not contain a user name or password`}},
		{"login_url token endpoint", "login_url = \"https://login.microsoftonline.com/contoso.com/oauth2/v2.0/token\"\n", []string{
			`t.toml:7:13: teams.login_url: "https://login.microsoftonline.com/contoso.com/oauth2/v2.0/token": give the authority host only; the bridge appends /TENANT/oauth2/v2.0/token`}},
		{"login_url http", "login_url = \"http://10.0.0.1\"\n", []string{
			`t.toml:7:13: teams.login_url: "http://10.0.0.1": use https (http is allowed only for a loopback host such as 127.0.0.1, for tests)`}},
		{"notification_url path", "notification_url = \"https://gw.example.com/notify\"\n", []string{
			`t.toml:7:20: teams.notification_url: "https://gw.example.com/notify": the path must end in /teams/notify, which the gateway serves`}},
		{"notification_url trailing slash", "notification_url = \"https://gw.example.com/teams/notify/\"\n", []string{
			`t.toml:7:20: teams.notification_url: "https://gw.example.com/teams/notify/": the path must end in /teams/notify, which the gateway serves`}},
		{"notification_url http", "notification_url = \"http://gw.example.com/teams/notify\"\n", []string{
			`t.toml:7:20: teams.notification_url: "http://gw.example.com/teams/notify": use https (http is allowed only for a loopback host such as 127.0.0.1, for tests)`}},
		{"notification_url query", "notification_url = \"https://gw.example.com/teams/notify?k=1\"\n", []string{
			`t.toml:7:20: teams.notification_url: "https://gw.example.com/teams/notify?k=1" must not have a query (?...)`}},
		{"notification_url loopback", "notification_url = \"http://127.0.0.1:8080/teams/notify\"\n", nil},
		{"notification_url not a URL", "notification_url = \"gw.example.com/teams/notify\"\n", []string{
			`t.toml:7:20: teams.notification_url: "gw.example.com/teams/notify" is not an absolute http(s) URL such as "https://gw.example.com/teams/notify"`}},
		{"notification_url needs accounts when enabled", teamsOn + "notification_url = \"https://gw.example.com/teams/notify\"\n", []string{
			`t.toml:11:20: teams.notification_url: needs at least one [[teams.accounts]] entry: Graph takes presence subscriptions only from a signed-in user (delegated Presence.Read.All)`}},

		// ca_file
		{"ca_file missing", teamsOn + "ca_file = \"/nonexistent/ca.pem\"\n", []string{
			`t.toml:11:11: teams.ca_file: open /nonexistent/ca.pem: no such file or directory`}},
		{"ca_file not PEM", teamsOn + "ca_file = \"" + notPEM + "\"\n", []string{
			fmt.Sprintf(`t.toml:11:11: teams.ca_file: %q holds no PEM certificate`, notPEM)}},
		{"ca_file not read while disabled", "ca_file = \"/nonexistent/ca.pem\"\n", nil},
		{"ca_file empty is none", teamsOn + "ca_file = \"\"\n", nil},

		// numbers
		{"poll_interval low", "poll_interval = 4\n", []string{
			`t.toml:7:17: teams.poll_interval: must be between 5 and 3600 seconds, got 4`}},
		{"poll_interval high", "poll_interval = 3601\n", []string{
			`t.toml:7:17: teams.poll_interval: must be between 5 and 3600 seconds, got 3601`}},
		{"poll_interval zero", "poll_interval = 0\n", []string{
			`t.toml:7:17: teams.poll_interval: must be between 5 and 3600 seconds, got 0`}},
		{"reconcile_interval low", "reconcile_interval = 59\n", []string{
			`t.toml:7:22: teams.reconcile_interval: must be between 60 and 86400 seconds, got 59`}},
		{"reconcile_interval high", "reconcile_interval = 86401\n", []string{
			`t.toml:7:22: teams.reconcile_interval: must be between 60 and 86400 seconds, got 86401`}},
		{"call_expiry low", "call_expiry = 4\n", []string{
			`t.toml:7:15: teams.call_expiry: must be between 5 and 240 minutes (Graph's PT5M to PT4H), got 4`}},
		{"call_expiry high", "call_expiry = 241\n", []string{
			`t.toml:7:15: teams.call_expiry: must be between 5 and 240 minutes (Graph's PT5M to PT4H), got 241`}},
		{"limits", "poll_interval = 3600\nreconcile_interval = 60\ncall_expiry = 5\n", nil},

		// to_teams: [teams.to_teams] is line 7, its keys from line 8
		{"to_teams call", "[teams.to_teams]\ncall = \"Busy/Busy\"\n", []string{
			`t.toml:8:8: teams.to_teams.call: "Busy/Busy": ` + setPresence}},
		{"to_teams call case", "[teams.to_teams]\ncall = \"busy/inacall\"\n", []string{
			`t.toml:8:8: teams.to_teams.call: "busy/inacall": ` + setPresence + ` (did you mean "Busy/InACall"?)`}},
		{"to_teams conference", "[teams.to_teams]\nconference = \"Busy/InAMeeting\"\n", []string{
			`t.toml:8:14: teams.to_teams.conference: "Busy/InAMeeting": ` + setPresence}},
		{"to_teams conference empty", "[teams.to_teams]\nconference = \"\"\n", []string{
			`t.toml:8:14: teams.to_teams.conference: "": ` + setPresence}},
		{"to_teams dnd", "[teams.to_teams]\ndnd = \"DoNotDisturb/Presenting\"\n", []string{
			`t.toml:8:7: teams.to_teams.dnd: "DoNotDisturb/Presenting": ` + preferred}},
		{"to_teams away", "[teams.to_teams]\naway = \"Away\"\n", []string{
			`t.toml:8:8: teams.to_teams.away: "Away": ` + preferred}},
		{"to_teams away typo", "[teams.to_teams]\naway = \"BeRigthBack/BeRightBack\"\n", []string{
			`t.toml:8:8: teams.to_teams.away: "BeRigthBack/BeRightBack": ` + preferred + ` (did you mean "BeRightBack/BeRightBack"?)`}},
		{"to_teams inline", "to_teams = { call = \"Available/Available\", dnd = \"Offline/OffWork\" }\n", nil},

		// from_teams: [[teams.from_teams]] is line 7, its keys from line 8
		{"rule without keys", "[[teams.from_teams]]\n", []string{
			`t.toml:7:1: teams.from_teams[0]: missing required key "match"`,
			`t.toml:7:1: teams.from_teams[0]: missing required key "lamp"`}},
		{"rule empty", "[[teams.from_teams]]\nmatch = \"\"\nlamp = \"\"\n", []string{
			`t.toml:8:9: teams.from_teams[0].match: must not be empty`,
			`t.toml:9:8: teams.from_teams[0].lamp: must not be empty`}},
		{"rule unknown name", "[[teams.from_teams]]\nmatch = \"Lunch\"\nlamp = \"away\"\n", []string{
			`t.toml:8:9: teams.from_teams[0].match: unknown availability or activity "Lunch" (write one name, or Availability/Activity)`}},
		{"rule name typo", "[[teams.from_teams]]\nmatch = \"InAMeting\"\nlamp = \"busy\"\n", []string{
			`t.toml:8:9: teams.from_teams[0].match: unknown availability or activity "InAMeting" (did you mean "InAMeeting"?) (write one name, or Availability/Activity)`}},
		{"rule pair unknown availability", "[[teams.from_teams]]\nmatch = \"InACall/InACall\"\nlamp = \"busy\"\n", []string{
			`t.toml:8:9: teams.from_teams[0].match: "InACall/InACall": unknown availability "InACall"`}},
		{"rule pair unknown activity", "[[teams.from_teams]]\nmatch = \"Busy/InAMetting\"\nlamp = \"busy\"\n", []string{
			`t.toml:8:9: teams.from_teams[0].match: "Busy/InAMetting": unknown activity "InAMetting" (did you mean "InAMeeting"?)`}},
		{"rule pair malformed", "[[teams.from_teams]]\nmatch = \"Busy/\"\nlamp = \"busy\"\n", []string{
			`t.toml:8:9: teams.from_teams[0].match: "Busy/" is not Availability/Activity, such as "Busy/InAMeeting"`}},
		{"rule pair with spaces", "[[teams.from_teams]]\nmatch = \"Busy / InACall\"\nlamp = \"busy\"\n", []string{
			`t.toml:8:9: teams.from_teams[0].match: "Busy / InACall": unknown availability "Busy " (did you mean "Busy"?)`}},
		{"rule lamp", "[[teams.from_teams]]\nmatch = \"Busy\"\nlamp = \"red\"\n", []string{
			`t.toml:9:8: teams.from_teams[0].lamp: unknown lamp "red" (want "busy", "away", "offline", "available" or "ignore")`}},
		{"rule note long", "[[teams.from_teams]]\nmatch = \"Busy\"\nlamp = \"busy\"\nnote = \"" + strings.Repeat("é", 65) + "\"\n", []string{
			`t.toml:10:8: teams.from_teams[0].note: must be at most 64 characters (got 65)`}},
		{"rule note control", "[[teams.from_teams]]\nmatch = \"Busy\"\nlamp = \"busy\"\nnote = \"a\\tb\"\n", []string{
			`t.toml:10:8: teams.from_teams[0].note: must not contain control characters (found '\t')`}},
		{"rule note longest", "[[teams.from_teams]]\nmatch = \"Busy\"\nlamp = \"busy\"\nnote = \"" + strings.Repeat("é", 64) + "\"\n", nil},
		{"rule duplicate", "[[teams.from_teams]]\nmatch = \"Away\"\nlamp = \"away\"\n[[teams.from_teams]]\nmatch = \"Busy\"\nlamp = \"busy\"\n[[teams.from_teams]]\nmatch = \"Away\"\nlamp = \"offline\"\n", []string{
			`t.toml:14:9: teams.from_teams[2].match: duplicate match "Away" (also teams.from_teams[0])`}},
		{"rule pair and its names are different matches", "[[teams.from_teams]]\nmatch = \"Away/Away\"\nlamp = \"away\"\n[[teams.from_teams]]\nmatch = \"Away\"\nlamp = \"away\"\n", nil},
		{"rule inline", "from_teams = [{ match = \"Busy\", lamp = \"busy\" }, { match = \"Idle\", lamp = \"x\" }]\n", []string{
			`t.toml:7:60: teams.from_teams[1].match: unknown availability or activity "Idle" (write one name, or Availability/Activity)`,
			`t.toml:7:75: teams.from_teams[1].lamp: unknown lamp "x" (want "busy", "away", "offline", "available" or "ignore")`}},

		// accounts: [[teams.accounts]] is line 7, its keys from line 8
		{"account without keys", "[[teams.accounts]]\n", []string{
			`t.toml:7:1: teams.accounts[0]: missing required key "username"`}},
		{"account username", "[[teams.accounts]]\nusername = \"svc\"\n", []string{
			`t.toml:8:12: teams.accounts[0].username: "svc" is not a user principal name such as blfgw-presence@contoso.com`}},
		{"account duplicate", "[[teams.accounts]]\nusername = \"svc@contoso.com\"\n[[teams.accounts]]\nusername = \"SVC@Contoso.com\"\n", []string{
			`t.toml:10:12: teams.accounts[1].username: duplicate account "SVC@Contoso.com" (also teams.accounts[0]): Graph allows one presence subscription per app and user`}},
		{"account two passwords", "[[teams.accounts]]\nusername = \"svc@contoso.com\"\npassword = \"x\"\npassword_env = \"X\"\n", []string{
			`t.toml:7:1: teams.accounts[0]: give at most one of password, password_file and password_env (found password and password_env)`}},
		{"account password not needed without notifications", teamsOn + "[[teams.accounts]]\nusername = \"svc@contoso.com\"\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.toml", []byte(okTeams+tt.keys))
			checkProblems(t, err, tt.want)
		})
	}
}

func TestTeamsAccounts(t *testing.T) {
	t.Setenv("BLFGW_TEST_TEAMS_PW", "from-env")
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	on := okTeams + teamsOn + "notification_url = \"https://gw.example.com/teams/notify\"\n" // lines 7-11
	doc := on + `[[teams.accounts]]
username = "svc1@contoso.com"
password = "inline"
[[teams.accounts]]
username = "svc2@contoso.com"
password_file = "` + pwFile + `"
[[teams.accounts]]
username = "svc3@contoso.com"
password_env = "BLFGW_TEST_TEAMS_PW"
`
	c, err := Parse("t.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"inline", "from-file", "from-env"} {
		if got := c.Teams.Accounts[i].Password; got != want {
			t.Errorf("account %d password %q, want %q", i, got, want)
		}
	}

	// With notifications on, each account needs a password.
	doc = on + "[[teams.accounts]]\nusername = \"svc1@contoso.com\"\n[[teams.accounts]]\nusername = \"svc2@contoso.com\"\npassword_env = \"BLFGW_TEST_TEAMS_NONE\"\n"
	_, err = Parse("t.toml", []byte(doc))
	checkProblems(t, err, []string{
		`t.toml:12:1: teams.accounts[0]: missing required key "password" (or password_file or password_env)`,
		`t.toml:16:16: teams.accounts[1].password_env: environment variable BLFGW_TEST_TEAMS_NONE is not set`,
	})

	// One account covers 650 Teams users; the 651st needs a second one.
	var b strings.Builder
	b.WriteString(okSIP)
	for i := range MaxTeamsUsersPerAccount + 1 {
		fmt.Fprintf(&b, "[[extensions]]\nnumber = \"%d\"\nname = \"U\"\nteams_user = \"u%d@contoso.com\"\n", 1000+i, i)
	}
	head := b.String()
	line := strings.Count(head, "\n") + 1
	acct := "[teams]\n" + teamsOn + "notification_url = \"https://gw.example.com/teams/notify\"\n" +
		"[[teams.accounts]]\nusername = \"svc1@contoso.com\"\npassword = \"x\"\n"
	_, err = Parse("t.toml", []byte(head+acct))
	checkProblems(t, err, []string{
		"t.toml:" + strconv.Itoa(line+6) + ":1: teams.accounts: 651 extensions have a teams_user, which needs 2 accounts (each covers at most 650), found 1",
	})
	acct += "[[teams.accounts]]\nusername = \"svc2@contoso.com\"\npassword = \"y\"\n"
	if _, err := Parse("t.toml", []byte(head+acct)); err != nil {
		t.Fatal(err)
	}
	// Without notifications nothing needs an account.
	if _, err := Parse("t.toml", []byte(head+"[teams]\n"+teamsOn)); err != nil {
		t.Fatal(err)
	}
}

func TestTeamsUser(t *testing.T) {
	ext := func(n int, user string) string {
		return fmt.Sprintf("[[extensions]]\nnumber = \"%d\"\nname = \"U\"\nteams_user = %q\n", 1000+n, user) // 4 lines
	}
	tests := []struct {
		name  string
		users []string
		want  []string
	}{
		{"valid", []string{guid1, "alice@contoso.com", "o'brien.j-x_y!#^~@sub.contoso.onmicrosoft.com", ""}, nil},
		{"duplicate, case-insensitive", []string{"alice@contoso.com", guid1, "Alice@Contoso.COM", strings.ToUpper(guid1)}, []string{
			`t.toml:14:14: extensions[2].teams_user: duplicate teams_user "Alice@Contoso.COM" (also extensions[0])`,
			`t.toml:18:14: extensions[3].teams_user: duplicate teams_user "AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE" (also extensions[1])`}},
		{"malformed", []string{"alice", "alice@contoso", "al ice@contoso.com", ".alice@contoso.com", "a..b@contoso.com", "alice@10.0.0.1", "{" + guid1 + "}", "a@b@contoso.com"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := okSIP
			for i, u := range tt.users {
				doc += ext(i, u)
			}
			_, err := Parse("t.toml", []byte(doc))
			want := tt.want
			if tt.name == "malformed" {
				for i, u := range tt.users {
					want = append(want, fmt.Sprintf(`t.toml:%d:14: extensions[%d].teams_user: %q is neither an Entra object id (GUID) nor a user principal name such as alice@contoso.com`, 6+4*i, i, u))
				}
			}
			checkProblems(t, err, want)
		})
	}
	// teams_user is checked whether [teams] is enabled or not, and kept.
	c, err := Parse("t.toml", []byte(okSIP+ext(1, "bob@contoso.com")+"[teams]\nenabled = false\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Extensions[0].TeamsUser != "bob@contoso.com" {
		t.Errorf("teams_user = %q", c.Extensions[0].TeamsUser)
	}
}

func TestTeamsSecretSources(t *testing.T) {
	checkSecretSources(t, secretSection{
		base: okTeams + teamsOn[:strings.Index(teamsOn, "client_secret")],
		env:  "BLFGW_TEST_TEAMS_SECRET",
		get:  func(c *Config) *string { return &c.Teams.ClientSecret },
		on:   func(c *Config, on bool) { c.Teams.Enabled = on },
		sources: func(c *Config, file, env string) {
			c.Teams.ClientSecretFile, c.Teams.ClientSecretEnv = file, env
		},
	})
}

// secretSection is what checkSecretSources needs to know of a section
// with a client secret ([teams], [genesys]).
type secretSection struct {
	base    string // a valid document up to the secret key, enabled
	env     string // the variable the test sets to "from-env"
	get     func(*Config) *string
	on      func(*Config, bool)
	sources func(c *Config, file, env string)
}

// checkSecretSources: the secret comes inline, from a file or from the
// environment; validating again reads a rotated file, drops the secret
// when the section is disabled, and follows a source switched in code.
func checkSecretSources(t *testing.T, s secretSection) {
	t.Helper()
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(s.env, "from-env")
	for _, tt := range []struct{ key, want string }{
		{"client_secret = \"inline\"\n", "inline"},
		{"client_secret_file = \"" + secretFile + "\"\n", "from-file"},
		{"client_secret_env = \"" + s.env + "\"\n", "from-env"},
	} {
		c, err := Parse("t.toml", []byte(s.base+tt.key))
		if err != nil {
			t.Fatal(err)
		}
		if got := *s.get(c); got != tt.want {
			t.Errorf("%s: ClientSecret = %q, want %q", tt.key, got, tt.want)
		}
	}
	c, err := Parse("t.toml", []byte(s.base+"client_secret_file = \""+secretFile+"\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secretFile, []byte("rotated\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("second Validate: %v", err)
	}
	if got := *s.get(c); got != "rotated" {
		t.Errorf("after rotation: %q", got)
	}
	s.on(c, false)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := *s.get(c); got != "" {
		t.Errorf("disabled: ClientSecret = %q", got)
	}
	s.on(c, true)
	s.sources(c, "", s.env)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := *s.get(c); got != "from-env" {
		t.Errorf("switched to env: %q", got)
	}
}

func TestTeamsUnknownKeys(t *testing.T) {
	doc := okTeams + `enable = true
client_secrets = "x"
[teams.to_team]
call = "Busy/InACall"
[teams.to_teams]
cal = "Busy/InACall"
[[teams.account]]
username = "svc@contoso.com"
[[teams.accounts]]
user = "svc@contoso.com"
pasword = "x"
[[teams.from_teams]]
match = "Busy"
lamp = "busy"
note = "x"
colour = "red"
[[teams.from_team]]
match = "Away"
[[extensions]]
number = "1002"
name = "B"
team_user = "b@contoso.com"
`
	_, err := Parse("t.toml", []byte(doc))
	checkProblems(t, err, []string{
		`t.toml:7:1: teams.enable: unknown key (did you mean "enabled"?)`,
		`t.toml:8:1: teams.client_secrets: unknown key (did you mean "client_secret"?)`,
		`t.toml:9:1: teams.to_team: unknown table (did you mean "to_teams"?)`,
		`t.toml:12:1: teams.to_teams.cal: unknown key (did you mean "call"?)`,
		`t.toml:13:1: teams.account: unknown table (did you mean "accounts"?)`,
		`t.toml:15:1: teams.accounts[0]: missing required key "username"`,
		`t.toml:16:1: teams.accounts[0].user: unknown key`,
		`t.toml:17:1: teams.accounts[0].pasword: unknown key (did you mean "password"?)`,
		`t.toml:22:1: teams.from_teams[0].colour: unknown key`,
		`t.toml:23:1: teams.from_team: unknown table (did you mean "from_teams"?)`,
		`t.toml:28:1: extensions[1].team_user: unknown key (did you mean "teams_user"?)`,
	})
}

func TestTeamsDecodeErrors(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"enabled string", okTeams + "enabled = \"yes\"\n",
			`t.toml:7:11: teams.enabled: expected true or false, found a string`},
		{"poll_interval string", okTeams + "poll_interval = \"30s\"\n",
			`t.toml:7:17: teams.poll_interval: expected an integer, found a string`},
		{"to_teams string", okTeams + "to_teams = \"Busy/InACall\"\n",
			`t.toml:7:12: teams.to_teams: expected a table, found a string`},
		{"from_teams table", okTeams + "from_teams = \"x\"\n",
			`t.toml:7:14: teams.from_teams: expected an array of tables, found a string`},
		{"teams_user integer", okSIP + okExt + "teams_user = 42\n",
			`t.toml:6:14: extensions[0].teams_user: expected a string, found an integer (put it in quotes)`},
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

func TestTeamsManyProblemsAtOnce(t *testing.T) {
	doc := `[sip]
domain = "pbx.example.com"

[[extensions]]
number = "1001"
name = "Alice"
teams_user = "alice"

[teams]
enabled = true
tenant = "contoso"
client_secret = "x"
client_secret_file = "/run/secrets/teams"
graph_url = "https://graph.microsoft.com/v1.0"
notification_url = "https://gw.example.com/notify"
call_expiry = 480

[teams.to_teams]
call = "Busy/Busy"
away = "Away/Away"

[[teams.from_teams]]
match = "Meeting"
lamp = "busy"

[[teams.from_teams]]
match = "Away"
lamp = "grey"
`
	_, err := Parse("t.toml", []byte(doc))
	checkProblems(t, err, []string{
		`t.toml:7:14: extensions[0].teams_user: "alice" is neither an Entra object id (GUID) nor a user principal name such as alice@contoso.com`,
		`t.toml:9:1: teams: missing required key "client_id"`,
		`t.toml:9:1: teams: give at most one of client_secret, client_secret_file and client_secret_env (found client_secret and client_secret_file)`,
		`t.toml:11:10: teams.tenant: "contoso" is neither a tenant id (GUID) nor a domain such as contoso.onmicrosoft.com`,
		`t.toml:14:13: teams.graph_url: "https://graph.microsoft.com/v1.0": leave out /v1.0, which the bridge appends`,
		`t.toml:15:20: teams.notification_url: "https://gw.example.com/notify": the path must end in /teams/notify, which the gateway serves`,
		`t.toml:15:20: teams.notification_url: needs at least one [[teams.accounts]] entry: Graph takes presence subscriptions only from a signed-in user (delegated Presence.Read.All)`,
		`t.toml:16:15: teams.call_expiry: must be between 5 and 240 minutes (Graph's PT5M to PT4H), got 480`,
		`t.toml:19:8: teams.to_teams.call: "Busy/Busy": setPresence accepts only "Available/Available", "Busy/InACall", "Busy/InAConferenceCall", "Away/Away" or "DoNotDisturb/Presenting"`,
		`t.toml:23:9: teams.from_teams[0].match: unknown availability or activity "Meeting" (write one name, or Availability/Activity)`,
		`t.toml:28:8: teams.from_teams[1].lamp: unknown lamp "grey" (want "busy", "away", "offline", "available" or "ignore")`,
	})
}

// No client secret or account password may come out of an error, a dump or
// a log line.
func TestTeamsNoSecretLeak(t *testing.T) {
	const inline = "Tm7-inline-SECRET-1187"
	const fromFile = "Tm7-file-SECRET-5521"
	const fromEnv = "Tm7-env-SECRET-3390"
	const acctPW = "Tm7-account-SECRET-6604"
	secrets := []string{inline, fromFile, fromEnv, acctPW}
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(fromFile+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BLFGW_TEST_TEAMS_LEAK", fromEnv)
	noSecret := func(what, s string) {
		t.Helper()
		for _, pw := range secrets {
			if strings.Contains(s, pw) {
				t.Errorf("%s contains a secret: %s", what, s)
			}
		}
	}
	on := okTeams + teamsOn[:strings.Index(teamsOn, "client_secret")]
	acct := "notification_url = \"https://gw.example.com/teams/notify\"\n[[teams.accounts]]\nusername = \"svc@contoso.com\"\npassword = \"" + acctPW + "\"\n"

	// Problems around the secrets.
	_, err := Parse("t.toml", []byte(on+"client_secret = \""+inline+"\"\nclient_secret_env = \"BLFGW_TEST_TEAMS_LEAK\"\npoll_interval = 1\n"+
		"[[teams.accounts]]\nusername = \"bad\"\npassword = \""+acctPW+"\"\npassword_file = \""+secretFile+"\"\nbogus = \""+acctPW+"\"\n"))
	if err == nil {
		t.Fatal("no error")
	}
	noSecret("Error()", err.Error())

	for _, src := range []string{
		"client_secret = \"" + inline + "\"\n",
		"client_secret_file = \"" + secretFile + "\"\n",
		"client_secret_env = \"BLFGW_TEST_TEAMS_LEAK\"\n",
	} {
		c, err := Parse("t.toml", []byte(on+src+acct))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(secrets, c.Teams.ClientSecret) || c.Teams.Accounts[0].Password != acctPW {
			t.Fatalf("secrets not resolved: %q", src)
		}
		tm := c.Teams
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("teams", "teams", tm, "account", tm.Accounts[0], "config", c)
		slog.New(slog.NewTextHandler(&buf, nil)).Info("teams", "teams", tm, "ptr", &tm, "accounts", tm.Accounts, "config", c)
		fmt.Fprintf(&buf, "%v %+v %#v %s %d %x %q\n", tm, tm, tm, tm, tm, tm, tm)
		fmt.Fprintf(&buf, "%v %+v %#v %s %d %x\n", tm.Accounts, tm.Accounts, tm.Accounts, tm.Accounts[0], tm.Accounts[0], tm.Accounts[0])
		fmt.Fprintf(&buf, "%v %+v %#v\n", *c, *c, *c)
		j, _ := json.Marshal(c)
		buf.Write(j)
		out := buf.String()
		noSecret("output", out)
		for _, want := range []string{redacted, "svc@contoso.com", "contoso.onmicrosoft.com", "configs.Teams{", "configs.TeamsAccount{"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q: %s", want, out)
			}
		}
	}
}

// TestExampleTeams keeps example.toml's [teams] disabled, valid and
// documented, and checks that enabling it asks for exactly what is left.
func TestExampleTeams(t *testing.T) {
	c, err := Parse("example.toml", Example)
	if err != nil {
		t.Fatal(err)
	}
	want := defaultTeams()
	want.ClientSecretEnv = "BLFGW_TEAMS_CLIENT_SECRET"
	if !reflect.DeepEqual(c.Teams, want) {
		t.Errorf("Teams = %+v\nwant %+v", c.Teams, want)
	}
	if e, _ := c.Extension("1001"); e.TeamsUser != "alice@example.com" {
		t.Errorf("1001 teams_user = %q", e.TeamsUser)
	}

	// Every [teams] key is documented.
	for _, typ := range []reflect.Type{reflect.TypeFor[Teams](), reflect.TypeFor[TeamsAccount](), reflect.TypeFor[TeamsToTeams](), reflect.TypeFor[TeamsRule]()} {
		for f := range typ.Fields() {
			if name := tomlName(f); name != "" && !bytes.Contains(Example, []byte(name)) {
				t.Errorf("example.toml does not mention %s", name)
			}
		}
	}
	for _, s := range []string{"teams_user", "[[teams.accounts]]", "[[teams.from_teams]]", "[teams.to_teams]",
		"Presence.ReadWrite.All", "Presence.Read.All", "User.Read.All", "Delegated"} {
		if !bytes.Contains(Example, []byte(s)) {
			t.Errorf("example.toml does not mention %s", s)
		}
	}

	// Enabled, it asks for the tenant and the client id at their lines,
	// and for the secret's variable.
	const from, to = "\nenabled = false\n", "\nenabled = true\n"
	if bytes.Count(Example, []byte(from)) != 1 {
		t.Fatalf("example.toml has %d lines %s", bytes.Count(Example, []byte(from)), from)
	}
	doc := bytes.Replace(Example, []byte(from), []byte(to), 1)
	lineOf := func(s string) int {
		t.Helper()
		i := bytes.Index(doc, []byte("\n"+s))
		if i < 0 {
			t.Fatalf("no line %s", s)
		}
		return 2 + bytes.Count(doc[:i], []byte("\n"))
	}
	os.Unsetenv("BLFGW_TEAMS_CLIENT_SECRET")
	_, err = Parse("example.toml", doc)
	checkProblems(t, err, []string{
		fmt.Sprintf("example.toml:%d:10: teams.tenant: must not be empty", lineOf(`tenant = ""`)),
		fmt.Sprintf("example.toml:%d:13: teams.client_id: must not be empty", lineOf(`client_id = ""`)),
		fmt.Sprintf("example.toml:%d:21: teams.client_secret_env: environment variable BLFGW_TEAMS_CLIENT_SECRET is not set", lineOf(`client_secret_env = `)),
	})

	// Filled in, it loads.
	t.Setenv("BLFGW_TEAMS_CLIENT_SECRET", "s")
	doc = bytes.Replace(doc, []byte(`tenant = ""`), []byte(`tenant = "contoso.onmicrosoft.com"`), 1)
	doc = bytes.Replace(doc, []byte(`client_id = ""`), []byte(`client_id = "`+guid1+`"`), 1)
	c, err = Parse("example.toml", doc)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Teams.Enabled || c.Teams.ClientSecret != "s" {
		t.Errorf("enabled example: %+v", c.Teams)
	}
}

// writeCA writes a self-signed CA certificate in PEM and returns its path.
func writeCA(t *testing.T, dir string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "blfgw test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTeamsDemoConfig: configs/teams-demo.toml, which make teams-demo
// runs against the bundled fake, is valid once the fake has written its
// certificate to var/fakegraph-ca.pem.
func TestTeamsDemoConfig(t *testing.T) {
	demo, err := filepath.Abs("teams-demo.toml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.Mkdir("var", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(writeCA(t, dir), filepath.Join("var", "fakegraph-ca.pem")); err != nil {
		t.Fatal(err)
	}
	c, err := Load(demo)
	if err != nil {
		t.Fatalf("teams-demo.toml:\n%v", err)
	}
	if !c.Teams.Enabled || c.Teams.NotificationURL == "" || len(c.Teams.Accounts) != 1 || c.Teams.ClientSecret == "" {
		t.Errorf("teams = %+v", c.Teams)
	}
	users := 0
	for _, e := range c.Extensions {
		if e.TeamsUser != "" {
			users++
		}
	}
	if users != len(c.Extensions) {
		t.Errorf("%d of %d extensions have a teams_user", users, len(c.Extensions))
	}
}
