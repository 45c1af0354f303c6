package configs

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// A second extension for documents whose references need one to point at.
const okExt2 = "[[extensions]]\nnumber = \"1002\"\nname = \"Bob\"\n" // 3 lines

func TestPresenceDecode(t *testing.T) {
	doc := okSIP + `[presence]
blocked = "refuse"
away_lamp = "busy"
share_by_default = false
share_with_default = { roles = ["supervisor", "qa"], departments = ["Sales"], extensions = ["1002"] }
[[departments]]
name = "Sales"
[[departments]]
name = "Support"
[[extensions]]
number = "1001"
name = "Alice"
share_presence = true
share_with = { everyone = false, roles = ["manager"], departments = ["Support"], extensions = ["1002", "1003"] }
delegates = ["1002", "1003"]
appearance = ["1003", "1001", "1002"]
status = "away"
status_message = "At lunch, back 13:30 – café"
locked = ["share_with", "status_message"]
[[extensions]]
number = "1002"
name = "Bob"
share_presence = true
delegates = []
appearance = []
status = ""
status_message = ""
locked = []
[[extensions]]
number = "1003"
name = "Carol"
[extensions.share_with]
everyone = true
`
	c, err := Parse("t.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	wantP := Presence{
		Blocked:        "refuse",
		AwayLamp:       "busy",
		ShareByDefault: false,
		ShareWithDefault: ShareWith{
			Roles:       []string{"supervisor", "qa"},
			Departments: []string{"Sales"},
			Extensions:  []string{"1002"},
		},
	}
	if !reflect.DeepEqual(c.Presence, wantP) {
		t.Errorf("Presence = %+v, want %+v", c.Presence, wantP)
	}

	a := c.Extensions[0]
	if a.SharePresence == nil || !*a.SharePresence {
		t.Errorf("1001 share_presence = %v, want true", a.SharePresence)
	}
	wantSW := &ShareWith{Roles: []string{"manager"}, Departments: []string{"Support"}, Extensions: []string{"1002", "1003"}}
	if !reflect.DeepEqual(a.ShareWith, wantSW) {
		t.Errorf("1001 share_with = %+v, want %+v", a.ShareWith, wantSW)
	}
	if !slices.Equal(a.Delegates, []string{"1002", "1003"}) {
		t.Errorf("1001 delegates = %q", a.Delegates)
	}
	if !slices.Equal(a.Appearance, []string{"1003", "1001", "1002"}) {
		t.Errorf("1001 appearance = %q", a.Appearance)
	}
	if a.Status == nil || *a.Status != "away" {
		t.Errorf("1001 status = %v, want away", a.Status)
	}
	if a.StatusMessage == nil || *a.StatusMessage != "At lunch, back 13:30 – café" {
		t.Errorf("1001 status_message = %v", a.StatusMessage)
	}
	if !slices.Equal(a.Locked, []string{"share_with", "status_message"}) {
		t.Errorf("1001 locked = %q", a.Locked)
	}

	// Written empty values are values: they must override what a user set
	// through the API, so they cannot look like "not written".
	b := c.Extensions[1]
	if b.Delegates == nil || len(b.Delegates) != 0 || b.Appearance == nil || len(b.Appearance) != 0 ||
		b.Locked == nil || len(b.Locked) != 0 {
		t.Errorf("1002 empty arrays: delegates %#v appearance %#v locked %#v", b.Delegates, b.Appearance, b.Locked)
	}
	if b.Status == nil || *b.Status != "" || b.StatusMessage == nil || *b.StatusMessage != "" {
		t.Errorf("1002 status %v status_message %v, want both set to \"\"", b.Status, b.StatusMessage)
	}
	if b.ShareWith != nil {
		t.Errorf("1002 share_with = %+v, want nil (not written)", b.ShareWith)
	}

	// A [extensions.share_with] sub-table belongs to the extension above it.
	cc := c.Extensions[2]
	if !reflect.DeepEqual(cc.ShareWith, &ShareWith{Everyone: true}) {
		t.Errorf("1003 share_with = %+v, want {Everyone:true}", cc.ShareWith)
	}
	if cc.SharePresence != nil || cc.Delegates != nil || cc.Appearance != nil || cc.Status != nil ||
		cc.StatusMessage != nil || cc.Locked != nil {
		t.Errorf("1003 has values it does not write: %#v %#v %#v %v %v %#v",
			cc.SharePresence, cc.Delegates, cc.Appearance, cc.Status, cc.StatusMessage, cc.Locked)
	}
}

