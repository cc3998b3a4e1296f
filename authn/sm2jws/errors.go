package sm2jws

import (
	"errors"
	"strconv"
)

// Sentinel errors. Every error returned by this package wraps one of them, so
// callers can use errors.Is.
var (
	// ErrMalformedJWS: the token is not a well-formed compact JWS (three
	// base64url parts, a JSON object header with "alg" and "kid").
	ErrMalformedJWS = errors.New("sm2jws: malformed JWS")
	// ErrTooLarge: a token or key set exceeds [MaxTokenSize] or [MaxJWKSetSize].
	ErrTooLarge = errors.New("sm2jws: input too large")
	// ErrAlgorithm: the JWS "alg" is not [Alg], or a JWK names another "alg".
	ErrAlgorithm = errors.New("sm2jws: unsupported algorithm")
	// ErrUnknownKey: no key in the key set has the token's "kid".
	ErrUnknownKey = errors.New("sm2jws: unknown key ID")
	// ErrInvalidSignature: the signature has the wrong form or does not verify.
	ErrInvalidSignature = errors.New("sm2jws: invalid SM2 signature")
	// ErrInvalidKey: a key is not a valid SM2 key of a supported Go type.
	ErrInvalidKey = errors.New("sm2jws: invalid SM2 key")
	// ErrMalformedJWKSet: a JWK Set is not valid JSON of the expected shape, or
	// one of its SM2 keys is invalid.
	ErrMalformedJWKSet = errors.New("sm2jws: malformed JWK set")
	// ErrFetch: the remote JWK Set could not be fetched.
	ErrFetch = errors.New("sm2jws: fetching JWK set")
	// ErrAccessTokenHash: an ID token's at_hash is absent or does not match.
	ErrAccessTokenHash = errors.New("sm2jws: access token hash mismatch")
)

// quote returns s quoted for an error message, shortened if it is long, so
// that attacker-chosen values cannot bloat errors and logs.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}
