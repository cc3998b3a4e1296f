package ocsp

import (
	"bytes"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"math/big"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// rawRequest builds an OCSPRequest from DER parts, for inputs CreateRequest
// does not make: version, requestorName, extensions, a signature.
type rawRequest struct {
	version       []byte // contents of [0] in tbsRequest, nil to omit
	requestorName []byte // contents of [1], nil to omit
	requests      [][]byte
	extensions    []byte // contents of [2], nil to omit
	signature     []byte // contents of [0] in OCSPRequest, nil to omit
	trailing      []byte
}

func (r rawRequest) der(t testing.TB) []byte {
	t.Helper()
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			if r.version != nil {
				b.AddASN1(tag0, func(b *cryptobyte.Builder) { b.AddBytes(r.version) })
			}
			if r.requestorName != nil {
				b.AddASN1(tag1, func(b *cryptobyte.Builder) { b.AddBytes(r.requestorName) })
			}
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				for _, one := range r.requests {
					b.AddBytes(one)
				}
			})
			if r.extensions != nil {
				b.AddASN1(tag2, func(b *cryptobyte.Builder) { b.AddBytes(r.extensions) })
			}
		})
		if r.signature != nil {
			b.AddASN1(tag0, func(b *cryptobyte.Builder) { b.AddBytes(r.signature) })
		}
	})
	der, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return append(der, r.trailing...)
}

// certIDDER returns the DER of a CertID with the given parts.
func certIDDER(t testing.TB, alg asn1.ObjectIdentifier, null bool, nameHash, keyHash []byte, serial *big.Int) []byte {
	t.Helper()
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(alg)
			if null {
				b.AddASN1NULL()
			}
		})
		b.AddASN1OctetString(nameHash)
		b.AddASN1OctetString(keyHash)
		b.AddASN1BigInt(serial)
	})
	return b.BytesOrPanic()
}

// oneRequest wraps a CertID DER (and optional singleRequestExtensions
// contents) into a Request SEQUENCE.
func oneRequest(certID, exts []byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(certID)
		if exts != nil {
			b.AddASN1(tag0, func(b *cryptobyte.Builder) { b.AddBytes(exts) })
		}
	})
	return b.BytesOrPanic()
}

type testExt struct {
	id       asn1.ObjectIdentifier
	critical bool
	value    []byte
}

// extsDER returns the DER of Extensions holding exts.
func extsDER(exts ...testExt) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, e := range exts {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(e.id)
				if e.critical {
					b.AddASN1Boolean(true)
				}
				b.AddASN1OctetString(e.value)
			})
		}
	})
	return b.BytesOrPanic()
}

func octetString(v []byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1OctetString(v)
	return b.BytesOrPanic()
}

