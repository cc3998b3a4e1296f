package kmc

import (
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm3"
	"github.com/emmansun/gmsm/sm4"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/store"
)

// Profiles of a dual-certificate pair.
const (
	// SignProfile is the profile of the signing certificate; a dual
	// enrolment needs an enrolment code for it.
	SignProfile = "enterprise-sign"
	// EncProfile is the profile of the encryption certificate.
	EncProfile = "enterprise-enc"
)

// MasterKeySize is the size of the KMC master key: one SM4 key.
const MasterKeySize = 16

// RequiredApprovals is the number of officers, none of them the requester,
// who must approve a key recovery before it can be delivered.
const RequiredApprovals = 2

// Limits on recovery requests.
const (
	// DefaultRecoveryTTL is how long a recovery request can be approved and
	// delivered.
	DefaultRecoveryTTL = 72 * time.Hour
	// MaxReason is the longest reason, in bytes.
	MaxReason = 512
	// MaxPublicKeyPEM is the largest deliver-to public key, PEM or DER.
	MaxPublicKeyPEM = 4 << 10
)

// escrowLabel starts the additional authenticated data of every sealed key.
const escrowLabel = "tongxing kmc escrow v1\x00"

// Centre is the key management centre (KMC). It is safe for concurrent use.
type Centre struct {
	ca          *ca.Authority
	db          *store.DB
	aead        cipher.AEAD
	keyID       string
	now         func() time.Time
	log         *slog.Logger
	recoveryTTL time.Duration
	auditor     ca.Auditor
}

// Option configures a [Centre].
type Option func(*Centre)

// WithClock sets the time source. Default time.Now.
func WithClock(now func() time.Time) Option { return func(k *Centre) { k.now = now } }

// WithLogger sets the structured logger. Default slog.Default(). Keys and
// the master key are never logged.
func WithLogger(l *slog.Logger) Option { return func(k *Centre) { k.log = l } }

// WithRecoveryTTL sets how long a recovery request stays open. Default
// [DefaultRecoveryTTL]; it must be between one minute and 30 days.
func WithRecoveryTTL(d time.Duration) Option { return func(k *Centre) { k.recoveryTTL = d } }

// New returns a Centre that issues through a, keeps its state in the kmc_*
// tables of db, and seals escrowed keys under masterKey, a [MasterKeySize]
// SM4 key, which the caller keeps at rest through kms (a kms.SecretStore:
// the server stores it encrypted under the key passphrase). masterKey is
// copied. a must have the [SignProfile] and [EncProfile] profiles.
//
// Every replica of a deployment must use the same master key; a key sealed
// under another one fails to open with [ErrWrongMasterKey].
func New(a *ca.Authority, db *store.DB, masterKey []byte, opts ...Option) (*Centre, error) {
	if a == nil || db == nil {
		return nil, errors.New("kmc: an authority and a database are required")
	}
	if len(masterKey) != MasterKeySize {
		return nil, fmt.Errorf("kmc: master key is %d bytes, want %d (an SM4 key)", len(masterKey), MasterKeySize)
	}
	if bytes.Equal(masterKey, make([]byte, MasterKeySize)) {
		return nil, errors.New("kmc: master key is all zeros")
	}
	for _, p := range []string{SignProfile, EncProfile} {
		if _, err := a.Profile(p); err != nil {
			return nil, fmt.Errorf("kmc: the authority lacks profile %s: %w", p, err)
		}
	}
	block, err := sm4.NewCipher(bytes.Clone(masterKey))
	if err != nil {
		return nil, fmt.Errorf("kmc: master key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("kmc: SM4-GCM: %w", err)
	}
	k := &Centre{
		ca:          a,
		db:          db,
		aead:        aead,
		keyID:       MasterKeyID(masterKey),
		now:         time.Now,
		log:         slog.Default(),
		recoveryTTL: DefaultRecoveryTTL,
	}
	for _, o := range opts {
		o(k)
	}
	if k.recoveryTTL < time.Minute || k.recoveryTTL > 30*24*time.Hour {
		return nil, fmt.Errorf("kmc: recovery TTL %s is not between 1m and 720h", k.recoveryTTL)
	}
	return k, nil
}

// MasterKeyID returns the public identifier of a master key: the first 8
// bytes of SM3("tongxing kmc master key id", 0x00, key), in hex. It is stored
// with every escrowed key so that a wrong master key is told apart from a
// corrupted row; it reveals nothing useful about the key.
func MasterKeyID(key []byte) string {
	h := sm3.Sum(append([]byte("tongxing kmc master key id\x00"), key...))
	return hex.EncodeToString(h[:8])
}

func escrowAAD(encSerial string) []byte { return []byte(escrowLabel + encSerial) }

// seal encrypts the private scalar of key for the escrow row of encSerial.
func (k *Centre) seal(encSerial string, key *sm2.PrivateKey) (nonce, ciphertext []byte, err error) {
	d := key.D.FillBytes(make([]byte, 32))
	defer clear(d)
	nonce = make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, fmt.Errorf("kmc: escrow nonce: %w", err)
	}
	return nonce, k.aead.Seal(nil, nonce, d, escrowAAD(encSerial)), nil
}

// open decrypts the escrow row of encSerial. It never says more about a
// failure than which check failed.
func (k *Centre) open(encSerial, keyID string, nonce, ciphertext []byte) (*sm2.PrivateKey, error) {
	if keyID != k.keyID {
		return nil, fail(500, "", ErrWrongMasterKey, "the escrowed key of %s was sealed under master key %s, this KMC holds master key %s", encSerial, keyID, k.keyID)
	}
	if len(nonce) != k.aead.NonceSize() {
		return nil, fail(500, "", ErrEscrowCorrupt, "the escrowed key of %s failed its integrity check (nonce of %d bytes)", encSerial, len(nonce))
	}
	d, err := k.aead.Open(nil, nonce, ciphertext, escrowAAD(encSerial))
	if err != nil {
		return nil, fail(500, "", ErrEscrowCorrupt, "the escrowed key of %s failed its integrity check: it was altered or belongs to another serial", encSerial)
	}
	defer clear(d)
	key, err := sm2.NewPrivateKey(d)
	if err != nil {
		return nil, fail(500, "", ErrEscrowCorrupt, "the escrowed key of %s is not a valid SM2 private key", encSerial)
	}
	return key, nil
}
