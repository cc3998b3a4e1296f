package authn

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// authorizer is the authorization endpoint: it checks the request,
// sends the browser to the login pages when the session is not enough, and
// redirects back with a code.
type authorizer struct {
	*base
	codes   codeIssuer
	logins  loginStarter
	clients *clientRegistry
	keys    *keyStore
	sess    *sessions
}

// authorizeParams reads the parameters of an authorization request: the
// URL query of a GET, the form body of a POST, at most
// MaxAuthorizeRequestSize bytes either way.
func authorizeParams(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	if r.Method == http.MethodPost {
		return readForm(w, r, MaxAuthorizeRequestSize)
	}
	if len(r.URL.RawQuery) > MaxAuthorizeRequestSize {
		return nil, fmt.Errorf("query exceeds %d bytes", MaxAuthorizeRequestSize)
	}
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, errors.New("malformed query")
	}
	return v, nil
}

// serveAuthorize is the authorization endpoint (OpenID Connect Core 1.0
// §3.1.2). Problems with client_id or redirect_uri are shown on an error
// page; every other error goes to the registered redirect URI.
func (az *authorizer) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	locale := pickLocale(nil, r.Header.Get("Accept-Language"))
	values, err := authorizeParams(w, r)
	if err != nil {
		az.errorPage(w, r, http.StatusBadRequest, locale, "error.request", err.Error())
		return
	}
	if tags, ok := tokenList(values.Get("ui_locales"), maxUILocalesLen, isLanguageTag); ok {
		locale = pickLocale(tags, r.Header.Get("Accept-Language"))
	}
	req, perr := ParseAuthorizeRequest(values)
	if req == nil {
		az.errorPage(w, r, http.StatusBadRequest, locale, "error.request", describe(perr))
		return
	}
	c, err := az.clients.get(r.Context(), req.ClientID)
	if errors.Is(err, ErrClientNotFound) {
		az.errorPage(w, r, http.StatusBadRequest, locale, "error.client", "unknown client_id")
		return
	}
	if err != nil {
		az.logError(r, "authorize: load client", err)
		az.errorPage(w, r, http.StatusInternalServerError, locale, "error.internal", "")
		return
	}
	if !c.hasRedirectURI(req.RedirectURI) {
		az.errorPage(w, r, http.StatusBadRequest, locale, "error.client", "redirect_uri is not registered for this client")
		return
	}
	if perr != nil {
		az.redirectError(w, r, req, perr)
		return
	}
	if c.Public() && req.CodeChallenge == "" {
		az.redirectError(w, r, req, oauthErr(ErrInvalidRequest, "public clients must send a PKCE code_challenge (S256)"))
		return
	}
	sess, err := az.sess.sessionFrom(r)
	if err != nil {
		az.logError(r, "authorize: read session", err)
		az.redirectError(w, r, req, oauthErr(ErrServerError, "temporarily unavailable"))
		return
	}
	az.proceed(w, r, c, req, sess, false, false)
}

// proceed takes an authorization request, already checked against its
// client, to its next step: the login form, the consent form, an error or
// a code. fresh says sess was authenticated during this very request (so
// prompt=login and max_age are satisfied); consented that the user has
// just approved the consent form.
func (az *authorizer) proceed(w http.ResponseWriter, r *http.Request, c *Client, req *AuthorizeRequest, sess *session, fresh, consented bool) {
	ctx := r.Context()
	if sess != nil && !fresh && az.loginNeeded(c, req, sess) {
		sess = nil
	}
	if fresh && acrRank(sess.ACR) < acrRank(c.MinACR) {
		az.redirectError(w, r, req, oauthErr(ErrAccessDenied, "the login did not reach the assurance level the client requires"))
		return
	}
	if req.IDTokenHint != "" {
		hint, err := az.hintSubject(ctx, c, req.IDTokenHint)
		if err != nil {
			az.redirectError(w, r, req, err)
			return
		}
		if sess != nil && az.subject(c, sess.UserID) != hint {
			if fresh {
				az.redirectError(w, r, req, oauthErr(ErrLoginRequired, "the signed-in user is not the one named by id_token_hint"))
				return
			}
			sess = nil
		}
	}
	if sess == nil {
		if req.hasPrompt(PromptNone) {
			az.redirectError(w, r, req, oauthErr(ErrLoginRequired, "the user is not signed in"))
			return
		}
		az.beginLogin(w, r, req, stageLogin, "", false)
		return
	}
	if req.hasPrompt(PromptConsent) && !consented {
		az.beginLogin(w, r, req, stageConsent, sess.ID, fresh)
		return
	}
	code, err := az.issueCode(ctx, c, req, sess)
	if err != nil {
		az.logError(r, "authorize: issue code", err)
		az.redirectError(w, r, req, oauthErr(ErrServerError, "temporarily unavailable"))
		return
	}
	az.redirect(w, r, req, url.Values{"code": {code}})
}

