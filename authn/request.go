package authn

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxAuthorizeRequestSize is the largest authorization request accepted, in
// bytes of its URL query or form body.
const MaxAuthorizeRequestSize = 16 << 10

// Limits on single authorization request parameters, in bytes.
const (
	maxStateLen       = 2048
	maxNonceLen       = 512
	maxScopeLen       = 1024
	maxScopeCount     = 32
	maxLoginHintLen   = 256
	maxUILocalesLen   = 256
	maxACRValuesLen   = 1024
	maxListCount      = 16
	maxIDTokenHintLen = 8192
)

// Prompt values (OpenID Connect Core 1.0 §3.1.2.1).
const (
	PromptNone          = "none"
	PromptLogin         = "login"
	PromptConsent       = "consent"
	PromptSelectAccount = "select_account"
)

// AuthorizeRequest is a parsed authorization request (RFC 6749 §4.1.1,
// RFC 7636 §4.3, OpenID Connect Core 1.0 §3.1.2.1). Parameters the provider
// does not use (display, claims, claims_locales, registration, ...) are
// ignored and not kept.
type AuthorizeRequest struct {
	ClientID     string   `json:"client_id"`
	RedirectURI  string   `json:"redirect_uri"`
	ResponseType string   `json:"response_type"`
	Scopes       []string `json:"scope"`
	State        string   `json:"state,omitempty"`
	Nonce        string   `json:"nonce,omitempty"`
	Prompt       []string `json:"prompt,omitempty"`
	// MaxAge is the max_age parameter in seconds, or -1 when absent.
	MaxAge              int64    `json:"max_age"`
	ACRValues           []string `json:"acr_values,omitempty"`
	LoginHint           string   `json:"login_hint,omitempty"`
	UILocales           []string `json:"ui_locales,omitempty"`
	IDTokenHint         string   `json:"id_token_hint,omitempty"`
	CodeChallenge       string   `json:"code_challenge,omitempty"`
	CodeChallengeMethod string   `json:"code_challenge_method,omitempty"`
}

// hasPrompt reports whether p is among the prompt values.
func (r *AuthorizeRequest) hasPrompt(p string) bool { return slices.Contains(r.Prompt, p) }

// Values encodes r as request parameters; ParseAuthorizeRequest(r.Values())
// returns r again.
func (r *AuthorizeRequest) Values() url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("client_id", r.ClientID)
	set("redirect_uri", r.RedirectURI)
	set("response_type", r.ResponseType)
	set("scope", strings.Join(r.Scopes, " "))
	set("state", r.State)
	set("nonce", r.Nonce)
	set("prompt", strings.Join(r.Prompt, " "))
	if r.MaxAge >= 0 {
		v.Set("max_age", strconv.FormatInt(r.MaxAge, 10))
	}
	set("acr_values", strings.Join(r.ACRValues, " "))
	set("login_hint", r.LoginHint)
	set("ui_locales", strings.Join(r.UILocales, " "))
	set("id_token_hint", r.IDTokenHint)
	set("code_challenge", r.CodeChallenge)
	set("code_challenge_method", r.CodeChallengeMethod)
	return v
}

// singleParams may appear at most once (RFC 6749 §3.1).
var singleParams = []string{
	"response_type", "scope", "state", "nonce", "prompt", "max_age", "acr_values", "login_hint",
	"ui_locales", "id_token_hint", "code_challenge", "code_challenge_method", "response_mode",
	"request", "request_uri",
}

// ParseAuthorizeRequest parses and checks the syntax of an authorization
// request. It does NOT look the client up, so it cannot tell whether
// client_id and redirect_uri are registered; the caller must check that
// before it uses the redirect URI at all.
//
// It returns (nil, err) when client_id or redirect_uri is missing, repeated
// or malformed: such errors must be shown to the user and never sent to a
// redirect URI (RFC 6749 §4.1.2.1). Any other error comes with the request
// parsed so far (ClientID, RedirectURI and, when valid, State), so that the
// caller can send it to the redirect URI once it has checked it. Errors are
// *Error values: invalid_request, invalid_scope (no "openid"),
// unsupported_response_type (anything but "code"), request_not_supported
// and request_uri_not_supported (request objects are not supported).
//
// Rules beyond syntax: response_mode may only be "query"; prompt "none" may
// not be combined with other values; a PKCE code_challenge must use S256
// and be 43 to 128 unreserved characters (RFC 7636 §4.2); unknown
// parameters are ignored. The caller must bound the size of v (see
// MaxAuthorizeRequestSize).
func ParseAuthorizeRequest(v url.Values) (*AuthorizeRequest, error) {
	clientID, redirect, err := parseClientRedirect(v)
	if err != nil {
		return nil, err
	}
	r := &AuthorizeRequest{ClientID: clientID, RedirectURI: redirect, MaxAge: -1}
	for _, step := range []func(url.Values) error{r.parseProtocol, r.parseScope, r.parseOptional, r.parsePKCE} {
		if err := step(v); err != nil {
			return r, err
		}
	}
	return r, nil
}

