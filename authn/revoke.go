package authn

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// serveRevoke is the token revocation endpoint (RFC 7009). The caller
// authenticates as a client (public clients with their client_id). A
// refresh token revokes its whole family (the grant, with every access
// token issued under it); an access token is revoked by its jti. Only the
// client a token was issued to can revoke it. Unknown, malformed, expired
// or foreign tokens get 200 too, as RFC 7009 §2.2 says; token_type_hint
// is accepted and not needed.
func (chk *tokenChecks) serveRevoke(w http.ResponseWriter, r *http.Request) {
	token, c, err := chk.tokenManagementRequest(w, r, "")
	if err != nil {
		chk.writeOAuthError(w, r, err)
		return
	}
	what, err := chk.revoke(r.Context(), c, token)
	if err != nil {
		chk.writeOAuthError(w, r, err)
		return
	}
	if what != "" {
		_ = chk.audit(r.Context(), AuditEvent{Action: "authn.token.revoke", Subject: c.ID, Client: c.ID,
			SourceAddr: r.RemoteAddr, Resource: what, Outcome: "success"})
	}
	w.WriteHeader(http.StatusOK)
}

// revoke revokes token if it was issued to c and returns what it revoked
// ("authn:grant:<id>" or "authn:token:<jti>"), or "" if nothing.
func (chk *tokenChecks) revoke(ctx context.Context, c *Client, token string) (string, error) {
	now := chk.now()
	if strings.HasPrefix(token, refreshTokenPrefix) {
		if len(token) > 128 {
			return "", nil
		}
		grantID, err := chk.revoker.revokeRefresh(ctx, token, c.ID, now)
		if err != nil {
			return "", fmt.Errorf("authn: revoke refresh token: %w", err)
		}
		if grantID == "" {
			return "", nil
		}
		return "authn:grant:" + grantID, nil
	}
	// An expired access token needs no revocation, but accepting it
	// costs nothing; the signature must still be the provider's.
	var claims jwt.RegisteredClaims
	if _, err := chk.keys.verify(ctx, token, &claims); err != nil || claims.ID == "" {
		return "", nil
	}
	ok, err := chk.revoker.revokeAccess(ctx, claims.ID, c.ID, now)
	if err != nil {
		return "", fmt.Errorf("authn: revoke access token: %w", err)
	}
	if !ok {
		return "", nil
	}
	return "authn:token:" + claims.ID, nil
}

// tokenRevoker revokes the tokens a client was issued ([sqlStore]).
type tokenRevoker interface {
	revokeRefresh(ctx context.Context, token, clientID string, now time.Time) (grantID string, err error)
	revokeAccess(ctx context.Context, jti, clientID string, now time.Time) (bool, error)
}
