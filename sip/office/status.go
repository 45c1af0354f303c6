package office

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// status is a user's own status as GET and PATCH /api/v1/me carry it.
type status struct {
	Status  string `json:"status"`
	Message string `json:"status_message"`
}

// desk is the simulator's HTTP side: the users themselves, changing their
// status through the public API with their extension number and password.
type desk struct {
	base string
	hc   *http.Client
	log  *slog.Logger
}

func newDesk(base string, log *slog.Logger) *desk {
	// No keep-alive: with it, requests at the same moment (statuses
	// restored at closing) make the transport dial spare connections that
	// never carry a request, and the gateway's graceful shutdown waits for
	// those. No proxy either: the API is the gateway's, next door.
	tr := &http.Transport{DisableKeepAlives: true, Proxy: nil}
	return &desk{base: strings.TrimSuffix(base, "/"), hc: &http.Client{Timeout: attempt, Transport: tr}, log: log}
}

// get reads p's status.
func (d *desk) get(budget context.Context, p Person) (status, error) {
	var st status
	err := d.do(budget, p, http.MethodGet, nil, &st)
	return st, err
}

// set changes p's status and message.
func (d *desk) set(budget context.Context, p Person, st status) error {
	body, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode status: %w", err)
	}
	return d.do(budget, p, http.MethodPatch, body, nil)
}

// do sends one request to /api/v1/me, retrying what may pass (no answer,
// 429, 5xx) with back-off until budget ends.
func (d *desk) do(budget context.Context, p Person, method string, body []byte, out any) error {
	wait := 250 * time.Millisecond
	for {
		retry, err := d.once(budget, p, method, body, out)
		if err == nil || retry <= 0 {
			return err
		}
		d.log.Debug("status request failed; retrying", "ext", p.Number, "err", err, "in", max(wait, retry))
		select {
		case <-budget.Done():
			return fmt.Errorf("%s /api/v1/me as %s: %w (%w)", method, p.Number, err, budget.Err())
		case <-time.After(max(wait, retry)):
		}
		wait = min(2*wait, 4*time.Second)
	}
}

// once returns the error and, if the request may be tried again, how long
// to wait at least (a positive duration).
func (d *desk) once(budget context.Context, p Person, method string, body []byte, out any) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(budget), attempt)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.base+"/api/v1/me", rd)
	if err != nil {
		return 0, fmt.Errorf("office: status request: %w", err)
	}
	req.SetBasicAuth(p.Number, p.Password)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := d.hc.Do(req)
	if err != nil {
		return time.Nanosecond, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if err != nil {
		return time.Nanosecond, fmt.Errorf("read answer: %w", err)
	}
	if res.StatusCode/100 == 2 {
		if out == nil {
			return 0, nil
		}
		if err := json.Unmarshal(data, out); err != nil {
			return 0, fmt.Errorf("%w: %s /api/v1/me: %w", errRefused, method, err)
		}
		return 0, nil
	}
	// The API's errors are {"error": {"code", "message"}}.
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	_ = json.Unmarshal(data, &e)
	why := fmt.Errorf("%s /api/v1/me: %s %s: %s", method, strconv.Itoa(res.StatusCode), e.Error.Code, e.Error.Message)
	if res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500 {
		retry := time.Nanosecond
		if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && s > 0 {
			retry = time.Duration(s) * time.Second
		}
		return retry, why
	}
	return 0, fmt.Errorf("%w: %w", errRefused, why)
}
