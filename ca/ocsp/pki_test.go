package ocsp

import (
	"crypto"
	"crypto/rand"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/kms"
)

// suites are the two algorithm suites every test runs for.
var suites = []kms.Suite{kms.GM, kms.Intl}

// testPKI is one suite's hierarchy: a self-signed issuing CA, a delegated
// OCSP responder (EKU OCSPSigning), a responder certificate without that
// EKU, a leaf, and an unrelated CA with its own responder.
type testPKI struct {
	suite        kms.Suite
	now          time.Time
	issuer       *smx509.Certificate
	issuerKey    crypto.Signer
	responder    *smx509.Certificate
	responderKey crypto.Signer
	noEKU        *smx509.Certificate // signed by issuer, EKU serverAuth only
	noEKUKey     crypto.Signer
	leaf         *smx509.Certificate
	other        *smx509.Certificate // a different CA
	otherResp    *smx509.Certificate // OCSP responder of other
	otherRespKey crypto.Signer
}

func newTestPKI(t testing.TB, suite kms.Suite) *testPKI {
	t.Helper()
	p := &testPKI{suite: suite, now: time.Now().UTC().Truncate(time.Second)}
	var otherKey crypto.Signer
	p.issuer, p.issuerKey = p.cert(t, "Tongxing Test CA "+suite.String(), nil, nil, caTemplate)
	p.responder, p.responderKey = p.cert(t, "Tongxing OCSP "+suite.String(), p.issuer, p.issuerKey, ekuTemplate(smx509.ExtKeyUsageOCSPSigning))
	p.noEKU, p.noEKUKey = p.cert(t, "Tongxing TLS "+suite.String(), p.issuer, p.issuerKey, ekuTemplate(smx509.ExtKeyUsageServerAuth))
	p.leaf, _ = p.cert(t, "张三 "+suite.String(), p.issuer, p.issuerKey, ekuTemplate(smx509.ExtKeyUsageClientAuth))
	p.other, otherKey = p.cert(t, "Other CA "+suite.String(), nil, nil, caTemplate)
	p.otherResp, p.otherRespKey = p.cert(t, "Other OCSP "+suite.String(), p.other, otherKey, ekuTemplate(smx509.ExtKeyUsageOCSPSigning))
	return p
}

func caTemplate(c *smx509.Certificate) {
	c.IsCA = true
	c.BasicConstraintsValid = true
	c.KeyUsage = smx509.KeyUsageCertSign | smx509.KeyUsageCRLSign
}

func ekuTemplate(eku smx509.ExtKeyUsage) func(*smx509.Certificate) {
	return func(c *smx509.Certificate) {
		c.KeyUsage = smx509.KeyUsageDigitalSignature
		c.ExtKeyUsage = []smx509.ExtKeyUsage{eku}
	}
}

// cert issues a certificate named cn with a new key of p's suite, signed by
// parent (self-signed when parent is nil).
func (p *testPKI) cert(t testing.TB, cn string, parent *smx509.Certificate, parentKey crypto.Signer, edit func(*smx509.Certificate)) (*smx509.Certificate, crypto.Signer) {
	t.Helper()
	key, err := p.suite.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 159))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &smx509.Certificate{
		SerialNumber:       serial,
		Subject:            pkix.Name{CommonName: cn, Organization: []string{"Tongxing Test"}},
		NotBefore:          p.now.Add(-time.Hour),
		NotAfter:           p.now.Add(24 * time.Hour),
		SignatureAlgorithm: p.suite.SignatureAlgorithm(),
	}
	edit(tmpl)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := smx509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatalf("create %s: %v", cn, err)
	}
	c, err := smx509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

// single returns a SingleResponse about p.leaf with status st.
func (p *testPKI) single(t testing.TB, h Hash, st Status) SingleResponse {
	t.Helper()
	id, err := NewCertID(h, p.issuer, p.leaf.SerialNumber)
	if err != nil {
		t.Fatal(err)
	}
	r := SingleResponse{CertID: id, Status: st, Reason: NoReason, ThisUpdate: p.now, NextUpdate: p.now.Add(time.Hour)}
	if st == Revoked {
		r.RevokedAt = p.now.Add(-time.Minute)
		r.Reason = 1 // keyCompromise
	}
	return r
}

// response signs a response by p.responder about p.leaf.
func (p *testPKI) response(t testing.TB, st Status, nonce *Nonce) []byte {
	t.Helper()
	der, err := CreateResponse(p.responder, p.responderKey, ResponseData{
		ProducedAt: p.now,
		Responses:  []SingleResponse{p.single(t, SHA1, st)},
		Nonce:      nonce,
	})
	if err != nil {
		t.Fatalf("CreateResponse: %v", err)
	}
	return der
}

// writePEM writes certs as PEM into dir/name and returns the path.
func writePEM(t testing.TB, dir, name string, certs ...*smx509.Certificate) string {
	t.Helper()
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
