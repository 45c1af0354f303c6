// Package configs turns the gateway's TOML file into a validated *Config.
//
// Decoding is strict (an unknown key is an error), defaults fill only the
// keys the file leaves out, the *_file and *_env secret sources are resolved
// (into Extension.Password, Teams.ClientSecret, TeamsAccount.Password and
// Genesys.ClientSecret),
// and validation looks at the whole file and reports
// every problem at once, each as
//
//	FILE:LINE:COL: key.path: message
//
// so that an admin fixes a file in one round instead of one error per
// restart. Key paths use 0-based indexes: extensions[0] is the first
// [[extensions]] table.
//
// Load (and Parse, from bytes) does all of that. A command that overrides
// settings from flags reads first, overrides, then validates, and says where
// each overridden value came from so that a bad flag is not blamed on the
// file:
//
//	c, err := configs.ReadFile(path)
//	if err != nil { ... }            // unreadable file, TOML syntax or type error
//	c.SIP.Listen = sipFlag
//	c.MarkOverridden("sip.listen", "-sip flag")
//	if err := c.Validate(); err != nil { ... } // a configs.Errors, one Problem a line
//
// A problem in an overridden value is then reported as
// "sip.listen[0] (from -sip flag): ...", without a file position.
//
// The package imports nothing from the rest of the gateway; the others read
// the plain fields of Config.
package configs

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"regexp"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Example is example.toml: a complete, commented configuration that loads
// on a fresh machine. It is embedded so tests and `blfgw` can offer it.
//
//go:embed example.toml
var Example []byte

// Config is the whole gateway configuration.
//
// Build one with Load, Parse, ReadFile or Decode. A Config is not safe for
// concurrent mutation; Validate writes derived state (listeners, trusted
// networks, resolved passwords), so validate before sharing it.
type Config struct {
	Log         Log          `toml:"log"`
	SIP         SIP          `toml:"sip"`
	HTTP        HTTP         `toml:"http"`
	Store       Store        `toml:"store"`
	Presence    Presence     `toml:"presence"`
	Proxy       Proxy        `toml:"proxy"`
	Teams       Teams        `toml:"teams"`
	Genesys     Genesys      `toml:"genesys"`
	Departments []Department `toml:"departments"`
	Extensions  []Extension  `toml:"extensions"`

	path string
	ix   *index
	// decodeProblems are the unknown keys: decoding succeeded without them,
	// and they are reported together with everything Validate finds.
	decodeProblems []Problem
	overridden     map[string]string // key path -> where the value came from

	listeners []Listen
	trusted   []netip.Prefix
}

// Log configures the process logger.
type Log struct {
	Level  string `toml:"level"`  // debug|info|warn|error; default "info"
	Format string `toml:"format"` // text|json; default "text"
}

// SlogLevel maps Level to a slog.Level; unknown levels mean info, since
// Validate has already refused them.
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// SIP configures the SIP side of the gateway.
type SIP struct {
	Domain           string   `toml:"domain"`            // required: the SIP domain of the extensions
	Listen           []string `toml:"listen"`            // "udp:0.0.0.0:5060", "tcp:...", "tls:...", "ws:...", "wss:..."; default ["udp:0.0.0.0:5060","tcp:0.0.0.0:5060"]
	Advertise        string   `toml:"advertise"`         // host or IP written into Contact/Via; "" = derive from the listener
	TLSCert          string   `toml:"tls_cert"`          // required (and the file must exist) when a tls: or wss: listener is configured
	TLSKey           string   `toml:"tls_key"`           // as TLSCert
	Trusted          []string `toml:"trusted"`           // CIDRs or bare IPs that skip digest auth; default none
	Realm            string   `toml:"realm"`             // digest realm; default = Domain
	MinExpires       int      `toml:"min_expires"`       // seconds; default 60; SUBSCRIBE/PUBLISH with a shorter non-zero Expires get 423
	MaxExpires       int      `toml:"max_expires"`       // default 3600; the granted upper bound (must be >= min_expires)
	DefaultExpires   int      `toml:"default_expires"`   // default 3600; used when Expires is absent (min<=default<=max)
	DigestAlgorithms []string `toml:"digest_algorithms"` // offered in this order in 401s: "MD5", "SHA-256"; default ["MD5", "SHA-256"]
	NotifyTimeouts   int      `toml:"notify_timeouts"`   // consecutive NOTIFY transaction timeouts tolerated before a subscription is dropped; default 2; >=1
	Rate             float64  `toml:"rate"`              // new requests per second allowed per untrusted source IP; default 50; 0 = unlimited
	Burst            int      `toml:"burst"`             // default 100
	Devices          []Device `toml:"devices"`           // per watcher device body profiles, matched on User-Agent
	ListSuffix       string   `toml:"list_suffix"`       // a SUBSCRIBE to <extension><list_suffix> gets its BLF list (RFC 4662); default "-blf"; "" turns lists off
}

