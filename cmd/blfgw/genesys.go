package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/blfgw/blfgw/bridge/genesys"
	"github.com/blfgw/blfgw/configs"
	"github.com/blfgw/blfgw/presence"
	"github.com/blfgw/blfgw/store"
)

// genesysBridge builds the Genesys bridge from [genesys]; nil when it is
// off. Like the Teams bridge it is built once at start.
func genesysBridge(cfg *configs.Config, db *store.DB, hub *presence.Hub, log *slog.Logger) (*genesys.Bridge, error) {
	g := cfg.Genesys
	if !g.Enabled {
		return nil, nil
	}
	hc, err := caClient(g.CAFile)
	if err != nil {
		return nil, fmt.Errorf("genesys.ca_file: %w", err)
	}
	api, login := g.Hosts()
	users := map[string]string{}
	for _, e := range cfg.Extensions {
		if e.GenesysUser != "" {
			users[e.Number] = e.GenesysUser
		}
	}
	// Every presence name the file uses, with its key, so the org can be
	// checked against them at start.
	names, ids := map[string]string{}, map[string]string{}
	for key, n := range map[string]string{"genesys.to_genesys.phone": g.ToGenesys.Phone, "genesys.to_genesys.dnd": g.ToGenesys.DND, "genesys.to_genesys.away": g.ToGenesys.Away} {
		if n != "" {
			names[n] = key
		}
	}
	for i, m := range g.Mappings {
		if _, seen := names[m.Presence]; !seen {
			names[m.Presence] = "genesys.mappings[" + strconv.Itoa(i) + "].presence"
		}
		if m.ID != "" {
			ids[m.Presence] = m.ID
		}
	}
	return genesys.New(genesys.Options{
		Client: genesys.ClientOptions{
			APIURL: api, LoginURL: login,
			ClientID: g.ClientID, ClientSecret: g.ClientSecret,
			HTTPClient: hc, PerMinute: g.Rate,
		},
		DialClient: hc,
		Users:      users,
		Phone:      g.ToGenesys.Phone,
		DND:        g.ToGenesys.DND,
		Away:       g.ToGenesys.Away,
		Teams: func(av, act string) (string, bool) {
			m, ok := g.Mapping(av, act)
			return m.Presence, ok
		},
		Names: names,
		IDs:   ids,
		Map: func(name, system, routing string) (presence.CloudState, string) {
			r, ok := g.Rule(name, routing)
			if !ok && system != "" && system != name {
				r, ok = g.Rule(system, routing) // a secondary presence no rule names
			}
			if !ok || r.Lamp == configs.TeamsLampIgnore {
				return presence.CloudUnknown, ""
			}
			return presence.ParseCloudState(r.Lamp), r.Note
		},
		Store: db,
		Hub:   hub,
		Log:   log,
	})
}

// checkGenesys reads the org's presence definitions before the gateway
// reports ready: a name the org does not have stops the start like any
// other configuration error. An org that cannot be reached within 5 s
// does not hold the phones back; the bridge keeps trying and /healthz
// says why.
func checkGenesys(ctx context.Context, cfg *configs.Config, b *genesys.Bridge) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := b.Check(ctx)
	var names genesys.NameErrors
	if !errors.As(err, &names) {
		return err
	}
	var ps configs.Errors
	for _, n := range names {
		ps = append(ps, cfg.ProblemAt(n.Key, n.Msg))
	}
	return ps
}
