package sip

import (
	"context"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
	"unique"

	gosip "github.com/emiago/sipgo/sip"
)

// onSubscribe implements RFC 6665 for Event: dialog and presence.
func (s *Server) onSubscribe(req *gosip.Request, tx gosip.ServerTransaction) error {
	if key, ok := answerKey(req); ok {
		if ans, ok := s.answered.get(key); ok {
			return tx.Respond(s.okResponse(req, ans))
		}
	}
	ev, ok := parseEvent(header(req, "Event", "o"))
	if !ok {
		return fail(489, "Missing Event header", gosip.NewHeader("Allow-Events", allowEvents))
	}
	var f format
	switch ev.pkg {
	case "dialog":
		f = formatDialog
	case "presence":
		f = formatPIDF
	default:
		return fail(489, "Event package "+strconv.Quote(clip(ev.pkg))+" not supported", gosip.NewHeader("Allow-Events", allowEvents))
	}
	from, to, cid, cseq := req.From(), req.To(), req.CallID(), req.CSeq()
	if from == nil || to == nil || cid == nil || cseq == nil {
		return fail(400, "Missing From, To, Call-ID or CSeq")
	}
	fromTag, _ := from.Params.Get("tag")
	if fromTag == "" {
		return fail(400, "From header has no tag")
	}
	secs, present, ok := expires(req)
	if !ok {
		return fail(400, "Expires is not a number")
	}

	watcher := from.Address.User
	if !s.trusted(req.Source()) {
		user, serr := s.authenticate(req)
		if serr != nil {
			return serr
		}
		watcher = user
	}

	if toTag, _ := to.Params.Get("tag"); toTag != "" {
		return s.refresh(req, tx, subKey(cid.Value(), toTag, fromTag, ev), cseq.SeqNo, secs, present)
	}

	var list *rlsList
	acct, ok := s.opt.Directory.Account(req.Recipient.User)
	if !ok {
		if acct, ok = s.listOwner(req.Recipient.User); !ok {
			return fail(404, "Unknown extension")
		}
		if err := s.checkList(req, acct, watcher); err != nil {
			return err
		}
		list = newList(acct.Number + s.opt.ListSuffix)
	}
	entity := acct.Number
	if p := s.opt.Hub.Policy(); refused(p, p.Access(watcher, entity)) {
		return fail(403, "Presence of "+entity+" is not shared with "+clip(watcher))
	}
	if list == nil && !acceptable(req, f.contentType()) {
		return fail(406, "Cannot produce a body type listed in Accept", gosip.NewHeader("Accept", f.contentType()))
	}
	if !present {
		secs = int64(s.opt.DefaultExpires / time.Second)
	}
	if secs != 0 && secs < int64(s.opt.MinExpires/time.Second) {
		return fail(423, "Interval Too Brief", gosip.NewHeader("Min-Expires", strconv.Itoa(int(s.opt.MinExpires/time.Second))))
	}
	contact := req.Contact()
	if contact == nil {
		return fail(400, "Missing Contact header")
	}

	// A subscription lives for hours: copy what it keeps out of the parsed
	// request, whose substrings would otherwise pin the whole message.
	if a, ok := s.opt.Directory.Account(watcher); ok {
		watcher = a.Number
	} else {
		watcher = strings.Clone(watcher)
	}
	sub := &subscription{
		srv:        s,
		entity:     entity,
		ev:         ev.own(),
		format:     f,
		watcher:    watcher,
		agent:      unique.Make(header(req, "User-Agent", "")),
		callID:     strings.Clone(cid.Value()),
		ourTag:     gosip.GenerateTagN(16),
		peerTag:    strings.Clone(fromTag),
		transport:  transportName(req.Transport()),
		source:     req.Source(),
		remoteCSeq: cseq.SeqNo,
		holding:    true,
		list:       list,
	}
	sub.key = subKey(sub.callID, sub.ourTag, sub.peerTag, ev)
	sub.idle, sub.single = s.profileFor(watcher, sub.agent.Value())
	peerTo := to.Value()
	if err := sub.setDialog(from.Value(), peerTo); err != nil {
		return fail(400, "Malformed From or To header")
	}
	if err := sub.setTarget(contact.Address.String()); err != nil {
		return fail(400, "Malformed Contact header")
	}
	for _, rr := range req.GetHeaders("Record-Route") {
		sub.routes = append(sub.routes, rr.Value())
	}
	now := time.Now()

	if secs == 0 {
		// A fetch (RFC 6665 4.4.3): answer, then one final NOTIFY.
		sub.expires = now
		sub.latest = s.opt.Hub.Current(entity)
		if sub.list != nil {
			s.syncList(sub)
		}
		if err := s.accept(req, tx, sub, 0); err != nil {
			if sub.list != nil {
				sub.unwatchList()
			}
			return err
		}
		sub.terminate("timeout")
		sub.release()
		return nil
	}

	granted := s.grant(secs)
	sub.expires = now.Add(time.Duration(granted) * time.Second)
	sub.reserveLocked() // not yet shared: no lock needed
	s.start(sub)

	// Acknowledged means stored: a kill -9 after the 200 must not lose it.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.persist.sync(ctx, sub); err != nil {
		sub.terminate("deactivated")
		s.drop(sub, "store failed")
		return &StatusError{Code: 500, Reason: "Could not store the subscription", Err: err}
	}
	if err := s.accept(req, tx, sub, granted); err != nil {
		return err
	}
	sub.release()
	return nil
}

