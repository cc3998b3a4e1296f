package sm2jws_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tongxing/tongxing/authn/sm2jws"
)

// provider is a minimal OpenID provider: discovery document, an empty
// standard JWKS and the SM2 JWKS.
type provider struct {
	srv     *httptest.Server
	key     testKey
	sm2Hits atomic.Int32
}

func newProvider(t *testing.T) *provider {
	p := &provider{key: newTestKey(t, "sm2-2026-01")}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		iss := p.srv.URL
		writeJSON(t, w, map[string]any{
			"issuer":                                iss,
			"authorization_endpoint":                iss + "/oauth2/authorize",
			"token_endpoint":                        iss + "/oauth2/token",
			"jwks_uri":                              iss + "/oauth2/jwks",
			sm2jws.DiscoveryField:                   iss + "/oauth2/sm2-jwks",
			"response_types_supported":              []string{"code"},
			"subject_types_supported":               []string{"pairwise"},
			"id_token_signing_alg_values_supported": []string{"SM2", "RS256"},
		})
	})
	mux.HandleFunc("GET /oauth2/jwks", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(t, w, map[string]any{"keys": []any{}})
	})
	mux.HandleFunc("GET /oauth2/sm2-jwks", func(w http.ResponseWriter, r *http.Request) {
		p.sm2Hits.Add(1)
		writeJSON(t, w, sm2jws.JWKSet{Keys: []sm2jws.JWK{p.key.jwk}})
	})
	p.srv = httptest.NewTLSServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func writeJSON(t *testing.T, w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		t.Errorf("encoding response: %v", err)
	}
}

// idClaims are the claims of a Tongxing ID token.
type idClaims struct {
	jwt.RegisteredClaims
	Nonce  string `json:"nonce"`
	AtHash string `json:"at_hash,omitempty"`
	Acr    string `json:"acr"`
}

