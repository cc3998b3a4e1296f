package softkms

import (
	"context"

	"github.com/tongxing/tongxing/kms"
)

var _ kms.SecretSealer = (*Manager)(nil)

// SealSecret returns secret encrypted under the passphrase in the format
// of the secret files (kms.MarshalEncryptedSecretPEM), for secrets kept
// elsewhere.
func (m *Manager) SealSecret(ctx context.Context, secret []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	pass, err := m.pass()
	if err != nil {
		return nil, err
	}
	return kms.MarshalEncryptedSecretPEM(secret, pass)
}

// OpenSecret decrypts a secret sealed by SealSecret (or any secret file of
// this format) with the passphrase.
func (m *Manager) OpenSecret(ctx context.Context, sealed []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	pass, err := m.pass()
	if err != nil {
		return nil, err
	}
	return kms.ParseEncryptedSecretPEM(sealed, pass)
}
