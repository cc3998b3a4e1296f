package serverproc

import (
	"crypto/tls"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tongxing/tongxing/kms"
)

// ServiceCert loads what `tongxing ca request` wrote into dir (key.pem,
// key.pass, cert.pem, chain.pem) as a TLS certificate with its chain.
func ServiceCert(t testing.TB, dir string) tls.Certificate {
	t.Helper()
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	key, err := kms.ParseEncryptedPEM(read("key.pem"), []byte(strings.TrimSpace(string(read("key.pass")))))
	if err != nil {
		t.Fatal(err)
	}
	c := tls.Certificate{PrivateKey: key}
	for _, f := range []string{"cert.pem", "chain.pem"} {
		for rest := read(f); ; {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				break
			}
			c.Certificate = append(c.Certificate, b.Bytes)
		}
	}
	return c
}

// OpenSSL runs openssl with args in dir and returns its combined output;
// a failure fails the test with that output.
func OpenSSL(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("openssl", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
