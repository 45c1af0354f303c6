package configs

import (
	"bytes"
	"log/slog"
	"strconv"
	"strings"
	"testing"
)

// okProxy opens [proxy] right after okSIP, so the keys under test start at
// line 4 and the table header is 3:1.
const okProxy = okSIP + "[proxy]\n" // lines 1-3

// defaultProxy is [proxy] with every key left out of the file.
var defaultProxy = Proxy{
	Mode:              "presence",
	Upstream:          "",
	UnknownToUpstream: true,
	MinRegister:       60,
	MaxRegister:       3600,
	DefaultRegister:   3600,
	MaxBindings:       10,
	MaxCall:           14400,
	Keepalive:         60,
	PickupPrefix:      "**",
}

func TestProxyDecode(t *testing.T) {
	doc := okProxy + `mode = "edge-proxy"
upstream = "sip:pbx.example.com:5080;transport=tcp"
unknown_to_upstream = false
min_register = 30
max_register = 7200
default_register = 600
max_bindings = 3
max_call = 28800
keepalive = 0
pickup_prefix = "*8"
` + okExt
	c, err := Parse("t.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := Proxy{
		Mode:              "edge-proxy",
		Upstream:          "sip:pbx.example.com:5080;transport=tcp",
		UnknownToUpstream: false,
		MinRegister:       30,
		MaxRegister:       7200,
		DefaultRegister:   600,
		MaxBindings:       3,
		MaxCall:           28800,
		Keepalive:         0,
		PickupPrefix:      "*8",
	}
	if c.Proxy != want {
		t.Errorf("Proxy = %+v, want %+v", c.Proxy, want)
	}
	if !c.EdgeProxy() {
		t.Error("EdgeProxy() = false for mode = \"edge-proxy\"")
	}

	// Dotted keys from the top level land in the same table.
	c, err = Parse("t.toml", []byte("proxy.mode = \"edge-proxy\"\nproxy.upstream = \"sips:10.0.0.5\"\n"+okSIP+okExt))
	if err != nil {
		t.Fatal(err)
	}
	if c.Proxy.Mode != "edge-proxy" || c.Proxy.Upstream != "sips:10.0.0.5" || !c.Proxy.UnknownToUpstream || c.Proxy.MaxCall != 14400 {
		t.Errorf("dotted keys: %+v", c.Proxy)
	}
}

