package kms

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
)

// KeyType names a signing key outside the two suites: keys that Tongxing's
// CAs never certify but that sign in formats whose readers expect them,
// such as the Ed25519 co-signature of audit checkpoints (C2SP signed-note)
// and RS256 OpenID Connect tokens. The zero value is not a valid type.
type KeyType string

const (
	// Ed25519 is an Ed25519 key (RFC 8032).
	Ed25519 KeyType = "ed25519"
	// RSA2048 is a 2048-bit RSA key (RSASSA-PKCS1-v1_5 with SHA-256 as
	// RS256, RFC 7518).
	RSA2048 KeyType = "rsa2048"
)

// RSA key sizes accepted by [TypeOf] (and so when keys are read back).
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// Valid returns nil for Ed25519 and RSA2048, an error naming t otherwise.
func (t KeyType) Valid() error {
	switch t {
	case Ed25519, RSA2048:
		return nil
	}
	return fmt.Errorf("kms: unknown key type %q (want %q or %q)", string(t), Ed25519, RSA2048)
}

// GenerateKey returns a new key of type t from crypto/rand:
// ed25519.PrivateKey or *rsa.PrivateKey.
func (t KeyType) GenerateKey() (crypto.Signer, error) {
	switch t {
	case Ed25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("kms: generate Ed25519 key: %w", err)
		}
		return k, nil
	case RSA2048:
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("kms: generate RSA key: %w", err)
		}
		return k, nil
	}
	return nil, t.Valid()
}

// TypeOf returns the key type of a private key: Ed25519 for an
// ed25519.PrivateKey of the right size, RSA2048 for an *rsa.PrivateKey of
// 2048 to 8192 bits (every size in that range is reported as RSA2048, the
// family). Suite keys and anything else are errors.
func TypeOf(key crypto.Signer) (KeyType, error) {
	switch k := key.(type) {
	case ed25519.PrivateKey:
		if len(k) != ed25519.PrivateKeySize {
			return "", fmt.Errorf("kms: Ed25519 private key of %d bytes", len(k))
		}
		return Ed25519, nil
	case *rsa.PrivateKey:
		if k == nil || k.N == nil {
			return "", fmt.Errorf("kms: nil RSA private key")
		}
		if n := k.N.BitLen(); n < minRSABits || n > maxRSABits {
			return "", fmt.Errorf("kms: RSA key of %d bits (want %d to %d)", n, minRSABits, maxRSABits)
		}
		return RSA2048, nil
	}
	return "", fmt.Errorf("kms: unsupported private key type %T (want ed25519.PrivateKey or *rsa.PrivateKey)", key)
}
