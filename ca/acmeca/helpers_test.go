package acmeca_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"testing"
	"time"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/catest"
	"github.com/tongxing/tongxing/department"
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/store"
)

// fixture is a Tongxing CA with an intl hierarchy over a migrated database.
type fixture struct {
	ca    *ca.Authority
	store *ca.SQLStore
	root  *x509.Certificate
	inter *x509.Certificate
}

// newFixture makes the CA fixture with only the intl hierarchy, this
// package's departments and the real clock, over db (a new SQLite
// database when db is nil).
func newFixture(t testing.TB, db *store.DB) *fixture {
	t.Helper()
	opts := []catest.Option{catest.WithPKI(ca.PKIOptions{Suites: []kms.Suite{kms.Intl}}),
		catest.WithCA(ca.WithDepartments(testDepartments(t)), ca.WithClock(time.Now))}
	if db != nil {
		opts = append(opts, catest.OnDB(db))
	}
	cf := catest.New(t, opts...)
	f := &fixture{ca: cf.CA, store: cf.Store}
	for _, c := range cf.CAs {
		cert, err := x509.ParseCertificate(c.Cert.Raw)
		if err != nil {
			t.Fatal(err)
		}
		if c.Root {
			f.root = cert
		} else {
			f.inter = cert
		}
	}
	return f
}

// testDepartments is the registry of the test CA: tax (tax.example and
// 10.20.0.0/16, no wildcards) and health (health.example, wildcards).
func testDepartments(t testing.TB) *department.Registry {
	t.Helper()
	r, err := department.New(
		department.Department{ID: "tax", Name: "税务局", Domains: []string{"tax.example"}, IPRanges: []string{"10.20.0.0/16"}},
		department.Department{ID: "health", Name: "卫生健康委", Domains: []string{"health.example"}, Wildcards: true},
	)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// verify checks that leaf chains to the fixture's intl root for serverAuth.
func (f *fixture) verify(t testing.TB, leaf *x509.Certificate, dnsName string) {
	t.Helper()
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(f.root)
	inters.AddCert(f.inter)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, DNSName: dnsName,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Fatalf("certificate does not verify to the intl root: %v", err)
	}
}

// newCSR makes a CSR for the names with a fresh key of the given curve.
func newCSR(t testing.TB, curve elliptic.Curve, dnsNames []string, ips []net.IP) (*x509.CertificateRequest, crypto.Signer) {
	t.Helper()
	key, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cn := ""
	if len(dnsNames) > 0 {
		cn = dnsNames[0]
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: cn}, DNSNames: dnsNames, IPAddresses: ips,
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	return csr, key
}