func TestProxyDefaults(t *testing.T) {
	c, err := Parse("t.toml", []byte(okSIP+okExt))
	if err != nil {
		t.Fatal(err)
	}
	if c.Proxy != defaultProxy {
		t.Errorf("no [proxy]: %+v, want %+v", c.Proxy, defaultProxy)
	}
	if c.EdgeProxy() {
		t.Error("EdgeProxy() = true by default")
	}
	// The constants are what the file gets.
	if DefaultProxyMode != ModePresence || ModePresence != "presence" || ModeEdgeProxy != "edge-proxy" ||
		!DefaultUnknownToUpstream || DefaultMinRegister != 60 || DefaultMaxRegister != 3600 || DefaultRegister != 3600 ||
		DefaultMaxBindings != 10 || DefaultMaxCall != 14400 || DefaultKeepalive != 60 || DefaultPickupPrefix != "**" {
		t.Error("the exported defaults differ from the documented ones")
	}

	// An empty [proxy] table still gets every default.
	c, err = Parse("t.toml", []byte(okProxy+okExt))
	if err != nil {
		t.Fatal(err)
	}
	if c.Proxy != defaultProxy {
		t.Errorf("empty [proxy]: %+v, want %+v", c.Proxy, defaultProxy)
	}

	// Written zero values are taken as written: no keepalive, no upstream
	// routing, and an edge proxy needs no upstream then.
	c, err = Parse("t.toml", []byte(okProxy+"mode = \"edge-proxy\"\nkeepalive = 0\nunknown_to_upstream = false\n"+okExt))
	if err != nil {
		t.Fatal(err)
	}
	want := defaultProxy
	want.Mode, want.Keepalive, want.UnknownToUpstream = "edge-proxy", 0, false
	if c.Proxy != want {
		t.Errorf("written zeros: %+v, want %+v", c.Proxy, want)
	}

	// A Config built in code gets the defaults of the values that cannot
	// be zero; Keepalive 0 and UnknownToUpstream false stay as they are.
	built := func(p Proxy) *Config {
		return &Config{
			SIP:        SIP{Domain: "pbx.test", Listen: []string{"udp:127.0.0.1:0"}, MinExpires: 1, MaxExpires: 10, DefaultExpires: 5, NotifyTimeouts: 1},
			Log:        Log{Level: "info", Format: "text"},
			HTTP:       HTTP{Listen: "127.0.0.1:0"},
			Store:      Store{Path: "x.db"},
			Proxy:      p,
			Extensions: []Extension{{Number: "1", Name: "One", Role: "user"}},
		}
	}
	c = built(Proxy{})
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	want = Proxy{Mode: "presence", MinRegister: 60, MaxRegister: 3600, DefaultRegister: 3600, MaxBindings: 10, MaxCall: 14400, PickupPrefix: "**"}
	if c.Proxy != want {
		t.Errorf("built in code: %+v, want %+v", c.Proxy, want)
	}
	if c.EdgeProxy() {
		t.Error("built in code: EdgeProxy() = true")
	}

	// Set values are kept, and an edge proxy built in code without
	// UnknownToUpstream needs no upstream.
	c = built(Proxy{Mode: ModeEdgeProxy, MinRegister: 5, MaxRegister: 50, DefaultRegister: 20, Keepalive: 30})
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	want = Proxy{Mode: "edge-proxy", MinRegister: 5, MaxRegister: 50, DefaultRegister: 20, MaxBindings: 10, MaxCall: 14400, Keepalive: 30, PickupPrefix: "**"}
	if c.Proxy != want || !c.EdgeProxy() {
		t.Errorf("built in code: %+v (EdgeProxy %v), want %+v", c.Proxy, c.EdgeProxy(), want)
	}

	// Problems in a Config built in code have no position, and true is not
	// called the default there.
	c = built(Proxy{Mode: ModeEdgeProxy, UnknownToUpstream: true, Keepalive: 5})
	checkProblems(t, c.Validate(), []string{
		`proxy.unknown_to_upstream: true needs proxy.upstream: set upstream to the PBX, or unknown_to_upstream = false for a standalone office`,
		`proxy.keepalive: must be 0 (off) or between 10 and 3600 seconds, got 5`,
	})
}

