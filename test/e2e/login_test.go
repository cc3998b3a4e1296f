package e2e

import (
	"crypto/tls"
	"net/http"
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
	if out, err := in.CLI("audit", "search", "--json", "--action", "authn.login"); err != nil || !strings.Contains(out, serial) {
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

// TestClientCertificateOnListener presents a department service certificate
// on the HTTPS listener, which verifies client certificates when given (for
// /login/mtls and tls_client_auth) and still serves clients without one.
func TestClientCertificateOnListener(t *testing.T) {
	dir := t.TempDir()
	in := serverproc.Start(t, binary, dir)
	defer in.Stop(syscall.SIGTERM)
	svc, _ := in.Enrol(t, "svc", "--profile", "service", "--department", "tax", "--service", "api", "--dns", "api.tax.example")
	client := in.Client()
	tr := client.Transport.(*http.Transport)
	tr.TLSClientConfig.Certificates = []tls.Certificate{serverproc.ServiceCert(t, filepath.Join(dir, svc))}
	resp, err := client.Get(in.URL("/healthz"))
	if err != nil {
		t.Fatalf("with a client certificate: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("with a client certificate: HTTP %d", resp.StatusCode)
	}
	// A service certificate identifies no citizen or enterprise: it cannot
	// be used to sign in.
	resp, err = client.Get(in.URL("/login/mtls?login=none"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Errorf("/login/mtls with a service certificate: HTTP %d, want a 4xx refusal", resp.StatusCode)
	}
}
