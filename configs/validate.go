package configs

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

var (
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"text", "json"}
	roles      = []string{"user", "admin", "supervisor", "manager", "qa"}
	idles      = []string{"", "empty", "dummy"}
	blockModes = []string{"polite", "refuse"}
	awayLamps  = []string{"idle", "busy"}
	statuses   = []string{"", "available", "dnd", "away"}
	proxyModes = []string{ModePresence, ModeEdgeProxy}
)

// Bounds of the [proxy] numbers, in seconds except max_bindings.
const (
	maxRegisterCeiling = 86400 // a day: a phone unplugged without unregistering is rung until its binding expires
	maxBindingsCeiling = 100
	minMaxCall         = 60
	maxMaxCall         = 604800 // a week
	minKeepalive       = 10
	maxKeepalive       = 3600
	maxPickupPrefix    = 4
)

// Validate checks the whole configuration and returns every problem at once
// as Errors (nil if there is none), unknown keys found by Decode included.
//
// It also derives what the rest of the gateway reads: Listeners,
// TrustedNets, Extension.Password from password_file or password_env, the
// [teams] and [genesys] secrets likewise while the bridge is enabled (all
// read again on every call, so a reload picks up a rotated secret), and the
// [teams] and [genesys] defaults.
// It may be called again after the caller changes fields; see
// MarkOverridden for how such values are reported.
func (c *Config) Validate() error {
	v := &validator{c: c}
	v.problems = append(v.problems, c.decodeProblems...)
	v.log()
	v.sip()
	v.http()
	v.store()
	v.proxy()
	depts := v.departments()
	numbers := v.extensions(depts)
	v.presence(depts, numbers)
	v.teams()
	v.genesys()
	return asError(v.problems)
}

type validator struct {
	c        *Config
	problems []Problem
}

// at reports a problem with the value at key, positioned at that value if
// the file wrote it, else at the nearest table the file wrote.
func (v *validator) at(key, format string, args ...any) {
	p := v.c.place(key)
	p.Msg = fmt.Sprintf(format, args...)
	v.problems = append(v.problems, p)
}

// missing reports a required key that the file does not have, at the
// header of the table that should hold it.
func (v *validator) missing(key string) {
	table := parent(key)
	leaf := strings.TrimPrefix(key[len(table):], ".")
	if table == "" {
		v.at(key, "missing required key")
		return
	}
	v.at(table, "missing required key %q", leaf)
}

// written reports whether the value at key came from the file or from an
// override, as opposed to being absent.
func (v *validator) written(key string) bool { return v.c.written(key) }

// written is validator.written for the defaults, which run before there
// is a validator.
func (c *Config) written(key string) bool {
	if _, ok := c.overriddenBy(key); ok {
		return true
	}
	return c.ix.has(key)
}

// required reports an empty value: as missing if the key is absent, as
// empty if it is there but blank.
func (v *validator) required(key, value string) bool {
	if strings.TrimSpace(value) != "" {
		return true
	}
	if v.written(key) {
		v.at(key, "must not be empty")
	} else {
		v.missing(key)
	}
	return false
}

func (v *validator) oneOf(key, what, value string, set []string) {
	if !slices.Contains(set, value) {
		v.at(key, "unknown %s %q (want %s)", what, value, orList(set))
	}
}

func (v *validator) log() {
	v.oneOf("log.level", "level", v.c.Log.Level, logLevels)
	v.oneOf("log.format", "format", v.c.Log.Format, logFormats)
}

