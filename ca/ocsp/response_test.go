package ocsp

import (
	"bytes"
	"crypto"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

func TestCreateParseResponse(t *testing.T) {
	for _, s := range suites {
		p := newTestPKI(t, s)
		nonce := &Nonce{Value: []byte("0123456789abcdef0123456789abcdef")}
		bare := &Nonce{Value: []byte{0xde, 0xad, 0xbe, 0xef}, Bare: true}
		noReason := p.single(t, SHA256, Revoked)
		noReason.Reason = NoReason
		noNext := p.single(t, SM3, Good)
		noNext.NextUpdate = time.Time{}
		otherSerial := p.single(t, SHA1, Unknown)
		otherSerial.SerialNumber = big.NewInt(42)
		tests := []struct {
			name      string
			responder *smx509.Certificate
			key       crypto.Signer
			singles   []SingleResponse
			nonce     *Nonce
			extra     []*smx509.Certificate
		}{
			{"ok/good", p.responder, p.responderKey, []SingleResponse{p.single(t, SHA1, Good)}, nil, nil},
			{"ok/revoked-key-compromise", p.responder, p.responderKey, []SingleResponse{p.single(t, SHA1, Revoked)}, nil, nil},
			{"ok/revoked-no-reason", p.responder, p.responderKey, []SingleResponse{noReason}, nil, nil},
			{"ok/unknown", p.responder, p.responderKey, []SingleResponse{p.single(t, SHA1, Unknown)}, nil, nil},
			{"ok/sm3-no-next-update", p.responder, p.responderKey, []SingleResponse{noNext}, nil, nil},
			{"ok/nonce-rfc8954", p.responder, p.responderKey, []SingleResponse{p.single(t, SHA1, Good)}, nonce, nil},
			{"ok/nonce-bare", p.responder, p.responderKey, []SingleResponse{p.single(t, SHA1, Good)}, bare, nil},
			{"ok/signed-by-issuer", p.issuer, p.issuerKey, []SingleResponse{p.single(t, SHA1, Good)}, nil, nil},
			{"ok/two-singles-extra-cert", p.responder, p.responderKey, []SingleResponse{otherSerial, p.single(t, SHA256, Revoked)}, nil, []*smx509.Certificate{p.issuer}},
		}
		for _, tc := range tests {
			t.Run(s.String()+"/"+tc.name, func(t *testing.T) {
				der, err := CreateResponse(tc.responder, tc.key, ResponseData{ProducedAt: p.now, Responses: tc.singles, Nonce: tc.nonce}, tc.extra...)
				if err != nil {
					t.Fatalf("CreateResponse: %v", err)
				}
				r, err := ParseResponse(der, p.issuer)
				if err != nil {
					t.Fatalf("ParseResponse: %v", err)
				}
				if r.Responder != tc.responder && !r.Responder.Equal(tc.responder) {
					t.Errorf("Responder = %q, want %q", r.Responder.Subject, tc.responder.Subject)
				}
				if r.SignatureAlgorithm != s.SignatureAlgorithm() {
					t.Errorf("SignatureAlgorithm = %v, want %v", r.SignatureAlgorithm, s.SignatureAlgorithm())
				}
				if len(r.Certificates) != 1+len(tc.extra) || !r.Certificates[0].Equal(tc.responder) {
					t.Errorf("%d certificates, want responder then %d extra", len(r.Certificates), len(tc.extra))
				}
				if !r.ProducedAt.Equal(p.now) {
					t.Errorf("ProducedAt = %v, want %v", r.ProducedAt, p.now)
				}
				if (r.Nonce == nil) != (tc.nonce == nil) || r.Nonce != nil && (!bytes.Equal(r.Nonce.Value, tc.nonce.Value) || r.Nonce.Bare != tc.nonce.Bare) {
					t.Errorf("Nonce = %+v, want %+v", r.Nonce, tc.nonce)
				}
				if len(r.Responses) != len(tc.singles) {
					t.Fatalf("%d responses, want %d", len(r.Responses), len(tc.singles))
				}
				for i, want := range tc.singles {
					checkSingle(t, r.Responses[i], want)
				}
				last := tc.singles[len(tc.singles)-1]
				got, ok := r.Find(p.leaf.SerialNumber)
				if !ok {
					t.Fatal("Find(leaf serial) found nothing")
				}
				checkSingle(t, got, last)
				if _, ok := r.Find(big.NewInt(43)); ok {
					t.Error("Find(43) found a response")
				}
			})
		}
	}
}

// checkSingle compares a parsed single response with what was encoded.
func checkSingle(t *testing.T, got, want SingleResponse) {
	t.Helper()
	if got.HashAlgorithm != want.HashAlgorithm || !bytes.Equal(got.IssuerNameHash, want.IssuerNameHash) ||
		!bytes.Equal(got.IssuerKeyHash, want.IssuerKeyHash) || got.SerialNumber.Cmp(want.SerialNumber) != 0 {
		t.Errorf("CertID = %+v, want %+v", got.CertID, want.CertID)
	}
	if got.Status != want.Status || !got.ThisUpdate.Equal(want.ThisUpdate) || !got.NextUpdate.Equal(want.NextUpdate) {
		t.Errorf("status %v this %v next %v, want %v %v %v", got.Status, got.ThisUpdate, got.NextUpdate, want.Status, want.ThisUpdate, want.NextUpdate)
	}
	if want.Status == Revoked && (got.Reason != want.Reason || !got.RevokedAt.Equal(want.RevokedAt)) {
		t.Errorf("revoked at %v reason %d, want %v %d", got.RevokedAt, got.Reason, want.RevokedAt, want.Reason)
	}
	if want.Status != Revoked && (got.Reason != NoReason || !got.RevokedAt.IsZero()) {
		t.Errorf("%v response has reason %d revokedAt %v", got.Status, got.Reason, got.RevokedAt)
	}
}

func TestCreateResponseErrors(t *testing.T) {
	p := newTestPKI(t, suites[0])
	intl := newTestPKI(t, suites[1])
	good := p.single(t, SHA1, Good)
	with := func(edit func(*SingleResponse)) []SingleResponse {
		r := p.single(t, SHA1, Revoked)
		edit(&r)
		return []SingleResponse{r}
	}
	tests := []struct {
		name      string
		responder *smx509.Certificate
		key       crypto.Signer
		data      ResponseData
	}{
		{"fail/nil-responder", nil, p.responderKey, ResponseData{ProducedAt: p.now, Responses: []SingleResponse{good}}},
		{"fail/nil-signer", p.responder, nil, ResponseData{ProducedAt: p.now, Responses: []SingleResponse{good}}},
		{"fail/key-mismatch", p.responder, p.issuerKey, ResponseData{ProducedAt: p.now, Responses: []SingleResponse{good}}},
		{"fail/suite-mismatch", p.responder, intl.responderKey, ResponseData{ProducedAt: p.now, Responses: []SingleResponse{good}}},
		{"fail/zero-produced-at", p.responder, p.responderKey, ResponseData{Responses: []SingleResponse{good}}},
		{"fail/no-singles", p.responder, p.responderKey, ResponseData{ProducedAt: p.now}},
		{"fail/zero-status", p.responder, p.responderKey, ResponseData{ProducedAt: p.now, Responses: with(func(r *SingleResponse) { r.Status = 0 })}},
		{"fail/status-4", p.responder, p.responderKey, ResponseData{ProducedAt: p.now, Responses: with(func(r *SingleResponse) { r.Status = 4 })}},
		{"fail/revoked-without-time", p.responder, p.responderKey, ResponseData{ProducedAt: p.now, Responses: with(func(r *SingleResponse) { r.RevokedAt = time.Time{} })}},
		{"fail/reason-7", p.responder, p.responderKey, ResponseData{ProducedAt: p.now, Responses: with(func(r *SingleResponse) { r.Reason = 7 })}},
		{"fail/reason-11", p.responder, p.responderKey, ResponseData{ProducedAt: p.now, Responses: with(func(r *SingleResponse) { r.Reason = 11 })}},
		{"fail/zero-this-update", p.responder, p.responderKey, ResponseData{ProducedAt: p.now, Responses: with(func(r *SingleResponse) { r.ThisUpdate = time.Time{} })}},
		{"fail/next-update-not-after", p.responder, p.responderKey, ResponseData{ProducedAt: p.now, Responses: with(func(r *SingleResponse) { r.NextUpdate = r.ThisUpdate.Add(time.Millisecond) })}},
		{"fail/short-name-hash", p.responder, p.responderKey, ResponseData{ProducedAt: p.now, Responses: with(func(r *SingleResponse) { r.IssuerNameHash = r.IssuerNameHash[:4] })}},
		{"fail/nil-serial", p.responder, p.responderKey, ResponseData{ProducedAt: p.now, Responses: with(func(r *SingleResponse) { r.SerialNumber = nil })}},
		{"fail/year-10000", p.responder, p.responderKey, ResponseData{ProducedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), Responses: []SingleResponse{good}}},
		{"fail/next-update-year-10000", p.responder, p.responderKey, ResponseData{ProducedAt: p.now, Responses: with(func(r *SingleResponse) { r.NextUpdate = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) })}},
		{"fail/empty-nonce", p.responder, p.responderKey, ResponseData{ProducedAt: p.now, Responses: []SingleResponse{good}, Nonce: &Nonce{}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			der, err := CreateResponse(tc.responder, tc.key, tc.data)
			if err == nil || der != nil {
				t.Fatalf("CreateResponse = %d bytes, %v; want an error", len(der), err)
			}
			if !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("error %v does not wrap ErrInvalidInput", err)
			}
		})
	}
}

