// Package certlogin implements certificate login, assurance level
// urn:tongxing:loa:4: the provider issues a [Challenge], the user's card
// middleware signs its canonical bytes with the private key of a citizen
// card (一卡通) SM2 certificate, an enterprise e-cert (e证通, SM2) or an
// ECDSA P-256 certificate, and [Verify] checks the signature, the
// certificate chain, its revocation and the challenge's freshness, and
// returns the [Identity] the certificate proves.
//
// The signed bytes of a challenge (see [Challenge.ToBeSigned]) are the
// UTF-8 text, lines joined by a single "\n" and no final newline:
//
//	tongxing-cert-login
//	<audience: the provider's issuer URL>
//	<nonce: 32 random bytes, base64url without padding>
//	<issued-at: RFC 3339, UTC, whole seconds>
//
// Standards implemented:
//
//   - GB/T 32918.2-2016 SM2 signatures with SM3 (GB/T 32905-2016) over those
//     bytes, with the default signer ID 1234567812345678 (GM/T 0009), DER
//     SEQUENCE{r, s}; or ECDSA P-256 with SHA-256 (FIPS 186-4), ASN.1 DER.
//     The suite follows the leaf certificate's key: SM2 curve is "gm",
//     NIST P-256 is "intl".
//   - RFC 5280 path validation (github.com/emmansun/gmsm/smx509) to the
//     configured roots at the verification time, plus for the leaf: key
//     usage digitalSignature and extended key usage id-kp-clientAuth, both
//     present explicitly.
//   - GM/T 0015-2012 subject identity, the same for both suites
//     ([IdentityOf], also used by the provider's TLS client-certificate
//     login): the subject serialNumber (a Tongxing pseudonym) or the
//     identity code extension 1.2.156.10260.4.1.1 for citizens, and the
//     unified social credit code extension 1.2.156.10260.4.4 (GB 32100)
//     with the subject O for enterprises, read with package ca/ident; a
//     service certificate (URI SAN or serverAuth) identifies no person.
//
// Replay protection: a challenge expires ([DefaultChallengeTTL] by default)
// and is accepted once, through a [UsedChallenges] store that the provider
// backs with its database. Revocation is asked of a [Revocation] checker
// (Tongxing's *ca.Authority, or ca/revcheck for other CAs); a revoked
// certificate is refused with an error that wraps the checker's, so that
// errors.Is(err, ca.ErrRevoked) holds and the message says when and why.
//
// Every input from the client has a size limit: [MaxLoginRequestSize],
// [MaxChainSize], [MaxChainCerts], [MaxSignatureSize], [MaxChallengeSize].
//
// What this package does NOT do: check the revocation of intermediate CAs,
// check certificate policies, map an identity to an account, throttle
// attempts, or serve HTTP (the provider mounts POST /login/cert and uses
// [ParseLoginRequest] and [Verify]). The client side ([Sign]) does NOT
// check the challenge's audience: the card-middleware CLI must compare it
// with the issuer it meant to reach before signing.
//
// The package holds no global mutable state; its functions are safe for
// concurrent use.
package certlogin
