package kms

import (
	"bytes"
	"crypto"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/emmansun/gmsm/pkcs"
	"github.com/emmansun/gmsm/pkcs8"
	"github.com/emmansun/gmsm/smx509"
)

// Parameters of the encryption written by MarshalEncryptedPEM and the limits
// enforced by ParseEncryptedPEM.
const (
	// PEMType is the PEM block type of an encrypted PKCS#8 key (RFC 7468).
	PEMType = "ENCRYPTED PRIVATE KEY"
	// PBKDF2Iterations is the PBKDF2-HMAC-SM3 iteration count written by
	// MarshalEncryptedPEM. On the reference machine (2 shared x86-64 cores)
	// 150,000 iterations take about 70 ms, the cost of every key load.
	PBKDF2Iterations = 150_000
	// PBKDF2SaltSize is the salt length in bytes written by MarshalEncryptedPEM.
	PBKDF2SaltSize = 16
	// MaxPBKDF2Iterations is the largest iteration count ParseEncryptedPEM
	// accepts (about 0.5 s), so that a crafted file cannot stall a reader.
	MaxPBKDF2Iterations = 1_000_000
	// MaxPEMSize is the largest input ParseEncryptedPEM accepts, in bytes.
	MaxPEMSize = 64 << 10
)

var (
	oidPBKDF2    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidSMPBKDF   = asn1.ObjectIdentifier{1, 2, 156, 10197, 6, 4, 1, 5, 1}
	oidSM4CBC    = asn1.ObjectIdentifier{1, 2, 156, 10197, 1, 104, 2}
	oidAES128CBC = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
)

// encryptedPrivateKeyInfo is RFC 5958 EncryptedPrivateKeyInfo.
type encryptedPrivateKeyInfo struct {
	Algorithm     pkix.AlgorithmIdentifier
	EncryptedData []byte
}

// pbkdf2Params is RFC 8018 PBKDF2-params (salt as "specified" only).
type pbkdf2Params struct {
	Salt           []byte
	IterationCount int
	KeyLength      int                      `asn1:"optional"`
	PRF            pkix.AlgorithmIdentifier `asn1:"optional"`
}

func encrypter(iterations int) pkcs.PBESEncrypter {
	return pkcs.NewPBESEncrypter(pkcs.SM4CBC, pkcs.NewPBKDF2Opts(pkcs.SM3, PBKDF2SaltSize, iterations))
}

// MarshalEncryptedPEM encrypts key under passphrase and returns it as a PEM
// "ENCRYPTED PRIVATE KEY" block: PKCS#8 EncryptedPrivateKeyInfo with PBES2
// (1.2.840.113549.1.5.13), PBKDF2 with PRF hmacWithSM3, a random 16-byte salt
// and PBKDF2Iterations iterations, and SM4-CBC with a random IV. Salt and IV
// come from crypto/rand.
//
// key must be a GM (*sm2.PrivateKey) or Intl (*ecdsa.PrivateKey on P-256) key.
// An empty passphrase fails with ErrEmptyPassphrase. The passphrase is used
// as given (no normalisation). OpenSSL 3.0 cannot read the result: it has no
// hmacWithSM3 PRF.
func MarshalEncryptedPEM(key crypto.Signer, passphrase []byte) ([]byte, error) {
	return marshalEncryptedPEM(key, passphrase, PBKDF2Iterations)
}

// MarshalEncryptedKeyPEM is [MarshalEncryptedPEM] for any key a key manager
// keeps: a suite key, or a key of a [KeyType] (Ed25519, RSA of 2048 to 8192
// bits). The format and encryption are the same.
func MarshalEncryptedKeyPEM(key crypto.Signer, passphrase []byte) ([]byte, error) {
	if len(passphrase) == 0 {
		return nil, ErrEmptyPassphrase
	}
	if _, err := signerSuite(key); err != nil {
		if _, terr := TypeOf(key); terr != nil {
			return nil, err
		}
	}
	return encryptPKCS8(key, passphrase, PBKDF2Iterations)
}

