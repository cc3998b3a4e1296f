package e2e

import (
	"crypto"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/test/serverproc"
)

// TestDualCertificates runs the e证通 exchange through the CLI: both keys
// come back, encrypted at rest, and each matches its certificate.
func TestDualCertificates(t *testing.T) {
	dir := t.TempDir()
	in := serverproc.Start(t, binary, dir)
	defer in.Stop(syscall.SIGTERM)
	out, err := in.CLI("ca", "enrol-code", "--profile", "enterprise-sign", "--organization", "福州示例科技有限公司", "--uscc", "91350100M000100Y43", "--name", "李四", "--json")
	if err != nil {
		t.Fatalf("enrol-code: %v\n%s", err, out)
	}
	var code struct{ Code string }
	json.Unmarshal([]byte(out), &code)
	out, err = in.CLI("ca", "request", "--profile", "enterprise", "--dual", "--code", code.Code, "--out", "ecert")
	if err != nil {
		t.Fatalf("dual request: %v\n%s", err, out)
	}
	if !strings.Contains(out, "escrowed") {
		t.Errorf("output:\n%s", out)
	}
	pass, err := os.ReadFile(filepath.Join(dir, "ecert", "key.pass"))
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"sign", "enc"} {
		keyPEM, err := os.ReadFile(filepath.Join(dir, "ecert", kind+"-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		key, err := kms.ParseEncryptedPEM(keyPEM, []byte(strings.TrimSpace(string(pass))))
		if err != nil {
			t.Fatalf("%s key: %v", kind, err)
		}
		cert := readCert(t, filepath.Join(dir, "ecert", kind+"-cert.pem"))
		pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !pub.Equal(cert.PublicKey) {
			t.Errorf("%s key does not match its certificate", kind)
		}
	}
	out, err = in.CLI("ca", "request", "--profile", "enterprise", "--dual", "--code", code.Code, "--out", "ecert2")
	if err == nil || !strings.Contains(out, "already been used") {
		t.Errorf("second dual request with one code: %v\n%s", err, out)
	}
}
