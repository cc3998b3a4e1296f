package authn

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/tongxing/tongxing/store"
)

// pendingEnrolment is a one-time code secret (sealed) waiting for its
// account holder to confirm it.
type pendingEnrolment struct {
	SessionID string
	Sealed    []byte
	Expires   time.Time
}

// pendingEnrolment implements [enrolmentStore]: the enrolment pending for
// account userID, or nil.
func (s sqlStore) pendingEnrolment(ctx context.Context, userID string) (*pendingEnrolment, error) {
	var (
		pe      pendingEnrolment
		expires int64
	)
	err := s.db.QueryRow(ctx, "SELECT session_id, sealed, expires_at FROM authn_totp_enrolments WHERE user_id = ?", userID).
		Scan(&pe.SessionID, &pe.Sealed, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	pe.Expires = time.Unix(0, expires)
	return &pe, nil
}

// putEnrolment implements [enrolmentStore]: pe becomes the enrolment
// pending for account userID, replacing any other.
func (s sqlStore) putEnrolment(ctx context.Context, userID string, pe *pendingEnrolment, now time.Time) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, "DELETE FROM authn_totp_enrolments WHERE user_id = ?", userID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO authn_totp_enrolments (user_id, session_id, sealed, last_step, created_at, expires_at)
			VALUES (?, ?, ?, -1, ?, ?)`, userID, pe.SessionID, pe.Sealed, now.UnixNano(), pe.Expires.UnixNano())
		return err
	})
}

// confirmEnrolment implements [enrolmentStore]: in one transaction, the
// secret pending for account userID from session sid, unexpired at now,
// becomes the account's one-time code factor, keeping the time step that
// confirmed it as used; errEnrolGone if it is no longer pending.
func (s sqlStore) confirmEnrolment(ctx context.Context, userID, sid string, now time.Time) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		var (
			sealed []byte
			step   int64
		)
		err := tx.QueryRow(ctx, "SELECT sealed, last_step FROM authn_totp_enrolments WHERE user_id = ? AND session_id = ? AND expires_at > ?",
			userID, sid, now.UnixNano()).Scan(&sealed, &step)
		if errors.Is(err, sql.ErrNoRows) {
			return errEnrolGone
		}
		if err != nil {
			return err
		}
		n, err := affected(tx.Exec(ctx, "DELETE FROM authn_totp_enrolments WHERE user_id = ? AND session_id = ?", userID, sid))
		if err != nil {
			return err
		}
		if n != 1 {
			return errEnrolGone
		}
		return setTOTP(ctx, tx, userID, sealed, step, now)
	})
}
