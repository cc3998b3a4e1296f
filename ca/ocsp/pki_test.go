package ocsp

import (
	"crypto"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/internal/testpki"
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
	valid := testpki.Valid(p.now.Add(-time.Hour), p.now.Add(24*time.Hour))
	leaf := func(eku smx509.ExtKeyUsage) []testpki.Option {
		return []testpki.Option{valid, testpki.KeyUsage(smx509.KeyUsageDigitalSignature), testpki.EKU(eku)}
	}
	issuer := testpki.NewRoot(t, suite, "Tongxing Test CA "+suite.String(), valid)
	responder := issuer.Issue(t, "Tongxing OCSP "+suite.String(), leaf(smx509.ExtKeyUsageOCSPSigning)...)
	noEKU := issuer.Issue(t, "Tongxing TLS "+suite.String(), leaf(smx509.ExtKeyUsageServerAuth)...)
	other := testpki.NewRoot(t, suite, "Other CA "+suite.String(), valid)
	otherResp := other.Issue(t, "Other OCSP "+suite.String(), leaf(smx509.ExtKeyUsageOCSPSigning)...)
	p.issuer, p.issuerKey = issuer.Cert, issuer.Key
	p.responder, p.responderKey = responder.Cert, responder.Key
	p.noEKU, p.noEKUKey = noEKU.Cert, noEKU.Key
	p.leaf = issuer.Issue(t, "张三 "+suite.String(), leaf(smx509.ExtKeyUsageClientAuth)...).Cert
	p.other = other.Cert
	p.otherResp, p.otherRespKey = otherResp.Cert, otherResp.Key
	return p
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