func TestErrorResponse(t *testing.T) {
	tests := []struct {
		name   string
		status ResponseStatus
		want   []byte
	}{
		{"ok/malformedRequest", MalformedRequest, []byte{0x30, 3, 0x0a, 1, 1}},
		{"ok/internalError", InternalError, []byte{0x30, 3, 0x0a, 1, 2}},
		{"ok/tryLater", TryLater, []byte{0x30, 3, 0x0a, 1, 3}},
		{"ok/sigRequired", SigRequired, []byte{0x30, 3, 0x0a, 1, 5}},
		{"ok/unauthorized", Unauthorized, []byte{0x30, 3, 0x0a, 1, 6}},
		{"fail/successful", Successful, nil},
		{"fail/unassigned-4", 4, nil},
		{"fail/negative", -1, nil},
	}
	p := newTestPKI(t, suites[0])
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			der, err := ErrorResponse(tc.status)
			if tc.want == nil {
				if !errors.Is(err, ErrInvalidInput) || der != nil {
					t.Fatalf("ErrorResponse(%v) = %x, %v; want ErrInvalidInput", tc.status, der, err)
				}
				return
			}
			if err != nil || !bytes.Equal(der, tc.want) {
				t.Fatalf("ErrorResponse(%v) = %x, %v; want %x", tc.status, der, err, tc.want)
			}
			_, err = ParseResponse(der, p.issuer)
			var re *ResponseError
			if !errors.As(err, &re) || re.Status != tc.status {
				t.Fatalf("ParseResponse error = %v, want ResponseError{%v}", err, tc.status)
			}
		})
	}
}

