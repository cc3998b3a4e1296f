package authn

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// Department services of the grant tests.
const (
	svcCivil    = "svc-civil"  // may ask for dept:social-security and dept:housing
	svcSocial   = "svc-social" // runs dept:social-security, may ask for dept:housing
	deptSocial  = "dept:social-security"
	deptHousing = "dept:housing"
)

// grantsEnv is an env with two department services.
type grantsEnv struct {
	*env
}

func newGrantsEnv(t *testing.T, db *store.DB, opts ...Option) *grantsEnv {
	t.Helper()
	secrets := map[string]string{}
	var cfgs []ClientConfig
	for _, c := range []ClientConfig{
		{ID: svcCivil, Name: "民政服务", Department: "dept:civil-affairs", TargetDepartments: []string{deptSocial, deptHousing}, SectorIdentifier: "civil.gov.test"},
		{ID: svcSocial, Name: "社保服务", Department: deptSocial, TargetDepartments: []string{deptHousing}, SectorIdentifier: "social.gov.test"},
	} {
		var h string
		secrets[c.ID], h = GenerateClientSecret()
		c.SecretHash = h
		cfgs = append(cfgs, c)
	}
	e := newEnv(t, db, append([]Option{WithClients(cfgs...)}, opts...)...)
	for k, v := range secrets {
		e.secret[k] = v
	}
	mux := e.srv.Config.Handler.(*http.ServeMux)
	if _, pat := mux.Handler(httptestRequest(e.issuer + pathIntrospect)); pat == "" {
		t.Fatalf("Routes did not register %s", pathIntrospect)
	}
	return &grantsEnv{e}
}

func httptestRequest(u string) *http.Request {
	r, _ := http.NewRequest(http.MethodPost, u, nil)
	return r
}

// post sends form to path with client id's secret in Basic auth (if id
// is not empty) and decodes the JSON answer.
func (e *grantsEnv) post(t *testing.T, path, id string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.issuer+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(id, e.secret[id])
	}
	return jsonAnswer(t, e.srv.Client(), req)
}

// jsonAnswer sends req with hc and returns the status and the JSON object
// answered (empty if the body is no JSON object).
func jsonAnswer(t *testing.T, hc *http.Client, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// serviceToken obtains a client credentials token.
func (e *grantsEnv) clientCredentials(t *testing.T, id string, extra url.Values) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {GrantClientCredentials}}
	for k, v := range extra {
		form[k] = v
	}
	return e.post(t, pathToken, id, form)
}

