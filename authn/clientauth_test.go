package authn

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tongxing/tongxing/authn/sm2jws"
	"github.com/tongxing/tongxing/internal/testpki"
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// Department services authenticating without secrets.
const (
	svcPKJ    = "svc-pkj"     // private_key_jwt, ES256 and SM2 keys
	svcTLS    = "svc-tls"     // tls_client_auth by subject DN
	svcTLSDNS = "svc-tls-dns" // tls_client_auth by SAN dNSName
	tlsDN     = "CN=svc-tls,O=Civil Affairs,C=CN"
)

// assertionKeys are a service's keys.
type assertionKeys struct {
	es256 *ecdsa.PrivateKey
	sm2   *sm2.PrivateKey
	jwks  string
}

func newAssertionKeys(t testing.TB) *assertionKeys {
	t.Helper()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecJWK, err := json.Marshal(jose.JSONWebKey{Key: &ec.PublicKey, KeyID: "ec-1", Algorithm: AlgES256, Use: "sig"})
	if err != nil {
		t.Fatal(err)
	}
	smJWK, err := sm2jws.NewJWK(&sk.PublicKey, "sm2-1")
	if err != nil {
		t.Fatal(err)
	}
	smRaw, err := json.Marshal(smJWK)
	if err != nil {
		t.Fatal(err)
	}
	return &assertionKeys{es256: ec, sm2: sk, jwks: `{"keys":[` + string(ecJWK) + `,` + string(smRaw) + `]}`}
}

