package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/blfgw/blfgw/presence"
)

const (
	tokenTTL = 12 * time.Hour

	// maxFailures failed logins within failWindow block an extension, or a
	// source address, until the oldest of them leaves the window. Ten a
	// minute is plenty for a person mistyping and far too few to guess a
	// SIP password.
	maxFailures = 10
	failWindow  = time.Minute

	// maxTrackedAddrs bounds the memory an attacker with many addresses
	// can make us spend; past it new addresses go uncounted, but the
	// per-extension limit still protects every password.
	maxTrackedAddrs = 50_000
)

// caller is the authenticated user of a request.
type caller struct {
	presence.Person
	basic bool     // proved with the password, not a token
	sess  *session // signed in by the browser session cookie; changes need the CSRF header
	// still reports whether the credentials the request came with are
	// still good: a stream that outlives them must end.
	still func(now time.Time) bool
}

var (
	errBadToken = errors.New("the token is invalid")
	errExpired  = errors.New("the token has expired; get a new one from POST /api/v1/token")
)

func (s *Server) now() time.Time { return time.Now().Add(time.Duration(s.skew.Load())) }

// person is a configured extension's user, from the rules in force.
func (s *Server) person(number string) (presence.Person, bool) {
	p := s.opt.Hub.Policy()
	if p == nil {
		return presence.Person{}, false
	}
	return p.Person(number)
}

// authenticate returns the caller, or writes the refusal and returns false.
// An Authorization header wins over the session cookie: a script that
// names its credentials means them.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (caller, bool) {
	now := s.now()
	addr := addrKey(r.RemoteAddr)
	h := r.Header.Get("Authorization")
	if h == "" {
		if c, err := r.Cookie(sessionCookie); err == nil {
			return s.cookieCaller(w, c.Value)
		}
		s.unauthorized(w, "authentication required: HTTP Basic with your extension number and SIP password, a Bearer token, or a session from POST /api/v1/session")
		return caller{}, false
	}
	scheme, cred, _ := strings.Cut(h, " ")
	switch {
	case strings.EqualFold(scheme, "Basic"):
		number, pw, ok := r.BasicAuth()
		if !ok {
			s.unauthorized(w, "malformed Basic credentials")
			return caller{}, false
		}
		pe, ok := s.login(w, r, number, pw, basicChallenge)
		if !ok {
			return caller{}, false
		}
		sum := sha256.Sum256([]byte(pw))
		return caller{Person: pe, basic: true, still: func(time.Time) bool {
			cur, ok := s.opt.Password(number)
			_, known := s.person(number)
			return ok && known && sha256.Sum256([]byte(cur)) == sum
		}}, true
	case strings.EqualFold(scheme, "Bearer"):
		if s.tooMany(w, s.byAddr.wait(now, addr)) {
			return caller{}, false
		}
		tok := strings.TrimSpace(cred)
		pe, err := s.verifyToken(tok, now)
		if err != nil {
			// An expired token is one we issued: a client that overslept,
			// not a guesser.
			if !errors.Is(err, errExpired) {
				s.byAddr.fail(now, addr)
				s.opt.Log.Warn("api: bad token", "addr", addr)
			}
			s.unauthorized(w, err.Error())
			return caller{}, false
		}
		return caller{Person: pe, still: func(now time.Time) bool {
			_, err := s.verifyToken(tok, now)
			return err == nil
		}}, true
	}
	s.unauthorized(w, "unsupported authorization scheme; use Basic or Bearer")
	return caller{}, false
}

// login checks an extension's password under the failed-login limits, for
// HTTP Basic and for a browser session alike, or writes the refusal (with
// challenge) and returns false.
func (s *Server) login(w http.ResponseWriter, r *http.Request, number, pw, challenge string) (presence.Person, bool) {
	now := s.now()
	addr := addrKey(r.RemoteAddr)
	// A blocked extension is refused even with the right password, or
	// the limit would only slow a guesser down, not stop them.
	if s.tooMany(w, s.byAddr.wait(now, addr), s.byExt.wait(now, number)) {
		return presence.Person{}, false
	}
	pe, ok := s.checkPassword(number, pw)
	if !ok {
		s.byAddr.fail(now, addr)
		if _, known := s.person(number); known {
			// Only configured numbers: their count is bounded.
			s.byExt.fail(now, number)
		}
		s.opt.Log.Warn("api: login failed", "number", clip(number), "addr", addr)
		s.unauthorizedAs(w, challenge, "wrong extension number or password")
		return presence.Person{}, false
	}
	return pe, true
}

// dummy stands in for the password of an unknown extension, so that a
// wrong number takes as long as a wrong password.
var dummy = sha256.Sum256([]byte("blfgw: no such extension"))

// checkPassword compares in constant time, over hashes so that the length
// of the password does not show either.
func (s *Server) checkPassword(number, pw string) (presence.Person, bool) {
	want, ok := s.opt.Password(number)
	pe, known := s.person(number)
	w := dummy
	if ok && want != "" {
		w = sha256.Sum256([]byte(want))
	} else {
		// An extension without a password cannot log in with an empty one.
		ok = false
	}
	got := sha256.Sum256([]byte(pw))
	match := subtle.ConstantTimeCompare(got[:], w[:]) == 1
	return pe, match && ok && known
}

