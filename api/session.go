package api

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/blfgw/blfgw/presence"
)

const (
	sessionCookie     = "blfgw_session"
	defaultSessionTTL = 8 * time.Hour
	csrfHeader        = "X-CSRF-Token"

	// maxSessionsPerUser bounds what one user with the right password can
	// make us hold; past it, their session that ends first goes.
	maxSessionsPerUser = 16
)

// session is one browser's sign-in. Sessions live only in memory: a
// restart signs every browser out, which costs a user one login and
// spares us storing anything that would let a stolen database sign in.
type session struct {
	number string
	pwMAC  []byte // binds the session to the password it was opened with
	csrf   string
	exp    time.Time
}

// sessions maps sha256(cookie value) to its session; keyed by a hash so
// that neither a map lookup's timing nor a memory dump gives a cookie
// away.
type sessions struct {
	mu    sync.Mutex
	m     map[[32]byte]*session
	swept time.Time
}

func newSessions() *sessions { return &sessions{m: map[[32]byte]*session{}} }

func sessionKey(cookie string) [32]byte { return sha256.Sum256([]byte(cookie)) }

// add stores a new session and returns its cookie value. Expired sessions
// are swept here, at most once a minute: only a login adds to the map, so
// without logins it cannot grow.
func (ss *sessions) add(now time.Time, se *session) (string, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("session id: %w", err)
	}
	cookie := base64.RawURLEncoding.EncodeToString(raw[:])
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if now.Sub(ss.swept) >= time.Minute {
		ss.swept = now
		for k, o := range ss.m {
			if !now.Before(o.exp) {
				delete(ss.m, k)
			}
		}
	}
	var mine [][32]byte
	for k, o := range ss.m {
		if o.number == se.number {
			mine = append(mine, k)
		}
	}
	for len(mine) >= maxSessionsPerUser {
		first := 0
		for i, k := range mine {
			if ss.m[k].exp.Before(ss.m[mine[first]].exp) {
				first = i
			}
		}
		delete(ss.m, mine[first])
		mine = append(mine[:first], mine[first+1:]...)
	}
	ss.m[sessionKey(cookie)] = se
	return cookie, nil
}

func (ss *sessions) get(cookie string) (*session, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	se, ok := ss.m[sessionKey(cookie)]
	return se, ok
}

func (ss *sessions) remove(cookie string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, sessionKey(cookie))
}

func (ss *sessions) len() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.m)
}

// sessionMAC is like the tokens' MAC: a password change in the file makes
// every session opened under the old password invalid.
func (s *Server) sessionMAC(number, pw string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("blfgw session v1\x00"))
	m.Write([]byte(number))
	m.Write([]byte{0})
	h := sha256.Sum256([]byte(pw))
	m.Write(h[:])
	return m.Sum(nil)
}

var (
	errSessionExpired = errors.New("your session has expired; sign in again with POST /api/v1/session")
	errSessionGone    = errors.New("your session has ended (signed out, expired, the password changed or the server restarted); sign in again with POST /api/v1/session")
)

// checkSession returns the valid session of a cookie value.
func (s *Server) checkSession(cookie string, now time.Time) (*session, error) {
	se, ok := s.sess.get(cookie)
	if !ok {
		return nil, errSessionGone
	}
	if !now.Before(se.exp) {
		return nil, errSessionExpired
	}
	pw, ok := s.opt.Password(se.number)
	_, known := s.person(se.number)
	if !ok || pw == "" || !known || !hmac.Equal(se.pwMAC, s.sessionMAC(se.number, pw)) {
		s.sess.remove(cookie)
		return nil, errSessionGone
	}
	return se, nil
}

// cookieCaller authenticates by the session cookie. A cookie we do not
// know is not counted as a failed login: after a restart every open page
// comes back with one, and an EventSource retries every two seconds; a
// 256-bit random value is not worth guessing anyway.
func (s *Server) cookieCaller(w http.ResponseWriter, cookie string) (caller, bool) {
	se, err := s.checkSession(cookie, s.now())
	if err != nil {
		s.unauthorizedAs(w, sessionChallenge, err.Error())
		return caller{}, false
	}
	pe, ok := s.person(se.number)
	if !ok {
		s.unauthorizedAs(w, sessionChallenge, errSessionGone.Error())
		return caller{}, false
	}
	return caller{Person: pe, sess: se, still: func(now time.Time) bool {
		got, err := s.checkSession(cookie, now)
		return err == nil && got == se
	}}, true
}

