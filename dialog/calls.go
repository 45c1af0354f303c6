package dialog

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/blfgw/blfgw/presence"
)

// Event is one message the proxy forwarded, reduced to what lamps need.
type Event struct {
	Request                bool   // a request (else a response)
	Method                 string // the request's method, or the CSeq method of a response
	Status                 int    // responses only
	CallID, FromTag, ToTag string
	Branch                 string          // the proxy's client branch (one per forked target); "" for in-dialog requests
	Caller                 string          // the local extension on the From side, "" if external
	Callee                 string          // the local extension being called (the target of this branch), "" if external
	Device                 string          // the callee branch's contact, for forks to several devices
	From, To               presence.Party  // identities as in the headers
	Asserted               *presence.Party // P-Asserted-Identity, preferred over From for the caller's identity
	SDP                    []byte
	Sender                 string // for in-dialog requests: the extension that sent it ("" if external), to tell who put the call on hold
}

// Calls follows the calls the proxy forwards and keeps, through a Tracker,
// one dialog per local extension and call leg: the caller's (Initiator) and
// one per forked branch to a local callee (Recipient). It keeps nothing once
// a call has ended. It is safe for concurrent use; reports to the Tracker are
// made in the order the events were handled.
type Calls struct {
	t   *Tracker
	now func() time.Time

	mu    sync.Mutex
	calls map[string][]*call // by Call-ID
	legs  int
}

// call is one INVITE (one Call-ID and From tag) and the branches the proxy
// forked it to.
type call struct {
	callID, fromTag string
	toTag           string // the answered dialog's, once answered
	start           time.Time
	answeredAt      time.Time
	answered        bool
	caller          *leg // nil if the caller is external
	from            presence.Party
	asserted        *presence.Party
	branches        []*branch // in order of arrival; only the answered one once answered
}

type branch struct {
	key    string
	callee *leg // nil if the target is external
	done   bool // a final response ended it
}

// leg is the dialog of one local extension in a call.
type leg struct {
	entity string
	d      presence.Dialog // the dialog as it is now
	shown  bool            // d was reported (it may have changed since)
	sent   presence.Dialog // what was reported
	ended  bool
}

// NewCalls returns a call tracker reporting to t; now is its clock.
func NewCalls(t *Tracker, now func() time.Time) *Calls {
	if now == nil {
		now = time.Now
	}
	return &Calls{t: t, now: now, calls: make(map[string][]*call)}
}

// Handle follows one message the proxy forwarded.
func (c *Calls) Handle(e Event) {
	if e.CallID == "" {
		return
	}
	method := strings.ToUpper(strings.TrimSpace(e.Method))
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.Request {
		switch method {
		case "INVITE":
			if e.ToTag == "" {
				c.invite(e)
			} else {
				c.offer(e)
			}
		case "UPDATE":
			c.offer(e)
		case "CANCEL":
			if k := c.find(e.CallID, e.FromTag); k != nil && !k.answered {
				c.end(k)
			}
		case "BYE":
			if k := c.inDialog(e); k != nil {
				c.end(k)
			}
		}
		return
	}
	if method == "INVITE" && e.Status >= 100 && e.Status <= 699 {
		c.response(e)
	}
}

// End ends every leg of a call that a probe found gone.
func (c *Calls) End(callID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range slices.Clone(c.calls[callID]) {
		c.end(k)
	}
}

// Reap ends the calls that were answered more than maxCall ago, or that
// began more than maxCall ago and were never answered, and returns their
// Call-IDs in order.
func (c *Calls) Reap(maxCall time.Duration) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	var stale []*call
	for _, ks := range c.calls {
		for _, k := range ks {
			since := k.start
			if k.answered {
				since = k.answeredAt
			}
			if now.Sub(since) > maxCall {
				stale = append(stale, k)
			}
		}
	}
	slices.SortFunc(stale, func(a, b *call) int {
		if n := strings.Compare(a.callID, b.callID); n != 0 {
			return n
		}
		return strings.Compare(a.fromTag, b.fromTag)
	})
	var ids []string
	for _, k := range stale {
		c.end(k)
		ids = append(ids, k.callID)
	}
	return slices.Compact(ids)
}

// Open reports the number of call legs tracked.
func (c *Calls) Open() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.legs
}

// invite follows an initial INVITE, once per branch the proxy forks it to.
func (c *Calls) invite(e Event) {
	k := c.find(e.CallID, e.FromTag)
	if k == nil {
		if e.Caller == "" && e.Callee == "" {
			return // nobody local takes part (yet)
		}
		k = &call{callID: e.CallID, fromTag: e.FromTag, start: c.now(), from: e.From}
		if e.Asserted != nil {
			a := *e.Asserted
			k.asserted = &a
		}
		if e.Caller != "" {
			k.caller = c.newLeg(e.Caller, presence.Dialog{
				ID:        legID(e.CallID, e.FromTag, "caller", ""),
				CallID:    e.CallID,
				LocalTag:  e.FromTag,
				Direction: presence.Initiator,
				State:     presence.Trying,
				Local:     e.From,
				Remote:    e.To,
				Since:     k.start,
			})
		}
		c.calls[e.CallID] = append(c.calls[e.CallID], k)
		c.show(k.caller)
	}
	if k.answered {
		return // a late fork
	}
	if k.asserted == nil && e.Asserted != nil {
		a := *e.Asserted
		k.asserted = &a
	}
	if e.Branch != "" || e.Callee != "" {
		c.branch(k, e)
	}
}

