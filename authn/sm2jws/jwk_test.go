package sm2jws_test

import (
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/emmansun/gmsm/sm2"

	"github.com/tongxing/tongxing/authn/sm2jws"
)

func TestNewJWK(t *testing.T) {
	k := newTestKey(t, "k1")
	p256 := mustP256(t)
	tests := []struct {
		name    string
		pub     *ecdsa.PublicKey
		kid     string
		wantErr error
	}{
		{name: "ok/sm2", pub: k.pub, kid: "k1"},
		{name: "fail/empty-kid", pub: k.pub, kid: "", wantErr: sm2jws.ErrInvalidKey},
		{name: "fail/nil", pub: nil, kid: "k1", wantErr: sm2jws.ErrInvalidKey},
		{name: "fail/p256", pub: &p256.PublicKey, kid: "k1", wantErr: sm2jws.ErrInvalidKey},
		{name: "fail/off-curve", pub: &ecdsa.PublicKey{Curve: sm2.P256(), X: k.pub.X, Y: new(big.Int).Add(k.pub.Y, big.NewInt(1))}, kid: "k1", wantErr: sm2jws.ErrInvalidKey},
		{name: "fail/sm2-params-not-sm2-curve", pub: &ecdsa.PublicKey{Curve: sm2.P256().Params(), X: k.pub.X, Y: k.pub.Y}, kid: "k1", wantErr: sm2jws.ErrInvalidKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			jwk, err := sm2jws.NewJWK(tc.pub, tc.kid)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			raw, err := json.Marshal(jwk)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]string
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"kty": "EC", "crv": "SM2", "kid": "k1", "alg": "SM2", "use": "sig",
				"x": b64.EncodeToString(tc.pub.X.FillBytes(make([]byte, 32))),
				"y": b64.EncodeToString(tc.pub.Y.FillBytes(make([]byte, 32)))}
			if fmt.Sprint(m) != fmt.Sprint(want) {
				t.Fatalf("JWK = %s\nwant %v", raw, want)
			}
			got, err := jwk.PublicKey()
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tc.pub) {
				t.Fatal("PublicKey does not round-trip")
			}
		})
	}
}

// TestNewJWKSmallCoordinate checks left-padding of a coordinate below 2^248.
func TestNewJWKSmallCoordinate(t *testing.T) {
	for i := 0; ; i++ {
		k := newTestKey(t, "k")
		if k.pub.X.BitLen() > 248 && k.pub.Y.BitLen() > 248 {
			if i > 5000 {
				t.Fatal("no key with a short coordinate in 5000 tries")
			}
			continue
		}
		if len(k.jwk.X) != 43 || len(k.jwk.Y) != 43 {
			t.Fatalf("coordinates encoded as %d and %d chars, want 43", len(k.jwk.X), len(k.jwk.Y))
		}
		got, err := k.jwk.PublicKey()
		if err != nil || !got.Equal(k.pub) {
			t.Fatalf("PublicKey: %v", err)
		}
		return
	}
}

