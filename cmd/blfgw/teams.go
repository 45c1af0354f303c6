package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/blfgw/blfgw/bridge/teams"
	"github.com/blfgw/blfgw/configs"
	"github.com/blfgw/blfgw/presence"
	"github.com/blfgw/blfgw/store"
)

// teamsBridge builds the Teams bridge from [teams]; nil when it is off.
// It is built once at start: a change of [teams] or of a teams_user
// takes effect at the next start.
func teamsBridge(cfg *configs.Config, db *store.DB, hub *presence.Hub, log *slog.Logger) (*teams.Bridge, error) {
	t := cfg.Teams
	if !t.Enabled {
		return nil, nil
	}
	hc, err := caClient(t.CAFile)
	if err != nil {
		return nil, fmt.Errorf("teams.ca_file: %w", err)
	}
	users := map[string]string{}
	for _, e := range cfg.Extensions {
		if e.TeamsUser != "" {
			users[e.Number] = e.TeamsUser
		}
	}
	var accounts []teams.Account
	for _, a := range t.Accounts {
		accounts = append(accounts, teams.Account{Username: a.Username, Password: a.Password})
	}
	pair := func(s string) teams.Pair {
		av, act, _ := configs.SplitPair(s)
		return teams.Pair{Availability: av, Activity: act}
	}
	return teams.New(teams.Options{
		Tenant:            t.Tenant,
		ClientID:          t.ClientID,
		ClientSecret:      t.ClientSecret,
		GraphURL:          t.GraphURL,
		LoginURL:          t.LoginURL,
		HTTPClient:        hc,
		NotificationURL:   t.NotificationURL,
		Accounts:          accounts,
		PollInterval:      time.Duration(t.PollInterval) * time.Second,
		ReconcileInterval: time.Duration(t.ReconcileInterval) * time.Second,
		CallExpiry:        time.Duration(t.CallExpiry) * time.Minute,
		Call:              pair(t.ToTeams.Call),
		Conference:        pair(t.ToTeams.Conference),
		PushStatus:        t.PushStatus,
		DND:               pair(t.ToTeams.DND),
		Away:              pair(t.ToTeams.Away),
		Map: func(av, act string) (presence.CloudState, string) {
			r, ok := t.Lookup(av, act)
			if !ok || r.Lamp == configs.TeamsLampIgnore {
				return presence.CloudUnknown, ""
			}
			return presence.ParseCloudState(r.Lamp), r.Note
		},
		Users: users,
		Store: db,
		Hub:   hub,
		Log:   log,
	})
}

// caClient is an HTTP client that also trusts the certificates in path
// (the bundled fake's, or a TLS-inspecting proxy's).
func caClient(path string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if path != "" {
		pem, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", path)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, nil
}
