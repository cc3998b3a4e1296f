package authn

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"fmt"

	"github.com/emmansun/gmsm/sm4"

	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/store"
)

// totpKeySetting is the authn_settings row of the sealed data key of
// one-time-code secrets.
const totpKeySetting = "totp_key"

// totpBoxVersion is the first byte of a sealed one-time-code secret.
const totpBoxVersion = 1

// totpBox encrypts one-time-code secrets at rest: SM4-GCM (GB/T 32907,
// GCM as in NIST SP 800-38D) under a 128-bit data key, a random 96-bit
// nonce per secret, and the account ID as additional data, so a sealed
// secret copied into another account's row does not open. A sealed
// secret is the version byte 1, the nonce and the ciphertext with its tag.
//
// The data key is made on first start and kept in authn_settings
// ("totp_key") sealed by the provider's kms.SecretSealer (with
// kms/softkms: PKCS#8-style PBES2 under the key passphrase), so every
// replica sharing the database and the passphrase opens the same key, and
// a copy of the database without the passphrase reveals no secret.
type totpBox struct{ aead cipher.AEAD }

// openTOTPBox loads the data key, creating it on first start; replicas
// starting together agree on the first one stored.
func openTOTPBox(ctx context.Context, db *store.DB, s kms.SecretSealer) (*totpBox, error) {
	st := settings{db: db}
	sealed, err := st.get(ctx, totpKeySetting)
	if err == nil && sealed == nil {
		fresh := make([]byte, 16)
		if _, err := rand.Read(fresh); err != nil {
			return nil, fmt.Errorf("authn: one-time code data key: %w", err)
		}
		mine, serr := s.SealSecret(ctx, fresh)
		clear(fresh)
		if serr != nil {
			return nil, fmt.Errorf("authn: seal the one-time code data key: %w", serr)
		}
		sealed, err = st.ensure(ctx, totpKeySetting, mine)
	}
	if err != nil {
		return nil, fmt.Errorf("authn: the one-time code data key: %w", err)
	}
	key, err := s.OpenSecret(ctx, sealed)
	if err != nil {
		return nil, fmt.Errorf("authn: open the one-time code data key (the key passphrase must be the one it was sealed with): %w", err)
	}
	defer clear(key)
	if len(key) != 16 {
		return nil, fmt.Errorf("authn: the one-time code data key is %d bytes, want 16", len(key))
	}
	block, err := sm4.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("authn: one-time code data key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("authn: one-time code data key: %w", err)
	}
	return &totpBox{aead: aead}, nil
}

// totpAD is the additional data of userID's secret.
func totpAD(userID string) []byte { return []byte("tongxing authn totp v1\x00" + userID) }

// seal encrypts the base32 secret of account userID.
func (b *totpBox) seal(userID, secret string) ([]byte, error) {
	out := make([]byte, 1+b.aead.NonceSize(), 1+b.aead.NonceSize()+len(secret)+b.aead.Overhead())
	out[0] = totpBoxVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("authn: one-time code secret nonce: %w", err)
	}
	return b.aead.Seal(out, out[1:], []byte(secret), totpAD(userID)), nil
}

// open decrypts what seal wrote for userID.
func (b *totpBox) open(userID string, sealed []byte) (string, error) {
	n := b.aead.NonceSize()
	if len(sealed) < 1+n+b.aead.Overhead() || sealed[0] != totpBoxVersion {
		return "", fmt.Errorf("authn: sealed one-time code secret of user %s is malformed", quote(userID))
	}
	plain, err := b.aead.Open(nil, sealed[1:1+n], sealed[1+n:], totpAD(userID))
	if err != nil {
		return "", fmt.Errorf("authn: sealed one-time code secret of user %s does not open under the data key", quote(userID))
	}
	return string(plain), nil
}

// sealLegacyTOTP encrypts the secrets an earlier version stored in clear
// (authn_totp.secret, base32) and clears them. A replica of that version
// still running may add clear ones meanwhile; they are read as they are
// and sealed at the next start.
func (u *Users) sealLegacyTOTP(ctx context.Context) error {
	rows, err := u.db.Query(ctx, "SELECT user_id, secret FROM authn_totp WHERE sealed IS NULL AND secret <> ''")
	if err != nil {
		return fmt.Errorf("authn: read clear one-time code secrets: %w", err)
	}
	type clearSecret struct{ user, secret string }
	var todo []clearSecret
	for rows.Next() {
		var c clearSecret
		if err := rows.Scan(&c.user, &c.secret); err != nil {
			rows.Close()
			return fmt.Errorf("authn: read clear one-time code secrets: %w", err)
		}
		todo = append(todo, c)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return fmt.Errorf("authn: read clear one-time code secrets: %w", err)
	}
	for _, c := range todo {
		sealed, err := u.totp.seal(c.user, c.secret)
		if err != nil {
			return err
		}
		if _, err := u.db.Exec(ctx, "UPDATE authn_totp SET sealed = ?, secret = '' WHERE user_id = ? AND secret = ? AND sealed IS NULL",
			sealed, c.user, c.secret); err != nil {
			return fmt.Errorf("authn: seal the one-time code secret of user %s: %w", quote(c.user), err)
		}
	}
	return nil
}
