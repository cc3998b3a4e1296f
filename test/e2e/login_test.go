package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tongxing/tongxing/test/serverproc"
)

// TestCertificateLogin signs in with an SM2 citizen-card certificate issued
// by the running server, as card middleware does, and is refused once the
// certificate is revoked.
func TestCertificateLogin(t *testing.T) {
	dir := t.TempDir()
	in := serverproc.Start(t, binary, dir)
	defer in.Stop(syscall.SIGTERM)
	cert, serial := in.Enrol(t, "citizen", "--profile", "citizen", "--name", "张三", "--id-number", "11010519491231002X")
	login := []string{"login", "--cert", filepath.Join(cert, "cert.pem"), "--key", filepath.Join(cert, "key.pem"),
		"--issuer", in.URL(""), "--cookie-jar", "session.txt"}
	out, err := in.Run(login...)
	if err != nil || !strings.Contains(out, "urn:tongxing:loa:4") {
		t.Fatalf("certificate login: %v\n%s", err, out)
	}
	jar, err := os.ReadFile(filepath.Join(dir, "session.txt"))
	if err != nil || !strings.Contains(string(jar), "localhost") {
		t.Errorf("cookie jar: %v\n%s", err, jar)
	}
	if out, err := in.CLI("audit", "search", "--action", "authn.login"); err != nil || !strings.Contains(out, serial) {
		t.Errorf("certificate login not in the audit log: %v\n%s", err, out)
	}
	if out, err := in.CLI("ca", "revoke", serial, "--reason", "keyCompromise"); err != nil {
		t.Fatalf("revoke: %v\n%s", err, out)
	}
	out, err = in.Run(login...)
	if err == nil || !strings.Contains(out, "revoked") {
		t.Errorf("login with a revoked certificate: %v\n%s", err, out)
	}
}
