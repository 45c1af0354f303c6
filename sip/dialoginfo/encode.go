package dialoginfo

import (
	"strconv"

	"github.com/blfgw/blfgw/sip/internal/xmlsafe"
)

// Template is an encoded document whose version attribute is left open, so one
// state change is encoded once and sent to many subscriptions, each with its
// own version number. A Template is immutable and safe for concurrent use.
// The zero Template appends only the version digits.
type Template struct {
	buf   []byte // the document without the version digits
	split int    // where the version digits go
}

const header = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
	`<dialog-info xmlns="` + Namespace + `" version="`

// NewTemplate encodes everything in info except the version. The caller is
// responsible for info being valid (see Info.Validate); NewTemplate never
// fails, it writes what it is given, minus characters XML cannot carry.
// A nil info encodes as the zero Info.
func NewTemplate(info *Info) Template {
	if info == nil {
		info = &Info{}
	}
	buf := make([]byte, 0, sizeHint(info))
	buf = append(buf, header...)
	split := len(buf)
	buf = appendBody(buf, info)
	return Template{buf: buf, split: split}
}

// Append appends the full document with the given version to dst.
func (t Template) Append(dst []byte, version uint32) []byte {
	dst = append(dst, t.buf[:t.split]...)
	dst = strconv.AppendUint(dst, uint64(version), 10)
	return append(dst, t.buf[t.split:]...)
}

// Len is the length of the document without the version digits, so
// Len()+10 bytes always hold Append's output.
func (t Template) Len() int { return len(t.buf) }

// Encode returns the document for info, with info.Version.
func Encode(info *Info) []byte {
	if info == nil {
		info = &Info{}
	}
	// One allocation: build in place rather than through a Template.
	buf := make([]byte, 0, sizeHint(info)+10)
	buf = append(buf, header...)
	buf = strconv.AppendUint(buf, uint64(info.Version), 10)
	return appendBody(buf, info)
}

// sizeHint estimates the encoded size so that encoding usually allocates
// once; escaping can still make the buffer grow.
func sizeHint(info *Info) int {
	n := len(header) + 64 + len(info.Entity)
	for i := range info.Dialogs {
		d := &info.Dialogs[i]
		n += 160 + len(d.ID) + len(d.CallID) + len(d.LocalTag) + len(d.RemoteTag) + len(d.Event)
		n += participantHint(d.Local) + participantHint(d.Remote)
	}
	return n
}

func participantHint(p *Participant) int {
	if p == nil {
		return 0
	}
	n := 80 + len(p.Identity) + len(p.IdentityDisplay) + len(p.Target)
	for _, q := range p.TargetParams {
		n += 32 + len(q.Name) + len(q.Value)
	}
	return n
}

// appendBody appends everything after the version digits.
func appendBody(b []byte, info *Info) []byte {
	b = append(b, `" state="`...)
	b = xmlsafe.AppendAttr(b, info.State)
	b = append(b, `" entity="`...)
	b = xmlsafe.AppendAttr(b, info.Entity)
	b = append(b, "\">\n"...)
	for i := range info.Dialogs {
		b = appendDialog(b, &info.Dialogs[i])
	}
	return append(b, "</dialog-info>\n"...)
}

func appendAttr(b []byte, name, value string) []byte {
	b = append(b, ' ')
	b = append(b, name...)
	b = append(b, `="`...)
	b = xmlsafe.AppendAttr(b, value)
	return append(b, '"')
}

func appendOptAttr(b []byte, name, value string) []byte {
	if value == "" {
		return b
	}
	return appendAttr(b, name, value)
}

func appendDialog(b []byte, d *Dialog) []byte {
	b = append(b, "<dialog"...)
	b = appendAttr(b, "id", d.ID)
	b = appendOptAttr(b, "call-id", d.CallID)
	b = appendOptAttr(b, "local-tag", d.LocalTag)
	b = appendOptAttr(b, "remote-tag", d.RemoteTag)
	b = appendOptAttr(b, "direction", d.Direction)
	b = append(b, ">\n<state"...)
	b = appendOptAttr(b, "event", d.Event)
	if d.Code != 0 {
		b = append(b, ` code="`...)
		b = strconv.AppendInt(b, int64(d.Code), 10)
		b = append(b, '"')
	}
	b = append(b, '>')
	b = xmlsafe.AppendText(b, d.State)
	b = append(b, "</state>\n"...)
	if d.Duration != nil {
		b = append(b, "<duration>"...)
		b = strconv.AppendInt(b, int64(*d.Duration), 10)
		b = append(b, "</duration>\n"...)
	}
	b = appendParticipant(b, "local", d.Local)
	b = appendParticipant(b, "remote", d.Remote)
	return append(b, "</dialog>\n"...)
}

func appendParticipant(b []byte, name string, p *Participant) []byte {
	if p == nil {
		return b
	}
	b = append(b, '<')
	b = append(b, name...)
	if p.Identity == "" && p.Target == "" {
		return append(b, "/>\n"...)
	}
	b = append(b, '>')
	if p.Identity != "" {
		b = append(b, "<identity"...)
		b = appendOptAttr(b, "display", p.IdentityDisplay)
		b = append(b, '>')
		b = xmlsafe.AppendText(b, p.Identity)
		b = append(b, "</identity>"...)
	}
	if p.Target != "" {
		b = append(b, "<target"...)
		b = appendAttr(b, "uri", p.Target)
		if len(p.TargetParams) == 0 {
			b = append(b, "/>"...)
		} else {
			b = append(b, '>')
			for _, q := range p.TargetParams {
				b = append(b, "<param"...)
				b = appendAttr(b, "pname", q.Name)
				b = appendAttr(b, "pvalue", q.Value)
				b = append(b, "/>"...)
			}
			b = append(b, "</target>"...)
		}
	}
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, ">\n"...)
}