// Device adapts the dialog-info body for phones known to need it.
type Device struct {
	UserAgent    string `toml:"user_agent"`    // required; case-insensitive substring of the watcher's User-Agent
	Idle         string `toml:"idle"`          // "" (inherit), "empty" or "dummy"
	SingleDialog *bool  `toml:"single_dialog"` // nil = inherit
}

// HTTP configures the API, health, metrics and HUD listener.
type HTTP struct {
	Listen string `toml:"listen"` // host:port; default "127.0.0.1:8080"; an empty host means all interfaces
	Pprof  bool   `toml:"pprof"`  // serve Go's /debug/pprof/ profiles; default false
}

// Store configures persistence.
type Store struct {
	Path string `toml:"path"` // default "var/blfgw.db"; relative paths stay as written (relative to the working directory)
}

// Presence holds the rules around who may see whom. Each user chooses
// through the API whether their presence is shared and with whom; these
// are what a user who never chose gets, and how a refusal looks.
type Presence struct {
	Blocked          string    `toml:"blocked"`            // polite|refuse; default "polite": a watcher who may not see an extension gets a neutral idle lamp for good (polite) or 403 (refuse)
	AwayLamp         string    `toml:"away_lamp"`          // idle|busy; default "idle": what a dialog BLF lamp shows for a user who set Appear Away
	ShareByDefault   bool      `toml:"share_by_default"`   // default true: whether an extension that never chose shares its presence
	ShareWithDefault ShareWith `toml:"share_with_default"` // default { everyone = true }; a table written in the file replaces it whole
}

// ShareWith names the watchers who may see an extension's presence:
// everyone, or whoever is in any of the lists.
type ShareWith struct {
	Everyone    bool     `toml:"everyone"`
	Roles       []string `toml:"roles"`       // user|admin|supervisor|manager|qa
	Departments []string `toml:"departments"` // [[departments]] names, exactly as written there
	Extensions  []string `toml:"extensions"`  // configured extension numbers
}

// Proxy chooses what the gateway is on the SIP side: a presence server
// beside the PBX, or the phones' edge proxy, which lights the lamps from the
// calls it carries.
//
// The register bounds, max_bindings, max_call and pickup_prefix cannot be
// zero, so a Config built in code gets their defaults from Validate, and
// an empty Mode means presence. Keepalive and UnknownToUpstream are taken
// as they are, since 0 (off) and false are meaningful; a Config built in
// code that wants the file's defaults for them sets them.
type Proxy struct {
	Mode              string `toml:"mode"`                // presence|edge-proxy; default "presence"
	Upstream          string `toml:"upstream"`            // SIP URI of the PBX, "sip:host[:port][;transport=udp|tcp|tls]" or sips:; "" = none (standalone office)
	UnknownToUpstream bool   `toml:"unknown_to_upstream"` // default true: calls to numbers not registered here go upstream; needs Upstream in edge-proxy mode
	MinRegister       int    `toml:"min_register"`        // seconds; default 60; a REGISTER with a shorter non-zero expiry gets 423
	MaxRegister       int    `toml:"max_register"`        // default 3600; at least min_register, at most 86400
	DefaultRegister   int    `toml:"default_register"`    // default 3600; used when a REGISTER names no expiry (min<=default<=max)
	MaxBindings       int    `toml:"max_bindings"`        // contacts one extension may register at once; default 10; 1..100
	MaxCall           int    `toml:"max_call"`            // seconds after which a call that never saw its BYE is ended; default 14400; 60..604800
	Keepalive         int    `toml:"keepalive"`           // seconds between in-dialog OPTIONS probes of a call; default 60; 0 = off, else 10..3600
	PickupPrefix      string `toml:"pickup_prefix"`       // dialled before an extension to pick up its ringing call; default "**"; 1-4 of * # 0-9
}

