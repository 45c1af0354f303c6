package sip

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/icholy/digest"

	gosip "github.com/emiago/sipgo/sip"
)

// answerChallenge adds credentials for the challenge in res to req.
func answerChallenge(t *testing.T, req *gosip.Request, res *gosip.Response, alg, user, password string) *gosip.Request {
	t.Helper()
	var chal *digest.Challenge
	for _, h := range res.GetHeaders("WWW-Authenticate") {
		c, err := digest.ParseChallenge(h.Value())
		if err != nil {
			t.Fatalf("parse challenge %q: %v", h.Value(), err)
		}
		if c.Algorithm == alg {
			chal = c
		}
	}
	if chal == nil {
		t.Fatalf("no %s challenge in:\n%s", alg, res)
	}
	if !chal.SupportsQOP("auth") {
		t.Fatalf("challenge without qop=auth: %+v", chal)
	}
	cred, err := digest.Digest(chal, digest.Options{
		Method: req.Method.String(), URI: req.Recipient.String(), Username: user, Password: password,
	})
	if err != nil {
		t.Fatal(err)
	}
	out := req.Clone()
	out.RemoveHeader("Authorization")
	out.AppendHeader(gosip.NewHeader("Authorization", cred.String()))
	newBranch(out)
	out.SetSource(req.Source())
	out.SetTransport(req.Transport())
	return out
}

var branches atomic.Int64

// newBranch makes req a new request rather than a retransmission, as a
// phone does for each request it sends.
func newBranch(req *gosip.Request) {
	if via := req.Via(); via != nil {
		via.Params.Remove("branch")
		via.Params.Add("branch", fmt.Sprintf("z9hG4bK-t%d", branches.Add(1)))
	}
}

func TestDigestAuth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, Options{}) // nothing trusted
		req := subscribeReq(t, "1001", "dialog", "600", "")
		res := r.do(t, req)
		if res.StatusCode != 401 {
			t.Fatalf("no credentials = %d, want 401", res.StatusCode)
		}
		var algs []string
		for _, h := range res.GetHeaders("WWW-Authenticate") {
			c, _ := digest.ParseChallenge(h.Value())
			algs = append(algs, c.Algorithm)
		}
		if strings.Join(algs, ",") != "MD5,SHA-256" {
			t.Fatalf("offered %v, want MD5 then SHA-256 (the default order)", algs)
		}

		for _, alg := range []string{"SHA-256", "MD5"} {
			ok := r.do(t, answerChallenge(t, req, res, alg, "1002", "pw1002"))
			if ok.StatusCode != 200 {
				t.Fatalf("%s with right password = %d %s", alg, ok.StatusCode, ok.Reason)
			}
		}
		sub := r.srv.subs.all()
		if len(sub) == 0 || sub[0].watcher != "1002" {
			t.Fatalf("watcher identity is not the authenticated user: %+v", sub)
		}

		// The very same Authorization in a new request is a replay:
		// challenged anew. The same request again is a retransmission of
		// one that was answered: the same 200, no second subscription.
		replay := answerChallenge(t, req, res, "MD5", "1002", "pw1002")
		first := r.do(t, replay)
		if first.StatusCode != 200 {
			t.Fatalf("first use = %d", first.StatusCode)
		}
		subs := r.srv.Subscriptions()
		if res := r.do(t, resend(replay)); res.StatusCode != 200 || res.To().Value() != first.To().Value() ||
			hdr(res, "Expires") != hdr(first, "Expires") || r.srv.Subscriptions() != subs {
			t.Fatalf("retransmission answered %d To %q Expires %q (first %q %q), %d subscriptions (was %d)",
				res.StatusCode, res.To().Value(), hdr(res, "Expires"), first.To().Value(), hdr(first, "Expires"), r.srv.Subscriptions(), subs)
		}
		again := resend(replay)
		newBranch(again)
		if res := r.do(t, again); res.StatusCode != 401 {
			t.Fatalf("replayed credentials = %d, want 401", res.StatusCode)
		}

		bad := r.do(t, answerChallenge(t, req, res, "MD5", "1002", "wrong"))
		if bad.StatusCode != 403 {
			t.Fatalf("wrong password = %d, want 403", bad.StatusCode)
		}
		unknown := r.do(t, answerChallenge(t, req, res, "MD5", "7777", "pw"))
		if unknown.StatusCode != 403 {
			t.Fatalf("unknown user = %d, want 403", unknown.StatusCode)
		}

		// Right password on an old nonce: 401 with stale=true.
		time.Sleep(nonceLifetime + time.Minute)
		stale := r.do(t, answerChallenge(t, req, res, "SHA-256", "1002", "pw1002"))
		if stale.StatusCode != 401 {
			t.Fatalf("stale nonce = %d, want 401", stale.StatusCode)
		}
		c, _ := digest.ParseChallenge(stale.GetHeaders("WWW-Authenticate")[0].Value())
		if !c.Stale {
			t.Fatalf("expired nonce challenge lacks stale=true: %s", stale.GetHeaders("WWW-Authenticate")[0].Value())
		}

		// A forged nonce is challenged afresh, not accepted.
		forged := answerChallenge(t, req, res, "MD5", "1002", "pw1002")
		h := forged.GetHeader("Authorization").Value()
		forged.RemoveHeader("Authorization")
		forged.AppendHeader(gosip.NewHeader("Authorization", strings.Replace(h, c.Nonce, "AAAA", 1)))
		if res := r.do(t, forged); res.StatusCode != 401 && res.StatusCode != 403 {
			t.Fatalf("forged nonce = %d", res.StatusCode)
		}
	})
}