// assertion signs a client assertion with alg (ES256 or SM2) and key
// (default: the registered one of alg).
func (k *assertionKeys) assertion(t testing.TB, alg, kid string, key crypto.Signer, c jwt.RegisteredClaims) string {
	t.Helper()
	m := jwt.SigningMethod(jwt.SigningMethodES256)
	if alg == AlgSM2 {
		m = sm2jws.SigningMethodSM2
	}
	tok := jwt.NewWithClaims(m, c)
	tok.Header["kid"] = kid
	var signKey any = key
	if key == nil {
		signKey = k.es256
		if alg == AlgSM2 {
			signKey = k.sm2
		}
	}
	s, err := tok.SignedString(signKey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPrivateKeyJWT(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		keys := newAssertionKeys(t)
		e := &grantsEnv{newEnv(t, db, WithClients(ClientConfig{
			ID: svcPKJ, Name: "民政服务", Department: "dept:civil-affairs", TargetDepartments: []string{deptSocial},
			SectorIdentifier: "civil.gov.test", TokenEndpointAuthMethod: AuthPrivateKeyJWT, JWKS: keys.jwks,
		}))}
		mux := e.srv.Config.Handler.(*http.ServeMux)
		if _, pat := mux.Handler(httptestRequest(e.issuer + pathIntrospect)); pat == "" {
			t.Fatalf("Routes did not register %s", pathIntrospect)
		}
		other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		now := e.clk.Now()
		claims := func(mod func(*jwt.RegisteredClaims)) jwt.RegisteredClaims {
			c := jwt.RegisteredClaims{Issuer: svcPKJ, Subject: svcPKJ, Audience: jwt.ClaimStrings{e.issuer + pathToken},
				ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)), IssuedAt: jwt.NewNumericDate(now), ID: newID()}
			if mod != nil {
				mod(&c)
			}
			return c
		}
		replayed := keys.assertion(t, AlgES256, "ec-1", nil, claims(nil))
		for _, tc := range []struct {
			name      string
			assertion string
			extra     url.Values
			status    int
		}{
			{"ok/es256", keys.assertion(t, AlgES256, "ec-1", nil, claims(nil)), nil, 200},
			{"ok/sm2", keys.assertion(t, AlgSM2, "sm2-1", nil, claims(nil)), nil, 200},
			{"ok/aud-issuer-and-client-id", keys.assertion(t, AlgES256, "ec-1", nil, claims(func(c *jwt.RegisteredClaims) { c.Audience = jwt.ClaimStrings{e.issuer} })),
				url.Values{"client_id": {svcPKJ}}, 200},
			{"ok/first-use", replayed, nil, 200},
			{"fail/replayed-jti", replayed, nil, 401},
			{"fail/wrong-key", keys.assertion(t, AlgES256, "ec-1", other, claims(nil)), nil, 401},
			{"fail/unknown-kid", keys.assertion(t, AlgES256, "ec-9", nil, claims(nil)), nil, 401},
			{"fail/wrong-aud", keys.assertion(t, AlgES256, "ec-1", nil, claims(func(c *jwt.RegisteredClaims) { c.Audience = jwt.ClaimStrings{"https://other.example/token"} })), nil, 401},
			{"fail/expired", keys.assertion(t, AlgES256, "ec-1", nil, claims(func(c *jwt.RegisteredClaims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Second)) })), nil, 401},
			{"fail/exp-too-far", keys.assertion(t, AlgES256, "ec-1", nil, claims(func(c *jwt.RegisteredClaims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(2 * time.Hour)) })), nil, 401},
			{"fail/no-jti", keys.assertion(t, AlgES256, "ec-1", nil, claims(func(c *jwt.RegisteredClaims) { c.ID = "" })), nil, 401},
			{"fail/iss-not-client", keys.assertion(t, AlgES256, "ec-1", nil, claims(func(c *jwt.RegisteredClaims) { c.Issuer = portalA })), nil, 401},
			{"fail/client-id-mismatch", keys.assertion(t, AlgES256, "ec-1", nil, claims(nil)), url.Values{"client_id": {portalA}}, 401},
			{"fail/wrong-assertion-type", keys.assertion(t, AlgES256, "ec-1", nil, claims(nil)), url.Values{"client_assertion_type": {"urn:x"}}, 401},
			{"fail/with-secret-too", keys.assertion(t, AlgES256, "ec-1", nil, claims(nil)), url.Values{"client_secret": {"x"}}, 400},
			{"fail/oversized", strings.Repeat("a", MaxClientAssertionSize+1), nil, 401},
			{"fail/garbage", "not.a.jwt", nil, 401},
		} {
			t.Run(tc.name, func(t *testing.T) {
				form := url.Values{"grant_type": {GrantClientCredentials}, "audience": {deptSocial},
					"client_assertion_type": {ClientAssertionType}, "client_assertion": {tc.assertion}}
				for k, v := range tc.extra {
					form[k] = v
				}
				st, m := e.post(t, pathToken, "", form)
				if st != tc.status {
					t.Fatalf("got %d %v, want %d", st, m, tc.status)
				}
				if st == 200 {
					if c := e.verifyFor(t, deptSocial, m["access_token"].(string)); c.ClientID != svcPKJ {
						t.Errorf("client_id %s", c.ClientID)
					}
				} else if m["error"] != "invalid_client" && m["error"] != "invalid_request" {
					t.Errorf("error %v", m)
				}
			})
		}
		t.Run("ok/introspect-with-assertion", func(t *testing.T) {
			a := keys.assertion(t, AlgES256, "ec-1", nil, claims(func(c *jwt.RegisteredClaims) { c.Audience = jwt.ClaimStrings{e.issuer + pathIntrospect} }))
			st, m := e.post(t, pathIntrospect, "", url.Values{"token": {"x"}, "client_assertion_type": {ClientAssertionType}, "client_assertion": {a}})
			if st != 200 || m["active"] != false {
				t.Errorf("got %d %v", st, m)
			}
		})
	})
}