func TestParseRequest(t *testing.T) {
	p := newTestPKI(t, suites[0])
	serial := p.leaf.SerialNumber
	sha1ID, err := NewCertID(SHA1, p.issuer, serial)
	if err != nil {
		t.Fatal(err)
	}
	sm3ID, err := NewCertID(SM3, p.issuer, serial)
	if err != nil {
		t.Fatal(err)
	}
	nonce16 := []byte("0123456789abcdef")
	good := certIDDER(t, oidSHA1, true, sha1ID.IssuerNameHash, sha1ID.IssuerKeyHash, serial)
	noNull := certIDDER(t, oidSHA256, false, make([]byte, 32), make([]byte, 32), big.NewInt(7))
	dnsName := append([]byte{0x82, 10}, "example.cn"...) // [2] IMPLICIT IA5String
	sig := func() []byte {
		var b cryptobyte.Builder
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(sigAlgs[1].oid)
			})
			b.AddASN1BitString([]byte{1, 2, 3})
			b.AddASN1(tag0, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddBytes(p.leaf.Raw) })
			})
		})
		return b.BytesOrPanic()
	}()
	mustCreate := func(ids []CertID, n *Nonce) []byte {
		der, err := CreateRequest(ids, n)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}

	type want struct {
		ids       int
		nonce     *Nonce
		name      bool
		signed    bool
		matchesCA bool
	}
	tests := []struct {
		name    string
		der     []byte
		want    want
		wantErr error
	}{
		{"ok/sha1", mustCreate([]CertID{sha1ID}, nil), want{ids: 1, matchesCA: true}, nil},
		{"ok/sm3", mustCreate([]CertID{sm3ID}, nil), want{ids: 1, matchesCA: true}, nil},
		{"ok/two-certids", mustCreate([]CertID{sha1ID, sm3ID}, nil), want{ids: 2, matchesCA: true}, nil},
		{"ok/nonce-rfc8954", mustCreate([]CertID{sha1ID}, &Nonce{Value: nonce16}), want{ids: 1, nonce: &Nonce{Value: nonce16}, matchesCA: true}, nil},
		{"ok/nonce-bare", mustCreate([]CertID{sha1ID}, &Nonce{Value: nonce16, Bare: true}), want{ids: 1, nonce: &Nonce{Value: nonce16, Bare: true}, matchesCA: true}, nil},
		{"ok/hash-params-absent", rawRequest{requests: [][]byte{oneRequest(noNull, nil)}}.der(t), want{ids: 1}, nil},
		{"ok/explicit-v1", rawRequest{version: []byte{2, 1, 0}, requests: [][]byte{oneRequest(good, nil)}}.der(t), want{ids: 1, matchesCA: true}, nil},
		{"ok/requestor-name-and-signature", rawRequest{requestorName: dnsName, requests: [][]byte{oneRequest(good, nil)}, signature: sig}.der(t),
			want{ids: 1, name: true, signed: true, matchesCA: true}, nil},
		{"ok/noncritical-unknown-extensions", rawRequest{
			requests:   [][]byte{oneRequest(good, extsDER(testExt{id: asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 7}, value: []byte{0x30, 0}}))},
			extensions: extsDER(testExt{id: asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 4}, value: []byte{0x30, 0}}, testExt{id: oidNonce, critical: true, value: octetString(nonce16)}),
		}.der(t), want{ids: 1, nonce: &Nonce{Value: nonce16}, matchesCA: true}, nil},

		{"fail/empty", nil, want{}, ErrMalformed},
		{"fail/not-der", []byte("GET /ocsp HTTP/1.1"), want{}, ErrMalformed},
		{"fail/trailing-data", rawRequest{requests: [][]byte{oneRequest(good, nil)}, trailing: []byte{0}}.der(t), want{}, ErrMalformed},
		{"fail/empty-request-list", rawRequest{}.der(t), want{}, ErrMalformed},
		{"fail/version-2", rawRequest{version: []byte{2, 1, 1}, requests: [][]byte{oneRequest(good, nil)}}.der(t), want{}, ErrMalformed},
		{"fail/md5-certid", rawRequest{requests: [][]byte{oneRequest(certIDDER(t, asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 5}, true, make([]byte, 16), make([]byte, 16), serial), nil)}}.der(t), want{}, ErrMalformed},
		{"fail/short-hash", rawRequest{requests: [][]byte{oneRequest(certIDDER(t, oidSHA256, true, make([]byte, 20), make([]byte, 20), serial), nil)}}.der(t), want{}, ErrMalformed},
		{"fail/critical-unknown-extension", rawRequest{requests: [][]byte{oneRequest(good, nil)},
			extensions: extsDER(testExt{id: asn1.ObjectIdentifier{1, 2, 3}, critical: true, value: []byte{5, 0}})}.der(t), want{}, ErrMalformed},
		{"fail/critical-unknown-single-extension", rawRequest{requests: [][]byte{oneRequest(good, extsDER(testExt{id: asn1.ObjectIdentifier{1, 2, 3}, critical: true, value: []byte{5, 0}}))}}.der(t), want{}, ErrMalformed},
		{"fail/duplicate-nonce", rawRequest{requests: [][]byte{oneRequest(good, nil)},
			extensions: extsDER(testExt{id: oidNonce, value: octetString(nonce16)}, testExt{id: oidNonce, value: octetString(nonce16)})}.der(t), want{}, ErrMalformed},
		{"fail/empty-nonce", rawRequest{requests: [][]byte{oneRequest(good, nil)}, extensions: extsDER(testExt{id: oidNonce})}.der(t), want{}, ErrMalformed},
		{"fail/bad-signature-structure", rawRequest{requests: [][]byte{oneRequest(good, nil)}, signature: []byte{0x30, 0}}.der(t), want{}, ErrMalformed},
		{"fail/requestor-name-universal", rawRequest{requestorName: []byte{0x04, 0}, requests: [][]byte{oneRequest(good, nil)}}.der(t), want{}, ErrMalformed},
		{"fail/non-minimal-length", append([]byte{0x30, 0x81, byte(len(good) + 4), 0x30, byte(len(good) + 2), 0x30, byte(len(good))}, good...), want{}, ErrMalformed},
		{"fail/too-large", append(make([]byte, MaxRequestSize), 0), want{}, ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := ParseRequest(tc.der)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("ParseRequest error = %v, want %v", err, tc.wantErr)
				}
				if req != nil {
					t.Fatal("ParseRequest returned a request with an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
			if len(req.CertIDs) != tc.want.ids {
				t.Fatalf("%d CertIDs, want %d", len(req.CertIDs), tc.want.ids)
			}
			for i, id := range req.CertIDs {
				if id.Matches(p.issuer) != tc.want.matchesCA {
					t.Errorf("CertID %d Matches(issuer) = %v, want %v", i, !tc.want.matchesCA, tc.want.matchesCA)
				}
				if tc.want.matchesCA && id.SerialNumber.Cmp(serial) != 0 {
					t.Errorf("CertID %d serial %x, want %x", i, id.SerialNumber, serial)
				}
			}
			if (req.Nonce == nil) != (tc.want.nonce == nil) ||
				req.Nonce != nil && (!bytes.Equal(req.Nonce.Value, tc.want.nonce.Value) || req.Nonce.Bare != tc.want.nonce.Bare) {
				t.Errorf("Nonce = %+v, want %+v", req.Nonce, tc.want.nonce)
			}
			if (req.RequestorName != nil) != tc.want.name || req.Signed != tc.want.signed {
				t.Errorf("RequestorName %x Signed %v, want name %v signed %v", req.RequestorName, req.Signed, tc.want.name, tc.want.signed)
			}
			if tc.want.name && !bytes.Equal(req.RequestorName, dnsName) {
				t.Errorf("RequestorName = %x, want %x", req.RequestorName, dnsName)
			}
			// The request does not alias its input.
			for i := range tc.der {
				tc.der[i] ^= 0xff
			}
			if tc.want.matchesCA && !req.CertIDs[0].Matches(p.issuer) {
				t.Error("CertID changed when the input buffer was overwritten")
			}
		})
	}
}

