package kms

import (
	"context"
	"crypto/rand"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
)

// Secrets at rest: symmetric keys and other key material that is not a
// signing key (the KMC master key, for one).
const (
	// SecretPEMType is the PEM block type of an encrypted secret.
	SecretPEMType = "ENCRYPTED SYMMETRIC KEY"
	// MaxSecretSize is the largest secret, in bytes.
	MaxSecretSize = 1024
)

// oneSymmetricKey is RFC 6031 OneSymmetricKey with only the key itself:
//
//	OneSymmetricKey ::= SEQUENCE {
//	    sKeyAttrs  [0] SEQUENCE SIZE (1..MAX) OF Attribute OPTIONAL,
//	    sKey       [1] OCTET STRING OPTIONAL }
//
// Tongxing writes sKey and no attributes.
type oneSymmetricKey struct {
	Key []byte `asn1:"tag:1"`
}

// MarshalEncryptedSecretPEM encrypts secret (1 to MaxSecretSize bytes)
// under passphrase and returns it as a PEM "ENCRYPTED SYMMETRIC KEY" block:
// an RFC 6031 OneSymmetricKey holding the secret, encrypted exactly as
// [MarshalEncryptedPEM] encrypts a private key (PBES2, PBKDF2-HMAC-SM3 with
// PBKDF2Iterations, SM4-CBC) in an EncryptedPrivateKeyInfo-shaped
// structure.
func MarshalEncryptedSecretPEM(secret, passphrase []byte) ([]byte, error) {
	return marshalEncryptedSecretPEM(secret, passphrase, PBKDF2Iterations)
}

func marshalEncryptedSecretPEM(secret, passphrase []byte, iterations int) ([]byte, error) {
	if len(passphrase) == 0 {
		return nil, ErrEmptyPassphrase
	}
	if len(secret) == 0 || len(secret) > MaxSecretSize {
		return nil, fmt.Errorf("kms: secret of %d bytes (want 1 to %d)", len(secret), MaxSecretSize)
	}
	plain, err := asn1.Marshal(oneSymmetricKey{Key: secret})
	if err != nil {
		return nil, fmt.Errorf("kms: encode secret: %w", err)
	}
	defer clear(plain)
	alg, ct, err := encrypter(iterations).Encrypt(rand.Reader, passphrase, plain)
	if err != nil {
		return nil, fmt.Errorf("kms: encrypt secret: %w", err)
	}
	der, err := asn1.Marshal(encryptedPrivateKeyInfo{Algorithm: *alg, EncryptedData: ct})
	if err != nil {
		return nil, fmt.Errorf("kms: encode secret: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: SecretPEMType, Bytes: der}), nil
}

// ParseEncryptedSecretPEM decrypts what [MarshalEncryptedSecretPEM] wrote.
// It applies the limits and checks of [ParseEncryptedPEM] (size, one PEM
// block without headers, PBES2 with PBKDF2 and SM4- or AES-CBC, iteration
// bound). A passphrase that does not decrypt it yields an error wrapping
// ErrWrongPassphrase; so does a plaintext that is not exactly one DER
// OneSymmetricKey with a key of 1 to MaxSecretSize bytes.
func ParseEncryptedSecretPEM(data, passphrase []byte) ([]byte, error) {
	der, err := decodeEncryptedPEM(data, passphrase, SecretPEMType)
	if err != nil {
		return nil, err
	}
	plain, err := decryptPBES2(der, passphrase)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	var k oneSymmetricKey
	// A wrong passphrase that passes the padding check leaves noise, which
	// fails to parse.
	if rest, err := asn1.Unmarshal(plain, &k); err != nil || len(rest) != 0 || len(k.Key) == 0 || len(k.Key) > MaxSecretSize {
		return nil, ErrWrongPassphrase
	}
	return append([]byte(nil), k.Key...), nil
}

// LoadOrCreateSecret returns the secret stored under name in s, or, when
// there is none, stores a new one of n random bytes (crypto/rand) and
// returns it. When two processes create it at once, both return the one
// that was stored first. A stored secret of another length than n is an
// error.
func LoadOrCreateSecret(ctx context.Context, s SecretStore, name string, n int) ([]byte, error) {
	v, err := s.Secret(ctx, name)
	if errors.Is(err, ErrKeyNotFound) {
		fresh := make([]byte, n)
		if _, err := rand.Read(fresh); err != nil {
			return nil, fmt.Errorf("kms: generate secret %q: %w", name, err)
		}
		err = s.CreateSecret(ctx, name, fresh)
		if err == nil {
			return fresh, nil
		}
		clear(fresh)
		if !errors.Is(err, ErrKeyExists) {
			return nil, err
		}
		v, err = s.Secret(ctx, name)
	}
	if err != nil {
		return nil, err
	}
	if len(v) != n {
		return nil, fmt.Errorf("kms: secret %q is %d bytes, want %d", name, len(v), n)
	}
	return v, nil
}
