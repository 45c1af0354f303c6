// Package pidf encodes and parses application/pidf+xml presence documents
// (RFC 3863) with the RFC 4479 data model's <dm:person> and the RFC 4480
// RPID activities, the bodies of "Event: presence" NOTIFY and PUBLISH.
//
// It covers what a BLF-over-presence gateway needs: open/closed tuples with
// contact and note, and a person with activities such as on-the-phone.
// Encoding is hand-written byte appending; parsing uses encoding/xml's
// tokenizer with strict limits, because PUBLISH bodies are hostile input.
package pidf

import (
	"errors"
	"fmt"

	"github.com/blfgw/blfgw/sip/internal/xmlsafe"
)

// ContentType is the MIME type of a PIDF document.
const ContentType = "application/pidf+xml"

// XML namespaces. Parse recognises elements by these URIs, never by
// prefix: publishers choose their own prefixes.
const (
	Namespace     = "urn:ietf:params:xml:ns:pidf"
	NamespaceDM   = "urn:ietf:params:xml:ns:pidf:data-model"
	NamespaceRPID = "urn:ietf:params:xml:ns:pidf:rpid"
)

// Limits on what Parse accepts.
const (
	MaxSize       = 64 << 10 // bytes; larger input is refused by Parse
	MaxDepth      = 32       // element nesting, root included
	MaxTuples     = 256      // <tuple> elements per document
	MaxActivities = 32       // activities of the person
)

// Document is one PIDF document.
type Document struct {
	Entity string // "sip:1001@pbx"
	Tuples []Tuple
	Person *Person // nil = no <dm:person>
}

// Tuple is one <tuple>.
type Tuple struct {
	ID      string
	Basic   string // "open" or "closed"
	Contact string // optional <contact>
	Note    string // optional <note>
}

// Person is the <dm:person> element.
type Person struct {
	ID         string
	Activities []string // RPID activity element names, e.g. "on-the-phone", "busy", "away", "meeting", "permanent-absence"
	Note       string   // <dm:note>
}

// activities are the RFC 4480 activity elements. "other" is left out: it
// carries free text, not a name a gateway could act on.
var activities = map[string]bool{
	"appointment": true, "away": true, "breakfast": true, "busy": true,
	"dinner": true, "holiday": true, "in-transit": true,
	"looking-for-work": true, "meal": true, "meeting": true,
	"on-the-phone": true, "performance": true, "permanent-absence": true,
	"playing": true, "presentation": true, "shopping": true,
	"sleeping": true, "spectator": true, "steering": true, "travel": true,
	"tv": true, "unknown": true, "vacation": true, "working": true,
	"worship": true,
}

// IsActivity reports whether name is an RPID activity (RFC 4480 section
// 3.2) that Encode writes and Parse returns. Others are skipped.
func IsActivity(name string) bool { return activities[name] }

// Errors that callers may want to tell apart with errors.Is. Every error
// returned by Parse and Validate is an *Error; these are found in its Err
// field.
var (
	ErrTooLarge = errors.New("document too large")
	ErrDTD      = errors.New("DTD not allowed")
)

// Error is the error returned by Parse and Validate. Its text is one short
// line of printable ASCII, because the gateway copies it into a SIP reason
// phrase ("400 Bad pidf: ...").
type Error struct {
	Reason string // what is wrong, without the "pidf: " prefix
	Err    error  // underlying cause, if any (ErrTooLarge, ErrDTD, *xml.SyntaxError)
}

const errPrefix = "pidf: "

// maxErrLen bounds Error() so the reason phrase stays short.
const maxErrLen = 100

func (e *Error) Error() string { return xmlsafe.Clean(errPrefix+e.Reason, maxErrLen) }

func (e *Error) Unwrap() error { return e.Err }

// errorf builds an *Error; args may come from the input, so the result is
// cleaned here as well as in Error().
func errorf(err error, format string, args ...any) *Error {
	return &Error{Reason: xmlsafe.Clean(fmt.Sprintf(format, args...), maxErrLen-len(errPrefix)), Err: err}
}
