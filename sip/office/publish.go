package office

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"
)

const (
	// askExpires is the lifetime asked for each publication: the least
	// the gateway takes by default (a 423 names its own), so that long
	// calls are refreshed as a PBX's are, and a simulator killed without
	// its clean-up leaves lamps lit for a minute at most.
	askExpires = 60
	// attempt bounds one PUBLISH transaction; sipgo's own Timer F is 32 s,
	// far longer than a lamp should wait.
	attempt = 3 * time.Second
)

// errRefused is a final answer that retrying will not change.
var errRefused = errors.New("refused")

// pub is one extension's publication for the length of a call (RFC 3903):
// created by a PUBLISH with a body, then changed, refreshed and finally
// removed by PUBLISHes naming its entity-tag in SIP-If-Match.
type pub struct {
	who     Person
	callID  string
	fromTag string
	cseq    uint32
	etag    string
	body    []byte    // the state last published, to publish anew after a 412
	due     time.Time // refresh by then
}

// phone is the simulator's SIP side: one UDP socket from which it
// publishes to the gateway as the PBX would.
type phone struct {
	ua      *sipgo.UserAgent
	cli     *sipgo.Client
	conn    net.PacketConn
	served  chan struct{} // closed when sipgo stops reading conn
	addr    string
	domain  string
	expires atomic.Int64 // asked lifetime; raised by a 423
	log     *slog.Logger
}

func newPhone(addr, domain string, log *slog.Logger) (*phone, error) {
	// The local address the kernel would use towards the gateway, found
	// without sending anything: the socket is bound to it and Via names it.
	c, err := net.Dial("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("office: gateway SIP address %q: %w", addr, err)
	}
	local := c.LocalAddr().(*net.UDPAddr).IP.String()
	_ = c.Close()
	conn, err := net.ListenPacket("udp", net.JoinHostPort(local, "0"))
	if err != nil {
		return nil, fmt.Errorf("office: SIP socket: %w", err)
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("blfgw-office"), sipgo.WithUserAgentHostname(domain))
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("office: SIP user agent: %w", err)
	}
	ph := &phone{ua: ua, conn: conn, served: make(chan struct{}), addr: addr, domain: domain, log: log}
	ph.expires.Store(askExpires)
	// A socket sipgo serves as a listener is ours to close, and answers
	// come back to it.
	go func() {
		defer close(ph.served)
		_ = ua.TransportLayer().ServeUDP(conn)
	}()
	ph.cli, err = sipgo.NewClient(ua,
		sipgo.WithClientHostname(local),
		sipgo.WithClientConnectionAddr(conn.LocalAddr().String()),
		sipgo.WithClientLogger(log))
	if err == nil {
		err = ph.wait()
	}
	if err != nil {
		ph.close()
		return nil, fmt.Errorf("office: SIP client: %w", err)
	}
	return ph, nil
}

// wait until sipgo knows the socket, which it registers asynchronously.
func (ph *phone) wait() error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		if c, err := ph.ua.TransportLayer().GetConnection("udp", ph.conn.LocalAddr().String()); err == nil {
			_, _ = c.TryClose() // GetConnection counted a reference
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("UDP socket not registered")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (ph *phone) close() {
	_ = ph.conn.Close()
	<-ph.served
	if err := ph.ua.Close(); err != nil {
		ph.log.Debug("close SIP user agent", "err", err)
	}
}

func (ph *phone) newPub(who Person) *pub {
	return &pub{who: who, callID: token() + "@office", fromTag: token()}
}

// send is one PUBLISH transaction, answering a digest challenge with the
// extension's password once.
func (ph *phone) send(ctx context.Context, p *pub, body []byte, expires int) (*gosip.Response, error) {
	uri := gosip.Uri{Scheme: "sip", User: p.who.Number, Host: ph.domain}
	req := gosip.NewRequest(gosip.PUBLISH, uri)
	req.SetDestination(ph.addr)
	req.SetTransport("UDP")
	from := gosip.FromHeader{Address: uri, Params: gosip.NewParams()}
	from.Params.Add("tag", p.fromTag)
	req.AppendHeader(&from)
	req.AppendHeader(&gosip.ToHeader{Address: uri})
	cid := gosip.CallIDHeader(p.callID)
	req.AppendHeader(&cid)
	p.cseq++
	req.AppendHeader(&gosip.CSeqHeader{SeqNo: p.cseq, MethodName: gosip.PUBLISH})
	req.AppendHeader(gosip.NewHeader("Event", "dialog"))
	req.AppendHeader(gosip.NewHeader("Expires", strconv.Itoa(expires)))
	if p.etag != "" {
		req.AppendHeader(gosip.NewHeader("SIP-If-Match", p.etag))
	}
	req.AppendHeader(gosip.NewHeader("User-Agent", "blfgw-office"))
	if body != nil {
		ct := gosip.ContentTypeHeader(contentType)
		req.AppendHeader(&ct)
		req.SetBody(body)
	}
	res, err := ph.cli.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	if (res.StatusCode == 401 || res.StatusCode == 407) && p.who.Password != "" {
		res, err = ph.cli.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: p.who.Number, Password: p.who.Password})
		if cs := req.CSeq(); cs != nil {
			p.cseq = cs.SeqNo
		}
	}
	return res, err
}

