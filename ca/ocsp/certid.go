package ocsp

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/asn1"
	"fmt"
	"hash"
	"math/big"
	"strconv"

	"github.com/emmansun/gmsm/sm3"
	"github.com/emmansun/gmsm/smx509"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Hash is a CertID hash algorithm. The zero value is not valid.
type Hash int

// The CertID hash algorithms this package accepts.
const (
	// SHA1 is SHA-1 (1.3.14.3.2.26), the RFC 6960 default and what most
	// clients send.
	SHA1 Hash = iota + 1
	// SHA256 is SHA-256 (2.16.840.1.101.3.4.2.1).
	SHA256
	// SM3 is SM3 (1.2.156.10197.1.401), GB/T 32905.
	SM3
)

var (
	oidSHA1   = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSM3    = asn1.ObjectIdentifier{1, 2, 156, 10197, 1, 401}
)

// String returns "SHA-1", "SHA-256" or "SM3".
func (h Hash) String() string {
	switch h {
	case SHA1:
		return "SHA-1"
	case SHA256:
		return "SHA-256"
	case SM3:
		return "SM3"
	}
	return "hash(" + strconv.Itoa(int(h)) + ")"
}

func (h Hash) oid() asn1.ObjectIdentifier {
	switch h {
	case SHA1:
		return oidSHA1
	case SHA256:
		return oidSHA256
	case SM3:
		return oidSM3
	}
	return nil
}

// new returns a new hash of h, or nil if h is not valid.
func (h Hash) new() hash.Hash {
	switch h {
	case SHA1:
		return sha1.New()
	case SHA256:
		return sha256.New()
	case SM3:
		return sm3.New()
	}
	return nil
}

func (h Hash) size() int {
	if h == SHA1 {
		return sha1.Size
	}
	if h == SHA256 || h == SM3 {
		return 32
	}
	return 0
}

func hashFromOID(oid asn1.ObjectIdentifier) Hash {
	for _, h := range []Hash{SHA1, SHA256, SM3} {
		if oid.Equal(h.oid()) {
			return h
		}
	}
	return 0
}

// CertID identifies a certificate by its issuer and serial number (RFC 6960
// §4.1.1).
type CertID struct {
	// HashAlgorithm hashes the issuer's name and key.
	HashAlgorithm Hash
	// IssuerNameHash is the hash of the DER of the issuer's subject name.
	IssuerNameHash []byte
	// IssuerKeyHash is the hash of the issuer's subjectPublicKey BIT STRING
	// value (without tag, length and unused-bits octet).
	IssuerKeyHash []byte
	// SerialNumber is the certificate's serial number.
	SerialNumber *big.Int

	// rawAlg is the hashAlgorithm AlgorithmIdentifier as it was parsed, so
	// that a response echoes the request's parameters (absent or NULL)
	// exactly. Nil means "encode with NULL parameters".
	rawAlg []byte
}

// NewCertID returns the CertID of the certificate with serial issued by
// issuer, hashed with h. The hashAlgorithm is encoded with NULL parameters.
func NewCertID(h Hash, issuer *smx509.Certificate, serial *big.Int) (CertID, error) {
	if serial == nil {
		return CertID{}, fmt.Errorf("ocsp: CertID: nil serial number: %w", ErrInvalidInput)
	}
	name, key, err := issuerHashes(h, issuer)
	if err != nil {
		return CertID{}, err
	}
	return CertID{HashAlgorithm: h, IssuerNameHash: name, IssuerKeyHash: key, SerialNumber: new(big.Int).Set(serial)}, nil
}

// Matches reports whether id names a certificate issued by issuer: it
// recomputes the issuer name and key hashes with id's hash algorithm and
// compares them. It does NOT look at the serial number.
func (id *CertID) Matches(issuer *smx509.Certificate) bool {
	if id == nil {
		return false
	}
	name, key, err := issuerHashes(id.HashAlgorithm, issuer)
	return err == nil && bytes.Equal(name, id.IssuerNameHash) && bytes.Equal(key, id.IssuerKeyHash)
}

// issuerHashes returns the name and key hashes of issuer under h.
func issuerHashes(h Hash, issuer *smx509.Certificate) (name, key []byte, err error) {
	if issuer == nil {
		return nil, nil, fmt.Errorf("ocsp: CertID: nil issuer certificate: %w", ErrInvalidInput)
	}
	hn := h.new()
	if hn == nil {
		return nil, nil, fmt.Errorf("ocsp: CertID: unsupported hash algorithm %v: %w", h, ErrInvalidInput)
	}
	bits, err := subjectPublicKeyBits(issuer)
	if err != nil {
		return nil, nil, err
	}
	hn.Write(issuer.RawSubject)
	name = hn.Sum(nil)
	hk := h.new()
	hk.Write(bits)
	return name, hk.Sum(nil), nil
}

// subjectPublicKeyBits returns the subjectPublicKey BIT STRING value of c.
func subjectPublicKeyBits(c *smx509.Certificate) ([]byte, error) {
	s := cryptobyte.String(c.RawSubjectPublicKeyInfo)
	var spki cryptobyte.String
	var bits asn1.BitString
	if !s.ReadASN1(&spki, cbasn1.SEQUENCE) || !s.Empty() ||
		!spki.SkipASN1(cbasn1.SEQUENCE) || !spki.ReadASN1BitString(&bits) || !spki.Empty() ||
		bits.BitLength%8 != 0 {
		return nil, fmt.Errorf("ocsp: certificate %q: malformed subjectPublicKeyInfo: %w", c.Subject.String(), ErrInvalidInput)
	}
	return bits.Bytes, nil
}

