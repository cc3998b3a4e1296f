package sm2jws

import (
	"encoding/base64"
	"fmt"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/emmansun/gmsm/sm3"
)

// AccessTokenHash returns the "at_hash" (or, given an authorization code, the
// "c_hash") value for an ID token signed with "SM2": the unpadded base64url
// encoding of the left-most 128 bits of SM3(ASCII(token)), following OpenID
// Connect Core 1.0 §3.1.3.6 with SM3 as the hash of the alg.
func AccessTokenHash(token string) string {
	sum := sm3.Sum([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// VerifyAccessTokenHash checks that the "at_hash" claim of the verified ID
// token tok matches accessToken per [AccessTokenHash]. It is the SM2
// counterpart of go-oidc's IDToken.VerifyAccessToken, which rejects "SM2". It
// does NOT check tok's signature algorithm; tok must come from a verifier
// that accepts only "SM2". Errors wrap [ErrAccessTokenHash].
func VerifyAccessTokenHash(tok *oidc.IDToken, accessToken string) error {
	if tok == nil || tok.AccessTokenHash == "" {
		return fmt.Errorf("%w: ID token has no at_hash", ErrAccessTokenHash)
	}
	if tok.AccessTokenHash != AccessTokenHash(accessToken) {
		return fmt.Errorf("%w: at_hash %s does not match the access token", ErrAccessTokenHash, quote(tok.AccessTokenHash))
	}
	return nil
}
