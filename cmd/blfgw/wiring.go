package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/blfgw/blfgw/api"
	"github.com/blfgw/blfgw/configs"
	"github.com/blfgw/blfgw/dialog"
	"github.com/blfgw/blfgw/presence"
	"github.com/blfgw/blfgw/sip"
	"github.com/blfgw/blfgw/store"
)

// directory answers the SIP edge's extension look-ups from the config.
type directory struct {
	accounts    map[string]sip.Account
	departments []string
	exts        []configs.Extension
}

func newDirectory(cfg *configs.Config) *directory {
	d := &directory{accounts: make(map[string]sip.Account, len(cfg.Extensions)), exts: cfg.Extensions}
	for _, dep := range cfg.Departments {
		d.departments = append(d.departments, dep.Name)
	}
	for _, e := range cfg.Extensions {
		d.accounts[e.Number] = sip.Account{
			Number:   e.Number,
			Name:     e.Name,
			Password: e.Password,
			Profile:  sip.Profile{Idle: e.Idle, Single: e.SingleDialog},
		}
	}
	return d
}

func (d *directory) Account(number string) (sip.Account, bool) {
	a, ok := d.accounts[number]
	return a, ok
}

func (d *directory) storeExtensions() []store.Extension {
	out := make([]store.Extension, 0, len(d.exts))
	for _, e := range d.exts {
		out = append(out, store.Extension{Number: e.Number, Name: e.Name, Department: e.Department, Role: e.Role})
	}
	return out
}

// sipStore adapts the store to the SIP edge's Store port; the record types
// have the same fields, so each converts directly.
type sipStore struct{ db *store.DB }

func toStore(subs []sip.SubscriptionRecord) []store.Subscription {
	out := make([]store.Subscription, len(subs))
	for i, r := range subs {
		out[i] = store.Subscription(r)
	}
	return out
}

func (s sipStore) PutSubscriptions(ctx context.Context, subs []sip.SubscriptionRecord) error {
	return s.db.PutSubscriptions(ctx, toStore(subs))
}

func (s sipStore) UpdateSubscriptionCounters(ctx context.Context, subs []sip.SubscriptionRecord) error {
	return s.db.UpdateSubscriptionCounters(ctx, toStore(subs))
}

func (s sipStore) DeleteSubscriptions(ctx context.Context, ids []string) error {
	return s.db.DeleteSubscriptions(ctx, ids)
}

func (s sipStore) Subscriptions(ctx context.Context) ([]sip.SubscriptionRecord, error) {
	subs, err := s.db.Subscriptions(ctx)
	out := make([]sip.SubscriptionRecord, len(subs))
	for i, r := range subs {
		out[i] = sip.SubscriptionRecord(r)
	}
	return out, err
}

func (s sipStore) PutPublication(ctx context.Context, p sip.PublicationRecord) error {
	return s.db.PutPublication(ctx, store.Publication(p))
}

func (s sipStore) ReplacePublication(ctx context.Context, old string, p sip.PublicationRecord) error {
	return s.db.ReplacePublication(ctx, old, store.Publication(p))
}

func (s sipStore) DeletePublications(ctx context.Context, etags []string) error {
	return s.db.DeletePublications(ctx, etags)
}

func (s sipStore) Publications(ctx context.Context) ([]sip.PublicationRecord, error) {
	pubs, err := s.db.Publications(ctx)
	out := make([]sip.PublicationRecord, len(pubs))
	for i, p := range pubs {
		out[i] = sip.PublicationRecord(p)
	}
	return out, err
}

func (s sipStore) Meta(ctx context.Context, key string) (string, bool, error) {
	return s.db.Meta(ctx, key)
}

func (s sipStore) SetMeta(ctx context.Context, key, value string) error {
	return s.db.SetMeta(ctx, key, value)
}

// settingsStore adapts the store to presence's SettingsStore port.
type settingsStore struct{ db *store.DB }

func (s settingsStore) Settings(ctx context.Context) ([]presence.Setting, error) {
	rows, err := s.db.Settings(ctx)
	out := make([]presence.Setting, len(rows))
	for i, r := range rows {
		out[i] = presence.Setting(r)
	}
	return out, err
}

func (s settingsStore) ApplySettings(ctx context.Context, changes []presence.SettingChange) error {
	out := make([]store.SettingChange, len(changes))
	for i, c := range changes {
		out[i] = store.SettingChange{Setting: store.Setting(c.Setting), Actor: c.Actor, Origin: c.Origin, Old: c.Old, Quiet: c.Quiet}
	}
	return s.db.ApplySettings(ctx, out)
}

// seeds turns the file's extensions into what presence.Settings applies:
// each person and the user settings the file writes (JSON by field name).
func seeds(cfg *configs.Config) []presence.Seed {
	out := make([]presence.Seed, 0, len(cfg.Extensions))
	for _, e := range cfg.Extensions {
		sd := presence.Seed{
			Person: presence.Person{Number: e.Number, Name: e.Name, Department: e.Department, Role: presence.Role(e.Role)},
			Values: map[string]json.RawMessage{},
			Locked: e.Locked,
		}
		put := func(field string, v any) {
			b, err := json.Marshal(v)
			if err == nil {
				sd.Values[field] = b
			}
		}
		if e.SharePresence != nil {
			put(presence.FieldShare, *e.SharePresence)
		}
		if e.ShareWith != nil {
			sd.Values[presence.FieldShareWith] = presence.ShareWithJSON(shareWith(*e.ShareWith))
		}
		if e.Delegates != nil {
			put(presence.FieldDelegates, e.Delegates)
		}
		if e.Appearance != nil {
			put(presence.FieldAppearance, e.Appearance)
		}
		if e.Status != nil {
			put(presence.FieldStatus, statusName(*e.Status))
		}
		if e.StatusMessage != nil {
			put(presence.FieldMessage, *e.StatusMessage)
		}
		out = append(out, sd)
	}
	return out
}

