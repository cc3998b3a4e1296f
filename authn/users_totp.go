package authn

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tongxing/tongxing/authn/totp"
	"github.com/tongxing/tongxing/store"
)

// EnrollTOTP gives account id a new RFC 6238 secret (160 random bits),
// replacing any earlier one, and returns it with the otpauth:// URL to show
// as a QR code, labelled with issuer and the user name. From then on a
// password login of the account asks for a one-time code and reaches
// urn:tongxing:loa:3. It does not ask for a code of the new secret first:
// account holders enrol at GET /me/totp, which does. The secret is stored
// encrypted (see the package documentation). An unknown id gives an error
// wrapping ErrUserNotFound.
func (u *Users) EnrollTOTP(ctx context.Context, id, issuer string) (*totp.Key, error) {
	if u.totp == nil {
		return nil, fmt.Errorf("%w: no sealer for one-time code secrets", ErrConfig)
	}
	usr, err := u.User(ctx, id)
	if err != nil {
		return nil, err
	}
	k, err := totp.GenerateSecret(issuer, usr.Username)
	if err != nil {
		return nil, fmt.Errorf("authn: one-time code secret of user %s: %w", quote(id), err)
	}
	sealed, err := u.totp.seal(id, k.Secret)
	if err != nil {
		return nil, err
	}
	if err := u.db.InTx(ctx, func(tx *store.Tx) error { return setTOTP(ctx, tx, id, sealed, -1, u.now()) }); err != nil {
		return nil, fmt.Errorf("authn: store one-time code secret of user %s: %w", quote(id), err)
	}
	return k, nil
}

// setTOTP makes sealed (with the last used time step lastStep) the
// one-time code secret of account id, replacing any earlier one.
func setTOTP(ctx context.Context, tx *store.Tx, id string, sealed []byte, lastStep int64, now time.Time) error {
	if _, err := tx.Exec(ctx, "DELETE FROM authn_totp WHERE user_id = ?", id); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, "INSERT INTO authn_totp (user_id, secret, sealed, last_step, created_at) VALUES (?, '', ?, ?, ?)",
		id, sealed, lastStep, now.UnixNano())
	return err
}

// RemoveTOTP removes the one-time code factor of account id; password
// logins then reach urn:tongxing:loa:2 only. Removing a factor the account
// does not have is not an error.
func (u *Users) RemoveTOTP(ctx context.Context, id string) error {
	if _, err := u.db.Exec(ctx, "DELETE FROM authn_totp WHERE user_id = ?", id); err != nil {
		return fmt.Errorf("authn: remove one-time code secret of user %s: %w", quote(id), err)
	}
	return nil
}

// HasTOTP reports whether account id has a one-time code factor.
func (u *Users) HasTOTP(ctx context.Context, id string) (bool, error) {
	_, ok, err := u.totpSecret(ctx, id)
	return ok, err
}

// totpSecret returns the base32 secret of account id, opened, and whether
// the account has one. A secret still in clear (from an earlier version)
// is returned as it is.
func (u *Users) totpSecret(ctx context.Context, id string) (string, bool, error) {
	var (
		s      string
		sealed []byte
	)
	err := u.db.QueryRow(ctx, "SELECT secret, sealed FROM authn_totp WHERE user_id = ?", id).Scan(&s, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("authn: read one-time code secret of user %s: %w", quote(id), err)
	}
	if sealed == nil {
		return s, true, nil
	}
	if u.totp == nil {
		return "", true, fmt.Errorf("%w: no sealer for one-time code secrets", ErrConfig)
	}
	s, err = u.totp.open(id, sealed)
	return s, true, err
}
