package ca_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/catest"
	"github.com/tongxing/tongxing/problem"
)

// profilesWithIdentityCode returns the built-in profiles with the citizen
// profile writing the GM/T 0015 identity code extension.
func profilesWithIdentityCode(t testing.TB) map[string]*ca.Profile {
	t.Helper()
	p, err := ca.LoadProfiles(ca.BuiltinProfiles())
	if err != nil {
		t.Fatal(err)
	}
	if err := p["citizen"].SetOption("identity_code_extension", true); err != nil {
		t.Fatal(err)
	}
	return p
}

// breakSignature returns a copy of a DER CSR or certificate with the last
// byte of its signature changed; the structure still parses.
func breakSignature(der []byte) []byte {
	out := bytes.Clone(der)
	out[len(out)-1] ^= 0x01
	return out
}

// ski computes RFC 5280 §4.2.1.2 method (1) for a certificate's key,
// independently of the code under test.
func ski(t testing.TB, spki []byte) []byte {
	t.Helper()
	var s struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(spki, &s); err != nil {
		t.Fatalf("parse SubjectPublicKeyInfo: %v", err)
	}
	h := sha1.Sum(s.PublicKey.Bytes)
	return h[:]
}

// requestError asserts that err is a *ca.RequestError on field with status.
func requestError(t testing.TB, err error, field string, status int) *ca.RequestError {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want a RequestError on %s (%d)", field, status)
	}
	var re *ca.RequestError
	if !errors.As(err, &re) {
		t.Fatalf("error %T %v is not a *ca.RequestError", err, err)
	}
	if re.FieldName() != field || re.HTTPStatus() != status {
		t.Fatalf("RequestError field %q status %d (%v), want field %q status %d", re.FieldName(), re.HTTPStatus(), err, field, status)
	}
	return re
}

// apiFixture serves the CA API of a fixture with officer tokens.
type apiFixture struct {
	*catest.Fixture
	mux          *http.ServeMux
	raToken      string
	auditorToken string
}

func newAPIFixture(t testing.TB, opts ...catest.Option) *apiFixture {
	t.Helper()
	f := catest.New(t, opts...)
	tokens := access.NewTokens(f.DB)
	ctx := context.Background()
	ra, err := tokens.Create(ctx, "rita", access.RoleRA)
	if err != nil {
		t.Fatal(err)
	}
	aud, err := tokens.Create(ctx, "arthur", access.RoleAuditor)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	ca.NewAPI(f.CA, tokens.Require, catest.Discard()).Routes(mux)
	return &apiFixture{Fixture: f, mux: mux, raToken: ra, auditorToken: aud}
}

// do sends a request to the API (see catest.Do).
func (f *apiFixture) do(t testing.TB, method, path, token string, body any) *httptest.ResponseRecorder {
	t.Helper()
	return catest.Do(t, f.mux, method, path, token, body)
}

// createCode asks the API for an enrolment code as the RA officer.
func (f *apiFixture) createCode(t testing.TB, profile string, subj ca.Subject) ca.CodeJSON {
	t.Helper()
	w := f.do(t, "POST", "/ca/v1/enrolment-codes", f.raToken, ca.CodeRequestJSON{Profile: profile, Subject: subj})
	if w.Code != http.StatusCreated {
		t.Fatalf("POST /ca/v1/enrolment-codes: %d %s", w.Code, w.Body)
	}
	var c ca.CodeJSON
	if err := json.Unmarshal(w.Body.Bytes(), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// problemOf decodes a problem+json response and checks its status and
// content type.
func problemOf(t testing.TB, w *httptest.ResponseRecorder, status int) problem.Details {
	t.Helper()
	return catest.Problem(t, w, status)
}
