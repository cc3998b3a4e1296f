// Package sm2jws signs and verifies JSON Web Tokens with SM2/SM3 so that the
// Tongxing OpenID Connect provider can issue SM2-signed ID tokens and portals
// can verify them with github.com/coreos/go-oidc/v3.
//
// Standards: JWS (RFC 7515) compact serialization, JWK (RFC 7517), JWT
// (RFC 7519), SM2 digital signatures (GB/T 32918.2-2016) with SM3
// (GB/T 32905-2016) and the signer-ID preprocessing of GM/T 0009,
// OpenID Connect Core 1.0 and Discovery 1.0.
//
// # Wire forms
//
// JWS "alg" value [Alg] = "SM2": an SM2 signature with SM3 digest over the JWS
// signing input ASCII(BASE64URL(header) || '.' || BASE64URL(payload)), computed
// as in GB/T 32918.2 with e = SM3(Z || input), where Z is computed from the
// default signer ID "1234567812345678" (GM/T 0009) and the signer's public key.
// The JWS signature is the 64-byte concatenation r || s, each a 32-byte
// big-endian integer left-padded with zeros, exactly as ES256 in RFC 7518
// §3.4; it is NOT the ASN.1 DER SEQUENCE that SM2 uses in X.509 and CMS.
// Verifiers reject any other length and r or s outside [1, n-1], n being the
// order of the SM2 curve. Unlike ECDSA, SM2 signatures are not malleable by
// s -> n-s, so there is no "low-s" rule: s > n/2 is valid and (r, n-s) does
// not verify.
//
// Tokens are verified only with a "kid" header naming a key in the key set;
// "crit" headers are rejected, and "jwk", "jku", "x5u" and "x5c" headers are
// ignored (keys never come from the token itself). The provider emits only
// "alg", "kid" and "typ": go-oidc parses the header with go-jose first, which
// rejects a token whose "jwk" header holds an SM2 key.
//
// JWK for an SM2 public key ([JWK]):
//
//	{"kty":"EC","crv":"SM2","x":"<b64url 32 bytes>","y":"<b64url 32 bytes>",
//	 "kid":"...","alg":"SM2","use":"sig"}
//
// x and y are the affine coordinates, each exactly 32 bytes, big-endian,
// left-padded, base64url without padding (RFC 7518 §6.2.1 style).
//
// SM2 keys never appear in the standard "jwks_uri" (go-jose rejects the whole
// set when it meets an unknown curve). The provider publishes them as a JWK
// Set at a separate URL named by the discovery field [DiscoveryField]
// ("sm2_jwks_uri"), and lists "SM2" in id_token_signing_alg_values_supported.
//
// For an ID token signed with SM2, "at_hash" (and "c_hash") is the base64url
// encoding of the left-most 128 bits of SM3 of the ASCII token value; see
// [AccessTokenHash]. go-oidc's IDToken.VerifyAccessToken does not know "SM2";
// use [VerifyAccessTokenHash] instead.
//
// # Verifying with go-oidc
//
// go-oidc v3.21.0's IDTokenVerifier.Verify first parses the token with
// go-jose's jose.ParseSigned(token, algs), where algs are the strings of
// Config.SupportedSigningAlgs converted to jose.SignatureAlgorithm. go-jose
// checks "alg" only by membership in that list (it does not need to know the
// algorithm to parse), so "SM2" passes exactly when Config.SupportedSigningAlgs
// contains "SM2". Verify then calls KeySet.VerifySignature with the raw token
// and uses the returned payload; signature checking is entirely the key set's.
// Hence:
//
//	keys := sm2jws.NewRemoteKeySet(ctx, sm2JWKSURL)
//	verifier := oidc.NewVerifier(issuer, keys, &oidc.Config{
//		ClientID:             "portal",
//		SupportedSigningAlgs: []string{sm2jws.Alg},
//	})
//
// SupportedSigningAlgs must be set explicitly: with NewVerifier it otherwise
// defaults to RS256, and oidc.NewProvider drops algorithms it does not know
// from the discovery document, so Provider.Verifier would never accept SM2.
// [NewRemoteKeySetFromProvider] reads "sm2_jwks_uri" from a discovered
// provider. Since the key sets here verify only SM2, a verifier built with
// them must not list other algorithms.
//
// # golang-jwt
//
// [SigningMethodSM2] implements golang-jwt v5's jwt.SigningMethod. Minting
// needs no registration: jwt.NewWithClaims(sm2jws.SigningMethodSM2, claims)
// followed by SignedString(key). golang-jwt's parser, however, looks up the
// method for a token's "alg" in its process-wide table, so jwt.Parse accepts
// SM2 tokens only after [Register] has been called once (it adds "SM2" to that
// global table); use jwt.WithValidMethods([]string{"SM2"}) as always. Without
// registration, verify with a key set and [ParseWithClaims], which does not
// consult golang-jwt's table.
package sm2jws
