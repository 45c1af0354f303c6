package api

import (
	"net/http"
	"time"
)

// Advance moves the server's clock forward, for token expiry and the login
// window.
func (s *Server) Advance(d time.Duration) { s.skew.Add(int64(d)) }

// Streams is how many event streams are open.
func (s *Server) Streams() int { return s.streamCount() }

// Handler is the server's handler, to serve it over TLS in a test.
func (s *Server) Handler() http.Handler { return s.srv.Handler }
