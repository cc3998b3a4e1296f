package authn

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/tongxing/tongxing/authn/sm2jws"
	"github.com/tongxing/tongxing/store/storetest"
)

func TestDiscovery(t *testing.T) {
	p := newTestProvider(t, storetest.SQLite(t), newClock(), WithIssuer("https://sso.tongxing.test/oidc/"))
	mux := http.NewServeMux()
	p.Routes(mux)
	get := func(path string) (*http.Response, []byte) {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		body, _ := io.ReadAll(rec.Result().Body)
		return rec.Result(), body
	}
	resp, body := get("/oidc/.well-known/openid-configuration")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("discovery: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var d map[string]any
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatal(err)
	}
	iss := "https://sso.tongxing.test/oidc"
	list := func(k string) []string {
		var out []string
		for _, x := range d[k].([]any) {
			out = append(out, x.(string))
		}
		return out
	}
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"ok/issuer", d["issuer"] == iss},
		{"ok/authorization_endpoint", d["authorization_endpoint"] == iss+"/oauth2/authorize"},
		{"ok/token_endpoint", d["token_endpoint"] == iss+"/oauth2/token"},
		{"ok/userinfo_endpoint", d["userinfo_endpoint"] == iss+"/oauth2/userinfo"},
		{"ok/jwks_uri", d["jwks_uri"] == iss+"/oauth2/jwks"},
		{"ok/sm2_jwks_uri", d[sm2jws.DiscoveryField] == iss+"/oauth2/sm2-jwks"},
		{"ok/response_types", slices.Equal(list("response_types_supported"), []string{"code"})},
		{"ok/grant_types", slices.Equal(list("grant_types_supported"), grantTypes)},
		{"ok/subject_types", slices.Equal(list("subject_types_supported"), []string{"pairwise", "public"})},
		{"ok/algs", slices.Equal(list("id_token_signing_alg_values_supported"), []string{"RS256", "ES256", "SM2"})},
		{"ok/auth_methods", slices.Contains(list("token_endpoint_auth_methods_supported"), "client_secret_basic") &&
			slices.Contains(list("token_endpoint_auth_methods_supported"), "client_secret_post")},
		{"ok/pkce", slices.Equal(list("code_challenge_methods_supported"), []string{"S256"})},
		{"ok/scopes", slices.Equal(list("scopes_supported"), []string{"openid", "profile", "email", "address", "phone"})},
		{"ok/claims", slices.Contains(list("claims_supported"), "acr") && slices.Contains(list("claims_supported"), "sid")},
		{"ok/acr_values", slices.Equal(list("acr_values_supported"), []string{ACRPassword, ACRTOTP, ACRCertificate})},
		{"ok/ui_locales", slices.Equal(list("ui_locales_supported"), []string{"zh-CN", "en"})},
		{"ok/request_parameter", d["request_parameter_supported"] == false},
		{"ok/request_uri_parameter", d["request_uri_parameter_supported"] == false},
		{"ok/claims_parameter", d["claims_parameter_supported"] == false},
		{"ok/iss_parameter", d["authorization_response_iss_parameter_supported"] == true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.ok {
				t.Errorf("discovery document:\n%s", body)
			}
		})
	}
	resp, body = get("/oidc/oauth2/jwks")
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Cache-Control"), "max-age=300") {
		t.Errorf("jwks: %d %v", resp.StatusCode, resp.Header)
	}
	if strings.Contains(string(body), `"SM2"`) {
		t.Errorf("jwks_uri carries an SM2 key")
	}
	if _, body = get("/oidc/oauth2/sm2-jwks"); !strings.Contains(string(body), `"crv":"SM2"`) || strings.Contains(string(body), `"RSA"`) {
		t.Errorf("sm2 jwks: %s", body)
	}
	if resp, _ := get("/oidc/login/static/login.css"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
		t.Errorf("style sheet: %d", resp.StatusCode)
	}
}

func TestIssuerOption(t *testing.T) {
	for _, tc := range []struct {
		name, issuer string
		ok           bool
	}{
		{"ok/https", "https://sso.gov.test", true},
		{"ok/path", "https://gov.test/sso", true},
		{"ok/loopback-http", "http://127.0.0.1:8443", true},
		{"fail/empty", "", false},
		{"fail/http", "http://sso.gov.test", false},
		{"fail/query", "https://sso.gov.test/?a=b", false},
		{"fail/fragment", "https://sso.gov.test/#x", false},
		{"fail/relative", "/sso", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := checkIssuer(tc.issuer); (err == nil) != tc.ok {
				t.Errorf("checkIssuer(%q) = %v", tc.issuer, err)
			}
		})
	}
}

func TestMessagesComplete(t *testing.T) {
	for key := range messages[localeZH] {
		if _, ok := messages[localeEN][key]; !ok {
			t.Errorf("fail/en-missing-%s", key)
		}
	}
	for key := range messages[localeEN] {
		if _, ok := messages[localeZH][key]; !ok {
			t.Errorf("fail/zh-missing-%s", key)
		}
	}
	for _, s := range supportedScopes {
		if _, ok := messages[localeZH]["scope."+s]; !ok {
			t.Errorf("fail/no-text-for-scope-%s", s)
		}
	}
}

func TestPickLocale(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ui     []string
		accept string
		want   string
	}{
		{"ok/default", nil, "", localeZH},
		{"ok/ui-en", []string{"en-US"}, "zh-CN", localeEN},
		{"ok/ui-unsupported-then-zh", []string{"de", "zh-Hans"}, "en", localeZH},
		{"ok/accept-q", nil, "zh;q=0.4, en;q=0.8", localeEN},
		{"ok/accept-unsupported", nil, "de-DE, fr", localeZH},
		{"ok/accept-garbage", nil, ";;;q=x,,", localeZH},
		{"ok/accept-q-zero", nil, "en;q=0, zh;q=0.1", localeZH},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := pickLocale(tc.ui, tc.accept); got != tc.want {
				t.Errorf("pickLocale = %s, want %s", got, tc.want)
			}
		})
	}
}
