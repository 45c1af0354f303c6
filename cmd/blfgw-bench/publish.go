package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// publisher sends single PUBLISHes from the harness itself, so that the
// moment a fan-out starts is known to the microsecond. (Sustained load
// uses SIPp and testdata/bench/publisher.xml.)
type publisher struct {
	conn   *net.UDPConn
	gw     *net.UDPAddr
	callID string
	tag    string
	cseq   int
	etag   string
}

func newPublisher(sipPort int) (*publisher, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	return &publisher{
		conn:   c,
		gw:     &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sipPort},
		callID: randHex(8) + "@blfgw-bench",
		tag:    randHex(4),
	}, nil
}

func (p *publisher) close() { _ = p.conn.Close() }

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// state names a lamp state the publisher can set.
type state string

const (
	stRinging state = "ringing"
	stBusy    state = "busy"
	stIdle    state = "idle" // removes the publication
)

func dialogBody(ext string, st state, version int) string {
	var d string
	switch st {
	case stRinging:
		d = `<dialog id="fan1" call-id="fan1@pbx.bench" local-tag="l" remote-tag="r" direction="recipient"><state>early</state>` +
			`<remote><identity display="Fan Caller">sip:0998@pbx.bench</identity></remote></dialog>`
	case stBusy:
		d = `<dialog id="fan1" call-id="fan1@pbx.bench" local-tag="l" remote-tag="r" direction="recipient"><state>confirmed</state>` +
			`<remote><identity display="Fan Caller">sip:0998@pbx.bench</identity></remote></dialog>`
	}
	return fmt.Sprintf("<?xml version=\"1.0\"?>\r\n<dialog-info xmlns=\"urn:ietf:params:xml:ns:dialog-info\" version=\"%d\" state=\"full\" entity=\"sip:%s@pbx.bench\">\r\n%s\r\n</dialog-info>\r\n", version, ext, d)
}

// publish sets ext to st and returns the moment the PUBLISH was written
// and its response time. Ringing and busy create or modify this
// publisher's publication; idle removes it (Expires: 0).
func (p *publisher) publish(ext string, st state) (sent time.Time, rtt time.Duration, err error) {
	p.cseq++
	branch := "z9hG4bK" + randHex(8)
	local := p.conn.LocalAddr().(*net.UDPAddr)
	var h strings.Builder
	fmt.Fprintf(&h, "PUBLISH sip:%s@127.0.0.1:%d SIP/2.0\r\n", ext, p.gw.Port)
	fmt.Fprintf(&h, "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=%s\r\n", local.Port, branch)
	fmt.Fprintf(&h, "From: <sip:pbx@pbx.bench>;tag=%s\r\n", p.tag)
	fmt.Fprintf(&h, "To: <sip:%s@pbx.bench>\r\n", ext)
	fmt.Fprintf(&h, "Call-ID: %s\r\nCSeq: %d PUBLISH\r\nMax-Forwards: 70\r\nEvent: dialog\r\n", p.callID, p.cseq)
	body := ""
	if p.etag != "" {
		fmt.Fprintf(&h, "SIP-If-Match: %s\r\n", p.etag)
	}
	if st == stIdle {
		if p.etag == "" {
			return time.Time{}, 0, errors.New("idle needs a publication to remove")
		}
		h.WriteString("Expires: 0\r\n")
	} else {
		h.WriteString("Expires: 3600\r\nContent-Type: application/dialog-info+xml\r\n")
		body = dialogBody(ext, st, p.cseq)
	}
	fmt.Fprintf(&h, "Content-Length: %d\r\n\r\n%s", len(body), body)
	msg := []byte(h.String())

	buf := make([]byte, 65535)
	interval := 500 * time.Millisecond
	for try := 0; try < 6; try++ {
		if try == 0 {
			sent = time.Now()
		}
		if _, err := p.conn.WriteToUDP(msg, p.gw); err != nil {
			return sent, 0, err
		}
		deadline := time.Now().Add(interval)
		for {
			_ = p.conn.SetReadDeadline(deadline)
			n, _, err := p.conn.ReadFromUDP(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				return sent, 0, err
			}
			code, etag, ok := parseResponse(string(buf[:n]), branch)
			if !ok || code < 200 {
				continue
			}
			rtt = time.Since(sent)
			if code != 200 {
				return sent, rtt, fmt.Errorf("PUBLISH %s: %d", st, code)
			}
			if st == stIdle {
				p.etag = ""
			} else {
				p.etag = etag
			}
			return sent, rtt, nil
		}
		interval = min(2*interval, 4*time.Second)
	}
	return sent, 0, errors.New("PUBLISH: no response")
}

// parseResponse returns the status code and SIP-ETag of a response to the
// transaction with the given branch.
func parseResponse(msg, branch string) (code int, etag string, ok bool) {
	head, _, _ := strings.Cut(msg, "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "SIP/2.0 ") {
		return 0, "", false
	}
	f := strings.Fields(lines[0])
	if len(f) < 2 {
		return 0, "", false
	}
	code, _ = strconv.Atoi(f[1])
	mine := false
	for _, l := range lines[1:] {
		k, v, found := strings.Cut(l, ":")
		if !found {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		v = strings.TrimSpace(v)
		switch k {
		case "via", "v":
			if strings.Contains(v, "branch="+branch) {
				mine = true
			}
		case "sip-etag":
			etag = v
		}
	}
	return code, etag, mine
}
