package firefox_test

import (
	"testing"

	"github.com/blfgw/blfgw/internal/browsertest/drivertest"
	"github.com/blfgw/blfgw/internal/browsertest/firefox"
)

// TestClient: the client's steps against drivertest's own page.
func TestClient(t *testing.T) {
	drivertest.Check(t, firefox.Start(t))
}
