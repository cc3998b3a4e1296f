package sm2jws

import (
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/emmansun/gmsm/sm2"
)

// MaxJWKSetSize is the largest JWK Set document, in bytes, that
// [ParseJWKSet] and [RemoteKeySet] accept: 64 KiB.
const MaxJWKSetSize = 64 << 10

// DiscoveryField is the OpenID Provider Metadata field that holds the URL of
// the provider's SM2 JWK Set.
const DiscoveryField = "sm2_jwks_uri"

// JWK is an SM2 public key as a JSON Web Key:
// {"kty":"EC","crv":"SM2","x":...,"y":...,"kid":...,"alg":"SM2","use":"sig"}.
// X and Y hold the base64url (unpadded) encodings of the 32-byte affine
// coordinates. A JWK value is not validated until [JWK.PublicKey] is called.
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	Kid string `json:"kid,omitempty"`
	Alg string `json:"alg,omitempty"`
	Use string `json:"use,omitempty"`
}

// JWKSet is a JWK Set (RFC 7517 §5) of SM2 public keys, as published at the
// URL named by [DiscoveryField].
type JWKSet struct {
	Keys []JWK `json:"keys"`
}

// Wire values of the JWK members.
const (
	ktyEC  = "EC"
	crvSM2 = "SM2"
	useSig = "sig"
)

// NewJWK returns the JWK for the SM2 public key pub with key ID kid, with
// "alg" "SM2" and "use" "sig". kid must not be empty. pub must be a valid point
// on the SM2 curve; errors wrap [ErrInvalidKey].
func NewJWK(pub *ecdsa.PublicKey, kid string) (JWK, error) {
	if pub == nil {
		return JWK{}, fmt.Errorf("%w: nil public key for kid %s", ErrInvalidKey, quote(kid))
	}
	if kid == "" {
		return JWK{}, fmt.Errorf("%w: empty kid", ErrInvalidKey)
	}
	if err := checkPublicKey(pub); err != nil {
		return JWK{}, fmt.Errorf("kid %s: %w", quote(kid), err)
	}
	enc := base64.RawURLEncoding
	return JWK{
		Kty: ktyEC,
		Crv: crvSM2,
		X:   enc.EncodeToString(pub.X.FillBytes(make([]byte, coordSize))),
		Y:   enc.EncodeToString(pub.Y.FillBytes(make([]byte, coordSize))),
		Kid: kid,
		Alg: Alg,
		Use: useSig,
	}, nil
}

// IsSM2 reports whether k claims to be an SM2 key ("kty" "EC", "crv" "SM2").
// It does not validate the key.
func (k JWK) IsSM2() bool { return k.Kty == ktyEC && k.Crv == crvSM2 }

// PublicKey validates k and returns its SM2 public key. It requires "kty"
// "EC", "crv" "SM2", "alg" absent or "SM2", "use" absent or "sig", and x and y
// that are unpadded base64url of exactly 32 bytes each forming a point on the
// SM2 curve (not the point at infinity). It does NOT check "kid" (use
// [NewStaticKeySet] or [ParseJWKSet] for that), nor "key_ops", "x5c" or
// other members. Errors wrap [ErrInvalidKey] or [ErrAlgorithm].
func (k JWK) PublicKey() (*ecdsa.PublicKey, error) {
	if !k.IsSM2() {
		return nil, fmt.Errorf("%w: kid %s has kty %s crv %s, want EC/SM2", ErrInvalidKey, quote(k.Kid), quote(k.Kty), quote(k.Crv))
	}
	if k.Alg != "" && k.Alg != Alg {
		return nil, fmt.Errorf("%w: kid %s has alg %s, want %s", ErrAlgorithm, quote(k.Kid), quote(k.Alg), Alg)
	}
	if k.Use != "" && k.Use != useSig {
		return nil, fmt.Errorf("%w: kid %s has use %s, want sig", ErrInvalidKey, quote(k.Kid), quote(k.Use))
	}
	x, err := decodeCoord(k.X)
	if err != nil {
		return nil, fmt.Errorf("%w: kid %s: x: %w", ErrInvalidKey, quote(k.Kid), err)
	}
	y, err := decodeCoord(k.Y)
	if err != nil {
		return nil, fmt.Errorf("%w: kid %s: y: %w", ErrInvalidKey, quote(k.Kid), err)
	}
	pub, err := sm2.NewPublicKey(append(append([]byte{4}, x...), y...))
	if err != nil {
		return nil, fmt.Errorf("%w: kid %s is not a point on the SM2 curve: %w", ErrInvalidKey, quote(k.Kid), err)
	}
	return pub, nil
}

