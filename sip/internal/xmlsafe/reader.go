package xmlsafe

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Error is how a Reader refuses input. It is not meant to reach the
// codecs' callers: each codec turns it into its own error type, with its
// own prefix, so that what it returns is one type.
type Error struct {
	Reason string // what is wrong; it may quote the input, so Clean it before use
	Err    error  // the codec's DTD sentinel, the decoder's error (e.g. *xml.SyntaxError), or nil
}

func (e *Error) Error() string { return e.Reason }

func (e *Error) Unwrap() error { return e.Err }

func errorf(err error, format string, args ...any) *Error {
	return &Error{Reason: fmt.Sprintf(format, args...), Err: err}
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// errCharset is returned by the decoder's CharsetReader: only UTF-8 (and so
// US-ASCII content) is accepted, and saying so beats a cryptic failure.
type errCharset struct{ label string }

func (e *errCharset) Error() string { return "unsupported charset " + e.label }

// Reader wraps an xml.Decoder with the rules for hostile input: no DTDs or
// processing instructions, bounded depth, UTF-8 only, and errors as *Error.
// The codecs embed it and add a method per element they parse.
type Reader struct {
	d        *xml.Decoder
	depth    int
	maxDepth int
	errDTD   error
	ntok     int
}

// NewReader returns a Reader for data that refuses elements nested deeper
// than maxDepth, the root counting as 1. A DTD or processing instruction is
// refused with errDTD as the cause, so that each codec's callers can test
// for its own exported sentinel. Data is read in place; the caller bounds
// its size.
func NewReader(data []byte, maxDepth int, errDTD error) *Reader {
	data = bytes.TrimPrefix(data, utf8BOM)
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	d.CharsetReader = func(label string, _ io.Reader) (io.Reader, error) {
		return nil, &errCharset{label}
	}
	return &Reader{d: d, maxDepth: maxDepth, errDTD: errDTD}
}

// Next returns the next StartElement, EndElement or CharData, skipping
// comments. It returns io.EOF unwrapped at the end of the input.
func (r *Reader) Next() (xml.Token, error) {
	for {
		t, err := r.d.Token()
		if err != nil {
			if err == io.EOF {
				return nil, io.EOF
			}
			return nil, r.wrap(err)
		}
		r.ntok++
		switch t := t.(type) {
		case xml.StartElement:
			r.depth++
			if r.depth > r.maxDepth {
				return nil, errorf(nil, "elements nested deeper than %d", r.maxDepth)
			}
			return t, nil
		case xml.EndElement:
			r.depth--
			return t, nil
		case xml.CharData:
			return t, nil
		case xml.Comment:
		case xml.Directive:
			// DOCTYPE, ENTITY and friends: the door to entity expansion
			// and external entities. No SIP body needs them.
			return nil, errorf(r.errDTD, "DTD not allowed")
		case xml.ProcInst:
			if t.Target == "xml" && r.ntok == 1 {
				continue
			}
			return nil, errorf(r.errDTD, "processing instruction not allowed")
		}
	}
}

func (r *Reader) wrap(err error) *Error {
	var se *xml.SyntaxError
	var ce *errCharset
	switch {
	case errors.As(err, &se):
		return errorf(err, "malformed XML at line %d: %s", se.Line, se.Msg)
	case errors.As(err, &ce):
		return errorf(err, "unsupported charset %q, only UTF-8", ce.label)
	}
	return errorf(err, "malformed XML: %s", strings.TrimPrefix(err.Error(), "xml: "))
}

// Root reads up to the root element's start tag and checks that its name
// is {space}local: a codec looks at nothing else in a document that fails
// this.
func (r *Reader) Root(space, local string) (xml.StartElement, error) {
	for {
		t, err := r.Next()
		if err == io.EOF {
			return xml.StartElement{}, errorf(nil, "no root element")
		}
		if err != nil {
			return xml.StartElement{}, err
		}
		switch t := t.(type) {
		case xml.StartElement:
			switch {
			case t.Name.Local != local:
				return xml.StartElement{}, errorf(nil, "root element is <%.32s>, not <%s>", t.Name.Local, local)
			case t.Name.Space != space:
				return xml.StartElement{}, errorf(nil, "root element not in namespace %s", space)
			}
			return t, nil
		case xml.CharData:
			if !allSpace(t) {
				return xml.StartElement{}, errorf(nil, "text before root element")
			}
		}
	}
}

// End reads what follows the root element: only white space and comments
// may.
func (r *Reader) End() error {
	for {
		t, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch t := t.(type) {
		case xml.StartElement:
			return errorf(nil, "second root element")
		case xml.CharData:
			if !allSpace(t) {
				return errorf(nil, "text after root element")
			}
		}
	}
}

// Skip consumes the rest of an element whose start tag was just read.
func (r *Reader) Skip() error {
	for n := 1; n > 0; {
		t, err := r.Next()
		if err != nil {
			return r.EOF(err)
		}
		switch t.(type) {
		case xml.StartElement:
			n++
		case xml.EndElement:
			n--
		}
	}
	return nil
}

// Text returns the character data of an element whose start tag was just
// read, up to its end tag, ignoring child elements. White space around it is
// trimmed: pretty-printers add it and no value the codecs read carries it.
func (r *Reader) Text() (string, error) {
	var b []byte
	for {
		t, err := r.Next()
		if err != nil {
			return "", r.EOF(err)
		}
		switch t := t.(type) {
		case xml.CharData:
			b = append(b, t...)
		case xml.StartElement:
			if err := r.Skip(); err != nil {
				return "", err
			}
		case xml.EndElement:
			return TrimSpace(string(b)), nil
		}
	}
}

// EOF turns a bare io.EOF from Next inside an element into an *Error, and
// returns other errors as they are. The decoder reports a truncated
// document itself; this is belt and braces.
func (r *Reader) EOF(err error) error {
	if err == io.EOF {
		return errorf(nil, "malformed XML: unexpected end of input")
	}
	return err
}

// Child reads on to the next child element of the element being read; ok
// is false when its end tag comes first. Text, comments and the like in
// between are passed over. Running out of input is a malformed document.
func (r *Reader) Child() (se xml.StartElement, ok bool, err error) {
	for {
		t, err := r.Next()
		if err != nil {
			return se, false, r.EOF(err)
		}
		switch t := t.(type) {
		case xml.EndElement:
			return se, false, nil
		case xml.StartElement:
			return t, true, nil
		}
	}
}

// Attr returns the value of the un-namespaced attribute name.
func Attr(se xml.StartElement, name string) (string, bool) {
	for _, a := range se.Attr {
		if a.Name.Space == "" && a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}