// rebuild re-encodes a parsed response with tbs and signature replaced,
// keeping the signature algorithm and certificates.
func rebuild(t *testing.T, r *ParsedResponse, tbs, sig []byte, certs []*smx509.Certificate) []byte {
	t.Helper()
	oid := sigAlgs[0].oid
	if r.SignatureAlgorithm == sigAlgs[1].alg {
		oid = sigAlgs[1].oid
	}
	var bb cryptobyte.Builder
	bb.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(tbs)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oid) })
		b.AddASN1BitString(sig)
		if len(certs) > 0 {
			b.AddASN1(tag0, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					for _, c := range certs {
						b.AddBytes(c.Raw)
					}
				})
			})
		}
	})
	var rb cryptobyte.Builder
	rb.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Enum(0)
		b.AddASN1(tag0, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oidBasic)
				b.AddASN1OctetString(bb.BytesOrPanic())
			})
		})
	})
	return rb.BytesOrPanic()
}

func TestParseResponseRejects(t *testing.T) {
	for _, s := range suites {
		p := newTestPKI(t, s)
		good := p.response(t, Good, nil)
		parsed, err := ParseResponse(good, p.issuer)
		if err != nil {
			t.Fatal(err)
		}
		sign := func(resp *smx509.Certificate, key crypto.Signer, at time.Time) []byte {
			der, err := CreateResponse(resp, key, ResponseData{ProducedAt: at, Responses: []SingleResponse{p.single(t, SHA1, Good)}})
			if err != nil {
				t.Fatal(err)
			}
			return der
		}
		badSig := bytes.Clone(parsed.Signature)
		badSig[len(badSig)-1] ^= 1
		badTBS := bytes.Clone(parsed.TBSResponseData)
		badTBS[len(badTBS)-2] ^= 1 // last seconds digit of nextUpdate
		tests := []struct {
			name    string
			der     []byte
			issuer  *smx509.Certificate
			wantErr error
		}{
			{"fail/other-issuer", good, p.other, ErrVerification},
			{"fail/responder-of-other-ca", sign(p.otherResp, p.otherRespKey, p.now), p.issuer, ErrVerification},
			{"fail/responder-without-ocsp-eku", sign(p.noEKU, p.noEKUKey, p.now), p.issuer, ErrVerification},
			{"fail/responder-expired-at-produced-at", sign(p.responder, p.responderKey, p.now.Add(48*time.Hour)), p.issuer, ErrVerification},
			{"fail/responder-not-yet-valid", sign(p.responder, p.responderKey, p.now.Add(-2*time.Hour)), p.issuer, ErrVerification},
			{"fail/signature-flipped", rebuild(t, parsed, parsed.TBSResponseData, badSig, parsed.Certificates), p.issuer, ErrVerification},
			{"fail/tbs-changed", rebuild(t, parsed, badTBS, parsed.Signature, parsed.Certificates), p.issuer, ErrVerification},
			{"fail/responder-cert-missing", rebuild(t, parsed, parsed.TBSResponseData, parsed.Signature, nil), p.issuer, ErrVerification},
			{"fail/only-leaf-cert", rebuild(t, parsed, parsed.TBSResponseData, parsed.Signature, []*smx509.Certificate{p.leaf}), p.issuer, ErrVerification},
			{"fail/trailing-data", append(bytes.Clone(good), 0), p.issuer, ErrMalformed},
			{"fail/truncated", good[:len(good)-1], p.issuer, ErrMalformed},
			{"fail/empty", nil, p.issuer, ErrMalformed},
			{"fail/request-not-response", mustRequest(t, p), p.issuer, ErrMalformed},
			{"fail/error-status-with-bytes", []byte{0x30, 5, 0x0a, 1, 1, 0xa0, 0}, p.issuer, ErrMalformed},
			{"fail/unassigned-status", []byte{0x30, 3, 0x0a, 1, 4}, p.issuer, ErrMalformed},
			{"fail/successful-without-bytes", []byte{0x30, 3, 0x0a, 1, 0}, p.issuer, ErrMalformed},
			{"fail/too-large", make([]byte, MaxResponseSize+1), p.issuer, ErrTooLarge},
			{"fail/nil-issuer", good, nil, ErrVerification},
		}
		for _, tc := range tests {
			t.Run(s.String()+"/"+tc.name, func(t *testing.T) {
				r, err := ParseResponse(tc.der, tc.issuer)
				if !errors.Is(err, tc.wantErr) || r != nil {
					t.Fatalf("ParseResponse = %v, %v; want %v", r, err, tc.wantErr)
				}
			})
		}
	}
}