func (v *validator) sip() {
	s := &v.c.SIP
	if v.required("sip.domain", s.Domain) && !validHost(s.Domain) {
		v.at("sip.domain", "%q is neither a host name nor an IP address", s.Domain)
	}
	v.listeners()
	if s.Advertise != "" && !validHost(s.Advertise) {
		v.at("sip.advertise", "%q is neither a host name nor an IP address (no port or scheme)", s.Advertise)
	}
	v.trusted()

	if s.Realm == "" && !v.written("sip.realm") {
		// Derived rather than defaulted once in Decode, so a Config built
		// in code gets it too.
		s.Realm = s.Domain
	} else {
		v.required("sip.realm", s.Realm)
	}

	if s.MinExpires < 1 {
		v.at("sip.min_expires", "must be at least 1 second (got %d)", s.MinExpires)
	}
	if s.MaxExpires < s.MinExpires {
		v.at("sip.max_expires", "must be at least min_expires (%d), got %d", s.MinExpires, s.MaxExpires)
	}
	if s.DefaultExpires < s.MinExpires || s.DefaultExpires > s.MaxExpires {
		v.at("sip.default_expires", "must be between min_expires (%d) and max_expires (%d), got %d", s.MinExpires, s.MaxExpires, s.DefaultExpires)
	}
	if len(s.DigestAlgorithms) == 0 && v.written("sip.digest_algorithms") {
		v.at("sip.digest_algorithms", "must name at least one of MD5, SHA-256")
	}
	seenAlg := map[string]bool{}
	for i, a := range s.DigestAlgorithms {
		key := fmt.Sprintf("sip.digest_algorithms[%d]", i)
		switch {
		case a != "MD5" && a != "SHA-256":
			v.at(key, "unknown digest algorithm %q (use \"MD5\" or \"SHA-256\")", a)
		case seenAlg[a]:
			v.at(key, "%q is listed twice", a)
		}
		seenAlg[a] = true
	}
	if s.NotifyTimeouts < 1 {
		v.at("sip.notify_timeouts", "must be at least 1 (got %d)", s.NotifyTimeouts)
	}
	if s.ListSuffix != "" {
		if err := checkNumber("x" + s.ListSuffix); err != nil || len(s.ListSuffix) > 16 {
			v.at("sip.list_suffix", "%q must be 1-16 of 0-9 A-Z a-z . _ + - (or \"\" to turn lists off)", s.ListSuffix)
		}
	}
	switch {
	case math.IsNaN(s.Rate) || math.IsInf(s.Rate, 0):
		v.at("sip.rate", "must be a finite number (0 means unlimited)")
	case s.Rate < 0:
		v.at("sip.rate", "must not be negative (0 means unlimited), got %g", s.Rate)
	case s.Rate > 0 && s.Burst < 1:
		v.at("sip.burst", "must be at least 1 when rate is above 0 (got %d)", s.Burst)
	}
	v.devices()
}

func (v *validator) listeners() {
	s := &v.c.SIP
	v.c.listeners = nil
	if len(s.Listen) == 0 {
		v.at("sip.listen", "at least one listener is required")
		return
	}
	seen := map[string]int{}       // canonical form -> index
	streamAddr := map[string]int{} // host:port of TCP-based listeners -> index
	var tlsAt []int
	for i, raw := range s.Listen {
		key := "sip.listen[" + strconv.Itoa(i) + "]"
		l, err := ParseListen(raw)
		if err != nil {
			v.at(key, "%v", err)
			continue
		}
		if j, dup := seen[l.String()]; dup {
			v.at(key, "%q is listed twice (also sip.listen[%d])", raw, j)
			continue
		}
		seen[l.String()] = i
		if l.stream() && l.Port != 0 {
			addr := strings.ToLower(l.Host) + "|" + strconv.Itoa(l.Port)
			if j, clash := streamAddr[addr]; clash {
				v.at(key, "%q and sip.listen[%d] (%q) would both listen on TCP port %d", raw, j, s.Listen[j], l.Port)
				continue
			}
			streamAddr[addr] = i
		}
		if l.Transport == "tls" || l.Transport == "wss" {
			tlsAt = append(tlsAt, i)
		}
		v.c.listeners = append(v.c.listeners, l)
	}
	if len(tlsAt) > 0 {
		why := fmt.Sprintf("needed by sip.listen[%d] %q", tlsAt[0], s.Listen[tlsAt[0]])
		v.tlsFile("sip.tls_cert", s.TLSCert, why)
		v.tlsFile("sip.tls_key", s.TLSKey, why)
	}
}

func (v *validator) tlsFile(key, path, why string) {
	if path == "" {
		if v.written(key) {
			v.at(key, "must not be empty (%s)", why)
		} else {
			v.at(parent(key), "missing required key %q (%s)", strings.TrimPrefix(key, "sip."), why)
		}
		return
	}
	// Open rather than stat: a key file the gateway's user may not read
	// is the usual reason TLS fails at start-up.
	f, err := os.Open(path)
	if err != nil {
		v.at(key, "%v", err)
		return
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		v.at(key, "%q is a directory", path)
	}
}

