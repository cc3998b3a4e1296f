package kms

import (
	"context"
	"crypto"
)

// passphraseSealer is a KeySealer over one passphrase.
type passphraseSealer struct{ pass []byte }

// NewPassphraseSealer returns a KeySealer that encrypts keys under
// passphrase (copied) exactly as a key file is encrypted
// ([MarshalEncryptedKeyPEM]), for callers without a key manager (tests,
// tools). kms/softkms's Manager is the same sealer over its passphrase. An
// empty passphrase fails with ErrEmptyPassphrase.
func NewPassphraseSealer(passphrase []byte) (KeySealer, error) {
	if len(passphrase) == 0 {
		return nil, ErrEmptyPassphrase
	}
	return passphraseSealer{pass: append([]byte(nil), passphrase...)}, nil
}

func (s passphraseSealer) SealKey(ctx context.Context, key crypto.Signer) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return MarshalEncryptedKeyPEM(key, s.pass)
}

func (s passphraseSealer) OpenKey(ctx context.Context, sealed []byte) (crypto.Signer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return ParseEncryptedKeyPEM(sealed, s.pass)
}
