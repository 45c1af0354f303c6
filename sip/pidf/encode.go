package pidf

import "github.com/blfgw/blfgw/sip/internal/xmlsafe"

const header = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
	`<presence xmlns="` + Namespace + `" xmlns:dm="` + NamespaceDM +
	`" xmlns:rpid="` + NamespaceRPID + `" entity="`

// Encode returns the document for d. The caller is responsible for d being
// valid (see Document.Validate); Encode never fails: it writes what it is
// given, minus characters XML cannot carry and activity names that are not
// RPID activities. A nil d encodes as the zero Document.
func Encode(d *Document) []byte {
	if d == nil {
		d = &Document{}
	}
	b := make([]byte, 0, sizeHint(d))
	b = append(b, header...)
	b = xmlsafe.AppendAttr(b, d.Entity)
	b = append(b, "\">\n"...)
	for i := range d.Tuples {
		b = appendTuple(b, &d.Tuples[i])
	}
	if d.Person != nil {
		b = appendPerson(b, d.Person)
	}
	return append(b, "</presence>\n"...)
}

// sizeHint estimates the encoded size so that Encode usually allocates once.
func sizeHint(d *Document) int {
	n := len(header) + 32 + len(d.Entity)
	for _, t := range d.Tuples {
		n += 100 + len(t.ID) + len(t.Contact) + len(t.Note)
	}
	if p := d.Person; p != nil {
		n += 100 + len(p.ID) + len(p.Note)
		for _, a := range p.Activities {
			n += 8 + len(a)
		}
	}
	return n
}

// appendElem appends <name>text</name>, or nothing for "".
func appendElem(b []byte, name, text string) []byte {
	if text == "" {
		return b
	}
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, '>')
	b = xmlsafe.AppendText(b, text)
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, '>')
}

func appendTuple(b []byte, t *Tuple) []byte {
	b = append(b, `<tuple id="`...)
	b = xmlsafe.AppendAttr(b, t.ID)
	b = append(b, `"><status><basic>`...)
	b = xmlsafe.AppendText(b, t.Basic)
	b = append(b, "</basic></status>"...)
	b = appendElem(b, "contact", t.Contact)
	b = appendElem(b, "note", t.Note)
	return append(b, "</tuple>\n"...)
}

func appendPerson(b []byte, p *Person) []byte {
	b = append(b, `<dm:person id="`...)
	b = xmlsafe.AppendAttr(b, p.ID)
	b = append(b, '"')
	n := 0
	for _, a := range p.Activities {
		if activities[a] {
			n++
		}
	}
	if n == 0 && p.Note == "" {
		return append(b, "/>\n"...)
	}
	b = append(b, '>')
	if n > 0 {
		// Names come from the fixed RPID list, so they need no escaping.
		b = append(b, "<rpid:activities>"...)
		for _, a := range p.Activities {
			if activities[a] {
				b = append(b, "<rpid:"...)
				b = append(b, a...)
				b = append(b, "/>"...)
			}
		}
		b = append(b, "</rpid:activities>"...)
	}
	b = appendElem(b, "dm:note", p.Note)
	return append(b, "</dm:person>\n"...)
}