// parseClientRedirect reads client_id and redirect_uri, whose errors are
// never sent to a redirect URI.
func parseClientRedirect(v url.Values) (clientID, redirect string, err error) {
	clientID, err = single(v, "client_id")
	if err != nil {
		return "", "", err
	}
	if clientID == "" {
		return "", "", oauthErr(ErrInvalidRequest, "client_id is required")
	}
	if len(clientID) > maxClientIDLen || !isVSChars(clientID) {
		return "", "", oauthErr(ErrInvalidRequest, "client_id is malformed")
	}
	redirect, err = single(v, "redirect_uri")
	if err != nil {
		return "", "", err
	}
	if redirect == "" {
		return "", "", oauthErr(ErrInvalidRequest, "redirect_uri is required")
	}
	if len(redirect) > maxRedirectURILen || !isVSChars(redirect) || strings.Contains(redirect, " ") {
		return "", "", oauthErr(ErrInvalidRequest, "redirect_uri is malformed")
	}
	return clientID, redirect, nil
}

// parseProtocol checks repeated parameters, state, request objects,
// response_type and response_mode.
func (r *AuthorizeRequest) parseProtocol(v url.Values) error {
	for _, k := range singleParams {
		if len(v[k]) > 1 {
			if s := v.Get("state"); len(v["state"]) == 1 && len(s) <= maxStateLen && isVSChars(s) {
				r.State = s
			}
			return oauthErr(ErrInvalidRequest, "parameter %s is repeated", k)
		}
	}
	if s := v.Get("state"); s != "" {
		if len(s) > maxStateLen || !isVSChars(s) {
			return oauthErr(ErrInvalidRequest, "state must be at most %d printable ASCII characters", maxStateLen)
		}
		r.State = s
	}
	if v.Get("request") != "" {
		return oauthErr(ErrRequestNotSupported, "request objects are not supported")
	}
	if v.Get("request_uri") != "" {
		return oauthErr(ErrRequestURINotSupported, "request_uri is not supported")
	}
	switch rt := v.Get("response_type"); rt {
	case "":
		return oauthErr(ErrInvalidRequest, "response_type is required")
	case "code":
		r.ResponseType = rt
	default:
		return oauthErr(ErrUnsupportedResponseType, "only response_type=code is supported")
	}
	if rm := v.Get("response_mode"); rm != "" && rm != "query" {
		return oauthErr(ErrInvalidRequest, "only response_mode=query is supported")
	}
	return nil
}

// parseScope reads scope, which must include openid.
func (r *AuthorizeRequest) parseScope(v url.Values) error {
	scope := v.Get("scope")
	if len(scope) > maxScopeLen {
		return oauthErr(ErrInvalidScope, "scope is longer than %d bytes", maxScopeLen)
	}
	for _, s := range splitList(scope) {
		if !isScopeToken(s) {
			return oauthErr(ErrInvalidScope, "scope contains a malformed value")
		}
		if !slices.Contains(r.Scopes, s) {
			r.Scopes = append(r.Scopes, s)
		}
	}
	if len(r.Scopes) > maxScopeCount {
		return oauthErr(ErrInvalidScope, "more than %d scopes", maxScopeCount)
	}
	if !slices.Contains(r.Scopes, ScopeOpenID) {
		return oauthErr(ErrInvalidScope, "scope must include openid")
	}
	return nil
}