func marshalEncryptedPEM(key crypto.Signer, passphrase []byte, iterations int) ([]byte, error) {
	if len(passphrase) == 0 {
		return nil, ErrEmptyPassphrase
	}
	if _, err := signerSuite(key); err != nil {
		return nil, err
	}
	return encryptPKCS8(key, passphrase, iterations)
}

func encryptPKCS8(key crypto.Signer, passphrase []byte, iterations int) ([]byte, error) {
	der, err := pkcs8.MarshalPrivateKey(key, passphrase, encrypter(iterations))
	if err != nil {
		return nil, fmt.Errorf("kms: encrypt private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: PEMType, Bytes: der}), nil
}

// ParseEncryptedPEM decrypts a PEM "ENCRYPTED PRIVATE KEY" block with
// passphrase and returns the key as a GM or Intl signer (*sm2.PrivateKey or
// *ecdsa.PrivateKey on P-256).
//
// It accepts inputs up to MaxPEMSize bytes holding exactly one PEM block
// (text before it is ignored, only white space may follow), without PEM
// headers. The encryption must be PBES2 (RFC 8018 or the GM/T PBES OID) with
// PBKDF2 (any PRF gmsm supports, at most MaxPBKDF2Iterations iterations) and
// SM4-CBC or AES-CBC; so keys written by "openssl pkcs8 -topk8 -v2 sm4-cbc"
// are read. A passphrase that does not decrypt the key yields an error
// wrapping ErrWrongPassphrase. Unencrypted keys, other key types and other
// curves are rejected.
func ParseEncryptedPEM(data, passphrase []byte) (crypto.Signer, error) {
	return parseEncryptedPEM(data, passphrase, false)
}

// ParseEncryptedKeyPEM is [ParseEncryptedPEM] accepting, besides suite keys,
// the keys of a [KeyType]: Ed25519 (*ed25519.PrivateKey is returned as
// ed25519.PrivateKey) and RSA of 2048 to 8192 bits (*rsa.PrivateKey).
func ParseEncryptedKeyPEM(data, passphrase []byte) (crypto.Signer, error) {
	return parseEncryptedPEM(data, passphrase, true)
}

func parseEncryptedPEM(data, passphrase []byte, typed bool) (crypto.Signer, error) {
	der, err := decodeEncryptedPEM(data, passphrase, PEMType)
	if err != nil {
		return nil, err
	}
	return parseEncryptedDER(der, passphrase, typed)
}

// decodeEncryptedPEM returns the DER of the one PEM block of type typ in
// data, with the size, header and trailing-data checks of ParseEncryptedPEM.
func decodeEncryptedPEM(data, passphrase []byte, typ string) ([]byte, error) {
	if len(data) > MaxPEMSize {
		return nil, fmt.Errorf("kms: encrypted key is %d bytes, limit is %d", len(data), MaxPEMSize)
	}
	if len(passphrase) == 0 {
		return nil, ErrEmptyPassphrase
	}
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("kms: no PEM block found in encrypted key")
	}
	if block.Type != typ {
		return nil, fmt.Errorf("kms: PEM block type is %q, want %q", block.Type, typ)
	}
	if len(block.Headers) != 0 {
		return nil, errors.New("kms: PEM headers are not allowed in an encrypted PKCS#8 key")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("kms: unexpected data after the PEM block of the encrypted key")
	}
	return block.Bytes, nil
}

func parseEncryptedDER(der, passphrase []byte, typed bool) (crypto.Signer, error) {
	plain, err := decryptPBES2(der, passphrase)
	if err != nil {
		return nil, err
	}
	// A wrong passphrase passes the padding check about once in 256 tries;
	// the plaintext is then noise, so a parse failure means the same thing.
	k, err := smx509.ParsePKCS8PrivateKey(plain)
	clear(plain)
	if err != nil {
		return nil, ErrWrongPassphrase
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("kms: unsupported private key type %T", k)
	}
	if _, err := signerSuite(signer); err != nil {
		if !typed {
			return nil, err
		}
		if _, terr := TypeOf(signer); terr != nil {
			return nil, err
		}
	}
	return signer, nil
}

// decryptPBES2 checks and decrypts an EncryptedPrivateKeyInfo-shaped DER
// structure and returns the plaintext.
func decryptPBES2(der, passphrase []byte) ([]byte, error) {
	var info encryptedPrivateKeyInfo
	if rest, err := asn1.Unmarshal(der, &info); err != nil {
		return nil, fmt.Errorf("kms: malformed EncryptedPrivateKeyInfo: %w", err)
	} else if len(rest) != 0 {
		return nil, errors.New("kms: trailing data after EncryptedPrivateKeyInfo")
	}
	if !pkcs.IsPBES2(info.Algorithm) && !pkcs.IsSMPBES(info.Algorithm) {
		return nil, fmt.Errorf("kms: unsupported key encryption %s (want PBES2)", info.Algorithm.Algorithm)
	}
	var params pkcs.PBES2Params
	if rest, err := asn1.Unmarshal(info.Algorithm.Parameters.FullBytes, &params); err != nil {
		return nil, fmt.Errorf("kms: malformed PBES2 parameters: %w", err)
	} else if len(rest) != 0 {
		return nil, errors.New("kms: trailing data after PBES2 parameters")
	}
	if err := checkKDF(params.KeyDerivationFunc); err != nil {
		return nil, err
	}
	if err := checkCipher(params.EncryptionScheme, info.EncryptedData); err != nil {
		return nil, err
	}
	plain, _, err := params.Decrypt(passphrase, info.EncryptedData)
	if errors.Is(err, pkcs.ErrPBEDecryption) {
		return nil, ErrWrongPassphrase
	} else if err != nil {
		return nil, fmt.Errorf("kms: decrypt private key: %w", err)
	}
	return plain, nil
}

func checkKDF(kdf pkix.AlgorithmIdentifier) error {
	if !kdf.Algorithm.Equal(oidPBKDF2) && !kdf.Algorithm.Equal(oidSMPBKDF) {
		return fmt.Errorf("kms: unsupported key derivation %s (want PBKDF2)", kdf.Algorithm)
	}
	var p pbkdf2Params
	if rest, err := asn1.Unmarshal(kdf.Parameters.FullBytes, &p); err != nil {
		return fmt.Errorf("kms: malformed PBKDF2 parameters: %w", err)
	} else if len(rest) != 0 {
		return errors.New("kms: trailing data after PBKDF2 parameters")
	}
	if p.IterationCount < 1 || p.IterationCount > MaxPBKDF2Iterations {
		return fmt.Errorf("kms: PBKDF2 iteration count %d outside [1, %d]", p.IterationCount, MaxPBKDF2Iterations)
	}
	return nil
}

// checkCipher accepts SM4-CBC and AES-CBC with a 16-byte IV and a non-empty
// ciphertext of whole blocks (the library's CBC code panics otherwise).
func checkCipher(enc pkix.AlgorithmIdentifier, ciphertext []byte) error {
	switch {
	case enc.Algorithm.Equal(oidSM4CBC), enc.Algorithm.Equal(oidAES128CBC),
		enc.Algorithm.Equal(oidAES192CBC), enc.Algorithm.Equal(oidAES256CBC):
	default:
		return fmt.Errorf("kms: unsupported key encryption cipher %s (want SM4-CBC or AES-CBC)", enc.Algorithm)
	}
	var iv []byte
	if rest, err := asn1.Unmarshal(enc.Parameters.FullBytes, &iv); err != nil || len(rest) != 0 || len(iv) != 16 {
		return errors.New("kms: cipher IV must be a 16-byte OCTET STRING")
	}
	if len(ciphertext) == 0 || len(ciphertext)%16 != 0 {
		return fmt.Errorf("kms: encrypted key length %d is not a positive multiple of 16", len(ciphertext))
	}
	return nil
}
