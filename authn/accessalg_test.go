package authn

import (
	"net/url"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tongxing/tongxing/authn/sm2jws"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// TestAccessTokenAlg issues client-credentials tokens with each access-token
// algorithm and verifies them as a department would: RS256 and ES256 with
// go-oidc against jwks_uri, SM2 with sm2jws against sm2_jwks_uri; and as the
// gateway does, in-process.
func TestAccessTokenAlg(t *testing.T) {
	for _, alg := range signingAlgs {
		t.Run(alg, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				e := newGrantsEnv(t, db, WithAccessTokenAlg(alg))
				st, m := e.clientCredentials(t, svcCivil, url.Values{"scope": {deptSocial}})
				if st != 200 {
					t.Fatalf("client credentials: %d %v", st, m)
				}
				raw, _ := m["access_token"].(string)
				if got := tokenAlg(t, raw); got != alg {
					t.Fatalf("access token alg %s, want %s", got, alg)
				}
				var sub string
				switch alg {
				case AlgSM2:
					if _, err := e.op.Verifier(&oidc.Config{ClientID: deptSocial, Now: e.clk.Now}).Verify(e.ctx, raw); err == nil {
						t.Errorf("SM2 access token verified with the standard key set")
					}
					ks, err := sm2jws.NewRemoteKeySetFromProvider(e.ctx, e.op)
					if err != nil {
						t.Fatal(err)
					}
					var c ServiceTokenClaims
					if err := sm2jws.ParseWithClaims(e.ctx, ks, raw, &c, jwt.WithAudience(deptSocial),
						jwt.WithIssuer(e.issuer), jwt.WithTimeFunc(e.clk.Now), jwt.WithExpirationRequired()); err != nil {
						t.Fatalf("sm2jws verification: %v", err)
					}
					sub = c.Subject
				default:
					sub = e.verifyFor(t, deptSocial, raw).Subject
				}
				if sub != svcCivil {
					t.Errorf("subject %q, want %q", sub, svcCivil)
				}
				tok, err := e.p.VerifyServiceToken(t.Context(), raw)
				if err != nil {
					t.Fatalf("in-process verification: %v", err)
				}
				if tok.Client != svcCivil || tok.Audience[0] != deptSocial {
					t.Errorf("in-process verification read %+v", tok)
				}
			})
		})
	}
}