func TestJWKPublicKey(t *testing.T) {
	k := newTestKey(t, "k1")
	good := k.jwk
	p256 := mustP256(t)
	mod := func(f func(*sm2jws.JWK)) sm2jws.JWK { j := good; f(&j); return j }
	short := b64.EncodeToString(k.pub.X.Bytes()[1:])
	long := b64.EncodeToString(append([]byte{0}, k.pub.X.FillBytes(make([]byte, 32))...))
	p := sm2.P256().Params().P
	xPlusP := new(big.Int).Add(k.pub.X, p)

	tests := []struct {
		name    string
		jwk     sm2jws.JWK
		wantErr error
	}{
		{name: "ok/full", jwk: good},
		{name: "ok/no-alg-no-use", jwk: mod(func(j *sm2jws.JWK) { j.Alg, j.Use = "", "" })},
		{name: "fail/kty-okp", jwk: mod(func(j *sm2jws.JWK) { j.Kty = "OKP" }), wantErr: sm2jws.ErrInvalidKey},
		{name: "fail/crv-p256", jwk: mod(func(j *sm2jws.JWK) { j.Crv = "P-256" }), wantErr: sm2jws.ErrInvalidKey},
		{name: "fail/crv-case", jwk: mod(func(j *sm2jws.JWK) { j.Crv = "sm2" }), wantErr: sm2jws.ErrInvalidKey},
		{name: "fail/alg-es256", jwk: mod(func(j *sm2jws.JWK) { j.Alg = "ES256" }), wantErr: sm2jws.ErrAlgorithm},
		{name: "fail/use-enc", jwk: mod(func(j *sm2jws.JWK) { j.Use = "enc" }), wantErr: sm2jws.ErrInvalidKey},
		{name: "fail/x-31-bytes", jwk: mod(func(j *sm2jws.JWK) { j.X = short }), wantErr: sm2jws.ErrInvalidKey},
		{name: "fail/x-33-bytes", jwk: mod(func(j *sm2jws.JWK) { j.X = long }), wantErr: sm2jws.ErrInvalidKey},
		{name: "fail/x-padded", jwk: mod(func(j *sm2jws.JWK) { j.X += "=" }), wantErr: sm2jws.ErrInvalidKey},
		{name: "fail/x-std-alphabet", jwk: mod(func(j *sm2jws.JWK) { j.X = "+" + j.X[1:] }), wantErr: sm2jws.ErrInvalidKey},
		{name: "fail/x-trailing-bits", jwk: mod(func(j *sm2jws.JWK) { j.X = j.X[:42] + flipLow(j.X[42]) }), wantErr: sm2jws.ErrInvalidKey},
		{name: "fail/y-missing", jwk: mod(func(j *sm2jws.JWK) { j.Y = "" }), wantErr: sm2jws.ErrInvalidKey},
		{name: "fail/not-on-curve", jwk: mod(func(j *sm2jws.JWK) { j.Y = j.X }), wantErr: sm2jws.ErrInvalidKey},
		{name: "fail/p256-point", jwk: mod(func(j *sm2jws.JWK) {
			j.X = b64.EncodeToString(p256.X.FillBytes(make([]byte, 32)))
			j.Y = b64.EncodeToString(p256.Y.FillBytes(make([]byte, 32)))
		}), wantErr: sm2jws.ErrInvalidKey},
		{name: "fail/x-not-reduced", jwk: mod(func(j *sm2jws.JWK) {
			if xPlusP.BitLen() <= 256 {
				j.X = b64.EncodeToString(xPlusP.FillBytes(make([]byte, 32)))
			} else {
				j.X = b64.EncodeToString(p.FillBytes(make([]byte, 32)))
			}
		}), wantErr: sm2jws.ErrInvalidKey},
		{name: "fail/zero-point", jwk: mod(func(j *sm2jws.JWK) {
			j.X = b64.EncodeToString(make([]byte, 32))
			j.Y = j.X
		}), wantErr: sm2jws.ErrInvalidKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pub, err := tc.jwk.PublicKey()
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if !pub.Equal(k.pub) || pub.Curve != sm2.P256() {
					t.Fatal("wrong key")
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

// flipLow changes a final base64url character so that its unused low bits
// are non-zero (43 chars encode 258 bits for 256).
func flipLow(c byte) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, c)
	return string(alphabet[i^1])
}

func TestParseJWKSet(t *testing.T) {
	k1 := newTestKey(t, "k1")
	k2 := newTestKey(t, "k2")
	p256 := mustP256(t)
	ecJWK := fmt.Sprintf(`{"kty":"EC","crv":"P-256","kid":"p","x":%q,"y":%q}`,
		b64.EncodeToString(p256.X.FillBytes(make([]byte, 32))), b64.EncodeToString(p256.Y.FillBytes(make([]byte, 32))))
	rsaJWK := `{"kty":"RSA","kid":"r","n":"AQAB","e":"AQAB"}`
	js := func(j sm2jws.JWK) string { b, _ := json.Marshal(j); return string(b) }
	bad := k2.jwk
	bad.Y = bad.X
	noKid := k2.jwk
	noKid.Kid = ""
	enc := k2.jwk
	enc.Use = "enc"
	future := k2.jwk
	future.Alg = "SM2-FUTURE"

	tests := []struct {
		name     string
		doc      string
		wantKids []string
		wantErr  error
	}{
		{name: "ok/two-keys", doc: `{"keys":[` + js(k1.jwk) + "," + js(k2.jwk) + `]}`, wantKids: []string{"k1", "k2"}},
		{name: "ok/empty", doc: `{"keys":[]}`, wantKids: nil},
		{name: "ok/other-kty-ignored", doc: `{"keys":[` + rsaJWK + "," + ecJWK + "," + js(k1.jwk) + `]}`, wantKids: []string{"k1"}},
		{name: "ok/enc-and-other-alg-ignored", doc: `{"keys":[` + js(enc) + "," + js(future) + "," + js(k1.jwk) + `]}`, wantKids: []string{"k1"}},
		{name: "ok/extra-members", doc: `{"keys":[{"kty":"EC","crv":"SM2","x":"` + k1.jwk.X + `","y":"` + k1.jwk.Y + `","kid":"k1","key_ops":["verify"],"x5c":[]}],"extra":1}`, wantKids: []string{"k1"}},
		{name: "ok/uppercase-member-is-not-kty", doc: `{"keys":[{"KTY":"EC","CRV":"SM2","x":"` + k1.jwk.X + `","y":"` + k1.jwk.Y + `","kid":"k1"}]}`, wantKids: nil},
		{name: "fail/invalid-sm2-key", doc: `{"keys":[` + js(k1.jwk) + "," + js(bad) + `]}`, wantErr: sm2jws.ErrMalformedJWKSet},
		{name: "fail/sm2-key-without-kid", doc: `{"keys":[` + js(noKid) + `]}`, wantErr: sm2jws.ErrMalformedJWKSet},
		{name: "fail/duplicate-kid", doc: `{"keys":[` + js(k1.jwk) + "," + js(k1.jwk) + `]}`, wantErr: sm2jws.ErrMalformedJWKSet},
		{name: "fail/no-keys-member", doc: `{}`, wantErr: sm2jws.ErrMalformedJWKSet},
		{name: "fail/keys-null", doc: `{"keys":null}`, wantErr: sm2jws.ErrMalformedJWKSet},
		{name: "fail/keys-object", doc: `{"keys":{}}`, wantErr: sm2jws.ErrMalformedJWKSet},
		{name: "fail/key-not-object", doc: `{"keys":[1]}`, wantErr: sm2jws.ErrMalformedJWKSet},
		{name: "fail/key-null", doc: `{"keys":[null]}`, wantErr: sm2jws.ErrMalformedJWKSet},
		{name: "fail/kid-not-string", doc: `{"keys":[{"kty":"EC","crv":"SM2","kid":7}]}`, wantErr: sm2jws.ErrMalformedJWKSet},
		{name: "fail/array", doc: `[]`, wantErr: sm2jws.ErrMalformedJWKSet},
		{name: "fail/not-json", doc: `{"keys":[`, wantErr: sm2jws.ErrMalformedJWKSet},
		{name: "fail/trailing-data", doc: `{"keys":[]} {}`, wantErr: sm2jws.ErrMalformedJWKSet},
		{name: "fail/too-large", doc: `{"keys":[],"pad":"` + strings.Repeat("a", sm2jws.MaxJWKSetSize) + `"}`, wantErr: sm2jws.ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set, err := sm2jws.ParseJWKSet([]byte(tc.doc))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var kids []string
			for _, k := range set.Keys {
				kids = append(kids, k.Kid)
			}
			if fmt.Sprint(kids) != fmt.Sprint(tc.wantKids) {
				t.Fatalf("kids = %v, want %v", kids, tc.wantKids)
			}
		})
	}
}

// TestJWKSetMarshal checks that a marshalled JWKSet parses back unchanged.
func TestJWKSetMarshal(t *testing.T) {
	k1 := newTestKey(t, "k1")
	k2 := newTestKey(t, "k2")
	set := sm2jws.JWKSet{Keys: []sm2jws.JWK{k1.jwk, k2.jwk}}
	raw, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	got, err := sm2jws.ParseJWKSet(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Keys) != 2 || got.Keys[0] != k1.jwk || got.Keys[1] != k2.jwk {
		t.Fatalf("round trip = %+v", got)
	}
}
