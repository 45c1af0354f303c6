package teams

import (
	"context"
	"slices"
	"time"

	"github.com/blfgw/blfgw/bridge/internal/work"
	"github.com/blfgw/blfgw/presence"
)

// gather is how long the reader waits for more notifications before it
// reads, so a burst (a company-wide meeting starting) becomes a few
// batch reads instead of one per user.
const gather = 50 * time.Millisecond

// enqueue asks for a read of users' presence.
func (b *Bridge) enqueue(ids ...string) {
	b.mu.Lock()
	for _, id := range ids {
		if _, ok := b.byID[id]; ok {
			b.toRead[id] = true
		}
	}
	b.mu.Unlock()
	b.wake(b.wakeR)
}

// readLoop reads what was asked for (notifications, lifecycle "missed",
// echo re-checks) in batches of up to 650, and polls: every user no
// subscription covers at the poll interval, everyone at the reconcile
// interval.
func (b *Bridge) readLoop(ctx context.Context) {
	poll := time.NewTicker(b.opt.PollInterval)
	defer poll.Stop()
	reconcile := time.NewTicker(b.opt.ReconcileInterval)
	defer reconcile.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.wakeR:
			select {
			case <-time.After(gather):
			case <-ctx.Done():
				return
			}
		case <-poll.C:
			b.mu.Lock()
			ids := b.polled
			if len(b.subs) == 0 {
				ids = b.allLocked()
			}
			b.mu.Unlock()
			b.enqueue(ids...)
			continue
		case <-reconcile.C:
			b.mu.Lock()
			ids := b.allLocked()
			b.mu.Unlock()
			b.enqueue(ids...)
			continue
		}
		for {
			b.mu.Lock()
			ids := make([]string, 0, min(len(b.toRead), maxIDs))
			for id := range b.toRead {
				if len(ids) == maxIDs {
					break
				}
				ids = append(ids, id)
				delete(b.toRead, id)
			}
			b.mu.Unlock()
			if len(ids) == 0 {
				break
			}
			slices.Sort(ids)
			got, err := b.g.presences(ctx, ids)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				// Put them back; the gate holds a throttled bridge, the
				// back-off a failing one.
				b.mu.Lock()
				for _, id := range ids {
					b.toRead[id] = true
				}
				b.mu.Unlock()
				failures++
				d := work.Backoff(failures)
				b.log.Warn("teams: reading presence failed; retrying", "users", len(ids), "in", d.Round(time.Millisecond), "err", err)
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return
				}
				continue
			}
			failures = 0
			b.st.reads.Add(int64(len(got)))
			for _, r := range got {
				b.apply(r)
			}
		}
	}
}

func (b *Bridge) allLocked() []string {
	ids := make([]string, 0, len(b.byID))
	for id := range b.byID {
		ids = append(ids, id)
	}
	return ids
}

// apply hands one reading to presence, unless it is older than what was
// applied already or it is the bridge's own write coming back.
func (b *Bridge) apply(r reading) {
	now := time.Now()
	b.mu.Lock()
	u := b.byID[r.id]
	if u == nil {
		b.mu.Unlock()
		return
	}
	if r.seq != "" && u.seq != "" && seqBefore(r.seq, u.seq) {
		b.st.stale.Add(1)
		b.mu.Unlock()
		return
	}
	if r.seq != "" {
		u.seq = r.seq
	}
	if now.Before(u.echoUntil) && slices.Contains(u.echoes, Pair{r.av, r.act}) {
		b.st.echoes.Add(1)
		if u.session == (Pair{}) && u.pref == (Pair{}) {
			// A read that raced the clear: look again once it settles.
			b.later(u.id, u.echoUntil)
		}
		b.mu.Unlock()
		return
	}
	exts := slices.Clone(u.exts)
	b.mu.Unlock()
	state, note := b.opt.Map(r.av, r.act)
	c := presence.Cloud{Source: presence.SourceTeams, State: state, Note: note, Detail: r.av + "/" + r.act, Since: now}
	for _, ext := range exts {
		b.opt.Hub.SetCloud(ext, c)
	}
}

// seqBefore orders Graph's sequence numbers, which it documents as
// lexicographically sortable strings.
func seqBefore(a, b string) bool { return a < b }

// later re-reads a user at t. Called with b.mu held.
func (b *Bridge) later(id string, t time.Time) {
	if b.rereads == nil {
		b.rereads = map[string]time.Time{}
	}
	b.rereads[id] = t
	b.wake(b.wakeRe)
}

// rereadLoop runs the re-reads later asked for.
func (b *Bridge) rereadLoop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		next := now.Add(time.Hour)
		var due []string
		b.mu.Lock()
		for id, t := range b.rereads {
			if !now.Before(t) {
				due = append(due, id)
				delete(b.rereads, id)
			} else if t.Before(next) {
				next = t
			}
		}
		b.mu.Unlock()
		if len(due) > 0 {
			b.enqueue(due...)
		}
		timer.Reset(next.Sub(now))
		select {
		case <-ctx.Done():
			return
		case <-b.wakeRe:
		case <-timer.C:
		}
	}
}
