package sip

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"slices"
	"strconv"
	"strings"
	"sync"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/blfgw/blfgw/presence"
)

// Resource lists (RFC 4662). A phone subscribes once to its owner's list,
// <extension><ListSuffix> (1003-blf), with Supported: eventlist, and gets
// the state of every colleague on the owner's appearance list — the list
// the web page's Directory and the API edit — in multipart/related
// NOTIFYs: an RLMI document naming each colleague, then one dialog-info
// or PIDF part per colleague, each exactly what a subscription of the
// owner's to that colleague alone would carry. Phones that build their
// BLF keys from such a list (Yealink's "BLF List URI", Poly's
// attendant.uri, Grandstream's "Eventlist BLF URI") then show the keys of
// the HUD, labelled with the names.

// maxListMembers bounds one list: a phone's keys and expansion modules
// hold fewer, and the full state of 100 colleagues is already ~50 KB.
const maxListMembers = 100

// Lists is where resource lists come from: the owner's appearance list,
// and a signal after any list may have changed.
type Lists interface {
	Appearance(owner string) []string
	Changed() <-chan struct{}
}

// rlmiType is RFC 4662's list meta-information.
const rlmiType = "application/rlmi+xml"

// listMember is one colleague on a list, as the RLMI names them.
type listMember struct {
	ext, name string
}

// rlsList is what a list subscription keeps besides a subscription's
// own state; guarded by the subscription's mu, except that sync runs
// under syncMu alone while it watches and unwatches.
type rlsList struct {
	name    string // the Request-URI user: 1003-blf
	members []listMember
	snaps   map[string]*presence.Snapshot
	sentSeq map[string]uint64
	unwatch map[string]func()
	full    bool // the next NOTIFY carries the whole list

	syncMu sync.Mutex
}

// member is the presence.Watcher of one colleague on a list: it hands
// the colleague's snapshots to the list's subscription.
type member struct {
	sub *subscription
	ext string
}

// Offer implements presence.Watcher.
func (m member) Offer(snap *presence.Snapshot) {
	sub := m.sub
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.gone || sub.final != "" {
		return
	}
	cur, on := sub.list.snaps[m.ext]
	if !on || (cur != nil && snap.Seq <= cur.Seq) {
		return
	}
	sub.list.snaps[m.ext] = snap
	sub.kickLocked()
}

// ListURI is the SIP URI phones subscribe to for number's BLF list, or ""
// when lists are off.
func (s *Server) ListURI(number string) string {
	if s.opt.Lists == nil || s.opt.ListSuffix == "" {
		return ""
	}
	return aor(number+s.opt.ListSuffix, s.opt.Domain)
}

// listOwner returns the owner of the list that user names, if it names
// one: a known extension followed by the configured suffix.
func (s *Server) listOwner(user string) (Account, bool) {
	if s.opt.Lists == nil || s.opt.ListSuffix == "" {
		return Account{}, false
	}
	owner, ok := strings.CutSuffix(user, s.opt.ListSuffix)
	if !ok || owner == "" {
		return Account{}, false
	}
	return s.opt.Directory.Account(owner)
}

// checkList answers why a list SUBSCRIBE cannot be served, or nil.
func (s *Server) checkList(req *gosip.Request, owner Account, watcher string) error {
	if !supports(req, "eventlist") {
		// RFC 4662 section 5: a list needs a subscriber that knows it.
		return fail(421, "Extension Required: subscribing to a list needs Supported: eventlist", gosip.NewHeader("Require", "eventlist"))
	}
	if !acceptable(req, "multipart/related") || !acceptable(req, rlmiType) {
		return fail(406, "A list is sent as multipart/related with application/rlmi+xml; Accept lacks one of them",
			gosip.NewHeader("Accept", "multipart/related, "+rlmiType+", application/dialog-info+xml, application/pidf+xml"))
	}
	if a, ok := s.opt.Directory.Account(watcher); !ok || a.Number != owner.Number {
		return fail(403, "The list "+owner.Number+s.opt.ListSuffix+" is "+owner.Number+"'s own")
	}
	return nil
}