// keyHash returns the SHA-1 key hash of c, as in ResponderID byKey.
func keyHash(c *smx509.Certificate) ([]byte, error) {
	bits, err := subjectPublicKeyBits(c)
	if err != nil {
		return nil, err
	}
	h := sha1.Sum(bits)
	return h[:], nil
}

// NullParams reports whether id's hashAlgorithm is encoded with NULL
// parameters: true for a CertID made by [NewCertID], false for a parsed
// CertID whose parameters were absent. A responder that shares one response
// among requests for the same certificate must only share it among CertIDs
// of one form, since the response echoes the form it was made for.
func (id *CertID) NullParams() bool {
	if id.rawAlg == nil {
		return true
	}
	s := cryptobyte.String(id.rawAlg)
	var alg cryptobyte.String
	return s.ReadASN1(&alg, cbasn1.SEQUENCE) && alg.SkipASN1(cbasn1.OBJECT_IDENTIFIER) && alg.SkipASN1(cbasn1.NULL) && alg.Empty()
}

// parseCertID reads a CertID SEQUENCE from s.
func parseCertID(s *cryptobyte.String) (CertID, error) {
	var id, alg cryptobyte.String
	if !s.ReadASN1(&id, cbasn1.SEQUENCE) {
		return CertID{}, fmt.Errorf("CertID is not a SEQUENCE: %w", ErrMalformed)
	}
	if !id.ReadASN1Element(&alg, cbasn1.SEQUENCE) {
		return CertID{}, fmt.Errorf("CertID hashAlgorithm is not a SEQUENCE: %w", ErrMalformed)
	}
	rawAlg := bytes.Clone(alg)
	oid, err := parseAlgorithmIdentifier(alg)
	if err != nil {
		return CertID{}, fmt.Errorf("CertID hashAlgorithm: %w", err)
	}
	h := hashFromOID(oid)
	if h == 0 {
		return CertID{}, fmt.Errorf("CertID hashAlgorithm %s is not SHA-1, SHA-256 or SM3: %w", oid, ErrMalformed)
	}
	var nameHash, keyHash []byte
	serial := new(big.Int)
	if !id.ReadASN1Bytes(&nameHash, cbasn1.OCTET_STRING) || !id.ReadASN1Bytes(&keyHash, cbasn1.OCTET_STRING) {
		return CertID{}, fmt.Errorf("CertID issuer hashes are not OCTET STRINGs: %w", ErrMalformed)
	}
	if len(nameHash) != h.size() || len(keyHash) != h.size() {
		return CertID{}, fmt.Errorf("CertID issuer hashes are %d and %d bytes, want %d for %v: %w",
			len(nameHash), len(keyHash), h.size(), h, ErrMalformed)
	}
	if !id.ReadASN1Integer(serial) {
		return CertID{}, fmt.Errorf("CertID serialNumber is not a DER INTEGER: %w", ErrMalformed)
	}
	if !id.Empty() {
		return CertID{}, fmt.Errorf("CertID has trailing data: %w", ErrMalformed)
	}
	return CertID{
		HashAlgorithm:  h,
		IssuerNameHash: bytes.Clone(nameHash),
		IssuerKeyHash:  bytes.Clone(keyHash),
		SerialNumber:   serial,
		rawAlg:         rawAlg,
	}, nil
}

// marshal appends the CertID SEQUENCE to b.
func (id *CertID) marshal(b *cryptobyte.Builder) {
	if id.HashAlgorithm.oid() == nil {
		b.SetError(fmt.Errorf("ocsp: CertID: unsupported hash algorithm %v: %w", id.HashAlgorithm, ErrInvalidInput))
		return
	}
	if n := id.HashAlgorithm.size(); len(id.IssuerNameHash) != n || len(id.IssuerKeyHash) != n {
		b.SetError(fmt.Errorf("ocsp: CertID: issuer hashes are %d and %d bytes, want %d for %v: %w",
			len(id.IssuerNameHash), len(id.IssuerKeyHash), n, id.HashAlgorithm, ErrInvalidInput))
		return
	}
	if id.SerialNumber == nil {
		b.SetError(fmt.Errorf("ocsp: CertID: nil serial number: %w", ErrInvalidInput))
		return
	}
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		if id.rawAlg != nil && hashFromOID(mustAlgOID(id.rawAlg)) == id.HashAlgorithm {
			b.AddBytes(id.rawAlg)
		} else {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(id.HashAlgorithm.oid())
				b.AddASN1NULL()
			})
		}
		b.AddASN1OctetString(id.IssuerNameHash)
		b.AddASN1OctetString(id.IssuerKeyHash)
		b.AddASN1BigInt(id.SerialNumber)
	})
}

// mustAlgOID returns the OID of a DER AlgorithmIdentifier, or nil.
func mustAlgOID(der []byte) asn1.ObjectIdentifier {
	oid, err := parseAlgorithmIdentifier(cryptobyte.String(der))
	if err != nil {
		return nil
	}
	return oid
}

// parseAlgorithmIdentifier parses a complete AlgorithmIdentifier element
// whose parameters are absent or NULL, and returns its OID.
func parseAlgorithmIdentifier(der cryptobyte.String) (asn1.ObjectIdentifier, error) {
	var alg cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !der.ReadASN1(&alg, cbasn1.SEQUENCE) || !der.Empty() || !alg.ReadASN1ObjectIdentifier(&oid) {
		return nil, fmt.Errorf("malformed AlgorithmIdentifier: %w", ErrMalformed)
	}
	var null cryptobyte.String
	if !alg.Empty() && (!alg.ReadASN1(&null, cbasn1.NULL) || len(null) != 0 || !alg.Empty()) {
		return nil, fmt.Errorf("AlgorithmIdentifier %s has parameters other than NULL: %w", oid, ErrMalformed)
	}
	return oid, nil
}
