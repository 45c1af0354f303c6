package dialog

import (
	"strings"
	"testing"
)

// sdp joins lines with CRLF, as on the wire.
func sdp(lines ...string) string { return strings.Join(lines, "\r\n") + "\r\n" }

const (
	sdpHead = "v=0\r\no=- 1 2 IN IP4 192.0.2.10\r\ns=-\r\nt=0 0\r\n"
	cLive   = "c=IN IP4 192.0.2.10"
	cNull   = "c=IN IP4 0.0.0.0"
	mAudio  = "m=audio 4000 RTP/AVP 0 8 101"
	mVideo  = "m=video 4002 RTP/AVP 96"
)

func TestHeld(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		held, ok bool
	}{
		{"sendrecv", sdpHead + sdp(cLive, mAudio, "a=sendrecv"), false, true},
		{"no direction", sdpHead + sdp(cLive, mAudio, "a=rtpmap:0 PCMU/8000"), false, true},
		{"sendonly", sdpHead + sdp(cLive, mAudio, "a=rtpmap:0 PCMU/8000", "a=sendonly"), true, true},
		{"inactive", sdpHead + sdp(cLive, mAudio, "a=inactive"), true, true},
		{"recvonly is not hold", sdpHead + sdp(cLive, mAudio, "a=recvonly"), false, true},
		{"session-level sendonly", sdpHead + sdp("a=sendonly", cLive, mAudio), true, true},
		{"media sendrecv overrides session sendonly", sdpHead + sdp("a=sendonly", cLive, mAudio, "a=sendrecv"), false, true},
		{"media inactive overrides session sendrecv", sdpHead + sdp("a=sendrecv", cLive, mAudio, "a=inactive"), true, true},
		{"0.0.0.0 session level", sdpHead + sdp(cNull, mAudio), true, true},
		{"0.0.0.0 media level", sdpHead + sdp(cLive, mAudio, cNull), true, true},
		{"0.0.0.0 with ttl", sdpHead + sdp(mAudio, "c=IN IP4 0.0.0.0/127"), true, true},
		{"media c= overrides session 0.0.0.0", sdpHead + sdp(cNull, mAudio, cLive), false, true},
		{"media c= overrides session address", sdpHead + sdp(cLive, mAudio, cNull, mVideo), false, true},
		{"both streams held, each its own way", sdpHead + sdp(cLive, mAudio, "a=sendonly", mVideo, cNull), true, true},
		{"one stream of two held", sdpHead + sdp(cLive, mAudio, "a=sendonly", mVideo, "a=sendrecv"), false, true},
		{"disabled stream ignored", sdpHead + sdp(cLive, mAudio, "a=sendonly", "m=video 0 RTP/AVP 96", "a=sendrecv"), true, true},
		{"disabled live stream ignored", sdpHead + sdp(cLive, "m=audio 0 RTP/AVP 0", mVideo), false, true},
		{"all streams disabled", sdpHead + sdp(cNull, "m=audio 0 RTP/AVP 0", "a=inactive"), false, true},
		{"LF and trailing spaces", "v=0  \no=- 1 2 IN IP4 192.0.2.10\ns=-\nc=IN IP4 192.0.2.10 \nt=0 0\nm=audio 4000 RTP/AVP 0 \na=sendonly   \n", true, true},
		{"no final newline", "v=0\r\nc=IN IP4 192.0.2.10\r\nm=audio 4000 RTP/AVP 0\r\na=inactive", true, true},
		{"port count", sdpHead + sdp(cLive, "m=audio 4000/2 RTP/AVP 0", "a=sendonly"), true, true},
		{"IP6 address is not 0.0.0.0", sdpHead + sdp("c=IN IP6 ::1", mAudio), false, true},
		{"IP6 unspecified address is not the RFC 2543 hold", sdpHead + sdp("c=IN IP6 ::", mAudio), false, true},
		{"direction in another attribute", sdpHead + sdp(cLive, mAudio, "a=fmtp:101 sendonly"), false, true},
		{"no m= line", sdpHead + sdp(cNull, "a=sendonly"), false, false},
		{"no v= line", sdp(cNull, mAudio, "a=sendonly"), false, false},
		{"malformed m= line only", sdpHead + sdp(cNull, "m=audio x RTP/AVP 0", "a=inactive"), false, false},
		{"malformed m= line's section skipped", sdpHead + sdp(cLive, "m=audio", cNull, mAudio), false, true},
		{"malformed m= line skipped", sdpHead + sdp(cLive, "m=audio", "a=sendrecv", mAudio, "a=sendonly"), true, true},
		{"empty", "", false, false},
		{"garbage", "\x00\xff=\r\n=\n\n\r\r m=audio 1", false, false},
		{"not sdp", "<?xml version=\"1.0\"?><dialog-info/>", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			held, ok := Held([]byte(tt.body))
			if held != tt.held || ok != tt.ok {
				t.Fatalf("Held = %v, %v; want %v, %v", held, ok, tt.held, tt.ok)
			}
		})
	}
}

func FuzzHeld(f *testing.F) {
	f.Add([]byte(sdpHead + sdp(cLive, mAudio, "a=sendonly")))
	f.Add([]byte(sdpHead + sdp(cNull, mAudio, mVideo, cLive, "a=inactive")))
	f.Add([]byte("v=0\nm=audio 0/ RTP\nc=IN IP4 0.0.0.0/\na="))
	f.Add([]byte("m= \r\nc=\r\na=\r\nv="))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		held, ok := Held(body)
		if held && !ok {
			t.Fatalf("held without a readable SDP: %q", body)
		}
		if CheckSDP(body) == nil && !ok {
			t.Fatalf("CheckSDP accepts what Held cannot read: %q", body)
		}
	})
}

func TestCheckSDP(t *testing.T) {
	good := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=sendrecv\r\n"
	if err := CheckSDP([]byte(good)); err != nil {
		t.Fatalf("good SDP refused: %v", err)
	}
	for name, bad := range map[string]string{
		"empty":       "",
		"no version":  "o=- 1 1 IN IP4 127.0.0.1\r\nm=audio 6000 RTP/AVP 0\r\n",
		"not a line":  "v=0\r\nthis is not sdp\r\n",
		"no media":    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n",
		"bad m= line": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\nm=audio port RTP/AVP 0\r\n",
		"no origin":   "v=0\r\nm=audio 6000 RTP/AVP 0\r\n",
	} {
		if err := CheckSDP([]byte(bad)); err == nil {
			t.Errorf("%s: accepted %q", name, bad)
		}
	}
}
