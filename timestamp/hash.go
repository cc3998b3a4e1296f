package timestamp

import (
	"encoding/asn1"
	"fmt"
	"hash"

	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/timestamp/cms"
)

// OIDs of the protocol.
var (
	// OIDTSTInfo is id-ct-TSTInfo, the eContentType of every token.
	OIDTSTInfo = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 4}

	oidMD5    = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 5}
	oidSHA1   = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA224 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 4}
)

// HashOf returns the message-imprint hash a client uses by default for
// suite s: SM3 for gm (GM/T 0033 tokens), SHA-256 for intl (and for
// anything else).
func HashOf(s kms.Suite) HashAlgorithm {
	if s == kms.GM {
		return SM3
	}
	return SHA256
}

// HashAlgorithm is a message-imprint hash algorithm the TSA accepts.
type HashAlgorithm int

// Accepted message-imprint algorithms. The zero value is not valid.
const (
	SM3 HashAlgorithm = iota + 1
	SHA256
	SHA384
	SHA512
)

func (h HashAlgorithm) digest() cms.Digest {
	switch h {
	case SM3:
		return cms.DigestSM3
	case SHA256:
		return cms.DigestSHA256
	case SHA384:
		return cms.DigestSHA384
	case SHA512:
		return cms.DigestSHA512
	}
	return cms.DigestUnknown
}

// Valid reports whether h is one of the accepted algorithms.
func (h HashAlgorithm) Valid() bool { return h.digest() != cms.DigestUnknown }

// OID returns the algorithm's object identifier (nil if not Valid).
func (h HashAlgorithm) OID() asn1.ObjectIdentifier { return h.digest().OID() }

// Size returns the digest length in bytes (0 if not Valid).
func (h HashAlgorithm) Size() int { return h.digest().Size() }

// New returns a hash.Hash computing h. It panics if h is not Valid.
func (h HashAlgorithm) New() hash.Hash { return h.digest().New() }

// Sum returns the h-digest of data. It panics if h is not Valid.
func (h HashAlgorithm) Sum(data []byte) []byte { return h.digest().Sum(data) }

// Suite returns the suite of tokens for imprints of algorithm h: gm
// (SM2/SM3, GM/T 0033 and GM/T 0010) for SM3, intl (ECDSA, RFC 3161 and
// RFC 5652) otherwise.
func (h HashAlgorithm) Suite() kms.Suite {
	if h == SM3 {
		return kms.GM
	}
	return kms.Intl
}

// String returns the algorithm name, e.g. "SM3" or "SHA-256".
func (h HashAlgorithm) String() string {
	if !h.Valid() {
		return fmt.Sprintf("HashAlgorithm(%d)", int(h))
	}
	return h.digest().String()
}

// HashFromOID returns the accepted algorithm named by oid. For MD5, SHA-1,
// SHA-224 and unknown OIDs it returns an error wrapping BadAlg.
func HashFromOID(oid asn1.ObjectIdentifier) (HashAlgorithm, error) {
	for _, h := range []HashAlgorithm{SM3, SHA256, SHA384, SHA512} {
		if oid.Equal(h.OID()) {
			return h, nil
		}
	}
	switch {
	case oid.Equal(oidMD5):
		return 0, fmt.Errorf("timestamp: MD5 is too weak for a message imprint: %w", BadAlg)
	case oid.Equal(oidSHA1):
		return 0, fmt.Errorf("timestamp: SHA-1 is too weak for a message imprint: %w", BadAlg)
	case oid.Equal(oidSHA224):
		return 0, fmt.Errorf("timestamp: SHA-224 message imprints are not accepted: %w", BadAlg)
	}
	return 0, fmt.Errorf("timestamp: unknown message imprint algorithm %s: %w", oid, BadAlg)
}
