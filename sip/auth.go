package sip

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/icholy/digest"

	gosip "github.com/emiago/sipgo/sip"
)

const (
	metaNonceSecret = "sip.nonce_secret"
	metaClean       = "sip.clean_shutdown"
	nonceLifetime   = 5 * time.Minute
)

// authenticator checks RFC 8760 digest credentials (MD5 and SHA-256,
// qop=auth). Nonces are stateless, an HMAC of their issue time, so they
// survive restarts and need no table.
type authenticator struct {
	realm  string
	secret []byte
	algs   []string // offered in this order
	now    func() time.Time

	// used remembers (nonce, cnonce, nc) triples for as long as their nonce
	// lives, so a captured Authorization header cannot be replayed (RFC 7616
	// 3.4); phones bump nc or take a new nonce for every request.
	mu   sync.Mutex
	used map[string]time.Time
}

func newAuthenticator(realm string, secret []byte, algs []string) *authenticator {
	if len(algs) == 0 {
		algs = []string{"MD5", "SHA-256"}
	}
	return &authenticator{realm: realm, secret: secret, algs: algs, now: time.Now, used: map[string]time.Time{}}
}

// fresh records a use of a nonce and reports whether it is the first.
func (a *authenticator) fresh(nonce, cnonce string, nc int) bool {
	key := nonce + "|" + cnonce + "|" + strconv.Itoa(nc)
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.used[key]; ok {
		return false
	}
	a.used[key] = a.now()
	return true
}

// sweep forgets uses of nonces that have expired anyway.
func (a *authenticator) sweep() {
	cutoff := a.now().Add(-nonceLifetime - 2*time.Minute)
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, t := range a.used {
		if t.Before(cutoff) {
			delete(a.used, k)
		}
	}
}

func (a *authenticator) offers(alg string) bool {
	for _, x := range a.algs {
		if strings.EqualFold(x, alg) {
			return true
		}
	}
	return false
}

