package office

import (
	"encoding/xml"
	"strconv"
	"strings"
)

// contentType is what the gateway accepts in a PUBLISH (RFC 4235).
const contentType = "application/dialog-info+xml"

// party is the other end of a call as a PBX knows it.
type party struct {
	uri     string // sip:+441632960123@pbx.example.com
	display string // "Contoso Ltd"
}

// leg is one extension's side of a call: one <dialog> of its document.
type leg struct {
	who    Person
	pub    *pub
	id     string
	callID string
	local  string // the extension's tag
	remote string // the other side's tag
	dir    string // "initiator" or "recipient"
	state  string // "early", "confirmed" or "terminated"
	event  string // why a terminated dialog ended (RFC 4235 state event)
	held   bool   // this side put the call on hold
	muted  bool   // the other side put it on hold: nothing to render from there
	peer   party
}

// body is the full dialog-info document of the leg's extension, as a PBX
// publishes it: one dialog, since an extension is in one call at a time.
func (l *leg) body(domain string, version uint32) []byte {
	self := "sip:" + l.who.Number + "@" + domain
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="`)
	b.WriteString(strconv.FormatUint(uint64(version), 10))
	b.WriteString(`" state="full" entity="`)
	esc(&b, self)
	b.WriteString(`">` + "\n")
	b.WriteString(`<dialog id="`)
	esc(&b, l.id)
	b.WriteString(`" call-id="`)
	esc(&b, l.callID)
	b.WriteString(`" local-tag="`)
	esc(&b, l.local)
	b.WriteString(`" remote-tag="`)
	esc(&b, l.remote)
	b.WriteString(`" direction="` + l.dir + `">`)
	if l.state == "terminated" && l.event != "" {
		b.WriteString(`<state event="` + l.event + `">terminated</state>`)
	} else {
		b.WriteString(`<state>` + l.state + `</state>`)
	}
	b.WriteString("\n<local>")
	participant(&b, self, l.who.Name, rendering(l.held))
	b.WriteString("</local>\n<remote>")
	participant(&b, l.peer.uri, l.peer.display, rendering(l.muted))
	b.WriteString("</remote>\n</dialog>\n</dialog-info>\n")
	return []byte(b.String())
}

// rendering is the +sip.rendering value of a target (RFC 4235 section 4.1.6):
// "no" while that side holds the call, which is how the gateway sees a hold.
func rendering(held bool) string {
	if held {
		return "no"
	}
	return "yes"
}

func participant(b *strings.Builder, uri, display, render string) {
	b.WriteString("<identity")
	if display != "" {
		b.WriteString(` display="`)
		esc(b, display)
		b.WriteString(`"`)
	}
	b.WriteString(">")
	esc(b, uri)
	b.WriteString(`</identity><target uri="`)
	esc(b, uri)
	b.WriteString(`"><param pname="+sip.rendering" pvalue="` + render + `"/></target>`)
}

// esc escapes text for an attribute or element; names come from a config
// file and may hold quotes or ampersands.
func esc(b *strings.Builder, s string) {
	_ = xml.EscapeText(b, []byte(s))
}