func TestPresenceDefaults(t *testing.T) {
	c, err := Parse("t.toml", []byte(okSIP+okExt))
	if err != nil {
		t.Fatal(err)
	}
	want := Presence{Blocked: "polite", AwayLamp: "idle", ShareByDefault: true, ShareWithDefault: ShareWith{Everyone: true}}
	if !reflect.DeepEqual(c.Presence, want) {
		t.Errorf("Presence = %+v, want %+v", c.Presence, want)
	}
	e := c.Extensions[0]
	if e.SharePresence != nil || e.ShareWith != nil || e.Delegates != nil || e.Appearance != nil ||
		e.Status != nil || e.StatusMessage != nil || e.Locked != nil {
		t.Errorf("unwritten user fields are not nil: %#v", e)
	}

	// An empty [presence] table still gets every default.
	c, err = Parse("t.toml", []byte(okSIP+"[presence]\n"+okExt))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Presence, want) {
		t.Errorf("empty [presence]: %+v, want %+v", c.Presence, want)
	}

	// A share_with_default written only through a dotted key is the
	// admin's, not a default to fill in.
	c, err = Parse("t.toml", []byte(okSIP+"[presence]\nshare_with_default.roles = [\"qa\"]\nshare_by_default = false\n"+okExt))
	if err != nil {
		t.Fatal(err)
	}
	want = Presence{Blocked: "polite", AwayLamp: "idle", ShareByDefault: false, ShareWithDefault: ShareWith{Roles: []string{"qa"}}}
	if !reflect.DeepEqual(c.Presence, want) {
		t.Errorf("dotted share_with_default: %+v, want %+v", c.Presence, want)
	}

	// A written empty table shares with nobody.
	c, err = Parse("t.toml", []byte(okSIP+"[presence.share_with_default]\n"+okExt))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Presence.ShareWithDefault, ShareWith{}) {
		t.Errorf("empty share_with_default table: %+v, want nobody", c.Presence.ShareWithDefault)
	}

	// A Config built in code gets the string defaults from Validate.
	c = &Config{
		SIP:        SIP{Domain: "pbx.test", Listen: []string{"udp:127.0.0.1:0"}, MinExpires: 1, MaxExpires: 10, DefaultExpires: 5, NotifyTimeouts: 1},
		Log:        Log{Level: "info", Format: "text"},
		HTTP:       HTTP{Listen: "127.0.0.1:0"},
		Store:      Store{Path: "x.db"},
		Extensions: []Extension{{Number: "1", Name: "One", Role: "user"}},
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Presence.Blocked != "polite" || c.Presence.AwayLamp != "idle" {
		t.Errorf("built in code: blocked %q away_lamp %q", c.Presence.Blocked, c.Presence.AwayLamp)
	}
}