func (v *validator) trusted() {
	v.c.trusted = nil
	for i, raw := range v.c.SIP.Trusted {
		p, err := parseTrusted(raw)
		if err != nil {
			v.at("sip.trusted["+strconv.Itoa(i)+"]", "%v", err)
			continue
		}
		v.c.trusted = append(v.c.trusted, p)
	}
}

// parseTrusted reads a CIDR or a bare address; host bits in a CIDR are
// dropped rather than refused, as most network tools do.
func parseTrusted(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR such as 192.0.2.0/24", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is neither an IP address nor a CIDR", s)
	}
	a = a.WithZone("")
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (v *validator) devices() {
	seen := map[string]int{}
	for i, d := range v.c.SIP.Devices {
		key := "sip.devices[" + strconv.Itoa(i) + "]"
		if v.required(key+".user_agent", d.UserAgent) {
			ua := strings.ToLower(d.UserAgent)
			if j, dup := seen[ua]; dup {
				v.at(key+".user_agent", "%q is listed twice (also sip.devices[%d])", d.UserAgent, j)
			} else {
				seen[ua] = i
			}
		}
		v.oneOf(key+".idle", "idle profile", d.Idle, idles)
	}
}

func (v *validator) http() {
	if !v.required("http.listen", v.c.HTTP.Listen) {
		return
	}
	if _, _, err := splitHostPort(v.c.HTTP.Listen); err != nil {
		v.at("http.listen", "%q: %v", v.c.HTTP.Listen, err)
	}
}

func (v *validator) store() {
	v.required("store.path", v.c.Store.Path)
}

// proxy checks [proxy]. Every key is checked whatever the mode, so that
// switching to edge-proxy later brings up no old mistake.
func (v *validator) proxy() {
	p := &v.c.Proxy
	// Derived here as well as defaulted in Decode, like [presence], so a
	// Config built in code need not spell them out. Only values that may
	// not be zero or empty are derived: a zero keepalive is "off".
	if p.Mode == "" && !v.written("proxy.mode") {
		p.Mode = DefaultProxyMode
	}
	if p.PickupPrefix == "" && !v.written("proxy.pickup_prefix") {
		p.PickupPrefix = DefaultPickupPrefix
	}
	for _, d := range []struct {
		key   string
		field *int
		def   int
	}{
		{"proxy.min_register", &p.MinRegister, DefaultMinRegister},
		{"proxy.max_register", &p.MaxRegister, DefaultMaxRegister},
		{"proxy.default_register", &p.DefaultRegister, DefaultRegister},
		{"proxy.max_bindings", &p.MaxBindings, DefaultMaxBindings},
		{"proxy.max_call", &p.MaxCall, DefaultMaxCall},
	} {
		if *d.field == 0 && !v.written(d.key) {
			*d.field = d.def
		}
	}

	if !slices.Contains(proxyModes, p.Mode) {
		if s := suggest(p.Mode, proxyModes); s != "" {
			v.at("proxy.mode", "unknown mode %q (did you mean %q?)", p.Mode, s)
		} else {
			v.oneOf("proxy.mode", "mode", p.Mode, proxyModes)
		}
	}

	if p.Upstream != "" {
		if _, err := parseUpstream(p.Upstream); err != nil {
			v.at("proxy.upstream", "%v", err)
		}
	} else if p.UnknownToUpstream && p.Mode != ModePresence {
		// A presence server routes no calls. An unknown mode may be a
		// misspelt edge-proxy: reporting this too lets the admin fix both
		// in one round.
		dflt := ""
		// Only a file has defaults; a Config built in code set true itself.
		if v.c.ix != nil && !v.written("proxy.unknown_to_upstream") {
			dflt = " (the default)"
		}
		v.at("proxy.unknown_to_upstream", "true%s needs proxy.upstream: set upstream to the PBX, or unknown_to_upstream = false for a standalone office", dflt)
	}

	if p.MinRegister < 1 {
		v.at("proxy.min_register", "must be at least 1 second (got %d)", p.MinRegister)
	}
	switch {
	case p.MaxRegister < p.MinRegister:
		v.at("proxy.max_register", "must be at least min_register (%d), got %d", p.MinRegister, p.MaxRegister)
	case p.MaxRegister > maxRegisterCeiling:
		v.at("proxy.max_register", "must be at most %d seconds (a day), got %d", maxRegisterCeiling, p.MaxRegister)
	}
	if p.DefaultRegister < p.MinRegister || p.DefaultRegister > p.MaxRegister {
		v.at("proxy.default_register", "must be between min_register (%d) and max_register (%d), got %d", p.MinRegister, p.MaxRegister, p.DefaultRegister)
	}
	if p.MaxBindings < 1 || p.MaxBindings > maxBindingsCeiling {
		v.at("proxy.max_bindings", "must be between 1 and %d, got %d", maxBindingsCeiling, p.MaxBindings)
	}
	if p.MaxCall < minMaxCall || p.MaxCall > maxMaxCall {
		v.at("proxy.max_call", "must be between %d and %d seconds (a week), got %d", minMaxCall, maxMaxCall, p.MaxCall)
	}
	if p.Keepalive != 0 && (p.Keepalive < minKeepalive || p.Keepalive > maxKeepalive) {
		v.at("proxy.keepalive", "must be 0 (off) or between %d and %d seconds, got %d", minKeepalive, maxKeepalive, p.Keepalive)
	}
	if err := checkPickupPrefix(p.PickupPrefix); err != nil {
		v.at("proxy.pickup_prefix", "%v", err)
	}
}