// decodeCoord decodes an unpadded base64url coordinate of exactly 32 bytes.
func decodeCoord(s string) ([]byte, error) {
	if len(s) != base64.RawURLEncoding.EncodedLen(coordSize) {
		return nil, fmt.Errorf("encoded length %d, want %d (32 bytes)", len(s), base64.RawURLEncoding.EncodedLen(coordSize))
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not unpadded base64url: %w", err)
	}
	return b, nil
}

// ParseJWKSet parses a JWK Set document of at most [MaxJWKSetSize] bytes and
// returns its SM2 keys. Keys whose "kty"/"crv" is not "EC"/"SM2" are skipped
// (so one document may also hold other keys); so are SM2 keys whose "use" is
// not "sig" or whose "alg" is neither absent nor "SM2". Every remaining key
// must be valid (see [JWK.PublicKey]) and have a non-empty "kid" unique in the
// set, otherwise the whole set is rejected: it is the provider's own
// publication and a bad key means it is corrupt. The "keys" member is
// required. Member names match exactly (JSON is case-sensitive here). Errors
// wrap [ErrTooLarge] or [ErrMalformedJWKSet].
func ParseJWKSet(data []byte) (*JWKSet, error) {
	if len(data) > MaxJWKSetSize {
		return nil, fmt.Errorf("%w: JWK set is %d bytes, limit %d", ErrTooLarge, len(data), MaxJWKSetSize)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedJWKSet, err)
	}
	rawKeys, ok := doc["keys"]
	if !ok {
		return nil, fmt.Errorf("%w: no \"keys\" member", ErrMalformedJWKSet)
	}
	var keys []map[string]json.RawMessage
	if err := json.Unmarshal(rawKeys, &keys); err != nil {
		return nil, fmt.Errorf("%w: \"keys\": %w", ErrMalformedJWKSet, err)
	}
	if keys == nil {
		return nil, fmt.Errorf("%w: \"keys\" is null, want an array", ErrMalformedJWKSet)
	}
	set := &JWKSet{Keys: []JWK{}}
	seen := make(map[string]bool)
	for i, m := range keys {
		k, err := jwkFromMembers(m)
		if err != nil {
			return nil, fmt.Errorf("%w: key %d: %w", ErrMalformedJWKSet, i, err)
		}
		if !k.IsSM2() || (k.Use != "" && k.Use != useSig) || (k.Alg != "" && k.Alg != Alg) {
			continue
		}
		if k.Kid == "" {
			return nil, fmt.Errorf("%w: key %d: SM2 key without kid", ErrMalformedJWKSet, i)
		}
		if seen[k.Kid] {
			return nil, fmt.Errorf("%w: key %d: duplicate kid %s", ErrMalformedJWKSet, i, quote(k.Kid))
		}
		seen[k.Kid] = true
		if _, err := k.PublicKey(); err != nil {
			return nil, fmt.Errorf("%w: key %d: %w", ErrMalformedJWKSet, i, err)
		}
		set.Keys = append(set.Keys, k)
	}
	return set, nil
}

// jwkFromMembers reads the string members of one JWK object by their exact
// names. A member used here that is present but not a string is an error;
// other members are ignored.
func jwkFromMembers(m map[string]json.RawMessage) (JWK, error) {
	var k JWK
	fields := []struct {
		name string
		dst  *string
	}{
		{"kty", &k.Kty}, {"crv", &k.Crv}, {"x", &k.X}, {"y", &k.Y},
		{"kid", &k.Kid}, {"alg", &k.Alg}, {"use", &k.Use},
	}
	if m == nil {
		return k, fmt.Errorf("not a JSON object")
	}
	for _, f := range fields {
		raw, ok := m[f.name]
		if !ok {
			continue
		}
		if err := json.Unmarshal(raw, f.dst); err != nil {
			return k, fmt.Errorf("member %q: %w", f.name, err)
		}
	}
	return k, nil
}

// keyMap validates keys and indexes them by kid. Every key must be an SM2 key
// with a unique, non-empty kid.
func keyMap(keys []JWK) (map[string]*ecdsa.PublicKey, error) {
	m := make(map[string]*ecdsa.PublicKey, len(keys))
	for _, k := range keys {
		if k.Kid == "" {
			return nil, fmt.Errorf("%w: key without kid", ErrInvalidKey)
		}
		if _, dup := m[k.Kid]; dup {
			return nil, fmt.Errorf("%w: duplicate kid %s", ErrInvalidKey, quote(k.Kid))
		}
		pub, err := k.PublicKey()
		if err != nil {
			return nil, err
		}
		m[k.Kid] = pub
	}
	return m, nil
}
