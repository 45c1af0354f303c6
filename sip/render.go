package sip

import (
	"unicode/utf8"

	"github.com/blfgw/blfgw/presence"
	"github.com/blfgw/blfgw/sip/dialoginfo"
	"github.com/blfgw/blfgw/sip/pidf"
)

// renderKey names one encoding of a snapshot; every subscription with the
// same key shares it, so a change is encoded once per variant, not once per
// watcher.
type renderKey struct {
	format format
	dummy  bool
	single bool
	domain string
	access presence.Access
}

// render returns the body for one NOTIFY; only the dialog-info version
// differs between subscriptions. What the watcher may see is decided by
// the policy the snapshot was made under.
func (s *Server) render(sub *subscription, snap *presence.Snapshot, access presence.Access, version uint32) []byte {
	key := renderKey{format: sub.format, dummy: sub.idle == "dummy", single: sub.single, domain: s.opt.Domain, access: access}
	if sub.format == formatPIDF {
		key.dummy, key.single = false, false
		return snap.Render(key, func() any { return pidf.Encode(pidfOf(snap, key.access, key.domain)) }).([]byte)
	}
	t := snap.Render(key, func() any { return dialoginfo.NewTemplate(dialogInfoOf(snap, key)) }).(dialoginfo.Template)
	return t.Append(make([]byte, 0, t.Len()+10), version)
}

func aor(user, domain string) string { return "sip:" + user + "@" + domain }

// dialogInfoOf maps a snapshot to RFC 4235, the way phones light lamps
// (SIP-CONFORMANCE.md 2.2): early recipient = ringing, confirmed = busy,
// confirmed with +sip.rendering=no on the local target = hold. A manual
// Do Not Disturb is one confirmed dialog; a blocked watcher sees idle.
func dialogInfoOf(snap *presence.Snapshot, key renderKey) *dialoginfo.Info {
	entity := aor(snap.Entity, key.domain)
	info := &dialoginfo.Info{State: "full", Entity: entity}
	dialogs := snap.View(key.access).Dialogs
	if key.single && len(dialogs) > 1 {
		dialogs = []presence.Dialog{mostInteresting(dialogs)}
	}
	for _, d := range dialogs {
		out := dialoginfo.Dialog{
			ID:        d.ID,
			CallID:    d.CallID,
			LocalTag:  d.LocalTag,
			RemoteTag: d.RemoteTag,
			Direction: d.Direction.String(),
			State:     d.State.String(),
		}
		local := &dialoginfo.Participant{
			Identity:        orDefault(d.Local.URI, entity),
			IdentityDisplay: clip(d.Local.Display),
			Target:          orDefault(d.Local.Target, orDefault(d.Local.URI, entity)),
		}
		if d.Held {
			local.TargetParams = []dialoginfo.Param{{Name: "+sip.rendering", Value: "no"}}
		}
		out.Local = local
		if d.Remote.URI != "" {
			out.Remote = &dialoginfo.Participant{
				Identity:        d.Remote.URI,
				IdentityDisplay: clip(d.Remote.Display),
				Target:          orDefault(d.Remote.Target, d.Remote.URI),
			}
		}
		info.Dialogs = append(info.Dialogs, out)
	}
	if len(info.Dialogs) == 0 && key.dummy {
		info.Dialogs = []dialoginfo.Dialog{{ID: "0000", State: "terminated"}}
	}
	return info
}

// mostInteresting ranks dialogs for phones that show only one: ringing,
// then talking, then dialling (Kamailio force_single_dialog).
func mostInteresting(ds []presence.Dialog) presence.Dialog {
	rank := func(d presence.Dialog) int {
		switch d.State {
		case presence.Early:
			return 4
		case presence.Confirmed:
			return 3
		case presence.Proceeding:
			return 2
		case presence.Trying:
			return 1
		}
		return 0
	}
	best := ds[0]
	for _, d := range ds[1:] {
		if rank(d) > rank(best) {
			best = d
		}
	}
	return best
}

// pidfOf maps a snapshot to PIDF with RPID: open and on-the-phone while any
// call is up or ringing, busy for Do Not Disturb or a presence service's
// busy (with its note, e.g. "In a meeting"), away for Appear Away or the
// service's away, closed when offline; the user's message goes into the
// notes. A blocked
// watcher sees a plain open tuple.
func pidfOf(snap *presence.Snapshot, access presence.Access, domain string) *pidf.Document {
	doc := &pidf.Document{Entity: aor(snap.Entity, domain)}
	tuple := pidf.Tuple{ID: "t" + snap.Entity, Basic: "open", Contact: aor(snap.Entity, domain)}
	person := &pidf.Person{ID: "p" + snap.Entity}
	v := snap.View(access)
	lamp := presence.LampOf(v.Dialogs)
	switch {
	case v.Offline && len(v.Dialogs) == 0:
		tuple.Basic, tuple.Note = "closed", orDefault(v.Cloud.Note, "Offline")
	case v.Status == presence.StatusDND && (v.Synthetic || lamp == presence.LampIdle):
		tuple.Note = "Do Not Disturb"
		person.Activities = []string{"busy"}
	case lamp == presence.LampRinging:
		tuple.Note = "Ringing"
		person.Activities = []string{"on-the-phone"}
	case lamp == presence.LampOutgoing:
		tuple.Note = "Calling"
		person.Activities = []string{"on-the-phone"}
	case lamp == presence.LampBusy && !v.Synthetic:
		tuple.Note = "On the phone"
		person.Activities = []string{"on-the-phone"}
	case lamp == presence.LampHold:
		tuple.Note = "On hold"
		person.Activities = []string{"on-the-phone"}
	case v.Cloud.State == presence.CloudBusy:
		tuple.Note = orDefault(v.Cloud.Note, "Busy")
		person.Activities = []string{"busy"}
	case v.Status == presence.StatusAway:
		tuple.Note = "Away"
		person.Activities = []string{"away"}
	case v.Cloud.State == presence.CloudAway:
		tuple.Note = orDefault(v.Cloud.Note, "Away")
		person.Activities = []string{"away"}
	default:
		tuple.Note = "Available"
	}
	if v.Message != "" {
		tuple.Note += ": " + v.Message
	}
	person.Note = tuple.Note
	doc.Tuples = []pidf.Tuple{tuple}
	doc.Person = person
	return doc
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// clip bounds a display name; phones have small screens and some crash on
// long names.
func clip(s string) string {
	const max = 64
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max])
}
