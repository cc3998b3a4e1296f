// Package cms encodes and parses CMS SignedData (RFC 5652) in the two shapes
// Tongxing uses: the international one (ECDSA with SHA-2, RFC 5652 and
// RFC 5753/5758 algorithm identifiers) and the Chinese one of GM/T 0010-2012
// (GB/T 35275-2017): SM2 signatures over SM3 with the GM/T 0010 content-type
// identifiers (signedData 1.2.156.10197.6.1.4.2.2, data 1.2.156.10197.6.1.4.2.1),
// the SignerInfo signature algorithm sm2-1 (1.2.156.10197.1.301.1) and the SM2
// signer ID 1234567812345678 (GB/T 32918.2, GM/T 0009).
//
// It also builds and checks the ESS signing-certificate-v2 attribute
// (RFC 5035), which binds a signature to one certificate.
//
// The package is deliberately small: one signer per SignedData when
// signing, signed attributes always present, DER only. The parser is strict
// DER (no BER, no indefinite lengths) and limited to [MaxSize] bytes. RSA
// signatures (PKCS #1 v1.5) are verified, never produced.
package cms
