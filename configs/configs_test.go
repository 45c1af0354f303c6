package configs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Fragments that are valid on their own, appended after the part a test
// is about so that line numbers in expectations stay easy to count.
const (
	okSIP  = "[sip]\ndomain = \"pbx.example.com\"\n" // lines 1-2
	okDept = "[[departments]]\nname = \"Sales\"\n"   // 2 lines
	okExt  = "[[extensions]]\nnumber = \"1001\"\nname = \"Alice\"\n"
)

func TestExampleLoads(t *testing.T) {
	c, err := Parse("example.toml", Example)
	if err != nil {
		t.Fatalf("example.toml:\n%v", err)
	}
	// Load reads the same file from disk: the embedded copy is what ships.
	if _, err := Load("example.toml"); err != nil {
		t.Fatalf("Load(example.toml): %v", err)
	}

	if c.SIP.Domain != "pbx.example.com" {
		t.Errorf("domain = %q", c.SIP.Domain)
	}
	wantListen := []Listen{{"udp", "0.0.0.0", 5060}, {"tcp", "0.0.0.0", 5060}}
	if got := c.Listeners(); !slices.Equal(got, wantListen) {
		t.Errorf("Listeners() = %v, want %v", got, wantListen)
	}
	if got, want := c.TrustedNets(), []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}; !slices.Equal(got, want) {
		t.Errorf("TrustedNets() = %v, want %v", got, want)
	}
	if c.HTTP.Listen != "127.0.0.1:8080" || c.Store.Path != "var/blfgw.db" {
		t.Errorf("http %q store %q", c.HTTP.Listen, c.Store.Path)
	}
	if len(c.Departments) < 2 || len(c.Extensions) < 6 {
		t.Errorf("%d departments, %d extensions", len(c.Departments), len(c.Extensions))
	}
	seen := map[string]bool{}
	for _, e := range c.Extensions {
		seen[e.Role] = true
		if e.Password == "" {
			t.Errorf("extension %s has no password", e.Number)
		}
	}
	for _, r := range roles {
		if !seen[r] {
			t.Errorf("no extension with role %q in the example", r)
		}
	}
	if len(c.SIP.Devices) != 1 || c.SIP.Devices[0].UserAgent != "Linksys/SPA962" ||
		c.SIP.Devices[0].Idle != "dummy" || c.SIP.Devices[0].SingleDialog == nil || !*c.SIP.Devices[0].SingleDialog {
		t.Errorf("devices = %+v", c.SIP.Devices)
	}
	if c.Path() != "example.toml" {
		t.Errorf("Path() = %q", c.Path())
	}
}