// TestProxyProblems checks each [proxy] rule. Documents are okProxy (lines
// 1-3, [proxy] at 3:1) followed by the keys under test from line 4, then
// okExt.
func TestProxyProblems(t *testing.T) {
	const needUpstreamDefault = `t.toml:3:1: proxy.unknown_to_upstream: true (the default) needs proxy.upstream: set upstream to the PBX, or unknown_to_upstream = false for a standalone office`
	tests := []struct {
		name string
		keys string
		want []string // nil: the document is valid
	}{
		// mode
		{"mode typo", "mode = \"edge_proxy\"\nupstream = \"sip:pbx\"\n", []string{
			`t.toml:4:8: proxy.mode: unknown mode "edge_proxy" (did you mean "edge-proxy"?)`}},
		{"mode case", "mode = \"Presence\"\n", []string{
			// Not presence, so perhaps an edge proxy: the admin learns
			// now rather than after fixing the mode.
			needUpstreamDefault,
			`t.toml:4:8: proxy.mode: unknown mode "Presence" (did you mean "presence"?)`}},
		{"mode unknown", "mode = \"proxy\"\nunknown_to_upstream = false\n", []string{
			`t.toml:4:8: proxy.mode: unknown mode "proxy" (want "presence" or "edge-proxy")`}},
		{"mode empty", "mode = \"\"\nunknown_to_upstream = false\n", []string{
			`t.toml:4:8: proxy.mode: unknown mode "" (want "presence" or "edge-proxy")`}},
		{"mode presence", "mode = \"presence\"\n", nil},

		// upstream and unknown_to_upstream
		{"edge proxy without upstream", "mode = \"edge-proxy\"\n", []string{needUpstreamDefault}},
		{"edge proxy with written unknown_to_upstream", "mode = \"edge-proxy\"\nupstream = \"\"\nunknown_to_upstream = true\n", []string{
			`t.toml:6:23: proxy.unknown_to_upstream: true needs proxy.upstream: set upstream to the PBX, or unknown_to_upstream = false for a standalone office`}},
		{"standalone office", "mode = \"edge-proxy\"\nunknown_to_upstream = false\n", nil},
		{"edge proxy with upstream", "mode = \"edge-proxy\"\nupstream = \"sip:10.0.0.5;transport=tcp\"\n", nil},
		{"presence without upstream", "mode = \"presence\"\nunknown_to_upstream = true\n", nil},
		{"upstream checked in presence mode too", "upstream = \"pbx.example.com:5060\"\n", []string{
			`t.toml:4:12: proxy.upstream: "pbx.example.com:5060" is not a SIP URI such as "sip:pbx.example.com:5060"`}},
		{"upstream port", "mode = \"edge-proxy\"\nupstream = \"sip:pbx:0\"\n", []string{
			// A malformed upstream is still an upstream: one problem, not two.
			`t.toml:5:12: proxy.upstream: "sip:pbx:0": port "0" is not a number from 1 to 65535`}},

		// registration lifetimes
		{"min_register", "min_register = 0\n", []string{
			`t.toml:4:16: proxy.min_register: must be at least 1 second (got 0)`}},
		{"max_register below min", "min_register = 120\nmax_register = 90\n", []string{
			// default_register is not in the file: the message points at
			// the table and the key path says which key.
			`t.toml:3:1: proxy.default_register: must be between min_register (120) and max_register (90), got 3600`,
			`t.toml:5:16: proxy.max_register: must be at least min_register (120), got 90`}},
		{"max_register above a day", "max_register = 86401\n", []string{
			`t.toml:4:16: proxy.max_register: must be at most 86400 seconds (a day), got 86401`}},
		{"default_register below min", "default_register = 59\n", []string{
			`t.toml:4:20: proxy.default_register: must be between min_register (60) and max_register (3600), got 59`}},
		{"default_register above max", "default_register = 3601\n", []string{
			`t.toml:4:20: proxy.default_register: must be between min_register (60) and max_register (3600), got 3601`}},
		{"registration bounds at their limits", "min_register = 1\nmax_register = 86400\ndefault_register = 86400\n", nil},
		{"registration all one value", "min_register = 300\nmax_register = 300\ndefault_register = 300\n", nil},

		// max_bindings, max_call, keepalive
		{"max_bindings zero", "max_bindings = 0\n", []string{
			`t.toml:4:16: proxy.max_bindings: must be between 1 and 100, got 0`}},
		{"max_bindings too many", "max_bindings = 101\n", []string{
			`t.toml:4:16: proxy.max_bindings: must be between 1 and 100, got 101`}},
		{"max_bindings lower limit", "max_bindings = 1\n", nil},
		{"max_bindings upper limit", "max_bindings = 100\n", nil},
		{"max_call short", "max_call = 59\n", []string{
			`t.toml:4:12: proxy.max_call: must be between 60 and 604800 seconds (a week), got 59`}},
		{"max_call long", "max_call = 604801\n", []string{
			`t.toml:4:12: proxy.max_call: must be between 60 and 604800 seconds (a week), got 604801`}},
		{"max_call negative", "max_call = -1\n", []string{
			`t.toml:4:12: proxy.max_call: must be between 60 and 604800 seconds (a week), got -1`}},
		{"max_call lower limit", "max_call = 60\n", nil},
		{"max_call upper limit", "max_call = 604800\n", nil},
		{"keepalive short", "keepalive = 9\n", []string{
			`t.toml:4:13: proxy.keepalive: must be 0 (off) or between 10 and 3600 seconds, got 9`}},
		{"keepalive long", "keepalive = 3601\n", []string{
			`t.toml:4:13: proxy.keepalive: must be 0 (off) or between 10 and 3600 seconds, got 3601`}},
		{"keepalive negative", "keepalive = -60\n", []string{
			`t.toml:4:13: proxy.keepalive: must be 0 (off) or between 10 and 3600 seconds, got -60`}},
		{"keepalive off", "keepalive = 0\n", nil},
		{"keepalive lower limit", "keepalive = 10\n", nil},
		{"keepalive upper limit", "keepalive = 3600\n", nil},

		// pickup_prefix
		{"pickup_prefix empty", "pickup_prefix = \"\"\n", []string{
			`t.toml:4:17: proxy.pickup_prefix: must not be empty`}},
		{"pickup_prefix long", "pickup_prefix = \"*#*#*\"\n", []string{
			`t.toml:4:17: proxy.pickup_prefix: "*#*#*" is longer than 4 characters`}},
		{"pickup_prefix letter", "pickup_prefix = \"*p\"\n", []string{
			`t.toml:4:17: proxy.pickup_prefix: "*p" contains 'p': use only * # 0-9`}},
		{"pickup_prefix space", "pickup_prefix = \"* 8\"\n", []string{
			`t.toml:4:17: proxy.pickup_prefix: "* 8" contains ' ': use only * # 0-9`}},
		{"pickup_prefix not ASCII", "pickup_prefix = \"＊8\"\n", []string{
			`t.toml:4:17: proxy.pickup_prefix: "＊8" contains '＊': use only * # 0-9`}},
		{"pickup_prefix one digit", "pickup_prefix = \"8\"\n", nil},
		{"pickup_prefix four", "pickup_prefix = \"#*09\"\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.toml", []byte(okProxy+tt.keys+okExt))
			checkProblems(t, err, tt.want)
		})
	}

	// Written as dotted keys at the top level, a problem points at the
	// value, and one about a key left out at the first proxy.* key.
	_, err := Parse("t.toml", []byte("proxy.max_bindings = 1\nproxy.mode = \"edgeproxy\"\n"+okSIP+okExt))
	checkProblems(t, err, []string{
		`t.toml:1:1: proxy.unknown_to_upstream: true (the default) needs proxy.upstream: set upstream to the PBX, or unknown_to_upstream = false for a standalone office`,
		`t.toml:2:14: proxy.mode: unknown mode "edgeproxy" (did you mean "edge-proxy"?)`,
	})
}

