package fakegenesys

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// ErrorBody is the error shape of every /api/v2 answer that is not 2xx, as
// the platform API (and its Go SDK's APIResponse) has it. It is exported so
// tests elsewhere can decode it.
type ErrorBody struct {
	Message   string `json:"message"`
	Code      string `json:"code"`
	Status    int    `json:"status"`
	ContextID string `json:"contextId"`
	Details   []any  `json:"details"`
	Errors    []any  `json:"errors"`
}

// apiError is a platform API error: handlers return it and serveAPI writes
// it as ErrorBody, so no handler can send an error without a message.
type apiError struct {
	status     int
	code       string
	message    string
	retryAfter time.Duration // >= 0 sets Retry-After; < 0 omits it
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.status, e.code, e.message)
}

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...), retryAfter: -1}
}

func badRequest(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, "bad.request", format, args...)
}

func notFound(format string, args ...any) *apiError {
	return errorf(http.StatusNotFound, "not.found", format, args...)
}

// tooManyRequests is the 429 the platform sends; the message text is the
// one clients see from Genesys, brackets included.
func tooManyRequests(retryAfter time.Duration) *apiError {
	n := retrySeconds(retryAfter)
	e := errorf(http.StatusTooManyRequests, "too.many.requests.retry.after",
		"Rate limit exceeded the maximum. Retry the request in [%d] seconds", n)
	e.retryAfter = retryAfter
	return e
}

func writeAPIError(w http.ResponseWriter, contextID string, e *apiError) {
	msg := e.message
	if msg == "" {
		msg = http.StatusText(e.status)
	}
	if e.retryAfter >= 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(retrySeconds(e.retryAfter), 10))
	}
	writeJSON(w, e.status, ErrorBody{
		Message:   msg,
		Code:      e.code,
		Status:    e.status,
		ContextID: contextID,
		Details:   []any{},
		Errors:    []any{},
	})
}

// retrySeconds rounds up, so a client that waits Retry-After seconds is
// never early.
func retrySeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only the fake's own types reach here; a failure is a bug, so
		// say so rather than send half a body.
		http.Error(w, "fakegenesys: encoding response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// oauthError is the login service's error shape. Genesys sends the text in
// "description"; "error_description" is added because that is where
// golang.org/x/oauth2 looks for it.
type oauthError struct {
	status      int
	code        string
	description string
}

func oauthErr(status int, code, format string, args ...any) *oauthError {
	return &oauthError{status: status, code: code, description: fmt.Sprintf(format, args...)}
}

func (e *oauthError) write(w http.ResponseWriter) {
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="oauth"`)
	}
	writeJSON(w, e.status, map[string]string{
		"error":             e.code,
		"description":       e.description,
		"error_description": e.description,
	})
}

// Errors of the test hooks, for errors.Is.
var (
	ErrUnknownUser       = errors.New("unknown user")
	ErrUnknownDefinition = errors.New("unknown or deactivated presence definition")
	ErrUnknownClient     = errors.New("unknown OAuth client")
	ErrBadStatus         = errors.New("invalid routing status")
	ErrBadUser           = errors.New("invalid user")
	ErrBadDefinition     = errors.New("invalid presence definition")
)
