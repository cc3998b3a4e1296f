// Package testpki makes throw-away certificate hierarchies for tests: roots,
// intermediate CAs and leaves of either algorithm suite (SM2/SM3 or ECDSA
// P-256/SHA-256), each from a template that the test edits with options,
// and, for the timestamp authority's tests, a root with a timestamping
// leaf. Certificates are made by smx509, like Tongxing's own, but through
// none of Tongxing's CA code: tests of relying parties (OCSP, revocation,
// certificate login, signatures, timestamps) check against an authority
// the code under test did not build. It is for tests only.
package testpki

import (
	"crypto"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/kms"
)

// Cert is a certificate with its private key.
type Cert struct {
	Cert  *smx509.Certificate
	Key   crypto.Signer
	Suite kms.Suite
}

// Option edits the template of a certificate before it is signed.
type Option func(*smx509.Certificate)

// Valid sets the validity period.
func Valid(notBefore, notAfter time.Time) Option {
	return func(c *smx509.Certificate) { c.NotBefore, c.NotAfter = notBefore, notAfter }
}

// EKU sets the extended key usages.
func EKU(usages ...smx509.ExtKeyUsage) Option {
	return func(c *smx509.Certificate) { c.ExtKeyUsage = usages }
}

// KeyUsage sets the key usage.
func KeyUsage(ku smx509.KeyUsage) Option {
	return func(c *smx509.Certificate) { c.KeyUsage = ku }
}

// Subject replaces the subject.
func Subject(name pkix.Name) Option {
	return func(c *smx509.Certificate) { c.Subject = name }
}

// Serial sets the serial number (default: random, 127 bits).
func Serial(n *big.Int) Option {
	return func(c *smx509.Certificate) { c.SerialNumber = n }
}

// Key returns a fresh key of suite s: *sm2.PrivateKey for gm,
// *ecdsa.PrivateKey on P-256 for intl.
func Key(tb testing.TB, s kms.Suite) crypto.Signer {
	tb.Helper()
	k, err := s.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// NewRoot makes a self-signed CA of suite s named cn (organisation
// "Tongxing Test"), valid from 30 days ago for 10 years, for a fresh key.
func NewRoot(tb testing.TB, s kms.Suite, cn string, opts ...Option) *Cert {
	tb.Helper()
	key := Key(tb, s)
	tmpl := template(tb, s, cn, time.Now().Add(-30*24*time.Hour), time.Now().Add(10*365*24*time.Hour))
	caTemplate(tmpl)
	for _, o := range opts {
		o(tmpl)
	}
	return &Cert{Cert: create(tb, tmpl, tmpl, key.Public(), key), Key: key, Suite: s}
}

// NewCA makes an intermediate CA below c (path length 0) named cn, valid
// as a root is, for a fresh key of c's suite.
func (c *Cert) NewCA(tb testing.TB, cn string, opts ...Option) *Cert {
	tb.Helper()
	return c.Issue(tb, cn, append([]Option{func(t *smx509.Certificate) {
		caTemplate(t)
		t.MaxPathLenZero = true
		t.NotBefore, t.NotAfter = time.Now().Add(-30*24*time.Hour), time.Now().Add(10*365*24*time.Hour)
	}}, opts...)...)
}

// Issue makes a certificate below c named cn, for a fresh key of c's
// suite: by default an end entity with key usage digitalSignature, valid
// from an hour ago for a day.
func (c *Cert) Issue(tb testing.TB, cn string, opts ...Option) *Cert {
	tb.Helper()
	key := Key(tb, c.Suite)
	return &Cert{Cert: c.IssueTo(tb, key.Public(), cn, opts...), Key: key, Suite: c.Suite}
}

// IssueTo is [Cert.Issue] for a public key the caller holds (or one that
// does not match any key it holds).
func (c *Cert) IssueTo(tb testing.TB, pub crypto.PublicKey, cn string, opts ...Option) *smx509.Certificate {
	tb.Helper()
	tmpl := template(tb, c.Suite, cn, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	tmpl.KeyUsage = smx509.KeyUsageDigitalSignature
	for _, o := range opts {
		o(tmpl)
	}
	return create(tb, tmpl, c.Cert, pub, c.Key)
}

// CRL signs a CRL of c from tmpl: number 1, this update an hour ago and
// next update in a day unless tmpl sets them.
func (c *Cert) CRL(tb testing.TB, tmpl smx509.RevocationList) []byte {
	tb.Helper()
	if tmpl.Number == nil {
		tmpl.Number = big.NewInt(1)
	}
	if tmpl.ThisUpdate.IsZero() {
		tmpl.ThisUpdate = time.Now().Add(-time.Hour)
	}
	if tmpl.NextUpdate.IsZero() {
		tmpl.NextUpdate = tmpl.ThisUpdate.Add(24 * time.Hour)
	}
	der, err := smx509.CreateRevocationList(rand.Reader, &tmpl, c.Cert, c.Key)
	if err != nil {
		tb.Fatal(err)
	}
	return der
}

func template(tb testing.TB, s kms.Suite, cn string, notBefore, notAfter time.Time) *smx509.Certificate {
	tb.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		tb.Fatal(err)
	}
	return &smx509.Certificate{
		SerialNumber:       serial.Add(serial, big.NewInt(1)),
		Subject:            pkix.Name{CommonName: cn, Organization: []string{"Tongxing Test"}},
		NotBefore:          notBefore,
		NotAfter:           notAfter,
		SignatureAlgorithm: s.SignatureAlgorithm(),
	}
}

func caTemplate(c *smx509.Certificate) {
	c.IsCA = true
	c.BasicConstraintsValid = true
	c.KeyUsage = smx509.KeyUsageCertSign | smx509.KeyUsageCRLSign
}

// create signs tmpl for pub with parentKey, with a subject key identifier
// (RFC 5280 §4.2.1.2 method 1) unless tmpl sets one.
func create(tb testing.TB, tmpl, parent *smx509.Certificate, pub crypto.PublicKey, parentKey crypto.Signer) *smx509.Certificate {
	tb.Helper()
	if tmpl.SubjectKeyId == nil {
		tmpl.SubjectKeyId = keyID(tb, pub)
	}
	der, err := smx509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		tb.Fatalf("create certificate %q: %v", tmpl.Subject.CommonName, err)
	}
	c, err := smx509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// keyID is the SHA-1 of the subjectPublicKey bits.
func keyID(tb testing.TB, pub crypto.PublicKey) []byte {
	tb.Helper()
	der, err := smx509.MarshalPKIXPublicKey(pub)
	if err != nil {
		tb.Fatal(err)
	}
	var spki struct {
		Alg asn1.RawValue
		Key asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		tb.Fatal(err)
	}
	h := sha1.Sum(spki.Key.Bytes)
	return h[:]
}

// Pool returns a pool of certs.
func Pool(certs ...*smx509.Certificate) *smx509.CertPool {
	pool := smx509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool
}

// PEM returns certs as concatenated PEM CERTIFICATE blocks.
func PEM(certs ...*smx509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// WritePEM writes certs as PEM into dir/name and returns the path.
func WritePEM(tb testing.TB, dir, name string, certs ...*smx509.Certificate) string {
	tb.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, PEM(certs...), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}
