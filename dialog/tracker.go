// Package dialog keeps the call dialogs of every extension and rolls them up
// into one list per extension for presence. The dialogs come from two
// sources: those published by PBXes, SBCs and phones (RFC 3903 event state),
// and the calls the edge proxy sees pass through it, which Calls turns from
// forwarded requests and responses into call legs. It does no I/O and knows
// no SIP library: callers feed it publications, proxied messages and the
// clock, and it tells presence what changed.
package dialog

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/blfgw/blfgw/presence"
)

// ErrUnknownETag means a conditional PUBLISH named an entity tag that does
// not exist, has expired, or belongs to another extension (RFC 3903 412).
var ErrUnknownETag = errors.New("unknown or expired entity tag")

// Sink receives the rolled-up dialogs of an extension; *presence.Hub is one.
type Sink interface {
	SetDialogs(entity string, src presence.Source, dialogs []presence.Dialog)
}

// Publication is one publisher's event state for one extension.
type Publication struct {
	ETag    string
	Entity  string
	Expires time.Time
	Dialogs []presence.Dialog
	Body    []byte // the document as published, kept for persistence
}

// Tracker is an event state compositor for the dialog package: it merges
// every live publication of an extension, and the calls the proxy saw it
// take part in, so the extension is busy if any of them says so.
type Tracker struct {
	// out is called with mu held, so that two changes of one extension
	// reach presence in the order they were made (a roll-up computed
	// first must not land last). The Hub never calls back into a Tracker.
	out Sink

	mu       sync.Mutex
	pubs     map[string]*Publication // by ETag
	byEntity map[string]map[string]*Publication
	calls    map[string][]presence.Dialog // by entity, in order of arrival
}

// NewTracker returns a tracker that reports roll-ups to out.
func NewTracker(out Sink) *Tracker {
	return &Tracker{
		out:      out,
		pubs:     make(map[string]*Publication),
		byEntity: make(map[string]map[string]*Publication),
		calls:    make(map[string][]presence.Dialog),
	}
}

// NewETag returns a fresh entity tag.
func NewETag() string {
	var b [10]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on supported platforms
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])
}

// Publish stores a new publication (or restores one after a restart) and
// reports the extension's new roll-up.
func (t *Tracker) Publish(p Publication) {
	t.mu.Lock()
	t.putLocked(&p)
	rolled := t.rollupLocked(p.Entity)
	t.out.SetDialogs(p.Entity, presence.SourceSIP, rolled)
	t.mu.Unlock()
}

// Replace swaps the publication behind oldETag for p (a refresh or a modify,
// which both get a new ETag). A nil Dialogs in p keeps the old state.
func (t *Tracker) Replace(oldETag string, p Publication) error {
	t.mu.Lock()
	old := t.pubs[oldETag]
	if old == nil || old.Entity != p.Entity {
		t.mu.Unlock()
		return ErrUnknownETag
	}
	if p.Dialogs == nil {
		p.Dialogs, p.Body = old.Dialogs, old.Body
	}
	t.removeLocked(old)
	t.putLocked(&p)
	rolled := t.rollupLocked(p.Entity)
	t.out.SetDialogs(p.Entity, presence.SourceSIP, rolled)
	t.mu.Unlock()
	return nil
}

// Get returns a copy of a live publication.
func (t *Tracker) Get(etag string) (Publication, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.pubs[etag]
	if p == nil {
		return Publication{}, false
	}
	return *p, true
}

// Remove deletes a publication of entity (PUBLISH with Expires: 0).
func (t *Tracker) Remove(entity, etag string) error {
	t.mu.Lock()
	p := t.pubs[etag]
	if p == nil || p.Entity != entity {
		t.mu.Unlock()
		return ErrUnknownETag
	}
	t.removeLocked(p)
	rolled := t.rollupLocked(entity)
	t.out.SetDialogs(entity, presence.SourceSIP, rolled)
	t.mu.Unlock()
	return nil
}

// Expire removes every publication that expired at or before now and
// returns their ETags; expiry is a state change like any other.
func (t *Tracker) Expire(now time.Time) []string {
	t.mu.Lock()
	var gone []string
	touched := map[string]bool{}
	for etag, p := range t.pubs {
		if !p.Expires.After(now) {
			gone = append(gone, etag)
			touched[p.Entity] = true
			t.removeLocked(p)
		}
	}
	for e := range touched {
		t.out.SetDialogs(e, presence.SourceSIP, t.rollupLocked(e))
	}
	t.mu.Unlock()
	slices.Sort(gone)
	return gone
}

