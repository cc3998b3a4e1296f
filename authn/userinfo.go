package authn

import (
	"errors"
	"mime"
	"net/http"
	"slices"
	"strings"
)

// maxUserinfoBodySize bounds userinfo POST bodies.
const maxUserinfoBodySize = 16 << 10

// serveUserinfo is the userinfo endpoint (OpenID Connect Core 1.0 §5.3):
// GET or POST with the access token in the Authorization header, or POST
// with it in the form body (RFC 6750 §2.1, §2.2); not in the query. It
// returns the claims the token's scopes allow, as JSON.
func (chk *tokenChecks) serveUserinfo(w http.ResponseWriter, r *http.Request) {
	noStoreCORS(w)
	claims, err := chk.userinfo(w, r)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) || e.HTTPStatus() >= 500 {
			chk.logError(r, "userinfo", err)
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": ErrServerError.Code})
			return
		}
		challenge := `Bearer realm="tongxing"`
		if e.Code != "" {
			challenge += `, error="` + e.Code + `"`
			if e.Description != "" {
				challenge += `, error_description="` + errorText(e.Description) + `"`
			}
		}
		w.Header().Set("WWW-Authenticate", challenge)
		body := map[string]string{}
		if e.Code != "" {
			body["error"] = e.Code
			body["error_description"] = errorText(e.Description)
		}
		writeJSON(w, e.HTTPStatus(), body)
		return
	}
	writeJSON(w, http.StatusOK, claims)
}

func (chk *tokenChecks) userinfo(w http.ResponseWriter, r *http.Request) (map[string]any, error) {
	token, err := bearerToken(w, r)
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	var claims AccessTokenClaims
	h, err := chk.keys.verify(ctx, token, &claims)
	invalid := oauthErr(ErrInvalidToken, "the access token is invalid or expired")
	if err != nil || !strings.EqualFold(h.Typ, accessTokenType) && !strings.EqualFold(h.Typ, "application/"+accessTokenType) {
		return nil, invalid
	}
	now := chk.now()
	if claims.Issuer != chk.issuer || claims.ExpiresAt == nil || !now.Before(claims.ExpiresAt.Time) || claims.ID == "" {
		return nil, invalid
	}
	t, err := chk.records.accessToken(ctx, claims.ID)
	if err != nil {
		return nil, err
	}
	if t == nil || t.Revoked || !now.Before(t.Expires) { // a disabled account is refused below
		return nil, invalid
	}
	userID := t.UserID
	scopes := splitScopes(claims.Scope)
	if !slices.Contains(scopes, ScopeOpenID) {
		return nil, &Error{Code: "insufficient_scope", Status: http.StatusForbidden, Description: "the access token lacks the openid scope"}
	}
	u, err := chk.users.User(ctx, userID)
	if errors.Is(err, ErrUserNotFound) {
		return nil, invalid
	}
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, invalid
	}
	if u.USCC != "" {
		u.AgentName = t.AgentName // the agent of this token's login, not the account's latest
	}
	out := userClaims(u, scopes)
	out["sub"] = claims.Subject
	return out, nil
}

// bearerToken extracts the access token: "Authorization: Bearer", or the
// access_token parameter of a form-encoded POST body (other bodies are
// ignored). Both at once is an error; an absent token yields an error
// without a code (RFC 6750 §3.1).
func bearerToken(w http.ResponseWriter, r *http.Request) (string, error) {
	var header string
	if a := r.Header.Get("Authorization"); a != "" {
		scheme, tok, ok := strings.Cut(a, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || len(tok) > maxJWTSize {
			return "", oauthErr(ErrInvalidRequest, "malformed Authorization header")
		}
		header = strings.TrimSpace(tok)
	}
	var body string
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); r.Method == http.MethodPost && mt == "application/x-www-form-urlencoded" {
		form, err := readForm(w, r, maxUserinfoBodySize)
		if err != nil {
			return "", oauthErr(ErrInvalidRequest, "%v", err)
		}
		if len(form["access_token"]) > 1 {
			return "", oauthErr(ErrInvalidRequest, "access_token is repeated")
		}
		body = form.Get("access_token")
	}
	switch {
	case header != "" && body != "":
		return "", oauthErr(ErrInvalidRequest, "more than one access token")
	case header != "":
		return header, nil
	case body != "":
		return body, nil
	}
	return "", &Error{Status: http.StatusUnauthorized}
}
