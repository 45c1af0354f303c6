package dialog

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Held reports whether an SDP offer puts the call on hold: every active
// media stream (an m= line with a non-zero port) is either sendonly or
// inactive (RFC 3264 section 8.4), or has the connection address 0.0.0.0
// (the older RFC 2543 style). Media-level a= and c= lines override the
// session-level ones. Streams with port 0 are disabled and ignored; an offer
// whose streams are all disabled is not a hold. ok is false when sdp is not a
// session description Held can read (no v= line, or no well-formed m= line).
func Held(sdp []byte) (held, ok bool) {
	type stream struct {
		active    bool // port is not 0
		dir       string
		hasC, nul bool // a c= line, and whether it is 0.0.0.0
	}
	var (
		version   bool
		sessDir   string
		sessNul   bool
		streams   []stream
		cur       *stream // the media section being read; nil at session level
		badStream bool    // the current m= line could not be read; skip its section
	)
	for line := range bytes.Lines(sdp) {
		l := strings.TrimSpace(string(line))
		if len(l) < 2 || l[1] != '=' {
			continue
		}
		val := l[2:]
		switch l[0] {
		case 'v':
			version = true
		case 'm':
			port, good := mediaPort(val)
			badStream = !good
			if !good {
				cur = nil
				continue
			}
			streams = append(streams, stream{active: port != 0})
			cur = &streams[len(streams)-1]
		case 'c':
			if badStream {
				continue
			}
			nul := nullAddress(val)
			if cur == nil {
				sessNul = nul
			} else {
				cur.hasC, cur.nul = true, nul
			}
		case 'a':
			if badStream {
				continue
			}
			dir, isDir := direction(val)
			if !isDir {
				continue
			}
			if cur == nil {
				sessDir = dir
			} else {
				cur.dir = dir
			}
		}
	}
	if !version || len(streams) == 0 {
		return false, false
	}
	active := 0
	for _, s := range streams {
		if !s.active {
			continue
		}
		active++
		dir, nul := s.dir, s.nul
		if dir == "" {
			dir = sessDir
		}
		if !s.hasC {
			nul = sessNul
		}
		if dir != "sendonly" && dir != "inactive" && !nul {
			return false, true
		}
	}
	return active > 0, true
}

// mediaPort reads the port of an m= line value ("audio 49170/2 RTP/AVP 0").
func mediaPort(val string) (int, bool) {
	f := strings.Fields(val)
	if len(f) < 3 {
		return 0, false
	}
	p, _, _ := strings.Cut(f[1], "/")
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return 0, false
	}
	return port, true
}

// nullAddress reports whether a c= line value is the hold address
// "IN IP4 0.0.0.0" (a TTL suffix allowed).
func nullAddress(val string) bool {
	f := strings.Fields(val)
	if len(f) < 3 || !strings.EqualFold(f[0], "IN") || !strings.EqualFold(f[1], "IP4") {
		return false
	}
	addr, _, _ := strings.Cut(f[2], "/")
	return addr == "0.0.0.0"
}

// direction reads a direction attribute (RFC 4566 sendrecv, sendonly,
// recvonly, inactive) from an a= line value.
func direction(val string) (string, bool) {
	switch v := strings.ToLower(strings.TrimSpace(val)); v {
	case "sendrecv", "sendonly", "recvonly", "inactive":
		return v, true
	}
	return "", false
}

// CheckSDP reports what makes sdp unreadable as a session description
// (RFC 4566 section 5): it must begin with v=0, every line must be
// "<letter>=<value>", and it needs an o= line, at least one m= line and
// each m= line well formed. It is lenient about everything a phone may
// legitimately vary (order of attributes, unknown lines, LF endings).
func CheckSDP(sdp []byte) error {
	n, media := 0, 0
	origin := false
	for line := range bytes.Lines(sdp) {
		l := strings.TrimRight(string(line), "\r\n")
		if l == "" {
			continue
		}
		n++
		if len(l) < 2 || l[1] != '=' || l[0] < 'a' || l[0] > 'z' {
			return fmt.Errorf("line %d is not <type>=<value>", n)
		}
		switch l[0] {
		case 'v':
			if n != 1 || l != "v=0" {
				return fmt.Errorf("line %d: want v=0 as the first line", n)
			}
		case 'o':
			origin = true
		case 'm':
			if _, ok := mediaPort(l[2:]); !ok || len(strings.Fields(l[2:])) < 4 {
				return fmt.Errorf("line %d: malformed m= line", n)
			}
			media++
		}
		if n == 1 && l[0] != 'v' {
			return errors.New("the first line is not v=0")
		}
	}
	switch {
	case n == 0:
		return errors.New("empty body")
	case !origin:
		return errors.New("no o= line")
	case media == 0:
		return errors.New("no m= line")
	}
	return nil
}