// The values of proxy.mode.
const (
	// ModePresence serves SUBSCRIBE and PUBLISH only and refuses REGISTER:
	// the PBX (or whatever PUBLISHes) says what the phones are doing.
	ModePresence = "presence"
	// ModeEdgeProxy is also the phones' registrar and stateful proxy: they
	// REGISTER here and send their calls through, and the lamps follow the
	// calls.
	ModeEdgeProxy = "edge-proxy"
)

// UserFields are the Extension keys a user may change through the API, by
// their TOML names. They are the names `locked` accepts, and other packages
// use them as the settings' field names so that file, API and audit log
// agree.
var UserFields = []string{"share_presence", "share_with", "delegates", "appearance", "status", "status_message"}

// Department groups extensions.
type Department struct {
	Name string `toml:"name"` // required, unique (case-insensitive)
}

// Extension is one phone user known to the gateway.
//
// Password holds the resolved secret whichever source it came from. It is
// kept out of String, GoString, LogValue and JSON so that logging or dumping
// an Extension cannot leak it.
type Extension struct {
	Number       string `toml:"number"`            // required, unique; SIP user part: 1-32 chars of [0-9A-Za-z._+-]
	Name         string `toml:"name"`              // display name; required
	Department   string `toml:"department"`        // must name a [[departments]] entry exactly ("" = none)
	Role         string `toml:"role"`              // user|admin|supervisor|manager|qa; default "user"
	Password     string `toml:"password" json:"-"` // SIP digest password; at most ONE of password, password_file, password_env
	PasswordFile string `toml:"password_file"`     // file whose content (trailing newline trimmed) is the password; must be readable
	PasswordEnv  string `toml:"password_env"`      // environment variable holding the password; must be set and non-empty
	Idle         string `toml:"idle"`              // "", "empty" or "dummy": body profile for this extension's own phones as watchers
	SingleDialog *bool  `toml:"single_dialog"`     // nil = inherit
	TeamsUser    string `toml:"teams_user"`        // Entra object id (GUID) or UPN of the user's Teams account; "" = none; unique (case-insensitive)
	GenesysUser  string `toml:"genesys_user"`      // Genesys Cloud user id (GUID) or email of the user's Genesys account; "" = none; unique (case-insensitive)

	// The UserFields: the file gives their initial values. nil means the
	// file does not set the field, which must leave a value the user chose
	// through the API alone; a written empty array or "" is a value like
	// any other.
	SharePresence *bool      `toml:"share_presence"` // nil = not set (presence.share_by_default until the user chooses)
	ShareWith     *ShareWith `toml:"share_with"`     // nil = not set (presence.share_with_default until the user chooses)
	Delegates     []string   `toml:"delegates"`      // extension numbers that may answer this extension's calls; need presence shared
	Appearance    []string   `toml:"appearance"`     // extension numbers this extension's BLF keys show, in key order
	Status        *string    `toml:"status"`         // "available", "dnd", "away", or "" to follow the phone
	StatusMessage *string    `toml:"status_message"` // at most MaxStatusMessage characters, no control characters
	Locked        []string   `toml:"locked"`         // UserFields the user may not change through the API

	// resolved marks Password as filled from PasswordFile or PasswordEnv,
	// so a second Validate does not mistake it for an inline password and
	// report two sources.
	resolved bool
}

const redacted = "[redacted]"

// LogValue describes the extension without its password.
func (e Extension) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("number", e.Number),
		slog.String("name", e.Name),
		slog.String("department", e.Department),
		slog.String("role", e.Role),
	}
	if e.Password != "" {
		attrs = append(attrs, slog.String("password", redacted))
	}
	if e.PasswordFile != "" {
		attrs = append(attrs, slog.String("password_file", e.PasswordFile))
	}
	if e.PasswordEnv != "" {
		attrs = append(attrs, slog.String("password_env", e.PasswordEnv))
	}
	if e.TeamsUser != "" {
		attrs = append(attrs, slog.String("teams_user", e.TeamsUser))
	}
	if e.GenesysUser != "" {
		attrs = append(attrs, slog.String("genesys_user", e.GenesysUser))
	}
	return slog.GroupValue(attrs...)
}

