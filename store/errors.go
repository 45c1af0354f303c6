package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/mattn/go-sqlite3"
)

// ErrClosed is returned as is; the others always come wrapped with the call
// that failed, so their text has no "store:" prefix of its own.
var (
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("store: closed")
	// ErrInvalid wraps an argument the store refuses before touching the
	// file (an empty key, a Data document that is not JSON, ...).
	ErrInvalid = errors.New("invalid argument")
	// ErrConstraint wraps a write refused by a schema constraint, such as a
	// ReplacePublication whose new ETag belongs to another publication.
	// Callers cannot import go-sqlite3, so this is how they can branch.
	ErrConstraint = errors.New("constraint violation")
	// ErrSchemaTooNew is returned by Open for a file written by a newer
	// binary: running old code on a newer schema could corrupt it.
	ErrSchemaTooNew = errors.New("database schema is newer than this binary")
)

// invalid returns an ErrInvalid with a reason.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// classify adds ErrConstraint to constraint failures and keeps the driver
// error in the chain for the message.
func classify(err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && se.Code == sqlite3.ErrConstraint {
		return fmt.Errorf("%w: %w", ErrConstraint, err)
	}
	return err
}

// wrap names the failing call in err, except for the errors that callers
// may compare by identity: ErrClosed, and ctx.Err() as database/sql returns
// it.
func wrap(err error, format string, args ...any) error {
	switch err {
	case nil, ErrClosed, context.Canceled, context.DeadlineExceeded:
		return err
	}
	return fmt.Errorf("store: %s: %w", fmt.Sprintf(format, args...), err)
}
