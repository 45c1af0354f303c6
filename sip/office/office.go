// Package office simulates a small office beside the gateway, so that a
// newcomer sees the lamps move without owning a phone. Acting as the PBX it
// PUBLISHes its extensions' calls (RFC 3903, RFC 4235 dialog-info) over
// SIP; acting as their users it changes their status through the HTTP API.
// It is a client of those public interfaces only, never of the gateway's
// internals.
package office

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Person is one extension of the office.
type Person struct {
	Number   string
	Name     string // shown to the other side of internal calls
	Password string // SIP digest and API password; "" = no status changes
}

// Options configure Run.
type Options struct {
	SIP    string // the gateway's SIP address over UDP, host:port, e.g. 127.0.0.1:5060
	Domain string // the extensions' SIP domain
	HTTP   string // base URL of the gateway's HTTP API, e.g. http://127.0.0.1:8080; "" = no status changes
	People []Person
	// Spare are numbers whose status the simulator never changes, such as
	// the one a newcomer signs in as. They still take calls, and more of
	// the outside ones, like a reception: one's own lamp is the only one
	// whose caller the gateway shows one.
	Spare []string
	// Pace scales every delay: 1 is an office's (an event every 3-8 s),
	// 0.05 twenty times faster. 0 means 1.
	Pace float64
	Seed int64 // 0 = a new sequence each run
	Log  *slog.Logger
}

// Realistic timing at pace 1.
var (
	gapSpan    = [2]time.Duration{3 * time.Second, 8 * time.Second}
	ringSpan   = [2]time.Duration{3 * time.Second, 8 * time.Second}
	talkSpan   = [2]time.Duration{15 * time.Second, 60 * time.Second}
	holdSpan   = [2]time.Duration{5 * time.Second, 15 * time.Second}
	statusSpan = [2]time.Duration{20 * time.Second, 60 * time.Second}
)

const (
	// opBudget bounds the retries of one step of a call or status spell
	// while the gateway does not answer; the step is then given up.
	opBudget = 20 * time.Second
	// cleanBudget bounds ending a call or restoring a status, so that
	// stopping takes seconds even with the gateway gone.
	cleanBudget = 5 * time.Second
	// benchFor is how long an extension the gateway refused sits out.
	benchFor = time.Minute
)

// Outside parties, with numbers reserved for drama and documentation
// (Ofcom 01632 960xxx, NANP 555-01xx, ACMA 0491 570xxx, ARCEP 01 99 00).
var customers = []party{
	{"sip:+441632960123@", "Contoso Ltd"},
	{"sip:+12025550143@", "Fabrikam Inc"},
	{"sip:+441632960981@", "Northwind Traders"},
	{"sip:+61491570156@", "Adventure Works"},
	{"sip:+12025550178@", "Tailspin Toys"},
	{"sip:+33199001234@", "Woodgrove Bank"},
}

var (
	dndNotes  = []string{"In a meeting until 15:00", "Focus time, back at 4", "Interviewing a candidate", "On a training call"}
	awayNotes = []string{"Lunch, back at 2", "At the dentist, back at 11", "Coffee break", "Visiting a customer"}
)

// Run simulates the office until ctx ends, then ends every call it started
// (publishing them terminated and removing the publications) and restores
// every status it changed, and returns nil. The gateway being down or
// refusing a request is logged and waited out; only bad Options are an
// error.
func Run(ctx context.Context, o Options) error {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if err := o.check(); err != nil {
		return err
	}
	if o.Pace <= 0 {
		o.Pace = 1
	}
	seed := o.Seed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	ph, err := newPhone(o.SIP, o.Domain, o.Log)
	if err != nil {
		return err
	}
	defer ph.close()
	s := &sim{
		o:       o,
		ph:      ph,
		log:     o.Log,
		dice:    &dice{r: rand.New(rand.NewPCG(uint64(seed), uint64(seed)>>1^0x9e3779b97f4a7c15))},
		spare:   map[string]bool{},
		engaged: map[string]bool{},
		benched: map[string]time.Time{},
		version: map[string]uint32{},
	}
	if o.HTTP != "" {
		s.desk = newDesk(o.HTTP, o.Log)
	}
	for _, n := range o.Spare {
		s.spare[n] = true
	}
	// A few calls and a few statuses at once: enough to keep the lamps
	// moving, few enough that most of the office stays free.
	s.maxCalls = max(1, min(3, len(o.People)/2))
	s.maxSpells = max(1, len(o.People)/3)
	s.log.Info("office open", "people", len(o.People), "pace", o.Pace, "seed", seed)
	s.loop(ctx)
	s.wg.Wait()
	s.log.Info("office closed", "calls_ended", s.ended.Load(), "statuses_restored", s.restored.Load())
	return nil
}

