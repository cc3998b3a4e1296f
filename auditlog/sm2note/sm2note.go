package sm2note

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
	"golang.org/x/mod/sumdb/note"
)

// SignatureType is the signed-note signature type of SM2/SM3 signatures: the
// reserved byte 0xff followed by the identifier "tongxing/sm2-sm3".
const SignatureType = "\xfftongxing/sm2-sm3"

// ed25519Type is the signed-note signature type of Ed25519 signatures.
const ed25519Type = 0x01

// pointSize is the size of an uncompressed SM2 point.
const pointSize = 65

// MaxKeyLen bounds the length of a verifier key string accepted by
// [NewVerifierFromKey].
const MaxKeyLen = 1024

// ErrInvalidKey is returned (wrapped) for malformed verifier keys, unusable
// names and public keys that are not SM2 points.
var ErrInvalidKey = errors.New("sm2note: invalid key")

// Signer is a note.Signer that signs with an SM2 key. It is safe for
// concurrent use if the underlying crypto.Signer is.
type Signer struct {
	name string
	hash uint32
	key  crypto.Signer
	rand io.Reader
}

var _ note.Signer = (*Signer)(nil)

// NewSigner returns a signer named name for the SM2 key key. key.Sign is
// called with the whole note text and sm2.DefaultSM2SignerOpts, so key must
// compute SM3(Z || text) itself, as *sm2.PrivateKey does. The name must be a
// valid note key name (non-empty, no spaces or '+').
func NewSigner(name string, key crypto.Signer) (*Signer, error) {
	if key == nil {
		return nil, fmt.Errorf("%w: nil SM2 signer for %q", ErrInvalidKey, name)
	}
	pub, ok := key.Public().(*ecdsa.PublicKey)
	if !ok || !sm2.IsSM2PublicKey(pub) {
		return nil, fmt.Errorf("%w: key for %q is %T, not an SM2 public key", ErrInvalidKey, name, key.Public())
	}
	h, err := KeyID(name, pub)
	if err != nil {
		return nil, err
	}
	return &Signer{name: name, hash: h, key: key, rand: rand.Reader}, nil
}

// Name returns the key name.
func (s *Signer) Name() string { return s.name }

// KeyHash returns the key ID.
func (s *Signer) KeyHash() uint32 { return s.hash }

// Sign returns the DER SM2 signature of msg.
func (s *Signer) Sign(msg []byte) ([]byte, error) {
	sig, err := s.key.Sign(s.rand, msg, sm2.DefaultSM2SignerOpts)
	if err != nil {
		return nil, fmt.Errorf("sm2note: sign as %q: %w", s.name, err)
	}
	return sig, nil
}

// Verifier is a note.Verifier for SM2/SM3 signatures.
type Verifier struct {
	name string
	hash uint32
	pub  *ecdsa.PublicKey
}

var _ note.Verifier = (*Verifier)(nil)

// NewVerifier returns a verifier named name for the SM2 public key pub.
func NewVerifier(name string, pub *ecdsa.PublicKey) (*Verifier, error) {
	h, err := KeyID(name, pub)
	if err != nil {
		return nil, err
	}
	return &Verifier{name: name, hash: h, pub: pub}, nil
}

// Name returns the key name.
func (v *Verifier) Name() string { return v.name }

// KeyHash returns the key ID.
func (v *Verifier) KeyHash() uint32 { return v.hash }

// PublicKey returns the SM2 public key.
func (v *Verifier) PublicKey() *ecdsa.PublicKey { return v.pub }

// Verify reports whether sig is a valid DER SM2/SM3 signature of msg with the
// default signer ID.
func (v *Verifier) Verify(msg, sig []byte) bool {
	return sm2.VerifyASN1WithSM2(v.pub, nil, msg, sig)
}

// KeyID returns the signed-note key ID of the SM2 key pub named name.
func KeyID(name string, pub *ecdsa.PublicKey) (uint32, error) {
	pt, err := point(name, pub)
	if err != nil {
		return 0, err
	}
	return keyHash(name, append([]byte(SignatureType), pt...)), nil
}

// VerifierKey returns the verifier key string of the SM2 key pub named name
// (see the package documentation for the format).
func VerifierKey(name string, pub *ecdsa.PublicKey) (string, error) {
	pt, err := point(name, pub)
	if err != nil {
		return "", err
	}
	enc := append([]byte(SignatureType), pt...)
	return fmt.Sprintf("%s+%08x+%s", name, keyHash(name, enc), base64.StdEncoding.EncodeToString(enc)), nil
}

// NewVerifierFromKey parses an SM2 verifier key string made by [VerifierKey].
// It checks the signature type, that the point is on the SM2 curve and that
// the key ID matches; it does NOT accept other signature types (use
// note.NewVerifier for Ed25519 keys).
func NewVerifierFromKey(vkey string) (*Verifier, error) {
	if len(vkey) > MaxKeyLen {
		return nil, fmt.Errorf("%w: verifier key is %d bytes, limit %d", ErrInvalidKey, len(vkey), MaxKeyLen)
	}
	name, rest, ok1 := strings.Cut(vkey, "+")
	hexID, b64, ok2 := strings.Cut(rest, "+")
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("%w: verifier key %.40q is not name+id+key", ErrInvalidKey, vkey)
	}
	id, err := strconv.ParseUint(hexID, 16, 32)
	if err != nil || len(hexID) != 8 {
		return nil, fmt.Errorf("%w: verifier key %q: key ID %q is not 8 hex digits", ErrInvalidKey, name, hexID)
	}
	enc, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("%w: verifier key %q: %v", ErrInvalidKey, name, err)
	}
	if !bytes.HasPrefix(enc, []byte(SignatureType)) {
		return nil, fmt.Errorf("%w: verifier key %q is not of signature type 0xff tongxing/sm2-sm3", ErrInvalidKey, name)
	}
	pt := enc[len(SignatureType):]
	if len(pt) != pointSize {
		return nil, fmt.Errorf("%w: verifier key %q: public key is %d bytes, want %d", ErrInvalidKey, name, len(pt), pointSize)
	}
	pub, err := sm2.NewPublicKey(pt)
	if err != nil {
		return nil, fmt.Errorf("%w: verifier key %q: %v", ErrInvalidKey, name, err)
	}
	v, err := NewVerifier(name, pub)
	if err != nil {
		return nil, err
	}
	if uint32(id) != v.hash {
		return nil, fmt.Errorf("%w: verifier key %q: key ID %08x does not match the key (want %08x)", ErrInvalidKey, name, id, v.hash)
	}
	return v, nil
}

