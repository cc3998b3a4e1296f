// Package ocsp encodes and decodes the Online Certificate Status Protocol
// messages of Tongxing's responder and revocation checker, for both algorithm
// suites: gm (SM2 with SM3, signer ID 1234567812345678) and intl (ECDSA P-256
// with SHA-256).
//
// Standards implemented:
//
//   - RFC 6960 (OCSP): OCSPRequest with one or more Request entries, an
//     optional requestorName and an optional signature (parsed, never
//     verified); OCSPResponse with the id-pkix-ocsp-basic response type,
//     ResponderID byKey, and the unsigned error responses; the GET encoding
//     of Appendix A.1. See [ParseRequest], [ParseGETPath], [CreateRequest],
//     [CreateResponse], [ErrorResponse] and [ParseResponse].
//   - RFC 8954 (OCSP nonce, 1.3.6.1.5.5.7.48.1.2): the extnValue is an
//     OCTET STRING holding the nonce. Requests whose extnValue holds the
//     nonce bytes directly are accepted too, and the response echoes the
//     request's extnValue byte for byte. See [Nonce].
//   - RFC 5280: Extensions, CRLReason (§5.3.1) and the key hash of the
//     CertID and ResponderID (SHA-1 of the subjectPublicKey BIT STRING).
//   - CertID hash algorithms SHA-1 (FIPS 180-4, 1.3.14.3.2.26), SHA-256
//     (2.16.840.1.101.3.4.2.1) and SM3 (GB/T 32905, 1.2.156.10197.1.401).
//   - Signatures: SM2-with-SM3 (GB/T 32918.2, GM/T 0009, 1.2.156.10197.1.501)
//     over the whole tbsResponseData with the default signer ID, and
//     ecdsa-with-SHA256 (RFC 5758). Keys are used only through
//     [crypto.Signer] with the options of their [kms.Suite].
//
// Every parser is strict DER (minimal lengths and integers, GeneralizedTime
// in its one DER form, no trailing data), has a size limit, copies what it
// keeps out of its input, and never panics.
//
// What this package does NOT do: look up certificate status, serve HTTP,
// verify request signatures, or decide freshness. [ParseResponse] checks
// the signature and the responder's authority, but the caller compares
// ThisUpdate and NextUpdate with the current time and the nonce with the one
// it sent.
//
// The package holds no state; every function is safe for concurrent use.
package ocsp