func (o *Options) check() error {
	var errs []error
	if o.SIP == "" {
		errs = append(errs, errors.New("office: no gateway SIP address"))
	}
	if o.Domain == "" {
		errs = append(errs, errors.New("office: no SIP domain"))
	}
	if o.HTTP != "" {
		if u, err := url.Parse(o.HTTP); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("office: HTTP %q is not an http(s) URL", o.HTTP))
		}
	}
	if len(o.People) == 0 {
		errs = append(errs, errors.New("office: nobody works here"))
	}
	seen := map[string]bool{}
	for _, p := range o.People {
		if p.Number == "" || seen[p.Number] {
			errs = append(errs, fmt.Errorf("office: extension number %q empty or repeated", p.Number))
		}
		seen[p.Number] = true
	}
	return errors.Join(errs...)
}

// sim is one running office.
type sim struct {
	o         Options
	ph        *phone
	desk      *desk // nil: no status changes
	log       *slog.Logger
	dice      *dice
	spare     map[string]bool
	maxCalls  int
	maxSpells int

	mu      sync.Mutex
	engaged map[string]bool      // in a call or a status spell
	benched map[string]time.Time // refused by the gateway: left out until then
	calls   int
	spells  int
	version map[string]uint32 // dialog-info version per extension

	trouble  atomic.Int32 // steps in a row the gateway did not answer
	ended    atomic.Int32 // calls ended because the office closed
	restored atomic.Int32 // statuses restored because the office closed
	wg       sync.WaitGroup
}

// loop starts an event every few seconds until ctx ends.
func (s *sim) loop(ctx context.Context) {
	next := s.scale(500 * time.Millisecond) // the first lamp moves at once
	for {
		t := time.NewTimer(next)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		s.start(ctx)
		next = s.span(gapSpan)
		if n := s.trouble.Load(); n > 0 {
			// The gateway is not answering: knock less often, in real
			// time whatever the pace, until it does.
			next += min(time.Second<<min(n, 5), 30*time.Second)
		}
	}
}

// start picks what happens next among what the free people allow.
func (s *sim) start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var free, callable, statusable []Person
	now := time.Now()
	for _, p := range s.o.People {
		if s.engaged[p.Number] || now.Before(s.benched[p.Number]) {
			continue
		}
		free = append(free, p)
		if !s.spare[p.Number] && p.Password != "" && s.desk != nil {
			statusable = append(statusable, p)
		}
	}
	if s.calls < s.maxCalls {
		callable = free
	}
	type choice struct {
		weight int
		run    func()
	}
	var cs []choice
	if len(callable) >= 1 {
		cs = append(cs, choice{4, func() { s.incoming(ctx, callable) }}, choice{2, func() { s.outgoing(ctx, callable) }})
	}
	if len(callable) >= 2 {
		cs = append(cs, choice{3, func() { s.internal(ctx, callable) }})
	}
	if len(statusable) >= 1 && s.spells < s.maxSpells {
		cs = append(cs, choice{3, func() { s.status(ctx, statusable) }})
	}
	total := 0
	for _, c := range cs {
		total += c.weight
	}
	if total == 0 {
		return
	}
	n := s.dice.n(total)
	for _, c := range cs {
		if n < c.weight {
			c.run()
			return
		}
		n -= c.weight
	}
}