func TestDigestAlgorithmsConfigured(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, Options{Digest: []string{"SHA-256"}})
		req := subscribeReq(t, "1001", "dialog", "600", "")
		res := r.do(t, req)
		if n := len(res.GetHeaders("WWW-Authenticate")); n != 1 {
			t.Fatalf("%d challenges, want only SHA-256", n)
		}
		if ok := r.do(t, answerChallenge(t, req, res, "SHA-256", "1002", "pw1002")); ok.StatusCode != 200 {
			t.Fatalf("SHA-256 = %d", ok.StatusCode)
		}
		// MD5 answers are refused when MD5 is not offered.
		md5 := res.Clone()
		md5.RemoveHeader("WWW-Authenticate")
		md5.AppendHeader(gosip.NewHeader("WWW-Authenticate", strings.Replace(res.GetHeader("WWW-Authenticate").Value(), "SHA-256", "MD5", 1)))
		if got := r.do(t, answerChallenge(t, req, md5, "MD5", "1002", "pw1002")); got.StatusCode != 401 {
			t.Fatalf("MD5 when only SHA-256 is offered = %d, want 401", got.StatusCode)
		}
	})
}

func TestPublishAuthorisation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, Options{})
		req := publishReq(t, "1001", "", "60", ringingDoc)
		res := r.do(t, req)
		if res.StatusCode != 401 {
			t.Fatalf("PUBLISH without credentials = %d", res.StatusCode)
		}
		if res := r.do(t, answerChallenge(t, req, res, "MD5", "1002", "pw1002")); res.StatusCode != 403 {
			t.Fatalf("1002 publishing for 1001 = %d, want 403", res.StatusCode)
		}
		if res := r.do(t, answerChallenge(t, req, res, "MD5", "1001", "pw1001")); res.StatusCode != 200 {
			t.Fatalf("1001 publishing its own state = %d %s", res.StatusCode, res.Reason)
		}
	})
}

func TestNonceUniquePerChallenge(t *testing.T) {
	a := newAuthenticator("r", []byte("0123456789abcdef"), nil)
	seen := map[string]bool{}
	for range 100 {
		n := a.nonce()
		if seen[n] {
			t.Fatal("two challenges in one second share a nonce")
		}
		seen[n] = true
		if ours, fresh := a.nonceState(n); !ours || !fresh {
			t.Fatalf("own nonce not recognised: %v %v", ours, fresh)
		}
	}
	if ours, _ := newAuthenticator("r", []byte("another secret!!"), nil).nonceState(a.nonce()); ours {
		t.Fatal("a nonce of another secret was accepted")
	}
}
