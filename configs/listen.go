package configs

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Listen is one parsed sip.listen entry.
type Listen struct {
	Transport string // udp|tcp|tls|ws|wss
	Host      string // IP or host name; "" not allowed (use 0.0.0.0)
	Port      int    // 1..65535 (0, meaning "pick a free port", is accepted for tests)
}

var transports = []string{"udp", "tcp", "tls", "ws", "wss"}

// ParseListen parses "transport:host:port", with an IPv6 host in brackets:
// "udp:127.0.0.1:5060", "tcp:[::1]:5060". The transport is matched without
// regard to case and returned in lower case.
func ParseListen(s string) (Listen, error) {
	transport, hostport, ok := strings.Cut(s, ":")
	if !ok {
		return Listen{}, fmt.Errorf("%q is not transport:host:port", s)
	}
	transport = strings.ToLower(transport)
	if !slices.Contains(transports, transport) {
		return Listen{}, fmt.Errorf("unknown transport %q in %q (want %s)", transport, s, orList(transports))
	}
	host, port, err := splitHostPort(hostport)
	if err != nil {
		return Listen{}, fmt.Errorf("%q: %w", s, err)
	}
	if host == "" {
		return Listen{}, fmt.Errorf("%q has no host (use 0.0.0.0 or [::] for all interfaces)", s)
	}
	return Listen{Transport: transport, Host: host, Port: port}, nil
}

// String gives back the form ParseListen reads.
func (l Listen) String() string {
	return l.Transport + ":" + net.JoinHostPort(l.Host, strconv.Itoa(l.Port))
}

// stream reports whether the transport runs over TCP, where two listeners
// on one address would collide.
func (l Listen) stream() bool { return l.Transport != "udp" }

// splitHostPort is net.SplitHostPort plus the checks net.Listen would only
// make at start-up: a numeric port in range and a plausible host.
func splitHostPort(hostport string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(hostport)
	if err != nil {
		// net's message repeats the input and says "address"; ours is
		// about the host:port the admin wrote.
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return "", 0, fmt.Errorf("not host:port (%s)", ae.Err)
		}
		return "", 0, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("port %q is not a number from 0 to 65535", portStr)
	}
	if host != "" && !validHost(host) {
		return "", 0, fmt.Errorf("host %q is neither an IP address nor a host name", host)
	}
	return host, port, nil
}

// validHost accepts an IP address (with an optional IPv6 zone) or a DNS
// host name; it catches typos such as a scheme or a port left in the host.
func validHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}
