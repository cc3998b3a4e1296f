package ca_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/catest"
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/problem"
)

// stdCSR makes a CSR with crypto/x509, for key types smx509 does not sign.
func stdCSR(f *testing.F, key any) []byte {
	f.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "fuzz"}}, key)
	if err != nil {
		f.Fatal(err)
	}
	return der
}

// FuzzParseCSR: ParseCSR never panics; what it rejects is a RequestError on
// "csr"; what it accepts has a verified self-signature, and Issue either
// certifies its key (a supported suite) or rejects it as a RequestError on
// "csr".
func FuzzParseCSR(f *testing.F) {
	sm2DER := catest.CSR(f, catest.SM2Key(f))
	ecDER := catest.CSR(f, catest.ECKey(f, elliptic.P256()))
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		f.Fatal(err)
	}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	for _, seed := range [][]byte{
		sm2DER, catest.PEMCSR(sm2DER), ecDER, catest.PEMCSR(ecDER),
		catest.CSR(f, catest.ECKey(f, elliptic.P384())),
		stdCSR(f, rsaKey), stdCSR(f, edKey),
		breakSignature(sm2DER), breakSignature(ecDER),
		sm2DER[:len(sm2DER)/2], append(catest.PEMCSR(sm2DER), "trailer"...),
		{}, {0x30}, {0x30, 0x80}, []byte("-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n"),
	} {
		f.Add(seed)
	}
	fx := catest.New(f)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, data []byte) {
		csr, err := ca.ParseCSR(data)
		if err != nil {
			requestError(t, err, "csr", 400)
			return
		}
		if len(data) > ca.MaxCSRSize {
			t.Fatalf("accepted %d bytes, more than MaxCSRSize", len(data))
		}
		if csr == nil || csr.PublicKey == nil {
			t.Fatal("accepted a CSR without a public key")
		}
		if err := csr.CheckSignature(); err != nil {
			t.Fatalf("accepted a CSR whose signature does not verify: %v", err)
		}
		suite, suiteErr := kms.SuiteOf(csr.PublicKey)
		iss, err := fx.CA.Issue(ctx, ca.IssueRequest{PublicKey: csr.PublicKey, Profile: "tsa", Subject: ca.Subject{Name: "fuzz"}})
		if suiteErr != nil {
			requestError(t, err, "csr", 400)
			return
		}
		if err != nil {
			t.Fatalf("%s key rejected by Issue: %v", suite, err)
		}
		if !publicKeyEqual(iss.Certificate.PublicKey, csr.PublicKey) {
			t.Fatal("issued certificate does not carry the CSR's key")
		}
	})
}

// FuzzEnrolJSON sends arbitrary bodies to POST /ca/v1/certificates: the
// status is never 5xx and the body is always JSON of the right media type.
func FuzzEnrolJSON(f *testing.F) {
	fx := newAPIFixture(f)
	csr := string(catest.PEMCSR(catest.CSR(f, catest.SM2Key(f))))
	code := fx.Code(f, "citizen", ca.Subject{Name: catest.CitizenName, IDNumber: catest.CitizenID})
	valid, _ := json.Marshal(ca.EnrolRequestJSON{CSR: csr, EnrolmentCode: code})
	withProfile, _ := json.Marshal(ca.EnrolRequestJSON{CSR: csr, EnrolmentCode: code, Profile: "citizen"})
	for _, seed := range []string{
		string(valid), string(withProfile),
		`{}`, `null`, `[]`, `""`, `{"csr":null}`, `{"csr":5}`, `{"csr":"x","enrolment_code":"y"}`,
		`{"csr":"x","enrolment_code":"y","profile":"diplomat"}`, `{"csr":"` + strings.Repeat("A", 100) + `"}`,
		`{"csr":"\u0000","enrolment_code":"\ud800"}`, `{"csr":"x"}{"csr":"y"}`, `{"unknown":1}`, `{`,
		strings.Replace(string(valid), `"enrolment_code":"`, `"enrolment_code":"x`, 1),
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		w := fx.do(t, "POST", "/ca/v1/certificates", "", body)
		if w.Code >= 500 {
			t.Fatalf("status %d for body %q: %s", w.Code, body, w.Body)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("status %d with a body that is not JSON: %q", w.Code, w.Body)
		}
		ct := w.Header().Get("Content-Type")
		switch {
		case w.Code == http.StatusCreated || w.Code == http.StatusOK: // 200: the same code and key again
			var out ca.IssuedJSON
			if ct != "application/json" || json.Unmarshal(w.Body.Bytes(), &out) != nil || !strings.HasPrefix(out.Certificate, "-----BEGIN CERTIFICATE-----") {
				t.Fatalf("%d without a certificate: %s %s", w.Code, ct, w.Body)
			}
		case ct != problem.ContentType:
			t.Fatalf("status %d with Content-Type %q", w.Code, ct)
		default:
			var p problem.Details
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Status != w.Code {
				t.Fatalf("problem body %s does not match status %d", w.Body, w.Code)
			}
			if bytes.Contains(w.Body.Bytes(), []byte(catest.CitizenID)) {
				t.Fatal("problem body contains the ID number")
			}
		}
	})
}
