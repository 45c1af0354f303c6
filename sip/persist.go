package sip

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/blfgw/blfgw/dialog"
	"github.com/blfgw/blfgw/sip/dialoginfo"
)

// SubscriptionRecord is a subscription as the store keeps it. Its fields
// match store.Subscription, so the wiring converts one into the other.
type SubscriptionRecord struct {
	ID      string
	Entity  string
	Event   string
	Watcher string
	Expires time.Time
	CSeq    uint32
	Version uint32
	Data    []byte
}

// PublicationRecord is a publication as the store keeps it; it matches
// store.Publication.
type PublicationRecord struct {
	ETag        string
	Entity      string
	Event       string
	Expires     time.Time
	ContentType string
	Body        []byte
}

// Store is what the SIP edge persists so that a restart loses nothing a
// phone was told.
type Store interface {
	PutSubscriptions(ctx context.Context, subs []SubscriptionRecord) error
	// UpdateSubscriptionCounters writes only CSeq, Version and Expires of
	// stored subscriptions (Data is left out of the records).
	UpdateSubscriptionCounters(ctx context.Context, subs []SubscriptionRecord) error
	DeleteSubscriptions(ctx context.Context, ids []string) error
	Subscriptions(ctx context.Context) ([]SubscriptionRecord, error)
	PutPublication(ctx context.Context, p PublicationRecord) error
	ReplacePublication(ctx context.Context, oldETag string, p PublicationRecord) error
	DeletePublications(ctx context.Context, etags []string) error
	Publications(ctx context.Context) ([]PublicationRecord, error)
	Meta(ctx context.Context, key string) (string, bool, error)
	SetMeta(ctx context.Context, key, value string) error
}

// persister writes subscriptions behind the NOTIFY path: a NOTIFY marks its
// subscription's counters dirty and the persister stores the latest CSeq and
// version in batches. A SUBSCRIBE waits for its write (sync), because what a
// phone was told must survive a kill -9. All writes of one subscription go
// through here, in order, so an old record never overwrites a newer one.
type persister struct {
	srv *Server

	mu       sync.Mutex
	full     map[string]*subscription // whole record to write
	counters map[string]*subscription // only CSeq, version, expiry changed
	gone     map[string]bool
	waiters  []chan error
	kick     chan struct{}
}

// restoreJump is the block of CSeq and version numbers reserved in the
// store at a time: after a kill -9 they continue from the reservation, at
// most this far ahead of the last NOTIFY sent.
const restoreJump = 100

func newPersister(s *Server) *persister {
	return &persister{
		srv:      s,
		full:     map[string]*subscription{},
		counters: map[string]*subscription{},
		gone:     map[string]bool{},
		kick:     make(chan struct{}, 1),
	}
}

// dirty notes that sub's CSeq and version moved (a NOTIFY went out).
func (p *persister) dirty(sub *subscription) {
	p.mu.Lock()
	if p.full[sub.key] == nil {
		p.counters[sub.key] = sub
	}
	p.mu.Unlock()
}

func (p *persister) deleted(key string) {
	p.mu.Lock()
	delete(p.full, key)
	delete(p.counters, key)
	p.gone[key] = true
	p.mu.Unlock()
}

// sync stores sub and waits until it is committed.
func (p *persister) sync(ctx context.Context, sub *subscription) error {
	ch := make(chan error, 1)
	p.mu.Lock()
	p.full[sub.key] = sub
	delete(p.counters, sub.key)
	delete(p.gone, sub.key)
	p.waiters = append(p.waiters, ch)
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *persister) run(ctx context.Context) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-p.kick:
		}
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if err := p.flush(wctx); err != nil {
			p.srv.log.Error("persist subscriptions", "err", err)
		}
		cancel()
	}
}

// flush writes everything dirty and answers the waiters.
func (p *persister) flush(ctx context.Context) error {
	p.mu.Lock()
	full, counters, gone, waiters := p.full, p.counters, p.gone, p.waiters
	p.full, p.counters, p.gone, p.waiters = map[string]*subscription{}, map[string]*subscription{}, map[string]bool{}, nil
	p.mu.Unlock()
	var err error
	if len(full) > 0 {
		recs := make([]SubscriptionRecord, 0, len(full))
		for _, sub := range full {
			recs = append(recs, sub.record(true, false))
		}
		err = p.srv.opt.Store.PutSubscriptions(ctx, recs)
	}
	if len(counters) > 0 && err == nil {
		recs := make([]SubscriptionRecord, 0, len(counters))
		for _, sub := range counters {
			recs = append(recs, sub.record(false, false))
		}
		err = p.srv.opt.Store.UpdateSubscriptionCounters(ctx, recs)
	}
	if len(gone) > 0 && err == nil {
		ids := make([]string, 0, len(gone))
		for k := range gone {
			ids = append(ids, k)
		}
		err = p.srv.opt.Store.DeleteSubscriptions(ctx, ids)
	}
	if err != nil {
		// Keep them for the next round, unless something newer came.
		p.mu.Lock()
		for k, sub := range full {
			if !p.gone[k] {
				p.full[k] = sub
				delete(p.counters, k)
			}
		}
		for k, sub := range counters {
			if !p.gone[k] && p.full[k] == nil {
				p.counters[k] = sub
			}
		}
		for k := range gone {
			if p.full[k] == nil && p.counters[k] == nil {
				p.gone[k] = true
			}
		}
		p.mu.Unlock()
		err = fmt.Errorf("persist: %w", err)
	}
	for _, w := range waiters {
		w <- err
	}
	return err
}

