// Package timestamp is Tongxing's time-stamp authority (TSA), its client and
// its token verifier.
//
// Standards:
//   - RFC 3161 Time-Stamp Protocol (TimeStampReq, TimeStampResp, TSTInfo) and
//     its HTTP transport (application/timestamp-query, application/timestamp-reply);
//   - RFC 5816 / RFC 5035 ESS signing-certificate-v2 in every token;
//   - RFC 5652 CMS SignedData for the intl suite (ECDSA P-256/384/521 with
//     SHA-256/384/512), verifiable with `openssl ts -verify`;
//   - GM/T 0033-2014 time-stamp interface with GM/T 0010-2012 (GB/T 35275)
//     SignedData for the gm suite: SM3 message imprints (1.2.156.10197.1.401),
//     SM2 signatures (GB/T 32918.2, signer ID 1234567812345678).
//
// The suite of a token follows the hash algorithm of the request: SM3 gives
// a gm token, SHA-256/384/512 an intl token. MD5, SHA-1 and unknown
// algorithms are rejected with badAlg.
//
// Token layout. intl: ContentInfo signedData (1.2.840.113549.1.7.2),
// SignedData version 3, digest SHA-2 without parameters, signature
// ecdsa-with-SHA*. gm: ContentInfo with the GM/T 0010 signedData OID
// (1.2.156.10197.6.1.4.2.2), SignedData version 1, digest SM3 with NULL
// parameters, SignerInfo signature algorithm sm2-1 (1.2.156.10197.1.301.1).
// Both: eContentType id-ct-TSTInfo (1.2.840.113549.1.9.16.1.4); signed
// attributes content-type, signing-time (= genTime), message-digest and
// signing-certificate-v2 (ESSCertIDv2 with SHA-256, or SM3 for gm, and
// IssuerSerial); the TSA certificate only when the request sets certReq.
// The verifier also accepts SM2-with-SM3 (1.2.156.10197.1.501) as the
// signature algorithm and GM/T 0010 data (1.2.156.10197.6.1.4.2.1) as the
// eContentType of a gm token, and RSA PKCS #1 v1.5 tokens from other TSAs.
//
// [Authority] issues tokens in process ([Authority.Timestamp]) and over HTTP
// ([Authority.Handler], which [Authority.Routes] mounts at POST /tsa). It
// refuses to issue (timeNotAvailable) when its clock runs backwards relative
// to its own latest token or to the high-water mark its previous run stored in
// its [Watermark], or drifts beyond a bound against a [ReferenceClock];
// [Authority.Stats] exposes the counters for monitoring. Serial numbers are
// random 128-bit integers ([SerialBits]): unique without any write per token,
// across restarts and replicas. Tokens do not set the TSTInfo ordering field,
// so tokens of different replicas are not ordered by genTime.
// [Request] and [Client] are the HTTP client, [Verify] and [VerifyToken]
// the verifier.
//
// CMS encoding and parsing live in the sub-package cms, the SQL watermark
// (store migration 00080) in sqlmark.
package timestamp