func statusName(status string) string {
	if status == "" {
		return presence.StatusDefault.String()
	}
	return status
}

func shareWith(w configs.ShareWith) presence.ShareWith {
	out := presence.ShareWith{Everyone: w.Everyone, Departments: w.Departments, Extensions: w.Extensions}
	for _, r := range w.Roles {
		out.Roles = append(out.Roles, presence.Role(r))
	}
	return out
}

// policyOptions are the file's [presence] settings.
func policyOptions(cfg *configs.Config) presence.PolicyOptions {
	opt := presence.PolicyOptions{
		AwayBusy: cfg.Presence.AwayLamp == "busy",
		Default:  presence.Sharing{Share: cfg.Presence.ShareByDefault, With: shareWith(cfg.Presence.ShareWithDefault)},
	}
	if cfg.Presence.Blocked == "refuse" {
		opt.Block = presence.BlockRefuse
	}
	return opt
}

func departmentNames(cfg *configs.Config) []string {
	out := make([]string, 0, len(cfg.Departments))
	for _, d := range cfg.Departments {
		out = append(out, d.Name)
	}
	return out
}

// auditLog serves the API's audit queries from the store.
func auditLog(db *store.DB) func(context.Context, api.AuditQuery) ([]api.AuditEntry, error) {
	return func(ctx context.Context, q api.AuditQuery) ([]api.AuditEntry, error) {
		rows, err := db.Audit(ctx, store.AuditFilter(q))
		out := make([]api.AuditEntry, len(rows))
		for i, r := range rows {
			out[i] = api.AuditEntry(r)
		}
		return out, err
	}
}

// tokenKey is the API's token key, kept in the store so that a restart
// does not sign every user out.
func tokenKey(ctx context.Context, db *store.DB) ([]byte, error) {
	const key = "api_token_key"
	v, ok, err := db.Meta(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read the API token key: %w", err)
	}
	if ok {
		if b, err := hex.DecodeString(v); err == nil && len(b) >= 32 {
			return b, nil
		}
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	if err := db.SetMeta(ctx, key, hex.EncodeToString(b)); err != nil {
		return nil, fmt.Errorf("save the API token key: %w", err)
	}
	return b, nil
}

// password is the extension's SIP password, which is also its API login.
func (d *liveDirectory) password(number string) (string, bool) {
	a, ok := d.Account(number)
	return a.Password, ok
}

// regStore adapts the store to the registrar's port; the record types have
// the same fields.
type regStore struct{ db *store.DB }

func (s regStore) PutRegistrations(ctx context.Context, regs []sip.RegistrationRecord) error {
	out := make([]store.Registration, len(regs))
	for i, r := range regs {
		out[i] = store.Registration(r)
	}
	return s.db.PutRegistrations(ctx, out)
}

func (s regStore) DeleteRegistrations(ctx context.Context, aor string, bindings []string) error {
	return s.db.DeleteRegistrations(ctx, aor, bindings)
}

func (s regStore) Registrations(ctx context.Context) ([]sip.RegistrationRecord, error) {
	regs, err := s.db.Registrations(ctx)
	return fromStoreRegs(regs), err
}

func (s regStore) DeleteExpiredRegistrations(ctx context.Context, now time.Time) ([]sip.RegistrationRecord, error) {
	regs, err := s.db.DeleteExpiredRegistrations(ctx, now)
	return fromStoreRegs(regs), err
}

func fromStoreRegs(regs []store.Registration) []sip.RegistrationRecord {
	out := make([]sip.RegistrationRecord, len(regs))
	for i, r := range regs {
		out[i] = sip.RegistrationRecord(r)
	}
	return out
}

// registrar is the SIP edge's registrar in edge-proxy mode, nil otherwise.
func registrar(cfg *configs.Config, db *store.DB) *sip.RegistrarOptions {
	if !cfg.EdgeProxy() {
		return nil
	}
	p := cfg.Proxy
	return &sip.RegistrarOptions{
		Store:       regStore{db},
		Min:         time.Duration(p.MinRegister) * time.Second,
		Max:         time.Duration(p.MaxRegister) * time.Second,
		Default:     time.Duration(p.DefaultRegister) * time.Second,
		MaxBindings: p.MaxBindings,
	}
}

// callStore adapts the store to the proxy's port for answered calls.
type callStore struct{ db *store.DB }

func (s callStore) PutCall(ctx context.Context, r sip.CallRecord) error {
	return s.db.PutCall(ctx, store.Call(r))
}

func (s callStore) DeleteCall(ctx context.Context, callID, fromTag string) error {
	return s.db.DeleteCall(ctx, callID, fromTag)
}

func (s callStore) Calls(ctx context.Context) ([]sip.CallRecord, error) {
	cs, err := s.db.Calls(ctx)
	out := make([]sip.CallRecord, len(cs))
	for i, c := range cs {
		out[i] = sip.CallRecord(c)
	}
	return out, err
}

// proxyOptions turn on call relaying in edge-proxy mode, nil otherwise.
func proxyOptions(cfg *configs.Config, db *store.DB, calls *dialog.Calls) *sip.ProxyOptions {
	if !cfg.EdgeProxy() {
		return nil
	}
	p := cfg.Proxy
	return &sip.ProxyOptions{
		Upstream:          p.Upstream,
		UnknownToUpstream: p.UnknownToUpstream,
		MaxCall:           time.Duration(p.MaxCall) * time.Second,
		Keepalive:         time.Duration(p.Keepalive) * time.Second,
		PickupPrefix:      p.PickupPrefix,
		Calls:             calls,
		Store:             callStore{db},
	}
}
