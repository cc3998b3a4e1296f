package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/ca/ocsp"
	"github.com/tongxing/tongxing/test/serverproc"
)

func needOpenSSL(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		serverproc.Missing(t, "openssl is not installed on this machine (CI installs it)")
	}
}

// enrol issues a certificate through the CLI and returns its absolute
// directory and serial.
func enrol(t *testing.T, in *serverproc.Instance, out string, codeArgs ...string) (string, string) {
	t.Helper()
	dir, serial := in.Enrol(t, out, codeArgs...)
	return filepath.Join(in.Dir, dir), serial
}

func readCert(t *testing.T, path string) *smx509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := smx509.ParseCertificatePEM(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRevocationWithOpenSSL is the operator's view of certificate status:
// OpenSSL's OCSP client and CRL check against the running server.
func TestRevocationWithOpenSSL(t *testing.T) {
	needOpenSSL(t)
	dir := t.TempDir()
	in := serverproc.Start(t, binary, dir)
	defer in.Stop(syscall.SIGTERM)
	pki := filepath.Join(dir, "tongxing-data", "pki")

	t.Run("ok/intl-ocsp-good-then-revoked-and-crl", func(t *testing.T) {
		leafDir, serial := enrol(t, in, "svc", "--profile", "service", "--department", "tax", "--service", "api", "--dns", "api.tax.example")
		ocspArgs := []string{"ocsp", "-issuer", filepath.Join(pki, "intl-issuing.crt"), "-cert", filepath.Join(leafDir, "cert.pem"),
			"-url", in.URL("/ocsp"), "-CAfile", filepath.Join(pki, "intl-root.crt")}
		if out := serverproc.OpenSSL(t, dir, ocspArgs...); !strings.Contains(out, "Response verify OK") || !strings.Contains(out, "cert.pem: good") {
			t.Fatalf("before revocation:\n%s", out)
		}
		if out, err := in.CLI("ca", "revoke", serial, "--reason", "keyCompromise", "--comment", "key leaked"); err != nil {
			t.Fatalf("revoke: %v\n%s", err, out)
		}
		out := serverproc.OpenSSL(t, dir, ocspArgs...)
		if !strings.Contains(out, "Response verify OK") || !strings.Contains(out, "cert.pem: revoked") || !strings.Contains(out, "keyCompromise") {
			t.Fatalf("after revocation:\n%s", out)
		}
		resp, err := in.Client().Get(in.URL("/ca/v1/crl/intl-issuing.crl"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "application/pkix-crl" {
			t.Errorf("CRL content type %q", ct)
		}
		var der bytes.Buffer
		der.ReadFrom(resp.Body)
		os.WriteFile(filepath.Join(dir, "intl.crl"), der.Bytes(), 0o644)
		serverproc.OpenSSL(t, dir, "crl", "-inform", "DER", "-in", "intl.crl", "-out", "intl-crl.pem")
		chain, _ := os.ReadFile(filepath.Join(pki, "intl-root.crt"))
		issuing, _ := os.ReadFile(filepath.Join(pki, "intl-issuing.crt"))
		os.WriteFile(filepath.Join(dir, "intl-chain.pem"), append(chain, issuing...), 0o644)
		cmd := exec.Command("openssl", "verify", "-crl_check", "-CRLfile", "intl-crl.pem", "-CAfile", "intl-chain.pem", filepath.Join(leafDir, "cert.pem"))
		cmd.Dir = dir
		vout, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(vout), "certificate revoked") {
			t.Errorf("openssl verify -crl_check accepted a revoked certificate: %v\n%s", err, vout)
		}
	})

	t.Run("ok/gm-crl-and-ocsp-parse-in-openssl-and-verify-here", func(t *testing.T) {
		leafDir, serial := enrol(t, in, "citizen", "--profile", "citizen", "--name", "张三", "--id-number", "11010519491231002X")
		if out, err := in.CLI("ca", "revoke", serial, "--reason", "affiliationChanged"); err != nil {
			t.Fatalf("revoke: %v\n%s", err, out)
		}
		resp, err := in.Client().Get(in.URL("/ca/v1/crl/gm-issuing.crl"))
		if err != nil {
			t.Fatal(err)
		}
		var der bytes.Buffer
		der.ReadFrom(resp.Body)
		resp.Body.Close()
		os.WriteFile(filepath.Join(dir, "gm.crl"), der.Bytes(), 0o644)
		out := serverproc.OpenSSL(t, dir, "crl", "-inform", "DER", "-in", "gm.crl", "-noout", "-text")
		if !strings.Contains(out, "SM2-with-SM3") || !strings.Contains(strings.ToLower(out), strings.ToLower(serial)) || !strings.Contains(out, "Affiliation Changed") {
			t.Errorf("openssl crl -text of the SM2 CRL:\n%s", out)
		}
		issuing := readCert(t, filepath.Join(pki, "gm-issuing.crt"))
		crl, err := smx509.ParseRevocationList(der.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if err := crl.CheckSignatureFrom(issuing); err != nil {
			t.Errorf("SM2 CRL signature: %v", err)
		}

		leaf := readCert(t, filepath.Join(leafDir, "cert.pem"))
		id, _ := ocsp.NewCertID(ocsp.SHA1, issuing, leaf.SerialNumber)
		req, _ := ocsp.CreateRequest([]ocsp.CertID{id}, nil)
		hresp, err := in.Client().Post(in.URL("/ocsp"), "application/ocsp-request", bytes.NewReader(req))
		if err != nil {
			t.Fatal(err)
		}
		var rder bytes.Buffer
		rder.ReadFrom(hresp.Body)
		hresp.Body.Close()
		os.WriteFile(filepath.Join(dir, "gm-resp.der"), rder.Bytes(), 0o644)
		out = serverproc.OpenSSL(t, dir, "ocsp", "-respin", "gm-resp.der", "-resp_text", "-noverify")
		if !strings.Contains(out, "Cert Status: revoked") || !strings.Contains(out, "SM2-with-SM3") {
			t.Errorf("openssl ocsp -resp_text of the SM2 response:\n%s", out)
		}
		parsed, err := ocsp.ParseResponse(rder.Bytes(), issuing)
		if err != nil {
			t.Fatalf("Tongxing's verifier rejects the SM2 OCSP response: %v", err)
		}
		if s, ok := parsed.Find(leaf.SerialNumber); !ok || s.Status != ocsp.Revoked {
			t.Errorf("SM2 OCSP status %+v", s)
		}
	})

	t.Run("ok/tsa-token-verifies-with-openssl", func(t *testing.T) {
		os.WriteFile(filepath.Join(dir, "filing.txt"), []byte("申报材料 2026"), 0o644)
		serverproc.OpenSSL(t, dir, "ts", "-query", "-data", "filing.txt", "-sha256", "-cert", "-out", "q.tsq")
		q, _ := os.ReadFile(filepath.Join(dir, "q.tsq"))
		resp, err := in.Client().Post(in.URL("/tsa"), "application/timestamp-query", bytes.NewReader(q))
		if err != nil {
			t.Fatal(err)
		}
		var tsr bytes.Buffer
		tsr.ReadFrom(resp.Body)
		resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "application/timestamp-reply" {
			t.Fatalf("content type %q", ct)
		}
		os.WriteFile(filepath.Join(dir, "r.tsr"), tsr.Bytes(), 0o644)
		root, _ := os.ReadFile(filepath.Join(pki, "intl-root.crt"))
		issuing, _ := os.ReadFile(filepath.Join(pki, "intl-issuing.crt"))
		os.WriteFile(filepath.Join(dir, "ts-chain.pem"), append(root, issuing...), 0o644)
		out := serverproc.OpenSSL(t, dir, "ts", "-verify", "-data", "filing.txt", "-in", "r.tsr", "-CAfile", "ts-chain.pem")
		if !strings.Contains(out, "Verification: OK") {
			t.Errorf("openssl ts -verify:\n%s", out)
		}
	})
}
