package e2e

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tongxing/tongxing/test/serverproc"
)

// TestPlainHTTPRepository is finding 10 of issue 9 through the real binary:
// certificates name CRL, OCSP and caIssuers URLs over plain HTTP first (and
// https after), a small listener serves exactly those, and OpenSSL checks
// revocation through them: `openssl verify -crl_check` over the CRL fetched
// from the plain-HTTP URL in the certificate (and with -crl_download,
// OpenSSL fetching it itself), and `openssl ocsp -url http://...`. Every
// certificate carries certificatePolicies.
func TestPlainHTTPRepository(t *testing.T) {
	needOpenSSL(t)
	dir := t.TempDir()
	in := serverproc.Start(t, binary, dir)
	defer in.Stop(syscall.SIGTERM)
	pki := filepath.Join(dir, "tongxing-data", "pki")
	plain := &http.Client{}
	get := func(url string) (int, []byte) {
		t.Helper()
		resp, err := plain.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	root, _ := os.ReadFile(filepath.Join(pki, "intl-root.crt"))
	issuing, _ := os.ReadFile(filepath.Join(pki, "intl-issuing.crt"))
	os.WriteFile(filepath.Join(dir, "intl-chain.pem"), append(root, issuing...), 0o644)

	goodDir, _ := enrol(t, in, "good", "--profile", "service", "--department", "tax", "--service", "good", "--dns", "good.tax.example")
	badDir, badSerial := enrol(t, in, "bad", "--profile", "service", "--department", "tax", "--service", "bad", "--dns", "bad.tax.example")
	if out, err := in.CLI("ca", "revoke", badSerial, "--reason", "keyCompromise"); err != nil {
		t.Fatalf("revoke: %v\n%s", err, out)
	}
	leaf := readCert(t, filepath.Join(goodDir, "cert.pem"))

	t.Run("ok/urls-plain-http-first", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			got  []string
			path string
		}{
			{"CRL", leaf.CRLDistributionPoints, "/ca/v1/crl/intl-issuing.crl"},
			{"OCSP", leaf.OCSPServer, "/ocsp"},
			{"caIssuers", leaf.IssuingCertificateURL, "/ca/v1/cas/intl-issuing.crt"},
		} {
			if len(tt.got) != 2 || tt.got[0] != in.HTTPURL(tt.path) || tt.got[1] != in.URL(tt.path) {
				t.Errorf("%s URLs %v, want [%s %s]", tt.name, tt.got, in.HTTPURL(tt.path), in.URL(tt.path))
			}
		}
		st, der := get(leaf.IssuingCertificateURL[0])
		if block := readCert(t, filepath.Join(pki, "intl-issuing.crt")); st != 200 || !bytes.Equal(der, block.Raw) {
			t.Errorf("caIssuers over plain HTTP: %d", st)
		}
	})

	t.Run("ok/openssl-verify-crl-check-over-plain-http", func(t *testing.T) {
		st, der := get(leaf.CRLDistributionPoints[0])
		if st != 200 {
			t.Fatalf("CRL over plain HTTP: %d", st)
		}
		os.WriteFile(filepath.Join(dir, "intl.crl"), der, 0o644)
		serverproc.OpenSSL(t, dir, "crl", "-inform", "DER", "-in", "intl.crl", "-out", "intl-crl.pem")
		if out := serverproc.OpenSSL(t, dir, "verify", "-crl_check", "-CRLfile", "intl-crl.pem", "-CAfile", "intl-chain.pem", filepath.Join(goodDir, "cert.pem")); !strings.Contains(out, ": OK") {
			t.Errorf("valid certificate:\n%s", out)
		}
		cmd := exec.Command("openssl", "verify", "-crl_check", "-CRLfile", "intl-crl.pem", "-CAfile", "intl-chain.pem", filepath.Join(badDir, "cert.pem"))
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "certificate revoked") {
			t.Errorf("revoked certificate: %v\n%s", err, out)
		}
		// OpenSSL fetching the CRL itself from the distribution point.
		if out := serverproc.OpenSSL(t, dir, "verify", "-crl_download", "-crl_check", "-CAfile", "intl-chain.pem", filepath.Join(goodDir, "cert.pem")); !strings.Contains(out, ": OK") {
			t.Errorf("valid certificate with -crl_download:\n%s", out)
		}
		cmd = exec.Command("openssl", "verify", "-crl_download", "-crl_check", "-CAfile", "intl-chain.pem", filepath.Join(badDir, "cert.pem"))
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "certificate revoked") {
			t.Errorf("revoked certificate with -crl_download: %v\n%s", err, out)
		}
	})

	t.Run("ok/openssl-ocsp-over-plain-http", func(t *testing.T) {
		for _, c := range []struct{ dir, want string }{{goodDir, "cert.pem: good"}, {badDir, "cert.pem: revoked"}} {
			url := readCert(t, filepath.Join(c.dir, "cert.pem")).OCSPServer[0]
			if !strings.HasPrefix(url, "http://") {
				t.Fatalf("first OCSP URL %s", url)
			}
			out := serverproc.OpenSSL(t, dir, "ocsp", "-issuer", filepath.Join(pki, "intl-issuing.crt"), "-cert", filepath.Join(c.dir, "cert.pem"),
				"-url", url, "-CAfile", filepath.Join(pki, "intl-root.crt"))
			if !strings.Contains(out, "Response verify OK") || !strings.Contains(out, c.want) {
				t.Errorf("openssl ocsp -url %s:\n%s", url, out)
			}
		}
	})

	t.Run("fail/plain-listener-serves-nothing-else", func(t *testing.T) {
		for _, p := range []string{"/healthz", "/ca/v1/certificates/" + badSerial, "/ca/v1/cas", "/metrics", "/.well-known/openid-configuration", "/audit/v1/checkpoint"} {
			if st, _ := get(in.HTTPURL(p)); st != http.StatusNotFound {
				t.Errorf("GET %s over plain HTTP: %d, want 404", p, st)
			}
		}
		resp, err := plain.Post(in.HTTPURL("/ca/v1/certificates"), "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("POST /ca/v1/certificates over plain HTTP: %d", resp.StatusCode)
		}
	})

	t.Run("ok/certificate-policies-in-openssl", func(t *testing.T) {
		out := serverproc.OpenSSL(t, dir, "x509", "-in", filepath.Join(goodDir, "cert.pem"), "-noout", "-text")
		if !strings.Contains(out, "X509v3 Certificate Policies") || !strings.Contains(out, "Policy: 1.3.6.1.4.1.32473.2.6") {
			t.Errorf("service certificate:\n%s", out)
		}
		out = serverproc.OpenSSL(t, dir, "x509", "-in", filepath.Join(pki, "intl-issuing.crt"), "-noout", "-text")
		if !strings.Contains(out, "Policy: X509v3 Any Policy") {
			t.Errorf("issuing CA:\n%s", out)
		}
		// Policy checking on: the leaf's policy is admitted by anyPolicy.
		if out := serverproc.OpenSSL(t, dir, "verify", "-policy_check", "-explicit_policy", "-policy", "1.3.6.1.4.1.32473.2.6", "-CAfile", "intl-chain.pem", filepath.Join(goodDir, "cert.pem")); !strings.Contains(out, ": OK") {
			t.Errorf("openssl verify -explicit_policy:\n%s", out)
		}
	})
}