// Len reports the number of live publications.
func (t *Tracker) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.pubs)
}

// SetCall adds or updates (by d.ID) a call of entity seen by the proxy and
// reports the extension's new roll-up. Setting a dialog that is already
// there unchanged reports nothing; setting one Terminated ends it.
func (t *Tracker) SetCall(entity string, d presence.Dialog) {
	if d.State == presence.Terminated {
		t.EndCall(entity, d.ID)
		return
	}
	t.mu.Lock()
	calls := t.calls[entity]
	i := slices.IndexFunc(calls, func(c presence.Dialog) bool { return c.ID == d.ID })
	switch {
	case i < 0:
		t.calls[entity] = append(calls, d)
	case sameDialog(calls[i], d):
		t.mu.Unlock()
		return
	default:
		calls[i] = d
	}
	rolled := t.rollupLocked(entity)
	t.out.SetDialogs(entity, presence.SourceSIP, rolled)
	t.mu.Unlock()
}

// EndCall removes a call of entity and reports the extension's new roll-up;
// ending a call that is not there reports nothing.
func (t *Tracker) EndCall(entity, id string) {
	t.mu.Lock()
	calls := t.calls[entity]
	i := slices.IndexFunc(calls, func(c presence.Dialog) bool { return c.ID == id })
	if i < 0 {
		t.mu.Unlock()
		return
	}
	calls = slices.Delete(calls, i, i+1)
	if len(calls) == 0 {
		delete(t.calls, entity)
	} else {
		t.calls[entity] = calls
	}
	rolled := t.rollupLocked(entity)
	t.out.SetDialogs(entity, presence.SourceSIP, rolled)
	t.mu.Unlock()
}

// Calls returns a copy of the calls of entity seen by the proxy, in the
// order they began.
func (t *Tracker) Calls(entity string) []presence.Dialog {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.calls[entity])
}

func sameDialog(a, b presence.Dialog) bool {
	if !a.Since.Equal(b.Since) {
		return false
	}
	a.Since, b.Since = time.Time{}, time.Time{}
	return a == b
}

func (t *Tracker) putLocked(p *Publication) {
	t.pubs[p.ETag] = p
	m := t.byEntity[p.Entity]
	if m == nil {
		m = make(map[string]*Publication)
		t.byEntity[p.Entity] = m
	}
	m[p.ETag] = p
}

func (t *Tracker) removeLocked(p *Publication) {
	delete(t.pubs, p.ETag)
	if m := t.byEntity[p.Entity]; m != nil {
		delete(m, p.ETag)
		if len(m) == 0 {
			delete(t.byEntity, p.Entity)
		}
	}
}

// rollupLocked merges the dialogs of every publication of an extension, then
// appends the calls the proxy saw. When two publishers report the same
// dialog, the one that expires last (the most recently refreshed) wins; a
// call is never merged with a publication, but ids stay unique.
func (t *Tracker) rollupLocked(entity string) []presence.Dialog {
	pubs := make([]*Publication, 0, len(t.byEntity[entity]))
	for _, p := range t.byEntity[entity] {
		pubs = append(pubs, p)
	}
	slices.SortFunc(pubs, func(a, b *Publication) int {
		if c := a.Expires.Compare(b.Expires); c != 0 {
			return c
		}
		switch {
		case a.ETag < b.ETag:
			return -1
		case a.ETag > b.ETag:
			return 1
		}
		return 0
	})
	byKey := map[string]int{}
	ids := map[string]bool{}
	var out []presence.Dialog
	for _, p := range pubs {
		for _, d := range p.Dialogs {
			key := d.ID + "\x00" + d.CallID
			if i, ok := byKey[key]; ok {
				d.ID = out[i].ID
				out[i] = d
				continue
			}
			// Two publishers may number their dialogs alike; the merged
			// document still needs unique ids (RFC 4235).
			for base, n := d.ID, 2; ids[d.ID]; n++ {
				d.ID = base + "-" + strconv.Itoa(n)
			}
			ids[d.ID] = true
			byKey[key] = len(out)
			out = append(out, d)
		}
	}
	for _, d := range t.calls[entity] {
		for base, n := d.ID, 2; ids[d.ID]; n++ {
			d.ID = base + "-" + strconv.Itoa(n)
		}
		ids[d.ID] = true
		out = append(out, d)
	}
	return out
}
