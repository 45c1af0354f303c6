// Package dialog keeps the call dialogs of every extension, as published by
// PBXes, SBCs and phones (RFC 3903 event state), and rolls them up into one
// list per extension for presence. It does no I/O: callers feed it
// publications and the clock, and it tells presence what changed.
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
// every live publication of an extension, so the extension is busy if any of
// its publishers says so.
type Tracker struct {
	out Sink

	mu       sync.Mutex
	pubs     map[string]*Publication // by ETag
	byEntity map[string]map[string]*Publication
}

// NewTracker returns a tracker that reports roll-ups to out.
func NewTracker(out Sink) *Tracker {
	return &Tracker{
		out:      out,
		pubs:     make(map[string]*Publication),
		byEntity: make(map[string]map[string]*Publication),
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
	t.mu.Unlock()
	t.out.SetDialogs(p.Entity, presence.SourceSIP, rolled)
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
	t.mu.Unlock()
	t.out.SetDialogs(p.Entity, presence.SourceSIP, rolled)
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
	t.mu.Unlock()
	t.out.SetDialogs(entity, presence.SourceSIP, rolled)
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
	rolled := make(map[string][]presence.Dialog, len(touched))
	for e := range touched {
		rolled[e] = t.rollupLocked(e)
	}
	t.mu.Unlock()
	for e, ds := range rolled {
		t.out.SetDialogs(e, presence.SourceSIP, ds)
	}
	slices.Sort(gone)
	return gone
}

// Len reports the number of live publications.
func (t *Tracker) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.pubs)
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

// rollupLocked merges the dialogs of every publication of an extension. When
// two publishers report the same dialog, the one that expires last (the most
// recently refreshed) wins.
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
	return out
}
