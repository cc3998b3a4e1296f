// Package softkms keeps signing keys as files encrypted under one passphrase:
// each key is <dir>/<name>.key, a PKCS#8 EncryptedPrivateKeyInfo in PEM
// (RFC 5958, RFC 8018 PBES2 with PBKDF2-HMAC-SM3 and SM4-CBC; see
// kms.MarshalEncryptedPEM). It implements kms.KeyManager for both suites.
//
// The directory is private to the process owner (0700, files 0600). Keys are
// written once and never replaced. Decrypted keys are held in memory until
// Close.
package softkms
