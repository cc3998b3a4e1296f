package authn

import (
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

const testChallenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM" // RFC 7636 Appendix B

func TestParseAuthorizeRequest(t *testing.T) {
	base := "client_id=portal-a&redirect_uri=https%3A%2F%2Fa.test%2Fcb&response_type=code&scope=openid+profile&state=s-1"
	for _, tc := range []struct {
		name  string
		query string
		check func(*AuthorizeRequest) bool
	}{
		{"ok/minimal", base, func(r *AuthorizeRequest) bool {
			return r.ClientID == "portal-a" && r.RedirectURI == "https://a.test/cb" && r.MaxAge == -1 &&
				reflect.DeepEqual(r.Scopes, []string{"openid", "profile"}) && r.State == "s-1"
		}},
		{"ok/everything", base + "&nonce=n%E4%BD%A0&prompt=login+consent&max_age=0&acr_values=urn%3Atongxing%3Aloa%3A2&login_hint=zhangsan" +
			"&ui_locales=en+zh-CN&code_challenge=" + testChallenge + "&code_challenge_method=S256&display=page&claims=%7B%7D&frob=1",
			func(r *AuthorizeRequest) bool {
				return r.Nonce == "n你" && reflect.DeepEqual(r.Prompt, []string{"login", "consent"}) && r.MaxAge == 0 &&
					r.ACRValues[0] == ACRPassword && r.LoginHint == "zhangsan" && reflect.DeepEqual(r.UILocales, []string{"en", "zh-CN"}) &&
					r.CodeChallenge == testChallenge && r.CodeChallengeMethod == "S256"
			}},
		{"ok/duplicate-scopes-collapse", strings.Replace(base, "openid+profile", "openid++openid+email", 1), func(r *AuthorizeRequest) bool {
			return reflect.DeepEqual(r.Scopes, []string{"openid", "email"})
		}},
		{"ok/response-mode-query", base + "&response_mode=query", func(r *AuthorizeRequest) bool { return true }},
		{"ok/unknown-scope-kept-for-filtering", strings.Replace(base, "openid+profile", "openid+profile+offline_access", 1), func(r *AuthorizeRequest) bool { return len(r.Scopes) == 3 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			r, err := ParseAuthorizeRequest(v)
			if err != nil {
				t.Fatalf("ParseAuthorizeRequest: %v", err)
			}
			if !tc.check(r) {
				t.Errorf("parsed %+v", r)
			}
		})
	}
	for _, tc := range []struct {
		name       string
		query      string
		want       *Error
		redirect   bool // the error may go to the redirect URI
		keepsState bool
	}{
		{"fail/no-client-id", "redirect_uri=https%3A%2F%2Fa.test%2Fcb&response_type=code&scope=openid", ErrInvalidRequest, false, false},
		{"fail/no-redirect-uri", "client_id=a&response_type=code&scope=openid", ErrInvalidRequest, false, false},
		{"fail/repeated-client-id", base + "&client_id=b", ErrInvalidRequest, false, false},
		{"fail/repeated-redirect-uri", base + "&redirect_uri=x", ErrInvalidRequest, false, false},
		{"fail/control-in-redirect-uri", "client_id=a&redirect_uri=https%3A%2F%2Fa.test%2F%0Acb&response_type=code&scope=openid", ErrInvalidRequest, false, false},
		{"fail/no-response-type", strings.Replace(base, "&response_type=code", "", 1), ErrInvalidRequest, true, true},
		{"fail/response-type-token", strings.Replace(base, "response_type=code", "response_type=token", 1), ErrUnsupportedResponseType, true, true},
		{"fail/response-type-hybrid", strings.Replace(base, "response_type=code", "response_type=code+id_token", 1), ErrUnsupportedResponseType, true, true},
		{"fail/no-openid", strings.Replace(base, "openid+profile", "profile", 1), ErrInvalidScope, true, true},
		{"fail/no-scope", strings.Replace(base, "&scope=openid+profile", "", 1), ErrInvalidScope, true, true},
		{"fail/repeated-scope", base + "&scope=openid", ErrInvalidRequest, true, true},
		{"fail/repeated-state", base + "&state=t", ErrInvalidRequest, true, false},
		{"fail/state-not-ascii", strings.Replace(base, "s-1", "%E4%BD%A0", 1), ErrInvalidRequest, true, false},
		{"fail/prompt-none-and-login", base + "&prompt=none+login", ErrInvalidRequest, true, true},
		{"fail/prompt-unknown", base + "&prompt=maybe", ErrInvalidRequest, true, true},
		{"fail/max-age-negative", base + "&max_age=-1", ErrInvalidRequest, true, true},
		{"fail/max-age-not-number", base + "&max_age=1e3", ErrInvalidRequest, true, true},
		{"fail/max-age-plus", base + "&max_age=%2B5", ErrInvalidRequest, true, true},
		{"fail/pkce-plain", base + "&code_challenge=" + testChallenge + "&code_challenge_method=plain", ErrInvalidRequest, true, true},
		{"fail/pkce-default-plain", base + "&code_challenge=" + testChallenge, ErrInvalidRequest, true, true},
		{"fail/pkce-short", base + "&code_challenge=abc&code_challenge_method=S256", ErrInvalidRequest, true, true},
		{"fail/pkce-method-only", base + "&code_challenge_method=S256", ErrInvalidRequest, true, true},
		{"fail/request-object", base + "&request=eyJ.eyJ.x", ErrRequestNotSupported, true, true},
		{"fail/request-uri", base + "&request_uri=https%3A%2F%2Fx", ErrRequestURINotSupported, true, true},
		{"fail/response-mode-fragment", base + "&response_mode=fragment", ErrInvalidRequest, true, true},
		{"fail/id-token-hint-garbage", base + "&id_token_hint=not+a+jwt", ErrInvalidRequest, true, true},
		{"fail/ui-locales-garbage", base + "&ui_locales=%3Cscript%3E", ErrInvalidRequest, true, true},
		{"fail/login-hint-control", base + "&login_hint=a%00b", ErrInvalidRequest, true, true},
		{"fail/nonce-too-long", base + "&nonce=" + strings.Repeat("n", maxNonceLen+1), ErrInvalidRequest, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			r, err := ParseAuthorizeRequest(v)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %s", err, tc.want.Code)
			}
			if (r != nil) != tc.redirect {
				t.Fatalf("redirectable = %v, want %v", r != nil, tc.redirect)
			}
			if r != nil && (r.State == "s-1") != tc.keepsState {
				t.Errorf("state %q kept = %v, want %v", r.State, r.State == "s-1", tc.keepsState)
			}
		})
	}
}

func TestAuthorizeRequestValuesRoundTrip(t *testing.T) {
	v, _ := url.ParseQuery("client_id=a&redirect_uri=https%3A%2F%2Fa.test%2Fcb%3Fx%3D1&response_type=code&scope=openid+email&state=st&nonce=n" +
		"&prompt=login&max_age=60&acr_values=urn%3Atongxing%3Aloa%3A2&login_hint=h&ui_locales=en&code_challenge=" + testChallenge + "&code_challenge_method=S256")
	r, err := ParseAuthorizeRequest(v)
	if err != nil {
		t.Fatal(err)
	}
	again, err := ParseAuthorizeRequest(r.Values())
	if err != nil || !reflect.DeepEqual(r, again) {
		t.Errorf("round trip: %+v vs %+v (%v)", r, again, err)
	}
}
