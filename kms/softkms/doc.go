// Package softkms keeps keys as files encrypted under one passphrase:
// each signing key is <dir>/<name>.key, a PKCS#8 EncryptedPrivateKeyInfo in
// PEM (RFC 5958, RFC 8018 PBES2 with PBKDF2-HMAC-SM3 and SM4-CBC; see
// kms.MarshalEncryptedPEM), and each secret (a symmetric key) is
// <dir>/<name>.secret, an RFC 6031 OneSymmetricKey encrypted the same way
// (kms.MarshalEncryptedSecretPEM). It implements kms.KeyManager for both
// suites, kms.TypedKeyCreator (Ed25519, RSA), kms.SecretStore, and
// kms.KeySealer for keys kept outside the directory (in the database).
//
// The directory is private to the process owner (0700, files 0600). Keys and
// secrets are written once and never replaced. Decrypted signing keys are
// held in memory until Close; secrets are decrypted on each read.
package softkms
