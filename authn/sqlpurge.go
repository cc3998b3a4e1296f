package authn

import (
	"context"
	"time"

	"github.com/tongxing/tongxing/store"
)

// purge deletes, in one transaction, what [Provider.Purge] says: rows
// expired at now, codes a day past their expiry, grants made before
// grantsBefore with nothing left under them, and throttle counters whose
// lock has ended and whose last failure is before throttleBefore. It
// returns the number of rows deleted.
func (s sqlStore) purge(ctx context.Context, now, grantsBefore, throttleBefore time.Time) (int64, error) {
	n := now.UnixNano()
	var total int64
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
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
				AND NOT EXISTS (SELECT 1 FROM authn_access_tokens a WHERE a.grant_id = authn_grants.id)`, []any{grantsBefore.UnixNano()}},
			{"DELETE FROM authn_throttle WHERE locked_until <= ? AND last_failure <= ?", []any{n, throttleBefore.UnixNano()}},
			{"DELETE FROM authn_cert_challenges WHERE expires_at <= ?", []any{n}},
			{"DELETE FROM authn_totp_enrolments WHERE expires_at <= ?", []any{n}},
		} {
			c, err := affected(tx.Exec(ctx, st.query, st.args...))
			if err != nil {
				return err
			}
			total += c
		}
		c, err := purgeTokenRecords(ctx, tx, n)
		total += c
		return err
	})
	return total, err
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
		c, err := affected(tx.Exec(ctx, q, n))
		if err != nil {
			return total, err
		}
		total += c
	}
	return total, nil
}