// TestPresenceProblems checks each rule about who may see whom. Documents
// are okSIP+okDept+okExt (lines 1-7, department "Sales", extension 1001)
// followed by the keys under test from line 8.
func TestPresenceProblems(t *testing.T) {
	const head = okSIP + okDept + okExt
	tests := []struct {
		name string
		doc  string
		want []string // nil: the document is valid
	}{
		// [presence]
		{"presence values", okSIP + "[presence]\nblocked = \"deny\"\naway_lamp = \"dark\"\n" + okDept + okExt, []string{
			`t.toml:4:11: presence.blocked: unknown mode "deny" (want "polite" or "refuse")`,
			`t.toml:5:13: presence.away_lamp: unknown lamp "dark" (want "idle" or "busy")`}},
		{"presence blocked empty", okSIP + "[presence]\nblocked = \"\"\n" + okExt, []string{
			`t.toml:4:11: presence.blocked: unknown mode "" (want "polite" or "refuse")`}},
		{"share_with_default", okSIP + "[presence]\nshare_with_default = { roles = [\"boss\"], departments = [\"Salse\"], extensions = [\"2000\"] }\n" + okDept + okExt, []string{
			`t.toml:4:33: presence.share_with_default.roles[0]: unknown role "boss" (want "user", "admin", "supervisor", "manager" or "qa")`,
			`t.toml:4:57: presence.share_with_default.departments[0]: unknown department "Salse" (did you mean "Sales"?)`,
			`t.toml:4:81: presence.share_with_default.extensions[0]: unknown extension "2000"`}},
		{"presence all valid", okSIP + "[presence]\nblocked = \"refuse\"\naway_lamp = \"busy\"\nshare_by_default = false\nshare_with_default = { everyone = false, roles = [\"admin\"], departments = [\"Sales\"], extensions = [\"1001\"] }\n" + okDept + okExt, nil},

		// share_with
		{"share_with roles", head + "share_with = { roles = [\"supervsior\", \"qa\", \"qa\"] }\n", []string{
			`t.toml:8:25: extensions[0].share_with.roles[0]: unknown role "supervsior" (want "user", "admin", "supervisor", "manager" or "qa")`,
			`t.toml:8:45: extensions[0].share_with.roles[2]: "qa" is listed twice (also extensions[0].share_with.roles[1])`}},
		{"share_with departments", head + "share_with = { departments = [\"sales\", \"Marketing\"] }\n", []string{
			`t.toml:8:31: extensions[0].share_with.departments[0]: unknown department "sales" (did you mean "Sales"?)`,
			`t.toml:8:40: extensions[0].share_with.departments[1]: unknown department "Marketing"`}},
		{"share_with extensions", head + "share_with = { everyone = false, extensions = [\"1002\", \"1009\"] }\n" + okExt2, []string{
			`t.toml:8:56: extensions[0].share_with.extensions[1]: unknown extension "1009"`}},
		{"share_with sub-table", head + "[extensions.share_with]\nroles = [\"boss\"]\n", []string{
			`t.toml:9:10: extensions[0].share_with.roles[0]: unknown role "boss" (want "user", "admin", "supervisor", "manager" or "qa")`}},
		{"share_with nobody", head + "share_with = {}\n", nil},

		// delegates
		{"delegates", head + "delegates = [\"1001\", \"1002\", \"1002\", \"1009\"]\n" + okExt2, []string{
			`t.toml:8:14: extensions[0].delegates[0]: 1001 cannot be its own delegate`,
			`t.toml:8:30: extensions[0].delegates[2]: "1002" is listed twice (also extensions[0].delegates[1])`,
			`t.toml:8:38: extensions[0].delegates[3]: unknown extension "1009"`}},
		{"delegates while not shared", head + "share_presence = false\ndelegates = [\"1002\"]\n" + okExt2, []string{
			`t.toml:9:1: extensions[0].delegates: delegates need share_presence = true: delegates are suspended while presence is not shared`}},
		{"delegates while not shared by default", head + "delegates = [\"1002\"]\n" + okExt2 + "[presence]\nshare_by_default = false\n", []string{
			`t.toml:8:1: extensions[0].delegates: delegates need share_presence = true: delegates are suspended while presence is not shared (share_presence is not set and presence.share_by_default is false)`}},
		{"delegates shared against the default", head + "share_presence = true\ndelegates = [\"1002\"]\n" + okExt2 + "[presence]\nshare_by_default = false\n", nil},
		{"no delegates while not shared", head + "share_presence = false\ndelegates = []\n", nil},
		{"delegates of each other", head + "delegates = [\"1002\"]\n" + okExt2 + "delegates = [\"1001\"]\n", nil},

		// appearance
		{"appearance", head + "appearance = [\"1002\", \"1009\", \"1002\"]\n" + okExt2, []string{
			`t.toml:8:23: extensions[0].appearance[1]: unknown extension "1009"`,
			`t.toml:8:31: extensions[0].appearance[2]: "1002" is listed twice (also extensions[0].appearance[0])`}},
		{"appearance of itself", head + "appearance = [\"1001\"]\n", nil},

		// status, status_message
		{"status", head + "status = \"busy\"\n", []string{
			`t.toml:8:10: extensions[0].status: unknown status "busy" (want "", "available", "dnd" or "away")`}},
		{"status follows the phone", head + "status = \"\"\n", nil},
		{"status_message too long", head + "status_message = \"" + strings.Repeat("é", 201) + "\"\n", []string{
			`t.toml:8:18: extensions[0].status_message: must be at most 200 characters (got 201)`}},
		{"status_message at the limit", head + "status_message = \"" + strings.Repeat("é", 200) + "\"\n", nil},
		{"status_message control", head + "status_message = \"back\\tsoon\"\n", []string{
			`t.toml:8:18: extensions[0].status_message: must not contain control characters (found '\t')`}},
		{"status_message newline", head + "status_message = \"\"\"\nback\nsoon\"\"\"\n", []string{
			`t.toml:8:18: extensions[0].status_message: must not contain control characters (found '\n')`}},

		// locked
		{"locked", head + "locked = [\"status\", \"satus\", \"status\", \"locked\"]\n", []string{
			`t.toml:8:21: extensions[0].locked[1]: unknown field "satus" (want "share_presence", "share_with", "delegates", "appearance", "status" or "status_message")`,
			`t.toml:8:30: extensions[0].locked[2]: "status" is listed twice (also extensions[0].locked[0])`,
			`t.toml:8:40: extensions[0].locked[3]: unknown field "locked" (want "share_presence", "share_with", "delegates", "appearance", "status" or "status_message")`}},
		{"locked every field", head + "locked = [\"share_presence\", \"share_with\", \"delegates\", \"appearance\", \"status\", \"status_message\"]\n", nil},

		// inline extension tables
		{"inline extension", "extensions = [{number = \"1001\", name = \"A\", delegates = [\"1001\"]}]\n" + okSIP, []string{
			`t.toml:1:58: extensions[0].delegates[0]: 1001 cannot be its own delegate`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.toml", []byte(tt.doc))
			checkProblems(t, err, tt.want)
		})
	}
}

