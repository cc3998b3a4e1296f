// Package filing runs the enterprise filing flow with the tongxing binary:
// an e-cert is enrolled, a filing is signed and time-stamped, and the
// receiving department verifies it (CLI and HTTP API), also across a
// revocation of the e-cert; time-stamps are requested and verified alone
// and checked with OpenSSL.
package filing

import (
	"os"
	"testing"

	"github.com/tongxing/tongxing/test/serverproc"
)

var binary string

func TestMain(m *testing.M) { serverproc.Main(m, &binary) }

// pki is the path of a file in the server's PKI directory, relative to dir.
func pki(name string) string { return serverproc.PKI(name) }

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
