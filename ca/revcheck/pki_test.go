package revcheck_test

import (
	"crypto"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509/pkix"
	"encoding/asn1"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/ca/ocsp"
	"github.com/tongxing/tongxing/kms"
)

// now is the fixed clock of the tests.
var now = time.Now().UTC().Truncate(time.Second)

// authority is one test CA hierarchy of a suite: root, issuing CA and a
// delegated OCSP responder.
type authority struct {
	suite        kms.Suite
	root         *smx509.Certificate
	issuing      *smx509.Certificate
	issuingKey   crypto.Signer
	responder    *smx509.Certificate
	responderKey crypto.Signer
}

func newKey(t testing.TB, s kms.Suite) crypto.Signer {
	t.Helper()
	k, err := s.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func skid(t testing.TB, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := smx509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	var spki struct {
		Alg asn1.RawValue
		Key asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		t.Fatal(err)
	}
	h := sha1.Sum(spki.Key.Bytes)
	return h[:]
}

var serials atomic.Int64

func issue(t testing.TB, tmpl *smx509.Certificate, parent *smx509.Certificate, pub crypto.PublicKey, parentKey crypto.Signer) *smx509.Certificate {
	t.Helper()
	tmpl.SerialNumber = big.NewInt(1000 + serials.Add(1))
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore, tmpl.NotAfter = now.Add(-30*24*time.Hour), now.Add(365*24*time.Hour)
	}
	tmpl.SubjectKeyId = skid(t, pub)
	if parent == nil {
		parent = tmpl
	}
	der, err := smx509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := smx509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newAuthority(t testing.TB, s kms.Suite, name string) *authority {
	t.Helper()
	a := &authority{suite: s}
	rootKey := newKey(t, s)
	a.root = issue(t, &smx509.Certificate{
		Subject: pkix.Name{CommonName: name + " Root", Organization: []string{"Tongxing Test"}},
		IsCA:    true, BasicConstraintsValid: true, KeyUsage: smx509.KeyUsageCertSign | smx509.KeyUsageCRLSign,
	}, nil, rootKey.Public(), rootKey)
	a.issuingKey = newKey(t, s)
	a.issuing = issue(t, &smx509.Certificate{
		Subject: pkix.Name{CommonName: name + " Issuing", Organization: []string{"Tongxing Test"}},
		IsCA:    true, BasicConstraintsValid: true, MaxPathLenZero: true, KeyUsage: smx509.KeyUsageCertSign | smx509.KeyUsageCRLSign,
	}, a.root, a.issuingKey.Public(), rootKey)
	a.responderKey = newKey(t, s)
	a.responder = issue(t, &smx509.Certificate{
		Subject:     pkix.Name{CommonName: name + " OCSP Responder"},
		KeyUsage:    smx509.KeyUsageDigitalSignature,
		ExtKeyUsage: []smx509.ExtKeyUsage{smx509.ExtKeyUsageOCSPSigning},
	}, a.issuing, a.responderKey.Public(), a.issuingKey)
	return a
}

// leaf issues an end-entity certificate naming the given OCSP and CRL URLs.
func (a *authority) leaf(t testing.TB, ocspURL, crlURL string) *smx509.Certificate {
	t.Helper()
	k := newKey(t, a.suite)
	tmpl := &smx509.Certificate{
		Subject:  pkix.Name{CommonName: "李四", Organization: []string{"福州示例科技有限公司"}},
		KeyUsage: smx509.KeyUsageDigitalSignature | smx509.KeyUsageContentCommitment,
	}
	if ocspURL != "" {
		tmpl.OCSPServer = []string{ocspURL}
	}
	if crlURL != "" {
		tmpl.CRLDistributionPoints = []string{crlURL}
	}
	return issue(t, tmpl, a.issuing, k.Public(), a.issuingKey)
}

// ocspResponse signs a response about serial with the delegated responder.
func (a *authority) ocspResponse(t testing.TB, serial *big.Int, s ocsp.SingleResponse) []byte {
	t.Helper()
	return a.ocspResponseBy(t, a.issuing, a.responder, a.responderKey, serial, s)
}

func (a *authority) ocspResponseBy(t testing.TB, issuer, signerCert *smx509.Certificate, signer crypto.Signer, serial *big.Int, s ocsp.SingleResponse) []byte {
	t.Helper()
	id, err := ocsp.NewCertID(ocsp.SHA1, issuer, serial)
	if err != nil {
		t.Fatal(err)
	}
	s.CertID = id
	if s.ThisUpdate.IsZero() {
		s.ThisUpdate = now.Add(-time.Hour)
	}
	if s.Status == ocsp.Revoked && s.Reason == 0 {
		s.Reason = ocsp.NoReason
	}
	der, err := ocsp.CreateResponse(signerCert, signer, ocsp.ResponseData{ProducedAt: s.ThisUpdate, Responses: []ocsp.SingleResponse{s}})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// crl signs a CRL of the issuing CA.
func (a *authority) crl(t testing.TB, tmpl smx509.RevocationList) []byte {
	t.Helper()
	return crlBy(t, a.issuing, a.issuingKey, tmpl)
}

func crlBy(t testing.TB, issuer *smx509.Certificate, key crypto.Signer, tmpl smx509.RevocationList) []byte {
	t.Helper()
	if tmpl.Number == nil {
		tmpl.Number = big.NewInt(7)
	}
	if tmpl.ThisUpdate.IsZero() {
		tmpl.ThisUpdate = now.Add(-time.Hour)
	}
	if tmpl.NextUpdate.IsZero() {
		tmpl.NextUpdate = now.Add(23 * time.Hour)
	}
	der, err := smx509.CreateRevocationList(rand.Reader, &tmpl, issuer, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// flip returns a copy of b with its last byte changed (inside the signature
// value of an OCSP response or a CRL).
func flip(b []byte) []byte {
	c := append([]byte(nil), b...)
	c[len(c)-1] ^= 0x01
	return c
}

// site serves OCSP at /ocsp and a CRL at /crl from per-case bodies; a nil
// body answers 503.
type site struct {
	srv                *httptest.Server
	ocspBody, crlBody  []byte
	ocspType           string
	ocspHits, crlHits  int
	lastOCSPContentTyp string
}

func (s *site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/ocsp":
		s.ocspHits++
		s.lastOCSPContentTyp = r.Header.Get("Content-Type")
		if s.ocspBody == nil || r.Method != http.MethodPost {
			http.Error(w, "responder down", http.StatusServiceUnavailable)
			return
		}
		ct := s.ocspType
		if ct == "" {
			ct = "application/ocsp-response"
		}
		w.Header().Set("Content-Type", ct)
		w.Write(s.ocspBody)
	case "/crl":
		s.crlHits++
		if s.crlBody == nil {
			http.Error(w, "CRL down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/pkix-crl")
		w.Write(s.crlBody)
	default:
		http.NotFound(w, r)
	}
}

func newSite(t testing.TB, tlsServer bool) *site {
	s := &site{}
	s.srv = httptest.NewUnstartedServer(s)
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // rejected TLS handshakes are expected
	if tlsServer {
		s.srv.StartTLS()
	} else {
		s.srv.Start()
	}
	t.Cleanup(s.srv.Close)
	return s
}
