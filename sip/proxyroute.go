package sip

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/netip"
	"strconv"
	"strings"

	gosip "github.com/emiago/sipgo/sip"
)

// target is one place the proxy sends a request to (RFC 3261 16.5).
type target struct {
	uri       gosip.Uri // the new Request-URI
	route     []string  // Route values to put first (a binding's Path)
	dest      string    // host:port the request goes to
	transport string    // UDP, TCP, TLS, WS or WSS
	callee    string    // the local extension reached; "" for the upstream
	device    string    // the binding's contact, for forks to several devices
}

// splitList splits a header value at the commas between its entries,
// leaving commas inside <...> and quotes alone.
func splitList(v string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '"' && (i == 0 || v[i-1] != '\\'):
			quoted = !quoted
		case quoted:
		case c == '<':
			depth++
		case c == '>':
			depth--
		case c == ',' && depth == 0:
			if s := strings.TrimSpace(v[start:i]); s != "" {
				out = append(out, s)
			}
			start = i + 1
		}
	}
	if s := strings.TrimSpace(v[start:]); s != "" {
		out = append(out, s)
	}
	return out
}

// values returns every entry of a possibly repeated, comma-separated header.
func values(m interface{ GetHeaders(string) []gosip.Header }, name string) []string {
	var out []string
	for _, h := range m.GetHeaders(name) {
		out = append(out, splitList(h.Value())...)
	}
	return out
}

// uriOf parses the URI of a name-addr ("<sip:...>;params") or a bare URI.
func uriOf(v string) (gosip.Uri, bool) {
	if i, j := strings.IndexByte(v, '<'), strings.IndexByte(v, '>'); i >= 0 && j > i {
		v = v[i+1 : j]
	}
	var u gosip.Uri
	if err := gosip.ParseUri(strings.TrimSpace(v), &u); err != nil {
		return gosip.Uri{}, false
	}
	return u, true
}

// setRoutes replaces the request's Route header with the given entries.
func setRoutes(req *gosip.Request, routes []string) {
	for req.RemoveHeader("Route") {
	}
	for _, r := range routes {
		req.AppendHeader(gosip.NewHeader("Route", r))
	}
}

// uriTransport is the transport a URI asks for, upper case.
func uriTransport(u gosip.Uri, dflt string) string {
	if u.UriParams != nil {
		if v, ok := u.UriParams.Get("transport"); ok && v != "" {
			return strings.ToUpper(v)
		}
	}
	if u.IsEncrypted() {
		return "TLS"
	}
	return dflt
}

// ours reports whether a URI names this server: one of its addresses and
// listening ports.
func (s *Server) ours(u gosip.Uri) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	host := strings.Trim(u.Host, "[]")
	port := u.Port
	for _, l := range s.bound {
		h, p, err := net.SplitHostPort(l.Addr)
		if err != nil {
			continue
		}
		lp, _ := strconv.Atoi(p)
		if port != 0 && port != lp || port == 0 && lp != int(gosip.DefaultPort(strings.ToUpper(l.Transport))) {
			continue
		}
		if strings.EqualFold(host, h) || strings.EqualFold(host, s.opt.Advertise) || strings.EqualFold(host, s.opt.Domain) {
			return true
		}
		if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
			if a, err := netip.ParseAddr(host); err == nil && (a.IsLoopback() || hostAddr(a)) {
				return true
			}
		}
	}
	return false
}

// hostAddr reports whether an address belongs to one of this host's
// interfaces (for listeners on the wildcard address).
func hostAddr(a netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, x := range addrs {
		if n, ok := x.(*net.IPNet); ok {
			if b, ok := netip.AddrFromSlice(n.IP); ok && b.Unmap() == a.Unmap() {
				return true
			}
		}
	}
	return false
}

// ourDomain reports whether a Request-URI host is this server's: its
// domain or one of its addresses. Calls to an extension at our domain are
// looked up in the registrar.
func (s *Server) ourDomain(u gosip.Uri) bool {
	host := strings.Trim(u.Host, "[]")
	if strings.EqualFold(host, s.opt.Domain) || strings.EqualFold(host, s.opt.Realm) || strings.EqualFold(host, s.opt.Advertise) {
		return true
	}
	return s.ours(u)
}

// recordRoute is our Record-Route value for a transport.
func (s *Server) recordRoute(transport string) string {
	sentBy, _ := s.local(transport)
	v := "<sip:" + sentBy
	if tp := netLower(transport); tp != "udp" {
		v += ";transport=" + tp
	}
	return v + ";lr>"
}

