package pidf

import (
	"encoding/xml"

	"github.com/blfgw/blfgw/sip/internal/xmlsafe"
)

// reader is the shared hostile-input reader, with a method per PIDF element
// that Parse reads.
type reader struct{ *xmlsafe.Reader }

var (
	nameTuple   = xml.Name{Space: Namespace, Local: "tuple"}
	nameStatus  = xml.Name{Space: Namespace, Local: "status"}
	nameBasic   = xml.Name{Space: Namespace, Local: "basic"}
	nameContact = xml.Name{Space: Namespace, Local: "contact"}
	nameNote    = xml.Name{Space: Namespace, Local: "note"}
	namePerson  = xml.Name{Space: NamespaceDM, Local: "person"}
	nameDMNote  = xml.Name{Space: NamespaceDM, Local: "note"}
	nameActs    = xml.Name{Space: NamespaceRPID, Local: "activities"}
)

// Parse parses a PIDF document received from the network.
//
// It is strict about what the gateway relies on (root element and
// namespace, entity, tuple ids and basic status, limits) and lenient about
// the rest: unknown elements (timestamps, devices, other RPID elements,
// other namespaces) are skipped, and so are activities that are not RPID
// activity names. Where a document has several of an element the model
// holds one of (status, basic, contact, note, person), the first one counts;
// the activities of all <rpid:activities> of the person are collected.
// Element text is trimmed of white space. Slices are nil when empty.
//
// Every error is an *Error.
func Parse(data []byte) (*Document, error) {
	if len(data) > MaxSize {
		return nil, errorf(ErrTooLarge, "document larger than %d bytes", MaxSize)
	}
	doc, err := reader{xmlsafe.NewReader(data, MaxDepth, ErrDTD)}.parse()
	if e, ok := err.(*xmlsafe.Error); ok {
		// The shared reader's error, cleaned and given this package's type.
		return nil, errorf(e.Err, "%s", e.Reason)
	}
	return doc, err
}

// parse reads the <presence> document. Errors of the shared reader come
// back as *xmlsafe.Error for Parse to convert.
func (r reader) parse() (*Document, error) {
	se, err := r.Root(Namespace, "presence")
	if err != nil {
		return nil, err
	}
	doc := &Document{}
	doc.Entity, _ = xmlsafe.Attr(se, "entity")
	if doc.Entity == "" {
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
		switch {
		case se.Name == nameTuple:
			if len(doc.Tuples) == MaxTuples {
				return nil, errorf(nil, "more than %d tuples", MaxTuples)
			}
			tu, err := r.tuple(se, len(doc.Tuples)+1)
			if err != nil {
				return nil, err
			}
			doc.Tuples = append(doc.Tuples, tu)
		case se.Name == namePerson && doc.Person == nil:
			p, err := r.person(se)
			if err != nil {
				return nil, err
			}
			doc.Person = p
		default:
			if err := r.Skip(); err != nil {
				return nil, err
			}
		}
	}
	if err := r.End(); err != nil {
		return nil, err
	}
	return doc, nil
}

// tuple parses the <tuple> whose start tag se was just read; num is its
// 1-based position, for error messages.
func (r reader) tuple(se xml.StartElement, num int) (Tuple, error) {
	var tu Tuple
	tu.ID, _ = xmlsafe.Attr(se, "id")
	if tu.ID == "" {
		return tu, errorf(nil, "tuple %d has no id", num)
	}
	var haveStatus, haveContact, haveNote bool
	for {
		se, ok, err := r.Child()
		if err != nil {
			return tu, err
		}
		if !ok {
			break
		}
		switch {
		case se.Name == nameStatus && !haveStatus:
			haveStatus = true
			if tu.Basic, err = r.status(); err != nil {
				return tu, err
			}
		case se.Name == nameContact && !haveContact:
			haveContact = true
			if tu.Contact, err = r.Text(); err != nil {
				return tu, err
			}
		case se.Name == nameNote && !haveNote:
			haveNote = true
			if tu.Note, err = r.Text(); err != nil {
				return tu, err
			}
		default:
			if err := r.Skip(); err != nil {
				return tu, err
			}
		}
	}
	switch tu.Basic {
	case "open", "closed":
		return tu, nil
	case "":
		return tu, errorf(nil, "tuple %d has no basic status", num)
	}
	return tu, errorf(nil, "tuple %d basic status is not open or closed", num)
}

// status returns the text of the first <basic> in a <status>, "" if none.
func (r reader) status() (string, error) {
	var basic string
	have := false
	for {
		se, ok, err := r.Child()
		if err != nil {
			return "", err
		}
		if !ok {
			return basic, nil
		}
		if se.Name == nameBasic && !have {
			have = true
			if basic, err = r.Text(); err != nil {
				return "", err
			}
			if basic == "" {
				// Present but empty is a bad value, not a missing one.
				basic = " "
			}
			continue
		}
		if err := r.Skip(); err != nil {
			return "", err
		}
	}
}

// person parses the <dm:person> whose start tag se was just read.
func (r reader) person(se xml.StartElement) (*Person, error) {
	p := &Person{}
	p.ID, _ = xmlsafe.Attr(se, "id")
	if p.ID == "" {
		return nil, errorf(nil, "person has no id")
	}
	haveNote := false
	for {
		se, ok, err := r.Child()
		if err != nil {
			return nil, err
		}
		if !ok {
			return p, nil
		}
		switch {
		case se.Name == nameActs:
			if err := r.activities(p); err != nil {
				return nil, err
			}
		case se.Name == nameDMNote && !haveNote:
			haveNote = true
			if p.Note, err = r.Text(); err != nil {
				return nil, err
			}
		default:
			if err := r.Skip(); err != nil {
				return nil, err
			}
		}
	}
}

// activities collects the RPID activity names in an <rpid:activities>.
func (r reader) activities(p *Person) error {
	for {
		se, ok, err := r.Child()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		if se.Name.Space == NamespaceRPID && activities[se.Name.Local] {
			if len(p.Activities) == MaxActivities {
				return errorf(nil, "more than %d activities", MaxActivities)
			}
			p.Activities = append(p.Activities, se.Name.Local)
		}
		if err := r.Skip(); err != nil {
			return err
		}
	}
}
