package api

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blfgw/blfgw/presence"
)

const (
	defaultEventsPing = 15 * time.Second
	defaultMaxStreams = 1000
	// maxStreamsPerUser: a HUD in a few tabs and on a phone, not a leak
	// that eats the server's share.
	maxStreamsPerUser = 10
	// maxHUD bounds the list shown to a user who chose none.
	maxHUD = 200
	// streamWriteTimeout drops a client that stopped reading, instead of
	// holding its goroutine on a full socket.
	streamWriteTimeout = 30 * time.Second
)

// stream is one open event stream: a presence.Watcher of every extension
// on the caller's list that keeps only the newest snapshot of each, like
// a SIP subscription. The request's goroutine drains it.
type stream struct {
	number   string
	fallback atomic.Bool // the list is "everyone I may see", not the user's own

	mu      sync.Mutex
	pending map[string]*presence.Snapshot
	wake    chan struct{} // cap 1: pending has something
	poke    chan struct{} // cap 1: settings or credentials may have changed
}

var _ presence.Watcher = (*stream)(nil)

// Offer never blocks: it keeps the newest snapshot and signals.
func (st *stream) Offer(snap *presence.Snapshot) {
	st.mu.Lock()
	if cur := st.pending[snap.Entity]; cur == nil || snap.Seq > cur.Seq {
		st.pending[snap.Entity] = snap
	}
	st.mu.Unlock()
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

func (st *stream) take() map[string]*presence.Snapshot {
	st.mu.Lock()
	defer st.mu.Unlock()
	p := st.pending
	st.pending = map[string]*presence.Snapshot{}
	return p
}

func (st *stream) pokeNow() {
	select {
	case st.poke <- struct{}{}:
	default:
	}
}

// streams counts and reaches the open event streams.
type streams struct {
	mu     sync.Mutex
	all    map[*stream]struct{}
	byUser map[string]int
}

func (s *Server) acquireStream(st *stream) (ok bool, msg string) {
	s.streams.mu.Lock()
	defer s.streams.mu.Unlock()
	switch {
	case len(s.streams.all) >= s.maxStreams:
		return false, fmt.Sprintf("the server has its maximum of %d open event streams; try again later", s.maxStreams)
	case s.streams.byUser[st.number] >= maxStreamsPerUser:
		return false, fmt.Sprintf("%s already has %d open event streams; close one (a browser tab) first", st.number, maxStreamsPerUser)
	}
	s.streams.all[st] = struct{}{}
	s.streams.byUser[st.number]++
	return true, ""
}

func (s *Server) releaseStream(st *stream) {
	s.streams.mu.Lock()
	defer s.streams.mu.Unlock()
	delete(s.streams.all, st)
	if s.streams.byUser[st.number]--; s.streams.byUser[st.number] <= 0 {
		delete(s.streams.byUser, st.number)
	}
}

func (s *Server) streamCount() int {
	s.streams.mu.Lock()
	defer s.streams.mu.Unlock()
	return len(s.streams.all)
}

// pokeStreams makes the streams a change of number's settings or session
// may concern look again: number's own, and those that list everyone they
// may see, since number's sharing may have changed that.
func (s *Server) pokeStreams(number string) {
	s.streams.mu.Lock()
	defer s.streams.mu.Unlock()
	for st := range s.streams.all {
		if st.number == number || st.fallback.Load() {
			st.pokeNow()
		}
	}
}

// pokeAllStreams makes every open stream look at its list and access
// again (the settings were reloaded).
func (s *Server) pokeAllStreams() {
	s.streams.mu.Lock()
	defer s.streams.mu.Unlock()
	for st := range s.streams.all {
		st.pokeNow()
	}
}

// hudList is what the caller's HUD shows besides themself: their
// appearance list in order (extensions since removed from the directory
// left out), or, if they chose none, the directory in number order, up to
// maxHUD (under a refusing block, only those they may see).
func (s *Server) hudList(number string) (exts []string, fallback bool) {
	u, _, _ := s.opt.Settings.Get(number)
	exts = []string{}
	if len(u.Appearance) > 0 {
		for _, n := range u.Appearance {
			if _, ok := s.person(n); ok {
				exts = append(exts, n)
			}
		}
		return exts, false
	}
	// Under a polite block a hidden colleague is listed too, neutral:
	// leaving them out would tell the user who hides from them, and a
	// row would vanish the moment someone stops sharing.
	pol := s.opt.Hub.Policy()
	polite := pol == nil || pol.Options().Block != presence.BlockRefuse
	for _, p := range s.opt.Settings.People() {
		if p.Number != number && (polite || pol.Access(number, p.Number) != presence.AccessNone) {
			exts = append(exts, p.Number)
		}
	}
	slices.SortFunc(exts, numberOrder)
	if len(exts) > maxHUD {
		exts = exts[:maxHUD]
	}
	return exts, true
}

// numberOrder puts all-digit numbers first, shorter first (9 before 10),
// then the rest as strings: a total order, so sorting is stable.
func numberOrder(a, b string) int {
	da, db := allDigits(a), allDigits(b)
	switch {
	case da && !db:
		return -1
	case !da && db:
		return 1
	case da && len(a) != len(b):
		return cmp.Compare(len(a), len(b))
	}
	return strings.Compare(a, b)
}

func allDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

type listJSON struct {
	Self       string   `json:"self"`
	Extensions []string `json:"extensions"`
}

// events streams the caller's HUD as Server-Sent Events. It is state, not
// a queue: a change sends the extension's whole presence as of now, a burst
// of changes may arrive as one event, and a reconnect (whatever its
// Last-Event-ID) starts with the full state again, so nothing is replayed
// and nothing can be missed.
func (s *Server) events(w http.ResponseWriter, r *http.Request, me caller) {
	if !onlyParams(w, r) {
		return
	}
	st := &stream{
		number:  me.Number,
		pending: map[string]*presence.Snapshot{},
		wake:    make(chan struct{}, 1),
		poke:    make(chan struct{}, 1),
	}
	if ok, msg := s.acquireStream(st); !ok {
		w.Header().Set("Retry-After", "30")
		writeError(w, http.StatusServiceUnavailable, "too_many_streams", msg)
		return
	}
	defer s.releaseStream(st)

	// The stream ends with the request (the client went) or with the
	// server: Shutdown waits for handlers, and this one would not return
	// on its own.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(s.streamsCtx, cancel)()

	rc := http.NewResponseController(w)
	// A write blocked on a client that stopped reading must end with the
	// stream too; the flag keeps the controller from being used after the
	// handler returned.
	var dlMu sync.Mutex
	returned := false
	stopDL := context.AfterFunc(ctx, func() {
		dlMu.Lock()
		defer dlMu.Unlock()
		if !returned {
			_ = rc.SetWriteDeadline(time.Now())
		}
	})
	defer func() {
		stopDL()
		dlMu.Lock()
		returned = true
		dlMu.Unlock()
	}()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)

	var out bytes.Buffer
	flush := func() bool {
		if out.Len() == 0 {
			return true
		}
		// Also clears a server-wide WriteTimeout, which would cut every
		// stream after that long.
		if err := rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)); err != nil && ctx.Err() == nil {
			s.opt.Log.Debug("api: event stream write deadline", "err", err)
		}
		if ctx.Err() != nil {
			return false
		}
		_, err := w.Write(out.Bytes())
		out.Reset()
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			s.opt.Log.Debug("api: event stream ends", "number", me.Number, "err", err)
			return false
		}
		return true
	}

	watches := map[string]func(){}
	sent := map[string][]byte{} // the data last sent per extension
	seen := map[string]uint64{} // the newest snapshot shown per extension
	var list []byte
	defer func() {
		for _, stop := range watches {
			stop()
		}
	}()

	emit := func(n string, snap *presence.Snapshot, force bool) {
		// An Offer may arrive after the list showed a newer snapshot.
		if !force && snap.Seq <= seen[n] {
			return
		}
		seen[n] = snap.Seq
		pe, ok := s.person(n)
		if !ok {
			return // left the directory; the next relist drops it
		}
		acc, _ := accessOf(s.opt.Hub, me.Number, n, snap)
		data := snap.Render(renderKey{acc: acc, name: pe.Name}, func() any {
			b, err := json.Marshal(presenceBody(n, pe.Name, snap, acc))
			if err != nil {
				return []byte(nil)
			}
			return b
		}).([]byte)
		// An unchanged answer is not sent again: for a colleague who
		// blocks the caller it would tell when something happened.
		if data == nil || (!force && bytes.Equal(data, sent[n])) {
			return
		}
		sent[n] = data
		// Nor does the id count the changes of someone the caller may not
		// see.
		seq := snap.Seq
		if acc == presence.AccessNone {
			seq = 0
		}
		fmt.Fprintf(&out, "id: %s:%d\nevent: presence\ndata: %s\n\n", n, seq, data)
	}

	relist := func(first bool) {
		exts, fb := s.hudList(me.Number)
		st.fallback.Store(fb)
		b, _ := json.Marshal(listJSON{Self: me.Number, Extensions: exts})
		if !first && bytes.Equal(b, list) {
			return
		}
		list = b
		fmt.Fprintf(&out, "event: list\ndata: %s\n\n", b)
		numbers := []string{me.Number}
		for _, n := range exts {
			if !slices.Contains(numbers, n) {
				numbers = append(numbers, n)
			}
		}
		for n, stop := range watches {
			if !slices.Contains(numbers, n) {
				stop()
				delete(watches, n)
				delete(sent, n)
				delete(seen, n)
			}
		}
		// The whole state after every list, so a client may rebuild
		// from it.
		for _, n := range numbers {
			var snap *presence.Snapshot
			if _, ok := watches[n]; ok {
				snap = s.opt.Hub.Current(n)
			} else {
				snap, watches[n] = s.opt.Hub.Watch(n, st)
			}
			emit(n, snap, true)
		}
	}

	out.WriteString("retry: 2000\n\n")
	relist(true)
	if !flush() {
		return
	}
	ping := time.NewTicker(s.eventsPing)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-st.wake:
			pend := st.take()
			for _, n := range slices.Sorted(maps.Keys(pend)) {
				if _, ok := watches[n]; ok {
					emit(n, pend[n], false)
				}
			}
		case <-st.poke:
			if !me.still(s.now()) {
				return
			}
			relist(false)
		case <-ping.C:
			// Credentials are checked again now and then: a session
			// signed out elsewhere or a password changed in the file ends
			// the stream, and the client's reconnect is refused.
			if !me.still(s.now()) {
				return
			}
			relist(false)
			out.WriteString(": ping\n\n")
		}
		if !flush() {
			return
		}
	}
}

// renderKey memoises a presence body on its snapshot: one change is
// encoded once per access level, however many HUDs show it.
type renderKey struct {
	acc  presence.Access
	name string
}
