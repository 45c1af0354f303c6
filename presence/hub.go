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
	now      func() time.Time
}

type entity struct {
	seq      uint64
	snap     *Snapshot
	sources  map[Source][]Dialog
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
		e.snap = &Snapshot{Entity: name, Changed: h.now()}
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
	e.seq++
	snap := &Snapshot{Entity: name, Seq: e.seq, Dialogs: merged, Offline: e.snap.Offline, Changed: h.now()}
	e.snap = snap
	if e.list == nil {
		e.list = make([]Watcher, 0, len(e.watchers))
		for _, w := range e.watchers {
			e.list = append(e.list, w)
		}
	}
	list := e.list
	h.mu.Unlock()

	// Offer outside the lock: a Watcher may take its own locks.
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
