package users

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"
)

type mem map[string]string

func (m mem) CloudUsers(context.Context, string) (map[string]string, error) { return m, nil }
func (m mem) PutCloudUser(_ context.Context, _, name, id string) error      { m[name] = id; return nil }

// TestResolve: an id is taken as written (lower case), a name from the
// store without asking, the rest asked once and kept; a failed lookup is
// reported and kept pending.
func TestResolve(t *testing.T) {
	store := mem{"bob@x.example": "id-bob"}
	asked := []string{}
	added := map[string]string{}
	r := Resolver{
		Service: "teams",
		Names:   map[string]string{"1": "A11CE000-0000-4000-8000-000000000001", "2": "Bob@X.example", "3": "carol@x.example", "4": "nobody@x.example"},
		Store:   store,
		Lookup: func(_ context.Context, name string) (string, error) {
			asked = append(asked, name)
			if name == "nobody@x.example" {
				return "", errors.New("404")
			}
			return "ID-CAROL", nil
		},
		Resolved: func(ext string) bool {
			_, ok := added[ext]
			return ok
		},
		Add: func(ext, id string) { added[ext] = id },
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	unknown := r.Resolve(t.Context())
	if !slices.Equal(unknown, []string{"4"}) || !slices.Equal(asked, []string{"carol@x.example", "nobody@x.example"}) {
		t.Fatalf("unknown %v, asked %v", unknown, asked)
	}
	want := map[string]string{"1": "a11ce000-0000-4000-8000-000000000001", "2": "id-bob", "3": "id-carol"}
	for ext, id := range want {
		if added[ext] != id {
			t.Errorf("%s -> %q, want %q", ext, added[ext], id)
		}
	}
	if store["carol@x.example"] != "ID-CAROL" {
		t.Errorf("carol not kept: %v", store)
	}
}
