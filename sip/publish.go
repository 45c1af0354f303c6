package sip

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/blfgw/blfgw/dialog"
	"github.com/blfgw/blfgw/presence"
	"github.com/blfgw/blfgw/sip/dialoginfo"
)

// onPublish implements RFC 3903 for Event: dialog: PBXes, SBCs and phones
// publish the call state that lights the lamps.
func (s *Server) onPublish(req *gosip.Request, tx gosip.ServerTransaction) error {
	ev, ok := parseEvent(header(req, "Event", "o"))
	if !ok {
		return fail(489, "Missing Event header", gosip.NewHeader("Allow-Events", "dialog"))
	}
	if ev.pkg != "dialog" {
		return fail(489, "Only Event: dialog can be published", gosip.NewHeader("Allow-Events", "dialog"))
	}
	secs, present, ok := expires(req)
	if !ok {
		return fail(400, "Expires is not a number")
	}
	entity := req.Recipient.User
	if !s.trusted(req.Source()) {
		user, serr := s.authenticate(req)
		if serr != nil {
			return serr
		}
		if user != entity {
			return fail(403, "Extensions may publish only their own state")
		}
	}
	if _, ok := s.opt.Directory.Account(entity); !ok {
		return fail(404, "Unknown extension")
	}
	if !present {
		secs = int64(s.opt.DefaultExpires / time.Second)
	}
	minSecs := int64(s.opt.MinExpires / time.Second)
	if secs != 0 && secs < minSecs {
		return fail(423, "Interval Too Brief", gosip.NewHeader("Min-Expires", strconv.FormatInt(minSecs, 10)))
	}
	secs = min(secs, int64(s.opt.MaxExpires/time.Second))
	body := req.Body()
	ifMatch := header(req, "SIP-If-Match", "")

	var dialogs []presence.Dialog
	var partial bool
	if len(body) > 0 {
		ct := ""
		if h := req.ContentType(); h != nil {
			ct, _, _ = strings.Cut(strings.ToLower(h.Value()), ";")
			ct = strings.TrimSpace(ct)
		}
		if ct != dialoginfo.ContentType {
			return fail(415, "Unsupported Media Type", gosip.NewHeader("Accept", dialoginfo.ContentType))
		}
		info, err := dialoginfo.Parse(body)
		if err != nil {
			return fail(400, "Bad dialog-info: "+strings.TrimPrefix(err.Error(), "dialog-info: "))
		}
		dialogs = dialogsOf(info)
		partial = info.State == "partial"
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	now := time.Now()
	exp := now.Add(time.Duration(secs) * time.Second)
	etag := dialog.NewETag()

	switch {
	case ifMatch == "" && len(body) == 0:
		return fail(400, "PUBLISH needs a body or SIP-If-Match")
	case ifMatch == "" && secs == 0:
		return fail(400, "Expires: 0 needs SIP-If-Match")
	case ifMatch == "":
		if err := s.opt.Store.PutPublication(ctx, PublicationRecord{
			ETag: etag, Entity: entity, Event: "dialog", Expires: exp,
			ContentType: dialoginfo.ContentType, Body: body,
		}); err != nil {
			return &StatusError{Code: 500, Reason: "Could not store the publication", Err: err}
		}
		s.opt.Tracker.Publish(dialog.Publication{ETag: etag, Entity: entity, Expires: exp, Dialogs: dialogs, Body: body})
	case secs == 0:
		if err := s.opt.Tracker.Remove(entity, ifMatch); err != nil {
			return fail(412, "Conditional Request Failed")
		}
		if err := s.opt.Store.DeletePublications(ctx, []string{ifMatch}); err != nil {
			return &StatusError{Code: 500, Reason: "Could not store the publication", Err: err}
		}
		res := gosip.NewResponseFromRequest(req, 200, "OK", nil)
		res.AppendHeader(gosip.NewHeader("Expires", "0"))
		return tx.Respond(res)
	default:
		old, ok := s.opt.Tracker.Get(ifMatch)
		if !ok || old.Entity != entity {
			return fail(412, "Conditional Request Failed")
		}
		stored := body
		switch {
		case len(body) == 0:
			dialogs, stored = old.Dialogs, old.Body
		case partial:
			// Persist the merged state as a full document, so a restart
			// does not restore the fragment alone.
			dialogs = mergePartial(old.Dialogs, dialogs)
			snap := &presence.Snapshot{Entity: entity, Dialogs: dialogs}
			stored = dialoginfo.Encode(dialogInfoOf(snap, renderKey{domain: s.opt.Domain, access: presence.AccessFull}))
		}
		if err := s.opt.Tracker.Replace(ifMatch, dialog.Publication{ETag: etag, Entity: entity, Expires: exp, Dialogs: dialogs, Body: stored}); err != nil {
			if errors.Is(err, dialog.ErrUnknownETag) {
				return fail(412, "Conditional Request Failed")
			}
			return err
		}
		if err := s.opt.Store.ReplacePublication(ctx, ifMatch, PublicationRecord{
			ETag: etag, Entity: entity, Event: "dialog", Expires: exp,
			ContentType: dialoginfo.ContentType, Body: stored,
		}); err != nil {
			return &StatusError{Code: 500, Reason: "Could not store the publication", Err: err}
		}
	}
	res := gosip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(gosip.NewHeader("SIP-ETag", etag))
	res.AppendHeader(gosip.NewHeader("Expires", strconv.FormatInt(secs, 10)))
	return tx.Respond(res)
}

// mergePartial applies a partial dialog-info document to the dialogs of the
// publication it modifies.
func mergePartial(old, upd []presence.Dialog) []presence.Dialog {
	out := append([]presence.Dialog(nil), old...)
	for _, d := range upd {
		found := false
		for i := range out {
			if out[i].ID == d.ID {
				out[i], found = d, true
				break
			}
		}
		if !found {
			out = append(out, d)
		}
	}
	live := out[:0]
	for _, d := range out {
		if d.State != presence.Terminated {
			live = append(live, d)
		}
	}
	return live
}

// dialogsOf maps a published document to presence dialogs.
func dialogsOf(info *dialoginfo.Info) []presence.Dialog {
	out := make([]presence.Dialog, 0, len(info.Dialogs))
	for _, d := range info.Dialogs {
		pd := presence.Dialog{
			ID:        d.ID,
			CallID:    d.CallID,
			LocalTag:  d.LocalTag,
			RemoteTag: d.RemoteTag,
			State:     presence.ParseCallState(d.State),
		}
		switch d.Direction {
		case "initiator":
			pd.Direction = presence.Initiator
		case "recipient":
			pd.Direction = presence.Recipient
		}
		if p := d.Local; p != nil {
			pd.Local = presence.Party{URI: p.Identity, Display: p.IdentityDisplay, Target: p.Target}
			for _, prm := range p.TargetParams {
				if strings.EqualFold(prm.Name, "+sip.rendering") && strings.EqualFold(prm.Value, "no") {
					pd.Held = true
				}
			}
		}
		if p := d.Remote; p != nil {
			pd.Remote = presence.Party{URI: p.Identity, Display: p.IdentityDisplay, Target: p.Target}
		}
		out = append(out, pd)
	}
	return out
}
