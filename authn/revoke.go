package authn

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tongxing/tongxing/store"
)

// serveRevoke is the token revocation endpoint (RFC 7009). The caller
// authenticates as a client (public clients with their client_id). A
// refresh token revokes its whole family (the grant, with every access
// token issued under it); an access token is revoked by its jti. Only the
// client a token was issued to can revoke it. Unknown, malformed, expired
// or foreign tokens get 200 too, as RFC 7009 §2.2 says; token_type_hint
// is accepted and not needed.
func (o *oauthServer) serveRevoke(w http.ResponseWriter, r *http.Request) {
	form, c, err := o.tokenManagementRequest(w, r)
	if err != nil {
		o.writeOAuthError(w, r, err)
		return
	}
	token := form.Get("token")
	if token == "" {
		o.writeOAuthError(w, r, oauthErr(ErrInvalidRequest, "token is required"))
		return
	}
	what, err := o.revoke(r.Context(), c, token)
	if err != nil {
		o.writeOAuthError(w, r, err)
		return
	}
	if what != "" {
		_ = o.audit(r.Context(), AuditEvent{Action: "authn.token.revoke", Subject: c.ID, Client: c.ID,
			SourceAddr: r.RemoteAddr, Resource: what, Outcome: "success"})
	}
	w.WriteHeader(http.StatusOK)
}

// revoke revokes token if it was issued to c and returns what it revoked
// ("authn:grant:<id>" or "authn:token:<jti>"), or "" if nothing.
func (o *oauthServer) revoke(ctx context.Context, c *Client, token string) (string, error) {
	now := o.now().UnixNano()
	if strings.HasPrefix(token, refreshTokenPrefix) {
		if len(token) > 128 {
			return "", nil
		}
		var grantID, clientID string
		err := o.db.QueryRow(ctx, `SELECT g.id, g.client_id FROM authn_refresh_tokens r JOIN authn_grants g ON g.id = r.grant_id
			WHERE r.hash = ?`, hashSecret(token)).Scan(&grantID, &clientID)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && clientID != c.ID) {
			return "", nil
		}
		if err != nil {
			return "", fmt.Errorf("authn: read refresh token: %w", err)
		}
		if err := o.db.InTx(ctx, func(tx *store.Tx) error { return revokeGrant(ctx, tx, grantID, now) }); err != nil {
			return "", fmt.Errorf("authn: revoke grant: %w", err)
		}
		return "authn:grant:" + grantID, nil
	}
	// An expired access token needs no revocation, but accepting it
	// costs nothing; the signature must still be the provider's.
	var claims jwt.RegisteredClaims
	if _, err := o.keys.verify(ctx, token, &claims); err != nil || claims.ID == "" {
		return "", nil
	}
	res, err := o.db.Exec(ctx, `UPDATE authn_access_tokens SET revoked_at = ? WHERE jti = ? AND revoked_at IS NULL
		AND grant_id IN (SELECT id FROM authn_grants WHERE client_id = ?)`, now, claims.ID, c.ID)
	if err != nil {
		return "", fmt.Errorf("authn: revoke access token: %w", err)
	}
	n, _ := res.RowsAffected()
	if n == 0 {
		if res, err = o.db.Exec(ctx, `UPDATE authn_service_tokens SET revoked_at = ? WHERE jti = ? AND client_id = ? AND revoked_at IS NULL`,
			now, claims.ID, c.ID); err != nil {
			return "", fmt.Errorf("authn: revoke access token: %w", err)
		}
		n, _ = res.RowsAffected()
	}
	if n == 0 {
		return "", nil
	}
	return "authn:token:" + claims.ID, nil
}

// purgeTokenRecords deletes service tokens and used client assertion IDs
// past their expiry (unix nanoseconds n), for [Provider.Purge], and
// returns the number of rows deleted.
func purgeTokenRecords(ctx context.Context, tx *store.Tx, n int64) (int64, error) {
	var total int64
	for _, q := range []string{
		"DELETE FROM authn_service_tokens WHERE expires_at <= ?",
		"DELETE FROM authn_client_assertions WHERE expires_at <= ?",
	} {
		res, err := tx.Exec(ctx, q, n)
		if err != nil {
			return total, err
		}
		c, _ := res.RowsAffected()
		total += c
	}
	return total, nil
}