// ---------------------------------------------------------------- calls

// call is one call of the office: one leg per extension in it.
type call struct {
	kind     string // "incoming", "outgoing" or "internal"
	legs     []*leg
	ring     time.Duration
	answered bool
	talk     time.Duration
	holder   *leg          // who puts the call on hold; nil: nobody
	holdAt   time.Duration // into the talk
	hold     time.Duration
}

func (s *sim) incoming(ctx context.Context, free []Person) {
	callee := free[s.dice.n(len(free))]
	// A spare extension plays the reception: it takes a good share of
	// the outside calls, so its user sees callers' names on their own
	// line.
	if s.dice.chance(0.4) {
		for _, p := range free {
			if s.spare[p.Number] {
				callee = p
				break
			}
		}
	}
	c := s.plan("incoming", 0.8)
	c.legs = []*leg{s.leg(callee, "recipient", s.customer())}
	s.launchLocked(ctx, c)
}

func (s *sim) outgoing(ctx context.Context, free []Person) {
	c := s.plan("outgoing", 0.8)
	c.legs = []*leg{s.leg(free[s.dice.n(len(free))], "initiator", s.customer())}
	s.launchLocked(ctx, c)
}

func (s *sim) internal(ctx context.Context, free []Person) {
	i := s.dice.n(len(free))
	j := (i + 1 + s.dice.n(len(free)-1)) % len(free)
	a, b := free[i], free[j]
	c := s.plan("internal", 0.85)
	la := s.leg(a, "initiator", party{"sip:" + b.Number + "@" + s.o.Domain, b.Name})
	lb := s.leg(b, "recipient", party{"sip:" + a.Number + "@" + s.o.Domain, a.Name})
	// One call, seen from both ends: the tags swap.
	lb.callID, lb.local, lb.remote = la.callID, la.remote, la.local
	c.legs = []*leg{la, lb}
	s.launchLocked(ctx, c)
}

// plan draws a call's timing: answered with the odds given, then talk,
// sometimes with a hold in the middle.
func (s *sim) plan(kind string, answer float64) *call {
	c := &call{kind: kind, ring: s.span(ringSpan), answered: s.dice.chance(answer), talk: s.span(talkSpan)}
	if c.answered && s.dice.chance(0.4) {
		c.hold = s.span(holdSpan)
		c.holdAt = c.talk / time.Duration(2+s.dice.n(3))
	}
	return c
}

func (s *sim) customer() party {
	c := customers[s.dice.n(len(customers))]
	c.uri += s.o.Domain
	return c
}

func (s *sim) leg(p Person, dir string, peer party) *leg {
	return &leg{who: p, pub: s.ph.newPub(p), id: token(), callID: token() + "@office",
		local: token(), remote: token(), dir: dir, peer: peer}
}

func (s *sim) launchLocked(ctx context.Context, c *call) {
	if c.hold > 0 {
		c.holder = c.legs[s.dice.n(len(c.legs))]
	}
	for _, l := range c.legs {
		s.engaged[l.who.Number] = true
	}
	s.calls++
	s.wg.Go(func() { s.run(ctx, c) })
}

// run plays a call from ringing to hang-up; whatever stops it early (the
// office closing, the gateway refusing) still ends it at the gateway.
func (s *sim) run(ctx context.Context, c *call) {
	defer func() {
		s.mu.Lock()
		for _, l := range c.legs {
			delete(s.engaged, l.who.Number)
		}
		s.calls--
		s.mu.Unlock()
	}()
	first := c.legs[0]
	switch c.kind {
	case "incoming":
		s.log.Info("incoming call ringing", "ext", first.who.Number, "name", first.who.Name, "caller", first.peer.display)
	case "outgoing":
		s.log.Info("outgoing call", "ext", first.who.Number, "name", first.who.Name, "callee", first.peer.display)
	default:
		s.log.Info("internal call ringing", "ext", first.who.Number, "name", first.who.Name, "callee", first.peer.display)
	}
	defer s.hangUp(ctx, c)
	if !s.step(ctx, c, "early") || !s.sleep(ctx, c, c.ring) {
		return
	}
	if !c.answered {
		s.log.Info("call not answered", "ext", first.who.Number)
		return
	}
	if !s.step(ctx, c, "confirmed") {
		return
	}
	s.log.Info("call answered", "ext", first.who.Number, "other", first.peer.display)
	ok := true
	if c.holder != nil {
		ok = s.sleep(ctx, c, c.holdAt) && s.setHold(ctx, c, true) &&
			s.sleep(ctx, c, c.hold) && s.setHold(ctx, c, false) &&
			s.sleep(ctx, c, c.talk-c.holdAt)
	} else {
		ok = s.sleep(ctx, c, c.talk)
	}
	if ok {
		s.log.Info("call ended", "ext", first.who.Number)
	}
}

