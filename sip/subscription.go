package sip

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"
	"unique"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/blfgw/blfgw/presence"
	"github.com/blfgw/blfgw/sip/dialoginfo"
	"github.com/blfgw/blfgw/sip/pidf"
)

// format is the body type a subscription receives.
type format uint8

const (
	formatDialog format = iota + 1
	formatPIDF
)

func (f format) contentType() string {
	if f == formatPIDF {
		return pidf.ContentType
	}
	return dialoginfo.ContentType
}

// subscription is one RFC 6665 subscription dialog, seen from the notifier.
// It is also the presence.Watcher of its extension: Offer keeps only the
// newest snapshot, and the notifier sends it when no NOTIFY is in flight.
type subscription struct {
	srv *Server

	// Fixed for the life of the subscription.
	key      string
	entity   string
	ev       event
	format   format
	idle     string // "empty" or "dummy"
	single   bool
	watcher  string
	agent    unique.Handle[string] // User-Agent: a few distinct values among thousands of phones
	callID   string
	ourTag   string
	peerTag  string
	peerFrom string   // subscriber's From (with its tag): our To
	peerTo   string   // subscriber's To (without a tag): our From, with ourTag
	list     *rlsList // a resource list (RFC 4662) of entity's colleagues; nil: entity itself

	mu         sync.Mutex
	targetRaw  string // remote target, from Contact: the NOTIFY Request-URI
	targetHost string
	targetPort int // 0: the transport's default
	routes     []string
	transport  string
	source     string
	remoteCSeq uint32
	expires    time.Time
	cseq       uint32
	version    uint32 // next dialog-info version to send
	// The store holds reservations, not the exact counters: cseqMark and
	// versionMark are at least as high as anything sent, so a kill -9
	// cannot make them go backwards, and the store is written once per
	// restoreJump/2 NOTIFYs instead of for every one.
	cseqMark, versionMark uint32
	latest                *presence.Snapshot
	sentSeq               uint64
	sent                  bool
	force                 bool   // send the current state even if it was sent already
	final                 string // termination reason still to send
	holding               bool   // accepted but not yet answered: no NOTIFY may overtake the 200
	queued                bool
	inflight              bool
	gone                  bool
	fails                 int
	timer                 *time.Timer
	unwatch               func()
}

var _ presence.Watcher = (*subscription)(nil)

func subKey(callID, ourTag, peerTag string, ev event) string {
	return callID + "|" + ourTag + "|" + peerTag + "|" + ev.pkg + "|" + ev.id
}

// Offer implements presence.Watcher.
func (sub *subscription) Offer(snap *presence.Snapshot) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.gone || sub.final != "" {
		return
	}
	if sub.latest != nil && snap.Seq <= sub.latest.Seq {
		return
	}
	sub.latest = snap
	sub.kickLocked()
}

// kickLocked puts the subscription in the notifier's queue unless it is
// already there or a NOTIFY is in flight (then completion re-queues it).
func (sub *subscription) kickLocked() {
	if sub.queued || sub.inflight || sub.holding {
		return
	}
	sub.queued = true
	sub.srv.notifier.enqueue(sub)
}

// release lets the first NOTIFY go once the 200 has been sent.
func (sub *subscription) release() {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	sub.holding = false
	sub.force = true
	sub.kickLocked()
}

// terminate schedules the final NOTIFY with this reason.
func (sub *subscription) terminate(reason string) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.gone || sub.final != "" {
		return
	}
	sub.final = reason
	if sub.timer != nil {
		sub.timer.Stop()
	}
	sub.kickLocked()
}

// start registers sub with presence and the registry and arms its expiry;
// the first NOTIFY waits for release.
func (s *Server) start(sub *subscription) {
	snap, unwatch := s.opt.Hub.Watch(sub.entity, sub)
	sub.mu.Lock()
	sub.unwatch = unwatch
	if sub.latest == nil || snap.Seq > sub.latest.Seq {
		sub.latest = snap
	}
	sub.armLocked()
	sub.mu.Unlock()
	s.subs.put(sub)
	if sub.list != nil {
		s.syncList(sub)
	}
}

// armLocked (re)starts the expiry timer.
func (sub *subscription) armLocked() {
	d := time.Until(sub.expires)
	if sub.timer == nil {
		sub.timer = time.AfterFunc(d, func() { sub.terminate("timeout") })
		return
	}
	sub.timer.Reset(d)
}

func (sub *subscription) remainingLocked(now time.Time) int {
	secs := math.Ceil(sub.expires.Sub(now).Seconds())
	if secs < 0 {
		return 0
	}
	return int(secs)
}

