package fakegenesys

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// The control API drives the fake from another process (cmd/fakegenesys,
// or end-to-end tests that run the gateway as a binary). It has no
// authentication: it is for loopback test setups only. {id} is a user id
// or email.
//
//	GET    /_fake/users                        every user with presence and routing status
//	GET    /_fake/users/{id}/presence          one user's presence and routing status
//	POST   /_fake/users/{id}/presence          {"presence":"On Queue","message":"…"}: SetPresence (message optional; presence may be a name, system presence or id)
//	POST   /_fake/users/{id}/routingstatus     {"status":"INTERACTING"}: SetRoutingStatus
//	GET    /_fake/users/{id}/patches           Patches
//	GET    /_fake/definitions                  Definitions
//	GET    /_fake/channels                     Channels
//	POST   /_fake/channels/expire              ExpireChannels
//	POST   /_fake/sockets/closing[?channel=ID] SocketClosing (every socket without channel)
//	POST   /_fake/sockets/drop                 DropSockets
//	POST   /_fake/throttle?n=3&retry_after=2   Throttle (retry_after in seconds or a Go duration)
//	POST   /_fake/tokens/expire                ExpireTokens
//	GET    /_fake/stats                        Stats (with per-minute rates)
//	POST   /_fake/stats/reset                  ResetStats
//	POST   /_fake/sweep                        Sweep
func (s *Server) controlMux() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET /_fake/users", s.ctlUsers)
	m.HandleFunc("GET /_fake/users/{id}/presence", s.ctlPresence)
	m.HandleFunc("POST /_fake/users/{id}/presence", s.ctlSetPresence)
	m.HandleFunc("POST /_fake/users/{id}/routingstatus", s.ctlSetRoutingStatus)
	m.HandleFunc("GET /_fake/users/{id}/patches", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := s.report(r.PathValue("id")); !ok {
			ctlError(w, http.StatusNotFound, fmt.Errorf("user %q: %w", r.PathValue("id"), ErrUnknownUser))
			return
		}
		p := s.Patches(r.PathValue("id"))
		if p == nil {
			p = []Patch{}
		}
		writeJSON(w, http.StatusOK, p)
	})
	m.HandleFunc("GET /_fake/definitions", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Definitions())
	})
	m.HandleFunc("GET /_fake/channels", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Channels())
	})
	m.HandleFunc("POST /_fake/channels/expire", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]int{"expired": s.ExpireChannels()})
	})
	m.HandleFunc("POST /_fake/sockets/closing", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]int{"sockets": s.SocketClosing(r.URL.Query().Get("channel"))})
	})
	m.HandleFunc("POST /_fake/sockets/drop", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]int{"sockets": s.DropSockets()})
	})
	m.HandleFunc("POST /_fake/throttle", s.ctlThrottle)
	m.HandleFunc("POST /_fake/tokens/expire", func(w http.ResponseWriter, _ *http.Request) {
		s.ExpireTokens()
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("GET /_fake/stats", s.ctlStats)
	m.HandleFunc("POST /_fake/stats/reset", func(w http.ResponseWriter, _ *http.Request) {
		s.ResetStats()
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("POST /_fake/sweep", func(w http.ResponseWriter, _ *http.Request) {
		s.Sweep()
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("/_fake/", func(w http.ResponseWriter, r *http.Request) {
		ctlError(w, http.StatusNotFound, fmt.Errorf("no control route %s %s", r.Method, r.URL.Path))
	})
	return m
}

func ctlError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

// UserReport is a user's state as the control API shows it.
type UserReport struct {
	ID                   string    `json:"id"`
	Email                string    `json:"email"`
	Name                 string    `json:"name"`
	PresenceDefinitionID string    `json:"presenceDefinitionId"`
	PresenceName         string    `json:"presenceName"`   // the definition's label, e.g. "Lunch"
	SystemPresence       string    `json:"systemPresence"` // title case
	Message              string    `json:"message"`
	Primary              bool      `json:"primary"`
	ModifiedDate         time.Time `json:"modifiedDate"`
	RoutingStatus        string    `json:"routingStatus"`
	RoutingStartTime     time.Time `json:"routingStartTime"`
}

func (s *Server) report(idOrEmail string) (UserReport, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(idOrEmail)
	if u == nil {
		return UserReport{}, false
	}
	return u.report(), true
}

func (u *user) report() UserReport {
	return UserReport{
		ID: u.ID, Email: u.Email, Name: u.Name,
		PresenceDefinitionID: u.def.id, PresenceName: u.def.name, SystemPresence: u.def.system,
		Message: u.message, Primary: u.primary, ModifiedDate: u.modified,
		RoutingStatus: u.routing, RoutingStartTime: u.routingStart,
	}
}

func (s *Server) ctlUsers(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	out := make([]UserReport, 0, len(s.userOrder))
	for _, u := range s.userOrder {
		out = append(out, u.report())
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) ctlPresence(w http.ResponseWriter, r *http.Request) {
	rep, ok := s.report(r.PathValue("id"))
	if !ok {
		ctlError(w, http.StatusNotFound, fmt.Errorf("user %q: %w", r.PathValue("id"), ErrUnknownUser))
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// ctlDecode reads a small strict JSON body.
func ctlDecode(r *http.Request, dst any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return fmt.Errorf("body: %w", err)
	}
	return nil
}

// hookStatus maps a test hook's error to the control API's status.
func hookStatus(err error) int {
	if errors.Is(err, ErrUnknownUser) {
		return http.StatusNotFound
	}
	return http.StatusBadRequest
}

func (s *Server) ctlSetPresence(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Presence string  `json:"presence"`
		Message  *string `json:"message"`
	}
	if err := ctlDecode(r, &body); err != nil {
		ctlError(w, http.StatusBadRequest, fmt.Errorf(`want {"presence":"On Queue","message":"..."}: %w`, err))
		return
	}
	if body.Presence == "" && body.Message == nil {
		ctlError(w, http.StatusBadRequest, errors.New(`give "presence" (a name, system presence or definition id) and/or "message"`))
		return
	}
	if err := s.setPresence(r.PathValue("id"), body.Presence, body.Message); err != nil {
		ctlError(w, hookStatus(err), err)
		return
	}
	s.ctlPresence(w, r)
}

func (s *Server) ctlSetRoutingStatus(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Status string `json:"status"`
	}
	if err := ctlDecode(r, &body); err != nil {
		ctlError(w, http.StatusBadRequest, fmt.Errorf(`want {"status":"INTERACTING"}: %w`, err))
		return
	}
	if err := s.SetRoutingStatus(r.PathValue("id"), body.Status); err != nil {
		ctlError(w, hookStatus(err), err)
		return
	}
	s.ctlPresence(w, r)
}

func (s *Server) ctlThrottle(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	n, err := strconv.Atoi(q.Get("n"))
	if err != nil || n < 0 {
		ctlError(w, http.StatusBadRequest, fmt.Errorf("query parameter n must be a count >= 0, got %q", q.Get("n")))
		return
	}
	ra := time.Duration(0)
	if v := q.Get("retry_after"); v != "" {
		if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 && secs < 1e6 {
			ra = time.Duration(secs * float64(time.Second))
		} else if d, err := time.ParseDuration(v); err == nil && d >= 0 {
			ra = d
		} else {
			ctlError(w, http.StatusBadRequest, fmt.Errorf("query parameter retry_after must be seconds or a duration, got %q", v))
			return
		}
	}
	s.Throttle(n, ra)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) ctlStats(w http.ResponseWriter, _ *http.Request) {
	st := s.Stats()
	per := make(map[string]float64, len(st.Requests))
	for op := range st.Requests {
		per[op] = st.PerMinute(op)
	}
	writeJSON(w, http.StatusOK, struct {
		Stats
		TotalPerMinute    float64            `json:"totalPerMinute"`
		RequestsPerMinute map[string]float64 `json:"requestsPerMinute"`
	}{st, st.PerMinute(""), per})
}
