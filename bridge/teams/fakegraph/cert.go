package fakegraph

import (
	"crypto/tls"

	"github.com/blfgw/blfgw/bridge/internal/selfsigned"
)

// SelfSignedCert makes a certificate for hosts (names or IP addresses;
// default localhost, 127.0.0.1 and ::1) valid for a year, with its key for
// a tls.Config and in PEM for clients to trust (it is its own CA).
func SelfSignedCert(hosts ...string) (tls.Certificate, []byte, error) {
	return selfsigned.Cert("fakegraph", hosts...)
}