// String is what %v and %+v print, so fmt cannot reach the password either.
func (e Extension) String() string {
	pw := ""
	if e.Password != "" {
		pw = redacted
	}
	return fmt.Sprintf("{Number:%s Name:%s Department:%s Role:%s Password:%s PasswordFile:%s PasswordEnv:%s Idle:%s TeamsUser:%s GenesysUser:%s}",
		e.Number, e.Name, e.Department, e.Role, pw, e.PasswordFile, e.PasswordEnv, e.Idle, e.TeamsUser, e.GenesysUser)
}

// GoString covers %#v, which bypasses String.
func (e Extension) GoString() string {
	return "configs.Extension" + e.String()
}

// Format keeps the password out of every verb (%d and %x would otherwise
// print the fields), as Teams and Genesys do.
func (e Extension) Format(s fmt.State, verb rune) { formatRedacted(s, verb, e) }

// LogValue summarises the configuration for a startup log line; the
// extensions (and so their passwords) are only counted.
func (c *Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("path", c.path),
		slog.String("domain", c.SIP.Domain),
		slog.String("mode", c.Proxy.Mode),
		slog.Any("listen", c.SIP.Listen),
		slog.String("http", c.HTTP.Listen),
		slog.String("store", c.Store.Path),
		slog.Int("departments", len(c.Departments)),
		slog.Int("extensions", len(c.Extensions)),
		slog.Bool("teams", c.Teams.Enabled),
		slog.Bool("genesys", c.Genesys.Enabled),
	)
}

