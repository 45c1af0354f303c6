package presence

import (
	"slices"
	"sync"
	"time"
)

// Watcher receives the snapshots of one extension. Offer must not block: it
// keeps the newest snapshot (by Seq) and arranges its own delivery.
type Watcher interface {
	Offer(*Snapshot)
}

// Hub holds the current state of every extension and fans changes out to
// the watchers of that extension.
type Hub struct {
	mu       sync.Mutex
	entities map[string]*entity
	policy   *Policy
	now      func() time.Time
}

type entity struct {
	seq      uint64
	snap     *Snapshot
	sources  map[Source][]Dialog
	status   Status
	message  string
	clouds   []Cloud
	watchers map[uint64]Watcher
	list     []Watcher // cached view of watchers; nil when stale
	nextID   uint64
}

// NewHub returns an empty hub.
func NewHub() *Hub {
	return &Hub{entities: make(map[string]*entity), now: time.Now}
}

func (h *Hub) entityLocked(name string) *entity {
	e := h.entities[name]
	if e == nil {
		e = &entity{
			sources:  make(map[Source][]Dialog),
			watchers: make(map[uint64]Watcher),
		}
		e.snap = &Snapshot{Entity: name, Changed: h.now(), Policy: h.policy}
		h.entities[name] = e
	}
	return e
}

// Current returns the latest snapshot of an extension (idle if nothing is
// known about it).
func (h *Hub) Current(name string) *Snapshot {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.entityLocked(name).snap
}

// Watch registers w for changes of an extension and returns the snapshot it
// starts from; every later change is offered to w until cancel is called.
func (h *Hub) Watch(name string, w Watcher) (*Snapshot, func()) {
	h.mu.Lock()
	e := h.entityLocked(name)
	e.nextID++
	id := e.nextID
	e.watchers[id] = w
	e.list = nil
	snap := e.snap
	h.mu.Unlock()
	var once sync.Once
	return snap, func() {
		once.Do(func() {
			h.mu.Lock()
			delete(e.watchers, id)
			e.list = nil
			h.mu.Unlock()
		})
	}
}

// Watchers reports how many watchers an extension has.
func (h *Hub) Watchers(name string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e := h.entities[name]; e != nil {
		return len(e.watchers)
	}
	return 0
}

// SetDialogs replaces what one source says about an extension's calls and
// offers the merged result to its watchers. Dialogs that ended are dropped:
// an extension with none left is idle.
func (h *Hub) SetDialogs(name string, src Source, dialogs []Dialog) {
	live := make([]Dialog, 0, len(dialogs))
	for _, d := range dialogs {
		if d.State != Terminated && d.State != 0 {
			live = append(live, d)
		}
	}
	h.mu.Lock()
	e := h.entityLocked(name)
	if len(live) == 0 {
		if _, had := e.sources[src]; !had {
			h.mu.Unlock()
			return
		}
		delete(e.sources, src)
	} else {
		e.sources[src] = live
	}
	merged := mergeLocked(e)
	if slices.EqualFunc(merged, e.snap.Dialogs, dialogEqual) {
		h.mu.Unlock()
		return
	}
	snap, list := h.nextLocked(name, e, merged)
	h.mu.Unlock()
	offer(list, snap)
}

// SetStatus sets a user's own status and custom message.
func (h *Hub) SetStatus(name string, st Status, message string) {
	h.mu.Lock()
	e := h.entityLocked(name)
	if e.status == st && e.message == message {
		h.mu.Unlock()
		return
	}
	e.status, e.message = st, message
	snap, list := h.nextLocked(name, e, e.snap.Dialogs)
	h.mu.Unlock()
	offer(list, snap)
}

// SetCloud records what a presence service says about a user; a Cloud
// with State CloudUnknown forgets it. A repeat of the same state (Since
// aside) changes nothing, so a poll that finds nothing new sends no
// NOTIFY.
func (h *Hub) SetCloud(name string, c Cloud) {
	h.mu.Lock()
	e := h.entityLocked(name)
	i := slices.IndexFunc(e.clouds, func(o Cloud) bool { return o.Source == c.Source })
	switch {
	case i >= 0 && c.State == CloudUnknown:
		e.clouds = slices.Delete(slices.Clone(e.clouds), i, i+1)
	case i >= 0 && cloudEqual(e.clouds[i], c):
		h.mu.Unlock()
		return
	case i >= 0:
		e.clouds = slices.Clone(e.clouds)
		e.clouds[i] = c
	case c.State == CloudUnknown:
		h.mu.Unlock()
		return
	default:
		e.clouds = append(slices.Clone(e.clouds), c)
		slices.SortFunc(e.clouds, func(a, b Cloud) int { return int(a.Source) - int(b.Source) })
	}
	snap, list := h.nextLocked(name, e, e.snap.Dialogs)
	h.mu.Unlock()
	offer(list, snap)
}

func cloudEqual(a, b Cloud) bool {
	return a.Source == b.Source && a.State == b.State && a.Note == b.Note && a.Detail == b.Detail
}

// Policy returns the rules in force.
func (h *Hub) Policy() *Policy {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.policy
}

// SetPolicy puts new rules in force. Every extension whose watchers may now
// see something else gets a new snapshot at once, so live subscriptions
// follow without re-subscribing.
func (h *Hub) SetPolicy(p *Policy) {
	h.mu.Lock()
	old := h.policy
	h.policy = p
	owners := make([]string, 0, len(h.entities))
	for n := range h.entities {
		owners = append(owners, n)
	}
	all, changed := old.affected(p, owners)
	if all {
		changed = owners
	}
	type out struct {
		snap *Snapshot
		list []Watcher
	}
	var outs []out
	for _, n := range changed {
		e := h.entities[n]
		snap, list := h.nextLocked(n, e, e.snap.Dialogs)
		outs = append(outs, out{snap, list})
	}
	h.mu.Unlock()
	for _, o := range outs {
		offer(o.list, o.snap)
	}
}

// nextLocked makes the entity's next snapshot and returns it with the
// watchers to offer it to.
func (h *Hub) nextLocked(name string, e *entity, dialogs []Dialog) (*Snapshot, []Watcher) {
	e.seq++
	snap := &Snapshot{
		Entity: name, Seq: e.seq, Dialogs: dialogs, Offline: e.snap.Offline,
		Status: e.status, Message: e.message, Clouds: e.clouds, Changed: h.now(), Policy: h.policy,
	}
	e.snap = snap
	if e.list == nil {
		e.list = make([]Watcher, 0, len(e.watchers))
		for _, w := range e.watchers {
			e.list = append(e.list, w)
		}
	}
	return snap, e.list
}

// offer runs outside the hub's lock: a Watcher may take its own locks.
func offer(list []Watcher, snap *Snapshot) {
	for _, w := range list {
		w.Offer(snap)
	}
}

// mergeLocked joins the dialogs of all sources in a stable order, so equal
// states encode to equal documents.
func mergeLocked(e *entity) []Dialog {
	var out []Dialog
	for _, src := range []Source{SourceSIP, SourceManual, SourceTeams, SourceGenesys} {
		out = append(out, e.sources[src]...)
	}
	slices.SortStableFunc(out, func(a, b Dialog) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}

func dialogEqual(a, b Dialog) bool {
	a.Since, b.Since = time.Time{}, time.Time{}
	return a == b
}
