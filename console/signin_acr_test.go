package console

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tongxing/tongxing/web/rp"
)

// fakeOP is a minimal OpenID provider: discovery, keys and a token
// endpoint that answers every code with an ID token for sub at acr.
type fakeOP struct {
	key        *rsa.PrivateKey
	sub, acr   string
	amr        []string
	nonce      string // of the pending sign-in
	authTime   time.Time
	issuer, id string
}

func (op *fakeOP) handler(t *testing.T) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"issuer": op.issuer, "authorization_endpoint": op.issuer + "/oauth2/authorize",
			"token_endpoint": op.issuer + "/oauth2/token", "jwks_uri": op.issuer + "/jwks.json",
			"id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("GET /jwks.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &op.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("POST /oauth2/token", func(w http.ResponseWriter, r *http.Request) {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: op.key, KeyID: "k1"}}, nil)
		if err != nil {
			t.Error(err)
			return
		}
		now := time.Now()
		claims, _ := json.Marshal(map[string]any{"iss": op.issuer, "aud": op.id, "sub": op.sub, "nonce": op.nonce,
			"acr": op.acr, "amr": op.amr, "auth_time": op.authTime.Unix(), "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()})
		jws, err := signer.Sign(claims)
		if err != nil {
			t.Error(err)
			return
		}
		idt, _ := jws.CompactSerialize()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": idt})
	})
	return mux
}

// signInAs runs the console's sign-in against op and returns the
// callback's response.
func signInAs(t *testing.T, op *fakeOP) *httptest.ResponseRecorder {
	t.Helper()
	f := newFixture(t, func(d *Deps) { d.Issuer, d.Provider = op.issuer, rp.InProcess(op.handler(t)) })
	f.now = time.Now() // the provider's ID token is issued on the real clock

	w := f.do("GET", "/console/signin", nil, nil)
	loc, err := url.Parse(w.Header().Get("Location"))
	if err != nil || w.Code != http.StatusSeeOther {
		t.Fatalf("signin: %d %s", w.Code, w.Body)
	}
	op.nonce = loc.Query().Get("nonce")
	var pendingCookie *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == "tx_console_login" {
			pendingCookie = c
		}
	}
	if pendingCookie == nil {
		t.Fatal("no pending sign-in cookie")
	}
	return f.do("GET", "/console/callback?state="+url.QueryEscape(loc.Query().Get("state"))+"&code=c", pendingCookie, nil)
}

// A certificate login (urn:tongxing:loa:4) reaches an account through the
// identity data of a certificate, which any registration officer can have
// issued (an enrolment code for the citizen profile with the officer's ID
// number, redeemed with the registration officer's own key: authn's
// TestCertLogin "ok/citizen-card-gives-loa4" shows such a certificate
// signing in to the password account registered with that ID number). The
// console must therefore not accept it as the sign-in of the officer bound
// to that account: else a registration officer becomes the system
// administrator, the auditor or a second and third registration officer
// (and meets the KMC's dual control alone).
func TestConsoleRefusesCertificateSignIn(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, acr string
		amr       []string
		ok        bool
	}{
		{"ok/password-and-one-time-code", "urn:tongxing:loa:3", []string{"pwd", "otp", "mfa"}, true},
		{"fail/certificate-minted-by-ra", "urn:tongxing:loa:4", []string{"swk"}, false},
		{"fail/hardware-certificate", "urn:tongxing:loa:4", []string{"hwk"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op := &fakeOP{key: key, sub: "u-sys", acr: tc.acr, amr: tc.amr, authTime: time.Now(), issuer: "https://op.test", id: ClientID}
			w := signInAs(t, op)
			var session bool
			for _, c := range w.Result().Cookies() {
				if c.Name == sessionCookie && c.MaxAge > 0 {
					session = true
				}
			}
			if tc.ok && (w.Code != http.StatusSeeOther || !session) {
				t.Fatalf("sign-in at %s refused: %d %.300s", tc.acr, w.Code, w.Body)
			}
			if !tc.ok && (w.Code != http.StatusForbidden || session || strings.Contains(w.Header().Get("Location"), "/console/")) {
				t.Fatalf("a certificate sign-in (%s %v) to the account bound to officer sys gave a console session: %d", tc.acr, tc.amr, w.Code)
			}
		})
	}
}
