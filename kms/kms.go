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
