package sm2jws_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tongxing/tongxing/authn/sm2jws"
)

// opaqueSigner hides the concrete key type, like a KMS or PKCS#11 signer.
type opaqueSigner struct{ k *sm2.PrivateKey }

func (o opaqueSigner) Public() crypto.PublicKey { return &o.k.PublicKey }
func (o opaqueSigner) Sign(r io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	return o.k.Sign(r, msg, opts)
}

// digestSigner ignores the SM2 signer options: it signs SM3(msg) without Z,
// the mistake a generic ECDSA-style signer makes.
type digestSigner struct{ k *sm2.PrivateKey }

func (d digestSigner) Public() crypto.PublicKey { return &d.k.PublicKey }
func (d digestSigner) Sign(r io.Reader, msg []byte, _ crypto.SignerOpts) ([]byte, error) {
	h := sm3.Sum(msg)
	return sm2.SignASN1(r, d.k, h[:], nil)
}

func TestSignVerify(t *testing.T) {
	k := newTestKey(t, "k1")
	other := newTestKey(t, "k2")
	ecPriv := &k.priv.PrivateKey
	const input = "eyJhbGciOiJTTTIifQ.eyJzdWIiOiJ4In0"

	tests := []struct {
		name    string
		signKey any
		verKey  any
		input   string // verified input; defaults to the signed one
		wantErr error
	}{
		{name: "ok/sm2-private-key", signKey: k.priv, verKey: k.pub},
		{name: "ok/ecdsa-private-key-on-sm2", signKey: ecPriv, verKey: k.pub},
		{name: "ok/opaque-crypto-signer", signKey: opaqueSigner{k.priv}, verKey: k.pub},
		{name: "fail/wrong-key", signKey: k.priv, verKey: other.pub, wantErr: sm2jws.ErrInvalidSignature},
		{name: "fail/tampered-input", signKey: k.priv, verKey: k.pub, input: input + "x", wantErr: sm2jws.ErrInvalidSignature},
		{name: "fail/signer-ignores-sm2-opts", signKey: digestSigner{k.priv}, wantErr: sm2jws.ErrInvalidSignature},
		{name: "fail/p256-private-key", signKey: mustP256(t), wantErr: sm2jws.ErrInvalidKey},
		{name: "fail/hmac-secret", signKey: []byte("secret"), wantErr: sm2jws.ErrInvalidKey},
		{name: "fail/nil-sm2-key", signKey: (*sm2.PrivateKey)(nil), wantErr: sm2jws.ErrInvalidKey},
		{name: "fail/verify-with-p256-key", signKey: k.priv, verKey: &mustP256(t).PublicKey, wantErr: sm2jws.ErrInvalidKey},
		{name: "fail/verify-with-private-key", signKey: k.priv, verKey: k.priv, wantErr: sm2jws.ErrInvalidKey},
		{name: "fail/verify-with-off-curve-key", signKey: k.priv, verKey: &ecdsa.PublicKey{Curve: sm2.P256(), X: big.NewInt(1), Y: big.NewInt(1)}, wantErr: sm2jws.ErrInvalidKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sig, err := sm2jws.SigningMethodSM2.Sign(input, tc.signKey)
			if tc.verKey == nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Sign error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if len(sig) != sm2jws.SignatureSize {
				t.Fatalf("signature is %d bytes, want %d", len(sig), sm2jws.SignatureSize)
			}
			in := input
			if tc.input != "" {
				in = tc.input
			}
			err = sm2jws.SigningMethodSM2.Verify(in, sig, tc.verKey)
			if tc.wantErr == nil && err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("Verify error = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func mustP256(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestSignatureEncoding checks the r || s form: always 64 bytes, r and s each
// a left-padded 32-byte big-endian integer, and the same r, s as the DER form
// the library verifies.
func TestSignatureEncoding(t *testing.T) {
	k := newTestKey(t, "k1")
	for i := range 50 {
		input := "h." + strings.Repeat("a", i)
		sig, err := sm2jws.SigningMethodSM2.Sign(input, k.priv)
		if err != nil {
			t.Fatal(err)
		}
		if len(sig) != 64 {
			t.Fatalf("signature %d is %d bytes", i, len(sig))
		}
		r := new(big.Int).SetBytes(sig[:32])
		s := new(big.Int).SetBytes(sig[32:])
		digest, err := sm2.CalculateSM2Hash(k.pub, []byte(input), []byte("1234567812345678"))
		if err != nil {
			t.Fatal(err)
		}
		if !sm2.Verify(k.pub, digest, r, s) { //nolint:staticcheck // r, s form is the point here
			t.Fatalf("signature %d: r, s do not verify as SM2 over SM3(Z || input) with the default ID", i)
		}
	}
}

// TestSignatureValues covers r || s values that must be rejected before any
// curve arithmetic, and shows that SM2 has no low-s rule.
func TestSignatureValues(t *testing.T) {
	k := newTestKey(t, "k1")
	const input = "header.payload"
	n := order()
	// Sign until s > n/2 ("high s" in ECDSA terms) to show it is valid in SM2.
	var highS []byte
	for highS == nil {
		sig, err := sm2jws.SigningMethodSM2.Sign(input, k.priv)
		if err != nil {
			t.Fatal(err)
		}
		if new(big.Int).SetBytes(sig[32:]).Cmp(new(big.Int).Rsh(n, 1)) > 0 {
			highS = sig
		}
	}
	r := new(big.Int).SetBytes(highS[:32])
	s := new(big.Int).SetBytes(highS[32:])
	allOnes := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	der, err := k.priv.Sign(rand.Reader, []byte(input), sm2.DefaultSM2SignerOpts)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		sig  []byte
		ok   bool
	}{
		{name: "ok/s-above-half-n", sig: highS, ok: true},
		{name: "fail/malleated-n-minus-s", sig: rs(r, new(big.Int).Sub(n, s))},
		{name: "fail/malleated-n-minus-r", sig: rs(new(big.Int).Sub(n, r), s)},
		{name: "fail/r-zero", sig: rs(big.NewInt(0), s)},
		{name: "fail/s-zero", sig: rs(r, big.NewInt(0))},
		{name: "fail/all-zero", sig: make([]byte, 64)},
		{name: "fail/r-equals-n", sig: rs(n, s)},
		{name: "fail/s-equals-n", sig: rs(r, n)},
		{name: "fail/s-above-n", sig: rs(r, allOnes)},
		{name: "fail/r-above-n", sig: rs(allOnes, s)},
		{name: "fail/63-bytes", sig: highS[1:]},
		{name: "fail/65-bytes", sig: append([]byte{0}, highS...)},
		{name: "fail/empty", sig: nil},
		{name: "fail/asn1-der", sig: der},
		{name: "fail/s-r-swapped", sig: rs(s, r)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := sm2jws.SigningMethodSM2.Verify(input, tc.sig, k.pub)
			if tc.ok && err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !tc.ok && !errors.Is(err, sm2jws.ErrInvalidSignature) {
				t.Fatalf("Verify error = %v, want ErrInvalidSignature", err)
			}
		})
	}
}

// TestGolangJWT mints with golang-jwt and verifies with golang-jwt's parser
// plumbing that needs no registration (the method is given to Verify directly)
// and with ParseWithClaims.
func TestGolangJWT(t *testing.T) {
	if m := jwt.GetSigningMethod(sm2jws.Alg); m != nil {
		t.Fatalf("SM2 is registered in golang-jwt in this process; the tests below must not depend on it")
	}
	k := newTestKey(t, "k1")
	other := newTestKey(t, "k2")
	keys, err := sm2jws.NewStaticKeySet(k.jwk)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	good := mint(t, k, "k1", claimsFor("https://idp", "portal", "u1", now.Add(time.Hour).Unix()))
	if alg := mustHeader(t, good)["alg"]; alg != "SM2" {
		t.Fatalf("minted alg = %v", alg)
	}
	expired := mint(t, k, "k1", claimsFor("https://idp", "portal", "u1", now.Add(-time.Hour).Unix()))
	otherKey := mint(t, other, "k1", claimsFor("https://idp", "portal", "u1", now.Add(time.Hour).Unix()))

	tests := []struct {
		name    string
		token   string
		opts    []jwt.ParserOption
		wantErr error
	}{
		{name: "ok/valid", token: good, opts: []jwt.ParserOption{jwt.WithAudience("portal"), jwt.WithIssuer("https://idp"), jwt.WithExpirationRequired()}},
		{name: "fail/expired", token: expired, wantErr: jwt.ErrTokenExpired},
		{name: "fail/wrong-audience", token: good, opts: []jwt.ParserOption{jwt.WithAudience("other")}, wantErr: jwt.ErrTokenInvalidAudience},
		{name: "fail/wrong-key", token: otherKey, wantErr: sm2jws.ErrInvalidSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var claims jwt.RegisteredClaims
			err := sm2jws.ParseWithClaims(t.Context(), keys, tc.token, &claims, tc.opts...)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("ParseWithClaims: %v", err)
				}
				if claims.Subject != "u1" {
					t.Fatalf("sub = %q", claims.Subject)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func mustHeader(t *testing.T, tok string) map[string]any {
	t.Helper()
	var p jwt.Parser
	var h map[string]any
	hs, _, _ := parts(t, tok)
	raw, err := p.DecodeSegment(hs)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestRegister runs in a child process because registration changes
// golang-jwt's process-wide table and every other test must work without it.
func TestRegister(t *testing.T) {
	if os.Getenv("SM2JWS_REGISTER_CHILD") == "1" {
		registerChild(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRegister$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "SM2JWS_REGISTER_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child process failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestRegister") {
		t.Fatalf("child process did not run TestRegister:\n%s", out)
	}
}

func registerChild(t *testing.T) {
	k := newTestKey(t, "k1")
	other := newTestKey(t, "k2")
	tok := mint(t, k, "k1", claimsFor("https://idp", "portal", "u1", time.Now().Add(time.Hour).Unix()))
	keyfunc := func(*jwt.Token) (any, error) { return k.pub, nil }
	opts := []jwt.ParserOption{jwt.WithValidMethods([]string{"SM2"}), jwt.WithAudience("portal")}

	if _, err := jwt.Parse(tok, keyfunc, opts...); !errors.Is(err, jwt.ErrTokenUnverifiable) {
		t.Fatalf("before Register: jwt.Parse error = %v, want ErrTokenUnverifiable", err)
	}
	sm2jws.Register()
	sm2jws.Register() // idempotent

	tests := []struct {
		name    string
		token   string
		keyfunc jwt.Keyfunc
		opts    []jwt.ParserOption
		wantErr error
	}{
		{name: "ok/registered", token: tok, keyfunc: keyfunc, opts: opts},
		{name: "fail/wrong-key", token: tok, keyfunc: func(*jwt.Token) (any, error) { return other.pub, nil }, opts: opts, wantErr: jwt.ErrTokenSignatureInvalid},
		{name: "fail/method-not-allowed", token: tok, keyfunc: keyfunc, opts: []jwt.ParserOption{jwt.WithValidMethods([]string{"ES256"})}, wantErr: jwt.ErrTokenSignatureInvalid},
		{name: "fail/es256-header-with-sm2-signature", token: signRaw(t, k, map[string]any{"alg": "ES256", "kid": "k1"}, []byte(`{"sub":"u1"}`)), keyfunc: keyfunc, opts: []jwt.ParserOption{jwt.WithValidMethods([]string{"SM2"})}, wantErr: jwt.ErrTokenSignatureInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parsed, err := jwt.Parse(tc.token, tc.keyfunc, tc.opts...)
			if tc.wantErr == nil {
				if err != nil || !parsed.Valid {
					t.Fatalf("jwt.Parse: %v", err)
				}
				if parsed.Method.Alg() != "SM2" {
					t.Fatalf("method = %s", parsed.Method.Alg())
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
		})
	}
}