func TestCreateRequestErrors(t *testing.T) {
	p := newTestPKI(t, suites[1])
	id, err := NewCertID(SHA256, p.issuer, p.leaf.SerialNumber)
	if err != nil {
		t.Fatal(err)
	}
	short := id
	short.IssuerKeyHash = short.IssuerKeyHash[:20]
	noSerial := id
	noSerial.SerialNumber = nil
	tests := []struct {
		name  string
		ids   []CertID
		nonce *Nonce
	}{
		{"fail/no-certids", nil, nil},
		{"fail/short-key-hash", []CertID{short}, nil},
		{"fail/nil-serial", []CertID{noSerial}, nil},
		{"fail/unknown-hash", []CertID{{HashAlgorithm: 9, SerialNumber: big.NewInt(1)}}, nil},
		{"fail/empty-nonce", []CertID{id}, &Nonce{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			der, err := CreateRequest(tc.ids, tc.nonce)
			if !errors.Is(err, ErrInvalidInput) || der != nil {
				t.Fatalf("CreateRequest = %x, %v; want ErrInvalidInput", der, err)
			}
		})
	}
	if _, err := NewCertID(Hash(0), p.issuer, big.NewInt(1)); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("NewCertID with hash 0: %v, want ErrInvalidInput", err)
	}
	if _, err := NewCertID(SHA1, nil, big.NewInt(1)); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("NewCertID with nil issuer: %v, want ErrInvalidInput", err)
	}
	if _, err := NewCertID(SHA1, p.issuer, nil); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("NewCertID with nil serial: %v, want ErrInvalidInput", err)
	}
}

