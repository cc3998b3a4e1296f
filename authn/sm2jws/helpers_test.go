package sm2jws_test

import (
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"testing"

	"github.com/emmansun/gmsm/sm2"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tongxing/tongxing/authn/sm2jws"
)

var b64 = base64.RawURLEncoding

// testKey is an SM2 key pair with its JWK.
type testKey struct {
	priv *sm2.PrivateKey
	pub  *ecdsa.PublicKey
	jwk  sm2jws.JWK
}

func newTestKey(t testing.TB, kid string) testKey {
	t.Helper()
	priv, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("sm2.GenerateKey: %v", err)
	}
	jwk, err := sm2jws.NewJWK(&priv.PublicKey, kid)
	if err != nil {
		t.Fatalf("NewJWK: %v", err)
	}
	return testKey{priv: priv, pub: &priv.PublicKey, jwk: jwk}
}

// mint signs claims with k through golang-jwt and SigningMethodSM2, with the
// kid header set to kid.
func mint(t testing.TB, k testKey, kid string, claims jwt.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(sm2jws.SigningMethodSM2, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatalf("SignedString: %v", err)
	}
	return s
}

// signRaw builds a compact JWS with the given header and payload, signed with
// SigningMethodSM2 by k regardless of what the header says.
func signRaw(t testing.TB, k testKey, header map[string]any, payload []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(payload)
	sig, err := sm2jws.SigningMethodSM2.Sign(input, k.priv)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return input + "." + b64.EncodeToString(sig)
}

// parts splits a compact JWS into its three segments.
func parts(t testing.TB, tok string) (h, p, s string) {
	t.Helper()
	ps := strings.Split(tok, ".")
	if len(ps) != 3 {
		t.Fatalf("token has %d parts", len(ps))
	}
	return ps[0], ps[1], ps[2]
}

// withSig replaces the signature of tok by sig.
func withSig(t testing.TB, tok string, sig []byte) string {
	h, p, _ := parts(t, tok)
	return h + "." + p + "." + b64.EncodeToString(sig)
}

// sigOf returns the decoded signature of tok.
func sigOf(t testing.TB, tok string) []byte {
	_, _, s := parts(t, tok)
	sig, err := b64.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// order is n, the order of the SM2 curve.
func order() *big.Int { return sm2.P256().Params().N }

// rs builds a 64-byte r || s from two integers that fit in 32 bytes.
func rs(r, s *big.Int) []byte {
	b := make([]byte, 64)
	r.FillBytes(b[:32])
	s.FillBytes(b[32:])
	return b
}

func claimsFor(iss, aud, sub string, exp int64) jwt.MapClaims {
	return jwt.MapClaims{"iss": iss, "aud": aud, "sub": sub, "exp": exp}
}
