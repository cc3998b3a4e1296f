package sm2jws

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/asn1"
	"fmt"
	"math/big"

	"github.com/emmansun/gmsm/sm2"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Alg is the JWS "alg" header value for SM2 with SM3 and the default signer ID.
const Alg = "SM2"

// SignatureSize is the length of an SM2 JWS signature: r || s, 32 bytes each.
const SignatureSize = 64

// coordSize is the size in bytes of an SM2 field element or scalar.
const coordSize = 32

// defaultUID is the default SM2 signer ID of GM/T 0009.
var defaultUID = []byte("1234567812345678")

// SigningMethod is the golang-jwt v5 signing method for [Alg]. Its zero value
// is ready to use and equals [SigningMethodSM2]; it has no state and is safe
// for concurrent use.
type SigningMethod struct{}

// SigningMethodSM2 is the golang-jwt v5 signing method for "SM2". Use it with
// jwt.NewWithClaims; for jwt.Parse, call [Register] once first.
var SigningMethodSM2 SigningMethod

var _ jwt.SigningMethod = SigningMethodSM2

// Register adds "SM2" to golang-jwt's process-wide signing-method table
// (jwt.RegisterSigningMethod), so that jwt.Parse can verify SM2 tokens. It
// changes global state of golang-jwt, so call it once at start-up, for
// example from the provider's or portal's main. It is idempotent.
func Register() {
	jwt.RegisterSigningMethod(Alg, func() jwt.SigningMethod { return SigningMethodSM2 })
}

// Alg returns "SM2".
func (SigningMethod) Alg() string { return Alg }

// Sign returns the 64-byte r || s SM2 signature of signingString (the JWS
// signing input), with SM3 and the default signer ID. key is an
// *sm2.PrivateKey, an *ecdsa.PrivateKey on the SM2 curve, or a crypto.Signer
// whose public key is an SM2 *ecdsa.PublicKey; a crypto.Signer is called with
// the whole signing input and sm2.DefaultSM2SignerOpts and must return an
// ASN.1 DER signature, which is converted to r || s and verified before it is
// returned (a signer that ignores the SM2 options is caught this way).
// Randomness comes from crypto/rand.
func (SigningMethod) Sign(signingString string, key any) ([]byte, error) {
	signer, foreign, err := signerOf(key)
	if err != nil {
		return nil, err
	}
	msg := []byte(signingString)
	der, err := signer.Sign(rand.Reader, msg, sm2.DefaultSM2SignerOpts)
	if err != nil {
		return nil, fmt.Errorf("sm2jws: signing: %w", err)
	}
	sig, err := derToRaw(der)
	if err != nil {
		return nil, fmt.Errorf("sm2jws: signer returned a bad signature: %w", err)
	}
	if foreign {
		pub := signer.Public().(*ecdsa.PublicKey)
		if err := verifyRaw(pub, msg, sig); err != nil {
			return nil, fmt.Errorf("sm2jws: signer's signature does not verify (does it honour sm2.DefaultSM2SignerOpts?): %w", err)
		}
	}
	return sig, nil
}

// Verify checks the 64-byte r || s SM2 signature sig of signingString with
// key, an *ecdsa.PublicKey on the SM2 curve. It rejects signatures that are
// not exactly [SignatureSize] bytes and r or s outside [1, n-1]. Errors wrap
// [ErrInvalidSignature] or [ErrInvalidKey].
func (SigningMethod) Verify(signingString string, sig []byte, key any) error {
	pub, ok := key.(*ecdsa.PublicKey)
	if !ok || pub == nil {
		return fmt.Errorf("%w: verification key is %T, want an SM2 *ecdsa.PublicKey", ErrInvalidKey, key)
	}
	if err := checkPublicKey(pub); err != nil {
		return err
	}
	return verifyRaw(pub, []byte(signingString), sig)
}

