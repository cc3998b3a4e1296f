// Package revcheck finds out whether a certificate was revoked, by asking
// the issuing CA over HTTP: first its OCSP responder, then its CRL.
//
// Standards:
//   - RFC 6960 (OCSP) over HTTP POST (Appendix A.1, application/ocsp-request),
//     to the responder named in the certificate's Authority Information
//     Access extension (RFC 5280 §4.2.2.1, id-ad-ocsp). The request carries
//     one CertID (SHA-1 issuer hashes, RFC 6960 §4.1.1) and no nonce, so that
//     responders may answer with pre-signed responses; freshness comes from
//     thisUpdate and nextUpdate instead (RFC 5019 §2.2.4). Responses are
//     verified with package ca/ocsp: signed by the issuer or by a delegated
//     responder it certified (SM2-with-SM3 or ECDSA with SHA-256).
//   - RFC 5280 §5 CRLs (DER) from the certificate's CRL distribution points
//     (§4.2.1.13), verified against the issuer (signature, issuer name, CRL
//     signing key usage) and refused when past nextUpdate. Only complete,
//     direct CRLs are accepted: delta CRLs and CRLs with a critical extension
//     (such as an issuing distribution point) are refused.
//
// A certificate revoked (or on hold, certificateHold) at or before the time
// asked about gives an error wrapping [ca.ErrRevoked] with a
// [*ca.RevokedError] stating when and why; one revoked later counts as good
// at that time, so that a filing time-stamped before a revocation stays
// valid. When neither source yields a verified, fresh answer the error wraps
// [ErrUnavailable] and names both failures. An OCSP answer "unknown" is
// final ([ErrUnknown]); the CRL is not asked, since its silence would read
// as good.
//
// What this package does NOT do: cache answers, check the revocation of the
// issuer itself or of a delegated OCSP responder (id-pkix-ocsp-nocheck is
// not consulted), or use LDAP or other non-HTTP URLs.
package revcheck