// loginNeeded reports whether sess is not good enough for req: prompt=login
// or select_account, max_age exceeded, or an assurance level below the
// client's minimum or the first acr value requested that the provider
// offers.
func (az *authorizer) loginNeeded(c *Client, req *AuthorizeRequest, sess *session) bool {
	if req.hasPrompt(PromptLogin) || req.hasPrompt(PromptSelectAccount) {
		return true
	}
	if req.MaxAge >= 0 && az.now().Sub(sess.AuthTime) > time.Duration(req.MaxAge)*time.Second {
		return true
	}
	have := acrRank(sess.ACR)
	if have < acrRank(c.MinACR) {
		return true
	}
	for _, a := range req.ACRValues {
		if r := acrRank(a); r > 0 {
			return have < r
		}
	}
	return false
}

// hintSubject returns the sub of id_token_hint, which must be an ID token
// signed by this provider (expired or not) for client c.
func (az *authorizer) hintSubject(ctx context.Context, c *Client, hint string) (string, error) {
	var claims jwt.RegisteredClaims
	h, err := az.keys.verify(ctx, hint, &claims)
	if err != nil || strings.EqualFold(h.Typ, accessTokenType) || claims.Issuer != az.issuer ||
		!slices.Contains([]string(claims.Audience), c.ID) || claims.Subject == "" {
		return "", oauthErr(ErrInvalidRequest, "id_token_hint is not an ID token this provider issued to the client")
	}
	return claims.Subject, nil
}

// grantedScopes returns the requested scopes the client may have and the
// provider knows, in request order.
func grantedScopes(c *Client, requested []string) []string {
	var out []string
	for _, s := range requested {
		if slices.Contains(supportedScopes, s) && c.allows(s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// issueCode records a grant and its authorization code and returns the
// code.
func (az *authorizer) issueCode(ctx context.Context, c *Client, req *AuthorizeRequest, sess *session) (string, error) {
	now := az.now()
	code := newSecret()
	g := &grant{
		ID: newID(), ClientID: c.ID, UserID: sess.UserID, SessionID: sess.ID, Scopes: grantedScopes(c, req.Scopes),
		Nonce: req.Nonce, AuthTime: sess.AuthTime, ACR: sess.ACR, AMR: sess.AMR, AgentName: sess.AgentName,
	}
	if err := az.codes.issueCode(ctx, g, code, req.RedirectURI, req.CodeChallenge, now, now.Add(az.life.Code)); err != nil {
		return "", fmt.Errorf("authn: store authorization code: %w", err)
	}
	return code, nil
}

// loginStarter stores the login transaction of an authorization request
// ([sqlStore]).
type loginStarter interface {
	createLogin(ctx context.Context, tx *loginTx, browserHash []byte, now, expires time.Time) error
}

// codeIssuer records grants and their authorization codes ([sqlStore]).
type codeIssuer interface {
	issueCode(ctx context.Context, g *grant, code, redirectURI, challenge string, now, expires time.Time) error
}

// redirect sends the browser to the request's redirect URI with params,
// state and iss (RFC 9207) added to its query.
func (az *authorizer) redirect(w http.ResponseWriter, r *http.Request, req *AuthorizeRequest, params url.Values) {
	if req.State != "" {
		params.Set("state", req.State)
	}
	params.Set("iss", az.issuer)
	target := req.RedirectURI
	if strings.Contains(target, "?") {
		target += "&" + params.Encode()
	} else {
		target += "?" + params.Encode()
	}
	status := http.StatusFound
	if r.Method == http.MethodPost {
		status = http.StatusSeeOther
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, target, status)
}

// redirectError sends err to the redirect URI (RFC 6749 §4.1.2.1). The
// redirect URI must have been checked against the client.
func (az *authorizer) redirectError(w http.ResponseWriter, r *http.Request, req *AuthorizeRequest, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = oauthErr(ErrServerError, "temporarily unavailable")
	}
	v := url.Values{"error": {e.Code}}
	if e.Description != "" {
		v.Set("error_description", errorText(e.Description))
	}
	az.redirect(w, r, req, v)
}

// describe returns the description of a protocol error for an error page.
func describe(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code + ": " + e.Description
	}
	return "malformed request"
}

// errorText keeps only the characters RFC 6749 allows in error_description
// (%x20-21 / %x23-5B / %x5D-7E).
func errorText(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			b[i] = ' '
		}
	}
	return string(b)
}
