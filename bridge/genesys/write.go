package genesys

import (
	"context"
	"maps"
	"strings"
	"time"

	"github.com/blfgw/blfgw/bridge/internal/work"
	"github.com/blfgw/blfgw/presence"
)

const workers = 4

// wantLocked says what Genesys should show for a user: a phone call on
// any of their extensions first, then their manual status, then their
// Teams presence through the mapping table.
func (b *Bridge) wantLocked(u *user) want {
	var teams, status want
	for _, s := range u.snaps {
		for _, d := range s.Dialogs {
			if d.State == presence.Confirmed {
				return want{why: "phone", target: b.opt.Phone}
			}
		}
		switch s.Status {
		case presence.StatusDND:
			status = want{why: "dnd", target: b.opt.DND}
		case presence.StatusAway:
			if status.why == "" {
				status = want{why: "away", target: b.opt.Away}
			}
		}
		for _, c := range s.Clouds {
			if c.Source != presence.SourceTeams {
				continue
			}
			av, act, _ := strings.Cut(c.Detail, "/")
			if name, ok := b.opt.Teams(av, act); ok {
				teams = want{why: "teams", target: name}
			}
		}
	}
	if status.why != "" && status.target != "" {
		return status
	}
	return teams
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

// write moves a user's Genesys presence after a change of what they
// want: it reads the presence and routing status first and leaves an
// agent On Queue alone (the blueprint's guard); a call saves the
// presence it replaces and its end restores it, unless someone changed
// it meanwhile.
func (b *Bridge) write(ctx context.Context, u *user) {
	b.mu.Lock()
	w, prev := b.wantLocked(u), u.applied
	before, preCall, wrote := u.before, u.preCall, u.wrote
	b.mu.Unlock()

	done := func(applied want, err error) {
		b.mu.Lock()
		defer b.mu.Unlock()
		defer b.wake() // the loop times the retry, or the change that came meanwhile
		u.Busy = false
		u.Next = time.Time{}
		if err == nil {
			u.applied, u.failures = applied, 0
			return
		}
		if ctx.Err() != nil {
			return
		}
		if retryable(err) {
			u.failures++
			u.Next = time.Now().Add(work.Backoff(u.failures))
			b.log.Warn("genesys: presence write failed; retrying", "user", u.id, "in", time.Until(u.Next).Round(time.Millisecond), "err", err)
			return
		}
		// Genesys refused it for good (a user it does not know, a
		// permission missing): wait for the next change.
		u.applied = applied
		b.log.Error("genesys: presence write refused", "user", u.id, "err", err)
	}
	if w == prev {
		done(w, nil)
		return
	}
	callStart := w.why == "phone" && prev.why != "phone"
	callEnd := prev.why == "phone" && w.why != "phone"

	// What to set: the wanted presence, or on a call's end the one the
	// call replaced.
	target := ""
	if d, ok := b.definition(w.target); ok && w.target != "" {
		target = d.ID
	}
	if callEnd && (w == preCall || w.target == "") {
		target = before
	}
	if target == "" && !callStart {
		done(w, nil) // nothing mapped: leave Genesys alone
		return
	}
	cur, err := b.api.GetUserPresence(ctx, u.id)
	if err != nil {
		done(prev, err)
		return
	}
	rs, err := b.api.GetUserRoutingStatus(ctx, u.id)
	if err != nil {
		done(prev, err)
		return
	}
	if onQueue(cur.PresenceDefinition.SystemPresence, rs.Status) {
		b.st.guarded.Add(1)
		b.log.Info("genesys: agent on queue; presence left alone", "user", u.id, "presence", cur.PresenceDefinition.SystemPresence, "routing", rs.Status, "wanted", w.target)
		b.mu.Lock()
		if callStart {
			u.before, u.preCall = "", prev // nothing to restore after this call
		}
		b.mu.Unlock()
		done(w, nil)
		return
	}
	if callEnd && wrote != "" && cur.PresenceDefinition.ID != wrote {
		// Someone changed it during the call: theirs stands.
		done(w, nil)
		return
	}
	if callStart {
		b.mu.Lock()
		u.before, u.preCall = cur.PresenceDefinition.ID, prev
		b.mu.Unlock()
	}
	if target == "" || target == cur.PresenceDefinition.ID {
		done(w, nil)
		return
	}
	// The notification of this PATCH may beat its answer: it is known
	// for the bridge's own while the PATCH is in flight.
	b.mu.Lock()
	u.wrote, u.wroteMod, u.patching = target, time.Time{}, true
	b.mu.Unlock()
	p, err := b.api.PatchUserPresence(ctx, u.id, target)
	b.mu.Lock()
	u.patching = false
	if err == nil {
		u.wroteMod = p.ModifiedDate
	} else {
		u.wrote = wrote
	}
	b.mu.Unlock()
	if err != nil {
		done(prev, err)
		return
	}
	b.st.patches.Add(1)
	done(w, nil)
}
