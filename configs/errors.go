package configs

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a configuration. Line and Col are 1-based
// (Col counts bytes, as go/token and go-toml do); both are 0 when the problem
// has no place in the file, for example a table that is missing altogether
// or a value that came from a command-line flag (then From names the flag).
type Problem struct {
	File string // path given to Load or Parse; "" for a Config built in code
	Line int
	Col  int
	Key  string // key path such as "extensions[3].department"; "" for a syntax error
	From string // set when the value was overridden, e.g. "-sip flag"
	Msg  string
}

// Error renders the problem as FILE:LINE:COL: key: message, dropping the
// parts that are unknown, so that editors and CI can jump to the spot.
func (p Problem) Error() string {
	var b strings.Builder
	switch {
	case p.From != "":
		// The file is not where the value came from: naming it would send
		// the admin looking for something that is not there.
	case p.File != "" && p.Line > 0:
		b.WriteString(p.File)
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(p.Line))
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(p.Col))
		b.WriteString(": ")
	case p.File != "":
		b.WriteString(p.File)
		b.WriteString(": ")
	}
	if p.Key != "" {
		b.WriteString(p.Key)
		if p.From != "" {
			b.WriteString(" (from ")
			b.WriteString(p.From)
			b.WriteByte(')')
		}
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Errors is every problem found in one configuration, in file order. It is
// the error returned by Load, Parse, Decode and Validate whenever the
// configuration itself (rather than reading it) is at fault, so callers can
// print one problem per line or inspect them with errors.As.
type Errors []Problem

// Error puts one problem on each line.
func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, p := range e {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap exposes each Problem to errors.Is and errors.As, the way
// errors.Join does.
func (e Errors) Unwrap() []error {
	errs := make([]error, len(e))
	for i, p := range e {
		errs[i] = p
	}
	return errs
}

// sortProblems puts problems in file order and those without a position
// last, keeping discovery order among equals so related messages stay
// together.
func sortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		if (a.Line == 0) != (b.Line == 0) {
			if a.Line == 0 {
				return 1
			}
			return -1
		}
		if c := cmp.Compare(a.Line, b.Line); c != 0 {
			return c
		}
		return cmp.Compare(a.Col, b.Col)
	})
}

// asError avoids handing out a non-nil error interface that holds an empty
// Errors.
func asError(ps []Problem) error {
	if len(ps) == 0 {
		return nil
	}
	sortProblems(ps)
	return Errors(ps)
}