// Load reads, decodes and validates the file at path. A file that cannot
// be read gives a wrapped *fs.PathError; anything wrong inside it gives
// Errors.
func Load(path string) (*Config, error) {
	c, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Parse is Load for a document already in memory; path is used only in
// messages.
func Parse(path string, data []byte) (*Config, error) {
	c, err := Decode(path, data)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// ReadFile reads and decodes the file at path without validating it, for a
// caller that overrides fields before calling Validate.
func ReadFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Decode(path, data)
}

// Decode decodes data strictly and fills defaults without validating. A
// TOML syntax error or a value of the wrong type stops decoding and is
// returned as Errors; unknown keys do not stop it and are reported by
// Validate together with every other problem.
func Decode(path string, data []byte) (*Config, error) {
	// The unstable parser and the decoder may keep slices of data; a copy
	// keeps the Config independent of the caller's buffer.
	data = bytes.Clone(data)

	// A parse error here is reported below by the decoder, which positions
	// it the same way; the partial index still names the keys before it.
	ix, _ := buildIndex(data)

	c := &Config{path: path, ix: ix}
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	err := dec.Decode(c)
	var strict *toml.StrictMissingError
	var derr *toml.DecodeError
	switch {
	case err == nil:
	case errors.As(err, &strict):
		for i := range strict.Errors {
			c.decodeProblems = append(c.decodeProblems, c.unknownKey(&strict.Errors[i]))
		}
	case errors.As(err, &derr):
		line, col := derr.Position()
		return nil, Errors{{
			File: path, Line: line, Col: col,
			Key: ix.byPos[pos{line, col}],
			Msg: decodeMessage(derr),
		}}
	default:
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	c.applyDefaults()
	return c, nil
}

// unknownKey words a strict-mode error with the same key path notation as
// the rest, and suggests the key that was probably meant.
func (c *Config) unknownKey(e *toml.DecodeError) Problem {
	line, col := e.Position()
	key := c.ix.byPos[pos{line, col}]
	if key == "" {
		key = strings.Join(e.Key(), ".")
	}
	what := "key"
	if strings.Contains(e.Error(), "table") {
		what = "table"
		// A table is found at its header, like every other table; for an
		// array of tables the index says which occurrence, but the name is
		// what is unknown.
		if at, exact, ok := c.ix.lookup(key); ok && exact {
			line, col = at.Line, at.Col
		}
		if i := strings.LastIndexByte(key, '['); i > 0 && strings.HasSuffix(key, "]") {
			key = key[:i]
		}
	}
	msg := "unknown " + what
	if s := suggestKey(schemaPath(key)); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return Problem{File: c.path, Line: line, Col: col, Key: key, Msg: msg}
}

var typeMismatch = regexp.MustCompile(`^cannot decode TOML (\w+) into struct field \S+ of type (\S+)$`)

// decodeMessage rewords go-toml's type errors, which name Go struct fields
// and types, into what the admin wrote and what the key takes.
func decodeMessage(e *toml.DecodeError) string {
	msg := strings.TrimPrefix(e.Error(), "toml: ")
	m := typeMismatch.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	got, want := m[1], m[2]
	var w string
	switch {
	case want == "string":
		w = "a string"
	case want == "int" || want == "int64":
		w = "an integer"
	case want == "float64":
		w = "a number"
	case want == "bool":
		w = "true or false"
	case want == "[]string":
		w = "an array of strings"
	case strings.HasPrefix(want, "[]"):
		w = "an array of tables"
	case strings.HasPrefix(want, "configs."):
		w = "a table"
	default:
		return msg
	}
	msg = fmt.Sprintf("expected %s, found %s %s", w, article(got), got)
	if want == "string" && (got == "integer" || got == "float") {
		msg += " (put it in quotes)"
	}
	return msg
}

func article(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}

// schemaPath splits a key path into the names the schema knows, dropping
// array indexes: "extensions[0].pasword" -> ["extensions", "pasword"].
// go-toml's own key for an error inside an inline table lacks the parents,
// so the path from the index is the one to trust.
func schemaPath(key string) []string {
	parts := strings.Split(key, ".")
	for i, p := range parts {
		if j := strings.IndexByte(p, '['); j >= 0 {
			parts[i] = p[:j]
		}
	}
	return parts
}

// Defaults. The gateway's documented behaviour depends on these values, so
// they live in one place.
const (
	DefaultLogLevel       = "info"
	DefaultLogFormat      = "text"
	DefaultHTTPListen     = "127.0.0.1:8080"
	DefaultStorePath      = "var/blfgw.db"
	DefaultMinExpires     = 60
	DefaultMaxExpires     = 3600
	DefaultExpires        = 3600
	DefaultNotifyTimeouts = 2
	DefaultListSuffix     = "-blf"
	DefaultRate           = 50
	DefaultBurst          = 100
	DefaultRole           = "user"
	DefaultBlocked        = "polite"
	DefaultAwayLamp       = "idle"
	DefaultShareByDefault = true

	DefaultProxyMode         = ModePresence
	DefaultUnknownToUpstream = true
	DefaultMinRegister       = 60
	DefaultMaxRegister       = 3600
	DefaultRegister          = 3600
	DefaultMaxBindings       = 10
	DefaultMaxCall           = 14400
	DefaultKeepalive         = 60
	DefaultPickupPrefix      = "**"
)

// MaxStatusMessage is the longest status message in characters (runes,
// not bytes); see CheckStatusMessage.
const MaxStatusMessage = 200

// DefaultShareWith is presence.share_with_default when the file leaves it
// out.
func DefaultShareWith() ShareWith { return ShareWith{Everyone: true} }

// DefaultDigestAlgorithms lists MD5 first: many desk phones (and SIPp 3.6)
// read only the first challenge and know only MD5, while a phone that knows
// SHA-256 still finds it in the second.
func DefaultDigestAlgorithms() []string { return []string{"MD5", "SHA-256"} }

// DefaultListen is sip.listen when the file leaves it out.
func DefaultListen() []string {
	return []string{"udp:0.0.0.0:5060", "tcp:0.0.0.0:5060"}
}

// applyDefaults fills only the keys absent from the file: a key that is
// written is taken as written, so `rate = 0` stays unlimited and
// `min_expires = 0` is reported instead of silently becoming 60.
func (c *Config) applyDefaults() {
	unset := func(key string) bool { return !c.ix.has(key) }
	if unset("log.level") {
		c.Log.Level = DefaultLogLevel
	}
	if unset("log.format") {
		c.Log.Format = DefaultLogFormat
	}
	if unset("sip.listen") {
		c.SIP.Listen = DefaultListen()
	}
	if unset("sip.realm") {
		c.SIP.Realm = c.SIP.Domain
	}
	if unset("sip.min_expires") {
		c.SIP.MinExpires = DefaultMinExpires
	}
	if unset("sip.max_expires") {
		c.SIP.MaxExpires = DefaultMaxExpires
	}
	if unset("sip.default_expires") {
		c.SIP.DefaultExpires = DefaultExpires
	}
	if unset("sip.digest_algorithms") {
		c.SIP.DigestAlgorithms = DefaultDigestAlgorithms()
	}
	if unset("sip.notify_timeouts") {
		c.SIP.NotifyTimeouts = DefaultNotifyTimeouts
	}
	if unset("sip.list_suffix") {
		c.SIP.ListSuffix = DefaultListSuffix
	}
	if unset("sip.rate") {
		c.SIP.Rate = DefaultRate
	}
	if unset("sip.burst") {
		c.SIP.Burst = DefaultBurst
	}
	if unset("http.listen") {
		c.HTTP.Listen = DefaultHTTPListen
	}
	if unset("store.path") {
		c.Store.Path = DefaultStorePath
	}
	if unset("presence.blocked") {
		c.Presence.Blocked = DefaultBlocked
	}
	if unset("presence.away_lamp") {
		c.Presence.AwayLamp = DefaultAwayLamp
	}
	if unset("presence.share_by_default") {
		c.Presence.ShareByDefault = DefaultShareByDefault
	}
	// A table counts as written when any key in it is, e.g. through
	// `share_with_default.roles = [...]`, or the default would overwrite
	// the admin's roles with everyone.
	if !c.ix.touched("presence.share_with_default") {
		c.Presence.ShareWithDefault = DefaultShareWith()
	}
	if unset("proxy.mode") {
		c.Proxy.Mode = DefaultProxyMode
	}
	if unset("proxy.unknown_to_upstream") {
		c.Proxy.UnknownToUpstream = DefaultUnknownToUpstream
	}
	if unset("proxy.min_register") {
		c.Proxy.MinRegister = DefaultMinRegister
	}
	if unset("proxy.max_register") {
		c.Proxy.MaxRegister = DefaultMaxRegister
	}
	if unset("proxy.default_register") {
		c.Proxy.DefaultRegister = DefaultRegister
	}
	if unset("proxy.max_bindings") {
		c.Proxy.MaxBindings = DefaultMaxBindings
	}
	if unset("proxy.max_call") {
		c.Proxy.MaxCall = DefaultMaxCall
	}
	if unset("proxy.keepalive") {
		c.Proxy.Keepalive = DefaultKeepalive
	}
	if unset("proxy.pickup_prefix") {
		c.Proxy.PickupPrefix = DefaultPickupPrefix
	}
	for i := range c.Extensions {
		if unset(fmt.Sprintf("extensions[%d].role", i)) {
			c.Extensions[i].Role = DefaultRole
		}
	}
	c.teamsDefaults()
	c.genesysDefaults()
}

// MarkOverridden records that the value at key (a key path such as
// "sip.listen", "http.listen" or "store.path") was set by the caller rather
// than read from the file, and from where ("-sip flag"). Validate then
// reports problems under that key as `key (from SOURCE): message` without a
// file position, which would point at a value no longer in use.
func (c *Config) MarkOverridden(key, source string) {
	if c.overridden == nil {
		c.overridden = map[string]string{}
	}
	c.overridden[key] = source
}

// EdgeProxy reports whether proxy.mode is "edge-proxy": the gateway is the
// phones' registrar and proxy rather than a presence server only.
func (c *Config) EdgeProxy() bool { return c.Proxy.Mode == ModeEdgeProxy }

// Path is the file the configuration came from ("" when built in code).
func (c *Config) Path() string { return c.path }

// Listeners returns sip.listen parsed; it is filled by Validate.
func (c *Config) Listeners() []Listen {
	return append([]Listen(nil), c.listeners...)
}

// TrustedNets returns sip.trusted parsed, bare addresses as single-host
// prefixes (/32 or /128); it is filled by Validate.
func (c *Config) TrustedNets() []netip.Prefix {
	return append([]netip.Prefix(nil), c.trusted...)
}

// Extension finds an extension by its exact number. It searches the
// current slice rather than an index built by Validate, so it cannot go
// stale when the caller edits Extensions.
func (c *Config) Extension(number string) (Extension, bool) {
	for _, e := range c.Extensions {
		if e.Number == number {
			return e, true
		}
	}
	return Extension{}, false
}
