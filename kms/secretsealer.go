package kms

import "context"

// SecretSealer protects secrets that live outside the key manager (symmetric
// keys kept in a database shared by replicas, for example) as [KeySealer]
// protects private keys: SealSecret returns secret (1 to MaxSecretSize
// bytes) encrypted as the manager encrypts its own secrets, OpenSecret
// decrypts such a blob. Every replica must open what any replica sealed.
// kms/softkms's Manager and [NewPassphraseSealer]'s sealer implement it
// besides KeySealer.
type SecretSealer interface {
	// SealSecret returns secret encrypted.
	SealSecret(ctx context.Context, secret []byte) ([]byte, error)
	// OpenSecret returns the secret sealed in sealed; a blob sealed by
	// another sealer fails with an error wrapping ErrWrongPassphrase.
	OpenSecret(ctx context.Context, sealed []byte) ([]byte, error)
}

var _ SecretSealer = passphraseSealer{}

// SealSecret encrypts secret under the passphrase as a PEM "ENCRYPTED
// SYMMETRIC KEY" ([MarshalEncryptedSecretPEM]).
func (s passphraseSealer) SealSecret(ctx context.Context, secret []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return MarshalEncryptedSecretPEM(secret, s.pass)
}

// OpenSecret decrypts what SealSecret wrote ([ParseEncryptedSecretPEM]).
func (s passphraseSealer) OpenSecret(ctx context.Context, sealed []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return ParseEncryptedSecretPEM(sealed, s.pass)
}
