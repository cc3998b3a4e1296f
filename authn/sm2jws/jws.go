package sm2jws

import (
	"context"
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/golang-jwt/jwt/v5"
)

// MaxTokenSize is the largest compact JWS, in bytes, that the key sets
// accept: 32 KiB.
const MaxTokenSize = 32 << 10

// compactJWS is a parsed, not yet verified, compact JWS with alg "SM2".
type compactJWS struct {
	kid          string
	signingInput string
	payload      []byte
	sig          []byte
}

// b64 is the strict unpadded base64url encoding of RFC 7515 §2: padding,
// line breaks and non-zero trailing bits are rejected.
var b64 = base64.RawURLEncoding.Strict()

// parseCompact parses token as a compact JWS (RFC 7515 §7.1): at most
// MaxTokenSize bytes, exactly three unpadded base64url parts, a protected
// header that is a JSON object with "alg" equal to "SM2" and a non-empty
// string "kid", no "crit", and a signature of SignatureSize bytes. It does
// not verify the signature.
func parseCompact(token string) (*compactJWS, error) {
	if len(token) > MaxTokenSize {
		return nil, fmt.Errorf("%w: JWS is %d bytes, limit %d", ErrTooLarge, len(token), MaxTokenSize)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: %d parts, want 3", ErrMalformedJWS, len(parts))
	}
	rawHeader, err := b64.DecodeString(parts[0])
	if err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrMalformedJWS, err)
	}
	payload, err := b64.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("%w: payload: %w", ErrMalformedJWS, err)
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return nil, fmt.Errorf("%w: signature: %w", ErrMalformedJWS, err)
	}
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(rawHeader, &hdr); err != nil {
		return nil, fmt.Errorf("%w: header is not a JSON object: %w", ErrMalformedJWS, err)
	}
	if hdr == nil {
		return nil, fmt.Errorf("%w: header is null", ErrMalformedJWS)
	}
	alg, err := headerString(hdr, "alg")
	if err != nil {
		return nil, err
	}
	if alg != Alg {
		return nil, fmt.Errorf("%w: alg %s, want %s", ErrAlgorithm, quote(alg), Alg)
	}
	if _, ok := hdr["crit"]; ok {
		return nil, fmt.Errorf("%w: crit header is not supported", ErrMalformedJWS)
	}
	kid, err := headerString(hdr, "kid")
	if err != nil {
		return nil, err
	}
	if kid == "" {
		return nil, fmt.Errorf("%w: empty kid", ErrMalformedJWS)
	}
	if len(sig) != SignatureSize {
		return nil, fmt.Errorf("%w: signature is %d bytes, want %d (r || s)", ErrInvalidSignature, len(sig), SignatureSize)
	}
	return &compactJWS{
		kid:          kid,
		signingInput: token[:len(parts[0])+1+len(parts[1])],
		payload:      payload,
		sig:          sig,
	}, nil
}

// headerString returns the string header parameter name, which must be
// present.
func headerString(hdr map[string]json.RawMessage, name string) (string, error) {
	raw, ok := hdr[name]
	if !ok {
		return "", fmt.Errorf("%w: no %q header", ErrMalformedJWS, name)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || string(raw) == "null" {
		return "", fmt.Errorf("%w: %q header is not a string", ErrMalformedJWS, name)
	}
	return s, nil
}

// verifyWith parses token, looks its kid up with lookup and verifies it.
func verifyWith(ctx context.Context, token string, lookup func(context.Context, string) (*ecdsa.PublicKey, error)) ([]byte, error) {
	jws, err := parseCompact(token)
	if err != nil {
		return nil, err
	}
	pub, err := lookup(ctx, jws.kid)
	if err != nil {
		return nil, err
	}
	if err := verifyRaw(pub, []byte(jws.signingInput), jws.sig); err != nil {
		return nil, fmt.Errorf("kid %s: %w", quote(jws.kid), err)
	}
	return jws.payload, nil
}

// ParseWithClaims verifies the SM2 compact JWS token with keys (for example a
// [StaticKeySet] or [RemoteKeySet]), decodes its payload into claims and
// validates them with golang-jwt's jwt.NewValidator(opts...). It does not use
// golang-jwt's signing-method table, so it works without [Register]. Only the
// claim-validation options take effect (jwt.WithAudience, WithIssuer,
// WithSubject, WithLeeway, WithTimeFunc, WithExpirationRequired,
// WithIssuedAt); like golang-jwt it does NOT require "exp" unless
// jwt.WithExpirationRequired is given. Signature errors wrap this package's
// sentinels; claim errors are golang-jwt's (jwt.ErrTokenExpired, ...).
func ParseWithClaims(ctx context.Context, keys oidc.KeySet, token string, claims jwt.Claims, opts ...jwt.ParserOption) error {
	payload, err := keys.VerifySignature(ctx, token)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(payload, claims); err != nil {
		return fmt.Errorf("%w: claims are not a JSON object of the expected shape: %w", ErrMalformedJWS, err)
	}
	if err := jwt.NewValidator(opts...).Validate(claims); err != nil {
		return fmt.Errorf("sm2jws: claims: %w", err)
	}
	return nil
}