// response follows a response to an initial INVITE.
func (c *Calls) response(e Event) {
	k := c.find(e.CallID, e.FromTag)
	if k == nil || k.answered {
		return // unknown, or a retransmitted 2xx, another fork's 2xx, or a re-INVITE's response
	}
	b := c.lookup(k, e.Branch)
	switch {
	case b == nil && (e.Branch != "" || e.Callee != ""):
		b = c.branch(k, e) // its INVITE was not reported
	case b == nil:
		// Not tied to a branch: the proxy's own response, or the best
		// final response it sent upstream once every branch was done.
		b = &branch{}
	case b.done:
		return
	}
	now := c.now()
	switch {
	case e.Status == 100:
		if k.caller != nil && k.caller.d.State < presence.Proceeding {
			setState(k.caller, presence.Proceeding, now)
			c.show(k.caller)
		}
	case e.Status < 200:
		if l := k.caller; l != nil {
			setState(l, presence.Early, now) // not answered yet: never a step back
			if l.d.RemoteTag == "" {
				l.d.RemoteTag = e.ToTag
			}
			c.show(l)
		}
		if l := b.callee; l != nil {
			setState(l, presence.Early, now)
			if e.ToTag != "" {
				l.d.LocalTag = e.ToTag
			}
			c.show(l)
		}
	case e.Status < 300:
		k.answered, k.answeredAt, k.toTag = true, now, e.ToTag
		// Forks collapse to the leg that answered. The others end first:
		// each change is a NOTIFY, and a watcher must never see the
		// answered device busy while its twin still rings.
		for _, o := range k.branches {
			if o != b {
				c.endLeg(o.callee)
			}
		}
		k.branches = []*branch{b}
		if l := k.caller; l != nil {
			setState(l, presence.Confirmed, now)
			l.d.RemoteTag = e.ToTag
			c.show(l)
		}
		if l := b.callee; l != nil {
			setState(l, presence.Confirmed, now)
			l.d.LocalTag = e.ToTag
			c.show(l)
		}
		if k.caller == nil && b.callee == nil {
			c.forget(k)
		}
	default:
		if !slices.Contains(k.branches, b) {
			c.end(k) // a final for the whole call
			return
		}
		b.done = true
		c.endLeg(b.callee)
		live, local := false, false
		for _, o := range k.branches {
			live = live || !o.done
			local = local || (!o.done && o.callee != nil)
		}
		if !live || (k.caller == nil && !local) {
			c.end(k)
		}
	}
}

// offer follows a re-INVITE or UPDATE: an offer with a hold (or a resume)
// changes the dialog of the extension that sent it.
func (c *Calls) offer(e Event) {
	if e.Sender == "" || len(e.SDP) == 0 {
		return
	}
	k := c.inDialog(e)
	if k == nil || !k.answered {
		return
	}
	held, ok := Held(e.SDP)
	if !ok {
		return
	}
	var callee *leg
	if len(k.branches) > 0 {
		callee = k.branches[0].callee
	}
	var l *leg
	switch {
	case k.caller != nil && k.caller.entity == e.Sender && callee != nil && callee.entity == e.Sender:
		// A call between two devices of one extension: the tags tell.
		l = callee
		if e.FromTag == k.fromTag {
			l = k.caller
		}
	case k.caller != nil && k.caller.entity == e.Sender:
		l = k.caller
	case callee != nil && callee.entity == e.Sender:
		l = callee
	default:
		return
	}
	l.d.Held = held
	c.show(l)
}

// find returns the call of an initial INVITE.
func (c *Calls) find(callID, fromTag string) *call {
	for _, k := range c.calls[callID] {
		if k.fromTag == fromTag {
			return k
		}
	}
	return nil
}

// inDialog returns the call an in-dialog request belongs to, sent by either
// side: its tags are the call's, in either order.
func (c *Calls) inDialog(e Event) *call {
	for _, k := range c.calls[e.CallID] {
		if !k.answered || k.toTag == "" {
			if e.FromTag == k.fromTag || e.ToTag == k.fromTag {
				return k
			}
			continue
		}
		if (e.FromTag == k.fromTag && e.ToTag == k.toTag) || (e.FromTag == k.toTag && e.ToTag == k.fromTag) {
			return k
		}
	}
	return nil
}

func (c *Calls) lookup(k *call, key string) *branch {
	for _, b := range k.branches {
		if b.key == key {
			return b
		}
	}
	return nil
}