// signerOf returns the crypto.Signer for key, and whether it is a signer of
// unknown provenance whose output should be checked.
func signerOf(key any) (crypto.Signer, bool, error) {
	switch k := key.(type) {
	case *sm2.PrivateKey:
		if k == nil {
			return nil, false, fmt.Errorf("%w: nil *sm2.PrivateKey", ErrInvalidKey)
		}
		if err := checkPublicKey(&k.PublicKey); err != nil {
			return nil, false, err
		}
		return k, false, nil
	case *ecdsa.PrivateKey:
		if k == nil || k.Curve != sm2.P256() {
			return nil, false, fmt.Errorf("%w: *ecdsa.PrivateKey is not on the SM2 curve", ErrInvalidKey)
		}
		if err := checkPublicKey(&k.PublicKey); err != nil {
			return nil, false, err
		}
		p, err := new(sm2.PrivateKey).FromECPrivateKey(k)
		if err != nil {
			return nil, false, fmt.Errorf("%w: %w", ErrInvalidKey, err)
		}
		return p, false, nil
	case crypto.Signer:
		pub, ok := k.Public().(*ecdsa.PublicKey)
		if !ok || pub == nil {
			return nil, false, fmt.Errorf("%w: signer's public key is %T, want an SM2 *ecdsa.PublicKey", ErrInvalidKey, k.Public())
		}
		if err := checkPublicKey(pub); err != nil {
			return nil, false, err
		}
		return k, true, nil
	}
	return nil, false, fmt.Errorf("%w: signing key is %T, want *sm2.PrivateKey or an SM2 crypto.Signer", ErrInvalidKey, key)
}

// checkPublicKey checks that pub is a valid point on the SM2 curve (not the
// point at infinity, coordinates reduced).
func checkPublicKey(pub *ecdsa.PublicKey) error {
	if pub.Curve != sm2.P256() {
		name := "nil"
		if pub.Curve != nil {
			name = pub.Curve.Params().Name
		}
		return fmt.Errorf("%w: public key is on curve %s, not SM2", ErrInvalidKey, name)
	}
	if pub.X == nil || pub.Y == nil || pub.X.Sign() < 0 || pub.Y.Sign() < 0 ||
		pub.X.BitLen() > 8*coordSize || pub.Y.BitLen() > 8*coordSize {
		return fmt.Errorf("%w: public key coordinates out of range", ErrInvalidKey)
	}
	if _, err := sm2.NewPublicKey(uncompressed(pub.X, pub.Y)); err != nil {
		return fmt.Errorf("%w: public key is not a point on the SM2 curve: %w", ErrInvalidKey, err)
	}
	return nil
}

// uncompressed returns 04 || X || Y with 32-byte coordinates. x and y must
// fit in 32 bytes.
func uncompressed(x, y *big.Int) []byte {
	b := make([]byte, 1+2*coordSize)
	b[0] = 4
	x.FillBytes(b[1 : 1+coordSize])
	y.FillBytes(b[1+coordSize:])
	return b
}

// inRange reports whether 1 <= v <= n-1.
func inRange(v *big.Int) bool {
	return v.Sign() > 0 && v.Cmp(sm2.P256().Params().N) < 0
}

// verifyRaw verifies the r || s signature sig of msg (SM3 with Z from the
// default signer ID) with pub, which must already be checked.
func verifyRaw(pub *ecdsa.PublicKey, msg, sig []byte) error {
	if len(sig) != SignatureSize {
		return fmt.Errorf("%w: signature is %d bytes, want %d (r || s)", ErrInvalidSignature, len(sig), SignatureSize)
	}
	r := new(big.Int).SetBytes(sig[:coordSize])
	s := new(big.Int).SetBytes(sig[coordSize:])
	if !inRange(r) || !inRange(s) {
		return fmt.Errorf("%w: r or s is not in [1, n-1]", ErrInvalidSignature)
	}
	der, err := asn1.Marshal(struct{ R, S *big.Int }{r, s})
	if err != nil {
		return fmt.Errorf("%w: encoding r, s: %w", ErrInvalidSignature, err)
	}
	if !sm2.VerifyASN1WithSM2(pub, defaultUID, msg, der) {
		return fmt.Errorf("%w: verification failed", ErrInvalidSignature)
	}
	return nil
}

// derToRaw converts an ASN.1 DER SM2 signature SEQUENCE { r INTEGER,
// s INTEGER } to the 64-byte r || s form, checking 1 <= r, s <= n-1.
func derToRaw(der []byte) ([]byte, error) {
	var inner cryptobyte.String
	r, s := new(big.Int), new(big.Int)
	in := cryptobyte.String(der)
	if !in.ReadASN1(&inner, cbasn1.SEQUENCE) || !in.Empty() ||
		!inner.ReadASN1Integer(r) || !inner.ReadASN1Integer(s) || !inner.Empty() {
		return nil, fmt.Errorf("%w: not a DER SEQUENCE of two INTEGERs", ErrInvalidSignature)
	}
	if !inRange(r) || !inRange(s) {
		return nil, fmt.Errorf("%w: r or s is not in [1, n-1]", ErrInvalidSignature)
	}
	sig := make([]byte, SignatureSize)
	r.FillBytes(sig[:coordSize])
	s.FillBytes(sig[coordSize:])
	return sig, nil
}
