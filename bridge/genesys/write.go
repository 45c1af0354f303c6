package genesys

import (
	"context"
	"strings"
	"sync"
	"time"

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

// writeLoop hands each user whose wanted presence changed to one of a
// few workers; a burst of changes for one user becomes one PATCH, from
// the newest state.
func (b *Bridge) writeLoop(ctx context.Context) {
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		due, next := b.dueWrites(now)
		for i, u := range due {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				b.release(due[i:])
				return
			}
			wg.Go(func() {
				defer func() { <-sem }()
				b.write(ctx, u)
			})
		}
		timer.Reset(max(next.Sub(now), 10*time.Millisecond))
		select {
		case <-ctx.Done():
			return
		case <-b.wakeW:
		case <-timer.C:
		}
	}
}

func (b *Bridge) dueWrites(now time.Time) ([]*user, time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	next := now.Add(time.Hour)
	var due []*user
	for _, u := range b.byID {
		if u.busy {
			continue
		}
		if u.dirty || (!u.next.IsZero() && !now.Before(u.next)) {
			u.busy, u.dirty = true, false
			due = append(due, u)
			continue
		}
		if !u.next.IsZero() && u.next.Before(next) {
			next = u.next
		}
	}
	return due, next
}

func (b *Bridge) release(us []*user) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, u := range us {
		u.busy = false
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
		u.busy = false
		u.next = time.Time{}
		if err == nil {
			u.applied, u.failures = applied, 0
			return
		}
		if ctx.Err() != nil {
			return
		}
		if retryable(err) {
			u.failures++
			u.next = time.Now().Add(backoff(u.failures))
			b.log.Warn("genesys: presence write failed; retrying", "user", u.id, "in", time.Until(u.next).Round(time.Millisecond), "err", err)
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