// The challenges of a 401. A browser answers a Basic challenge to its own
// page's fetch with a password dialog of its own, so what a browser
// session gets names a scheme no browser acts on.
const (
	basicChallenge   = `Basic realm="blfgw"`
	sessionChallenge = `Session realm="blfgw"`
)

func (s *Server) unauthorized(w http.ResponseWriter, msg string) {
	s.unauthorizedAs(w, basicChallenge, msg)
}

func (s *Server) unauthorizedAs(w http.ResponseWriter, challenge, msg string) {
	w.Header().Set("WWW-Authenticate", challenge)
	writeError(w, http.StatusUnauthorized, "unauthorized", msg)
}

// tooMany writes a 429 if any wait is positive.
func (s *Server) tooMany(w http.ResponseWriter, waits ...time.Duration) bool {
	var d time.Duration
	for _, x := range waits {
		d = max(d, x)
	}
	if d <= 0 {
		return false
	}
	secs := int(math.Ceil(d.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeError(w, http.StatusTooManyRequests, "too_many_attempts",
		"too many failed logins; try again in "+strconv.Itoa(secs)+" s")
	return true
}

// A token is base64url(number "\n" expiry-unix) "." base64url(mac). It is
// stateless: the MAC, with TokenKey, proves we issued it. The MAC also
// covers a hash of the extension's current SIP password, so changing the
// password revokes every token issued under the old one.
func (s *Server) issueToken(number, pw string, exp time.Time) string {
	p := base64.RawURLEncoding.EncodeToString([]byte(number + "\n" + strconv.FormatInt(exp.Unix(), 10)))
	return p + "." + base64.RawURLEncoding.EncodeToString(s.mac(p, pw))
}

func (s *Server) mac(payload, pw string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("blfgw token v1\x00"))
	m.Write([]byte(payload))
	h := sha256.Sum256([]byte(pw)) // fixed length: no ambiguity where the payload ends
	m.Write(h[:])
	return m.Sum(nil)
}

func (s *Server) verifyToken(tok string, now time.Time) (presence.Person, error) {
	p, sig, ok := strings.Cut(tok, ".")
	if !ok {
		return presence.Person{}, errBadToken
	}
	raw, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return presence.Person{}, errBadToken
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return presence.Person{}, errBadToken
	}
	i := strings.LastIndexByte(string(raw), '\n')
	if i < 0 {
		return presence.Person{}, errBadToken
	}
	number := string(raw[:i])
	pw, ok := s.opt.Password(number)
	if !ok || pw == "" || !hmac.Equal(got, s.mac(p, pw)) {
		return presence.Person{}, errBadToken
	}
	exp, err := strconv.ParseInt(string(raw[i+1:]), 10, 64)
	if err != nil {
		return presence.Person{}, errBadToken
	}
	if !now.Before(time.Unix(exp, 0)) {
		return presence.Person{}, errExpired
	}
	pe, ok := s.person(number)
	if !ok {
		return presence.Person{}, errBadToken // removed from the directory since
	}
	return pe, nil
}

// addrKey is the source address a failure counts against: the IP, or for
// IPv6 its /64, since one host commonly holds a whole /64. The API is not
// meant to sit behind a proxy, so X-Forwarded-For is not trusted.
func addrKey(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		pre, _ := ip.Prefix(64)
		return pre.String()
	}
	return ip.String()
}

// clip keeps what a client chose as user name from flooding the log.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// limiter counts failures per key in a sliding window.
type limiter struct {
	mu    sync.Mutex
	fails map[string][]time.Time // oldest first, at most maxFailures
	cap   int                    // most keys tracked; 0: unbounded
	swept time.Time              // last full sweep
}

func newLimiter(cap int) *limiter { return &limiter{fails: map[string][]time.Time{}, cap: cap} }

// wait is how long key stays blocked; 0 if it may try now.
func (l *limiter) wait(now time.Time, key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.trimLocked(now, key)
	if len(f) < maxFailures {
		return 0
	}
	return f[0].Add(failWindow).Sub(now)
}

func (l *limiter) fail(now time.Time, key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.trimLocked(now, key)
	if f == nil && l.cap > 0 && len(l.fails) >= l.cap {
		// A sweep walks every key; at most one a second, or a flood from
		// new addresses would make each of its failures cost that much.
		if now.Sub(l.swept) >= time.Second {
			l.swept = now
			l.sweepLocked(now)
		}
		if len(l.fails) >= l.cap {
			return
		}
	}
	if len(f) == maxFailures {
		f = f[1:]
	}
	l.fails[key] = append(f, now)
}

// trimLocked drops key's failures older than the window.
func (l *limiter) trimLocked(now time.Time, key string) []time.Time {
	f := l.fails[key]
	i := 0
	for i < len(f) && !f[i].Add(failWindow).After(now) {
		i++
	}
	if i == len(f) {
		delete(l.fails, key)
		return nil
	}
	if i > 0 {
		f = append(f[:0:0], f[i:]...)
		l.fails[key] = f
	}
	return f
}

func (l *limiter) sweepLocked(now time.Time) {
	for k := range l.fails {
		l.trimLocked(now, k)
	}
}