// verifyFor verifies an access token the way a department does with
// go-oidc: signature against jwks_uri, iss, exp and aud.
func (e *grantsEnv) verifyFor(t *testing.T, dept, raw string) ServiceTokenClaims {
	t.Helper()
	tok, err := e.op.Verifier(&oidc.Config{ClientID: dept, Now: e.clk.Now}).Verify(e.ctx, raw)
	if err != nil {
		t.Fatalf("go-oidc verification for %s: %v", dept, err)
	}
	var c ServiceTokenClaims
	if err := tok.Claims(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClientCredentials(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newGrantsEnv(t, db)
		for _, tc := range []struct {
			name   string
			client string
			form   url.Values
			status int
			code   string
			aud    []string
		}{
			{"ok/scope", svcCivil, url.Values{"scope": {deptSocial}}, 200, "", []string{deptSocial}},
			{"ok/audience-and-resource", svcCivil, url.Values{"audience": {deptHousing}, "resource": {deptSocial}}, 200, "", []string{deptHousing, deptSocial}},
			{"fail/no-target", svcCivil, nil, 400, "invalid_target", nil},
			{"fail/unregistered-audience", svcSocial, url.Values{"audience": {deptSocial}}, 400, "invalid_target", nil},
			{"fail/unregistered-scope", svcSocial, url.Values{"scope": {"openid"}}, 400, "invalid_scope", nil},
			{"fail/portal-not-a-service", portalA, url.Values{"scope": {deptSocial}}, 400, "unauthorized_client", nil},
			{"fail/wrong-secret", "", url.Values{"scope": {deptSocial}, "client_id": {svcCivil}, "client_secret": {"txc_nope"}}, 401, "invalid_client", nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				st, m := e.clientCredentials(t, tc.client, tc.form)
				if st != tc.status || (tc.code != "" && m["error"] != tc.code) {
					t.Fatalf("got %d %v, want %d %s", st, m, tc.status, tc.code)
				}
				if tc.status != 200 {
					return
				}
				if _, ok := m["refresh_token"]; ok {
					t.Errorf("client credentials issued a refresh token")
				}
				raw, _ := m["access_token"].(string)
				c := e.verifyFor(t, tc.aud[0], raw)
				if c.Subject != tc.client || c.ClientID != tc.client || !slices.Equal([]string(c.Audience), tc.aud) || c.Act != nil {
					t.Errorf("claims %+v", c)
				}
				if _, err := e.op.Verifier(&oidc.Config{ClientID: "dept:other", Now: e.clk.Now}).Verify(e.ctx, raw); err == nil {
					t.Errorf("token verified for a department outside its audience")
				}
			})
		}
		t.Run("ok/purge-expired-records", func(t *testing.T) {
			purge := func(at time.Time) int64 {
				var n int64
				err := db.InTx(t.Context(), func(tx *store.Tx) error {
					var err error
					n, err = purgeTokenRecords(t.Context(), tx, at.UnixNano())
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
			if n := purge(e.clk.Now()); n != 0 {
				t.Errorf("purged %d live records", n)
			}
			if n := purge(e.clk.Now().Add(time.Hour)); n != 2 {
				t.Errorf("purged %d expired service tokens, want 2", n)
			}
		})
	})
}

func TestIntrospectRevoke(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newGrantsEnv(t, db)
		b, pt := e.browser(t), e.portal(portalA)
		tk := b.signIn(t, pt)
		_, m := e.clientCredentials(t, svcCivil, url.Values{"audience": {deptSocial}})
		svcTok, _ := m["access_token"].(string)
		introspect := func(t *testing.T, caller, token string) map[string]any {
			t.Helper()
			st, m := e.post(t, pathIntrospect, caller, url.Values{"token": {token}})
			if st != 200 {
				t.Fatalf("introspect: %d %v", st, m)
			}
			return m
		}
		for _, tc := range []struct {
			name, caller, token string
			active              bool
		}{
			{"ok/own-access-token", portalA, tk.tok.AccessToken, true},
			{"ok/own-refresh-token", portalA, tk.tok.RefreshToken, true},
			{"ok/service-token-by-its-client", svcCivil, svcTok, true},
			{"ok/service-token-by-audience-department", svcSocial, svcTok, true},
			{"fail/other-client-access-token", portalSM2, tk.tok.AccessToken, false},
			{"fail/other-client-refresh-token", portalSM2, tk.tok.RefreshToken, false},
			{"fail/unknown", portalA, "not-a-token", false},
			{"fail/unknown-refresh", portalA, "txr_unknown", false},
			{"fail/forged", portalA, tk.tok.AccessToken[:len(tk.tok.AccessToken)-4] + "AAAA", false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				m := introspect(t, tc.caller, tc.token)
				if m["active"] != tc.active {
					t.Fatalf("active %v, want %v: %v", m["active"], tc.active, m)
				}
				if !tc.active && len(m) != 1 {
					t.Errorf("inactive answer tells more: %v", m)
				}
				if tc.active && (m["client_id"] == "" || m["exp"] == nil || m["sub"] == "") {
					t.Errorf("active answer: %v", m)
				}
			})
		}
		t.Run("fail/introspect-unauthenticated", func(t *testing.T) {
			if st, m := e.post(t, pathIntrospect, "", url.Values{"token": {svcTok}}); st != 401 || m["error"] != "invalid_client" {
				t.Errorf("got %d %v", st, m)
			}
			if st, m := e.post(t, pathIntrospect, "", url.Values{"token": {svcTok}, "client_id": {portalSPA}}); st != 401 {
				t.Errorf("public client: %d %v", st, m)
			}
		})
		t.Run("ok/revoke-access-token-by-jti", func(t *testing.T) {
			if st, _ := e.post(t, pathRevoke, svcSocial, url.Values{"token": {svcTok}}); st != 200 {
				t.Fatalf("foreign revoke: %d", st)
			}
			if introspect(t, svcCivil, svcTok)["active"] != true {
				t.Fatalf("another client revoked the token")
			}
			if st, _ := e.post(t, pathRevoke, svcCivil, url.Values{"token": {svcTok}, "token_type_hint": {"access_token"}}); st != 200 {
				t.Fatalf("revoke: %d", st)
			}
			if introspect(t, svcCivil, svcTok)["active"] != false {
				t.Errorf("revoked service token still active")
			}
		})
		t.Run("ok/revoke-refresh-token-revokes-family", func(t *testing.T) {
			if st, _ := e.post(t, pathRevoke, portalA, url.Values{"token": {tk.tok.RefreshToken}}); st != 200 {
				t.Fatalf("revoke: %d", st)
			}
			if introspect(t, portalA, tk.tok.AccessToken)["active"] != false || introspect(t, portalA, tk.tok.RefreshToken)["active"] != false {
				t.Errorf("family not revoked")
			}
			if st, _, _ := e.userinfo(t, "get", tk.tok.AccessToken); st != 401 {
				t.Errorf("userinfo after revocation: %d", st)
			}
		})
		t.Run("ok/revoke-unknown-token", func(t *testing.T) {
			if st, _ := e.post(t, pathRevoke, portalA, url.Values{"token": {"whatever"}}); st != 200 {
				t.Errorf("unknown token: %d", st)
			}
			if st, m := e.post(t, pathRevoke, portalA, url.Values{}); st != 400 || m["error"] != "invalid_request" {
				t.Errorf("no token: %d %v", st, m)
			}
		})
		t.Run("ok/expired-inactive", func(t *testing.T) {
			tk2 := e.browser(t).signIn(t, pt)
			e.clk.Advance(11 * time.Minute)
			if introspect(t, portalA, tk2.tok.AccessToken)["active"] != false {
				t.Errorf("expired access token active")
			}
			if introspect(t, portalA, tk2.tok.RefreshToken)["active"] != true {
				t.Errorf("refresh token should outlive the access token")
			}
		})
	})
}