// loopHash identifies a request for loop detection (RFC 3261 16.6 step 8
// and 16.3 step 4): the same request arriving again with the same
// Request-URI is a loop; one whose Request-URI changed is a spiral.
func loopHash(req *gosip.Request) string {
	h := sha256.New()
	h.Write([]byte(req.Recipient.String()))
	// As RFC 3261 16.6 step 8 suggests: the tags rather than the whole
	// From and To, which a PBX may rewrite on a spiral.
	for _, v := range []string{tagOf(req.From()), tagOf(req.To()), header(req, "Call-ID", "i"), header(req, "Proxy-Require", "")} {
		h.Write([]byte{0})
		h.Write([]byte(v))
	}
	if c := req.CSeq(); c != nil {
		h.Write([]byte{0})
		h.Write([]byte(strconv.FormatUint(uint64(c.SeqNo), 10)))
	}
	return hex.EncodeToString(h.Sum(nil)[:6])
}

const branchMark = "z9hG4bKbgw"

// looped reports whether the request carries one of our Via entries with
// the same loop hash: it has been here before, unchanged.
func (s *Server) looped(req *gosip.Request, hash string) bool {
	for _, v := range values(req, "Via") {
		i := strings.Index(v, "branch="+branchMark+hash)
		if i < 0 {
			continue
		}
		// sent-by is the second word: "SIP/2.0/UDP host:port;..."
		f := strings.Fields(v)
		if len(f) < 2 {
			continue
		}
		sentBy, _, _ := strings.Cut(f[1], ";")
		host, port, err := net.SplitHostPort(sentBy)
		if err != nil {
			host, port = sentBy, "5060"
		}
		p, _ := strconv.Atoi(port)
		if s.ours(gosip.Uri{Host: host, Port: p}) {
			return true
		}
	}
	return false
}

// popVia removes the top Via entry of a response (ours), keeping the
// others even if they shared its header line.
func popVia(res *gosip.Response) {
	hs := res.GetHeaders("Via")
	if len(hs) == 0 {
		return
	}
	rest := splitList(hs[0].Value())
	res.RemoveHeader("Via")
	if len(rest) > 1 {
		res.PrependHeader(gosip.NewHeader("Via", strings.Join(rest[1:], ", ")))
	}
}

// stampVia adds received and rport to the request's top Via (RFC 3261
// 18.2.1, RFC 3581), so responses find their way back through NAT.
func stampVia(req *gosip.Request) {
	via := req.Via()
	if via == nil {
		return
	}
	host, port, err := net.SplitHostPort(req.Source())
	if err != nil {
		return
	}
	if via.Params == nil {
		via.Params = gosip.NewParams()
	}
	if via.Params.Has("rport") {
		via.Params.Add("rport", port)
		via.Params.Add("received", host)
	} else if via.Host != host {
		via.Params.Add("received", host)
	}
}

// newVia is our Via for a request sent over a transport.
func (s *Server) newVia(transport, hash string) *gosip.ViaHeader {
	sentBy, _ := s.local(transport)
	host, port, err := net.SplitHostPort(sentBy)
	if err != nil {
		host = sentBy
	}
	p, _ := strconv.Atoi(port)
	v := &gosip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: transport, Host: host, Port: p, Params: gosip.NewParams()}
	v.Params.Add("branch", branchMark+hash+gosip.GenerateBranchN(10)[len(gosip.RFC3261BranchMagicCookie):])
	v.Params.Add("rport", "")
	return v
}

// flowTo chooses where to send a request for a registered contact: the
// connection or address the phone registered from when it is behind NAT
// (its Contact names another host) or asked for outbound (RFC 5626), else
// the contact itself.
func (s *Server) flowTo(b RegistrationRecord, u gosip.Uri) (dest, transport string) {
	transport = uriTransport(u, b.Transport)
	if transport == "" {
		transport = "UDP"
	}
	contact := hostPort(strings.Trim(u.Host, "[]"), u.Port, transport)
	if b.Source == "" {
		return contact, transport
	}
	outbound := u.UriParams != nil && u.UriParams.Has("ob") || strings.Contains(b.Binding, "|")
	if outbound || hostOf(b.Source) != strings.Trim(u.Host, "[]") || transport == "WS" || transport == "WSS" {
		return b.Source, b.Transport
	}
	return contact, transport
}
