package teams

import (
	"context"
	"maps"
	"time"

	"github.com/blfgw/blfgw/bridge/internal/work"
	"github.com/blfgw/blfgw/presence"
)

// workers bounds the Graph writes in flight.
const workers = 8

// echoGrace is how long after clearing its session a reading that still
// shows the bridge's own pair is taken for an echo (a read that raced
// the clear) rather than the user's choice.
const echoGrace = 5 * time.Second

// want is what Teams should be told about one user.
type want struct {
	session Pair // the app session's pair; zero: no call, no session
	pref    Pair // zero: no preferred presence
}

func (w want) key() string { return w.session.String() + "+" + w.pref.String() }

// wanted rolls a user's extensions up: a call on any of their phones is a
// call (ringing is not); two calls talking at once (a phone's own
// three-way conference) are a conference; a manual status is pushed only
// if asked to.
func (b *Bridge) wanted(u *user) want {
	var w want
	talking := 0
	for _, s := range u.snaps {
		for _, d := range s.Dialogs {
			if d.State != presence.Confirmed {
				continue
			}
			if w.session == (Pair{}) {
				w.session = b.opt.Call
			}
			if !d.Held {
				talking++
			}
		}
		if b.opt.PushStatus {
			switch s.Status {
			case presence.StatusDND:
				w.pref = b.opt.DND
			case presence.StatusAway:
				if w.pref == (Pair{}) {
					w.pref = b.opt.Away
				}
			}
		}
	}
	if talking > 1 {
		w.session = b.opt.Conference
	}
	return w
}

// writeLoop hands each user whose wanted state changed, or whose retry
// or refresh fell due, to one of a few workers (bridge/internal/work).
func (b *Bridge) writeLoop(ctx context.Context) {
	work.Loop(ctx, workers, b.wakeW, b.dueWrites, b.release, b.write)
}

func (b *Bridge) dueWrites(now time.Time) ([]*user, time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return work.Due(maps.Values(b.byID), func(u *user) *work.Slot { return &u.Slot }, now)
}

func (b *Bridge) release(us []*user) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, u := range us {
		u.Busy = false
	}
}

// write brings one user's Teams presence to what their phones want.
func (b *Bridge) write(ctx context.Context, u *user) {
	b.mu.Lock()
	w := b.wanted(u)
	session, refreshAt, pref, refused := u.session, u.refreshAt, u.pref, u.refused
	b.mu.Unlock()

	now := time.Now()
	var err error
	if refused != w.key() {
		switch {
		case w.session != (Pair{}) && (w.session != session || !now.Before(refreshAt)):
			if err = b.g.setPresence(ctx, u.id, w.session, b.opt.CallExpiry); err == nil {
				session, refreshAt = w.session, time.Now().Add(b.refresh)
				b.st.writes.Add(1)
			}
		case w.session == (Pair{}) && session != (Pair{}):
			if err = b.g.clearPresence(ctx, u.id); err == nil {
				session = Pair{}
				b.st.writes.Add(1)
			}
		}
		if err == nil && w.pref != pref {
			if w.pref == (Pair{}) {
				err = b.g.clearPreferred(ctx, u.id)
			} else {
				err = b.g.setPreferred(ctx, u.id, w.pref)
			}
			if err == nil {
				pref = w.pref
				b.st.writes.Add(1)
			}
		}
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	defer b.wake(b.wakeW)
	u.Busy = false
	if u.session != session || u.pref != pref {
		// What Graph reads back while our session or preference is up is
		// ours, not the user's: an app's Busy/InACall is seen as
		// Busy/InACall or Busy/Busy (CLOUD-APIS.md 2.6). Once cleared,
		// a read that raced the clear is still ours for a moment.
		var ps []Pair
		if session != (Pair{}) {
			ps = append(ps, session, Pair{session.Availability, session.Availability})
		}
		if pref != (Pair{}) {
			ps = append(ps, pref)
		}
		if len(ps) > 0 {
			u.echoes, u.echoUntil = ps, time.Now().Add(100*365*24*time.Hour)
		} else {
			u.echoUntil = time.Now().Add(echoGrace)
		}
	}
	u.session, u.refreshAt, u.pref = session, refreshAt, pref
	u.Next = time.Time{}
	if session != (Pair{}) {
		u.Next = refreshAt
	}
	switch {
	case err == nil:
		u.failures, u.refused = 0, ""
	case ctx.Err() != nil:
	case retryable(err):
		b.st.writeErrors.Add(1)
		u.failures++
		u.Next = time.Now().Add(work.Backoff(u.failures))
		b.log.Warn("teams: write failed; retrying", "user", u.id, "in", time.Until(u.Next).Round(time.Millisecond), "err", err)
	default:
		// Graph refused this state for good (a pair it does not take, a
		// user without Teams): do not hammer it until the phone changes.
		b.st.writeErrors.Add(1)
		u.refused = w.key()
		b.log.Error("teams: graph refused a presence write", "user", u.id, "err", err)
	}
}
