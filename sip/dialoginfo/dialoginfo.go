// Package dialoginfo encodes and parses application/dialog-info+xml
// documents (RFC 4235), the bodies of "Event: dialog" NOTIFY and PUBLISH
// requests that drive BLF lamps and directed call pickup.
//
// Encoding is hand-written byte appending because it sits on the NOTIFY
// fan-out path: a state change is encoded once into a [Template] and each
// subscription only patches in its own version number. Parsing uses
// encoding/xml's tokenizer with strict limits, because PUBLISH bodies come
// from the network and must be treated as hostile.
package dialoginfo

import (
	"errors"
	"fmt"

	"github.com/blfgw/blfgw/sip/internal/xmlsafe"
)

// ContentType is the MIME type of a dialog-info document.
const ContentType = "application/dialog-info+xml"

// Namespace is the XML namespace of RFC 4235 elements.
const Namespace = "urn:ietf:params:xml:ns:dialog-info"

// Limits on what Parse accepts. They are far above anything a phone or PBX
// sends and low enough that a hostile body cannot cost much to refuse.
const (
	MaxSize    = 64 << 10 // bytes; larger input is refused by Parse
	MaxDepth   = 32       // element nesting, root included
	MaxDialogs = 256      // <dialog> elements per document
	MaxParams  = 32       // <param> elements per <target>
)

// Info is one dialog-info document.
type Info struct {
	Version uint32 // document version; Encode writes it, NewTemplate leaves it open
	State   string // "full" or "partial"
	Entity  string // monitored AoR, e.g. "sip:1001@pbx.example.com"
	Dialogs []Dialog
}

// Dialog is one <dialog> element. Tags are from the monitored entity's point
// of view: LocalTag is the entity's own tag.
type Dialog struct {
	ID        string // required
	CallID    string // optional attributes: omitted from output when ""
	LocalTag  string
	RemoteTag string
	Direction string       // "", "initiator" or "recipient"
	State     string       // trying|proceeding|early|confirmed|terminated
	Event     string       // optional <state event="...">: cancelled|rejected|replaced|local-bye|remote-bye|error|timeout
	Code      int          // optional <state code="...">, 100-699; 0 = absent
	Duration  *int         // optional <duration> in seconds; nil = absent
	Local     *Participant // nil = no <local>
	Remote    *Participant // nil = no <remote>
}

// Participant is the content of <local> or <remote>.
type Participant struct {
	Identity        string  // <identity>URI</identity>; "" = no identity element
	IdentityDisplay string  // display="..." attribute of <identity>; "" = absent
	Target          string  // <target uri="..."/>; "" = no target element
	TargetParams    []Param // <param pname=".." pvalue=".."/> children of <target>
}

// Param is a <param pname=".." pvalue=".."/> of a target, e.g.
// {"+sip.rendering", "no"} for a call on hold.
type Param struct{ Name, Value string }

// Errors that callers may want to tell apart with errors.Is, e.g. to answer
// 413 rather than 400. Every error returned by Parse and Validate is an
// *Error; these are found in its Err field.
var (
	ErrTooLarge = errors.New("document too large")
	ErrDTD      = errors.New("DTD not allowed")
)

// Error is the error returned by Parse and Validate. Its text is one short
// line of printable ASCII, because the gateway copies it into a SIP reason
// phrase ("400 Bad dialog-info: ...").
type Error struct {
	Reason string // what is wrong, without the "dialog-info: " prefix
	Err    error  // underlying cause, if any (ErrTooLarge, ErrDTD, *xml.SyntaxError)
}

const errPrefix = "dialog-info: "

// maxErrLen bounds Error() so the reason phrase stays short.
const maxErrLen = 100

func (e *Error) Error() string { return xmlsafe.Clean(errPrefix+e.Reason, maxErrLen) }

func (e *Error) Unwrap() error { return e.Err }

// errorf builds an *Error; args may come from the input, so the result is
// cleaned here as well as in Error().
func errorf(err error, format string, args ...any) *Error {
	return &Error{Reason: xmlsafe.Clean(fmt.Sprintf(format, args...), maxErrLen-len(errPrefix)), Err: err}
}

// The RFC 4235 vocabularies.
var (
	dialogStates = []string{"trying", "proceeding", "early", "confirmed", "terminated"}
	stateEvents  = []string{"cancelled", "rejected", "replaced", "local-bye", "remote-bye", "error", "timeout"}
)

func oneOf(s string, set []string) bool {
	for _, v := range set {
		if s == v {
			return true
		}
	}
	return false
}
