package kms

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"math/big"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm3"
	"github.com/emmansun/gmsm/smx509"
)

// Suite names an algorithm suite: a key type together with its hash and
// signature algorithm. The zero value is not a valid suite.
type Suite string

const (
	// GM is SM2 with SM3 (curve 1.2.156.10197.1.301). It is the default suite
	// for e-certificates, citizen cards, timestamps, audit checkpoints and
	// filings.
	GM Suite = "gm"
	// Intl is ECDSA over P-256 with SHA-256, for browsers, TLS and ACME.
	Intl Suite = "intl"
)

// ParseSuite returns the suite named s ("gm" or "intl", exact lower case).
func ParseSuite(s string) (Suite, error) {
	su := Suite(s)
	if err := su.Valid(); err != nil {
		return "", err
	}
	return su, nil
}

// Valid returns nil if s is GM or Intl, and an error naming s otherwise.
func (s Suite) Valid() error {
	switch s {
	case GM, Intl:
		return nil
	}
	return fmt.Errorf("kms: unknown suite %q (want %q or %q)", string(s), GM, Intl)
}

// String returns the suite name.
func (s Suite) String() string { return string(s) }

// GenerateKey returns a new key pair of suite s: an *sm2.PrivateKey for GM,
// an *ecdsa.PrivateKey on P-256 for Intl. A nil rand means crypto/rand.Reader.
// The standard library may ignore rand for Intl and always use a secure
// source.
func (s Suite) GenerateKey(rand io.Reader) (crypto.Signer, error) {
	if rand == nil {
		rand = cryptoRand
	}
	switch s {
	case GM:
		k, err := sm2.GenerateKey(rand)
		if err != nil {
			return nil, fmt.Errorf("kms: generate SM2 key: %w", err)
		}
		return k, nil
	case Intl:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand)
		if err != nil {
			return nil, fmt.Errorf("kms: generate P-256 key: %w", err)
		}
		return k, nil
	}
	return nil, s.Valid()
}

var cryptoRand = rand.Reader

// SignatureAlgorithm returns the X.509 signature algorithm of s:
// smx509.SM2WithSM3 for GM, smx509.ECDSAWithSHA256 for Intl, and
// smx509.UnknownSignatureAlgorithm for an invalid suite.
func (s Suite) SignatureAlgorithm() smx509.SignatureAlgorithm {
	switch s {
	case GM:
		return smx509.SM2WithSM3
	case Intl:
		return smx509.ECDSAWithSHA256
	}
	return smx509.UnknownSignatureAlgorithm
}

// NewHash returns a new hash of suite s: SM3 for GM, SHA-256 for Intl. It is
// the plain hash; it does NOT prepend the SM2 signer digest Z (use
// SignerOpts for signing). It panics if s is not valid.
func (s Suite) NewHash() hash.Hash {
	switch s {
	case GM:
		return sm3.New()
	case Intl:
		return sha256.New()
	}
	panic(fmt.Sprintf("kms: NewHash on invalid suite %q", string(s)))
}

// SignerOpts returns the options to pass to a signer of suite s.
//
// For GM it is sm2.DefaultSM2SignerOpts: the signer is given the whole
// message and computes SM3(Z || message) itself with the default signer ID
// 1234567812345678 (GB/T 32918.2, GM/T 0009). For Intl it is crypto.SHA256:
// the signer is given the SHA-256 digest of the message. It returns nil for
// an invalid suite.
func (s Suite) SignerOpts() crypto.SignerOpts {
	switch s {
	case GM:
		return sm2.DefaultSM2SignerOpts
	case Intl:
		return crypto.SHA256
	}
	return nil
}

// SuiteOf returns the suite of a public key: GM for an *ecdsa.PublicKey on the
// SM2 curve, Intl for one on P-256. Any other key type or curve is an error
// naming it. It does NOT check that the point is on the curve.
func SuiteOf(pub crypto.PublicKey) (Suite, error) {
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return "", fmt.Errorf("kms: unsupported public key type %T (want *ecdsa.PublicKey on SM2 or P-256)", pub)
	}
	if k == nil || k.Curve == nil {
		return "", fmt.Errorf("kms: public key has no curve")
	}
	switch k.Curve {
	case sm2.P256():
		return GM, nil
	case elliptic.P256():
		return Intl, nil
	}
	return "", fmt.Errorf("kms: unsupported curve %s (want SM2 or P-256)", k.Curve.Params().Name)
}

// signerSuite returns the suite of a private key and checks that it is of the
// type whose Sign implements that suite (*sm2.PrivateKey for GM,
// *ecdsa.PrivateKey for Intl) with a scalar in range.
func signerSuite(key crypto.Signer) (Suite, error) {
	var d *ecdsa.PrivateKey
	var want Suite
	switch k := key.(type) {
	case *sm2.PrivateKey:
		if k == nil {
			return "", fmt.Errorf("kms: nil SM2 private key")
		}
		d, want = &k.PrivateKey, GM
	case *ecdsa.PrivateKey:
		if k == nil {
			return "", fmt.Errorf("kms: nil ECDSA private key")
		}
		d, want = k, Intl
	default:
		return "", fmt.Errorf("kms: unsupported private key type %T (want *sm2.PrivateKey or *ecdsa.PrivateKey)", key)
	}
	got, err := SuiteOf(&d.PublicKey)
	if err != nil {
		return "", err
	}
	if got != want {
		return "", fmt.Errorf("kms: %T on curve %s does not match suite %s", key, d.Curve.Params().Name, want)
	}
	// SM2 signing needs d in [1, n-2] (it inverts 1+d); ECDSA needs [1, n-1].
	n := d.Curve.Params().N
	limit := n
	if want == GM {
		limit = new(big.Int).Sub(n, big.NewInt(1))
	}
	if d.D == nil || d.D.Sign() <= 0 || d.D.Cmp(limit) >= 0 {
		return "", fmt.Errorf("kms: %s private key scalar out of range", want)
	}
	return want, nil
}
