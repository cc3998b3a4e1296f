package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/kms/softkms"
	"github.com/tongxing/tongxing/test/serverproc"
)

// TestInitNameConstraints is the name-constraint part of finding 5 of issue
// 9 through the real binary: `tongxing init --name-constraints` makes the
// intl issuing CA with critical name constraints (the departments' domains
// and Tongxing's own TLS hosts), the server's HTTPS certificate still
// verifies, a service certificate inside verifies with OpenSSL, and a
// certificate for www.gov.cn made with the issuing CA's key anyway (a
// test-only path: the CA itself refuses to) is refused by `openssl verify`.
func TestInitNameConstraints(t *testing.T) {
	needOpenSSL(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tongxing.yaml")
	os.WriteFile(cfg, []byte("departments:\n  - {id: tax, name: 税务局, domains: [tax.example], ip_ranges: [10.20.0.0/16]}\n"), 0o600)
	data := filepath.Join(dir, "tongxing-data")
	os.MkdirAll(filepath.Join(data, "secrets"), 0o700)
	const pass = "plum orbit canvas ladder 42"
	os.WriteFile(filepath.Join(data, "secrets", "passphrase"), []byte(pass), 0o600)
	initCmd := exec.Command(binary, "init", "--config", cfg, "--data", data, "--name-constraints", "--key-passphrase-file", filepath.Join(data, "secrets", "passphrase"))
	initCmd.Dir = dir
	initCmd.Env = append(os.Environ(), "TONGXING_KEY_PASSPHRASE=")
	initOut, err := initCmd.CombinedOutput()
	if err != nil {
		t.Fatalf("init --name-constraints: %v\n%s", err, initOut)
	}
	// The client commands need the registration officer's token: keep the
	// one init printed where they look.
	for _, line := range strings.Split(string(initOut), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "ra" && strings.HasPrefix(f[2], "txo_") {
			os.WriteFile(filepath.Join(data, "secrets", "ra-token"), []byte(f[2]+"\n"), 0o600)
		}
	}
	pki := filepath.Join(data, "pki")
	out := serverproc.OpenSSL(t, dir, "x509", "-in", filepath.Join(pki, "intl-issuing.crt"), "-noout", "-text")
	for _, want := range []string{"X509v3 Name Constraints: critical", "DNS:tax.example", "DNS:localhost", "IP:10.20.0.0/255.255.0.0", "IP:127.0.0.1/255.255.255.255", "URI:tongxing.internal"} {
		if !strings.Contains(out, want) {
			t.Errorf("intl issuing CA lacks %q:\n%s", want, out)
		}
	}
	if out := serverproc.OpenSSL(t, dir, "x509", "-in", filepath.Join(pki, "gm-issuing.crt"), "-noout", "-text"); strings.Contains(out, "Name Constraints") {
		t.Errorf("gm issuing CA has name constraints")
	}

	in := serverproc.Start(t, binary, dir, "--config", cfg) // its HTTPS certificate must verify: Client() checks it
	defer in.Stop(syscall.SIGTERM)
	root, _ := os.ReadFile(filepath.Join(pki, "intl-root.crt"))
	issuingPEM, _ := os.ReadFile(filepath.Join(pki, "intl-issuing.crt"))
	os.WriteFile(filepath.Join(dir, "intl-chain.pem"), append(root, issuingPEM...), 0o644)

	svc, _ := enrol(t, in, "svc", "--profile", "service", "--department", "tax", "--service", "api", "--dns", "api.tax.example", "--ip", "10.20.1.2")
	if out := serverproc.OpenSSL(t, dir, "verify", "-CAfile", "intl-chain.pem", filepath.Join(svc, "cert.pem")); !strings.Contains(out, ": OK") {
		t.Errorf("certificate inside the constraints:\n%s", out)
	}
	tls := filepath.Join(data, "tls", "server.crt")
	if out := serverproc.OpenSSL(t, dir, "verify", "-CAfile", "intl-chain.pem", tls); !strings.Contains(out, ": OK") {
		t.Errorf("Tongxing's own TLS certificate:\n%s", out)
	}

	// Test-only path: sign outside the constraints with the issuing key.
	km, err := softkms.New(filepath.Join(data, "keys"), []byte(pass))
	if err != nil {
		t.Fatal(err)
	}
	defer km.Close()
	signer, err := km.Signer(t.Context(), "intl-issuing")
	if err != nil {
		t.Fatal(err)
	}
	issuing := readCert(t, filepath.Join(pki, "intl-issuing.crt"))
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for name, tmpl := range map[string]*smx509.Certificate{
		"www.gov.cn": {DNSNames: []string{"www.gov.cn"}},
		"0.0.0.0":    {Subject: pkix.Name{CommonName: "any"}, IPAddresses: []net.IP{net.IPv4zero}},
	} {
		tmpl.SerialNumber, tmpl.NotBefore, tmpl.NotAfter = big.NewInt(time.Now().UnixNano()), time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
		tmpl.ExtKeyUsage = []smx509.ExtKeyUsage{smx509.ExtKeyUsageServerAuth}
		der, err := smx509.CreateCertificate(rand.Reader, tmpl, issuing, key.Public(), signer)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, "outside-"+name+".pem")
		os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
		cmd := exec.Command("openssl", "verify", "-CAfile", "intl-chain.pem", f)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "permitted subtree violation") {
			t.Errorf("openssl verify of a certificate for %s outside the constraints: %v\n%s", name, err, out)
		}
	}
}
