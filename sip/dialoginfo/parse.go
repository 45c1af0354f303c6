package dialoginfo

import (
	"encoding/xml"
	"math"

	"github.com/blfgw/blfgw/sip/internal/xmlsafe"
)

// reader is the shared hostile-input reader, with a method per element of
// RFC 4235 that Parse reads.
type reader struct{ *xmlsafe.Reader }

// Parse parses a dialog-info document received from the network.
//
// It is strict about what the gateway relies on (root element and
// namespace, version, state, entity, dialog ids and states, limits) and
// lenient about the rest: elements and attributes it does not know, such as
// session-description, route-set or other namespaces' extensions, are
// skipped. Where RFC 4235 allows one element and a document has several
// (identity, target, duration, local, remote), the first one counts.
// Element text is trimmed of white space. Slices are nil when empty.
//
// Every error is an *Error.
func Parse(data []byte) (*Info, error) {
	if len(data) > MaxSize {
		return nil, errorf(ErrTooLarge, "document larger than %d bytes", MaxSize)
	}
	info, err := reader{xmlsafe.NewReader(data, MaxDepth, ErrDTD)}.parse()
	if e, ok := err.(*xmlsafe.Error); ok {
		// The shared reader's error, cleaned and given this package's type.
		return nil, errorf(e.Err, "%s", e.Reason)
	}
	return info, err
}

// parse reads from the root element on; its errors are *Error or
// *xmlsafe.Error, which Parse converts.
func (r reader) parse() (*Info, error) {
	se, err := r.Root(Namespace, "dialog-info")
	if err != nil {
		return nil, err
	}
	info := &Info{}
	v, ok := xmlsafe.Attr(se, "version")
	if !ok {
		return nil, errorf(nil, "missing version")
	}
	n, ok := parseUint(v, math.MaxUint32)
	if !ok {
		return nil, errorf(nil, "version is not a 32-bit unsigned integer")
	}
	info.Version = uint32(n)
	info.State, _ = xmlsafe.Attr(se, "state")
	if info.State != "full" && info.State != "partial" {
		return nil, errorf(nil, "state is not full or partial")
	}
	info.Entity, _ = xmlsafe.Attr(se, "entity")
	if info.Entity == "" {
		return nil, errorf(nil, "missing entity")
	}

	for {
		se, ok, err := r.Child()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if se.Name != (xml.Name{Space: Namespace, Local: "dialog"}) {
			if err := r.Skip(); err != nil {
				return nil, err
			}
			continue
		}
		if len(info.Dialogs) == MaxDialogs {
			return nil, errorf(nil, "more than %d dialogs", MaxDialogs)
		}
		d, err := r.dialog(se, len(info.Dialogs)+1)
		if err != nil {
			return nil, err
		}
		info.Dialogs = append(info.Dialogs, d)
	}
	if err := r.End(); err != nil {
		return nil, err
	}
	return info, nil
}

