package ocsp

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	xocsp "golang.org/x/crypto/ocsp"
)

// TestRequestFiles parses the OpenSSL-made requests in testdata.
func TestRequestFiles(t *testing.T) {
	tests := []struct {
		file   string
		ids    int
		hash   Hash
		nonce  bool
		signed bool
	}{
		{"openssl-gm-sha1-nonce.der", 1, SHA1, true, false},
		{"openssl-gm-sm3.der", 1, SM3, false, false},
		{"openssl-intl-sha1.der", 1, SHA1, false, false},
		{"openssl-intl-sha256-nonce.der", 1, SHA256, true, false},
		{"openssl-intl-two-certs-nonce.der", 2, SHA1, true, false},
		{"openssl-intl-signed-nonce.der", 1, SHA1, true, true},
	}
	for _, tc := range tests {
		t.Run("ok/"+tc.file, func(t *testing.T) {
			der, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			req, err := ParseRequest(der)
			if err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
			if len(req.CertIDs) != tc.ids || req.CertIDs[0].HashAlgorithm != tc.hash {
				t.Fatalf("%d CertIDs hashed with %v, want %d with %v", len(req.CertIDs), req.CertIDs[0].HashAlgorithm, tc.ids, tc.hash)
			}
			if tc.nonce != (req.Nonce != nil) || req.Nonce != nil && (req.Nonce.Bare || len(req.Nonce.Value) != 16) {
				t.Fatalf("Nonce = %+v, want RFC 8954 16 bytes: %v", req.Nonce, tc.nonce)
			}
			if req.Signed != tc.signed || (req.RequestorName != nil) != tc.signed {
				t.Fatalf("Signed %v RequestorName %x, want signed with name: %v", req.Signed, req.RequestorName, tc.signed)
			}
			checkReencode(t, der, req)
		})
	}
}

// requestSeeds returns requests made by OpenSSL (testdata), by
// golang.org/x/crypto/ocsp and by CreateRequest.
func requestSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	var seeds [][]byte
	files, err := filepath.Glob(filepath.Join("testdata", "*.der"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no testdata requests: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	p := newTestPKI(tb, suites[1])
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
		der, err := xocsp.CreateRequest(stdCert(tb, p.leaf), stdCert(tb, p.issuer), &xocsp.RequestOptions{Hash: h})
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, der)
	}
	var ids []CertID
	for _, h := range []Hash{SHA1, SHA256, SM3} {
		id, err := NewCertID(h, p.issuer, p.leaf.SerialNumber)
		if err != nil {
			tb.Fatal(err)
		}
		ids = append(ids, id)
	}
	for _, n := range []*Nonce{nil, {Value: []byte("0123456789abcdef")}, {Value: []byte{4, 1, 0}, Bare: true}} {
		der, err := CreateRequest(ids, n)
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, der)
	}
	return seeds
}

// checkReencode asserts what every accepted request must satisfy: at least
// one CertID with a serial and hashes of the right size, a nonce whose
// extnValue occurs verbatim in the input, and CreateRequest(CertIDs, Nonce)
// parsing back to the same CertIDs (hashAlgorithm encoding included) and
// nonce.
func checkReencode(t *testing.T, der []byte, req *Request) {
	t.Helper()
	if len(req.CertIDs) == 0 {
		t.Fatal("accepted request has no CertID")
	}
	for i, id := range req.CertIDs {
		if id.SerialNumber == nil || len(id.IssuerNameHash) != id.HashAlgorithm.size() || len(id.IssuerKeyHash) != id.HashAlgorithm.size() {
			t.Fatalf("CertID %d is not sane: %+v", i, id)
		}
		if !bytes.Contains(der, id.rawAlg) {
			t.Fatalf("CertID %d hashAlgorithm %x is not from the input", i, id.rawAlg)
		}
	}
	if req.Nonce != nil {
		ev, err := req.Nonce.extnValue()
		if err != nil {
			t.Fatalf("accepted nonce does not re-encode: %v", err)
		}
		if !bytes.Contains(der, ev) {
			t.Fatalf("nonce extnValue %x is not in the input", ev)
		}
	}
	again, err := CreateRequest(req.CertIDs, req.Nonce)
	if err != nil {
		t.Fatalf("CreateRequest of an accepted request: %v", err)
	}
	req2, err := ParseRequest(again)
	if err != nil {
		t.Fatalf("ParseRequest of re-encoded request: %v", err)
	}
	if len(req2.CertIDs) != len(req.CertIDs) {
		t.Fatalf("re-encoded request has %d CertIDs, want %d", len(req2.CertIDs), len(req.CertIDs))
	}
	for i := range req.CertIDs {
		a, b := req.CertIDs[i], req2.CertIDs[i]
		if a.HashAlgorithm != b.HashAlgorithm || !bytes.Equal(a.rawAlg, b.rawAlg) || !bytes.Equal(a.IssuerNameHash, b.IssuerNameHash) ||
			!bytes.Equal(a.IssuerKeyHash, b.IssuerKeyHash) || a.SerialNumber.Cmp(b.SerialNumber) != 0 {
			t.Fatalf("CertID %d changed on re-encoding: %+v -> %+v", i, a, b)
		}
	}
	if (req.Nonce == nil) != (req2.Nonce == nil) || req.Nonce != nil && (!bytes.Equal(req.Nonce.Value, req2.Nonce.Value) || req.Nonce.Bare != req2.Nonce.Bare) {
		t.Fatalf("nonce changed on re-encoding: %+v -> %+v", req.Nonce, req2.Nonce)
	}
}

