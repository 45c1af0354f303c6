package api

import "time"

// Advance moves the server's clock forward, for token expiry and the login
// window.
func (s *Server) Advance(d time.Duration) { s.skew.Add(int64(d)) }