func TestPresenceDecodeErrors(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"share_presence string", okSIP + okExt + "share_presence = \"yes\"\n",
			`t.toml:6:18: extensions[0].share_presence: expected true or false, found a string`},
		{"share_with string", okSIP + okExt + "share_with = \"everyone\"\n",
			`t.toml:6:14: extensions[0].share_with: expected a table, found a string`},
		{"everyone string", okSIP + okExt + "share_with = { everyone = \"yes\" }\n",
			`t.toml:6:27: extensions[0].share_with.everyone: expected true or false, found a string`},
		{"delegates string", okSIP + okExt + "delegates = \"1002\"\n",
			`t.toml:6:13: extensions[0].delegates: expected an array of strings, found a string`},
		{"unquoted delegate", okSIP + okExt + "delegates = [1002]\n",
			`t.toml:6:14: extensions[0].delegates[0]: expected a string, found an integer (put it in quotes)`},
		{"status integer", okSIP + okExt + "status = 1\n",
			`t.toml:6:10: extensions[0].status: expected a string, found an integer (put it in quotes)`},
		{"share_by_default string", okSIP + "[presence]\nshare_by_default = \"no\"\n",
			`t.toml:4:20: presence.share_by_default: expected true or false, found a string`},
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

func TestPresenceUnknownKeys(t *testing.T) {
	doc := okSIP + "[presence]\nblokced = \"refuse\"\nshare_with_default = { everyon = true }\n" +
		okExt + "share_with = { rols = [\"qa\"] }\ndelegate = [\"1001\"]\n"
	_, err := Parse("t.toml", []byte(doc))
	checkProblems(t, err, []string{
		`t.toml:4:1: presence.blokced: unknown key (did you mean "blocked"?)`,
		`t.toml:5:24: presence.share_with_default.everyon: unknown key (did you mean "everyone"?)`,
		`t.toml:9:16: extensions[0].share_with.rols: unknown key (did you mean "roles"?)`,
		`t.toml:10:1: extensions[0].delegate: unknown key (did you mean "delegates"?)`,
	})
}

func TestPresenceManyProblemsAtOnce(t *testing.T) {
	doc := `[sip]
domain = "pbx.example.com"

[presence]
blocked = "ignore"
share_by_default = false

[[departments]]
name = "Sales"

[[extensions]]
number = "1001"
name = "Alice"
share_with = { roles = ["qa", "boss"], departments = ["Sale"] }
delegates = ["1001", "1002", "1002"]
appearance = ["1003", "1009"]
status = "lunch"
locked = ["delegates", "password"]

[[extensions]]
number = "1002"
name = "Bob"
share_presence = false
delegates = ["1001"]
status_message = "bell\u0007"

[[extensions]]
number = "1003"
name = "Carol"
share_presence = true
delegates = ["1002"]
`
	_, err := Parse("t.toml", []byte(doc))
	checkProblems(t, err, []string{
		`t.toml:5:11: presence.blocked: unknown mode "ignore" (want "polite" or "refuse")`,
		`t.toml:14:31: extensions[0].share_with.roles[1]: unknown role "boss" (want "user", "admin", "supervisor", "manager" or "qa")`,
		`t.toml:14:55: extensions[0].share_with.departments[0]: unknown department "Sale" (did you mean "Sales"?)`,
		`t.toml:15:1: extensions[0].delegates: delegates need share_presence = true: delegates are suspended while presence is not shared (share_presence is not set and presence.share_by_default is false)`,
		`t.toml:15:14: extensions[0].delegates[0]: 1001 cannot be its own delegate`,
		`t.toml:15:30: extensions[0].delegates[2]: "1002" is listed twice (also extensions[0].delegates[1])`,
		`t.toml:16:23: extensions[0].appearance[1]: unknown extension "1009"`,
		`t.toml:17:10: extensions[0].status: unknown status "lunch" (want "", "available", "dnd" or "away")`,
		`t.toml:18:24: extensions[0].locked[1]: unknown field "password" (want "share_presence", "share_with", "delegates", "appearance", "status" or "status_message")`,
		`t.toml:24:1: extensions[1].delegates: delegates need share_presence = true: delegates are suspended while presence is not shared`,
		`t.toml:25:18: extensions[1].status_message: must not contain control characters (found '\a')`,
	})
}

