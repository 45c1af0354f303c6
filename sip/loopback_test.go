package sip

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"math/big"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"

	"github.com/blfgw/blfgw/dialog"
	"github.com/blfgw/blfgw/presence"
)

func selfSigned(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// startServer runs a real server on loopback ports until the test ends.
func startServer(t *testing.T, transports ...string) (*Server, *presence.Hub) {
	t.Helper()
	return startServerWith(t, nil, transports...)
}

// startServerWith is startServer with edit applied to the options first.
func startServerWith(t *testing.T, edit func(*Options), transports ...string) (*Server, *presence.Hub) {
	t.Helper()
	hub := presence.NewHub()
	var listen []Listener
	for _, tp := range transports {
		listen = append(listen, Listener{Transport: tp, Addr: "127.0.0.1:0"})
	}
	opt := Options{
		Domain: "pbx.test", Listen: listen, TLS: selfSigned(t),
		Trusted:   trustedLoopback(),
		Directory: testDirectory(), Hub: hub, Tracker: dialog.NewTracker(hub), Store: newMemStore(),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if edit != nil {
		edit(&opt)
	}
	s, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return s, hub
}

func (s *Server) boundAddr(tp string) string {
	for _, l := range s.Bound() {
		if l.Transport == tp {
			return l.Addr
		}
	}
	return ""
}

type notifyFrom struct {
	req *gosip.Request
	src string
}

// TestLoopbackTransports subscribes over each transport with a real sipgo
// watcher and checks that NOTIFYs come back the way phones need them: over
// the watcher's own connection on TCP, TLS and WS, and from the listening
// port on UDP.
func TestLoopbackTransports(t *testing.T) {
	srv, hub := startServer(t, "udp", "tcp", "tls", "ws")
	for _, tp := range []string{"udp", "tcp", "tls", "ws"} {
		t.Run(tp, func(t *testing.T) {
			ua, err := sipgo.NewUA(sipgo.WithUserAgenTLSConfig(&tls.Config{InsecureSkipVerify: true}))
			if err != nil {
				t.Fatal(err)
			}
			defer ua.Close()
			wsrv, _ := sipgo.NewServer(ua)
			got := make(chan notifyFrom, 16)
			wsrv.OnNotify(func(req *gosip.Request, tx gosip.ServerTransaction) {
				got <- notifyFrom{req, req.Source()}
				_ = tx.Respond(gosip.NewResponseFromRequest(req, 200, "OK", nil))
			})
			contactHost, contactPort := "127.0.0.1", 5999
			if tp == "udp" {
				pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				contactPort = pc.LocalAddr().(*net.UDPAddr).Port
				go func() { _ = wsrv.ServeUDP(pc) }()
				defer pc.Close()
				// ServeUDP registers the socket asynchronously; the client
				// must find it to send from it.
				for deadline := time.Now().Add(5 * time.Second); ; {
					if c, err := ua.TransportLayer().GetConnection("udp", pc.LocalAddr().String()); err == nil {
						c.TryClose()
						break
					}
					if time.Now().After(deadline) {
						t.Fatal("watcher UDP socket never registered")
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
			if tp == "ws" {
				contactHost = "df7jal23ls0d.invalid" // what JsSIP sends
			}
			cli, _ := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
			if tp == "udp" {
				cli, _ = sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientConnectionAddr("127.0.0.1:"+strconv.Itoa(contactPort)))
			}
			addr := srv.boundAddr(tp)
			host, port, _ := net.SplitHostPort(addr)
			p, _ := strconv.Atoi(port)
			req := gosip.NewRequest(gosip.SUBSCRIBE, gosip.Uri{Scheme: "sip", User: "1001", Host: host, Port: p})
			req.SetTransport(strings.ToUpper(tp))
			from := gosip.FromHeader{Address: gosip.Uri{Scheme: "sip", User: "1002", Host: "pbx.test"}, Params: gosip.NewParams()}
			from.Params.Add("tag", "w-"+tp)
			req.AppendHeader(&from)
			req.AppendHeader(&gosip.ToHeader{Address: gosip.Uri{Scheme: "sip", User: "1001", Host: "pbx.test"}})
			req.AppendHeader(&gosip.ContactHeader{Address: gosip.Uri{Scheme: "sip", User: "1002", Host: contactHost, Port: contactPort,
				UriParams: gosip.HeaderParams{{K: "transport", V: tp}}}})
			req.AppendHeader(gosip.NewHeader("Event", "dialog;id=k1"))
			req.AppendHeader(gosip.NewHeader("Expires", "600"))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := cli.Do(ctx, req)
			if err != nil || res.StatusCode != 200 {
				t.Fatalf("SUBSCRIBE over %s: %v %v", tp, res, err)
			}
			wait := func(what string) notifyFrom {
				t.Helper()
				select {
				case n := <-got:
					return n
				case <-time.After(5 * time.Second):
					t.Fatalf("no NOTIFY (%s) over %s", what, tp)
				}
				return notifyFrom{}
			}
			first := wait("initial")
			if ev := hdr(first.req, "Event"); ev != "dialog;id=k1" {
				t.Fatalf("Event not echoed with its id: %q", ev)
			}
			if tp == "udp" && first.src != addr {
				t.Fatalf("UDP NOTIFY came from %s, not the listening socket %s", first.src, addr)
			}
			// A change, with a body far over 1300 bytes (several dialogs
			// with long names), still arrives over UDP.
			var ds []presence.Dialog
			for i := range 8 {
				ds = append(ds, presence.Dialog{ID: "d" + strconv.Itoa(i) + tp, CallID: strings.Repeat("c", 60) + strconv.Itoa(i),
					State: presence.Confirmed, Remote: presence.Party{URI: "sip:" + strconv.Itoa(300+i) + "@pbx.test", Display: strings.Repeat("Long Name ", 6)}})
			}
			hub.SetDialogs("1001", presence.SourceSIP, ds)
			n := wait("change")
			if len(n.req.Body()) < 1300 || !strings.Contains(string(n.req.Body()), `version="1"`) {
				t.Fatalf("large NOTIFY over %s: %d bytes\n%s", tp, len(n.req.Body()), n.req.Body())
			}
			hub.SetDialogs("1001", presence.SourceSIP, nil)
			wait("idle")
		})
	}
}