// TestExampleCommentsEveryKey keeps example.toml the admin's reference:
// every key of the schema must appear in it, set or in a comment.
func TestExampleCommentsEveryKey(t *testing.T) {
	for _, key := range []string{
		"level", "format", "domain", "listen", "advertise", "tls_cert", "tls_key", "trusted",
		"realm", "min_expires", "max_expires", "default_expires", "notify_timeouts", "rate", "digest_algorithms", "list_suffix",
		"burst", "user_agent", "idle", "single_dialog", "pprof", "path", "name", "number", "department",
		"role", "password", "password_file", "password_env",
		"presence", "blocked", "away_lamp", "share_by_default", "share_with_default", "everyone", "roles",
		"departments", "extensions", "share_presence", "share_with", "delegates", "appearance", "status",
		"status_message", "locked",
		"proxy", "mode", "upstream", "unknown_to_upstream", "min_register", "max_register", "default_register",
		"max_bindings", "max_call", "keepalive", "pickup_prefix",
	} {
		if !bytes.Contains(Example, []byte(key)) {
			t.Errorf("example.toml does not mention %s", key)
		}
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse("t.toml", []byte(okSIP+okExt))
	if err != nil {
		t.Fatal(err)
	}
	s := c.SIP
	if c.Log.Level != "info" || c.Log.Format != "text" ||
		!slices.Equal(s.Listen, []string{"udp:0.0.0.0:5060", "tcp:0.0.0.0:5060"}) ||
		s.Realm != "pbx.example.com" || s.MinExpires != 60 || s.MaxExpires != 3600 ||
		s.DefaultExpires != 3600 || s.NotifyTimeouts != 2 || !slices.Equal(s.DigestAlgorithms, []string{"MD5", "SHA-256"}) || s.Rate != 50 || s.Burst != 100 ||
		len(s.Trusted) != 0 || c.HTTP.Listen != "127.0.0.1:8080" || c.Store.Path != "var/blfgw.db" ||
		c.Extensions[0].Role != "user" {
		t.Errorf("defaults not applied: %+v", c)
	}

	// A written key is taken as written, even when it is a zero value.
	c, err = Parse("t.toml", []byte(okSIP+"rate = 0\nburst = 0\n"+okExt))
	if err != nil {
		t.Fatal(err)
	}
	if c.SIP.Rate != 0 || c.SIP.Burst != 0 {
		t.Errorf("rate %v burst %d, want 0 and 0 (unlimited)", c.SIP.Rate, c.SIP.Burst)
	}
}

// TestProblems checks each validation rule's message and position. The
// wanted text is the whole Error(), one problem per line.
func TestProblems(t *testing.T) {
	const envUnset = "BLFGW_TEST_PW_UNSET"
	const envEmpty = "BLFGW_TEST_PW_EMPTY"
	t.Setenv(envUnset, "")
	os.Unsetenv(envUnset)
	t.Setenv(envEmpty, "")

	tests := []struct {
		name string
		doc  string
		want []string // nil: the document is valid
	}{
		// log
		{"log level", "[log]\nlevel = \"loud\"\n" + okSIP + okExt, []string{
			`t.toml:2:9: log.level: unknown level "loud" (want "debug", "info", "warn" or "error")`}},
		{"log format", "[log]\nformat = \"xml\"\n" + okSIP + okExt, []string{
			`t.toml:2:10: log.format: unknown format "xml" (want "text" or "json")`}},

		// sip.domain
		{"domain missing from [sip]", "[sip]\nrealm = \"r\"\n" + okExt, []string{
			`t.toml:1:1: sip: missing required key "domain"`}},
		{"no [sip] at all", okExt, []string{
			`t.toml: sip: missing required key "domain"`}},
		{"domain empty", "[sip]\ndomain = \"\"\n" + okExt, []string{
			`t.toml:2:10: sip.domain: must not be empty`}},
		{"domain not a host", "[sip]\ndomain = \"pbx example.com\"\n" + okExt, []string{
			`t.toml:2:10: sip.domain: "pbx example.com" is neither a host name nor an IP address`}},

		// sip.listen
		{"listen transport", okSIP + "listen = [\"udp:0.0.0.0:5060\", \"sctp:0.0.0.0:5060\"]\n" + okExt, []string{
			`t.toml:3:31: sip.listen[1]: unknown transport "sctp" in "sctp:0.0.0.0:5060" (want "udp", "tcp", "tls", "ws" or "wss")`}},
		{"listen no host", okSIP + "listen = [\"udp::5060\"]\n" + okExt, []string{
			`t.toml:3:11: sip.listen[0]: "udp::5060" has no host (use 0.0.0.0 or [::] for all interfaces)`}},
		{"listen port range", okSIP + "listen = [\"udp:0.0.0.0:70000\"]\n" + okExt, []string{
			`t.toml:3:11: sip.listen[0]: "udp:0.0.0.0:70000": port "70000" is not a number from 0 to 65535`}},
		{"listen no port", okSIP + "listen = [\"udp:0.0.0.0\"]\n" + okExt, []string{
			`t.toml:3:11: sip.listen[0]: "udp:0.0.0.0": not host:port (missing port in address)`}},
		{"listen duplicate", okSIP + "listen = [\"tcp:10.0.0.1:5060\", \"TCP:10.0.0.1:5060\"]\n" + okExt, []string{
			`t.toml:3:32: sip.listen[1]: "TCP:10.0.0.1:5060" is listed twice (also sip.listen[0])`}},
		{"listen TCP port clash", okSIP + "listen = [\"tcp:0.0.0.0:5060\", \"ws:0.0.0.0:5060\"]\n" + okExt, []string{
			`t.toml:3:31: sip.listen[1]: "ws:0.0.0.0:5060" and sip.listen[0] ("tcp:0.0.0.0:5060") would both listen on TCP port 5060`}},
		{"listen udp and tcp share a port", okSIP + "listen = [\"udp:0.0.0.0:5060\", \"tcp:0.0.0.0:5060\", \"tcp:127.0.0.1:0\", \"ws:127.0.0.1:0\"]\n" + okExt, nil},
		{"listen empty", okSIP + "listen = []\n" + okExt, []string{
			`t.toml:3:1: sip.listen: at least one listener is required`}},
		{"tls without cert and key", okSIP + "listen = [\"udp:0.0.0.0:5060\", \"tls:0.0.0.0:5061\"]\n" + okExt, []string{
			`t.toml:1:1: sip: missing required key "tls_cert" (needed by sip.listen[1] "tls:0.0.0.0:5061")`,
			`t.toml:1:1: sip: missing required key "tls_key" (needed by sip.listen[1] "tls:0.0.0.0:5061")`}},
		{"wss with empty cert and key", okSIP + "listen = [\"wss:0.0.0.0:8089\"]\ntls_cert = \"\"\ntls_key = \"\"\n" + okExt, []string{
			`t.toml:4:12: sip.tls_cert: must not be empty (needed by sip.listen[0] "wss:0.0.0.0:8089")`,
			`t.toml:5:11: sip.tls_key: must not be empty (needed by sip.listen[0] "wss:0.0.0.0:8089")`}},
		{"tls files missing", okSIP + "listen = [\"tls:0.0.0.0:5061\"]\ntls_cert = \"/nonexistent/cert.pem\"\ntls_key = \"/nonexistent/key.pem\"\n" + okExt, []string{
			`t.toml:4:12: sip.tls_cert: open /nonexistent/cert.pem: no such file or directory`,
			`t.toml:5:11: sip.tls_key: open /nonexistent/key.pem: no such file or directory`}},

		// other sip keys
		{"advertise", okSIP + "advertise = \"pbx:5060\"\n" + okExt, []string{
			`t.toml:3:13: sip.advertise: "pbx:5060" is neither a host name nor an IP address (no port or scheme)`}},
		{"trusted", okSIP + "trusted = [\"10.0.0.0/33\", \"bogus\", \"::1\"]\n" + okExt, []string{
			`t.toml:3:12: sip.trusted[0]: "10.0.0.0/33" is not a CIDR such as 192.0.2.0/24`,
			`t.toml:3:27: sip.trusted[1]: "bogus" is neither an IP address nor a CIDR`}},
		{"realm empty", okSIP + "realm = \"\"\n" + okExt, []string{
			`t.toml:3:9: sip.realm: must not be empty`}},
		{"min_expires", okSIP + "min_expires = 0\n" + okExt, []string{
			`t.toml:3:15: sip.min_expires: must be at least 1 second (got 0)`}},
		{"max below min", okSIP + "min_expires = 60\nmax_expires = 30\n" + okExt, []string{
			// default_expires is not in the file: the message points at
			// the table and the key path says which key.
			`t.toml:1:1: sip.default_expires: must be between min_expires (60) and max_expires (30), got 3600`,
			`t.toml:4:15: sip.max_expires: must be at least min_expires (60), got 30`}},
		{"default outside", okSIP + "default_expires = 10\n" + okExt, []string{
			`t.toml:3:19: sip.default_expires: must be between min_expires (60) and max_expires (3600), got 10`}},
		{"digest algorithms", okSIP + "digest_algorithms = [\"SHA-256\", \"sha1\", \"SHA-256\"]\n" + okExt, []string{
			`t.toml:3:33: sip.digest_algorithms[1]: unknown digest algorithm "sha1" (use "MD5" or "SHA-256")`,
			`t.toml:3:41: sip.digest_algorithms[2]: "SHA-256" is listed twice`}},
		{"digest algorithms empty", okSIP + "digest_algorithms = []\n" + okExt, []string{
			`t.toml:3:1: sip.digest_algorithms: must name at least one of MD5, SHA-256`}},
		{"notify_timeouts", okSIP + "notify_timeouts = 0\n" + okExt, []string{
			`t.toml:3:19: sip.notify_timeouts: must be at least 1 (got 0)`}},
		{"list_suffix", okSIP + "list_suffix = \"@blf\"\n" + okExt, []string{
			`t.toml:3:15: sip.list_suffix: "@blf" must be 1-16 of 0-9 A-Z a-z . _ + - (or "" to turn lists off)`}},
		{"list_suffix names an extension", okSIP + okExt + "password = \"x\"\n[[extensions]]\nnumber = \"1001-blf\"\nname = \"B\"\npassword = \"y\"\n", []string{
			`t.toml:8:10: extensions[1].number: "1001-blf" is also the name of 1001's BLF list (sip.list_suffix "-blf"): rename one`}},
		{"rate negative", okSIP + "rate = -1.5\n" + okExt, []string{
			`t.toml:3:8: sip.rate: must not be negative (0 means unlimited), got -1.5`}},
		{"rate nan", okSIP + "rate = nan\n" + okExt, []string{
			`t.toml:3:8: sip.rate: must be a finite number (0 means unlimited)`}},
		{"burst with rate", okSIP + "rate = 10\nburst = 0\n" + okExt, []string{
			`t.toml:4:9: sip.burst: must be at least 1 when rate is above 0 (got 0)`}},
		{"burst without rate", okSIP + "rate = 0\nburst = 0\n" + okExt, nil},

		// sip.devices
		{"device", okSIP + "[[sip.devices]]\nidle = \"blank\"\n" + okExt, []string{
			`t.toml:3:1: sip.devices[0]: missing required key "user_agent"`,
			`t.toml:4:8: sip.devices[0].idle: unknown idle profile "blank" (want "", "empty" or "dummy")`}},
		{"device empty user_agent", okSIP + "[[sip.devices]]\nuser_agent = \" \"\n" + okExt, []string{
			`t.toml:4:14: sip.devices[0].user_agent: must not be empty`}},
		{"device duplicate", okSIP + "[[sip.devices]]\nuser_agent = \"Bria\"\n[[sip.devices]]\nuser_agent = \"bria\"\n" + okExt, []string{
			`t.toml:6:14: sip.devices[1].user_agent: "bria" is listed twice (also sip.devices[0])`}},
		{"device inline", okSIP + "devices = [{user_agent = \"Bria\", idle = \"x\"}]\n" + okExt, []string{
			`t.toml:3:41: sip.devices[0].idle: unknown idle profile "x" (want "", "empty" or "dummy")`}},

		// http, store
		{"http no port", okSIP + "[http]\nlisten = \"localhost\"\n" + okExt, []string{
			`t.toml:4:10: http.listen: "localhost": not host:port (missing port in address)`}},
		{"http named port", okSIP + "[http]\nlisten = \"127.0.0.1:http\"\n" + okExt, []string{
			`t.toml:4:10: http.listen: "127.0.0.1:http": port "http" is not a number from 0 to 65535`}},
		{"http empty", okSIP + "[http]\nlisten = \"\"\n" + okExt, []string{
			`t.toml:4:10: http.listen: must not be empty`}},
		{"http all interfaces", okSIP + "[http]\nlisten = \":8080\"\n" + okExt, nil},
		{"store path", okSIP + "[store]\npath = \"\"\n" + okExt, []string{
			`t.toml:4:8: store.path: must not be empty`}},

		// departments
		{"departments", okSIP + "[[departments]]\n[[departments]]\nname = \"Sales\"\n[[departments]]\nname = \"SALES\"\n" + okExt, []string{
			`t.toml:3:1: departments[0]: missing required key "name"`,
			`t.toml:7:8: departments[2].name: duplicate department "SALES" (departments[1] is "Sales")`}},

		// extensions (the prefix okSIP+okDept is lines 1-4)
		{"no extensions", okSIP, []string{
			`t.toml: extensions: at least one [[extensions]] entry is required`}},
		{"extension without number and name", okSIP + okDept + "[[extensions]]\nrole = \"user\"\n", []string{
			`t.toml:5:1: extensions[0]: missing required key "number"`,
			`t.toml:5:1: extensions[0]: missing required key "name"`}},
		{"number characters", okSIP + okDept + "[[extensions]]\nnumber = \"10 01\"\nname = \"A\"\n", []string{
			`t.toml:6:10: extensions[0].number: "10 01" contains ' ': use only 0-9 A-Z a-z . _ + -`}},
		{"number length", okSIP + okDept + "[[extensions]]\nnumber = \"" + strings.Repeat("1", 33) + "\"\nname = \"A\"\n", []string{
			`t.toml:6:10: extensions[0].number: "` + strings.Repeat("1", 33) + `" is longer than 32 characters`}},
		{"number allowed characters", okSIP + okDept + "[[extensions]]\nnumber = \"alice.B_2+x-" + strings.Repeat("9", 20) + "\"\nname = \"A\"\n", nil},
		{"number duplicate", okSIP + okDept + okExt + okExt, []string{
			`t.toml:9:10: extensions[1].number: duplicate number "1001" (also extensions[0])`}},
		{"name blank", okSIP + okDept + "[[extensions]]\nnumber = \"1001\"\nname = \"  \"\n", []string{
			`t.toml:7:8: extensions[0].name: must not be empty`}},
		{"department typo", okSIP + okDept + okExt + "department = \"Salse\"\n", []string{
			`t.toml:8:14: extensions[0].department: unknown department "Salse" (did you mean "Sales"?)`}},
		{"department case", okSIP + okDept + okExt + "department = \"sales\"\n", []string{
			`t.toml:8:14: extensions[0].department: unknown department "sales" (did you mean "Sales"?)`}},
		{"department unknown", okSIP + okDept + okExt + "department = \"Marketing\"\n", []string{
			`t.toml:8:14: extensions[0].department: unknown department "Marketing"`}},
		{"department none", okSIP + okDept + okExt + "department = \"\"\n", nil},
		{"role", okSIP + okDept + okExt + "role = \"boss\"\n", []string{
			`t.toml:8:8: extensions[0].role: unknown role "boss" (want "user", "admin", "supervisor", "manager" or "qa")`}},
		{"two password sources", okSIP + okDept + okExt + "password = \"x\"\npassword_file = \"/etc/pw\"\n", []string{
			`t.toml:5:1: extensions[0]: give at most one of password, password_file and password_env (found password and password_file)`}},
		{"three password sources", okSIP + okDept + okExt + "password = \"x\"\npassword_file = \"/etc/pw\"\npassword_env = \"PW\"\n", []string{
			`t.toml:5:1: extensions[0]: give at most one of password, password_file and password_env (found password and password_file and password_env)`}},
		{"password_env unset", okSIP + okDept + okExt + "password_env = \"" + envUnset + "\"\n", []string{
			`t.toml:8:16: extensions[0].password_env: environment variable ` + envUnset + ` is not set`}},
		{"password_env empty", okSIP + okDept + okExt + "password_env = \"" + envEmpty + "\"\n", []string{
			`t.toml:8:16: extensions[0].password_env: environment variable ` + envEmpty + ` is empty`}},
		{"password_file missing", okSIP + okDept + okExt + "password_file = \"/nonexistent/pw\"\n", []string{
			`t.toml:8:17: extensions[0].password_file: open /nonexistent/pw: no such file or directory`}},
		{"idle", okSIP + okDept + okExt + "idle = \"off\"\n", []string{
			`t.toml:8:8: extensions[0].idle: unknown idle profile "off" (want "", "empty" or "dummy")`}},
		{"extension inline table", "extensions = [{number = \"1001\", name = \"A\", role = \"x\"}]\n" + okSIP, []string{
			`t.toml:1:52: extensions[0].role: unknown role "x" (want "user", "admin", "supervisor", "manager" or "qa")`}},
		{"dotted keys", "sip.domain = \"pbx.example.com\"\nsip.min_expires = 0\n" + okExt, []string{
			`t.toml:2:19: sip.min_expires: must be at least 1 second (got 0)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.toml", []byte(tt.doc))
			checkProblems(t, err, tt.want)
		})
	}
}

// checkProblems compares err with the wanted lines, as text and as
// Errors.
func checkProblems(t *testing.T, err error, want []string) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("unexpected error:\n%v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want:\n%s", strings.Join(want, "\n"))
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error is %T, not Errors", err)
	}
	if len(errs) != len(want) {
		t.Errorf("%d problems, want %d", len(errs), len(want))
	}
}

func TestManyProblemsAtOnce(t *testing.T) {
	doc := `[log]
level = "verbose"

[sip]
listen = ["udp:0.0.0.0:5060", "udp:0.0.0.0:5060"]
trusted = ["10.0.0.0/8", "10.0.0.300"]
min_expires = 0
burst = 0

[[departments]]
name = "Sales"

[[extensions]]
number = "1001"
name = "Alice"
department = "Salse"

[[extensions]]
number = "1001"
role = "root"
`
	_, err := Parse("configs/example.toml", []byte(doc))
	checkProblems(t, err, []string{
		`configs/example.toml:2:9: log.level: unknown level "verbose" (want "debug", "info", "warn" or "error")`,
		`configs/example.toml:4:1: sip: missing required key "domain"`,
		`configs/example.toml:5:31: sip.listen[1]: "udp:0.0.0.0:5060" is listed twice (also sip.listen[0])`,
		`configs/example.toml:6:26: sip.trusted[1]: "10.0.0.300" is neither an IP address nor a CIDR`,
		`configs/example.toml:7:15: sip.min_expires: must be at least 1 second (got 0)`,
		`configs/example.toml:8:9: sip.burst: must be at least 1 when rate is above 0 (got 0)`,
		`configs/example.toml:16:14: extensions[0].department: unknown department "Salse" (did you mean "Sales"?)`,
		`configs/example.toml:18:1: extensions[1]: missing required key "name"`,
		`configs/example.toml:19:10: extensions[1].number: duplicate number "1001" (also extensions[0])`,
		`configs/example.toml:20:8: extensions[1].role: unknown role "root" (want "user", "admin", "supervisor", "manager" or "qa")`,
	})
}

func TestUnknownKeys(t *testing.T) {
	doc := `[sip]
domain = "pbx.example.com"
listn = ["udp:0.0.0.0:5060"]
[sip.tls]
cert = "x"
[[extensions]]
number = "1001"
nmae = "Alice"
colour = "red"
[[extension]]
number = "1002"
`
	_, err := Parse("t.toml", []byte(doc))
	// Unknown keys are reported together with the validation problems
	// they cause (the misspelt name leaves extensions[0] without one).
	checkProblems(t, err, []string{
		`t.toml:3:1: sip.listn: unknown key (did you mean "listen"?)`,
		`t.toml:4:1: sip.tls: unknown table`,
		`t.toml:6:1: extensions[0]: missing required key "name"`,
		`t.toml:8:1: extensions[0].nmae: unknown key (did you mean "name"?)`,
		`t.toml:9:1: extensions[0].colour: unknown key`,
		`t.toml:10:1: extension: unknown table (did you mean "extensions"?)`,
	})

	// Two unknown keys, nothing else wrong, inside an inline table too.
	doc = "extensions = [{number = \"1001\", name = \"A\", pasword = \"x\"}]\n" + okSIP + "levle = 1\n"
	_, err = Parse("t.toml", []byte(doc))
	checkProblems(t, err, []string{
		`t.toml:1:45: extensions[0].pasword: unknown key (did you mean "password"?)`,
		`t.toml:4:1: sip.levle: unknown key`,
	})
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"syntax", "[sip]\ndomain = \"pbx\"\nlisten = [\"udp:0.0.0.0:5060\",,]\n",
			`t.toml:3:30: expected value but got U+002C ','`},
		{"unterminated string", "[log]\nlevel = \"info\nformat = \"text\"\n",
			`t.toml:2:14: basic strings cannot have new lines`},
		{"unquoted number", okSIP + "[[extensions]]\nnumber = 1001\n",
			`t.toml:4:10: extensions[0].number: expected a string, found an integer (put it in quotes)`},
		{"string for array", "[sip]\nlisten = \"udp:0.0.0.0:5060\"\n",
			`t.toml:2:10: sip.listen: expected an array of strings, found a string`},
		{"string for bool", "[[sip.devices]]\nsingle_dialog = \"yes\"\n",
			`t.toml:2:17: sip.devices[0].single_dialog: expected true or false, found a string`},
		{"float for int", "[sip]\nmin_expires = 5.5\n",
			`t.toml:2:15: sip.min_expires: expected an integer, found a float`},
		{"duplicate key", "[sip]\ndomain = \"a\"\ndomain = \"b\"\n",
			`t.toml:3:1: sip.domain: key domain is already defined`},
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

func TestPasswordSources(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BLFGW_TEST_PW", "from-env")

	doc := okSIP + okExt + "password = \"inline\"\n" +
		"[[extensions]]\nnumber = \"1002\"\nname = \"B\"\npassword_file = \"" + pwFile + "\"\n" +
		"[[extensions]]\nnumber = \"1003\"\nname = \"C\"\npassword_env = \"BLFGW_TEST_PW\"\n" +
		"[[extensions]]\nnumber = \"1004\"\nname = \"D\"\n"
	c, err := Parse("t.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"1001": "inline", "1002": "from-file", "1003": "from-env", "1004": ""}
	check := func() {
		t.Helper()
		for n, pw := range want {
			e, ok := c.Extension(n)
			if !ok {
				t.Fatalf("Extension(%s) not found", n)
			}
			if e.Password != pw {
				t.Errorf("extension %s password %q, want %q", n, e.Password, pw)
			}
		}
	}
	check()
	if e, _ := c.Extension("1002"); e.PasswordFile != pwFile {
		t.Errorf("password_file not kept: %q", e.PasswordFile)
	}
	if e, _ := c.Extension("1003"); e.PasswordEnv != "BLFGW_TEST_PW" {
		t.Errorf("password_env not kept: %q", e.PasswordEnv)
	}

	// Validating again must not take a resolved password for an inline one,
	// and must read the sources again so a reload sees a rotated secret.
	if err := os.WriteFile(pwFile, []byte("rotated\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BLFGW_TEST_PW", "rotated-env")
	if err := c.Validate(); err != nil {
		t.Fatalf("second Validate: %v", err)
	}
	want["1002"], want["1003"] = "rotated", "rotated-env"
	check()

	// Errors from the sources.
	if err := os.WriteFile(pwFile, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	unreadable := filepath.Join(dir, "subdir")
	if err := os.Mkdir(unreadable, 0o700); err != nil {
		t.Fatal(err)
	}
	doc = okSIP + okExt + "password_file = \"" + pwFile + "\"\n" +
		"[[extensions]]\nnumber = \"1002\"\nname = \"B\"\npassword_file = \"" + unreadable + "\"\n"
	_, err = Parse("t.toml", []byte(doc))
	checkProblems(t, err, []string{
		fmt.Sprintf(`t.toml:6:17: extensions[0].password_file: %q is empty`, pwFile),
		fmt.Sprintf(`t.toml:10:17: extensions[1].password_file: read %s: is a directory`, unreadable),
	})
}

func TestTLSFiles(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for _, f := range []string{cert, key} {
		if err := os.WriteFile(f, []byte("pem"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	doc := okSIP + "listen = [\"tls:127.0.0.1:0\", \"wss:127.0.0.1:0\"]\n" +
		"tls_cert = \"" + cert + "\"\ntls_key = \"" + key + "\"\n" + okExt
	if _, err := Parse("t.toml", []byte(doc)); err != nil {
		t.Fatal(err)
	}
	doc = okSIP + "listen = [\"tls:127.0.0.1:0\"]\ntls_cert = \"" + dir + "\"\ntls_key = \"" + key + "\"\n" + okExt
	_, err := Parse("t.toml", []byte(doc))
	checkProblems(t, err, []string{fmt.Sprintf(`t.toml:4:12: sip.tls_cert: %q is a directory`, dir)})
}

func TestTrustedNets(t *testing.T) {
	c, err := Parse("t.toml", []byte(okSIP+"trusted = [\"10.1.2.3/8\", \"192.0.2.7\", \"::1\", \"2001:db8::/32\", \"fe80::1%eth0\"]\n"+okExt))
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("192.0.2.7/32"),
		netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("2001:db8::/32"),
		netip.MustParsePrefix("fe80::1/128"),
	}
	if got := c.TrustedNets(); !slices.Equal(got, want) {
		t.Errorf("TrustedNets() = %v, want %v", got, want)
	}
}

// The password must not come out of any error, log line or dump.
func TestNoPasswordLeak(t *testing.T) {
	const inline = "Zq9-inline-SECRET-7731"
	const fromFile = "Zq9-file-SECRET-4410"
	const fromEnv = "Zq9-env-SECRET-9052"
	secrets := []string{inline, fromFile, fromEnv}
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(fromFile+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BLFGW_TEST_LEAK", fromEnv)
	noSecret := func(what, s string) {
		t.Helper()
		for _, pw := range secrets {
			if strings.Contains(s, pw) {
				t.Errorf("%s contains a password: %s", what, s)
			}
		}
	}

	// Problems on the very extensions that hold the passwords.
	doc := okSIP +
		"[[extensions]]\nnumber = \"1001\"\nname = \"A\"\nrole = \"x\"\nidle = \"y\"\npassword = \"" + inline + "\"\npassword_env = \"BLFGW_TEST_LEAK\"\n" +
		"[[extensions]]\nnumber = \"1001\"\nname = \"\"\npassword = \"" + inline + "\"\nbogus = \"" + inline + "\"\n" +
		"[[extensions]]\nnumber = \"bad number\"\npassword_file = \"" + pwFile + "\"\n"
	_, err := Parse("t.toml", []byte(doc))
	if err == nil {
		t.Fatal("no error")
	}
	noSecret("Error()", err.Error())
	// A password of the wrong type stops decoding; the message names the
	// types only.
	_, err = Parse("t.toml", []byte(okSIP+okExt+"password = 77319904421\n"))
	if err == nil || strings.Contains(err.Error(), "77319904421") {
		t.Errorf("decode error shows the password: %v", err)
	}

	// Valid extensions printed and logged every way.
	doc = okSIP +
		"[[extensions]]\nnumber = \"1001\"\nname = \"A\"\npassword = \"" + inline + "\"\n" +
		"[[extensions]]\nnumber = \"1002\"\nname = \"B\"\npassword_file = \"" + pwFile + "\"\n" +
		"[[extensions]]\nnumber = \"1003\"\nname = \"C\"\npassword_env = \"BLFGW_TEST_LEAK\"\n"
	c, err := Parse("t.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range c.Extensions {
		if e.Password != secrets[i] {
			t.Fatalf("extension %s: password not resolved", e.Number)
		}
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("ext", "extension", e)
		slog.New(slog.NewTextHandler(&buf, nil)).Info("ext", "extension", e, "ptr", &e)
		fmt.Fprintf(&buf, "%v %+v %#v %s", e, e, e, e)
		j, _ := json.Marshal(e)
		buf.Write(j)
		noSecret("output", buf.String())
		if !strings.Contains(buf.String(), e.Number) || !strings.Contains(buf.String(), redacted) {
			t.Errorf("output lacks the number or the redaction mark: %s", buf.String())
		}
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "config", c)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "config", c)
	fmt.Fprintf(&buf, "%v %+v", *c, c.Extensions)
	noSecret("config output", buf.String())
}

func TestParseListen(t *testing.T) {
	tests := []struct {
		in      string
		want    Listen
		str     string // String(); "" means in
		wantErr string
	}{
		{in: "udp:127.0.0.1:5060", want: Listen{"udp", "127.0.0.1", 5060}},
		{in: "tcp:0.0.0.0:5060", want: Listen{"tcp", "0.0.0.0", 5060}},
		{in: "tls:pbx.example.com:5061", want: Listen{"tls", "pbx.example.com", 5061}},
		{in: "ws:[::1]:8088", want: Listen{"ws", "::1", 8088}},
		{in: "wss:[2001:db8::5]:8089", want: Listen{"wss", "2001:db8::5", 8089}},
		{in: "udp:[::]:5060", want: Listen{"udp", "::", 5060}},
		{in: "udp:[fe80::1%eth0]:5060", want: Listen{"udp", "fe80::1%eth0", 5060}},
		{in: "udp:127.0.0.1:0", want: Listen{"udp", "127.0.0.1", 0}},
		{in: "UDP:127.0.0.1:5060", want: Listen{"udp", "127.0.0.1", 5060}, str: "udp:127.0.0.1:5060"},
		{in: "udp:127.0.0.1:65535", want: Listen{"udp", "127.0.0.1", 65535}},
		{in: "127.0.0.1:5060", wantErr: `unknown transport "127.0.0.1" in "127.0.0.1:5060"`},
		{in: "udp", wantErr: `"udp" is not transport:host:port`},
		{in: "sctp:127.0.0.1:5060", wantErr: `unknown transport "sctp"`},
		{in: "udp::5060", wantErr: `"udp::5060" has no host`},
		{in: "udp:127.0.0.1:65536", wantErr: `port "65536" is not a number from 0 to 65535`},
		{in: "udp:127.0.0.1:-1", wantErr: `port "-1" is not a number from 0 to 65535`},
		{in: "udp:127.0.0.1:sip", wantErr: `port "sip" is not a number`},
		{in: "udp:127.0.0.1", wantErr: `not host:port (missing port in address)`},
		{in: "udp:::1:5060", wantErr: `not host:port (too many colons in address)`},
		{in: "udp:exa mple:5060", wantErr: `host "exa mple" is neither an IP address nor a host name`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseListen(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseListen(%q) error = %v, want it to contain %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseListen(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseListen(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			str := tt.str
			if str == "" {
				str = tt.in
			}
			if got.String() != str {
				t.Errorf("String() = %q, want %q", got.String(), str)
			}
			if again, err := ParseListen(got.String()); err != nil || again != got {
				t.Errorf("round trip: %+v, %v", again, err)
			}
		})
	}
}

func TestValidateAfterOverride(t *testing.T) {
	c, err := Decode("example.toml", Example)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}

	// Bad values from flags are blamed on the flags, not on the file.
	c.SIP.Listen = []string{"udp:127.0.0.1:0", "bogus:1:2"}
	c.MarkOverridden("sip.listen", "-sip flag")
	c.HTTP.Listen = "localhost"
	c.MarkOverridden("http.listen", "-http flag")
	c.Store.Path = ""
	c.MarkOverridden("store.path", "-db flag")
	checkProblems(t, c.Validate(), []string{
		`sip.listen[1] (from -sip flag): unknown transport "bogus" in "bogus:1:2" (want "udp", "tcp", "tls", "ws" or "wss")`,
		`http.listen (from -http flag): "localhost": not host:port (missing port in address)`,
		`store.path (from -db flag): must not be empty`,
	})

	// An override that needs TLS makes the missing certificate a problem
	// of the file, worded as such.
	c.SIP.Listen = []string{"tls:127.0.0.1:0"}
	c.HTTP.Listen = "127.0.0.1:0"
	c.Store.Path = filepath.Join(t.TempDir(), "db")
	checkProblems(t, c.Validate(), []string{
		`example.toml:19:1: sip: missing required key "tls_cert" (needed by sip.listen[0] "tls:127.0.0.1:0")`,
		`example.toml:19:1: sip: missing required key "tls_key" (needed by sip.listen[0] "tls:127.0.0.1:0")`,
	})

	// Good overrides validate, and the derived values follow them.
	c.SIP.Listen = []string{"udp:127.0.0.1:0", "tcp:[::1]:0"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	want := []Listen{{"udp", "127.0.0.1", 0}, {"tcp", "::1", 0}}
	if got := c.Listeners(); !slices.Equal(got, want) {
		t.Errorf("Listeners() = %v, want %v", got, want)
	}
}

func TestValidateBuiltInCode(t *testing.T) {
	// A Config not read from a file has no positions and no defaults, but
	// Validate still works and derives the realm.
	c := &Config{
		Log:        Log{Level: "info", Format: "json"},
		SIP:        SIP{Domain: "pbx.test", Listen: []string{"udp:127.0.0.1:0"}, MinExpires: 1, MaxExpires: 10, DefaultExpires: 5, NotifyTimeouts: 1},
		HTTP:       HTTP{Listen: "127.0.0.1:0"},
		Store:      Store{Path: "x.db"},
		Extensions: []Extension{{Number: "1", Name: "One", Role: "user"}},
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.SIP.Realm != "pbx.test" {
		t.Errorf("realm = %q", c.SIP.Realm)
	}
	c.Extensions[0].Role = "boss"
	checkProblems(t, c.Validate(), []string{
		`extensions[0].role: unknown role "boss" (want "user", "admin", "supervisor", "manager" or "qa")`,
	})
}

func TestExtensionLookup(t *testing.T) {
	c, err := Parse("example.toml", Example)
	if err != nil {
		t.Fatal(err)
	}
	e, ok := c.Extension("1003")
	if !ok || e.Role != "supervisor" || e.Department != "Sales" {
		t.Errorf("Extension(1003) = %v, %v", e, ok)
	}
	if _, ok := c.Extension("9999"); ok {
		t.Error("Extension(9999) found")
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.toml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want fs.ErrNotExist", err)
	}
	var errs Errors
	if errors.As(err, &errs) {
		t.Error("a missing file is not a problem in the file")
	}
}

func TestProblemFormat(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{File: "f.toml", Line: 3, Col: 7, Key: "a.b", Msg: "bad"}, "f.toml:3:7: a.b: bad"},
		{Problem{File: "f.toml", Key: "a.b", Msg: "bad"}, "f.toml: a.b: bad"},
		{Problem{File: "f.toml", Line: 1, Col: 2, Msg: "syntax"}, "f.toml:1:2: syntax"},
		{Problem{Key: "a.b", Msg: "bad"}, "a.b: bad"},
		{Problem{File: "f.toml", Line: 3, Col: 7, Key: "a.b", From: "-a flag", Msg: "bad"}, "a.b (from -a flag): bad"},
	}
	for _, tt := range tests {
		if got := tt.p.Error(); got != tt.want {
			t.Errorf("%+v.Error() = %q, want %q", tt.p, got, tt.want)
		}
	}
	errs := Errors{tests[0].p, tests[1].p}
	var p Problem
	if !errors.As(error(errs), &p) || p != tests[0].p {
		t.Errorf("errors.As(Errors, *Problem) = %+v", p)
	}
}

func TestLogLevel(t *testing.T) {
	for s, want := range map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError} {
		if got := (Log{Level: s}).SlogLevel(); got != want {
			t.Errorf("SlogLevel(%q) = %v, want %v", s, got, want)
		}
	}
}