// safeMethod: requests that change nothing, which need no CSRF token.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// csrfOK: a change made with the session cookie must carry the session's
// CSRF token in a header, which another site's page cannot set or read.
// SameSite=Strict already keeps the cookie off cross-site requests; this
// is the second lock, for browsers and sibling subdomains it does not
// cover.
func csrfOK(w http.ResponseWriter, r *http.Request, me caller) bool {
	if me.sess == nil || safeMethod(r.Method) {
		return true
	}
	got := r.Header.Get(csrfHeader)
	if got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(me.sess.csrf)) == 1 {
		return true
	}
	msg := "missing " + csrfHeader + " header: a change made with the session cookie must carry the csrf_token of POST /api/v1/session"
	if got != "" {
		msg = "wrong " + csrfHeader + " header: it must be the csrf_token of this session"
	}
	writeError(w, http.StatusForbidden, "csrf", msg)
	return false
}

type sessionJSON struct {
	Number    string `json:"number"`
	Name      string `json:"name"`
	Role      string `json:"role"` // the page shows the admin view to admins
	CSRFToken string `json:"csrf_token"`
	ExpiresAt string `json:"expires_at"`
}

func sessionOf(pe presence.Person, se *session) sessionJSON {
	return sessionJSON{Number: se.number, Name: pe.Name, Role: string(pe.Role), CSRFToken: se.csrf, ExpiresAt: se.exp.UTC().Format(time.RFC3339)}
}

// sessionRoute serves /api/v1/session. It is not a route: signing in
// needs no credentials but the body's, and the other methods know only
// the cookie.
func (s *Server) sessionRoute(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	switch r.Method {
	case http.MethodPost:
		s.createSession(w, r)
	case http.MethodGet, http.MethodDelete:
		c, err := r.Cookie(sessionCookie)
		if err != nil {
			s.unauthorizedAs(w, sessionChallenge, "not signed in: no "+sessionCookie+" cookie; sign in with POST /api/v1/session")
			return
		}
		me, ok := s.cookieCaller(w, c.Value)
		if !ok {
			if r.Method == http.MethodDelete {
				clearSessionCookie(w, r)
			}
			return
		}
		if r.Method == http.MethodGet {
			writeJSON(w, http.StatusOK, sessionOf(me.Person, me.sess))
			return
		}
		if !csrfOK(w, r, me) {
			return
		}
		s.sess.remove(c.Value)
		clearSessionCookie(w, r)
		s.pokeStreams(me.Number) // its event streams end now, not at the next ping
		s.opt.Log.Info("api: signed out", "number", me.Number)
		w.WriteHeader(http.StatusNoContent)
	default:
		notAllowed(w, r, "DELETE", "GET", "POST")
	}
}

type loginJSON struct {
	Number   string `json:"number"`
	Password string `json:"password"`
}

func (s *Server) createSession(w http.ResponseWriter, r *http.Request) {
	// JSON only: a cross-site form cannot send it without a CORS
	// preflight, which we never grant.
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type",
			fmt.Sprintf("Content-Type must be application/json, not %q", r.Header.Get("Content-Type")))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the body is larger than %d bytes", maxBody))
			return
		}
		writeError(w, http.StatusBadRequest, "bad_json", fmt.Sprintf("reading the body: %v", err))
		return
	}
	var in loginJSON
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		field, msg := jsonProblem(err)
		writeFieldError(w, http.StatusBadRequest, "bad_json", msg, field)
		return
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "bad_json", "unexpected data after the JSON object")
		return
	}
	if in.Number == "" || in.Password == "" {
		field := "number"
		if in.Number != "" {
			field = "password"
		}
		writeFieldError(w, http.StatusBadRequest, "invalid", "number and password are both required", field)
		return
	}
	pe, ok := s.login(w, r, in.Number, in.Password, sessionChallenge)
	if !ok {
		return
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		s.fail(w, r, fmt.Errorf("csrf token: %w", err))
		return
	}
	now := s.now()
	se := &session{
		number: pe.Number,
		pwMAC:  s.sessionMAC(pe.Number, in.Password),
		csrf:   base64.RawURLEncoding.EncodeToString(raw[:]),
		exp:    now.Add(s.sessionTTL).Truncate(time.Second),
	}
	cookie, err := s.sess.add(now, se)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// No Max-Age: the browser keeps the cookie until it closes, and one
	// that outlived its session earns a 401 that says so, where a cookie
	// the browser dropped by itself would earn a Basic challenge and the
	// browser's own password dialog.
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: cookie, Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: overTLS(r),
	})
	s.opt.Log.Info("api: signed in", "number", pe.Number, "expires", se.exp, "addr", addrKey(r.RemoteAddr))
	writeJSON(w, http.StatusOK, sessionOf(pe, se))
}

// overTLS: the browser reached us over HTTPS, directly or through a
// reverse proxy that ends TLS and says so. The header is believed without
// a trusted proxy list because all it can do is make the sender's own
// cookie Secure.
func overTLS(r *http.Request) bool {
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		return true
	}
	for _, part := range strings.FieldsFunc(strings.ToLower(r.Header.Get("Forwarded")), func(c rune) bool { return c == ';' || c == ',' }) {
		if strings.TrimSpace(part) == "proto=https" {
			return true
		}
	}
	return false
}

func clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: overTLS(r),
	})
}
