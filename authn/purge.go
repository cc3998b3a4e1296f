package authn

import (
	"context"
	"fmt"
	"time"

	"github.com/tongxing/tongxing/store"
)

// codeRetention is how long a code is kept after it expires, so that a
// late replay is still recognised and revokes its grant.
const codeRetention = 24 * time.Hour

// Purge deletes records that can no longer be used: expired login
// transactions and sessions (and revoked ones), refresh and access token
// records past their expiry, codes a day past theirs, grants left with no
// code or token, and throttle counters whose lock has ended and whose
// failures would be forgotten anyway, certificate-login challenges and
// one-time code enrolments past their expiry. It returns the number of rows
// deleted. Call it periodically from one replica or several; it is safe
// to run concurrently with everything else. It keeps unexpired rotated
// refresh tokens and used codes, which reuse detection needs.
func (p *Provider) Purge(ctx context.Context) (int64, error) {
	now := p.now()
	n := now.UnixNano()
	forget := max(p.thr.account.Reset, p.thr.address.Reset)
	var total int64
	err := p.db.InTx(ctx, func(tx *store.Tx) error {
		for _, st := range []struct {
			query string
			args  []any
		}{
			{"DELETE FROM authn_logins WHERE expires_at <= ?", []any{n}},
			{"DELETE FROM authn_sessions WHERE expires_at <= ? OR revoked_at IS NOT NULL", []any{n}},
			{"DELETE FROM authn_codes WHERE expires_at <= ?", []any{now.Add(-codeRetention).UnixNano()}},
			{"DELETE FROM authn_refresh_tokens WHERE expires_at <= ?", []any{n}},
			{"DELETE FROM authn_access_tokens WHERE expires_at <= ?", []any{n}},
			{`DELETE FROM authn_grants WHERE created_at <= ?
				AND NOT EXISTS (SELECT 1 FROM authn_codes c WHERE c.grant_id = authn_grants.id)
				AND NOT EXISTS (SELECT 1 FROM authn_refresh_tokens r WHERE r.grant_id = authn_grants.id)
				AND NOT EXISTS (SELECT 1 FROM authn_access_tokens a WHERE a.grant_id = authn_grants.id)`, []any{now.Add(-p.life.Code).UnixNano()}},
			{"DELETE FROM authn_throttle WHERE locked_until <= ? AND last_failure <= ?", []any{n, now.Add(-forget).UnixNano()}},
			{"DELETE FROM authn_cert_challenges WHERE expires_at <= ?", []any{n}},
			{"DELETE FROM authn_totp_enrolments WHERE expires_at <= ?", []any{n}},
		} {
			res, err := tx.Exec(ctx, st.query, st.args...)
			if err != nil {
				return err
			}
			c, _ := res.RowsAffected()
			total += c
		}
		c, err := purgeTokenRecords(ctx, tx, n)
		total += c
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("authn: purge: %w", err)
	}
	return total, nil
}