// checkPickupPrefix allows only the keys of a phone's dial pad.
func checkPickupPrefix(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r == '*' || r == '#') {
			return fmt.Errorf("%q contains %q: use only * # 0-9", s, r)
		}
	}
	if len(s) > maxPickupPrefix {
		return fmt.Errorf("%q is longer than %d characters", s, maxPickupPrefix)
	}
	return nil
}

// departments checks the departments and returns their names, exactly as
// written, for the extensions to refer to.
func (v *validator) departments() map[string]bool {
	names := map[string]bool{}
	seen := map[string]int{} // lower-case name -> index
	for i, d := range v.c.Departments {
		key := "departments[" + strconv.Itoa(i) + "]"
		if !v.required(key+".name", d.Name) {
			continue
		}
		lower := strings.ToLower(d.Name)
		if j, dup := seen[lower]; dup {
			v.at(key+".name", "duplicate department %q (departments[%d] is %q)", d.Name, j, v.c.Departments[j].Name)
			continue
		}
		seen[lower] = i
		names[d.Name] = true
	}
	return names
}

// extensions checks each extension on its own and returns every number
// written, valid or not, for references to extensions: a reference to a
// malformed number is already reported at the number.
func (v *validator) extensions(depts map[string]bool) map[string]bool {
	numbers := map[string]bool{}
	if len(v.c.Extensions) == 0 {
		v.at("extensions", "at least one [[extensions]] entry is required")
		return numbers
	}
	seen := map[string]int{}
	for i := range v.c.Extensions {
		e := &v.c.Extensions[i]
		key := "extensions[" + strconv.Itoa(i) + "]"
		if v.required(key+".number", e.Number) {
			if err := checkNumber(e.Number); err != nil {
				v.at(key+".number", "%v", err)
			} else if j, dup := seen[e.Number]; dup {
				v.at(key+".number", "duplicate number %q (also extensions[%d])", e.Number, j)
			} else {
				seen[e.Number] = i
			}
		}
		if e.Number != "" {
			numbers[e.Number] = true
		}
		v.required(key+".name", e.Name)
		if e.Department != "" {
			v.department(key+".department", e.Department, depts)
		}
		v.oneOf(key+".role", "role", e.Role, roles)
		v.secret(secretRef{key, "password", &e.Password, e.PasswordFile, e.PasswordEnv, &e.resolved}, true, false)
		v.oneOf(key+".idle", "idle profile", e.Idle, idles)
	}
	if sfx := v.c.SIP.ListSuffix; sfx != "" {
		for i, e := range v.c.Extensions {
			if owner, ok := strings.CutSuffix(e.Number, sfx); ok && numbers[owner] {
				v.at("extensions["+strconv.Itoa(i)+"].number", "%q is also the name of %s's BLF list (sip.list_suffix %q): rename one", e.Number, owner, sfx)
			}
		}
	}
	return numbers
}