func TestCheckStatusMessage(t *testing.T) {
	tests := []struct {
		in, want string // want "" = accepted
	}{
		{"", ""},
		{"In a meeting until 15:00", ""},
		{strings.Repeat("界", MaxStatusMessage), ""},
		{strings.Repeat("x", MaxStatusMessage+1), "must be at most 200 characters (got 201)"},
		{"line\r\nbreak", `must not contain control characters (found '\r')`},
		{"del\x7f", `must not contain control characters (found '\x7f')`},
		{"c1\u0085", `must not contain control characters (found '\u0085')`},
		{"bad\xffutf8", "must be valid UTF-8"},
	}
	for _, tt := range tests {
		err := CheckStatusMessage(tt.in)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("CheckStatusMessage(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// UserFields are the names the API and the store use: each must be a key
// of [[extensions]], or a lock or a stored setting would name nothing.
func TestUserFieldsAreExtensionKeys(t *testing.T) {
	want := []string{"share_presence", "share_with", "delegates", "appearance", "status", "status_message"}
	if !slices.Equal(UserFields, want) {
		t.Errorf("UserFields = %q, want %q", UserFields, want)
	}
	for _, f := range UserFields {
		if _, ok := fieldByTag(reflect.TypeFor[Extension](), f); !ok {
			t.Errorf("UserFields names %q, which is not an [[extensions]] key", f)
		}
	}
}

func TestExamplePresence(t *testing.T) {
	c, err := Parse("example.toml", Example)
	if err != nil {
		t.Fatal(err)
	}
	want := Presence{Blocked: "polite", AwayLamp: "idle", ShareByDefault: true, ShareWithDefault: ShareWith{Everyone: true}}
	if !reflect.DeepEqual(c.Presence, want) {
		t.Errorf("Presence = %+v, want %+v", c.Presence, want)
	}
	ext := func(n string) Extension {
		t.Helper()
		e, ok := c.Extension(n)
		if !ok {
			t.Fatalf("no extension %s", n)
		}
		return e
	}

	// The Sales pair answer each other's calls and both share presence.
	bob, carol := ext("1002"), ext("1003")
	if !slices.Equal(bob.Delegates, []string{"1003"}) || !slices.Equal(carol.Delegates, []string{"1002"}) {
		t.Errorf("delegates: 1002 %q, 1003 %q", bob.Delegates, carol.Delegates)
	}
	if bob.Department != "Sales" || carol.Department != "Sales" {
		t.Errorf("departments: 1002 %q, 1003 %q", bob.Department, carol.Department)
	}
	for _, e := range []Extension{bob, carol} {
		if e.SharePresence == nil || !*e.SharePresence {
			t.Errorf("%s share_presence = %v, want true", e.Number, e.SharePresence)
		}
	}
	wantSW := &ShareWith{Departments: []string{"Sales", "Reception"}, Roles: []string{"manager"}}
	if !reflect.DeepEqual(carol.ShareWith, wantSW) {
		t.Errorf("1003 share_with = %+v, want %+v", carol.ShareWith, wantSW)
	}
	if !slices.Equal(carol.Locked, []string{"share_presence", "share_with"}) {
		t.Errorf("1003 locked = %q", carol.Locked)
	}
	if !slices.Equal(bob.Appearance, []string{"1003", "1001"}) {
		t.Errorf("1002 appearance = %q", bob.Appearance)
	}

	alice := ext("1001")
	if !slices.Equal(alice.Appearance, []string{"1002", "1003", "1004", "1005", "1006"}) ||
		!slices.Equal(alice.Locked, []string{"appearance"}) {
		t.Errorf("1001 appearance %q locked %q", alice.Appearance, alice.Locked)
	}
	if alice.SharePresence != nil || alice.ShareWith != nil || alice.Delegates != nil {
		t.Errorf("1001 sets fields the example leaves to the user: %#v", alice)
	}

	frank := ext("1006")
	if frank.SharePresence == nil || *frank.SharePresence || frank.Status == nil || *frank.Status != "dnd" ||
		frank.StatusMessage == nil || *frank.StatusMessage != "Reviewing calls until 16:00" || frank.Locked != nil {
		t.Errorf("1006 share_presence %v status %v status_message %v locked %q",
			frank.SharePresence, frank.Status, frank.StatusMessage, frank.Locked)
	}
}
