package authn

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tongxing/tongxing/authn/sm2jws"
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/kms/softkms"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// keySets returns the kids of the standard and the SM2 key sets, parsed
// with go-jose and sm2jws respectively.
func keySets(t *testing.T, p *Provider) (std map[string]string, sm2 []string) {
	t.Helper()
	raw, err := p.keys.jwks(t.Context(), AlgRS256, AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatalf("go-jose rejects jwks_uri: %v", err)
	}
	std = map[string]string{}
	for _, k := range set.Keys {
		if k.KeyID == "" || k.Use != "sig" || !k.IsPublic() || !k.Valid() {
			t.Errorf("bad JWK %+v", k)
		}
		std[k.KeyID] = k.Algorithm
	}
	raw, err = p.keys.jwks(t.Context(), AlgSM2)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sm2jws.ParseJWKSet(raw)
	if err != nil {
		t.Fatalf("SM2 key set: %v", err)
	}
	for _, k := range s.Keys {
		sm2 = append(sm2, k.Kid)
	}
	return std, sm2
}

func currentKid(t *testing.T, p *Provider, alg string) string {
	t.Helper()
	k, _, err := p.keys.current(t.Context(), alg)
	if err != nil {
		t.Fatal(err)
	}
	return k.kid
}

func signTest(t *testing.T, p *Provider, alg string) string {
	t.Helper()
	tok, err := p.keys.sign(t.Context(), alg, "JWT", jwt.RegisteredClaims{Issuer: p.issuer, Subject: "s", Audience: jwt.ClaimStrings{"c"}})
	if err != nil {
		t.Fatalf("sign %s: %v", alg, err)
	}
	return tok
}

func TestKeyRotation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clk := newClock()
		p := newTestProvider(t, db, clk)
		std, sm2 := keySets(t, p)
		if len(std) != 4 || len(sm2) != 2 {
			t.Fatalf("initial key sets: %d standard, %d SM2; want 4 and 2 (current and next)", len(std), len(sm2))
		}
		for _, kid := range sm2 {
			if _, ok := std[kid]; ok {
				t.Errorf("SM2 key %s is in jwks_uri", kid)
			}
		}
		before := map[string]string{}
		old := map[string]string{}
		for _, alg := range signingAlgs {
			before[alg] = currentKid(t, p, alg)
			old[alg] = signTest(t, p, alg)
		}

		if err := p.Rotate(t.Context()); !errors.Is(err, ErrRotationTooSoon) {
			t.Fatalf("immediate rotation: %v, want ErrRotationTooSoon", err)
		}
		for _, alg := range signingAlgs {
			if currentKid(t, p, alg) != before[alg] {
				t.Fatalf("a refused rotation changed the %s key", alg)
			}
		}

		clk.Advance(KeyPrePublication + time.Second)
		if err := p.Rotate(t.Context()); err != nil {
			t.Fatalf("Rotate: %v", err)
		}
		std2, sm2b := keySets(t, p)
		if len(std2) != 6 || len(sm2b) != 3 {
			t.Fatalf("after rotation: %d standard, %d SM2 keys; want 6 and 3", len(std2), len(sm2b))
		}
		for _, alg := range signingAlgs {
			now := currentKid(t, p, alg)
			if now == before[alg] {
				t.Errorf("%s key did not change", alg)
			}
			if alg != AlgSM2 {
				if _, ok := std[now]; !ok {
					t.Errorf("new current %s key %s was not published before use", alg, now)
				}
			} else if !slices.Contains(sm2, now) {
				t.Errorf("new current SM2 key %s was not published before use", now)
			}
			// Tokens signed with the retired key still verify.
			var c jwt.RegisteredClaims
			if h, err := p.keys.verify(t.Context(), old[alg], &c); err != nil || h.Kid != before[alg] {
				t.Errorf("%s token of the retired key: %v", alg, err)
			}
			fresh := signTest(t, p, alg)
			if h, err := p.keys.verify(t.Context(), fresh, &c); err != nil || h.Kid != now {
				t.Errorf("%s token of the new key: kid %v, %v", alg, h, err)
			}
		}

		// Once its tokens have expired, the retired key is withdrawn and
		// its private key erased at the next rotation.
		clk.Advance(p.keys.retain + time.Second)
		if err := p.Rotate(t.Context()); err != nil {
			t.Fatalf("second Rotate: %v", err)
		}
		std3, _ := keySets(t, p)
		for _, alg := range []string{AlgRS256, AlgES256} {
			if _, ok := std3[before[alg]]; ok {
				t.Errorf("expired %s key %s still published", alg, before[alg])
			}
			var c jwt.RegisteredClaims
			if _, err := p.keys.verify(t.Context(), old[alg], &c); err == nil {
				t.Errorf("token of a withdrawn %s key still verifies", alg)
			}
		}
		var n int
		if err := db.QueryRow(t.Context(), "SELECT COUNT(*) FROM authn_keys WHERE state = 'expired' AND private_pem IS NULL").Scan(&n); err != nil || n != 3 {
			t.Errorf("expired keys with erased private keys: %d (%v), want 3", n, err)
		}
	})
}