// department reports a name that is not a [[departments]] entry, with the
// entry meant when it looks like a typo.
func (v *validator) department(key, name string, depts map[string]bool) {
	if depts[name] {
		return
	}
	msg := fmt.Sprintf("unknown department %q", name)
	if s := suggest(name, slices.Sorted(maps.Keys(depts))); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	v.at(key, "%s", msg)
}

// extension reports a reference to an extension the file does not define.
// No "did you mean": numbers are dense, so the nearest one is rarely the
// one meant.
func (v *validator) extension(key, number string, numbers map[string]bool) {
	if !numbers[number] {
		v.at(key, "unknown extension %q", number)
	}
}

// presence checks [presence] and each extension's UserFields. It runs
// after all extensions are read, since these refer to any of them.
func (v *validator) presence(depts, numbers map[string]bool) {
	p := &v.c.Presence
	// Derived here as well as defaulted in Decode, like the realm, so a
	// Config built in code need not spell them out.
	if p.Blocked == "" && !v.written("presence.blocked") {
		p.Blocked = DefaultBlocked
	}
	if p.AwayLamp == "" && !v.written("presence.away_lamp") {
		p.AwayLamp = DefaultAwayLamp
	}
	v.oneOf("presence.blocked", "mode", p.Blocked, blockModes)
	v.oneOf("presence.away_lamp", "lamp", p.AwayLamp, awayLamps)
	v.shareWith("presence.share_with_default", &p.ShareWithDefault, depts, numbers)

	for i := range v.c.Extensions {
		v.userFields("extensions["+strconv.Itoa(i)+"]", &v.c.Extensions[i], depts, numbers)
	}
}

func (v *validator) userFields(key string, e *Extension, depts, numbers map[string]bool) {
	if e.ShareWith != nil {
		v.shareWith(key+".share_with", e.ShareWith, depts, numbers)
	}
	v.list(key+".delegates", e.Delegates, func(k, d string) {
		if d == e.Number {
			v.at(k, "%s cannot be its own delegate", d)
			return
		}
		v.extension(k, d, numbers)
	})
	if len(e.Delegates) > 0 {
		// The gateway suspends delegates while presence is not shared, so
		// these would never take effect.
		const msg = "delegates need share_presence = true: delegates are suspended while presence is not shared"
		switch {
		case e.SharePresence != nil && !*e.SharePresence:
			v.at(key+".delegates", msg)
		case e.SharePresence == nil && !v.c.Presence.ShareByDefault:
			v.at(key+".delegates", msg+" (share_presence is not set and presence.share_by_default is false)")
		}
	}
	v.list(key+".appearance", e.Appearance, func(k, n string) { v.extension(k, n, numbers) })
	if e.Status != nil {
		v.oneOf(key+".status", "status", *e.Status, statuses)
	}
	if e.StatusMessage != nil {
		if err := CheckStatusMessage(*e.StatusMessage); err != nil {
			v.at(key+".status_message", "%v", err)
		}
	}
	v.list(key+".locked", e.Locked, func(k, f string) { v.oneOf(k, "field", f, UserFields) })
}

func (v *validator) shareWith(key string, s *ShareWith, depts, numbers map[string]bool) {
	v.list(key+".roles", s.Roles, func(k, r string) { v.oneOf(k, "role", r, roles) })
	v.list(key+".departments", s.Departments, func(k, d string) { v.department(k, d, depts) })
	v.list(key+".extensions", s.Extensions, func(k, n string) { v.extension(k, n, numbers) })
}

// list reports entries of the array at key that repeat an earlier one and
// hands each first occurrence, with its key, to check.
func (v *validator) list(key string, items []string, check func(key, item string)) {
	seen := map[string]int{}
	for i, item := range items {
		k := key + "[" + strconv.Itoa(i) + "]"
		if j, dup := seen[item]; dup {
			v.at(k, "%q is listed twice (also %s[%d])", item, key, j)
			continue
		}
		seen[item] = i
		check(k, item)
	}
}

// CheckStatusMessage applies the status_message rules, so that the API
// refuses exactly what the file would. The error does not name the field;
// the caller prefixes it.
func CheckStatusMessage(msg string) error { return checkText(msg, MaxStatusMessage) }