// TestGoOIDCEndToEnd mints ID tokens with golang-jwt and SigningMethodSM2 and
// verifies them as a portal does: go-oidc's IDTokenVerifier with this
// package's RemoteKeySet.
func TestGoOIDCEndToEnd(t *testing.T) {
	p := newProvider(t)
	issuer := p.srv.URL
	ctx := oidc.ClientContext(t.Context(), p.srv.Client())

	discovered, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatalf("oidc.NewProvider: %v", err)
	}
	fromDiscovery, err := sm2jws.NewRemoteKeySetFromProvider(ctx, discovered)
	if err != nil {
		t.Fatalf("NewRemoteKeySetFromProvider: %v", err)
	}
	direct := sm2jws.NewRemoteKeySet(ctx, issuer+"/oauth2/sm2-jwks")
	cfg := &oidc.Config{ClientID: "portal", SupportedSigningAlgs: []string{"SM2"}}

	now := time.Now()
	base := func() idClaims {
		return idClaims{
			RegisteredClaims: jwt.RegisteredClaims{
				Issuer:    issuer,
				Subject:   "pairwise-3f9a",
				Audience:  jwt.ClaimStrings{"portal"},
				ExpiresAt: jwt.NewNumericDate(now.Add(5 * time.Minute)),
				IssuedAt:  jwt.NewNumericDate(now),
			},
			Nonce:  "n-0S6_WzA2Mj",
			AtHash: sm2jws.AccessTokenHash("access-token-1"),
			Acr:    "urn:tongxing:loa:2",
		}
	}
	with := func(f func(*idClaims)) idClaims { c := base(); f(&c); return c }
	good := mint(t, p.key, p.key.jwk.Kid, base())
	sig := sigOf(t, good)
	sig[5] ^= 0x80
	stranger := newTestKey(t, p.key.jwk.Kid)

	tests := []struct {
		name string
		// token to verify
		token string
		// cfg overrides the verifier configuration
		cfg *oidc.Config
		// keySetErr is what the key set itself must say, when the failure is
		// the signature's; claim failures leave the key set content.
		keySetErr error
		// check inspects the verifier's error
		check func(t *testing.T, err error)
	}{
		{name: "ok/valid", token: good},
		{name: "ok/nbf-in-past", token: mint(t, p.key, p.key.jwk.Kid, with(func(c *idClaims) { c.NotBefore = jwt.NewNumericDate(now.Add(-time.Minute)) }))},
		{name: "fail/expired", token: mint(t, p.key, p.key.jwk.Kid, with(func(c *idClaims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Minute)) })),
			check: func(t *testing.T, err error) {
				var exp *oidc.TokenExpiredError
				if !errors.As(err, &exp) {
					t.Fatalf("error = %v, want *oidc.TokenExpiredError", err)
				}
			}},
		{name: "fail/wrong-audience", token: mint(t, p.key, p.key.jwk.Kid, with(func(c *idClaims) { c.Audience = jwt.ClaimStrings{"other-portal"} }))},
		{name: "fail/wrong-issuer", token: mint(t, p.key, p.key.jwk.Kid, with(func(c *idClaims) { c.Issuer = "https://evil.example" }))},
		{name: "fail/unknown-kid", token: mint(t, p.key, "sm2-1999-01", base()), keySetErr: sm2jws.ErrUnknownKey},
		{name: "fail/tampered-signature", token: withSig(t, good, sig), keySetErr: sm2jws.ErrInvalidSignature},
		{name: "fail/tampered-payload", token: tamperPayload(t, good), keySetErr: sm2jws.ErrInvalidSignature},
		{name: "fail/other-key-same-kid", token: mint(t, stranger, p.key.jwk.Kid, base()), keySetErr: sm2jws.ErrInvalidSignature},
		{name: "fail/es256-header-allowed-by-verifier", token: signRaw(t, p.key, map[string]any{"alg": "ES256", "kid": p.key.jwk.Kid}, payloadOf(t, good)),
			cfg: &oidc.Config{ClientID: "portal", SupportedSigningAlgs: []string{"SM2", "ES256"}}, keySetErr: sm2jws.ErrAlgorithm},
		{name: "fail/es256-header-rejected-by-verifier", token: signRaw(t, p.key, map[string]any{"alg": "ES256", "kid": p.key.jwk.Kid}, payloadOf(t, good)), keySetErr: sm2jws.ErrAlgorithm},
		{name: "fail/alg-none", token: b64.EncodeToString([]byte(`{"alg":"none","kid":"`+p.key.jwk.Kid+`"}`)) + "." + b64.EncodeToString(payloadOf(t, good)) + ".", keySetErr: sm2jws.ErrAlgorithm},
		{name: "fail/verifier-without-sm2-alg", token: good, cfg: &oidc.Config{ClientID: "portal"}},
		// The key set ignores an embedded "jwk" header, but go-oidc's go-jose
		// pre-parse cannot read an SM2 JWK, so the provider must not emit one.
		{name: "fail/embedded-sm2-jwk-header", token: signRaw(t, p.key, map[string]any{"alg": "SM2", "kid": p.key.jwk.Kid, "jwk": p.key.jwk}, payloadOf(t, good))},
	}
	for _, ks := range []struct {
		name string
		keys *sm2jws.RemoteKeySet
	}{{"discovered", fromDiscovery}, {"direct", direct}} {
		for _, tc := range tests {
			t.Run(ks.name+"/"+tc.name, func(t *testing.T) {
				c := cfg
				if tc.cfg != nil {
					c = tc.cfg
				}
				verifier := oidc.NewVerifier(issuer, ks.keys, c)
				idTok, err := verifier.Verify(ctx, tc.token)
				_, ksErr := ks.keys.VerifySignature(ctx, tc.token)
				if tc.keySetErr != nil {
					if !errors.Is(ksErr, tc.keySetErr) {
						t.Fatalf("key set error = %v, want %v", ksErr, tc.keySetErr)
					}
				} else if ksErr != nil {
					t.Fatalf("key set rejected a correctly signed token: %v", ksErr)
				}
				if !isOK(tc.name) {
					if err == nil {
						t.Fatal("verifier accepted the token")
					}
					if tc.check != nil {
						tc.check(t, err)
					}
					return
				}
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				var got idClaims
				if err := idTok.Claims(&got); err != nil {
					t.Fatal(err)
				}
				if idTok.Subject != "pairwise-3f9a" || idTok.Nonce != "n-0S6_WzA2Mj" || got.Acr != "urn:tongxing:loa:2" ||
					idTok.Issuer != issuer || len(idTok.Audience) != 1 || idTok.Audience[0] != "portal" {
					t.Fatalf("claims = %+v / %+v", idTok, got)
				}
				if err := sm2jws.VerifyAccessTokenHash(idTok, "access-token-1"); err != nil {
					t.Fatalf("VerifyAccessTokenHash: %v", err)
				}
				if err := sm2jws.VerifyAccessTokenHash(idTok, "access-token-2"); !errors.Is(err, sm2jws.ErrAccessTokenHash) {
					t.Fatalf("VerifyAccessTokenHash(wrong token) = %v", err)
				}
			})
		}
	}
	if p.sm2Hits.Load() < 2 {
		t.Fatalf("SM2 JWKS fetched %d times, want at least one per key set", p.sm2Hits.Load())
	}
}

