// Package acme runs a real ACME client, lego (Debian package lego; CI installs
// it), against Tongxing's ACME server and checks that what it obtains is a
// Tongxing service certificate: chained to the intl root, in the inventory,
// and revocable onto the CRL.
//
// http-01 validation connects to NAME:80. The test does not bind port 80:
// the server's challenge dialer (acmeca.WithChallengeDialer) sends NAME:80
// to the loopback port lego's challenge server listens on, so the names need
// no DNS and the test needs no privileges.
package acme

import (
	"github.com/emmansun/gmsm/smx509"

	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/acmeca"
	"github.com/tongxing/tongxing/ca/catest"
	"github.com/tongxing/tongxing/ca/ocsp"
	"github.com/tongxing/tongxing/department"
	"github.com/tongxing/tongxing/kms"

	"github.com/tongxing/tongxing/test/serverproc"
)

// legoTimeout bounds one lego run so that a stuck client fails the test
// instead of hanging CI; a run takes a few seconds.
const legoTimeout = 3 * time.Minute

// deployment is a Tongxing CA with its ACME server on a TLS test server.
type deployment struct {
	ca        *ca.Authority
	ocsp      *ca.OCSPResponder
	root      *x509.Certificate
	issuing   *x509.Certificate
	rootFile  string
	server    *httptest.Server
	legoPort  int
	legoDir   string
	directory string
}

func newDeployment(t *testing.T) *deployment {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	deps, err := department.New(department.Department{ID: "tax", Name: "税务局", Domains: []string{"tax.example"}, IPRanges: []string{"10.20.0.0/16"}})
	if err != nil {
		t.Fatal(err)
	}
	f := catest.New(t, catest.WithPKI(ca.PKIOptions{Suites: []kms.Suite{kms.Intl}}),
		catest.WithCA(ca.WithDepartments(deps), ca.WithPublicURL("https://localhost:8443"), ca.WithClock(time.Now)))
	a, cas := f.CA, f.CAs
	rk, err := a.EnsureResponder(ctx, f.KM, f.Dir, "intl-issuing")
	if err != nil {
		t.Fatal(err)
	}
	responder, err := ca.NewOCSPResponder(a, f.DB, []*ca.ResponderKey{rk})
	if err != nil {
		t.Fatal(err)
	}
	d := &deployment{ca: a, ocsp: responder, legoDir: filepath.Join(dir, "lego")}
	for _, c := range cas {
		cert, err := x509.ParseCertificate(c.Cert.Raw)
		if err != nil {
			t.Fatal(err)
		}
		if c.Root {
			d.root = cert
		} else {
			d.issuing = cert
		}
	}
	d.rootFile = filepath.Join(dir, "intl-root.pem")
	if err := os.WriteFile(d.rootFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d.root.Raw}), 0o644); err != nil {
		t.Fatal(err)
	}

	// A free loopback port for lego's http-01 server.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d.legoPort = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if _, port, err := net.SplitHostPort(addr); err != nil || port != "80" {
			return nil, fmt.Errorf("e2e dialer: only http-01 (port 80) is redirected, not %s", addr)
		}
		var nd net.Dialer
		return nd.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", strconv.Itoa(d.legoPort)))
	}
	srv, err := acmeca.New(ctx, a, acmeca.WithDepartments("tax"), acmeca.WithStateDir(filepath.Join(dir, "acme")),
		acmeca.WithChallengeDialer(dial), acmeca.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })

	// The HTTPS listener's certificate comes from Tongxing's intl chain.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tlsCert, err := a.Issue(ctx, ca.IssueRequest{PublicKey: key.Public(), Profile: "service", RequestedBy: "system:test",
		Subject: ca.Subject{Department: "tongxing", Service: "server", IPAddresses: []string{"127.0.0.1"}}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Routes(mux)
	d.server = httptest.NewUnstartedServer(mux)
	d.server.TLS = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{{
		Certificate: [][]byte{tlsCert.Certificate.Raw, d.issuing.Raw}, PrivateKey: key,
	}}}
	d.server.StartTLS()
	t.Cleanup(d.server.Close)
	d.directory = acmeca.DirectoryURL(d.server.URL, "tax")
	return d
}