func TestDiscoveryGrants(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newGrantsEnv(t, db)
		var d map[string]any
		if err := e.op.Claims(&d); err != nil {
			t.Fatal(err)
		}
		list := func(k string) []string {
			var out []string
			for _, v := range d[k].([]any) {
				out = append(out, v.(string))
			}
			return out
		}
		for _, tc := range []struct {
			name string
			ok   bool
		}{
			{"ok/introspection_endpoint", d["introspection_endpoint"] == e.issuer+pathIntrospect},
			{"ok/revocation_endpoint", d["revocation_endpoint"] == e.issuer+pathRevoke},
			{"ok/end_session_endpoint", d["end_session_endpoint"] == e.issuer+pathLogout},
			{"ok/backchannel", d["backchannel_logout_supported"] == true && d["backchannel_logout_session_supported"] == true},
			{"ok/grant_types", slices.Contains(list("grant_types_supported"), GrantClientCredentials) && slices.Contains(list("grant_types_supported"), GrantTokenExchange)},
			{"ok/auth_methods", slices.Contains(list("token_endpoint_auth_methods_supported"), AuthPrivateKeyJWT) &&
				slices.Contains(list("token_endpoint_auth_methods_supported"), AuthTLSClientAuth)},
			{"ok/assertion_algs", slices.Contains(list("token_endpoint_auth_signing_alg_values_supported"), AlgSM2)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if !tc.ok {
					t.Errorf("discovery document: %v", d)
				}
			})
		}
	})
}
