package main

import (
	"context"

	"github.com/blfgw/blfgw/configs"
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
