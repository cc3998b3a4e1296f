package sm2jws_test

import (
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	tjsm2 "github.com/tjfoc/gmsm/sm2"

	"github.com/tongxing/tongxing/authn/sm2jws"
)

// These tests check the wire form against github.com/tjfoc/gmsm, an SM2
// implementation independent of the one this package uses.

var tjUID = []byte("1234567812345678")

func toTjfoc(pub *ecdsa.PublicKey) *tjsm2.PublicKey {
	return &tjsm2.PublicKey{Curve: tjsm2.P256Sm2(), X: pub.X, Y: pub.Y}
}

func fromTjfoc(pub *tjsm2.PublicKey) *ecdsa.PublicKey {
	return &ecdsa.PublicKey{Curve: sm2.P256(), X: pub.X, Y: pub.Y}
}

// TestInteropTjfocVerifiesOurs: tjfoc verifies tokens minted by
// SigningMethodSM2, both as (r, s) with the explicit default ID and as the DER
// that tjfoc's PublicKey.Verify takes (default ID implied).
func TestInteropTjfocVerifiesOurs(t *testing.T) {
	k := newTestKey(t, "k1")
	tjPub := toTjfoc(k.pub)
	tok := mint(t, k, "k1", claimsFor("https://idp", "portal", "u1", time.Now().Add(time.Hour).Unix()))
	h, p, _ := parts(t, tok)
	input := []byte(h + "." + p)
	sig := sigOf(t, tok)
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:])
	der, err := asn1.Marshal(struct{ R, S *big.Int }{r, s})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		verify func() bool
		want   bool
	}{
		{name: "ok/sm2verify-rs-default-uid", verify: func() bool { return tjsm2.Sm2Verify(tjPub, input, tjUID, r, s) }, want: true},
		{name: "ok/publickey-verify-der", verify: func() bool { return tjPub.Verify(input, der) }, want: true},
		{name: "fail/other-uid", verify: func() bool { return tjsm2.Sm2Verify(tjPub, input, []byte("ALICE123@YAHOO.COM"), r, s) }},
		{name: "fail/tampered-input", verify: func() bool { return tjsm2.Sm2Verify(tjPub, append(input, 'x'), tjUID, r, s) }},
		{name: "fail/s-r-swapped", verify: func() bool { return tjsm2.Sm2Verify(tjPub, input, tjUID, s, r) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.verify(); got != tc.want {
				t.Fatalf("tjfoc verification = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestInteropOursVerifiesTjfoc: a JWS signed entirely by tjfoc (r, s over the
// signing input with the default ID, encoded r || s) verifies with
// SigningMethodSM2 and through a StaticKeySet.
func TestInteropOursVerifiesTjfoc(t *testing.T) {
	tjPriv, err := tjsm2.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub := fromTjfoc(&tjPriv.PublicKey)
	jwk, err := sm2jws.NewJWK(pub, "tj")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := sm2jws.NewStaticKeySet(jwk)
	if err != nil {
		t.Fatal(err)
	}
	other := newTestKey(t, "other")
	payload := []byte(`{"iss":"https://idp","sub":"u1"}`)
	input := b64.EncodeToString([]byte(`{"alg":"SM2","kid":"tj"}`)) + "." + b64.EncodeToString(payload)
	r, s, err := tjsm2.Sm2Sign(tjPriv, []byte(input), tjUID, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sig := rs(r, s)
	// tjfoc's PrivateKey.Sign (DER, default ID) converted to r || s.
	der, err := tjPriv.Sign(rand.Reader, []byte(input), nil)
	if err != nil {
		t.Fatal(err)
	}
	var parsed struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(der, &parsed); err != nil {
		t.Fatal(err)
	}
	sigFromDER := rs(parsed.R, parsed.S)
	otherUIDr, otherUIDs, err := tjsm2.Sm2Sign(tjPriv, []byte(input), []byte("ALICE123@YAHOO.COM"), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		sig  []byte
		key  *ecdsa.PublicKey
		ok   bool
	}{
		{name: "ok/sm2sign-rs", sig: sig, key: pub, ok: true},
		{name: "ok/sign-der-converted", sig: sigFromDER, key: pub, ok: true},
		{name: "fail/other-uid", sig: rs(otherUIDr, otherUIDs), key: pub},
		{name: "fail/wrong-key", sig: sig, key: other.pub},
		{name: "fail/der-not-converted", sig: der, key: pub},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := sm2jws.SigningMethodSM2.Verify(input, tc.sig, tc.key)
			if tc.ok != (err == nil) {
				t.Fatalf("Verify = %v, want ok=%v", err, tc.ok)
			}
			if tc.key != pub {
				return
			}
			got, err := keys.VerifySignature(t.Context(), input+"."+b64.EncodeToString(tc.sig))
			if tc.ok != (err == nil) {
				t.Fatalf("VerifySignature = %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && string(got) != string(payload) {
				t.Fatalf("payload = %q", got)
			}
		})
	}
}
