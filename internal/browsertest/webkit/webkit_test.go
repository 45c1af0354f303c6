package webkit_test

import (
	"testing"

	"github.com/blfgw/blfgw/internal/browsertest/drivertest"
	"github.com/blfgw/blfgw/internal/browsertest/webkit"
)

// TestClient: the client's steps against drivertest's own page.
func TestClient(t *testing.T) {
	drivertest.Check(t, webkit.Start(t))
}
