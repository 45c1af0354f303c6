// Package users turns the names an admin wrote for the cloud accounts of
// the extensions (an object id, a UPN, an email) into the services' user
// ids: ids as written, names from the store, the rest asked of the
// service once and then kept in the store. Both bridges resolve this way.
package users

import (
	"context"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/blfgw/blfgw/bridge/internal/work"
)

// Store keeps the ids that names were resolved to (SQLite's cloud_users).
type Store interface {
	CloudUsers(ctx context.Context, service string) (map[string]string, error)
	PutCloudUser(ctx context.Context, service, name, id string) error
}

var guid = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// IsID reports whether name is already a user id (a GUID).
func IsID(name string) bool { return guid.MatchString(name) }

// Resolver resolves one service's users.
type Resolver struct {
	Service string            // "teams", "genesys": the store's key and the log's
	Names   map[string]string // extension -> what the admin wrote
	Store   Store             // nil: nothing kept
	Lookup  func(ctx context.Context, name string) (string, error)
	// Resolved says whether an extension has its id already; Add gives
	// it one (lower-case). The caller guards its own state in both.
	Resolved func(ext string) bool
	Add      func(ext, id string)
	Log      *slog.Logger
}

// Resolve resolves every extension of Names not yet resolved that it can,
// and returns those it could not, sorted.
func (r *Resolver) Resolve(ctx context.Context) (unknown []string) {
	var cached map[string]string
	if r.Store != nil {
		var err error
		if cached, err = r.Store.CloudUsers(ctx, r.Service); err != nil {
			r.Log.Warn(r.Service+": reading resolved users", "err", err)
		}
	}
	for _, ext := range slices.Sorted(maps.Keys(r.Names)) {
		if r.Resolved(ext) {
			continue
		}
		name := r.Names[ext]
		if IsID(name) {
			r.Add(ext, strings.ToLower(name))
			continue
		}
		if id := cached[strings.ToLower(name)]; id != "" {
			r.Add(ext, id)
			continue
		}
		id, err := r.Lookup(ctx, name)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			r.Log.Warn(r.Service+": cannot resolve a user", "extension", ext, r.Service+"_user", name, "err", err)
			unknown = append(unknown, ext)
			continue
		}
		if r.Store != nil {
			if err := r.Store.PutCloudUser(ctx, r.Service, name, id); err != nil {
				r.Log.Warn(r.Service+": keeping a resolved user", "err", err)
			}
		}
		r.Add(ext, strings.ToLower(id))
	}
	return unknown
}

// Retry resolves again what could not be, with a growing pause (1 min up
// to 30 min, jittered), until ctx ends. pending reports whether anything
// is left; resolve does one round.
func Retry(ctx context.Context, pending func() bool, resolve func(context.Context)) {
	wait := time.Minute
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(work.Jitter(wait)):
		}
		if !pending() {
			wait = time.Minute
			continue
		}
		resolve(ctx)
		wait = min(wait*2, 30*time.Minute)
	}
}