// grant shortens a requested duration to the maximum and spreads refreshes
// of phones that booted together (up to 10% less, never below the minimum,
// never longer than asked).
func (s *Server) grant(asked int64) int64 {
	g := min(asked, int64(s.opt.MaxExpires/time.Second))
	if g >= 600 {
		g -= rand.Int64N(g / 10)
	}
	return max(g, min(asked, int64(s.opt.MinExpires/time.Second)))
}

// accept sends the 200 for a new subscription.
func (s *Server) accept(req *gosip.Request, tx gosip.ServerTransaction, sub *subscription, granted int64) error {
	return s.respondOK(req, tx, answer{toTag: sub.ourTag, entity: sub.contact(), expires: granted, list: sub.list != nil})
}

// refresh handles an in-dialog SUBSCRIBE: a refresh, or with Expires: 0 an
// unsubscribe.
func (s *Server) refresh(req *gosip.Request, tx gosip.ServerTransaction, key string, cseq uint32, secs int64, present bool) error {
	sub := s.subs.get(key)
	if sub == nil {
		return fail(481, "Subscription does not exist")
	}
	if !present {
		secs = int64(s.opt.DefaultExpires / time.Second)
	}
	if secs != 0 && secs < int64(s.opt.MinExpires/time.Second) {
		return fail(423, "Interval Too Brief", gosip.NewHeader("Min-Expires", strconv.Itoa(int(s.opt.MinExpires/time.Second))))
	}
	sub.mu.Lock()
	if sub.gone || sub.final != "" {
		sub.mu.Unlock()
		return fail(481, "Subscription does not exist")
	}
	if cseq <= sub.remoteCSeq {
		sub.mu.Unlock()
		return fail(500, "CSeq lower than the last one in this dialog")
	}
	sub.remoteCSeq = cseq
	if c := req.Contact(); c != nil {
		if err := sub.setTarget(c.Address.String()); err != nil {
			sub.mu.Unlock()
			return fail(400, "Malformed Contact header")
		}
	}
	sub.source = req.Source()
	var granted int64
	if secs > 0 {
		granted = s.grant(secs)
		sub.expires = time.Now().Add(time.Duration(granted) * time.Second)
		sub.armLocked()
	} else {
		sub.expires = time.Now()
	}
	sub.mu.Unlock()

	if secs > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.persist.sync(ctx, sub); err != nil {
			return &StatusError{Code: 500, Reason: "Could not store the subscription", Err: err}
		}
	}
	if err := s.respondOK(req, tx, answer{entity: sub.contact(), expires: granted, list: sub.list != nil}); err != nil {
		return err
	}
	if secs == 0 {
		sub.terminate("timeout")
		return nil
	}
	sub.mu.Lock()
	sub.force = true
	sub.kickLocked()
	sub.mu.Unlock()
	return nil
}

// profileFor picks the dialog-info body profile of a watcher: its device's
// by User-Agent, overridden by what its extension says.
func (s *Server) profileFor(watcher, agent string) (idle string, single bool) {
	idle = "empty"
	lower := strings.ToLower(agent)
	for _, d := range s.opt.Devices {
		if d.UserAgent != "" && strings.Contains(lower, strings.ToLower(d.UserAgent)) {
			if d.Profile.Idle != "" {
				idle = d.Profile.Idle
			}
			if d.Profile.Single != nil {
				single = *d.Profile.Single
			}
			break
		}
	}
	if acct, ok := s.opt.Directory.Account(watcher); ok {
		if acct.Profile.Idle != "" {
			idle = acct.Profile.Idle
		}
		if acct.Profile.Single != nil {
			single = *acct.Profile.Single
		}
	}
	return idle, single
}