// lego runs lego with the deployment's server, account and paths.
func (d *deployment) lego(t *testing.T, domain string, command ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), legoTimeout)
	defer cancel()
	args := append([]string{"--server", d.directory, "--email", "ops@tax.example", "--domains", domain,
		"--http", "--http.port", "127.0.0.1:" + strconv.Itoa(d.legoPort), "--accept-tos", "--key-type", "ec256",
		"--path", d.legoDir}, command...)
	cmd := exec.CommandContext(ctx, "lego", args...)
	cmd.Env = append(os.Environ(), "LEGO_CA_CERTIFICATES="+d.rootFile)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// obtained reads and verifies the certificate lego saved for domain.
func (d *deployment) obtained(t *testing.T, domain string) *x509.Certificate {
	t.Helper()
	bundle, err := os.ReadFile(filepath.Join(d.legoDir, "certificates", domain+".crt"))
	if err != nil {
		t.Fatalf("lego wrote no certificate: %v", err)
	}
	var certs []*x509.Certificate
	for rest := bundle; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
	if len(certs) != 2 || !certs[1].Equal(d.issuing) {
		t.Fatalf("bundle holds %d certificates, want the leaf and Tongxing's intl issuing CA", len(certs))
	}
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(d.root)
	inters.AddCert(certs[1])
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, DNSName: domain,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("certificate does not chain to the intl root: %v", err)
	}
	return certs[0]
}

// onCRL reports whether serial is on the intl issuing CA's current CRL,
// after checking the CRL's signature.
func (d *deployment) onCRL(t *testing.T, serial string) bool {
	t.Helper()
	crl, err := d.ca.CurrentCRL(context.Background(), "intl-issuing")
	if err != nil {
		t.Fatal(err)
	}
	rl, err := x509.ParseRevocationList(crl.DER)
	if err != nil {
		t.Fatal(err)
	}
	if err := rl.CheckSignatureFrom(d.issuing); err != nil {
		t.Fatalf("CRL signature: %v", err)
	}
	for _, e := range rl.RevokedCertificateEntries {
		if ca.SerialHex(e.SerialNumber) == serial {
			return true
		}
	}
	return false
}

