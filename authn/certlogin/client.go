package certlogin

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/emmansun/gmsm/sm2"

	"github.com/tongxing/tongxing/kms"
)

// MaxLoginRequestSize is the largest login request body, in bytes, that
// [ParseLoginRequest] reads: room for a [MaxChainSize] chain with JSON
// escaping.
const MaxLoginRequestSize = 32 << 10

// ErrUnsupportedKey means [Sign] was given a key that is neither SM2 nor
// ECDSA P-256.
var ErrUnsupportedKey = errors.New("certlogin: unsupported key")

// Sign signs ch.ToBeSigned() with key, for the card-middleware CLI: with an
// SM2 key (public key on the SM2 curve) an SM2 signature with SM3 and the
// default signer ID, asking key.Sign with sm2.DefaultSM2SignerOpts and the
// raw message; with an ECDSA P-256 key an ECDSA signature over the SHA-256
// digest. Both are ASN.1 DER. Randomness comes from crypto/rand.
//
// Sign checks ch is well formed ([ErrChallenge]) and verifies the signature
// it got, so that a hardware signer that ignores the SM2 options is caught
// here ([ErrSignature]); any other key gives [ErrUnsupportedKey]. It does NOT
// check ch.Audience: compare it with the issuer you meant to log in to
// before signing, or a hostile site could relay another site's challenge.
func Sign(ch *Challenge, key crypto.Signer) ([]byte, error) {
	if err := ch.check(); err != nil {
		return nil, err
	}
	if key == nil {
		return nil, fmt.Errorf("%w: nil key", ErrUnsupportedKey)
	}
	pub, ok := key.Public().(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: %T public key, want SM2 or ECDSA P-256", ErrUnsupportedKey, key.Public())
	}
	msg := ch.ToBeSigned()
	var (
		suite kms.Suite
		sig   []byte
		err   error
	)
	switch {
	case sm2.IsSM2PublicKey(pub):
		suite = kms.GM
		sig, err = key.Sign(rand.Reader, msg, sm2.DefaultSM2SignerOpts)
	case pub.Curve == elliptic.P256():
		suite = kms.Intl
		d := sha256.Sum256(msg)
		sig, err = key.Sign(rand.Reader, d[:], crypto.SHA256)
	default:
		return nil, fmt.Errorf("%w: ECDSA key on curve %s, want SM2 or P-256", ErrUnsupportedKey, pub.Curve.Params().Name)
	}
	if err != nil {
		return nil, fmt.Errorf("certlogin: signing challenge %s: %w", ch.ID(), err)
	}
	if !verifySignature(suite, pub, msg, sig) {
		return nil, fmt.Errorf("%w: the key's %s signature over challenge %s does not verify", ErrSignature, suite, ch.ID())
	}
	return sig, nil
}

// LoginRequest is the body of POST /login/cert:
//
//	{"challenge_id": "<Challenge.ID>", "chain": "<PEM, leaf first>", "signature": "<standard base64>"}
type LoginRequest struct {
	// ChallengeID is [Challenge.ID] of the challenge signed.
	ChallengeID string
	// ChainPEM holds the leaf certificate and then intermediates, as PEM
	// CERTIFICATE blocks.
	ChainPEM []byte
	// Signature is the output of [Sign].
	Signature []byte
}

type loginRequestJSON struct {
	ChallengeID string `json:"challenge_id"`
	Chain       string `json:"chain"`
	Signature   string `json:"signature"`
}

// MarshalJSON encodes r in the wire form shown on [LoginRequest]. It does
// not check r; [ParseLoginRequest] does on receipt.
func (r *LoginRequest) MarshalJSON() ([]byte, error) {
	return json.Marshal(loginRequestJSON{
		ChallengeID: r.ChallengeID,
		Chain:       string(r.ChainPEM),
		Signature:   base64.StdEncoding.EncodeToString(r.Signature),
	})
}

// ParseLoginRequest decodes a POST /login/cert body. b must be at most
// [MaxLoginRequestSize] bytes holding one JSON object with exactly the
// fields challenge_id (NonceSize bytes in base64url without padding), chain
// (1 to [MaxChainSize] bytes) and signature (standard padded base64 of 1 to
// [MaxSignatureSize] bytes); otherwise the error wraps [ErrRequest]. It
// does NOT parse the chain or verify anything; [Verify] does.
func ParseLoginRequest(b []byte) (*LoginRequest, error) {
	if len(b) > MaxLoginRequestSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrRequest, len(b), MaxLoginRequestSize)
	}
	var j loginRequestJSON
	if err := decodeStrict(b, &j); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRequest, err)
	}
	if _, err := decodeID(j.ChallengeID); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRequest, err)
	}
	if len(j.Chain) == 0 || len(j.Chain) > MaxChainSize {
		return nil, fmt.Errorf("%w: chain is %d bytes, want 1 to %d", ErrRequest, len(j.Chain), MaxChainSize)
	}
	if len(j.Signature) > base64.StdEncoding.EncodedLen(MaxSignatureSize) {
		return nil, fmt.Errorf("%w: signature is %d characters, more than %d", ErrRequest, len(j.Signature), base64.StdEncoding.EncodedLen(MaxSignatureSize))
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(j.Signature)
	if err != nil {
		return nil, fmt.Errorf("%w: signature is not standard base64", ErrRequest)
	}
	if len(sig) == 0 || len(sig) > MaxSignatureSize {
		return nil, fmt.Errorf("%w: signature is %d bytes, want 1 to %d", ErrRequest, len(sig), MaxSignatureSize)
	}
	return &LoginRequest{ChallengeID: j.ChallengeID, ChainPEM: []byte(j.Chain), Signature: sig}, nil
}