func (s *sim) setHold(ctx context.Context, c *call, on bool) bool {
	c.holder.held = on
	for _, l := range c.legs {
		if l != c.holder {
			l.muted = on
		}
	}
	if on {
		s.log.Info("call on hold", "ext", c.holder.who.Number)
	} else {
		s.log.Info("call resumed", "ext", c.holder.who.Number)
	}
	return s.step(ctx, c, "confirmed")
}

// step publishes every leg in state; false if the call must end now.
func (s *sim) step(ctx context.Context, c *call, state string) bool {
	budget, cancel := context.WithTimeout(ctx, opBudget)
	defer cancel()
	for _, l := range c.legs {
		l.state = state
		if err := s.ph.publish(budget, l.pub, l.body(s.o.Domain, s.nextVersion(l.who.Number)), false); err != nil {
			s.failed(ctx, "publish "+state, l.who, err)
			return false
		}
		s.trouble.Store(0)
	}
	return true
}

// sleep waits d, refreshing the legs' publications when they fall due;
// false if the call must end now.
func (s *sim) sleep(ctx context.Context, c *call, d time.Duration) bool {
	end := time.Now().Add(d)
	for {
		next := end
		for _, l := range c.legs {
			if l.pub.etag != "" && l.pub.due.Before(next) {
				next = l.pub.due
			}
		}
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		now := time.Now()
		if !now.Before(end) {
			return true
		}
		for _, l := range c.legs {
			if l.pub.etag == "" || now.Before(l.pub.due) {
				continue
			}
			budget, cancel := context.WithTimeout(ctx, opBudget)
			err := s.ph.publish(budget, l.pub, nil, false)
			cancel()
			if err != nil {
				s.failed(ctx, "refresh", l.who, err)
				return false
			}
		}
	}
}

// hangUp publishes every leg terminated and removes the publications, in
// its own time: the office closing must not leave lamps lit. A call that
// never got answered was cancelled; one that did ends with a bye from one
// side.
func (s *sim) hangUp(ctx context.Context, c *call) {
	closing := ctx.Err() != nil
	budget, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanBudget)
	defer cancel()
	bye := c.legs[s.dice.n(len(c.legs))]
	done := true
	for _, l := range c.legs {
		if l.pub.etag == "" {
			continue
		}
		switch {
		case l.state != "confirmed":
			l.event = "cancelled"
		case l == bye:
			l.event = "local-bye"
		default:
			l.event = "remote-bye"
		}
		l.state, l.held, l.muted = "terminated", false, false
		if err := s.ph.publish(budget, l.pub, l.body(s.o.Domain, s.nextVersion(l.who.Number)), false); err != nil {
			s.log.Warn("could not publish the end of a call; the gateway lets it expire", "ext", l.who.Number, "err", err)
		}
		if err := s.ph.publish(budget, l.pub, nil, true); err != nil {
			done = false
			s.log.Warn("could not remove a publication; the gateway lets it expire", "ext", l.who.Number, "err", err)
		}
	}
	if closing && done {
		s.ended.Add(1)
		s.log.Info("call ended: the office is closing", "ext", c.legs[0].who.Number)
	}
}

func (s *sim) nextVersion(number string) uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.version[number]
	s.version[number] = v + 1
	return v
}