// membersOf reads the owner's appearance list now: known extensions only,
// each once, at most maxListMembers.
func (s *Server) membersOf(owner string) []listMember {
	var out []listMember
	for _, n := range s.opt.Lists.Appearance(owner) {
		a, ok := s.opt.Directory.Account(n)
		if !ok || slices.ContainsFunc(out, func(m listMember) bool { return m.ext == a.Number }) {
			continue
		}
		out = append(out, listMember{ext: a.Number, name: a.Name})
		if len(out) == maxListMembers {
			break
		}
	}
	return out
}

// syncList makes sub's list follow its owner's appearance list: new
// colleagues are watched, removed ones let go, and a changed list (or a
// renamed colleague) is sent whole at the next NOTIFY.
func (s *Server) syncList(sub *subscription) {
	l := sub.list
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	next := s.membersOf(sub.entity)

	sub.mu.Lock()
	if sub.gone || slices.Equal(next, l.members) {
		sub.mu.Unlock()
		return
	}
	var add, drop []string
	for _, m := range next {
		if _, on := l.snaps[m.ext]; !on {
			add = append(add, m.ext)
			l.snaps[m.ext] = nil // on the list; its snapshot follows
		}
	}
	for _, m := range l.members {
		if !slices.ContainsFunc(next, func(n listMember) bool { return n.ext == m.ext }) {
			drop = append(drop, m.ext)
			delete(l.snaps, m.ext)
			delete(l.sentSeq, m.ext)
		}
	}
	l.members = next
	l.full = true
	var stop []func()
	for _, ext := range drop {
		stop = append(stop, l.unwatch[ext])
		delete(l.unwatch, ext)
	}
	sub.mu.Unlock()

	// The hub may offer a snapshot while Watch runs: Offer takes sub.mu,
	// so none of this holds it.
	for _, f := range stop {
		if f != nil {
			f()
		}
	}
	for _, ext := range add {
		snap, unwatch := s.opt.Hub.Watch(ext, member{sub: sub, ext: ext})
		sub.mu.Lock()
		gone := sub.gone
		if !gone {
			if cur, on := l.snaps[ext]; on && (cur == nil || snap.Seq > cur.Seq) {
				l.snaps[ext] = snap
			}
			l.unwatch[ext] = unwatch
		}
		sub.mu.Unlock()
		if gone {
			unwatch()
		}
	}
	sub.mu.Lock()
	sub.kickLocked()
	sub.mu.Unlock()
}

// unwatchList lets go of every colleague of a list that has ended.
func (sub *subscription) unwatchList() {
	l := sub.list
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	sub.mu.Lock()
	stop := l.unwatch
	l.unwatch = map[string]func(){}
	sub.mu.Unlock()
	for _, f := range stop {
		f()
	}
}

// listChangedLocked reports whether the list has something to send.
func (l *rlsList) changedLocked() bool {
	if l.full {
		return true
	}
	for ext, snap := range l.snaps {
		if snap != nil && snap.Seq != l.sentSeq[ext] {
			return true
		}
	}
	return false
}

