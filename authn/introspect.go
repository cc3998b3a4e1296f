package authn

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// Paths of the token introspection and revocation endpoints, relative to
// the issuer URL.
const (
	pathIntrospect = "/oauth2/introspect"
	pathRevoke     = "/oauth2/revoke"
)

// Introspection is an RFC 7662 §2.2 response. Only Active is set for an
// inactive token.
type Introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	Exp       int64    `json:"exp,omitempty"`
	Iat       int64    `json:"iat,omitempty"`
	Sub       string   `json:"sub,omitempty"`
	Aud       []string `json:"aud,omitempty"`
	Iss       string   `json:"iss,omitempty"`
	JTI       string   `json:"jti,omitempty"`
	AuthTime  int64    `json:"auth_time,omitempty"`
	ACR       string   `json:"acr,omitempty"`
	SID       string   `json:"sid,omitempty"`
	Act       *Actor   `json:"act,omitempty"`
}

// serveIntrospect is the token introspection endpoint (RFC 7662). The
// caller authenticates as a confidential client. A token is reported
// active only to the client it was issued to, or to a client whose ID or
// Department is among the token's audiences (the department service the
// token is for); to every other caller, and for revoked, expired, unknown
// or malformed tokens, the answer is {"active": false}. token_type_hint
// is accepted and not needed.
func (chk *tokenChecks) serveIntrospect(w http.ResponseWriter, r *http.Request) {
	token, c, err := chk.tokenManagementRequest(w, r, "a public client cannot introspect tokens")
	if err != nil {
		chk.writeOAuthError(w, r, err)
		return
	}
	in, err := chk.introspect(r.Context(), c, token)
	if err != nil {
		chk.writeOAuthError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, in)
}

// introspect describes token to client c.
func (chk *tokenChecks) introspect(ctx context.Context, c *Client, token string) (*Introspection, error) {
	inactive := &Introspection{}
	if strings.HasPrefix(token, refreshTokenPrefix) {
		return chk.introspectRefresh(ctx, c, token)
	}
	ac, err := chk.parseAccessToken(ctx, token, false)
	if errors.Is(err, errBadToken) {
		return inactive, nil
	}
	if err != nil {
		return nil, err
	}
	live, err := chk.accessTokenLive(ctx, ac.ID)
	if err != nil || !live {
		return inactive, err
	}
	aud := []string(ac.Audience)
	if ac.ClientID != c.ID && !slices.Contains(aud, c.ID) && (c.Department == "" || !slices.Contains(aud, c.Department)) {
		return inactive, nil
	}
	return &Introspection{
		Active: true, Scope: ac.Scope, ClientID: ac.ClientID, TokenType: "Bearer",
		Exp: ac.ExpiresAt.Unix(), Iat: unixOf(ac.IssuedAt), Sub: ac.Subject, Aud: aud, Iss: ac.Issuer, JTI: ac.ID,
		AuthTime: ac.AuthTime, ACR: ac.ACR, SID: ac.SID, Act: ac.Act,
	}, nil
}

// accessTokenLive reports whether the access token jti (of a portal or a
// department service) is recorded, unexpired and not revoked, and so are
// its grant and the citizen's account, if it has them.
func (chk *tokenChecks) accessTokenLive(ctx context.Context, jti string) (bool, error) {
	t, err := chk.records.accessToken(ctx, jti)
	if err == nil && t == nil {
		t, err = chk.records.serviceToken(ctx, jti)
	}
	if err != nil {
		return false, fmt.Errorf("authn: read access token: %w", err)
	}
	return t != nil && t.live(chk.now()), nil
}

// tokenRecords is where the OAuth endpoints read what they issued
// ([sqlStore]); each returns nil for an unknown token.
type tokenRecords interface {
	accessToken(ctx context.Context, jti string) (*tokenRecord, error)
	serviceToken(ctx context.Context, jti string) (*tokenRecord, error)
	refreshToken(ctx context.Context, token string) (*refreshRecord, error)
}

// introspectRefresh describes a refresh token, to the client it was issued
// to only.
func (chk *tokenChecks) introspectRefresh(ctx context.Context, c *Client, token string) (*Introspection, error) {
	inactive := &Introspection{}
	if len(token) > 128 {
		return inactive, nil
	}
	rr, err := chk.records.refreshToken(ctx, token)
	if err != nil {
		return nil, fmt.Errorf("authn: read refresh token: %w", err)
	}
	if rr == nil || rr.ClientID != c.ID || rr.Used || rr.Disabled || rr.Revoked || !chk.now().Before(rr.Expires) {
		return inactive, nil
	}
	g := rr.grant
	return &Introspection{
		Active: true, Scope: rr.Scope, ClientID: g.ClientID, TokenType: "refresh_token",
		Exp: rr.Expires.Unix(), Iat: rr.Created.Unix(), Sub: chk.subject(c, g.UserID),
		Iss: chk.issuer, AuthTime: g.AuthTime.Unix(), ACR: g.ACR, SID: g.SessionID,
	}, nil
}

func unixOf(d *jwt.NumericDate) int64 {
	if d == nil {
		return 0
	}
	return d.Unix()
}

// tokenManagementRequest reads an introspection or revocation request: it
// sets no-store headers, reads the size-limited form, refuses repeated
// parameters, authenticates the client (refusing a public client with
// publicRefusal, unless it is "") and returns the token, which is
// required. The error is an OAuth error for the caller to write.
func (chk *tokenChecks) tokenManagementRequest(w http.ResponseWriter, r *http.Request, publicRefusal string) (string, *Client, error) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	form, err := readForm(w, r, maxTokenRequestSize)
	if err != nil {
		return "", nil, oauthErr(ErrInvalidRequest, "%v", err)
	}
	for _, k := range []string{"token", "token_type_hint", "client_id", "client_secret", "client_assertion", "client_assertion_type"} {
		if len(form[k]) > 1 {
			return "", nil, oauthErr(ErrInvalidRequest, "parameter %s is repeated", k)
		}
	}
	c, err := chk.auth.authenticateClient(r, form)
	if err != nil {
		return "", nil, err
	}
	if publicRefusal != "" && c.Public() {
		return "", nil, oauthErr(ErrInvalidClient, "%s", publicRefusal)
	}
	token := form.Get("token")
	if token == "" {
		return "", nil, oauthErr(ErrInvalidRequest, "token is required")
	}
	return token, c, nil
}
