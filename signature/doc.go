// Package signature signs and verifies filings (申报材料): CMS SignedData
// (RFC 5652) with a trusted time, in the manner of CAdES-T (ETSI EN 319 122,
// RFC 5126).
//
// A gm signature (SM2 key) follows GM/T 0010-2012 (GB/T 35275): SM3 digest,
// sm2-1 signature with signer ID 1234567812345678, GM/T 0010 content-type
// OIDs. An intl signature (ECDSA key) follows RFC 5652 with SHA-2. Both carry
// the signed attributes content-type, signing-time, message-digest and ESS
// signing-certificate-v2 (RFC 5035), the signer's certificate chain, and,
// when a time-stamp authority is configured, a signature time-stamp token
// (RFC 3161 / GM/T 0033, package timestamp) over the signature value as the
// unsigned attribute id-aa-signatureTimeStampToken (1.2.840.113549.1.9.16.2.14).
//
// Verify checks a signature and returns a [Report] that a clerk can read
// ([Report.Text]) or a program can inspect (its checks, as JSON). The
// certificate chain is checked at the time-stamp time when a valid token is
// present, otherwise at the current time. Revocation is checked only through
// a [RevocationChecker] the caller supplies (for example one backed by the
// OCSP responder of package ca).
package signature
