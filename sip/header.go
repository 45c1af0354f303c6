package sip

import (
	"strconv"
	"strings"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/blfgw/blfgw/sip/dialoginfo"
	"github.com/blfgw/blfgw/sip/pidf"
)

const (
	allowEvents = "dialog, presence"
	acceptAll   = dialoginfo.ContentType + ", " + pidf.ContentType
)

// header returns the first header of a name or its compact form; sipgo maps
// compact forms only for the headers it parses itself.
func header(m interface{ GetHeader(string) gosip.Header }, name, compact string) string {
	if h := m.GetHeader(name); h != nil {
		return strings.TrimSpace(h.Value())
	}
	if compact != "" {
		if h := m.GetHeader(compact); h != nil {
			return strings.TrimSpace(h.Value())
		}
	}
	return ""
}

// event is a parsed Event header.
type event struct {
	pkg string // "dialog" or "presence", lower case
	id  string // the id parameter, "" if none
	raw string // the header value as sent, echoed in NOTIFY
}

// own returns the event with strings of its own, the common values shared.
func (e event) own() event {
	for _, pkg := range []string{"dialog", "presence"} {
		if e.pkg == pkg {
			e.pkg = pkg
			if e.raw == pkg {
				e.raw = pkg
				return e
			}
		}
	}
	e.pkg, e.raw, e.id = strings.Clone(e.pkg), strings.Clone(e.raw), strings.Clone(e.id)
	return e
}

// transportName is the upper-case transport, as Via and our records spell it.
func transportName(tp string) string {
	for _, name := range []string{"UDP", "TCP", "TLS", "WS", "WSS"} {
		if strings.EqualFold(tp, name) {
			return name
		}
	}
	return strings.ToUpper(tp)
}

func parseEvent(v string) (event, bool) {
	if v == "" {
		return event{}, false
	}
	parts := strings.Split(v, ";")
	e := event{pkg: strings.ToLower(strings.TrimSpace(parts[0])), raw: v}
	for _, p := range parts[1:] {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(strings.TrimSpace(k), "id") {
			e.id = strings.Trim(strings.TrimSpace(val), `"`)
		}
	}
	return e, e.pkg != ""
}

// expires reads the Expires header; ok is false when it is present but not
// a number.
func expires(m interface{ GetHeader(string) gosip.Header }) (secs int64, present, ok bool) {
	v := header(m, "Expires", "")
	if v == "" {
		return 0, false, true
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0, true, false
	}
	return int64(n), true, true
}

// acceptable reports whether the Accept headers of a request allow the
// content type ct. No Accept means the package default, which is ct.
func acceptable(req *gosip.Request, ct string) bool {
	hs := req.GetHeaders("Accept")
	if len(hs) == 0 {
		return true
	}
	typ, _, _ := strings.Cut(ct, "/")
	for _, h := range hs {
		for _, item := range strings.Split(h.Value(), ",") {
			mt, _, _ := strings.Cut(item, ";")
			mt = strings.ToLower(strings.TrimSpace(mt))
			switch mt {
			case ct, "*/*", typ + "/*":
				return true
			case "":
				// "Accept:" with nothing listed (some phones): default.
				if len(hs) == 1 && strings.TrimSpace(h.Value()) == "" {
					return true
				}
			}
		}
	}
	return false
}

func netLower(tp string) string { return strings.ToLower(tp) }
