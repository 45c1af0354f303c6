package fakegraph

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// newGUID returns a random version 4 GUID in the lower-case form Graph uses.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error.
	return formatGUID(b)
}

// nameGUID derives a stable GUID from a name, so a service account that is
// not in Options.Users still has the same object id on every run.
func nameGUID(name string) string {
	sum := sha256.Sum256([]byte("fakegraph:" + strings.ToLower(name)))
	var b [16]byte
	copy(b[:], sum[:16])
	return formatGUID(b)
}

func formatGUID(b [16]byte) string {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return fmt.Sprintf("%s-%s-%s-%s-%s", h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])
}

// isGUID reports whether s has the 8-4-4-4-12 hexadecimal form. Graph wants
// object ids in exactly this form in batch requests and subscription filters.
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isHex(c) {
				return false
			}
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// randomToken returns an opaque bearer or refresh token.
func randomToken(prefix string) string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}