// parseOptional reads nonce, prompt, max_age, acr_values, login_hint,
// ui_locales and id_token_hint.
func (r *AuthorizeRequest) parseOptional(v url.Values) error {
	if n := v.Get("nonce"); n != "" {
		if len(n) > maxNonceLen || !isText(n) {
			return oauthErr(ErrInvalidRequest, "nonce must be at most %d bytes of printable UTF-8", maxNonceLen)
		}
		r.Nonce = n
	}
	if p := v.Get("prompt"); p != "" {
		for _, x := range splitList(p) {
			switch x {
			case PromptNone, PromptLogin, PromptConsent, PromptSelectAccount:
				if !slices.Contains(r.Prompt, x) {
					r.Prompt = append(r.Prompt, x)
				}
			default:
				return oauthErr(ErrInvalidRequest, "unknown prompt value")
			}
		}
		if r.hasPrompt(PromptNone) && len(r.Prompt) > 1 {
			return oauthErr(ErrInvalidRequest, "prompt=none cannot be combined with other values")
		}
	}
	if ma, ok := v["max_age"]; ok {
		n, err := strconv.ParseInt(ma[0], 10, 64)
		if err != nil || n < 0 || n > 1<<31 || ma[0] != strconv.FormatInt(n, 10) {
			return oauthErr(ErrInvalidRequest, "max_age must be a non-negative integer number of seconds")
		}
		r.MaxAge = n
	}
	var ok bool
	if r.ACRValues, ok = tokenList(v.Get("acr_values"), maxACRValuesLen, isVSChars); !ok {
		return oauthErr(ErrInvalidRequest, "acr_values is malformed")
	}
	if h := v.Get("login_hint"); h != "" {
		if len(h) > maxLoginHintLen || !isText(h) {
			return oauthErr(ErrInvalidRequest, "login_hint must be at most %d bytes of printable UTF-8", maxLoginHintLen)
		}
		r.LoginHint = h
	}
	if r.UILocales, ok = tokenList(v.Get("ui_locales"), maxUILocalesLen, isLanguageTag); !ok {
		return oauthErr(ErrInvalidRequest, "ui_locales is malformed")
	}
	if h := v.Get("id_token_hint"); h != "" {
		if len(h) > maxIDTokenHintLen || strings.Count(h, ".") != 2 || !isB64URLDots(h) {
			return oauthErr(ErrInvalidRequest, "id_token_hint is not a compact JWT")
		}
		r.IDTokenHint = h
	}
	return nil
}

// parsePKCE reads code_challenge and code_challenge_method (RFC 7636
// §4.2, S256 only).
func (r *AuthorizeRequest) parsePKCE(v url.Values) error {
	method, challenge := v.Get("code_challenge_method"), v.Get("code_challenge")
	switch {
	case challenge == "" && method == "":
	case challenge == "":
		return oauthErr(ErrInvalidRequest, "code_challenge_method without code_challenge")
	case method != "S256":
		return oauthErr(ErrInvalidRequest, "code_challenge_method must be S256")
	case !isPKCEValue(challenge):
		return oauthErr(ErrInvalidRequest, "code_challenge must be 43 to 128 characters of [A-Za-z0-9-._~]")
	default:
		r.CodeChallenge, r.CodeChallengeMethod = challenge, method
	}
	return nil
}

// single returns the only value of a parameter that must not repeat, as a
// non-redirectable error.
func single(v url.Values, k string) (string, error) {
	if len(v[k]) > 1 {
		return "", oauthErr(ErrInvalidRequest, "%s is repeated", k)
	}
	return v.Get(k), nil
}

// splitList splits a space-delimited parameter, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, " ") {
		if x != "" {
			out = append(out, x)
		}
	}
	return out
}

// tokenList splits a space-delimited list of at most limit bytes and
// maxListCount distinct items, each accepted by valid.
func tokenList(s string, limit int, valid func(string) bool) ([]string, bool) {
	if len(s) > limit {
		return nil, false
	}
	var out []string
	for _, x := range splitList(s) {
		if !valid(x) {
			return nil, false
		}
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out, len(out) <= maxListCount
}

// isVSChars reports whether s is 1*VSCHAR (%x20-7E, RFC 6749 Appendix A).
func isVSChars(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// isScopeToken reports whether s is a scope-token (%x21 / %x23-5B /
// %x5D-7E, RFC 6749 §3.3) of at most 64 bytes.
func isScopeToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// isText reports whether s is valid UTF-8 without control characters.
func isText(s string) bool { return utf8.ValidString(s) && !hasControl(s) }

// isLanguageTag reports whether s looks like a BCP 47 tag: 1 to 35
// characters from [A-Za-z0-9-].
func isLanguageTag(s string) bool {
	if len(s) > 35 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return s != ""
}

// isPKCEValue reports whether s is a valid code_verifier or S256
// code_challenge: 43 to 128 characters of [A-Za-z0-9-._~] (RFC 7636 §4.1).
func isPKCEValue(s string) bool {
	if len(s) < 43 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

func isB64URLDots(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