// ocspStatus asks the OCSP responder about leaf and verifies the answer.
func (d *deployment) ocspStatus(t *testing.T, leaf *x509.Certificate) ocsp.Status {
	t.Helper()
	issuer, err := smx509.ParseCertificate(d.issuing.Raw)
	if err != nil {
		t.Fatal(err)
	}
	id, err := ocsp.NewCertID(ocsp.SHA1, issuer, leaf.SerialNumber)
	if err != nil {
		t.Fatal(err)
	}
	req, err := ocsp.CreateRequest([]ocsp.CertID{id}, nil)
	if err != nil {
		t.Fatal(err)
	}
	der, err := d.ocsp.Respond(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ocsp.ParseResponse(der, issuer)
	if err != nil {
		t.Fatalf("OCSP response: %v", err)
	}
	single, ok := resp.Find(leaf.SerialNumber)
	if !ok {
		t.Fatal("OCSP response does not answer for the certificate")
	}
	return single.Status
}

func TestLego(t *testing.T) {
	if _, err := exec.LookPath("lego"); err != nil {
		serverproc.Missing(t, "lego is not installed (Debian package lego; .ci/run installs it): the ACME end-to-end test needs it")
	}
	d := newDeployment(t)
	ctx := context.Background()

	t.Run("ok/obtain and revoke with lego", func(t *testing.T) {
		const domain = "invoice.tax.example"
		if out, err := d.lego(t, domain, "run"); err != nil {
			t.Fatalf("lego run: %v\n%s", err, out)
		}
		leaf := d.obtained(t, domain)
		serial := ca.SerialHex(leaf.SerialNumber)
		rec, err := d.ca.Certificate(ctx, serial)
		if err != nil {
			t.Fatalf("not in the inventory: %v", err)
		}
		if rec.Profile != "service" || !strings.HasPrefix(rec.RequestedBy, "acme:tax:") || rec.Status != ca.StatusValid {
			t.Fatalf("record profile=%s requested_by=%s status=%s", rec.Profile, rec.RequestedBy, rec.Status)
		}
		if want := "spiffe://tongxing.internal/dept/tax/svc/invoice"; len(leaf.URIs) != 1 || leaf.URIs[0].String() != want {
			t.Fatalf("URI SANs %v, want %s", leaf.URIs, want)
		}
		if d.onCRL(t, serial) {
			t.Fatal("valid certificate on the CRL")
		}
		if st := d.ocspStatus(t, leaf); st != ocsp.Good {
			t.Fatalf("OCSP status of the new certificate: %v, want good", st)
		}
		if out, err := d.lego(t, domain, "revoke", "--reason", "1"); err != nil {
			t.Fatalf("lego revoke: %v\n%s", err, out)
		}
		rec, err = d.ca.Certificate(ctx, serial)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Status != ca.StatusRevoked || rec.Reason == nil || *rec.Reason != ca.ReasonKeyCompromise {
			t.Fatalf("after lego revoke: status %s reason %v", rec.Status, rec.Reason)
		}
		if !d.onCRL(t, serial) {
			t.Fatal("revoked certificate is not on the CRL")
		}
		if st := d.ocspStatus(t, leaf); st != ocsp.Revoked {
			t.Fatalf("OCSP status after revocation: %v, want revoked", st)
		}
	})

	t.Run("ok/officer revocation is seen by lego", func(t *testing.T) {
		const domain = "portal.tax.example"
		if out, err := d.lego(t, domain, "run"); err != nil {
			t.Fatalf("lego run: %v\n%s", err, out)
		}
		serial := ca.SerialHex(d.obtained(t, domain).SerialNumber)
		if _, err := d.ca.SetStatus(ctx, ca.StatusChange{Serial: serial, To: ca.StatusRevoked,
			Reason: ca.ReasonAffiliationChanged, Actor: "officer:li"}); err != nil {
			t.Fatal(err)
		}
		if !d.onCRL(t, serial) {
			t.Fatal("revoked certificate is not on the CRL")
		}
		out, err := d.lego(t, domain, "revoke", "--reason", "4")
		if err == nil || !strings.Contains(out, "alreadyRevoked") {
			t.Fatalf("lego revoke of an officer-revoked certificate: %v\n%s", err, out)
		}
		if rec, err := d.ca.Certificate(ctx, serial); err != nil || *rec.Reason != ca.ReasonAffiliationChanged {
			t.Fatalf("the officer's reason was overwritten: %v %v", rec, err)
		}
	})

	// Finding 5 of issue 9: names a tax service obtained before the name
	// policy, and names of other departments, are refused at new-order,
	// naming the policy.
	for _, domain := range []string{"records.health.example", "www.gov.cn", "*.gov.cn", "*.cn", "0.0.0.0"} {
		t.Run("fail/name policy refuses "+domain, func(t *testing.T) {
			before, _ := filepath.Glob(filepath.Join(d.legoDir, "certificates", "*.crt"))
			out, err := d.lego(t, domain, "run")
			if err == nil || !strings.Contains(out, "rejectedIdentifier") || !strings.Contains(out, "name policy of department tax") {
				t.Fatalf("lego run for %s: %v\n%s", domain, err, out)
			}
			if after, _ := filepath.Glob(filepath.Join(d.legoDir, "certificates", "*.crt")); len(after) != len(before) {
				t.Fatalf("lego saved a certificate for a refused name: %v", after)
			}
		})
	}
}