func FuzzParseRequest(f *testing.F) {
	for _, s := range requestSeeds(f) {
		f.Add(s)
	}
	f.Add([]byte{})
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		req, err := ParseRequest(der)
		if err != nil {
			if req != nil {
				t.Fatal("request returned with an error")
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error %v is neither ErrMalformed nor ErrTooLarge", err)
			}
			return
		}
		if len(der) > MaxRequestSize {
			t.Fatalf("accepted %d bytes", len(der))
		}
		checkReencode(t, der, req)
	})
}

func FuzzParseGETPath(f *testing.F) {
	for _, s := range requestSeeds(f) {
		b64 := base64.StdEncoding.EncodeToString(s)
		f.Add(b64)
		f.Add(url.PathEscape(b64))
		f.Add("/" + url.QueryEscape(b64))
		f.Add(base64.RawURLEncoding.EncodeToString(s))
	}
	f.Add("")
	f.Add("%")
	f.Add("%2")
	f.Add("====")
	f.Fuzz(func(t *testing.T, path string) {
		der, err := ParseGETPath(path)
		if err != nil {
			if der != nil {
				t.Fatal("bytes returned with an error")
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error %v is neither ErrMalformed nor ErrTooLarge", err)
			}
			return
		}
		if len(der) == 0 || len(der) > MaxRequestSize || der[0] != 0x30 {
			t.Fatalf("decoded %d bytes", len(der))
		}
		// Every encoding a client may use of the result decodes to it.
		b64 := base64.StdEncoding.EncodeToString(der)
		for _, enc := range []string{b64, url.PathEscape(b64), url.QueryEscape(b64), "/" + base64.RawURLEncoding.EncodeToString(der)} {
			got, err := ParseGETPath(enc)
			if err != nil || !bytes.Equal(got, der) {
				t.Fatalf("ParseGETPath(%q) = %x, %v; want %x", enc, got, err, der)
			}
		}
	})
}

func FuzzParseResponse(f *testing.F) {
	pkis := map[string]*testPKI{}
	for _, s := range suites {
		p := newTestPKI(f, s)
		pkis[s.String()] = p
		for _, st := range []Status{Good, Revoked, Unknown} {
			f.Add(s.String(), p.response(f, st, &Nonce{Value: []byte("0123456789abcdef")}))
		}
		der, err := ErrorResponse(TryLater)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(s.String(), der)
	}
	f.Fuzz(func(t *testing.T, suite string, der []byte) {
		p := pkis[suite]
		if p == nil {
			return
		}
		r, err := ParseResponse(der, p.issuer)
		if err != nil {
			var re *ResponseError
			if r != nil {
				t.Fatal("response returned with an error")
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrVerification) && !errors.As(err, &re) {
				t.Fatalf("error %v has no known kind", err)
			}
			return
		}
		// Accepted responses are signed by the issuer or its responder.
		if !r.Responder.Equal(p.issuer) && !r.Responder.Equal(p.responder) {
			t.Fatalf("accepted a response signed by %q", r.Responder.Subject)
		}
		if err := r.Responder.CheckSignature(r.SignatureAlgorithm, r.TBSResponseData, r.Signature); err != nil {
			t.Fatalf("accepted signature does not verify: %v", err)
		}
		if len(r.Responses) == 0 {
			t.Fatal("accepted response has no single response")
		}
	})
}