func TestProxyManyProblemsAtOnce(t *testing.T) {
	doc := `[sip]
domain = "pbx.example.com"

[proxy]
mode = "edge_proxy"
upstream = ""
min_register = 0
max_register = 100000
default_register = 100001
max_bindings = 0
max_call = 30
keepalive = 5
pickup_prefix = "*9*9*"
[[extensions]]
number = "1001"
name = "Alice"
`
	_, err := Parse("t.toml", []byte(doc))
	checkProblems(t, err, []string{
		`t.toml:4:1: proxy.unknown_to_upstream: true (the default) needs proxy.upstream: set upstream to the PBX, or unknown_to_upstream = false for a standalone office`,
		`t.toml:5:8: proxy.mode: unknown mode "edge_proxy" (did you mean "edge-proxy"?)`,
		`t.toml:7:16: proxy.min_register: must be at least 1 second (got 0)`,
		`t.toml:8:16: proxy.max_register: must be at most 86400 seconds (a day), got 100000`,
		`t.toml:9:20: proxy.default_register: must be between min_register (0) and max_register (100000), got 100001`,
		`t.toml:10:16: proxy.max_bindings: must be between 1 and 100, got 0`,
		`t.toml:11:12: proxy.max_call: must be between 60 and 604800 seconds (a week), got 30`,
		`t.toml:12:13: proxy.keepalive: must be 0 (off) or between 10 and 3600 seconds, got 5`,
		`t.toml:13:17: proxy.pickup_prefix: "*9*9*" is longer than 4 characters`,
	})
}

func TestProxyDecodeErrors(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"mode integer", okProxy + "mode = 1\n",
			`t.toml:4:8: proxy.mode: expected a string, found an integer (put it in quotes)`},
		{"unknown_to_upstream string", okProxy + "unknown_to_upstream = \"yes\"\n",
			`t.toml:4:23: proxy.unknown_to_upstream: expected true or false, found a string`},
		{"keepalive float", okProxy + "keepalive = 1.5\n",
			`t.toml:4:13: proxy.keepalive: expected an integer, found a float`},
		{"max_call string", okProxy + "max_call = \"4h\"\n",
			`t.toml:4:12: proxy.max_call: expected an integer, found a string`},
		{"pickup_prefix integer", okProxy + "pickup_prefix = 88\n",
			`t.toml:4:17: proxy.pickup_prefix: expected a string, found an integer (put it in quotes)`},
		{"proxy string", "proxy = \"edge-proxy\"\n" + okSIP,
			`t.toml:1:9: proxy: expected a table, found a string`},
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