// dialog parses the <dialog> element whose start tag se was just read; num
// is its 1-based position, for error messages.
func (r reader) dialog(se xml.StartElement, num int) (Dialog, error) {
	var d Dialog
	d.ID, _ = xmlsafe.Attr(se, "id")
	if d.ID == "" {
		return d, errorf(nil, "dialog %d has no id", num)
	}
	d.CallID, _ = xmlsafe.Attr(se, "call-id")
	d.LocalTag, _ = xmlsafe.Attr(se, "local-tag")
	d.RemoteTag, _ = xmlsafe.Attr(se, "remote-tag")
	if dir, ok := xmlsafe.Attr(se, "direction"); ok {
		if dir != "initiator" && dir != "recipient" {
			return d, errorf(nil, "dialog %d direction is not initiator or recipient", num)
		}
		d.Direction = dir
	}

	states := 0
	for {
		se, ok, err := r.Child()
		if err != nil {
			return d, err
		}
		if !ok {
			break
		}
		if se.Name.Space != Namespace {
			if err := r.Skip(); err != nil {
				return d, err
			}
			continue
		}
		switch se.Name.Local {
		case "state":
			if states++; states > 1 {
				return d, errorf(nil, "dialog %d has more than one state", num)
			}
			if err := r.state(se, &d, num); err != nil {
				return d, err
			}
		case "duration":
			s, err := r.Text()
			if err != nil {
				return d, err
			}
			if d.Duration != nil {
				break
			}
			n, ok := parseUint(s, math.MaxInt32)
			if !ok {
				return d, errorf(nil, "dialog %d has bad duration", num)
			}
			v := int(n)
			d.Duration = &v
		case "local", "remote":
			p, err := r.participant(num)
			if err != nil {
				return d, err
			}
			if se.Name.Local == "local" && d.Local == nil {
				d.Local = p
			} else if se.Name.Local == "remote" && d.Remote == nil {
				d.Remote = p
			}
		default:
			if err := r.Skip(); err != nil {
				return d, err
			}
		}
	}
	if states == 0 {
		return d, errorf(nil, "dialog %d has no state", num)
	}
	return d, nil
}

func (r reader) state(se xml.StartElement, d *Dialog, num int) error {
	if ev, ok := xmlsafe.Attr(se, "event"); ok {
		if !oneOf(ev, stateEvents) {
			return errorf(nil, "dialog %d has unknown state event", num)
		}
		d.Event = ev
	}
	if c, ok := xmlsafe.Attr(se, "code"); ok {
		n, ok := parseUint(c, 699)
		if !ok || n < 100 {
			return errorf(nil, "dialog %d state code is not 100-699", num)
		}
		d.Code = int(n)
	}
	s, err := r.Text()
	if err != nil {
		return err
	}
	if !oneOf(s, dialogStates) {
		return errorf(nil, "dialog %d has unknown state", num)
	}
	d.State = s
	return nil
}

// participant parses <local> or <remote>, whose start tag was just read.
func (r reader) participant(num int) (*Participant, error) {
	p := &Participant{}
	var haveIdentity, haveTarget bool
	for {
		se, ok, err := r.Child()
		if err != nil {
			return nil, err
		}
		if !ok {
			return p, nil
		}
		switch {
		case se.Name.Space == Namespace && se.Name.Local == "identity" && !haveIdentity:
			haveIdentity = true
			id, err := r.Text()
			if err != nil {
				return nil, err
			}
			// Encode writes no identity for "", and so no display either.
			if id != "" {
				p.Identity = id
				p.IdentityDisplay, _ = xmlsafe.Attr(se, "display")
			}
		case se.Name.Space == Namespace && se.Name.Local == "target" && !haveTarget:
			haveTarget = true
			p.Target, _ = xmlsafe.Attr(se, "uri")
			if err := r.params(p, num); err != nil {
				return nil, err
			}
		default:
			if err := r.Skip(); err != nil {
				return nil, err
			}
		}
	}
}

// params reads the <param> children of a <target>. A target without a uri
// is schema-invalid; its params are dropped with it.
func (r reader) params(p *Participant, num int) error {
	for {
		se, ok, err := r.Child()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		if se.Name == (xml.Name{Space: Namespace, Local: "param"}) && p.Target != "" {
			name, _ := xmlsafe.Attr(se, "pname")
			if name != "" {
				if len(p.TargetParams) == MaxParams {
					return errorf(nil, "dialog %d has more than %d target params", num, MaxParams)
				}
				value, _ := xmlsafe.Attr(se, "pvalue")
				p.TargetParams = append(p.TargetParams, Param{name, value})
			}
		}
		if err := r.Skip(); err != nil {
			return err
		}
	}
}

// parseUint parses an unsigned decimal (XML Schema lexical space, white
// space collapsed) no larger than max.
func parseUint(s string, max uint64) (uint64, bool) {
	s = xmlsafe.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
		if v > max {
			return 0, false
		}
	}
	return v, true
}
