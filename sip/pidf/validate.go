package pidf

import "github.com/blfgw/blfgw/sip/internal/xmlsafe"

// Validate reports whether d is a document Parse would accept and give back
// unchanged: for a valid d, Parse(Encode(d)) equals d (with nil, not empty,
// slices). Encode does not call it; tests and state builders can.
// Its errors are *Error, worded like Parse's where the rule is the same.
func (d *Document) Validate() error {
	if d == nil {
		return errorf(nil, "nil document")
	}
	if d.Entity == "" {
		return errorf(nil, "missing entity")
	}
	if !xmlsafe.Valid(d.Entity) {
		return errorf(nil, "entity has characters XML cannot carry")
	}
	if len(d.Tuples) > MaxTuples {
		return errorf(nil, "more than %d tuples", MaxTuples)
	}
	for i, t := range d.Tuples {
		num := i + 1
		if t.ID == "" {
			return errorf(nil, "tuple %d has no id", num)
		}
		switch t.Basic {
		case "open", "closed":
		case "":
			return errorf(nil, "tuple %d has no basic status", num)
		default:
			return errorf(nil, "tuple %d basic status is not open or closed", num)
		}
		if t.Contact != xmlsafe.TrimSpace(t.Contact) || t.Note != xmlsafe.TrimSpace(t.Note) {
			return errorf(nil, "tuple %d has text with surrounding white space", num)
		}
		if !xmlsafe.Valid(t.ID) || !xmlsafe.Valid(t.Contact) || !xmlsafe.Valid(t.Note) {
			return errorf(nil, "tuple %d has characters XML cannot carry", num)
		}
	}
	p := d.Person
	if p == nil {
		return nil
	}
	if p.ID == "" {
		return errorf(nil, "person has no id")
	}
	if len(p.Activities) > MaxActivities {
		return errorf(nil, "more than %d activities", MaxActivities)
	}
	for _, a := range p.Activities {
		if !activities[a] {
			return errorf(nil, "person has unknown activity %.32q", a)
		}
	}
	if p.Note != xmlsafe.TrimSpace(p.Note) {
		return errorf(nil, "person note has surrounding white space")
	}
	if !xmlsafe.Valid(p.ID) || !xmlsafe.Valid(p.Note) {
		return errorf(nil, "person has characters XML cannot carry")
	}
	return nil
}