func TestProxyUnknownKeys(t *testing.T) {
	doc := okProxy + "upstrem = \"sip:pbx\"\nkeep_alive = 30\npickup = \"**\"\n" + okExt + "[prxy]\nmode = \"presence\"\n"
	_, err := Parse("t.toml", []byte(doc))
	checkProblems(t, err, []string{
		`t.toml:4:1: proxy.upstrem: unknown key (did you mean "upstream"?)`,
		`t.toml:5:1: proxy.keep_alive: unknown key (did you mean "keepalive"?)`,
		`t.toml:6:1: proxy.pickup: unknown key`,
		`t.toml:10:1: prxy: unknown table (did you mean "proxy"?)`,
	})
}

func TestParseUpstream(t *testing.T) {
	valid := []struct {
		in   string
		want upstreamURI
	}{
		{"sip:pbx.example.com", upstreamURI{"sip", "pbx.example.com", 0, ""}},
		{"sip:pbx.example.com:5060", upstreamURI{"sip", "pbx.example.com", 5060, ""}},
		{"sip:10.0.0.5;transport=tcp", upstreamURI{"sip", "10.0.0.5", 0, "tcp"}},
		{"sip:10.0.0.5:5080;transport=udp", upstreamURI{"sip", "10.0.0.5", 5080, "udp"}},
		{"sip:pbx;transport=tls", upstreamURI{"sip", "pbx", 0, "tls"}},
		{"sips:pbx.example.com", upstreamURI{"sips", "pbx.example.com", 0, ""}},
		{"sips:pbx.example.com:5061;transport=tcp", upstreamURI{"sips", "pbx.example.com", 5061, "tcp"}},
		{"sip:[2001:db8::5]", upstreamURI{"sip", "2001:db8::5", 0, ""}},
		{"sip:[2001:db8::5]:5060;transport=tcp", upstreamURI{"sip", "2001:db8::5", 5060, "tcp"}},
		{"SIP:PBX.example.com;Transport=TCP", upstreamURI{"sip", "PBX.example.com", 0, "tcp"}},
		{"sip:pbx.example.com.:1", upstreamURI{"sip", "pbx.example.com.", 1, ""}},
		{"sip:pbx:65535", upstreamURI{"sip", "pbx", 65535, ""}},
	}
	for _, tt := range valid {
		got, err := parseUpstream(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("parseUpstream(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}

	invalid := []struct{ in, want string }{
		{"pbx.example.com", `"pbx.example.com" is not a SIP URI such as "sip:pbx.example.com:5060"`},
		{"pbx.example.com:5060", `"pbx.example.com:5060" is not a SIP URI such as "sip:pbx.example.com:5060"`},
		{"tel:+15551234", `"tel:+15551234" is not a SIP URI such as "sip:pbx.example.com:5060"`},
		{"udp:10.0.0.5:5060", `"udp:10.0.0.5:5060" is not a SIP URI such as "sip:pbx.example.com:5060"`},
		{"sip://pbx.example.com", `"sip://pbx.example.com": write sip:host, without "//"`},
		{"sip:1000@pbx.example.com", `"sip:1000@pbx.example.com" names a user: give only the PBX's host, port and transport`},
		{"sip:", `"sip:" has no host`},
		{"sip::5060", `"sip::5060" has no host`},
		{"sip:;transport=tcp", `"sip:;transport=tcp" has no host`},
		{"sip:pbx example", `"sip:pbx example": host "pbx example" is neither an IP address nor a host name`},
		{"sip:pbx.example.com?subject=x", `"sip:pbx.example.com?subject=x": host "pbx.example.com?subject=x" is neither an IP address nor a host name`},
		{"sip:2001:db8::5", `"sip:2001:db8::5": put an IPv6 address in brackets, as in "sip:[2001:db8::1]:5060"`},
		{"sip:[2001:db8::5", `"sip:[2001:db8::5": "[2001:db8::5" lacks its closing "]"`},
		{"sip:[10.0.0.5]", `"sip:[10.0.0.5]": host "[10.0.0.5]" is not an IPv6 address`},
		{"sip:[fe80::1%eth0]", `"sip:[fe80::1%eth0]": host "[fe80::1%eth0]" is not an IPv6 address`},
		{"sip:[]", `"sip:[]": host "[]" is not an IPv6 address`},
		{"sip:[::1]5060", `"sip:[::1]5060": "5060" after the host is not :port`},
		{"sip:pbx:", `"sip:pbx:": port "" is not a number from 1 to 65535`},
		{"sip:pbx:0", `"sip:pbx:0": port "0" is not a number from 1 to 65535`},
		{"sip:pbx:65536", `"sip:pbx:65536": port "65536" is not a number from 1 to 65535`},
		{"sip:pbx:+5060", `"sip:pbx:+5060": port "+5060" is not a number from 1 to 65535`},
		{"sip:pbx:sip", `"sip:pbx:sip": port "sip" is not a number from 1 to 65535`},
		{"sip:[::1]:99999", `"sip:[::1]:99999": port "99999" is not a number from 1 to 65535`},
		{"sip:pbx;", `"sip:pbx;" has an empty parameter`},
		{"sip:pbx;;transport=tcp", `"sip:pbx;;transport=tcp" has an empty parameter`},
		{"sip:pbx;lr", `"sip:pbx;lr": unknown parameter "lr" (only transport is allowed)`},
		{"sip:pbx;transport=tcp;maddr=10.0.0.5", `"sip:pbx;transport=tcp;maddr=10.0.0.5": unknown parameter "maddr" (only transport is allowed)`},
		{"sip:pbx;transport=tcp;transport=udp", `"sip:pbx;transport=tcp;transport=udp" gives transport twice`},
		{"sip:pbx;transport=sctp", `"sip:pbx;transport=sctp": unknown transport "sctp" (want "udp", "tcp" or "tls")`},
		{"sip:pbx;transport=ws", `"sip:pbx;transport=ws": unknown transport "ws" (want "udp", "tcp" or "tls")`},
		{"sip:pbx;transport", `"sip:pbx;transport": unknown transport "" (want "udp", "tcp" or "tls")`},
		{"sips:pbx;transport=udp", `"sips:pbx;transport=udp": sips needs TLS, which does not run over UDP`},
	}
	for _, tt := range invalid {
		got, err := parseUpstream(tt.in)
		if err == nil {
			t.Errorf("parseUpstream(%q) = %+v, want error %q", tt.in, got, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("parseUpstream(%q) error:\n got %s\nwant %s", tt.in, err, tt.want)
		}
	}
}

func TestExampleProxy(t *testing.T) {
	c, err := Parse("example.toml", Example)
	if err != nil {
		t.Fatal(err)
	}
	// The example stays a presence server, so `make run` behaves as
	// before, and writes every default out.
	if c.Proxy != defaultProxy {
		t.Errorf("Proxy = %+v, want %+v", c.Proxy, defaultProxy)
	}
	if c.EdgeProxy() {
		t.Error("the example runs as an edge proxy")
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "config", c)
	if !strings.Contains(buf.String(), "config.mode=presence") {
		t.Errorf("LogValue lacks the mode: %s", buf.String())
	}

	// Switching the example to edge-proxy alone says what else it needs,
	// at the line to change.
	const from, to = `mode = "presence"`, `mode = "edge-proxy"`
	if bytes.Count(Example, []byte(from)) != 1 {
		t.Fatalf("example.toml has %d lines %s", bytes.Count(Example, []byte(from)), from)
	}
	doc := bytes.Replace(Example, []byte(from), []byte(to), 1)
	line := 1 + bytes.Count(doc[:bytes.Index(doc, []byte("\nunknown_to_upstream = true"))+1], []byte("\n"))
	_, err = Parse("example.toml", doc)
	checkProblems(t, err, []string{
		"example.toml:" + strconv.Itoa(line) + ":23: proxy.unknown_to_upstream: true needs proxy.upstream: set upstream to the PBX, or unknown_to_upstream = false for a standalone office",
	})

	// With an upstream it loads.
	doc = bytes.Replace(doc, []byte(`upstream = ""`), []byte(`upstream = "sip:pbx.example.com:5060"`), 1)
	c, err = Parse("example.toml", doc)
	if err != nil {
		t.Fatal(err)
	}
	if !c.EdgeProxy() || c.Proxy.Upstream != "sip:pbx.example.com:5060" {
		t.Errorf("edge-proxy example: %+v", c.Proxy)
	}
}
