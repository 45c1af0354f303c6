package store

import (
	"bytes"
	"context"
	"testing"
)

func TestCallsRoundTrip(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	if err := db.PutCall(ctx, Call{CallID: "c1", FromTag: "a", Data: []byte(`{"x":1}`)}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutCall(ctx, Call{CallID: "c1", FromTag: "a", Data: []byte(`{"x":2}`)}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutCall(ctx, Call{CallID: "c2", FromTag: "b", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutCall(ctx, Call{FromTag: "b"}); err == nil {
		t.Fatal("a call without Call-ID was stored")
	}
	got, err := db.Calls(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].CallID != "c1" || !bytes.Equal(got[0].Data, []byte(`{"x":2}`)) || got[0].UpdatedAt.IsZero() {
		t.Fatalf("calls = %+v", got)
	}
	if err := db.DeleteCall(ctx, "c1", "a"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteCall(ctx, "nope", "x"); err != nil {
		t.Fatalf("deleting a missing call: %v", err)
	}
	if got, _ := db.Calls(ctx); len(got) != 1 || got[0].CallID != "c2" {
		t.Fatalf("after delete: %+v", got)
	}
}

func TestCloudUsers(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	if err := db.PutCloudUser(ctx, "teams", "Alice@Example.com", "id-1"); err != nil {
		t.Fatal(err)
	}
	if err := db.PutCloudUser(ctx, "teams", "alice@example.com", "id-2"); err != nil {
		t.Fatal(err)
	}
	if err := db.PutCloudUser(ctx, "genesys", "alice@example.com", "g-1"); err != nil {
		t.Fatal(err)
	}
	if err := db.PutCloudUser(ctx, "teams", "bob@example.com", ""); err == nil {
		t.Fatal("an empty id was stored")
	}
	got, err := db.CloudUsers(ctx, "teams")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["alice@example.com"] != "id-2" {
		t.Fatalf("teams users = %v, want alice's latest id under her lower-case name", got)
	}
	if g, _ := db.CloudUsers(ctx, "genesys"); g["alice@example.com"] != "g-1" {
		t.Fatalf("genesys users = %v", g)
	}
}
