package revcheck_test

import (
	"crypto"
	"crypto/rand"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/ca/ocsp"
	"github.com/tongxing/tongxing/internal/testpki"
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

// valid is the validity of every certificate of the tests.
var valid = testpki.Valid(now.Add(-30*24*time.Hour), now.Add(365*24*time.Hour))

func newAuthority(t testing.TB, s kms.Suite, name string) *authority {
	t.Helper()
	root := testpki.NewRoot(t, s, name+" Root", valid)
	issuing := root.NewCA(t, name+" Issuing", valid)
	responder := issuing.Issue(t, name+" OCSP Responder", valid, testpki.Subject(pkix.Name{CommonName: name + " OCSP Responder"}),
		testpki.EKU(smx509.ExtKeyUsageOCSPSigning))
	return &authority{suite: s, root: root.Cert, issuing: issuing.Cert, issuingKey: issuing.Key, responder: responder.Cert, responderKey: responder.Key}
}

// leaf issues an end-entity certificate naming the given OCSP and CRL URLs.
func (a *authority) leaf(t testing.TB, ocspURL, crlURL string) *smx509.Certificate {
	t.Helper()
	issuing := &testpki.Cert{Cert: a.issuing, Key: a.issuingKey, Suite: a.suite}
	return issuing.Issue(t, "李四", valid, testpki.Subject(pkix.Name{CommonName: "李四", Organization: []string{"福州示例科技有限公司"}}), func(c *smx509.Certificate) {
		c.KeyUsage = smx509.KeyUsageDigitalSignature | smx509.KeyUsageContentCommitment
		if ocspURL != "" {
			c.OCSPServer = []string{ocspURL}
		}
		if crlURL != "" {
			c.CRLDistributionPoints = []string{crlURL}
		}
	}).Cert
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
