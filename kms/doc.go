// Package kms defines the two algorithm suites of Tongxing and how private
// keys are generated, identified and kept at rest.
//
// Suites:
//
//   - [GM]: SM2 (GB/T 32918.1-5, curve OID 1.2.156.10197.1.301) with SM3
//     (GB/T 32905), signature algorithm SM2-with-SM3 (1.2.156.10197.1.501),
//     signer ID 1234567812345678 (GM/T 0009).
//   - [Intl]: ECDSA over NIST P-256 (FIPS 186-5) with SHA-256, signature
//     algorithm ecdsa-with-SHA256 (RFC 5758).
//
// Keys at rest are PKCS#8 EncryptedPrivateKeyInfo (RFC 5958, RFC 5208) in PEM
// (RFC 7468, type "ENCRYPTED PRIVATE KEY"), encrypted with PBES2 (RFC 8018):
// PBKDF2 with the hmacWithSM3 PRF (1.2.156.10197.1.401.2) and SM4-CBC
// (GB/T 32907, 1.2.156.10197.1.104.2). See [MarshalEncryptedPEM].
//
// Besides the suites, a key manager may keep keys of a [KeyType] (Ed25519,
// RFC 8032; RSA for RS256) that Tongxing never certifies ([TypedKeyCreator]),
// secrets that are not signing keys, such as the KMC master key
// ([SecretStore]; RFC 6031 OneSymmetricKey encrypted the same way, PEM type
// "ENCRYPTED SYMMETRIC KEY"), and seal keys that live elsewhere, in the
// database shared by replicas ([KeySealer]). Every key and secret Tongxing
// keeps at rest goes through these interfaces.
//
// Private keys cross package boundaries only as [crypto.Signer]. Backends that
// store keys implement [KeyManager] and, where they can, the other
// interfaces; the software backend is kms/softkms.
package kms
