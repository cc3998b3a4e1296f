package cms

import (
	"crypto"
	_ "crypto/sha1" // SHA-1 is read in old ESS attributes only
	_ "crypto/sha256"
	_ "crypto/sha512"
	"encoding/asn1"
	"hash"

	"github.com/emmansun/gmsm/sm3"
)

// Content types, attribute types and algorithm identifiers used by the package.
var (
	OIDData       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	OIDSignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	// OIDGMData and OIDGMSignedData are the GM/T 0010 content types.
	OIDGMData       = asn1.ObjectIdentifier{1, 2, 156, 10197, 6, 1, 4, 2, 1}
	OIDGMSignedData = asn1.ObjectIdentifier{1, 2, 156, 10197, 6, 1, 4, 2, 2}

	OIDAttributeContentType   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	OIDAttributeMessageDigest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	OIDAttributeSigningTime   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	// OIDAttributeSigningCertificate is ESS signing-certificate (RFC 2634, SHA-1).
	OIDAttributeSigningCertificate = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 12}
	// OIDAttributeSigningCertificateV2 is ESS signing-certificate-v2 (RFC 5035).
	OIDAttributeSigningCertificateV2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}

	OIDSHA1   = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	OIDSHA256 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	OIDSHA384 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	OIDSHA512 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	OIDSM3    = asn1.ObjectIdentifier{1, 2, 156, 10197, 1, 401}

	OIDECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	OIDECDSAWithSHA384 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	OIDECDSAWithSHA512 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
	OIDECPublicKey     = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	// OIDSM2Sign is sm2-1 (GM/T 0006), the SignerInfo signature algorithm of GM/T 0010.
	OIDSM2Sign = asn1.ObjectIdentifier{1, 2, 156, 10197, 1, 301, 1}
	// OIDSM2WithSM3 is SM2-with-SM3 (GM/T 0006), accepted as a SignerInfo signature algorithm.
	OIDSM2WithSM3 = asn1.ObjectIdentifier{1, 2, 156, 10197, 1, 501}

	OIDRSAEncryption = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	OIDSHA256WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	OIDSHA384WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	OIDSHA512WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
)

// Digest is a message-digest algorithm the package can compute.
type Digest int

// Digest algorithms. SHA-1 is known so that old ESS attributes can be read;
// it is never used to sign.
const (
	DigestUnknown Digest = iota
	DigestSHA1
	DigestSHA256
	DigestSHA384
	DigestSHA512
	DigestSM3
)

// DigestFromOID maps a digest algorithm OID to a Digest (DigestUnknown if none).
func DigestFromOID(oid asn1.ObjectIdentifier) Digest {
	switch {
	case oid.Equal(OIDSHA256):
		return DigestSHA256
	case oid.Equal(OIDSHA384):
		return DigestSHA384
	case oid.Equal(OIDSHA512):
		return DigestSHA512
	case oid.Equal(OIDSM3):
		return DigestSM3
	case oid.Equal(OIDSHA1):
		return DigestSHA1
	}
	return DigestUnknown
}

// OID returns the algorithm identifier of d, or nil for DigestUnknown.
func (d Digest) OID() asn1.ObjectIdentifier {
	switch d {
	case DigestSHA1:
		return OIDSHA1
	case DigestSHA256:
		return OIDSHA256
	case DigestSHA384:
		return OIDSHA384
	case DigestSHA512:
		return OIDSHA512
	case DigestSM3:
		return OIDSM3
	}
	return nil
}

// New returns a new hash.Hash computing d. It panics for DigestUnknown.
func (d Digest) New() hash.Hash {
	switch d {
	case DigestSM3:
		return sm3.New()
	case DigestUnknown:
		panic("cms: New called on DigestUnknown")
	}
	return d.crypto().New()
}

// Sum returns the digest of data.
func (d Digest) Sum(data []byte) []byte {
	h := d.New()
	h.Write(data)
	return h.Sum(nil)
}

// Size returns the digest length in bytes (0 for DigestUnknown).
func (d Digest) Size() int {
	switch d {
	case DigestSM3:
		return sm3.Size
	case DigestUnknown:
		return 0
	}
	return d.crypto().Size()
}

func (d Digest) crypto() crypto.Hash {
	switch d {
	case DigestSHA1:
		return crypto.SHA1
	case DigestSHA256:
		return crypto.SHA256
	case DigestSHA384:
		return crypto.SHA384
	case DigestSHA512:
		return crypto.SHA512
	}
	return 0
}

// String returns the conventional name of d.
func (d Digest) String() string {
	switch d {
	case DigestSHA1:
		return "SHA-1"
	case DigestSHA256:
		return "SHA-256"
	case DigestSHA384:
		return "SHA-384"
	case DigestSHA512:
		return "SHA-512"
	case DigestSM3:
		return "SM3"
	}
	return "unknown"
}