// prepare builds the next NOTIFY, or returns nil when there is nothing new.
func (sub *subscription) prepare(now time.Time, branch string) *notifyTx {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	sub.queued = false
	if sub.gone {
		return nil
	}
	snap := sub.latest
	switch {
	case sub.final != "" || sub.force || !sub.sent:
	case sub.list != nil && !sub.list.changedLocked():
		return nil
	case sub.list == nil && snap.Seq == sub.sentSeq:
		return nil
	}
	access := snap.Policy.Access(sub.watcher, sub.entity)
	if sub.final == "" && sub.list == nil && refused(snap.Policy, access) {
		// The owner's rules no longer let this watcher see them, and the
		// admin wants that said (RFC 6665 4.2.2: reason=rejected).
		sub.final = "rejected"
		if sub.timer != nil {
			sub.timer.Stop()
		}
	}
	tx := &notifyTx{sub: sub, branch: branch, transport: sub.transport, source: sub.source}
	state := "active;expires=" + strconv.Itoa(sub.remainingLocked(now))
	if sub.final != "" {
		state = "terminated;reason=" + sub.final
		tx.final = true
	}
	s := sub.srv
	sub.cseq++
	var body []byte
	if sub.list != nil {
		// RFC 4662 section 5: the first NOTIFY, one after a refresh and
		// the last carry the whole list; the others what changed.
		body = s.renderList(sub, sub.force || sub.final != "" || sub.list.full, sub.version)
	} else {
		body = s.render(sub, snap, access, sub.version)
	}
	sub.version++
	sub.force = false
	sub.sent = true
	sub.sentSeq = snap.Seq
	sub.inflight = true
	if sub.cseqMark-sub.cseq < restoreJump/2 || sub.versionMark-sub.version < restoreJump/2 {
		// Reserve the next block while half of this one is left, so the
		// write behind lands before the numbers run out.
		sub.reserveLocked()
		s.persist.dirty(sub)
	}
	tx.msg = s.appendNotify(make([]byte, 0, 512+len(body)), sub, branch, state, body)
	tx.dest = s.destination(sub)
	return tx
}

// refused reports whether p turns a watcher with this access away with 403
// rather than a neutral lamp.
func refused(p *presence.Policy, access presence.Access) bool {
	return p != nil && p.Options().Block == presence.BlockRefuse && access == presence.AccessNone
}

// complete records the outcome of a NOTIFY and decides what happens next
// (SIP-CONFORMANCE.md 2.1 "NOTIFY responses"). It reports whether the
// subscription has ended.
func (sub *subscription) complete(code int, final bool) (ended bool, why string) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	sub.inflight = false
	switch {
	case final:
		ended, why = true, "terminated"
	case code == 481 || code == 404 || code == 410 || code == 489:
		ended, why = true, "watcher answered "+strconv.Itoa(code)
	case code == 0 || code == 408:
		sub.fails++
		if sub.fails >= sub.srv.opt.NotifyTimeouts {
			ended, why = true, "watcher unreachable"
		}
	case code >= 200 && code < 300:
		sub.fails = 0
	}
	if ended {
		sub.gone = true
		if sub.timer != nil {
			sub.timer.Stop()
		}
		return ended, why
	}
	if sub.final != "" || sub.force || (sub.list == nil && sub.latest != nil && sub.latest.Seq != sub.sentSeq) ||
		(sub.list != nil && sub.list.changedLocked()) {
		sub.kickLocked()
	}
	return false, ""
}

// subData is what the store keeps of a subscription besides its columns.
type subData struct {
	Event      string   `json:"event"`
	Format     string   `json:"format"`
	CallID     string   `json:"call_id"`
	LocalTag   string   `json:"local_tag"`
	RemoteTag  string   `json:"remote_tag"`
	RemoteFrom string   `json:"remote_from"`
	RemoteTo   string   `json:"remote_to"`
	Target     string   `json:"remote_target"`
	Routes     []string `json:"route_set,omitempty"`
	Transport  string   `json:"transport"`
	Source     string   `json:"source"`
	RemoteCSeq uint32   `json:"remote_cseq"`
	UserAgent  string   `json:"user_agent,omitempty"`
	Idle       string   `json:"idle"`
	Single     bool     `json:"single,omitempty"`
	List       string   `json:"list,omitempty"` // the list's name (1003-blf) for a resource list
}

// reserveLocked moves the stored marks a block ahead of the counters.
func (sub *subscription) reserveLocked() {
	sub.cseqMark, sub.versionMark = sub.cseq+restoreJump, sub.version+restoreJump
}

// record captures the subscription for the store: the dialog details (Data)
// only when full, since they change only on refresh; the exact counters
// only at a clean stop, the reserved marks otherwise.
func (sub *subscription) record(full, exact bool) SubscriptionRecord {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	r := SubscriptionRecord{
		ID: sub.key, Entity: sub.entity, Event: sub.ev.pkg, Watcher: sub.watcher,
		Expires: sub.expires, CSeq: sub.cseqMark, Version: sub.versionMark,
	}
	if exact {
		r.CSeq, r.Version = sub.cseq, sub.version
	}
	if full {
		r.Data = sub.marshalLocked()
	}
	return r
}