// publish sends one operation of the lifecycle and follows the answer:
// body != nil publishes a state (initial or modify), body == nil with
// expires > 0 refreshes, expires == 0 removes. What may pass (no answer,
// 408, 5xx) is retried with back-off until budget ends; a 412 (the gateway
// forgot the entity-tag) starts a new publication with the last state.
func (ph *phone) publish(budget context.Context, p *pub, body []byte, remove bool) error {
	if remove && p.etag == "" {
		return nil
	}
	if body != nil {
		p.body = body
	}
	wait := 250 * time.Millisecond
	for tries := 0; ; tries++ {
		expires := int(ph.expires.Load())
		if remove {
			expires = 0
		}
		var send []byte
		if !remove && (body != nil || p.etag == "") {
			send = p.body
		}
		res, err := ph.attempt(budget, p, send, expires)
		var retry string
		switch {
		case err != nil:
			retry = err.Error()
		case res.StatusCode >= 200 && res.StatusCode < 300:
			if remove {
				p.etag = ""
				return nil
			}
			h := res.GetHeader("SIP-ETag")
			if h == nil || strings.TrimSpace(h.Value()) == "" {
				return fmt.Errorf("%w: %d without SIP-ETag", errRefused, res.StatusCode)
			}
			p.etag = strings.TrimSpace(h.Value())
			granted := time.Duration(expires) * time.Second
			if h := res.GetHeader("Expires"); h != nil {
				if s, err := strconv.Atoi(strings.TrimSpace(h.Value())); err == nil && s > 0 {
					granted = time.Duration(s) * time.Second
				}
			}
			// Refresh well before the end, leaving room for retries.
			p.due = time.Now().Add(granted - min(granted/3, 30*time.Second))
			return nil
		case res.StatusCode == 412:
			// The gateway no longer knows the publication (it expired
			// while it was down): there is nothing to remove, and a
			// state is published afresh.
			p.etag = ""
			if remove {
				return nil
			}
			continue
		case res.StatusCode == 423 && tries < 3:
			if h := res.GetHeader("Min-Expires"); h != nil {
				if s, err := strconv.Atoi(strings.TrimSpace(h.Value())); err == nil && int64(s) > ph.expires.Load() {
					ph.expires.Store(int64(s))
					continue
				}
			}
			return fmt.Errorf("%w: %d %s", errRefused, res.StatusCode, res.Reason)
		case res.StatusCode == 408 || res.StatusCode >= 500 && res.StatusCode < 600:
			retry = strconv.Itoa(res.StatusCode) + " " + res.Reason
		default:
			return fmt.Errorf("%w: %d %s", errRefused, res.StatusCode, res.Reason)
		}
		ph.log.Debug("PUBLISH failed; retrying", "ext", p.who.Number, "err", retry, "in", wait)
		select {
		case <-budget.Done():
			return fmt.Errorf("PUBLISH for %s: %s: %w", p.who.Number, retry, budget.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 4*time.Second)
	}
}

// attempt runs one transaction to its end even if budget ends meanwhile,
// so that an answered PUBLISH is never mistaken for a lost one.
func (ph *phone) attempt(budget context.Context, p *pub, body []byte, expires int) (*gosip.Response, error) {
	d := attempt
	if dl, ok := budget.Deadline(); ok {
		d = max(min(d, time.Until(dl)), 100*time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(budget), d)
	defer cancel()
	return ph.send(ctx, p, body, expires)
}

func token() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
