package configs

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// upstreamURI is a parsed proxy.upstream. The gateway's SIP stack parses
// the URI again with its own parser (this package imports none); this one
// only catches what would fail there, or send calls somewhere unintended,
// while the admin is still looking at the file.
type upstreamURI struct {
	Scheme    string // "sip" or "sips", lower case
	Host      string // host name or IP address; an IPv6 address without its brackets
	Port      int    // 0 = not given (the scheme's default port)
	Transport string // "", "udp", "tcp" or "tls", lower case
}

var upstreamTransports = []string{"udp", "tcp", "tls"}

// parseUpstream reads the subset of a SIP URI (RFC 3261 section 19.1) that
// names a next hop: sip: or sips:, a host, an optional port and an optional
// transport parameter. Scheme, parameter name and transport are matched
// without regard to case, as the RFC says. A user part, other parameters
// and headers are refused: the upstream is a host, not an address of
// record.
func parseUpstream(s string) (upstreamURI, error) {
	scheme, rest, ok := strings.Cut(s, ":")
	scheme = strings.ToLower(scheme)
	if !ok || scheme != "sip" && scheme != "sips" {
		return upstreamURI{}, fmt.Errorf("%q is not a SIP URI such as \"sip:pbx.example.com:5060\"", s)
	}
	if strings.HasPrefix(rest, "//") {
		return upstreamURI{}, fmt.Errorf("%q: write %s:host, without \"//\"", s, scheme)
	}
	if strings.Contains(rest, "@") {
		return upstreamURI{}, fmt.Errorf("%q names a user: give only the PBX's host, port and transport", s)
	}
	u := upstreamURI{Scheme: scheme}
	hostport, params, hasParams := strings.Cut(rest, ";")

	var portStr string
	var hasPort bool
	if strings.HasPrefix(hostport, "[") {
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return upstreamURI{}, fmt.Errorf("%q: %q lacks its closing \"]\"", s, hostport)
		}
		u.Host = hostport[1:end]
		after := hostport[end+1:]
		if after != "" {
			if after[0] != ':' {
				return upstreamURI{}, fmt.Errorf("%q: %q after the host is not :port", s, after)
			}
			portStr, hasPort = after[1:], true
		}
		if a, err := netip.ParseAddr(u.Host); err != nil || !a.Is6() || a.Zone() != "" {
			return upstreamURI{}, fmt.Errorf("%q: host %q is not an IPv6 address", s, hostport[:end+1])
		}
	} else {
		if strings.Count(hostport, ":") > 1 {
			return upstreamURI{}, fmt.Errorf("%q: put an IPv6 address in brackets, as in \"sip:[2001:db8::1]:5060\"", s)
		}
		u.Host, portStr, hasPort = strings.Cut(hostport, ":")
		if u.Host == "" {
			return upstreamURI{}, fmt.Errorf("%q has no host", s)
		}
		if !validHost(u.Host) {
			return upstreamURI{}, fmt.Errorf("%q: host %q is neither an IP address nor a host name", s, u.Host)
		}
	}
	if hasPort {
		port, err := strconv.Atoi(portStr)
		// Atoi takes a sign, which a URI port may not have.
		if err != nil || strings.ContainsAny(portStr, "+-") || port < 1 || port > 65535 {
			return upstreamURI{}, fmt.Errorf("%q: port %q is not a number from 1 to 65535", s, portStr)
		}
		u.Port = port
	}

	if hasParams {
		for _, p := range strings.Split(params, ";") {
			name, value, _ := strings.Cut(p, "=")
			switch {
			case p == "":
				return upstreamURI{}, fmt.Errorf("%q has an empty parameter", s)
			case !strings.EqualFold(name, "transport"):
				return upstreamURI{}, fmt.Errorf("%q: unknown parameter %q (only transport is allowed)", s, name)
			case u.Transport != "":
				return upstreamURI{}, fmt.Errorf("%q gives transport twice", s)
			}
			value = strings.ToLower(value)
			if !slices.Contains(upstreamTransports, value) {
				return upstreamURI{}, fmt.Errorf("%q: unknown transport %q (want %s)", s, value, orList(upstreamTransports))
			}
			u.Transport = value
		}
	}
	if u.Scheme == "sips" && u.Transport == "udp" {
		// RFC 3261 section 26.2.2: sips means TLS on every hop.
		return upstreamURI{}, fmt.Errorf("%q: sips needs TLS, which does not run over UDP", s)
	}
	return u, nil
}