// ParsePublicKeyPEM parses a PEM "PUBLIC KEY" block holding an SM2
// SubjectPublicKeyInfo (RFC 5280, GM/T 0015 algorithm identifiers), the form
// `openssl pkey -pubout` writes. Input longer than 64 KiB is rejected.
func ParsePublicKeyPEM(data []byte) (*ecdsa.PublicKey, error) {
	if len(data) > 64<<10 {
		return nil, fmt.Errorf("%w: PEM input is %d bytes, limit 65536", ErrInvalidKey, len(data))
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("%w: no PEM PUBLIC KEY block", ErrInvalidKey)
	}
	k, err := smx509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: parse public key: %v", ErrInvalidKey, err)
	}
	pub, ok := k.(*ecdsa.PublicKey)
	if !ok || !sm2.IsSM2PublicKey(pub) {
		return nil, fmt.Errorf("%w: PEM public key is %T, not SM2", ErrInvalidKey, k)
	}
	return pub, nil
}

// MarshalPublicKeyPEM encodes an SM2 public key as a PEM "PUBLIC KEY" block.
func MarshalPublicKeyPEM(pub *ecdsa.PublicKey) ([]byte, error) {
	der, err := smx509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: marshal public key: %v", ErrInvalidKey, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// Ed25519Signer is a note.Signer for the standard Ed25519 signature type
// (0x01) whose key is a crypto.Signer.
type Ed25519Signer struct {
	name string
	hash uint32
	key  crypto.Signer
}

var _ note.Signer = (*Ed25519Signer)(nil)

// NewEd25519Signer returns a signer named name for the Ed25519 key key. Its
// signatures verify with note.NewVerifier(vkey) where vkey is
// note.NewEd25519VerifierKey(name, key.Public()).
func NewEd25519Signer(name string, key crypto.Signer) (*Ed25519Signer, error) {
	if key == nil {
		return nil, fmt.Errorf("%w: nil Ed25519 signer for %q", ErrInvalidKey, name)
	}
	pub, ok := key.Public().(ed25519.PublicKey)
	if !ok || len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: key for %q is %T, not Ed25519", ErrInvalidKey, name, key.Public())
	}
	if !validName(name) {
		return nil, fmt.Errorf("%w: invalid key name %q", ErrInvalidKey, name)
	}
	return &Ed25519Signer{name: name, hash: keyHash(name, append([]byte{ed25519Type}, pub...)), key: key}, nil
}

// Name returns the key name.
func (s *Ed25519Signer) Name() string { return s.name }

// KeyHash returns the key ID.
func (s *Ed25519Signer) KeyHash() uint32 { return s.hash }

// Sign returns the Ed25519 signature of msg.
func (s *Ed25519Signer) Sign(msg []byte) ([]byte, error) {
	sig, err := s.key.Sign(nil, msg, crypto.Hash(0))
	if err != nil {
		return nil, fmt.Errorf("sm2note: ed25519 sign as %q: %w", s.name, err)
	}
	return sig, nil
}

// Ed25519VerifierKey returns the standard note verifier key string of an
// Ed25519 signer.
func (s *Ed25519Signer) VerifierKey() (string, error) {
	return note.NewEd25519VerifierKey(s.name, s.key.Public().(ed25519.PublicKey))
}

func point(name string, pub *ecdsa.PublicKey) ([]byte, error) {
	if !validName(name) {
		return nil, fmt.Errorf("%w: invalid key name %q", ErrInvalidKey, name)
	}
	if pub == nil || !sm2.IsSM2PublicKey(pub) {
		return nil, fmt.Errorf("%w: key for %q is not an SM2 public key", ErrInvalidKey, name)
	}
	k, err := sm2.PublicKeyToECDH(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: key for %q: %v", ErrInvalidKey, name, err)
	}
	pt := k.Bytes()
	if len(pt) != pointSize {
		return nil, fmt.Errorf("%w: key for %q is not an uncompressed SM2 point", ErrInvalidKey, name)
	}
	return pt, nil
}

// keyHash is the key ID the signed-note specification recommends:
// SHA-256(name || 0x0A || type || key)[:4].
func keyHash(name string, typeAndKey []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte("\n"))
	h.Write(typeAndKey)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// validName reports whether name is a valid note key name: non-empty, valid
// UTF-8, no Unicode spaces and no '+'.
func validName(name string) bool {
	if name == "" || strings.ContainsRune(name, '+') {
		return false
	}
	for _, r := range name {
		if unicode.IsSpace(r) || r == unicode.ReplacementChar || r < 0x20 {
			return false
		}
	}
	return true
}
