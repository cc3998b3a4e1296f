package kms

import (
	"context"
	"crypto"
	"errors"
)

// KeyManager creates and hands out named signing keys. Implementations are
// safe for concurrent use. Names are backend-specific; see each backend for
// what it accepts.
type KeyManager interface {
	// CreateKey generates a new key pair of suite under name and returns its
	// signer. It fails with an error wrapping ErrKeyExists if name is taken;
	// an existing key is never replaced.
	CreateKey(ctx context.Context, name string, suite Suite) (crypto.Signer, error)
	// Signer returns the signer of the key stored under name, or an error
	// wrapping ErrKeyNotFound.
	Signer(ctx context.Context, name string) (crypto.Signer, error)
	// Close releases the manager's resources. Signers obtained earlier may
	// stop working; later calls fail with an error wrapping ErrClosed.
	Close() error
}

// TypedKeyCreator creates signing keys of a [KeyType] (Ed25519, RSA), which
// the key manager then hands out with Signer like any other key. Backends
// that can keep such keys implement it besides [KeyManager].
type TypedKeyCreator interface {
	// CreateTypedKey generates a key of type t under name and returns its
	// signer; ErrKeyExists if name is taken. An existing key is never
	// replaced.
	CreateTypedKey(ctx context.Context, name string, t KeyType) (crypto.Signer, error)
}

// SecretStore keeps named secrets that are not signing keys, such as
// symmetric keys, protected at rest like the keys of the key manager.
// Implementations are safe for concurrent use. See [LoadOrCreateSecret].
type SecretStore interface {
	// CreateSecret stores secret (1 to MaxSecretSize bytes) under name. It
	// fails with an error wrapping ErrKeyExists if name is taken; a secret is
	// never replaced.
	CreateSecret(ctx context.Context, name string, secret []byte) error
	// Secret returns a copy of the secret stored under name, or an error
	// wrapping ErrKeyNotFound.
	Secret(ctx context.Context, name string) ([]byte, error)
}

// KeySealer protects private keys that live outside the key manager, in a
// database shared by replicas for example: SealKey returns key encrypted
// as the manager encrypts its own keys, OpenKey decrypts such a blob.
// Every replica must open what any replica sealed, so they share the
// sealer's secret (the key passphrase, or an HSM).
type KeySealer interface {
	// SealKey returns key (a suite key or one of a KeyType) encrypted.
	SealKey(ctx context.Context, key crypto.Signer) ([]byte, error)
	// OpenKey returns the key sealed in sealed; a blob sealed by another
	// sealer fails with an error wrapping ErrWrongPassphrase.
	OpenKey(ctx context.Context, sealed []byte) (crypto.Signer, error)
}

// Errors returned (wrapped) by KeyManager implementations and this package.
var (
	// ErrKeyNotFound means no key is stored under the requested name.
	ErrKeyNotFound = errors.New("kms: key not found")
	// ErrKeyExists means a key is already stored under the requested name.
	ErrKeyExists = errors.New("kms: key already exists")
	// ErrClosed means the KeyManager has been closed.
	ErrClosed = errors.New("kms: key manager closed")
	// ErrEmptyPassphrase means an empty passphrase was given where one is
	// required.
	ErrEmptyPassphrase = errors.New("kms: empty passphrase")
	// ErrWrongPassphrase means an encrypted key did not decrypt with the
	// given passphrase (or its ciphertext is corrupted; the two cannot be
	// told apart).
	ErrWrongPassphrase = errors.New("kms: wrong passphrase or corrupted encrypted key")
)