// failed logs why a step was given up. A refusal is the gateway's word and
// the office carries on; silence counts towards backing off.
func (s *sim) failed(ctx context.Context, what string, p Person, err error) {
	switch {
	case ctx.Err() != nil:
		// Closing: what was interrupted is ended or restored anyway.
	case errors.Is(err, errRefused):
		// Asking again at once would get the same answer: the extension
		// sits out a while, in real time, so the log is not flooded.
		s.mu.Lock()
		s.benched[p.Number] = time.Now().Add(benchFor)
		s.mu.Unlock()
		s.log.Warn("gateway refused "+what+"; leaving the extension out for a minute", "ext", p.Number, "err", err)
	default:
		s.trouble.Add(1)
		s.log.Warn("gateway not answering; "+what+" given up", "ext", p.Number, "err", err)
	}
}

// ---------------------------------------------------------------- status

func (s *sim) status(ctx context.Context, free []Person) {
	p := free[s.dice.n(len(free))]
	s.engaged[p.Number] = true
	s.spells++
	dnd := s.dice.chance(0.55)
	note := s.dice.n(len(dndNotes))
	if !dnd {
		note = s.dice.n(len(awayNotes))
	}
	d := s.span(statusSpan)
	s.wg.Go(func() {
		defer func() {
			s.mu.Lock()
			delete(s.engaged, p.Number)
			s.spells--
			s.mu.Unlock()
		}()
		s.spell(ctx, p, dnd, note, d)
	})
}

// spell sets p's status for d, then puts back what p had.
func (s *sim) spell(ctx context.Context, p Person, dnd bool, note int, d time.Duration) {
	budget, cancel := context.WithTimeout(ctx, opBudget)
	defer cancel()
	before, err := s.desk.get(budget, p)
	if err != nil {
		s.failed(ctx, "reading a status", p, err)
		return
	}
	// Someone already in Do Not Disturb steps out instead, and the other
	// way round, so that the lamp visibly changes.
	if before.Status == "dnd" {
		dnd = false
	} else if before.Status == "away" {
		dnd = true
	}
	st := status{Status: "dnd", Message: dndNotes[note%len(dndNotes)]}
	if !dnd {
		st = status{Status: "away", Message: awayNotes[note%len(awayNotes)]}
	}
	if err := s.desk.set(budget, p, st); err != nil {
		s.failed(ctx, "setting a status", p, err)
		return
	}
	s.trouble.Store(0)
	s.log.Info("status set", "ext", p.Number, "name", p.Name, "status", st.Status, "message", st.Message)
	t := time.NewTimer(d)
	closing := false
	select {
	case <-ctx.Done():
		t.Stop()
		closing = true
	case <-t.C:
	}
	rb, rcancel := context.WithTimeout(context.WithoutCancel(ctx), cleanBudget)
	defer rcancel()
	if before.Status == "" {
		before.Status = "default"
	}
	if err := s.desk.set(rb, p, before); err != nil {
		s.log.Warn("could not restore a status", "ext", p.Number, "err", err)
		return
	}
	s.log.Info("status restored", "ext", p.Number, "status", before.Status)
	if closing {
		s.restored.Add(1)
	}
}

// ---------------------------------------------------------------- chance

// dice is the office's one source of chance, shared by its goroutines.
type dice struct {
	mu sync.Mutex
	r  *rand.Rand
}

func (d *dice) n(k int) int {
	if k <= 1 {
		return 0
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.r.IntN(k)
}

func (d *dice) chance(p float64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.r.Float64() < p
}

func (d *dice) between(lo, hi time.Duration) time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return lo + time.Duration(d.r.Int64N(int64(hi-lo)+1))
}

// span draws a delay from a realistic span, at the office's pace.
func (s *sim) span(sp [2]time.Duration) time.Duration {
	return s.scale(s.dice.between(sp[0], sp[1]))
}

func (s *sim) scale(d time.Duration) time.Duration {
	return time.Duration(float64(d) * s.o.Pace)
}
