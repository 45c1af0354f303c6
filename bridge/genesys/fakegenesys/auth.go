package fakegenesys

import (
	"crypto/subtle"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// token is an issued access token. Tokens are opaque random strings; the
// fake remembers what each one stands for.
type token struct {
	clientID string
	expires  time.Time
}

// Token issues an access token for a registered client, as the
// client_credentials grant would, for tests that skip /oauth/token.
func (s *Server) Token(clientID string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.opt.Clients[clientID]; !ok {
		return "", fmt.Errorf("token for client %q: %w", clientID, ErrUnknownClient)
	}
	return s.issueLocked(clientID, s.now()), nil
}

// ExpireTokens makes every access token issued so far expired, so the next
// /api/v2 call with one gets 401 and the client must fetch a new token.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, t := range s.tokens {
		if t.expires.After(now) {
			t.expires = now
		}
	}
}

func (s *Server) issueLocked(clientID string, now time.Time) string {
	v := randomToken()
	s.tokens[v] = &token{clientID: clientID, expires: now.Add(s.opt.TokenLifetime)}
	return v
}

// authenticateLocked checks the bearer token of a platform API request and
// returns it with what it stands for.
func (s *Server) authenticateLocked(c *call) (string, *token, *apiError) {
	h := c.r.Header.Get("Authorization")
	scheme, v, _ := strings.Cut(h, " ")
	v = strings.TrimSpace(v)
	if h == "" || !strings.EqualFold(scheme, "Bearer") || v == "" {
		return "", nil, errorf(http.StatusUnauthorized, "authentication.required",
			"No authentication bearer token specified in authorization header.")
	}
	t, ok := s.tokens[v]
	if !ok {
		return "", nil, errorf(http.StatusUnauthorized, "bad.credentials",
			"Invalid login credentials: the bearer token was not issued by this organization's login service.")
	}
	if !c.now.Before(t.expires) {
		return "", nil, errorf(http.StatusUnauthorized, "bad.credentials",
			"Invalid login credentials: the bearer token expired at %s; get a new one from /oauth/token.", isoTime(t.expires))
	}
	return v, t, nil
}

// serveToken is the login service's POST /oauth/token for the
// client_credentials grant.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	status := http.StatusOK
	defer func() {
		s.mu.Lock()
		s.stats.recordOther(OpToken)
		s.mu.Unlock()
		s.log.Debug("token request", "status", status)
	}()
	resp, e := s.token(w, r)
	if e != nil {
		status = e.status
		e.write(w)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, resp)
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) (map[string]any, *oauthError) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return nil, oauthErr(http.StatusMethodNotAllowed, "invalid_request", "The token endpoint accepts POST only, not %s.", r.Method)
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, oauthErr(http.StatusBadRequest, "invalid_request",
			"Content-Type must be application/x-www-form-urlencoded, got %q.", r.Header.Get("Content-Type"))
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return nil, oauthErr(http.StatusBadRequest, "invalid_request", "The request body is not a valid form: %v.", err)
	}
	f := r.PostForm
	bu, bp, ok := r.BasicAuth()
	if !ok {
		if f.Get("client_id") != "" || f.Get("client_secret") != "" {
			return nil, oauthErr(http.StatusUnauthorized, "invalid_client",
				"client_id and client_secret in the form body are not accepted; send them as Authorization: Basic base64(client_id:client_secret)")
		}
		return nil, oauthErr(http.StatusUnauthorized, "invalid_client",
			"missing client credentials: send Authorization: Basic base64(client_id:client_secret)")
	}
	clientID, ok := s.checkClient(bu, bp)
	if !ok {
		return nil, oauthErr(http.StatusUnauthorized, "invalid_client", "client not found or wrong client secret for client id %q", bu)
	}
	switch gt := f.Get("grant_type"); gt {
	case "client_credentials":
	case "":
		return nil, oauthErr(http.StatusBadRequest, "invalid_request", "grant_type is required; use grant_type=client_credentials")
	default:
		return nil, oauthErr(http.StatusBadRequest, "unsupported_grant_type", "grant_type %q is not supported here; use client_credentials", gt)
	}
	s.mu.Lock()
	v := s.issueLocked(clientID, s.now())
	s.mu.Unlock()
	return map[string]any{
		"access_token": v,
		"token_type":   "bearer",
		"expires_in":   int64(s.opt.TokenLifetime / time.Second),
	}, nil
}

// checkClient matches Basic credentials. Both halves are tried as sent and
// form-decoded, because RFC 6749 2.3.1 has clients (golang.org/x/oauth2
// among them) encode them before Basic and others do not.
func (s *Server) checkClient(user, pass string) (string, bool) {
	try := func(id, secret string) bool {
		want, ok := s.opt.Clients[id]
		return ok && subtle.ConstantTimeCompare([]byte(want), []byte(secret)) == 1
	}
	if try(user, pass) {
		return user, true
	}
	du, err1 := url.QueryUnescape(user)
	dp, err2 := url.QueryUnescape(pass)
	if err1 == nil && err2 == nil && try(du, dp) {
		return du, true
	}
	return "", false
}