func (sub *subscription) marshalLocked() []byte {
	f := "dialog-info"
	if sub.format == formatPIDF {
		f = "pidf"
	}
	data, _ := json.Marshal(subData{
		Event: sub.ev.raw, Format: f,
		CallID: sub.callID, LocalTag: sub.ourTag, RemoteTag: sub.peerTag,
		RemoteFrom: sub.peerFrom, RemoteTo: sub.peerTo,
		Target: sub.targetRaw, Routes: sub.routes,
		Transport: sub.transport, Source: sub.source, RemoteCSeq: sub.remoteCSeq,
		UserAgent: sub.agent.Value(), Idle: sub.idle, Single: sub.single,
		List: sub.listName(),
	})
	return data
}

// fromRecord rebuilds a subscription after a restart.
func (s *Server) fromRecord(r SubscriptionRecord) (*subscription, error) {
	var d subData
	if err := json.Unmarshal(r.Data, &d); err != nil {
		return nil, fmt.Errorf("subscription %s: %w", r.ID, err)
	}
	ev, ok := parseEvent(d.Event)
	if !ok {
		return nil, fmt.Errorf("subscription %s: bad event %q", r.ID, d.Event)
	}
	f := formatDialog
	if d.Format == "pidf" {
		f = formatPIDF
	}
	sub := &subscription{
		srv: s, key: r.ID, entity: r.Entity, ev: ev, format: f,
		idle: d.Idle, single: d.Single, watcher: r.Watcher, agent: unique.Make(d.UserAgent),
		callID: d.CallID, ourTag: d.LocalTag, peerTag: d.RemoteTag,
		routes: d.Routes, transport: d.Transport, source: d.Source,
		remoteCSeq: d.RemoteCSeq, expires: r.Expires, cseq: r.CSeq, version: r.Version,
	}
	if d.List != "" {
		if s.opt.Lists == nil || s.opt.ListSuffix == "" {
			return nil, fmt.Errorf("subscription %s: lists are turned off now", r.ID)
		}
		sub.list = newList(d.List)
	}
	if err := sub.setDialog(d.RemoteFrom, d.RemoteTo); err != nil {
		return nil, fmt.Errorf("subscription %s: %w", r.ID, err)
	}
	if err := sub.setTarget(d.Target); err != nil {
		return nil, fmt.Errorf("subscription %s: %w", r.ID, err)
	}
	return sub, nil
}

// setDialog keeps the subscriber's From and To, from which every NOTIFY
// takes its To and From (RFC 6665 4.1.2.1). peerTo must carry no tag; a
// To that has one is stored without it.
func (sub *subscription) setDialog(peerFrom, peerTo string) error {
	var to gosip.ToHeader
	to.Params = gosip.NewParams()
	if _, err := gosip.ParseAddressValue(peerFrom, &to.Address, &to.Params); err != nil {
		return fmt.Errorf("parse From %q: %w", peerFrom, err)
	}
	var from gosip.FromHeader
	from.Params = gosip.NewParams()
	name, err := gosip.ParseAddressValue(peerTo, &from.Address, &from.Params)
	if err != nil {
		return fmt.Errorf("parse To %q: %w", peerTo, err)
	}
	if from.Params.Has("tag") {
		from.DisplayName = name
		from.Params.Remove("tag")
		peerTo = from.Value()
	}
	sub.peerFrom, sub.peerTo = peerFrom, peerTo
	return nil
}

func (sub *subscription) setTarget(raw string) error {
	var u gosip.Uri
	if err := gosip.ParseUri(raw, &u); err != nil {
		return fmt.Errorf("parse Contact %q: %w", raw, err)
	}
	sub.targetRaw, sub.targetHost, sub.targetPort = raw, u.Host, u.Port
	return nil
}

// subscriptions is the registry of live subscriptions by dialog key.
type subscriptions struct {
	mu sync.Mutex
	m  map[string]*subscription
}

func newSubscriptions() *subscriptions {
	return &subscriptions{m: make(map[string]*subscription)}
}

func (r *subscriptions) get(key string) *subscription {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[key]
}

func (r *subscriptions) put(sub *subscription) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[sub.key] = sub
}

// remove deletes sub if it is still the one registered under its key.
func (r *subscriptions) remove(sub *subscription) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m[sub.key] != sub {
		return false
	}
	delete(r.m, sub.key)
	return true
}

func (r *subscriptions) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m)
}

func (r *subscriptions) all() []*subscription {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*subscription, 0, len(r.m))
	for _, s := range r.m {
		out = append(out, s)
	}
	return out
}

// lists returns the live list subscriptions.
func (r *subscriptions) lists() []*subscription {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*subscription
	for _, s := range r.m {
		if s.list != nil {
			out = append(out, s)
		}
	}
	return out
}

func (r *subscriptions) stopTimers() {
	for _, sub := range r.all() {
		sub.mu.Lock()
		if sub.timer != nil {
			sub.timer.Stop()
		}
		sub.mu.Unlock()
	}
}

// EndEntity ends every subscription to an extension with a final NOTIFY
// giving reason (RFC 6665 4.2.2: "noresource" once the extension is gone)
// and reports how many there were.
func (s *Server) EndEntity(number, reason string) int {
	n := 0
	for _, sub := range s.subs.all() {
		if sub.entity == number {
			sub.terminate(reason)
			n++
		}
	}
	return n
}