// branch returns the branch of e, adding it (and its callee's leg) if new.
func (c *Calls) branch(k *call, e Event) *branch {
	if b := c.lookup(k, e.Branch); b != nil {
		return b
	}
	b := &branch{key: e.Branch}
	if e.Callee != "" {
		remote := k.from
		if k.asserted != nil {
			remote = *k.asserted
		}
		local := e.To
		if e.Device != "" {
			local.Target = e.Device
		}
		b.callee = c.newLeg(e.Callee, presence.Dialog{
			ID:        legID(k.callID, k.fromTag, "callee", e.Branch),
			CallID:    k.callID,
			RemoteTag: k.fromTag,
			Direction: presence.Recipient,
			Local:     local,
			Remote:    remote,
		})
	}
	k.branches = append(k.branches, b)
	return b
}

func (c *Calls) newLeg(entity string, d presence.Dialog) *leg {
	c.legs++
	return &leg{entity: entity, d: d}
}

// show reports a leg's dialog if it changed since it was last reported.
func (c *Calls) show(l *leg) {
	if l == nil || l.ended || (l.shown && sameDialog(l.sent, l.d)) {
		return
	}
	l.shown, l.sent = true, l.d
	c.t.SetCall(l.entity, l.d)
}

func (c *Calls) endLeg(l *leg) {
	if l == nil || l.ended {
		return
	}
	l.ended = true
	c.legs--
	if l.shown {
		c.t.EndCall(l.entity, l.d.ID)
	}
}

// end ends every leg of a call and forgets it.
func (c *Calls) end(k *call) {
	c.endLeg(k.caller)
	for _, b := range k.branches {
		c.endLeg(b.callee)
	}
	c.forget(k)
}

func (c *Calls) forget(k *call) {
	ks := slices.DeleteFunc(c.calls[k.callID], func(o *call) bool { return o == k })
	if len(ks) == 0 {
		delete(c.calls, k.callID)
	} else {
		c.calls[k.callID] = ks
	}
}

func setState(l *leg, s presence.CallState, now time.Time) {
	if l.d.State != s {
		l.d.State, l.d.Since = s, now
	}
}

// legID names a leg: unique per call, role and branch, stable across its
// states, and safe to put anywhere.
func legID(callID, fromTag, role, branch string) string {
	h := sha256.New()
	for _, s := range []string{callID, fromTag, role, branch} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return "px" + hex.EncodeToString(h.Sum(nil)[:8])
}

// Answered is an answered call as the proxy keeps it across a restart.
type Answered struct {
	CallID, FromTag, ToTag string
	Caller, Callee         string // local extensions, "" if external
	From, To               presence.Party
	Asserted               *presence.Party
	CallerHeld, CalleeHeld bool
	At                     time.Time // when it was answered
}

// Restore follows an answered call again after a restart, so the lamps of
// both extensions show it until its BYE (or the reaper) ends it.
func (c *Calls) Restore(a Answered) {
	if a.CallID == "" || (a.Caller == "" && a.Callee == "") {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.find(a.CallID, a.FromTag) != nil {
		return
	}
	k := &call{callID: a.CallID, fromTag: a.FromTag, toTag: a.ToTag, start: a.At, answeredAt: a.At, answered: true, from: a.From}
	if a.Asserted != nil {
		x := *a.Asserted
		k.asserted = &x
	}
	if a.Caller != "" {
		k.caller = c.newLeg(a.Caller, presence.Dialog{
			ID: legID(a.CallID, a.FromTag, "caller", ""), CallID: a.CallID,
			LocalTag: a.FromTag, RemoteTag: a.ToTag, Direction: presence.Initiator,
			State: presence.Confirmed, Held: a.CallerHeld, Local: a.From, Remote: a.To, Since: a.At,
		})
	}
	b := &branch{key: "restored"}
	if a.Callee != "" {
		remote := a.From
		if a.Asserted != nil {
			remote = *a.Asserted
		}
		b.callee = c.newLeg(a.Callee, presence.Dialog{
			ID: legID(a.CallID, a.FromTag, "callee", "restored"), CallID: a.CallID,
			LocalTag: a.ToTag, RemoteTag: a.FromTag, Direction: presence.Recipient,
			State: presence.Confirmed, Held: a.CalleeHeld, Local: a.To, Remote: remote, Since: a.At,
		})
	}
	k.branches = []*branch{b}
	c.calls[a.CallID] = append(c.calls[a.CallID], k)
	c.show(k.caller)
	c.show(b.callee)
}

// Held reports whether each side of an answered call has put it on hold,
// for the proxy to keep with the call.
func (c *Calls) Held(callID, fromTag string) (caller, callee bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := c.find(callID, fromTag)
	if k == nil {
		return false, false
	}
	if k.caller != nil {
		caller = k.caller.d.Held
	}
	if len(k.branches) > 0 && k.branches[0].callee != nil {
		callee = k.branches[0].callee.d.Held
	}
	return caller, callee
}
