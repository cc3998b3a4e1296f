package kmc

import (
	"bytes"
	"crypto/elliptic"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/ca/catest"
	"github.com/tongxing/tongxing/problem"
	"github.com/tongxing/tongxing/store/storetest"
)

// FuzzDualIntake: POST /ca/v1/kmc/dual never answers 5xx; an error is a
// problem+json with its status; a success is a pair whose escrow row exists,
// and happens at most once per code.
func FuzzDualIntake(f *testing.F) {
	fx := newFixture(f, storetest.SQLite(f))
	sm2CSR := string(catest.PEMCSR(catest.CSR(f, catest.SM2Key(f))))
	ecCSR := string(catest.PEMCSR(catest.CSR(f, catest.ECKey(f, elliptic.P256()))))
	code := fx.Code(f, SignProfile, enterprise)
	seed := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	for _, s := range [][]byte{
		seed(DualRequestJSON{CSR: sm2CSR, EnrolmentCode: code}),
		seed(DualRequestJSON{CSR: sm2CSR, EnrolmentCode: "unknown"}),
		seed(DualRequestJSON{CSR: ecCSR, EnrolmentCode: code}),
		seed(DualRequestJSON{CSR: sm2CSR}),
		seed(DualRequestJSON{CSR: sm2CSR[:len(sm2CSR)/2], EnrolmentCode: code}),
		seed(map[string]any{"csr": 1, "enrolment_code": []int{1}}),
		[]byte(`{"csr":"\u0030\u0080","enrolment_code":"x"}`),
		[]byte(`{"csr":"-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n","enrolment_code":"x"}`),
		[]byte(`{}`), []byte(`null`), []byte(`[]`), []byte(`{"csr":"x"}{"csr":"y"}`), {},
	} {
		f.Add(s)
	}
	allowed := []int{http.StatusCreated, 400, 401, 403, 409, 413}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/ca/v1/kmc/dual", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		fx.mux.ServeHTTP(w, req)
		if !slices.Contains(allowed, w.Code) {
			t.Fatalf("status %d for %q: %s", w.Code, body, w.Body)
		}
		if w.Code != http.StatusCreated {
			var p problem.Details
			if w.Header().Get("Content-Type") != problem.ContentType || json.Unmarshal(w.Body.Bytes(), &p) != nil || p.Status != w.Code {
				t.Fatalf("status %d without a matching problem body: %s", w.Code, w.Body)
			}
			return
		}
		var res DualJSON
		if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
			t.Fatal(err)
		}
		if fx.count(t, "SELECT COUNT(*) FROM kmc_escrow WHERE enc_serial = ?", res.EncSerial) != 1 {
			t.Fatal("a pair was returned without its escrow row")
		}
		if n := fx.count(t, "SELECT COUNT(*) FROM kmc_escrow"); n > 1 {
			t.Fatalf("%d pairs from one enrolment code", n)
		}
	})
}

// FuzzParseDualResponse: the client never panics on a server's CSRResponse;
// what it accepts has the signing key in the signing certificate and the
// returned encryption key in the encryption certificate.
func FuzzParseDualResponse(f *testing.F) {
	fx := newFixture(f, storetest.SQLite(f))
	e := fx.enrol(f, enterprise)
	tmpl := DualJSON{
		SignCertificate: pemCert(e.res.SignCertificate), SignSerial: e.res.SignSerial,
		EncCertificate: pemCert(e.res.EncCertificate), EncSerial: e.res.EncSerial,
	}
	der := e.res.CSRResponse
	env := envelopedKeyOf(f, der)
	for _, s := range [][]byte{
		der, der[:len(der)-1], append(bytes.Clone(der), 0), {0x30, 0x00}, {0x30, 0x02, 0x31, 0x00},
		bytes.Replace(der, env, bytes.Repeat([]byte{0}, len(env)), 1),
		{},
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, csrResponse []byte) {
		j := tmpl
		j.CSRResponse = csrResponse
		body, err := json.Marshal(j)
		if err != nil {
			t.Fatal(err)
		}
		res, key, err := ParseDualResponse(e.signKey, body)
		if err != nil {
			if !errors.Is(err, ErrBadResponse) || key != nil || res != nil {
				t.Fatalf("error %v with results", err)
			}
			return
		}
		if !key.PublicKey.Equal(res.EncCertificate.PublicKey) || !e.signKey.PublicKey.Equal(res.SignCertificate.PublicKey) {
			t.Fatal("accepted a response whose keys do not match its certificates")
		}
		if _, err := smx509.ParseCSRResponse(e.signKey, csrResponse); err != nil {
			t.Fatalf("accepted a CSRResponse gmsm rejects: %v", err)
		}
	})
}

// FuzzParseDeliverTo: the deliver-to parser never panics, rejects with a
// 400 on "deliver_to", and what it accepts is an SM2 key whose returned
// SubjectPublicKeyInfo parses back to the same key.
func FuzzParseDeliverTo(f *testing.F) {
	k := catest.SM2Key(f)
	p := pemPublicKey(f, &k.PublicKey)
	for _, s := range [][]byte{p, mustDER(f, p), pemPublicKey(f, &catest.ECKey(f, elliptic.P256()).PublicKey), p[:len(p)/2], append(bytes.Clone(p), 'x'), {0x30}, {}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		pub, spki, err := ParseDeliverTo(b)
		if err != nil {
			wantError(t, err, nil, 400, "deliver_to")
			return
		}
		if !sm2.IsSM2PublicKey(pub) {
			t.Fatal("accepted a non-SM2 key")
		}
		back, err := smx509.ParsePKIXPublicKey(spki)
		if err != nil || !pub.Equal(back) {
			t.Fatalf("SubjectPublicKeyInfo does not round-trip: %v", err)
		}
	})
}