// renderList builds the multipart/related body of a list NOTIFY (RFC 4662
// section 5): the RLMI document first, then one part per colleague whose
// state is new, or every colleague when full. A colleague who refuses the
// owner (blocked = "refuse") is listed terminated;reason=rejected with no
// part; one the hub has not reported yet is listed pending. Called with
// sub.mu held.
func (s *Server) renderList(sub *subscription, full bool, version uint32) []byte {
	l := sub.list
	var rlmi, parts bytes.Buffer
	rlmi.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	rlmi.WriteString(`<list xmlns="urn:ietf:params:xml:ns:rlmi" uri="`)
	xmlText(&rlmi, aor(l.name, s.opt.Domain))
	rlmi.WriteString(`" version="`)
	rlmi.WriteString(strconv.FormatUint(uint64(version), 10))
	rlmi.WriteString(`" fullState="`)
	rlmi.WriteString(strconv.FormatBool(full))
	rlmi.WriteString("\">\n")
	if full {
		rlmi.WriteString("<name>")
		xmlText(&rlmi, "BLF list of "+sub.entity)
		rlmi.WriteString("</name>\n")
	}
	for _, m := range l.members {
		snap := l.snaps[m.ext]
		if !full && (snap == nil || snap.Seq == l.sentSeq[m.ext]) {
			continue
		}
		rlmi.WriteString(`<resource uri="`)
		xmlText(&rlmi, aor(m.ext, s.opt.Domain))
		rlmi.WriteString("\">")
		if m.name != "" {
			rlmi.WriteString("<name>")
			xmlText(&rlmi, m.name)
			rlmi.WriteString("</name>")
		}
		rlmi.WriteString(`<instance id="`)
		xmlText(&rlmi, m.ext)
		var access presence.Access
		if snap != nil {
			access = snap.Policy.Access(sub.watcher, m.ext)
		}
		switch {
		case snap == nil:
			rlmi.WriteString(`" state="pending"/>`)
		case refused(snap.Policy, access):
			rlmi.WriteString(`" state="terminated" reason="rejected"/>`)
			l.sentSeq[m.ext] = snap.Seq
		default:
			cid := m.ext + "." + strconv.FormatUint(uint64(version), 10) + "@" + s.opt.Domain
			rlmi.WriteString(`" state="active" cid="`)
			xmlText(&rlmi, cid)
			rlmi.WriteString(`"/>`)
			body := s.render(sub, snap, access, version)
			s.part(&parts, "<"+cid+">", sub.format.contentType(), body)
			l.sentSeq[m.ext] = snap.Seq
		}
		rlmi.WriteString("</resource>\n")
	}
	rlmi.WriteString("</list>\n")
	l.full = false

	var out bytes.Buffer
	s.part(&out, "<"+s.rlsStart+">", rlmiType+`;charset="UTF-8"`, rlmi.Bytes())
	out.Write(parts.Bytes())
	out.WriteString("--" + s.rlsBoundary + "--\r\n")
	return out.Bytes()
}

// part writes one body part of a list NOTIFY.
func (s *Server) part(b *bytes.Buffer, cid, ct string, body []byte) {
	b.WriteString("--" + s.rlsBoundary + "\r\nContent-Transfer-Encoding: binary\r\nContent-ID: ")
	b.WriteString(cid)
	b.WriteString("\r\nContent-Type: ")
	b.WriteString(ct)
	b.WriteString("\r\n\r\n")
	b.Write(body)
	b.WriteString("\r\n")
}

// listContentType is the Content-Type of every list NOTIFY of this server.
func (s *Server) listContentType() string {
	return `multipart/related;type="` + rlmiType + `";start="<` + s.rlsStart + `>";boundary="` + s.rlsBoundary + `"`
}

// newBoundary returns a multipart boundary that no XML body can contain
// by chance.
func newBoundary() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "blfgw-rls-" + hex.EncodeToString(b[:])
}

func xmlText(b *bytes.Buffer, s string) {
	_ = xml.EscapeText(b, []byte(s))
}

// resyncLists runs every list after the lists may have changed.
func (s *Server) resyncLists() {
	for _, sub := range s.subs.lists() {
		s.syncList(sub)
	}
}

func newList(name string) *rlsList {
	return &rlsList{name: name, snaps: map[string]*presence.Snapshot{}, sentSeq: map[string]uint64{}, unwatch: map[string]func(){}}
}

// listName is the list's name, or "" for a subscription to one extension.
func (sub *subscription) listName() string {
	if sub.list == nil {
		return ""
	}
	return sub.list.name
}

// contact is the user part of our Contact in this subscription's
// messages: the list, or the extension.
func (sub *subscription) contact() string {
	if sub.list != nil {
		return sub.list.name
	}
	return sub.entity
}