func TestClientAuthConfig(t *testing.T) {
	keys := newAssertionKeys(t)
	base := ClientConfig{ID: "svc", Name: "服务", Department: "d", TargetDepartments: []string{"dept:x"}, SectorIdentifier: "svc.gov.test"}
	for _, tc := range []struct {
		name string
		mod  func(c *ClientConfig)
		ok   bool
	}{
		{"ok/private-key-jwt", func(c *ClientConfig) { c.TokenEndpointAuthMethod, c.JWKS = AuthPrivateKeyJWT, keys.jwks }, true},
		{"ok/tls-dn", func(c *ClientConfig) { c.TokenEndpointAuthMethod, c.TLSClientAuthSubjectDN = AuthTLSClientAuth, tlsDN }, true},
		{"ok/tls-ip", func(c *ClientConfig) { c.TokenEndpointAuthMethod, c.TLSClientAuthSANIP = AuthTLSClientAuth, "10.0.0.1" }, true},
		{"fail/private-key-jwt-without-jwks", func(c *ClientConfig) { c.TokenEndpointAuthMethod = AuthPrivateKeyJWT }, false},
		{"fail/private-key-jwt-with-secret", func(c *ClientConfig) {
			c.TokenEndpointAuthMethod, c.JWKS = AuthPrivateKeyJWT, keys.jwks
			_, c.SecretHash = GenerateClientSecret()
		}, false},
		{"fail/jwks-private-key", func(c *ClientConfig) {
			raw, _ := json.Marshal(jose.JSONWebKey{Key: keys.es256, KeyID: "k"})
			c.TokenEndpointAuthMethod, c.JWKS = AuthPrivateKeyJWT, `{"keys":[`+string(raw)+`]}`
		}, false},
		{"fail/jwks-malformed", func(c *ClientConfig) { c.TokenEndpointAuthMethod, c.JWKS = AuthPrivateKeyJWT, `{"keys":[{}]}` }, false},
		{"fail/tls-two-fields", func(c *ClientConfig) {
			c.TokenEndpointAuthMethod, c.TLSClientAuthSubjectDN, c.TLSClientAuthSANDNS = AuthTLSClientAuth, tlsDN, "a.test"
		}, false},
		{"fail/tls-none", func(c *ClientConfig) { c.TokenEndpointAuthMethod = AuthTLSClientAuth }, false},
		{"fail/tls-bad-ip", func(c *ClientConfig) { c.TokenEndpointAuthMethod, c.TLSClientAuthSANIP = AuthTLSClientAuth, "nope" }, false},
		{"fail/tls-field-on-secret-client", func(c *ClientConfig) { _, c.SecretHash = GenerateClientSecret(); c.TLSClientAuthSANDNS = "a.test" }, false},
		{"fail/service-without-department", func(c *ClientConfig) {
			c.TokenEndpointAuthMethod, c.JWKS, c.Department = AuthPrivateKeyJWT, keys.jwks, ""
		}, false},
		{"fail/public-service", func(c *ClientConfig) { c.TokenEndpointAuthMethod = AuthNone }, false},
		{"fail/bad-target", func(c *ClientConfig) {
			c.TokenEndpointAuthMethod, c.JWKS, c.TargetDepartments = AuthPrivateKeyJWT, keys.jwks, []string{"a b"}
		}, false},
		{"fail/bad-backchannel-uri", func(c *ClientConfig) {
			c.TokenEndpointAuthMethod, c.JWKS, c.BackchannelLogoutURI = AuthPrivateKeyJWT, keys.jwks, "http://portal.example/bc"
		}, false},
		{"fail/bad-post-logout-uri", func(c *ClientConfig) {
			c.TokenEndpointAuthMethod, c.JWKS, c.PostLogoutRedirectURIs = AuthPrivateKeyJWT, keys.jwks, []string{"https://a.example/#x"}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.mod(&c)
			_, err := c.Validate()
			if (err == nil) != tc.ok {
				t.Errorf("Validate: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// testPKI is a CA with client certificates.
type testPKI struct {
	ca   *testpki.Cert
	pool *x509.CertPool
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	ca := testpki.NewRoot(t, kms.Intl, "Test Client CA", testpki.Subject(pkix.Name{CommonName: "Test Client CA"}),
		testpki.KeyUsage(smx509.KeyUsageCertSign), testpki.Valid(time.Now().Add(-time.Hour), time.Now().Add(time.Hour)))
	root, err := x509.ParseCertificate(ca.Cert.Raw)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(root)
	return &testPKI{ca: ca, pool: pool}
}

func (k *testPKI) client(t *testing.T, subject pkix.Name, dns ...string) tls.Certificate {
	t.Helper()
	c := k.ca.Issue(t, subject.CommonName, testpki.Subject(subject), testpki.EKU(smx509.ExtKeyUsageClientAuth),
		testpki.Valid(time.Now().Add(-time.Hour), time.Now().Add(time.Hour)), func(c *smx509.Certificate) { c.DNSNames = dns })
	return tls.Certificate{Certificate: [][]byte{c.Cert.Raw}, PrivateKey: c.Key}
}

func TestTLSClientAuth(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		pki := newTestPKI(t)
		svc := func(id string, mod func(*ClientConfig)) ClientConfig {
			c := ClientConfig{ID: id, Name: "服务 " + id, Department: "dept:civil-affairs", TargetDepartments: []string{deptSocial},
				SectorIdentifier: id + ".gov.test", TokenEndpointAuthMethod: AuthTLSClientAuth}
			mod(&c)
			return c
		}
		e := newEnv(t, db, WithClients(
			svc(svcTLS, func(c *ClientConfig) { c.TLSClientAuthSubjectDN = tlsDN }),
			svc(svcTLSDNS, func(c *ClientConfig) { c.TLSClientAuthSANDNS = "svc.civil.gov.test" }),
		))
		// The provider behind a listener that verifies client certificates.
		srv := httptest.NewUnstartedServer(e.srv.Config.Handler)
		srv.TLS = &tls.Config{ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pki.pool}
		srv.StartTLS()
		t.Cleanup(srv.Close)
		good := pki.client(t, pkix.Name{CommonName: "svc-tls", Organization: []string{"Civil Affairs"}, Country: []string{"CN"}})
		dnsCert := pki.client(t, pkix.Name{CommonName: "other"}, "svc.civil.gov.test")
		other := pki.client(t, pkix.Name{CommonName: "svc-other", Organization: []string{"Civil Affairs"}, Country: []string{"CN"}})
		post := func(cert *tls.Certificate, form url.Values) (int, map[string]any) {
			tr := srv.Client().Transport.(*http.Transport).Clone()
			if cert != nil {
				tr.TLSClientConfig.Certificates = []tls.Certificate{*cert}
			}
			req, err := http.NewRequest(http.MethodPost, srv.URL+pathToken, strings.NewReader(form.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return jsonAnswer(t, &http.Client{Transport: tr}, req)
		}
		for _, tc := range []struct {
			name   string
			client string
			cert   *tls.Certificate
			status int
		}{
			{"ok/subject-dn", svcTLS, &good, 200},
			{"ok/san-dns", svcTLSDNS, &dnsCert, 200},
			{"fail/no-certificate", svcTLS, nil, 401},
			{"fail/other-subject", svcTLS, &other, 401},
			{"fail/dns-client-with-dn-cert", svcTLSDNS, &good, 401},
		} {
			t.Run(tc.name, func(t *testing.T) {
				st, m := post(tc.cert, url.Values{"grant_type": {GrantClientCredentials}, "client_id": {tc.client}, "scope": {deptSocial}})
				if st != tc.status {
					t.Fatalf("got %d %v, want %d", st, m, tc.status)
				}
				if st == 401 && m["error"] != "invalid_client" {
					t.Errorf("error %v", m)
				}
			})
		}
		t.Run("fail/unverified-certificate", func(t *testing.T) {
			// A certificate the listener did not verify (no verified chain)
			// is refused even if its subject matches.
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			cert, _ := x509.ParseCertificate(good.Certificate[0])
			r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
			c, err := e.p.Client(t.Context(), svcTLS)
			if err != nil {
				t.Fatal(err)
			}
			if checkTLSClient(r, c) {
				t.Errorf("unverified certificate accepted")
			}
		})
	})
}

// FuzzClientAssertion checks that no input makes checkClientAssertion
// accept an assertion it was not given validly signed, and that an
// accepted one meets every claim rule.
func FuzzClientAssertion(f *testing.F) {
	keys := newAssertionKeys(f)
	c, err := ClientConfig{ID: svcPKJ, Name: "x", Department: "d", TargetDepartments: []string{"t"}, SectorIdentifier: "x.test",
		TokenEndpointAuthMethod: AuthPrivateKeyJWT, JWKS: keys.jwks}.Validate()
	if err != nil {
		f.Fatal(err)
	}
	parsed, err := parseClientJWKS(c.JWKS)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	aud := []string{"https://sso.test/oauth2/token"}
	valid := map[string]bool{}
	for i, alg := range []string{AlgES256, AlgSM2} {
		kid := map[string]string{AlgES256: "ec-1", AlgSM2: "sm2-1"}[alg]
		jti := "seed-" + alg
		valid[jti] = true
		f.Add(keys.assertion(f, alg, kid, nil, jwt.RegisteredClaims{Issuer: svcPKJ, Subject: svcPKJ, Audience: jwt.ClaimStrings{aud[0]},
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Duration(i+1) * time.Minute)), ID: jti}))
	}
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiJzdmMtcGtqIn0.")
	f.Add("")
	f.Fuzz(func(t *testing.T, raw string) {
		cl, err := checkClientAssertion(c, parsed, raw, aud, now)
		if err != nil {
			if cl != nil {
				t.Fatalf("claims with an error")
			}
			return
		}
		if !valid[cl.ID] || cl.Issuer != svcPKJ || cl.Subject != svcPKJ || !now.Before(cl.ExpiresAt.Time) ||
			cl.ExpiresAt.Sub(now) > MaxClientAssertionLifetime || len(raw) > MaxClientAssertionSize {
			t.Fatalf("accepted %q with claims %+v", raw, cl)
		}
	})
}
