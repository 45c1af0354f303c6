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
	"strings"
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
	now    func() time.Time
}

func newAuthenticator(realm string, secret []byte) *authenticator {
	return &authenticator{realm: realm, secret: secret, now: time.Now}
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

func (a *authenticator) nonce() string {
	var b [8 + 16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(a.now().Unix()))
	m := hmac.New(sha256.New, a.secret)
	m.Write(b[:8])
	copy(b[8:], m.Sum(nil))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// nonceState reports whether a nonce is ours and whether it is still fresh.
func (a *authenticator) nonceState(n string) (ours, fresh bool) {
	b, err := base64.RawURLEncoding.DecodeString(n)
	if err != nil || len(b) != 24 {
		return false, false
	}
	m := hmac.New(sha256.New, a.secret)
	m.Write(b[:8])
	if !hmac.Equal(m.Sum(nil)[:16], b[8:]) {
		return false, false
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(b[:8])), 0)
	age := a.now().Sub(issued)
	return true, age >= -time.Minute && age <= nonceLifetime
}

// challenge is a 401 offering SHA-256 first and MD5 for older phones
// (RFC 8760 section 2.4).
func (a *authenticator) challenge(stale bool) *StatusError {
	n := a.nonce()
	var hdrs []gosip.Header
	for _, alg := range []string{"SHA-256", "MD5"} {
		c := digest.Challenge{Realm: a.realm, Nonce: n, Algorithm: alg, QOP: []string{"auth"}, Stale: stale}
		hdrs = append(hdrs, gosip.NewHeader("WWW-Authenticate", c.String()))
	}
	return fail(401, "Unauthorized", hdrs...)
}

// verify returns the authenticated extension, or the answer to send.
func (s *Server) authenticate(req *gosip.Request) (string, *StatusError) {
	h := req.GetHeader("Authorization")
	if h == nil {
		return "", s.auth.challenge(false)
	}
	cred, err := digest.ParseCredentials(h.Value())
	if err != nil {
		return "", fail(400, "Malformed Authorization header")
	}
	if cred.Realm != s.auth.realm {
		return "", s.auth.challenge(false)
	}
	alg := strings.ToUpper(cred.Algorithm)
	if alg != "" && alg != "MD5" && alg != "SHA-256" {
		return "", s.auth.challenge(false)
	}
	ours, fresh := s.auth.nonceState(cred.Nonce)
	if !ours {
		return "", s.auth.challenge(false)
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
		return "", s.auth.challenge(true)
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