// checkText allows valid UTF-8 of at most limit characters (runes) and no
// control characters.
func checkText(msg string, limit int) error {
	if !utf8.ValidString(msg) {
		return errors.New("must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(msg); n > limit {
		return fmt.Errorf("must be at most %d characters (got %d)", limit, n)
	}
	for _, r := range msg {
		if unicode.IsControl(r) {
			return fmt.Errorf("must not contain control characters (found %q)", r)
		}
	}
	return nil
}

// secretRef is a secret that may be written inline or come from a file or
// an environment variable, each under its own key.
type secretRef struct {
	key       string  // the table holding the keys: "extensions[0]", "teams", "genesys"
	name      string  // the inline key; the others are name+"_file" and name+"_env"
	value     *string // the inline value, and where a resolved one goes
	file, env string
	resolved  *bool // marks *value as filled from file or env
}

// secret enforces a single source. With resolve it reads a file or
// environment source into *value (again on every call, so a reload picks
// up a rotated secret); with required a missing secret is a problem.
// Messages name the file or variable, never its content.
func (v *validator) secret(s secretRef, resolve, required bool) {
	var sources []string
	if *s.value != "" && !*s.resolved {
		sources = append(sources, s.name)
	}
	if s.file != "" {
		sources = append(sources, s.name+"_file")
	}
	if s.env != "" {
		sources = append(sources, s.name+"_env")
	}
	if len(sources) > 1 {
		v.at(s.key, "give at most one of %s, %s_file and %s_env (found %s)", s.name, s.name, s.name, strings.Join(sources, " and "))
		return
	}
	var secret string
	switch {
	case !resolve || len(sources) == 0:
		if *s.resolved {
			// The source was removed, or is not used any more, since the
			// last Validate: forget what it gave rather than keep a
			// secret nobody configures.
			*s.value, *s.resolved = "", false
		}
		if required && len(sources) == 0 {
			v.missingSecret(s)
		}
		return
	case s.file != "":
		key := s.key + "." + s.name + "_file"
		b, err := os.ReadFile(s.file)
		if err != nil {
			v.at(key, "%v", err)
			return
		}
		if secret = strings.TrimRight(string(b), "\r\n"); secret == "" {
			v.at(key, "%q is empty", s.file)
			return
		}
	case s.env != "":
		key := s.key + "." + s.name + "_env"
		var ok bool
		if secret, ok = os.LookupEnv(s.env); !ok {
			v.at(key, "environment variable %s is not set", s.env)
			return
		}
		if secret == "" {
			v.at(key, "environment variable %s is empty", s.env)
			return
		}
	default:
		return // inline
	}
	*s.value, *s.resolved = secret, true
}

// missingSecret reports a required secret with no source: at a source key
// written empty, else at the table.
func (v *validator) missingSecret(s secretRef) {
	for _, k := range []string{s.name, s.name + "_file", s.name + "_env"} {
		if v.written(s.key + "." + k) {
			v.at(s.key+"."+k, "must not be empty")
			return
		}
	}
	v.at(s.key, "missing required key %q (or %s_file or %s_env)", s.name, s.name, s.name)
}

// checkNumber enforces the SIP user-part subset that phones dial and that
// needs no escaping in a URI.
func checkNumber(n string) error {
	if len(n) > 32 {
		return fmt.Errorf("%q is longer than 32 characters", n)
	}
	for _, r := range n {
		if !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || strings.ContainsRune("._+-", r)) {
			return fmt.Errorf("%q contains %q: use only 0-9 A-Z a-z . _ + -", n, r)
		}
	}
	return nil
}

// place gives the file position for a problem at key, or the source of
// the override that replaced it.
func (c *Config) place(key string) Problem {
	if src, ok := c.overriddenBy(key); ok {
		return Problem{Key: key, From: src}
	}
	p := Problem{File: c.path, Key: key}
	if at, _, ok := c.ix.lookup(key); ok {
		p.Line, p.Col = at.Line, at.Col
	}
	return p
}

// overriddenBy reports whether key is, or lies under, a key passed to
// MarkOverridden.
func (c *Config) overriddenBy(key string) (string, bool) {
	for k, src := range c.overridden {
		if key == k || strings.HasPrefix(key, k+".") || strings.HasPrefix(key, k+"[") {
			return src, true
		}
	}
	return "", false
}

// orList words a set of allowed values for a message: "a, b or c".
func orList(set []string) string {
	var q []string
	for _, s := range set {
		q = append(q, strconv.Quote(s))
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}