func (s *Server) nonceSecret(ctx context.Context) ([]byte, error) {
	v, ok, err := s.opt.Store.Meta(ctx, metaNonceSecret)
	if err != nil {
		return nil, fmt.Errorf("sip: read nonce secret: %w", err)
	}
	if ok {
		if b, err := hex.DecodeString(v); err == nil && len(b) >= 16 {
			return b, nil
		}
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	if err := s.opt.Store.SetMeta(ctx, metaNonceSecret, hex.EncodeToString(b)); err != nil {
		return nil, fmt.Errorf("sip: save nonce secret: %w", err)
	}
	return b, nil
}

// nonce is issue time, 8 random bytes (so every challenge differs, even
// within one second) and an HMAC of both.
func (a *authenticator) nonce() string {
	var b [nonceLen]byte
	binary.BigEndian.PutUint64(b[:8], uint64(a.now().Unix()))
	_, _ = rand.Read(b[8:16])
	m := hmac.New(sha256.New, a.secret)
	m.Write(b[:16])
	copy(b[16:], m.Sum(nil))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

const nonceLen = 8 + 8 + 16

// nonceState reports whether a nonce is ours and whether it is still fresh.
func (a *authenticator) nonceState(n string) (ours, fresh bool) {
	b, err := base64.RawURLEncoding.DecodeString(n)
	if err != nil || len(b) != nonceLen {
		return false, false
	}
	m := hmac.New(sha256.New, a.secret)
	m.Write(b[:16])
	if !hmac.Equal(m.Sum(nil)[:16], b[16:]) {
		return false, false
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(b[:8])), 0)
	age := a.now().Sub(issued)
	return true, age >= -time.Minute && age <= nonceLifetime
}

// challenge is a 401 offering the configured algorithms in order, one
// WWW-Authenticate each (RFC 8760 section 2.4).
func (a *authenticator) challenge(stale bool) *StatusError {
	n := a.nonce()
	var hdrs []gosip.Header
	for _, alg := range a.algs {
		c := digest.Challenge{Realm: a.realm, Nonce: n, Algorithm: alg, QOP: []string{"auth"}, Stale: stale}
		hdrs = append(hdrs, gosip.NewHeader("WWW-Authenticate", c.String()))
	}
	return fail(401, "Unauthorized", hdrs...)
}

// proxyChallenge is the same challenge as a 407 with Proxy-Authenticate.
func (a *authenticator) proxyChallenge(stale bool, reason string) *StatusError {
	c := a.challenge(stale)
	c.Code, c.Reason = 407, reason
	for i, h := range c.Headers {
		c.Headers[i] = gosip.NewHeader("Proxy-Authenticate", h.Value())
	}
	return c
}

// verify returns the authenticated extension, or the answer to send.
func (s *Server) authenticate(req *gosip.Request) (string, *StatusError) {
	return s.verifyDigest(req, "Authorization", s.auth.challenge)
}

// authenticateProxy checks Proxy-Authorization, challenging with 407 (RFC
// 3261 22.3): what a proxy asks of a caller it does not know.
func (s *Server) authenticateProxy(req *gosip.Request) (string, *StatusError) {
	return s.verifyDigest(req, "Proxy-Authorization", func(stale bool) *StatusError {
		return s.auth.proxyChallenge(stale, "Proxy Authentication Required")
	})
}

func (s *Server) verifyDigest(req *gosip.Request, name string, challenge func(stale bool) *StatusError) (string, *StatusError) {
	h := req.GetHeader(name)
	if h == nil {
		return "", challenge(false)
	}
	cred, err := digest.ParseCredentials(h.Value())
	if err != nil {
		return "", fail(400, "Malformed "+name+" header")
	}
	if cred.Realm != s.auth.realm {
		return "", challenge(false)
	}
	alg := strings.ToUpper(cred.Algorithm)
	if !s.auth.offers(alg) && !(alg == "" && s.auth.offers("MD5")) {
		return "", challenge(false)
	}
	ours, fresh := s.auth.nonceState(cred.Nonce)
	if !ours {
		return "", challenge(false)
	}
	acct, ok := s.opt.Directory.Account(cred.Username)
	if !ok || acct.Password == "" {
		return "", fail(403, "Wrong user name or password")
	}
	if !uriMatches(cred.URI, &req.Recipient) {
		return "", fail(400, "Authorization uri does not match the Request-URI")
	}
	chal := &digest.Challenge{Realm: cred.Realm, Nonce: cred.Nonce, Algorithm: alg, Opaque: cred.Opaque}
	if cred.QOP != "" {
		chal.QOP = []string{cred.QOP}
	}
	want, err := digest.Digest(chal, digest.Options{
		Method:   req.Method.String(),
		URI:      cred.URI,
		Username: cred.Username,
		Password: acct.Password,
		Cnonce:   cred.Cnonce,
		Count:    cred.Nc,
	})
	if err != nil {
		return "", fail(400, "Unsupported digest parameters")
	}
	if subtle.ConstantTimeCompare([]byte(want.Response), []byte(strings.ToLower(cred.Response))) != 1 {
		return "", fail(403, "Wrong user name or password")
	}
	if !fresh {
		// Right password, old nonce: ask again without bothering the user.
		return "", challenge(true)
	}
	if cred.QOP != "" && !s.auth.fresh(cred.Nonce, cred.Cnonce, cred.Nc) {
		// A replayed header: a new nonce lets a real phone answer at once.
		return "", challenge(true)
	}
	return cred.Username, nil
}

// uriMatches compares the digest-uri with the Request-URI the way phones
// write them: same user and host, parameters ignored.
func uriMatches(digestURI string, ruri *gosip.Uri) bool {
	var u gosip.Uri
	if err := gosip.ParseUri(digestURI, &u); err != nil {
		return false
	}
	return strings.EqualFold(u.User, ruri.User) && strings.EqualFold(u.Host, ruri.Host)
}
