package fakegenesys

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// newGUID returns a random version 4 GUID in the lower-case form Genesys
// Cloud uses for every id.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error.
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return fmt.Sprintf("%s-%s-%s-%s-%s", h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])
}

// isGUID reports whether s has the 8-4-4-4-12 hexadecimal form.
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
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// channelEncoding gives channel ids the shape of real ones
// ("streaming-0-fmtdmf8cdis7jh14udg5p89t6z"): lower-case base32hex.
var channelEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

func newChannelID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "streaming-0-" + channelEncoding.EncodeToString(b[:])
}

// randomToken returns an opaque access token. Real Genesys tokens are
// opaque too, so clients cannot come to depend on their content.
func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return strings.TrimRight(base32.StdEncoding.EncodeToString(b[:]), "=")
}

// isoTime formats t the way Genesys Cloud writes dates:
// "2023-08-21T15:54:31.904Z".
func isoTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}
