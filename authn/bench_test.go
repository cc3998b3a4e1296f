package authn

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/emmansun/gmsm/sm2"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tongxing/tongxing/store/storetest"
)

// BenchmarkCodeExchange measures authorization code exchanges at the token
// endpoint (client authentication, PKCE, single-use bookkeeping, an RS256
// access token and an ID token) on SQLite, per client signing algorithm.
func BenchmarkCodeExchange(b *testing.B) {
	for _, alg := range signingAlgs {
		b.Run(alg, func(b *testing.B) {
			db := storetest.SQLite(b)
			secret, hash := GenerateClientSecret()
			cfg := ClientConfig{ID: "bench", Name: "bench", RedirectURIs: []string{"https://bench.test/cb"}, SecretHash: hash, IDTokenSignedResponseAlg: alg}
			p := newTestProvider(b, db, newClock(), WithClients(cfg))
			ctx := context.Background()
			u, err := p.Users().AddUser(ctx, NewUser{Username: "bench", Password: testPassword})
			if err != nil {
				b.Fatal(err)
			}
			c, _ := p.Client(ctx, "bench")
			sess := &session{ID: newID(), UserID: u.ID, AuthTime: p.now(), ACR: ACRPassword, AMR: []string{amrPassword}}
			if _, err := db.Exec(ctx, `INSERT INTO authn_sessions (id, secret_hash, user_id, auth_time, acr, amr, created_at, expires_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, sess.ID, hashSecret(newSecret()), u.ID, 0, ACRPassword, amrPassword, 0, 1<<62); err != nil {
				b.Fatal(err)
			}
			verifier := strings.Repeat("v", 43)
			req := &AuthorizeRequest{ClientID: "bench", RedirectURI: "https://bench.test/cb", ResponseType: "code",
				Scopes: []string{"openid", "profile"}, Nonce: "n", MaxAge: -1, CodeChallenge: s256(verifier), CodeChallengeMethod: "S256"}
			codes := make([]string, b.N)
			for i := range codes {
				if codes[i], err = p.authz.issueCode(ctx, c, req, sess); err != nil {
					b.Fatal(err)
				}
			}
			mux := http.NewServeMux()
			p.Routes(mux)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				body := url.Values{"grant_type": {"authorization_code"}, "code": {codes[i]}, "redirect_uri": {req.RedirectURI}, "code_verifier": {verifier}}
				postToken(b, mux, "bench", secret, body.Encode())
			}
		})
	}
}

// BenchmarkSigning compares ID-token signing (claims, golang-jwt, the
// provider's key store) with the raw signature of each algorithm in the
// same run.
func BenchmarkSigning(b *testing.B) {
	p := newTestProvider(b, storetest.SQLite(b), newClock())
	ctx := context.Background()
	for _, alg := range signingAlgs {
		b.Run("raw/"+alg, func(b *testing.B) { rawSignNs(b, p, alg) })
		b.Run("idtoken/"+alg, func(b *testing.B) {
			now := p.now()
			claims := IDTokenClaims{
				RegisteredClaims: jwt.RegisteredClaims{Issuer: p.issuer, Subject: "pairwise-subject-0123456789", Audience: jwt.ClaimStrings{"portal"},
					ExpiresAt: jwt.NewNumericDate(now.Add(p.life.IDToken)), IssuedAt: jwt.NewNumericDate(now)},
				AuthTime: now.Unix(), Nonce: "nonce", ACR: ACRPassword, AMR: []string{amrPassword}, AtHash: atHash(alg, "x"), SID: "sid", AZP: "portal",
			}
			for i := 0; i < b.N; i++ {
				if _, err := p.keys.sign(ctx, alg, "JWT", claims); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkClientCredentials measures client-credentials grants at the token
// endpoint (client authentication, target check, a service token signed
// with each access-token algorithm and its durable record) on SQLite, and
// reports "grant/sign", the grant rate as a fraction of the raw signing
// rate of the same key measured just before:
//
//	go test -run '^$' -bench 'BenchmarkClientCredentials|BenchmarkCodeExchange|BenchmarkSigning' -benchtime 2s ./authn/
func BenchmarkClientCredentials(b *testing.B) {
	for _, alg := range signingAlgs {
		db := storetest.SQLite(b)
		secret, hash := GenerateClientSecret()
		cfg := ClientConfig{ID: "svc-bench", Name: "bench service", Department: "dept:bench",
			TargetDepartments: []string{"dept:target"}, SectorIdentifier: "bench.test", SecretHash: hash}
		p := newTestProvider(b, db, newClock(), WithClients(cfg), WithAccessTokenAlg(alg))
		var signNs float64
		b.Run(alg+"/raw-sign", func(b *testing.B) {
			signNs = rawSignNs(b, p, alg)
		})
		mux := http.NewServeMux()
		p.Routes(mux)
		body := url.Values{"grant_type": {GrantClientCredentials}, "audience": {"dept:target"}}.Encode()
		b.Run(alg+"/grant", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				postToken(b, mux, "svc-bench", secret, body)
			}
			b.ReportMetric(signNs/(float64(b.Elapsed().Nanoseconds())/float64(b.N)), "grant/sign")
		})
	}
}

// rawSignNs measures the nanoseconds of one raw signature with p's current
// key for alg.
func rawSignNs(b *testing.B, p *Provider, alg string) float64 {
	_, signer, err := p.keys.current(context.Background(), alg)
	if err != nil {
		b.Fatal(err)
	}
	var opts crypto.SignerOpts = crypto.SHA256
	digest := sha256.Sum256([]byte("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0"))
	msg := digest[:]
	if alg == AlgSM2 {
		opts, msg = sm2.DefaultSM2SignerOpts, []byte("eyJhbGciOiJTTTIifQ.eyJzdWIiOiJ4In0")
	}
	for i := 0; i < b.N; i++ {
		if _, err := signer.Sign(rand.Reader, msg, opts); err != nil {
			b.Fatal(err)
		}
	}
	return float64(b.Elapsed().Nanoseconds()) / float64(b.N)
}

// postToken posts body to the token endpoint on mux as client id and
// fails b unless it answers 200.
func postToken(b *testing.B, mux *http.ServeMux, id, secret, body string) {
	b.Helper()
	r := httptest.NewRequest(http.MethodPost, pathToken, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(id, secret)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		b.Fatalf("token: %d %s", w.Code, w.Body)
	}
}