// TestParseResponseSuiteMismatch checks that a response whose signature
// algorithm is not the responder key's suite is refused before verifying.
func TestParseResponseSuiteMismatch(t *testing.T) {
	for i, s := range suites {
		p := newTestPKI(t, s)
		parsed, err := ParseResponse(p.response(t, Good, nil), p.issuer)
		if err != nil {
			t.Fatal(err)
		}
		wrong := *parsed
		wrong.SignatureAlgorithm = sigAlgs[1-i].alg
		der := rebuild(t, &wrong, parsed.TBSResponseData, parsed.Signature, parsed.Certificates)
		t.Run(s.String()+"/fail/algorithm-of-other-suite", func(t *testing.T) {
			if _, err := ParseResponse(der, p.issuer); !errors.Is(err, ErrVerification) {
				t.Fatalf("ParseResponse error = %v, want ErrVerification", err)
			}
		})
	}
}

func mustRequest(t *testing.T, p *testPKI) []byte {
	t.Helper()
	id, err := NewCertID(SHA1, p.issuer, p.leaf.SerialNumber)
	if err != nil {
		t.Fatal(err)
	}
	der, err := CreateRequest([]CertID{id}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestStatusStrings(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"ok/good", Good.String(), "good"},
		{"ok/revoked", Revoked.String(), "revoked"},
		{"ok/unknown", Unknown.String(), "unknown"},
		{"ok/invalid-status", Status(0).String(), "status(0)"},
		{"ok/tryLater", TryLater.String(), "tryLater"},
		{"ok/unassigned", ResponseStatus(4).String(), "responseStatus(4)"},
		{"ok/sm3", SM3.String(), "SM3"},
		{"ok/response-error", (&ResponseError{Status: Unauthorized}).Error(), "ocsp: responder returned unauthorized"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Fatalf("got %q, want %q", tc.got, tc.want)
			}
		})
	}
}

