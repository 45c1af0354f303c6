package sip

import (
	"strings"

	gosip "github.com/emiago/sipgo/sip"
)

// Directed pickup. A delegate takes a colleague's ringing call by pressing
// its BLF key (an INVITE with Replaces naming the ringing dialog, RFC
// 3891) or by dialling the pickup prefix and the extension. Either way the
// proxy sends the picker's INVITE to the caller with a Replaces header for
// the caller's early dialog (RFC 3891 section 7.1, "replacing an early
// dialog at the originator"): the caller's phone (or the PBX, for an
// outside caller) accepts it as the replacement, and once it answers, the
// proxy cancels the branches still ringing.

// pickup is a picker's INVITE on its way to the caller.
type pickup struct {
	iv *invite // the ringing call being taken
}

// replaces is a parsed Replaces header.
type replaces struct {
	callID, toTag, fromTag string
	earlyOnly              bool
}

func parseReplaces(v string) (replaces, bool) {
	parts := strings.Split(v, ";")
	r := replaces{callID: strings.TrimSpace(parts[0])}
	for _, p := range parts[1:] {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch strings.ToLower(k) {
		case "to-tag":
			r.toTag = val
		case "from-tag":
			r.fromTag = val
		case "early-only":
			r.earlyOnly = true
		}
	}
	return r, r.callID != ""
}

// pickup handles an initial INVITE that asks for a pickup. done is false
// when the INVITE is an ordinary call (or a Replaces for an answered call
// that is not early-only, as in attended transfer) and must be routed as
// usual.
func (p *proxy) pickup(req *gosip.Request, tx gosip.ServerTransaction, picker string) (done bool, err error) {
	var iv *invite
	var owner string
	if v := header(req, "Replaces", ""); v != "" {
		r, ok := parseReplaces(v)
		if !ok {
			return true, fail(400, "Malformed Replaces header")
		}
		p.mu.Lock()
		for _, tag := range []string{r.fromTag, r.toTag} {
			if x := p.ringing[callKey(r.callID, tag)]; x != nil && x.callee != "" {
				iv = x
			}
		}
		_, answered := p.dialogs[callKey(r.callID, r.fromTag)]
		if !answered {
			_, answered = p.dialogs[callKey(r.callID, r.toTag)]
		}
		if answered {
			iv = nil // its INVITE lingers in ringing until its transactions end
		}
		p.mu.Unlock()
		if iv == nil {
			if answered && r.earlyOnly {
				return true, fail(481, "Call/Transaction Does Not Exist: that call was already answered")
			}
			if r.earlyOnly {
				return true, fail(481, "Call/Transaction Does Not Exist: no such ringing call")
			}
			return false, nil // attended transfer and the like: the phones handle it
		}
		owner = iv.callee
	} else {
		user := req.Recipient.User
		prefix := p.opt.PickupPrefix
		if !strings.HasPrefix(user, prefix) || len(user) == len(prefix) {
			return false, nil
		}
		acct, ok := p.s.opt.Directory.Account(user[len(prefix):])
		if !ok {
			return false, nil // a number that merely starts like the prefix
		}
		owner = acct.Number
		iv = p.ringingAt(owner)
		if iv == nil {
			if p.busy(owner) {
				return true, fail(481, "Call/Transaction Does Not Exist: the call at "+owner+" was already answered")
			}
			return true, fail(481, "Call/Transaction Does Not Exist: no call is ringing at "+owner)
		}
	}
	if picker == "" {
		return true, fail(403, "Forbidden: pickup is for extensions")
	}
	if picker != owner && !p.s.opt.Hub.Policy().Delegate(picker, owner) {
		return true, fail(403, "Forbidden: "+picker+" may not answer calls for "+owner)
	}
	iv.mu.Lock()
	early := iv.toTag
	iv.mu.Unlock()
	orig := iv.req
	c := orig.Contact()
	if c == nil {
		return true, fail(480, "Temporarily Unavailable: the caller cannot be reached for a pickup")
	}
	t := target{uri: *c.Address.Clone(), dest: orig.Source(), transport: transportName(orig.Transport()), callee: iv.caller}
	for req.RemoveHeader("Replaces") {
	}
	rp := orig.CallID().Value() + ";to-tag=" + tagOf(orig.From())
	if early != "" {
		rp += ";from-tag=" + early
	}
	req.AppendHeader(gosip.NewHeader("Replaces", rp+";early-only"))
	p.s.log.Info("pickup", "picker", picker, "owner", owner, "call_id", orig.CallID().Value())
	return true, p.relay(req, tx, relay{targets: []target{t}, caller: picker, hash: loopHash(req), recordRoute: true, pickup: &pickup{iv: iv}})
}

// ringingAt is the oldest unanswered call ringing at an extension. An
// answered call's INVITE stays in ringing until its client transactions
// end (Timer M, 32 s over UDP), so the answered ones are skipped.
func (p *proxy) ringingAt(ext string) *invite {
	p.mu.Lock()
	defer p.mu.Unlock()
	var best *invite
	for k, iv := range p.ringing {
		if _, up := p.dialogs[k]; up {
			continue
		}
		iv.mu.Lock()
		ringing := iv.toTag != ""
		iv.mu.Unlock()
		if iv.callee == ext && ringing && (best == nil || iv.started.Before(best.started)) {
			best = iv
		}
	}
	return best
}

// busy reports whether an extension is in an answered call.
func (p *proxy) busy(ext string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, d := range p.dialogs {
		if d.Callee == ext || d.Caller == ext {
			return true
		}
	}
	return false
}