func TestKeysSharedAndProtected(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clk := newClock()
		p1 := newTestProvider(t, db, clk)
		p2 := newTestProvider(t, db, clk)
		for _, alg := range signingAlgs {
			if currentKid(t, p1, alg) != currentKid(t, p2, alg) {
				t.Errorf("replicas sign %s with different keys", alg)
			}
		}
		// A rotation by one replica reaches the other within keyCacheTTL.
		clk.Advance(KeyPrePublication + time.Second)
		if err := p1.Rotate(t.Context(), AlgRS256); err != nil {
			t.Fatal(err)
		}
		clk.Advance(keyCacheTTL)
		if currentKid(t, p1, AlgRS256) != currentKid(t, p2, AlgRS256) {
			t.Errorf("replica did not pick up the rotation")
		}
		// No private key is stored in the clear.
		rows, err := db.Query(t.Context(), "SELECT private_pem FROM authn_keys")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var pem []byte
			if err := rows.Scan(&pem); err != nil {
				t.Fatal(err)
			}
			if string(pem[:min(len(pem), 37)]) != "-----BEGIN ENCRYPTED PRIVATE KEY-----" {
				t.Errorf("stored key is not an encrypted PKCS#8 PEM: %.40q", pem)
			}
		}
		_, err = New(t.Context(), db, WithIssuer("https://sso.tongxing.test"), WithKeySealer(testSealer(t, []byte("wrong"))), WithClock(clk.Now))
		if !errors.Is(err, kms.ErrWrongPassphrase) {
			t.Errorf("wrong passphrase: %v, want kms.ErrWrongPassphrase", err)
		}
	})
}

func TestKeyManager(t *testing.T) {
	db := storetest.SQLite(t)
	km, err := softkms.New(filepath.Join(t.TempDir(), "keys"), testPassphrase)
	if err != nil {
		t.Fatal(err)
	}
	defer km.Close()
	p := newTestProvider(t, db, newClock(), WithKeyManager(km))
	for _, alg := range signingAlgs {
		var c jwt.RegisteredClaims
		if _, err := p.keys.verify(t.Context(), signTest(t, p, alg), &c); err != nil {
			t.Errorf("%s: %v", alg, err)
		}
	}
	var inKM, inDB int
	if err := db.QueryRow(t.Context(), "SELECT COUNT(*) FROM authn_keys WHERE kms_name IS NOT NULL AND private_pem IS NULL").Scan(&inKM); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(t.Context(), "SELECT COUNT(*) FROM authn_keys WHERE alg = 'RS256' AND private_pem IS NOT NULL").Scan(&inDB); err != nil {
		t.Fatal(err)
	}
	if inKM != 4 || inDB != 2 {
		t.Errorf("keys in the key manager %d (want 4: ES256 and SM2), RSA keys in the database %d (want 2)", inKM, inDB)
	}
}

// opaqueSigner hides the key type, as a hardware key would.
type opaqueSigner struct{ k crypto.Signer }

func (o opaqueSigner) Public() crypto.PublicKey { return o.k.Public() }
func (o opaqueSigner) Sign(r io.Reader, d []byte, opts crypto.SignerOpts) ([]byte, error) {
	return o.k.Sign(r, d, opts)
}

func TestES256CryptoSigner(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		signer crypto.Signer
	}{
		{"ok/ecdsa-private-key", k},
		{"ok/opaque-signer", opaqueSigner{k}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := signWith("kid-1", AlgES256, "JWT", tc.signer, jwt.RegisteredClaims{Subject: "x"})
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return &k.PublicKey, nil }, jwt.WithValidMethods([]string{"ES256"}))
			if err != nil || !parsed.Valid || parsed.Header["kid"] != "kid-1" {
				t.Errorf("golang-jwt rejects the token: %v", err)
			}
		})
	}
	if _, err := signWith("k", AlgES256, "", opaqueSigner{mustSM2Signer(t)}, jwt.RegisteredClaims{}); err == nil {
		t.Errorf("fail/sm2-key-as-es256: signed")
	}
}

func mustSM2Signer(t *testing.T) crypto.Signer {
	s, err := kms.GM.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