func TestFind(t *testing.T) {
	p := newTestPKI(t, suites[0])
	good, revoked := p.single(t, SHA1, Good), p.single(t, SM3, Revoked)
	otherCA := p.single(t, SHA1, Good)
	id, err := NewCertID(SHA1, p.other, p.leaf.SerialNumber)
	if err != nil {
		t.Fatal(err)
	}
	otherCA.CertID = id
	tests := []struct {
		name    string
		singles []SingleResponse
		want    Status // 0: not found
	}{
		{"ok/one", []SingleResponse{good}, Good},
		{"ok/duplicates-agree", []SingleResponse{good, p.single(t, SHA256, Good)}, Good},
		{"ok/skips-other-issuer", []SingleResponse{otherCA, revoked}, Revoked},
		{"fail/contradictory-good-revoked", []SingleResponse{good, revoked}, 0},
		{"fail/contradictory-revoked-good", []SingleResponse{revoked, good}, 0},
		{"fail/only-other-issuer", []SingleResponse{otherCA}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			der, err := CreateResponse(p.responder, p.responderKey, ResponseData{ProducedAt: p.now, Responses: tc.singles})
			if err != nil {
				t.Fatal(err)
			}
			r, err := ParseResponse(der, p.issuer)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := r.Find(p.leaf.SerialNumber)
			if ok != (tc.want != 0) || ok && got.Status != tc.want {
				t.Fatalf("Find = %v, %v; want %v", got.Status, ok, tc.want)
			}
		})
	}
	if _, ok := (*ParsedResponse)(nil).Find(big.NewInt(1)); ok {
		t.Error("nil ParsedResponse found something")
	}
}
