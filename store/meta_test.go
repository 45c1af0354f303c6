package store

import (
	"errors"
	"testing"
)

func TestMeta(t *testing.T) {
	db, _ := openTest(t)
	ctx := t.Context()
	if v, ok, err := db.Meta(ctx, "nonce_secret"); err != nil || ok || v != "" {
		t.Fatalf("missing key: %q, %v, %v", v, ok, err)
	}
	for _, v := range []string{"3f9a", "", "ünïcode"} {
		if err := db.SetMeta(ctx, "nonce_secret", v); err != nil {
			t.Fatal(err)
		}
		if got, ok, err := db.Meta(ctx, "nonce_secret"); err != nil || !ok || got != v {
			t.Fatalf("Meta = %q, %v, %v; want %q", got, ok, err, v)
		}
	}
	if err := db.SetMeta(ctx, "", "x"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty key: err = %v, want ErrInvalid", err)
	}
}
