package authn

import (
	"errors"
	"net/url"
	"reflect"
	"slices"
	"testing"
	"unicode/utf8"
)

// FuzzParseAuthorizeRequest checks the invariants of the authorization
// request parser on arbitrary query strings: it never panics; an accepted
// request has response_type code, the openid scope, no duplicate scopes,
// fields within their limits and valid UTF-8, and survives re-encoding;
// a rejected one is a protocol *Error, and when it comes with a partial
// request that request has a syntactically valid client_id and
// redirect_uri.
func FuzzParseAuthorizeRequest(f *testing.F) {
	f.Add("client_id=portal-a&redirect_uri=https%3A%2F%2Fa.test%2Fcb&response_type=code&scope=openid+profile&state=s")
	f.Add("client_id=a&redirect_uri=https%3A%2F%2Fa.test%2Fcb&response_type=code&scope=openid&nonce=n&prompt=none&max_age=0" +
		"&acr_values=urn%3Atongxing%3Aloa%3A2&login_hint=x&ui_locales=en+zh-CN&code_challenge=" + testChallenge + "&code_challenge_method=S256")
	f.Add("client_id=a&client_id=b")
	f.Add("client_id=a&redirect_uri=x&response_type=token&scope=openid&request=a.b.c")
	f.Add("client_id=a&redirect_uri=x&response_type=code&scope=openid&id_token_hint=a.b.c&max_age=99999999999999999999")
	f.Add("%zz&client_id=%E4%BD%A0")
	f.Fuzz(func(t *testing.T, query string) {
		if len(query) > MaxAuthorizeRequestSize {
			return
		}
		v, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		r, err := ParseAuthorizeRequest(v)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code == "" {
				t.Fatalf("error %v is not a protocol error", err)
			}
			if r != nil && (r.ClientID == "" || r.RedirectURI == "" || !isVSChars(r.ClientID) || !isVSChars(r.RedirectURI)) {
				t.Fatalf("partial request with a bad client_id or redirect_uri: %+v", r)
			}
			if r != nil && r.State != "" && !isVSChars(r.State) {
				t.Fatalf("partial request keeps a bad state %q", r.State)
			}
			return
		}
		if r.ResponseType != "code" || !slices.Contains(r.Scopes, ScopeOpenID) {
			t.Fatalf("accepted %+v", r)
		}
		seen := map[string]bool{}
		for _, s := range r.Scopes {
			if seen[s] || !isScopeToken(s) {
				t.Fatalf("scope list %q", r.Scopes)
			}
			seen[s] = true
		}
		if len(r.State) > maxStateLen || len(r.Nonce) > maxNonceLen || len(r.LoginHint) > maxLoginHintLen ||
			len(r.IDTokenHint) > maxIDTokenHintLen || len(r.Scopes) > maxScopeCount || len(r.UILocales) > maxListCount ||
			len(r.ACRValues) > maxListCount || r.MaxAge < -1 {
			t.Fatalf("limits exceeded: %+v", r)
		}
		for _, s := range []string{r.Nonce, r.LoginHint, r.State, r.ClientID, r.RedirectURI} {
			if !utf8.ValidString(s) || hasControl(s) {
				t.Fatalf("field %q is not printable UTF-8", s)
			}
		}
		if r.CodeChallenge != "" && (r.CodeChallengeMethod != "S256" || !isPKCEValue(r.CodeChallenge)) {
			t.Fatalf("PKCE %q %q", r.CodeChallenge, r.CodeChallengeMethod)
		}
		if r.hasPrompt(PromptNone) && len(r.Prompt) != 1 {
			t.Fatalf("prompt %q", r.Prompt)
		}
		again, err := ParseAuthorizeRequest(r.Values())
		if err != nil || !reflect.DeepEqual(r, again) {
			t.Fatalf("re-encoded request differs: %+v vs %+v (%v)", r, again, err)
		}
	})
}
