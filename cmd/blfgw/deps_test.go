package main

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/blfgw/blfgw"

// TestImportRules keeps data flowing one way (ARCHITECTURE.md): each package
// may import only the internal packages listed, and each heavy dependency
// has exactly one owner.
func TestImportRules(t *testing.T) {
	allowed := map[string][]string{
		"presence":       nil,
		"dialog":         {"presence"},
		"configs":        nil,
		"store":          nil,
		"api":            {"presence"},
		"sip/dialoginfo": {"sip/internal/"},
		"sip/pidf":       {"sip/internal/"},
		"sip":            {"dialog", "presence", "sip/dialoginfo", "sip/pidf", "sip/internal/"},
		"sip/office":     nil,
		"bridge/teams":   {"presence", "bridge/internal/"},
		// The fake is imported by end-to-end tests that must not link
		// the Graph SDK: nothing of the module, nothing heavy.
		"bridge/teams/fakegraph": {"bridge/internal/selfsigned"},
		"bridge/genesys":         {"presence", "bridge/internal/"},
		// Likewise the Genesys fake: light, for tests and the bench.
		"bridge/genesys/fakegenesys": {"bridge/internal/selfsigned"},
		"bridge/internal/selfsigned": nil,
		"bridge/internal/work":       nil,
		"bridge/internal/users":      {"bridge/internal/work"},
	}
	owners := map[string]string{
		"github.com/emiago/sipgo":           "sip",
		"github.com/mattn/go-sqlite3":       "store",
		"github.com/pelletier/go-toml/v2":   "configs",
		"github.com/icholy/digest":          "sip",
		"github.com/microsoftgraph/":        "bridge/teams",
		"github.com/microsoft/kiota":        "bridge/teams",
		"github.com/Azure/azure-sdk-for-go": "bridge/teams",
		"github.com/coder/websocket":        "bridge/genesys", // and its fake
		"golang.org/x/oauth2":               "bridge/genesys",
	}
	for pkg, ok := range allowed {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", module+"/"+pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if dep == module+"/"+pkg {
				continue
			}
			if rel, internal := strings.CutPrefix(dep, module+"/"); internal {
				if !permitted(rel, ok) {
					t.Errorf("%s imports %s; it may import only %v", pkg, rel, ok)
				}
				continue
			}
			for lib, owner := range owners {
				if strings.HasPrefix(dep, lib) && pkg != owner && !strings.HasPrefix(pkg, owner+"/") {
					t.Errorf("%s imports %s, which only %s may import", pkg, lib, owner)
				}
			}
		}
	}
}

func permitted(rel string, allowed []string) bool {
	for _, a := range allowed {
		if rel == a || (strings.HasSuffix(a, "/") && strings.HasPrefix(rel, a)) {
			return true
		}
	}
	return false
}
