package serverproc

import (
	"crypto/tls"
	"encoding/pem"
	"fmt"
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
	c, err := LoadServiceCert(dir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// LoadServiceCert is [ServiceCert] for code that runs outside a test, such
// as a helper process a benchmark starts.
func LoadServiceCert(dir string) (tls.Certificate, error) {
	read := func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, name)) }
	keyPEM, err := read("key.pem")
	if err != nil {
		return tls.Certificate{}, err
	}
	pass, err := read("key.pass")
	if err != nil {
		return tls.Certificate{}, err
	}
	key, err := kms.ParseEncryptedPEM(keyPEM, []byte(strings.TrimSpace(string(pass))))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("service key in %s: %w", dir, err)
	}
	c := tls.Certificate{PrivateKey: key}
	for _, f := range []string{"cert.pem", "chain.pem"} {
		rest, err := read(f)
		if err != nil {
			return tls.Certificate{}, err
		}
		for {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				break
			}
			c.Certificate = append(c.Certificate, b.Bytes)
		}
	}
	return c, nil
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