func TestCertIDMatches(t *testing.T) {
	for _, s := range suites {
		p := newTestPKI(t, s)
		for _, h := range []Hash{SHA1, SHA256, SM3} {
			id, err := NewCertID(h, p.issuer, p.leaf.SerialNumber)
			if err != nil {
				t.Fatal(err)
			}
			flipName, flipKey := id, id
			flipName.IssuerNameHash = bytes.Clone(id.IssuerNameHash)
			flipName.IssuerNameHash[0] ^= 1
			flipKey.IssuerKeyHash = bytes.Clone(id.IssuerKeyHash)
			flipKey.IssuerKeyHash[len(flipKey.IssuerKeyHash)-1] ^= 1
			otherHash := id
			otherHash.HashAlgorithm = map[Hash]Hash{SHA1: SHA256, SHA256: SM3, SM3: SHA256}[h]
			tests := []struct {
				name   string
				id     *CertID
				issuer bool // p.issuer, else p.other
				want   bool
			}{
				{"ok/issuer", &id, true, true},
				{"fail/other-ca", &id, false, false},
				{"fail/name-hash", &flipName, true, false},
				{"fail/key-hash", &flipKey, true, false},
				{"fail/hash-algorithm", &otherHash, true, false},
				{"fail/nil-certid", nil, true, false},
			}
			for _, tc := range tests {
				t.Run(s.String()+"/"+h.String()+"/"+tc.name, func(t *testing.T) {
					iss := p.issuer
					if !tc.issuer {
						iss = p.other
					}
					if got := tc.id.Matches(iss); got != tc.want {
						t.Fatalf("Matches = %v, want %v", got, tc.want)
					}
				})
			}
		}
		if new(CertID).Matches(nil) {
			t.Error("Matches(nil) = true")
		}
	}
}

func TestParseGETPath(t *testing.T) {
	p := newTestPKI(t, suites[1])
	id, err := NewCertID(SHA1, p.issuer, p.leaf.SerialNumber)
	if err != nil {
		t.Fatal(err)
	}
	// Find a request whose base64 contains '+' and '/', by varying the nonce.
	var der []byte
	var b64 string
	for i := 0; i < 1000 && !(strings.Contains(b64, "+") && strings.Contains(b64, "/") && strings.HasSuffix(b64, "=")); i++ {
		der, err = CreateRequest([]CertID{id}, &Nonce{Value: []byte{byte(i), byte(i >> 8), 0xfb, 0xff, 0xbf}})
		if err != nil {
			t.Fatal(err)
		}
		b64 = base64.StdEncoding.EncodeToString(der)
	}
	if !strings.Contains(b64, "+") || !strings.Contains(b64, "/") || !strings.HasSuffix(b64, "=") {
		t.Fatalf("no request found whose base64 has '+', '/' and '=': %s", b64)
	}
	lower := strings.NewReplacer("%2F", "%2f", "%2B", "%2b", "%3D", "%3d").Replace(url.PathEscape(b64))
	tests := []struct {
		name    string
		path    string
		wantErr error
	}{
		{"ok/plain", b64, nil},
		{"ok/leading-slashes", "//" + b64, nil},
		{"ok/path-escaped", url.PathEscape(b64), nil},
		{"ok/query-escaped", url.QueryEscape(b64), nil},
		{"ok/lower-case-escapes", lower, nil},
		{"ok/escaped-twice", url.PathEscape(url.QueryEscape(b64)), nil},
		{"ok/plus-as-space", strings.ReplaceAll(b64, "+", " "), nil},
		{"ok/url-safe-alphabet", base64.URLEncoding.EncodeToString(der), nil},
		{"ok/no-padding", base64.RawStdEncoding.EncodeToString(der), nil},
		{"fail/empty", "", ErrMalformed},
		{"fail/only-slashes", "///", ErrMalformed},
		{"fail/bad-escape", "%zz" + b64, ErrMalformed},
		{"fail/not-base64", "MEIw*AAA", ErrMalformed},
		{"fail/not-a-sequence", "_0", ErrMalformed}, // "/0": 0xff
		{"fail/only-padding", "====", ErrMalformed},
		{"fail/too-long", strings.Repeat("A", maxGETPath+1), ErrTooLarge},
		{"fail/decodes-too-large", base64.StdEncoding.EncodeToString(make([]byte, MaxRequestSize+1)), ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseGETPath(tc.path)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("ParseGETPath error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseGETPath(%q): %v", tc.path, err)
			}
			if !bytes.Equal(got, der) {
				t.Fatalf("ParseGETPath(%q) = %x, want %x", tc.path, got, der)
			}
			if _, err := ParseRequest(got); err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
		})
	}
}
