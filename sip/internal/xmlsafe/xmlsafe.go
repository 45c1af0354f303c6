// Package xmlsafe holds the hostile-input XML reading and escaping shared by
// blfgw's SIP body codecs, sip/dialoginfo and sip/pidf.
//
// Both codecs write their documents by appending bytes, because encoding
// sits on the NOTIFY fan-out path, and both read PUBLISH bodies that come
// from the network. The rules for doing either safely (which characters XML
// can carry and how to escape them, no DTDs, bounded depth, UTF-8 only,
// error text fit for a SIP reason phrase) are the same for both, so they
// live here once rather than in two copies that drift apart. Vocabulary,
// limits and the exported error types stay with each codec.
package xmlsafe

import "unicode/utf8"

// textSafe and attrSafe mark the ASCII bytes that are copied unchanged into
// element content and into double-quoted attribute values. Tab and LF are
// escaped in attributes because other parsers normalise them to spaces.
var textSafe, attrSafe [256]bool

func init() {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		switch c {
		case '&', '<', '>', '"', '\'':
		default:
			textSafe[c], attrSafe[c] = true, true
		}
	}
	textSafe['\t'], textSafe['\n'] = true, true
}

// AppendText appends s escaped for element content. Characters XML 1.0
// forbids are dropped (see Valid): emitting them would make the whole
// document unparsable for the phone.
func AppendText(dst []byte, s string) []byte { return appendEscaped(dst, s, &textSafe) }

// AppendAttr appends s escaped for a double-quoted attribute value,
// dropping what AppendText drops.
func AppendAttr(dst []byte, s string) []byte { return appendEscaped(dst, s, &attrSafe) }

// appendEscaped appends s, copying the bytes safe marks as is and escaping
// or dropping the others. It never allocates if dst has room.
func appendEscaped(dst []byte, s string, safe *[256]bool) []byte {
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		if safe[c] {
			i++
			continue
		}
		var esc string
		n := 1
		switch c {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '"':
			esc = "&quot;"
		case '\'':
			esc = "&apos;"
		case '\t':
			esc = "&#9;"
		case '\n':
			esc = "&#10;"
		case '\r':
			// A raw CR would be read back as LF.
			esc = "&#13;"
		default:
			if c >= utf8.RuneSelf {
				var r rune
				r, n = utf8.DecodeRuneInString(s[i:])
				if xmlChar(r, n) {
					i += n
					continue
				}
			}
			// Forbidden: drop it (esc stays "").
		}
		dst = append(dst, s[last:i]...)
		dst = append(dst, esc...)
		i += n
		last = i
	}
	return append(dst, s[last:]...)
}

// xmlChar reports whether the rune r, decoded from n bytes, is an XML 1.0
// Char. Go never decodes a surrogate, so those need no check.
func xmlChar(r rune, n int) bool {
	switch {
	case r == utf8.RuneError && n == 1:
		return false
	case r < 0x20:
		return r == '\t' || r == '\n' || r == '\r'
	case r == 0xFFFE || r == 0xFFFF:
		return false
	}
	return true
}

// Valid reports whether AppendText and AppendAttr would keep every
// character of s: it rejects most C0 controls, U+FFFE, U+FFFF and invalid
// UTF-8. The codecs' Validate methods use it to tell a caller beforehand
// that a value would not survive encoding.
func Valid(s string) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !xmlChar(r, n) {
			return false
		}
		i += n
	}
	return true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// TrimSpace trims XML white space, which is narrower than Unicode's: a
// no-break space, say, is content and must survive a round trip.
func TrimSpace(s string) string {
	i, j := 0, len(s)
	for i < j && isSpace(s[i]) {
		i++
	}
	for j > i && isSpace(s[j-1]) {
		j--
	}
	return s[i:j]
}

func allSpace(b []byte) bool {
	for _, c := range b {
		if !isSpace(c) {
			return false
		}
	}
	return true
}

// Clean makes s safe for a SIP reason phrase, where the codecs' error texts
// end up: printable ASCII only, at most max bytes (max >= 3). Text from the
// input can reach an error message, so nothing else may pass.
func Clean(s string, max int) string {
	ok := len(s) <= max
	for i := 0; ok && i < len(s); i++ {
		ok = s[i] >= 0x20 && s[i] < 0x7f
	}
	if ok {
		return s
	}
	b := make([]byte, 0, max+1)
	for i := 0; i < len(s) && len(b) <= max; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b = append(b, c)
		} else if c < 0x80 || c >= 0xC0 {
			// One '?' per control char or per UTF-8 sequence.
			b = append(b, '?')
		}
	}
	if len(b) > max {
		b = append(b[:max-3], "..."...)
	}
	return string(b)
}