func isOK(name string) bool { return len(name) > 3 && name[:3] == "ok/" }

func payloadOf(t *testing.T, tok string) []byte {
	_, p, _ := parts(t, tok)
	b, err := b64.DecodeString(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func tamperPayload(t *testing.T, tok string) string {
	h, _, s := parts(t, tok)
	pl := bytes.Replace(payloadOf(t, tok), []byte("pairwise-3f9a"), []byte("pairwise-3f9b"), 1)
	return h + "." + b64.EncodeToString(pl) + "." + s
}

func TestAccessTokenHash(t *testing.T) {
	// SM3("abc") = 66c7f0f4 62eeedd9 d1f2d46b dc10e4e2 4167c487 5cf2f7a2 297da02b 8f4ba8e0
	// (GB/T 32905 example 1); at_hash is the base64url of its first 16 bytes.
	if got, want := sm2jws.AccessTokenHash("abc"), "Zsfw9GLu7dnR8tRr3BDk4g"; got != want {
		t.Fatalf("AccessTokenHash(abc) = %s, want %s", got, want)
	}
	if err := sm2jws.VerifyAccessTokenHash(&oidc.IDToken{}, "abc"); !errors.Is(err, sm2jws.ErrAccessTokenHash) {
		t.Fatalf("missing at_hash: %v", err)
	}
}

func TestNewRemoteKeySetFromProvider(t *testing.T) {
	tests := []struct {
		name string
		uri  any
		ok   bool
	}{
		{name: "ok/https", uri: "https://idp.example/sm2-jwks", ok: true},
		{name: "fail/missing", uri: nil},
		{name: "fail/relative", uri: "/sm2-jwks"},
		{name: "fail/ftp", uri: "ftp://idp.example/sm2-jwks"},
		{name: "fail/not-string", uri: 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var srv *httptest.Server
			srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				doc := map[string]any{"issuer": srv.URL, "jwks_uri": srv.URL + "/jwks"}
				if tc.uri != nil {
					doc[sm2jws.DiscoveryField] = tc.uri
				}
				writeJSON(t, w, doc)
			}))
			defer srv.Close()
			prov, err := oidc.NewProvider(context.Background(), srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			ks, err := sm2jws.NewRemoteKeySetFromProvider(t.Context(), prov)
			if tc.ok != (err == nil) {
				t.Fatalf("error = %v, want ok=%v", err, tc.ok)
			}
			if !tc.ok && !errors.Is(err, sm2jws.ErrFetch) {
				t.Fatalf("error = %v, want ErrFetch", err)
			}
			if tc.ok && ks == nil {
				t.Fatal("nil key set")
			}
		})
	}
}
