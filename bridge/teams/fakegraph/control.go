package fakegraph

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"time"
)

// The control API drives the fake from another process (cmd/fakegraph, or
// end-to-end tests that run the gateway as a binary). It has no
// authentication: it is for loopback test setups only.
//
//	GET    /_fake/users                          users with their presence
//	GET    /_fake/users/{id}/presence            aggregate, sessions, preferred
//	POST   /_fake/users/{id}/client              {"availability","activity"}: SetClient
//	DELETE /_fake/users/{id}/client              ClearClient
//	GET    /_fake/subscriptions                  Subscriptions
//	POST   /_fake/subscriptions/expire           ExpireSubscriptions
//	POST   /_fake/subscriptions/{id}/lifecycle?event=missed   Lifecycle
//	POST   /_fake/throttle?n=3&retry_after=1     Throttle (retry_after in seconds or a Go duration)
//	POST   /_fake/unavailable?n=3&retry_after=1  Unavailable
//	GET    /_fake/stats                          Stats (with per-minute rates)
//	POST   /_fake/stats/reset                    ResetStats
//	GET    /_fake/deliveries                     Deliveries
//	POST   /_fake/sweep                          Sweep
//	POST   /_fake/tokens/expire                  ExpireTokens
func (s *Server) controlMux() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET /_fake/users", s.ctlUsers)
	m.HandleFunc("GET /_fake/users/{id}/presence", s.ctlPresence)
	m.HandleFunc("POST /_fake/users/{id}/client", s.ctlSetClient)
	m.HandleFunc("DELETE /_fake/users/{id}/client", s.ctlClearClient)
	m.HandleFunc("GET /_fake/subscriptions", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Subscriptions())
	})
	m.HandleFunc("POST /_fake/subscriptions/expire", func(w http.ResponseWriter, _ *http.Request) {
		s.ExpireSubscriptions()
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("POST /_fake/subscriptions/{id}/lifecycle", s.ctlLifecycle)
	m.HandleFunc("POST /_fake/throttle", func(w http.ResponseWriter, r *http.Request) { s.ctlFault(w, r, s.Throttle) })
	m.HandleFunc("POST /_fake/unavailable", func(w http.ResponseWriter, r *http.Request) { s.ctlFault(w, r, s.Unavailable) })
	m.HandleFunc("GET /_fake/stats", s.ctlStats)
	m.HandleFunc("POST /_fake/stats/reset", func(w http.ResponseWriter, _ *http.Request) {
		s.ResetStats()
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("GET /_fake/deliveries", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Deliveries())
	})
	m.HandleFunc("POST /_fake/sweep", func(w http.ResponseWriter, _ *http.Request) {
		s.Sweep()
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("POST /_fake/tokens/expire", func(w http.ResponseWriter, _ *http.Request) {
		s.ExpireTokens()
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("/_fake/", func(w http.ResponseWriter, r *http.Request) {
		ctlError(w, http.StatusNotFound, fmt.Errorf("no control route %s %s", r.Method, r.URL.Path))
	})
	return m
}

func (s *Server) serveControl(w http.ResponseWriter, r *http.Request) {
	s.control.ServeHTTP(w, r)
}

func ctlError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

type ctlSession struct {
	ID                    string    `json:"id"`
	Kind                  string    `json:"kind"`
	Availability          string    `json:"availability"`
	Activity              string    `json:"activity"`
	EffectiveAvailability string    `json:"effectiveAvailability"`
	EffectiveActivity     string    `json:"effectiveActivity"`
	LastRefresh           time.Time `json:"lastRefresh"`
	Expires               time.Time `json:"expires,omitzero"`
}

type ctlPresence struct {
	ID             string       `json:"id"`
	UPN            string       `json:"upn"`
	DisplayName    string       `json:"displayName"`
	Availability   string       `json:"availability"`
	Activity       string       `json:"activity"`
	SequenceNumber string       `json:"sequenceNumber"`
	Sessions       []ctlSession `json:"sessions"`
	Preferred      *Preferred   `json:"preferred"`
}

func (s *Server) presenceReport(idOrUPN string) (ctlPresence, bool) {
	s.mu.Lock()
	u := s.userLocked(idOrUPN)
	var info User
	if u != nil {
		info = u.User
	}
	s.mu.Unlock()
	if u == nil {
		return ctlPresence{}, false
	}
	av, ac, seq := s.Presence(info.ID)
	p := ctlPresence{ID: info.ID, UPN: info.UPN, DisplayName: info.DisplayName, Availability: av, Activity: ac, SequenceNumber: seq, Sessions: []ctlSession{}}
	for _, ss := range s.Sessions(info.ID) {
		p.Sessions = append(p.Sessions, ctlSession(ss))
	}
	if pref, ok := s.PreferredPresence(info.ID); ok {
		p.Preferred = &pref
	}
	return p, true
}

func (s *Server) ctlUsers(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	ids := make([]string, 0, len(s.users))
	for id := range s.users {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	sort.Strings(ids)
	out := make([]ctlPresence, 0, len(ids))
	for _, id := range ids {
		if p, ok := s.presenceReport(id); ok {
			out = append(out, p)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) ctlPresence(w http.ResponseWriter, r *http.Request) {
	p, ok := s.presenceReport(r.PathValue("id"))
	if !ok {
		ctlError(w, http.StatusNotFound, fmt.Errorf("user %q: %w", r.PathValue("id"), ErrUnknownUser))
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) ctlSetClient(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Availability string `json:"availability"`
		Activity     string `json:"activity"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		ctlError(w, http.StatusBadRequest, fmt.Errorf("body: want {\"availability\":...,\"activity\":...}: %w", err))
		return
	}
	if err := s.SetClient(r.PathValue("id"), body.Availability, body.Activity); err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, ErrUnknownUser) {
			status = http.StatusNotFound
		}
		ctlError(w, status, err)
		return
	}
	s.ctlPresence(w, r)
}

func (s *Server) ctlClearClient(w http.ResponseWriter, r *http.Request) {
	if err := s.ClearClient(r.PathValue("id")); err != nil {
		ctlError(w, http.StatusNotFound, err)
		return
	}
	s.ctlPresence(w, r)
}

func (s *Server) ctlLifecycle(w http.ResponseWriter, r *http.Request) {
	event := r.URL.Query().Get("event")
	if event == "" {
		ctlError(w, http.StatusBadRequest, errors.New("query parameter event is required (reauthorizationRequired, subscriptionRemoved or missed)"))
		return
	}
	if err := s.Lifecycle(r.PathValue("id"), event); err != nil {
		status := http.StatusBadGateway // the receiver did not take it
		switch {
		case errors.Is(err, ErrUnknownSubscription):
			status = http.StatusNotFound
		case errors.Is(err, ErrNoLifecycleURL):
			status = http.StatusConflict
		case !eventName.MatchString(event):
			status = http.StatusBadRequest
		}
		ctlError(w, status, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) ctlFault(w http.ResponseWriter, r *http.Request, set func(int, time.Duration)) {
	q := r.URL.Query()
	n, err := strconv.Atoi(q.Get("n"))
	if err != nil || n < 0 {
		ctlError(w, http.StatusBadRequest, fmt.Errorf("query parameter n must be a count >= 0, got %q", q.Get("n")))
		return
	}
	ra := time.Duration(0)
	if v := q.Get("retry_after"); v != "" {
		if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 {
			ra = time.Duration(secs * float64(time.Second))
		} else if d, err := time.ParseDuration(v); err == nil && d >= 0 {
			ra = d
		} else {
			ctlError(w, http.StatusBadRequest, fmt.Errorf("query parameter retry_after must be seconds or a duration, got %q", v))
			return
		}
	}
	set(n, ra)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) ctlStats(w http.ResponseWriter, _ *http.Request) {
	st := s.Stats()
	per := make(map[string]float64, len(st.Requests))
	for op := range st.Requests {
		per[op] = st.PerMinute(op)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"since":             st.Since,
		"at":                st.At,
		"total":             st.Total,
		"totalPerMinute":    st.PerMinute(""),
		"requests":          st.Requests,
		"requestsPerMinute": per,
		"status":            st.Status,
		"throttled":         st.Throttled,
		"rateLimited":       st.RateLimited,
		"unavailable":       st.Unavailable,
		"deliveries":        s.Deliveries(),
	})
}