// flushExact writes the exact counters of every live subscription, at a
// clean stop, so the next start continues without a jump.
func (p *persister) flushExact(ctx context.Context) error {
	if err := p.flush(ctx); err != nil {
		return err
	}
	subs := p.srv.subs.all()
	recs := make([]SubscriptionRecord, 0, len(subs))
	for _, sub := range subs {
		recs = append(recs, sub.record(false, true))
	}
	if len(recs) == 0 {
		return nil
	}
	if err := p.srv.opt.Store.UpdateSubscriptionCounters(ctx, recs); err != nil {
		return fmt.Errorf("persist exact counters: %w", err)
	}
	return nil
}

// restore brings back publications and subscriptions from the store and
// sends every restored subscription a full-state NOTIFY.
// restoreGrace delays the first NOTIFY of a restored subscription over a
// connection-oriented transport.
const restoreGrace = time.Second

func (s *Server) restore(ctx context.Context) error {
	now := time.Now()
	clean, _, err := s.opt.Store.Meta(ctx, metaClean)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := s.opt.Store.SetMeta(ctx, metaClean, "0"); err != nil {
		return fmt.Errorf("restore: %w", err)
	}

	pubs, err := s.opt.Store.Publications(ctx)
	if err != nil {
		return fmt.Errorf("restore publications: %w", err)
	}
	var stale []string
	for _, p := range pubs {
		if !p.Expires.After(now) {
			stale = append(stale, p.ETag)
			continue
		}
		info, err := dialoginfo.Parse(p.Body)
		if err != nil {
			s.log.Warn("dropping unreadable stored publication", "etag", p.ETag, "entity", p.Entity, "err", err)
			stale = append(stale, p.ETag)
			continue
		}
		s.opt.Tracker.Publish(dialog.Publication{
			ETag: p.ETag, Entity: p.Entity, Expires: p.Expires,
			Dialogs: dialogsOf(info), Body: p.Body,
		})
	}
	if len(stale) > 0 {
		if err := s.opt.Store.DeletePublications(ctx, stale); err != nil {
			return fmt.Errorf("restore publications: %w", err)
		}
	}

	recs, err := s.opt.Store.Subscriptions(ctx)
	if err != nil {
		return fmt.Errorf("restore subscriptions: %w", err)
	}
	var dead []string
	var live []*subscription
	for _, r := range recs {
		if !r.Expires.After(now) {
			dead = append(dead, r.ID)
			continue
		}
		sub, err := s.fromRecord(r)
		if err != nil {
			s.log.Warn("dropping unreadable stored subscription", "err", err)
			dead = append(dead, r.ID)
			continue
		}
		// After a clean stop these are the exact counters, after a kill -9
		// reservations at least as high as anything sent; either way the
		// next NOTIFY continues upward from them.
		sub.reserveLocked()
		live = append(live, sub)
	}
	// The new reservations are stored before any restored NOTIFY uses them.
	marks := make([]SubscriptionRecord, 0, len(live))
	for _, sub := range live {
		marks = append(marks, sub.record(false, false))
	}
	if len(marks) > 0 {
		if err := s.opt.Store.UpdateSubscriptionCounters(ctx, marks); err != nil {
			return fmt.Errorf("restore subscriptions: %w", err)
		}
	}
	for _, sub := range live {
		sub.holding = true
		s.start(sub)
		if sub.transport == "UDP" {
			sub.release()
			continue
		}
		// A phone whose TCP/TLS connection the restart cut reconnects
		// within a second or so; dialling its Contact in that same instant
		// makes two connections race, and some stacks lose what arrives on
		// the second one (SIPp 3.6.1 does, now and then).
		time.AfterFunc(restoreGrace, sub.release)
	}
	restored := len(live)
	if len(dead) > 0 {
		if err := s.opt.Store.DeleteSubscriptions(ctx, dead); err != nil {
			return fmt.Errorf("restore subscriptions: %w", err)
		}
	}
	s.log.Info("restored state", "publications", len(pubs)-len(stale), "subscriptions", restored, "clean_stop", clean == "1")
	return nil
}
