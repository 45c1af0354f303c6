package fakegraph

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// apiError is a Graph error: the handlers return it and serveGraph writes it
// in the envelope, so no handler can forget the message the SDK dereferences.
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
	return errorf(http.StatusBadRequest, "BadRequest", format, args...)
}

func forbidden(format string, args ...any) *apiError {
	return errorf(http.StatusForbidden, "Forbidden", format, args...)
}

func userNotFound(id string) *apiError {
	return errorf(http.StatusNotFound, "Request_ResourceNotFound",
		"Resource '%s' does not exist or one of its queried reference-property objects are not present.", id)
}

type graphErrorBody struct {
	Error graphErrorDetail `json:"error"`
}

type graphErrorDetail struct {
	Code       string          `json:"code"`
	Message    string          `json:"message"`
	InnerError graphInnerError `json:"innerError"`
}

type graphInnerError struct {
	Date            string `json:"date"`
	RequestID       string `json:"request-id"`
	ClientRequestID string `json:"client-request-id"`
}

// writeGraphError writes e in the Graph envelope. An empty message is
// replaced because msgraph-sdk-go's ODataError.Error() panics without one.
func writeGraphError(w http.ResponseWriter, c *call, e *apiError) {
	msg := e.message
	if msg == "" {
		msg = http.StatusText(e.status)
	}
	if e.retryAfter >= 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(retrySeconds(e.retryAfter), 10))
	}
	writeJSON(w, e.status, graphErrorBody{Error: graphErrorDetail{
		Code:    e.code,
		Message: msg,
		InnerError: graphInnerError{
			Date:            c.now.UTC().Format("2006-01-02T15:04:05"),
			RequestID:       c.requestID,
			ClientRequestID: c.clientRequestID,
		},
	}})
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
		// Only our own types reach here; a failure is a bug, so say so
		// rather than send half a body.
		http.Error(w, "fakegraph: encoding response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// oauthError is the Entra token endpoint's error shape (RFC 6749 5.2 plus
// the AADSTS codes MSAL surfaces to callers).
type oauthError struct {
	status      int
	code        string // RFC 6749 error, e.g. invalid_client
	aadsts      int
	description string
}

func oauthErr(status int, code string, aadsts int, format string, args ...any) *oauthError {
	return &oauthError{status: status, code: code, aadsts: aadsts, description: fmt.Sprintf(format, args...)}
}

func (e *oauthError) write(w http.ResponseWriter, now time.Time, correlationID string) {
	writeJSON(w, e.status, map[string]any{
		"error":             e.code,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", e.aadsts, e.description, newGUID(), correlationID, now.UTC().Format("2006-01-02 15:04:05Z")),
		"error_codes":       []int{e.aadsts},
		"timestamp":         now.UTC().Format("2006-01-02 15:04:05Z"),
		"trace_id":          newGUID(),
		"correlation_id":    correlationID,
	})
}

// Errors of the test hooks, for errors.Is.
var (
	ErrUnknownUser         = errors.New("unknown user")
	ErrUnknownSubscription = errors.New("unknown subscription")
	ErrNoLifecycleURL      = errors.New("subscription has no lifecycleNotificationUrl")
	ErrClosed              = errors.New("fakegraph server closed")
)
