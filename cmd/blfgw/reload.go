package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blfgw/blfgw/configs"
	"github.com/blfgw/blfgw/presence"
	"github.com/blfgw/blfgw/sip"
	"github.com/blfgw/blfgw/store"
)

// liveDirectory lets a reload swap the extensions the SIP edge sees.
type liveDirectory struct{ cur atomic.Pointer[directory] }

func (d *liveDirectory) Account(number string) (sip.Account, bool) {
	return d.cur.Load().Account(number)
}

// reloader applies a changed configuration file while the gateway runs: on
// SIGHUP and when the file's content changes.
type reloader struct {
	path                  string
	sipFlag, httpFlag, db string // command-line overrides, applied again
	log                   *slog.Logger
	store                 *store.DB
	settings              *presence.Settings
	dir                   *liveDirectory
	sip                   *sip.Server

	mu   sync.Mutex
	cur  *configs.Config
	hash [32]byte
}

// watch polls the file every interval and reloads when its content
// changed; editors that replace the file instead of writing it are covered
// too, which is why this reads content rather than waiting for events.
func (r *reloader) watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		data, err := os.ReadFile(r.path)
		if err != nil {
			continue // mid-replace, or gone: the next tick tells
		}
		r.mu.Lock()
		changed := sha256.Sum256(data) != r.hash
		r.mu.Unlock()
		if changed {
			r.reload(ctx, "file changed")
		}
	}
}

// reload validates the whole file first; a bad one changes nothing.
func (r *reloader) reload(ctx context.Context, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	data, err := os.ReadFile(r.path)
	if err != nil {
		r.log.Error("config reload refused; nothing changed", "why", why, "err", err)
		return
	}
	r.hash = sha256.Sum256(data)
	cfg, err := loadConfig(r.path, r.sipFlag, r.httpFlag, r.db)
	if err != nil {
		r.log.Error("config reload refused; nothing changed", "why", why, "problems", problems(err))
		return
	}
	for _, key := range restartOnly(r.cur, cfg) {
		r.log.Warn("config change needs a restart to take effect; the running value stays", "key", key)
	}
	next := newDirectory(cfg)
	if err := r.store.SyncDirectory(ctx, next.departments, next.storeExtensions()); err != nil {
		r.log.Error("config reload failed: store the extensions", "err", err)
		return
	}
	// Watchers of a removed extension get their final NOTIFY first, not a
	// last full-state one for the new rules.
	old := r.dir.cur.Load()
	r.dir.cur.Store(next)
	var added, removed []string
	for n := range next.accounts {
		if _, ok := old.accounts[n]; !ok {
			added = append(added, n)
		}
	}
	ended := 0
	for n := range old.accounts {
		if _, ok := next.accounts[n]; !ok {
			removed = append(removed, n)
			ended += r.sip.EndEntity(n, "noresource")
		}
	}
	if err := r.settings.Load(ctx, departmentNames(cfg), seeds(cfg), policyOptions(cfg)); err != nil {
		r.log.Error("config reload failed: apply the users' settings", "err", err)
		return
	}
	slices.Sort(added)
	slices.Sort(removed)
	r.cur = cfg
	r.log.Info("configuration reloaded", "why", why, "extensions", len(cfg.Extensions),
		"added", added, "removed", removed, "subscriptions_ended", ended)
}

// problems is a refused file's list of problems on one log line.
func problems(err error) string {
	var ps configs.Errors
	if errors.As(err, &ps) {
		var b strings.Builder
		for i, p := range ps {
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(p.Error())
		}
		return b.String()
	}
	return err.Error()
}

// restartOnly names the changed settings that a running gateway cannot
// take: listeners, TLS, the database, logging, the SIP edge's options and
// the proxy mode.
// Extensions, departments and [presence] apply live.
func restartOnly(old, next *configs.Config) []string {
	var out []string
	for _, s := range []struct {
		key  string
		a, b any
	}{
		{"log", old.Log, next.Log},
		{"sip", old.SIP, next.SIP},
		{"http", old.HTTP, next.HTTP},
		{"store", old.Store, next.Store},
		{"proxy", old.Proxy, next.Proxy},
	} {
		if !reflect.DeepEqual(s.a, s.b) {
			out = append(out, s.key)
		}
	}
	return out
}
