package cms

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/timestamp/internal/der"
)

// ErrUnsupportedKey is returned by NewSigner for keys other than SM2 and
// ECDSA P-256/P-384/P-521, and for a key that does not match its certificate.
var ErrUnsupportedKey = errors.New("cms: unsupported signing key")

// Attribute is a CMS attribute. Each element of Values is the complete DER
// encoding of one AttributeValue.
type Attribute struct {
	Type   asn1.ObjectIdentifier
	Values [][]byte
}

// Signer produces SignedData with one SignerInfo for one key and
// certificate. The suite follows the key: an SM2 key gives GM/T 0010
// SignedData (SM3, sm2-1, GM content types, signer ID 1234567812345678); an
// ECDSA key gives RFC 5652 SignedData with SHA-256, SHA-384 or SHA-512 for
// P-256, P-384 or P-521. A Signer is safe for concurrent use if its key is.
type Signer struct {
	key       crypto.Signer
	cert      *smx509.Certificate
	gm        bool
	digest    Digest
	digestAlg []byte // DER AlgorithmIdentifier
	sigAlg    []byte // DER AlgorithmIdentifier
	sid       []byte // DER IssuerAndSerialNumber
}

// NewSigner checks that key matches cert and prepares the algorithm
// identifiers. It does not check the certificate's validity or key usage.
func NewSigner(key crypto.Signer, cert *smx509.Certificate) (*Signer, error) {
	if key == nil || cert == nil {
		return nil, fmt.Errorf("%w: nil key or certificate", ErrUnsupportedKey)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%w: key does not match certificate %q", ErrUnsupportedKey, cert.Subject.String())
	}
	s := &Signer{key: key, cert: cert}
	ecPub, ok := key.Public().(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: %T", ErrUnsupportedKey, key.Public())
	}
	var sigOID asn1.ObjectIdentifier
	switch {
	case sm2.IsSM2PublicKey(ecPub):
		s.gm, s.digest, sigOID = true, DigestSM3, OIDSM2Sign
		if k, ok := key.(*ecdsa.PrivateKey); ok {
			// A plain *ecdsa.PrivateKey on the SM2 curve ignores the SM2
			// signer options; sign with the SM2 implementation instead.
			s.key = &sm2.PrivateKey{PrivateKey: *k}
		}
	case ecPub.Curve == elliptic.P256():
		s.digest, sigOID = DigestSHA256, OIDECDSAWithSHA256
	case ecPub.Curve == elliptic.P384():
		s.digest, sigOID = DigestSHA384, OIDECDSAWithSHA384
	case ecPub.Curve == elliptic.P521():
		s.digest, sigOID = DigestSHA512, OIDECDSAWithSHA512
	default:
		return nil, fmt.Errorf("%w: curve %s", ErrUnsupportedKey, ecPub.Curve.Params().Name)
	}
	// GM/T 0010 writes NULL parameters; RFC 5754/5758 omit them.
	s.digestAlg = algorithmIdentifier(s.digest.OID(), s.gm)
	s.sigAlg = algorithmIdentifier(sigOID, s.gm)
	s.sid = issuerAndSerial(cert)
	return s, nil
}

// GM reports whether the signer produces GM/T 0010 SignedData.
func (s *Signer) GM() bool { return s.gm }

// Digest returns the digest algorithm of the SignerInfo.
func (s *Signer) Digest() Digest { return s.digest }

// Certificate returns the signer's certificate.
func (s *Signer) Certificate() *smx509.Certificate { return s.cert }

// SignOptions tunes one Sign call. The zero value signs attached id-data
// (GM data for an SM2 signer) without signing-time and embeds no certificate.
type SignOptions struct {
	// ContentType is the eContentType. Default: OIDData (OIDGMData for SM2).
	ContentType asn1.ObjectIdentifier
	// Detached leaves eContent out.
	Detached bool
	// ContentDigest, if set, is used as the message digest instead of
	// hashing the content; it requires Detached.
	ContentDigest []byte
	// SigningTime adds a signing-time attribute when not zero.
	SigningTime time.Time
	// SignedAttributes are added after content-type, signing-time and
	// message-digest, which they must not repeat.
	SignedAttributes []Attribute
	// UnsignedAttributes go into unsignedAttrs.
	UnsignedAttributes []Attribute
	// UnsignedAttributesFunc, if set, is called with the signature value
	// once it exists and returns more unsigned attributes, e.g. a signature
	// time-stamp token (RFC 5126 / CAdES-T).
	UnsignedAttributesFunc func(signature []byte) ([]Attribute, error)
	// Certificates are put into the certificates field (the signer's own
	// certificate only if listed).
	Certificates []*smx509.Certificate
	// PKCS7OIDs writes an SM2 signature with the RFC 5652 signedData and
	// data content-type OIDs instead of the GM/T 0010 ones (the SM3 and SM2
	// algorithm identifiers stay). It has no effect on ECDSA signers.
	PKCS7OIDs bool
}

// Sign returns the DER ContentInfo holding SignedData over content.
func (s *Signer) Sign(rand io.Reader, content []byte, opts SignOptions) ([]byte, error) {
	ctype := opts.ContentType
	if ctype == nil {
		ctype = OIDData
		if s.gm && !opts.PKCS7OIDs {
			ctype = OIDGMData
		}
	}
	md := opts.ContentDigest
	switch {
	case md == nil:
		md = s.digest.Sum(content)
	case !opts.Detached:
		return nil, errors.New("cms: ContentDigest needs Detached")
	case len(md) != s.digest.Size():
		return nil, fmt.Errorf("cms: content digest is %d bytes, %s needs %d", len(md), s.digest, s.digest.Size())
	}

	attrs := make([]Attribute, 0, 3+len(opts.SignedAttributes))
	attrs = append(attrs, Attribute{Type: OIDAttributeContentType, Values: [][]byte{der.OID(ctype)}})
	if !opts.SigningTime.IsZero() {
		t, err := marshalTime(opts.SigningTime)
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, Attribute{Type: OIDAttributeSigningTime, Values: [][]byte{t}})
	}
	attrs = append(attrs, Attribute{Type: OIDAttributeMessageDigest, Values: [][]byte{der.TLV(der.TagOctetString, md)}})
	attrs = append(attrs, opts.SignedAttributes...)
	signed, err := encodeAttributes(attrs)
	if err != nil {
		return nil, err
	}
	sig, err := s.signAttributes(rand, der.TLV(der.TagSet, signed...))
	if err != nil {
		return nil, err
	}
	parts := [][]byte{
		{der.TagInteger, 1, 1},
		s.sid,
		s.digestAlg,
		der.TLV(der.ContextConstructed(0), signed...), // signedAttrs [0] IMPLICIT
		s.sigAlg,
		der.TLV(der.TagOctetString, sig),
	}
	unsignedAttrs := opts.UnsignedAttributes
	if opts.UnsignedAttributesFunc != nil {
		more, err := opts.UnsignedAttributesFunc(sig)
		if err != nil {
			return nil, fmt.Errorf("cms: unsigned attributes: %w", err)
		}
		unsignedAttrs = append(slices.Clone(unsignedAttrs), more...)
	}
	if len(unsignedAttrs) > 0 {
		unsigned, err := encodeAttributes(unsignedAttrs)
		if err != nil {
			return nil, err
		}
		parts = append(parts, der.TLV(der.ContextConstructed(1), unsigned...))
	}
	return s.assemble(ctype, content, opts, der.TLV(der.TagSequence, parts...)), nil
}

func (s *Signer) assemble(ctype asn1.ObjectIdentifier, content []byte, opts SignOptions, signerInfo []byte) []byte {
	// RFC 5652 §5.1: version 3 when eContentType is not id-data; GM/T 0010
	// keeps PKCS #7 version 1.
	version := byte(1)
	if !s.gm && !ctype.Equal(OIDData) {
		version = 3
	}
	ctypeDER := der.OID(ctype)
	// The encapsulated content: SEQUENCE { OID, [0] { OCTET STRING } }.
	eciLen := len(ctypeDER)
	if !opts.Detached {
		eciLen += der.Size(der.Size(len(content)))
	}
	var certs [][]byte
	certsLen := 0
	for _, c := range opts.Certificates {
		certs = append(certs, c.Raw)
		certsLen += len(c.Raw)
	}
	slices.SortFunc(certs, bytes.Compare) // DER SET OF order
	// SignedData's content, then the two wrappers around it.
	sdLen := 3 + der.Size(len(s.digestAlg)) + der.Size(eciLen) + der.Size(len(signerInfo))
	if len(certs) > 0 {
		sdLen += der.Size(certsLen)
	}
	outer := oidSignedDataDER
	if s.gm && !opts.PKCS7OIDs {
		outer = oidGMSignedDataDER
	}
	ciLen := len(outer) + der.Size(der.Size(sdLen))
	// One buffer of the exact size: the certificates and the signature are
	// copied once, not once per enclosing TLV.
	b := make([]byte, 0, der.Size(ciLen))
	b = der.AppendHeader(b, der.TagSequence, ciLen)
	b = append(b, outer...)
	b = der.AppendHeader(b, der.ContextConstructed(0), der.Size(sdLen))
	b = der.AppendHeader(b, der.TagSequence, sdLen)
	b = append(b, der.TagInteger, 1, version)
	b = der.AppendTLV(b, der.TagSet, s.digestAlg)
	b = der.AppendHeader(b, der.TagSequence, eciLen)
	b = append(b, ctypeDER...)
	if !opts.Detached {
		b = der.AppendHeader(b, der.ContextConstructed(0), der.Size(len(content)))
		b = der.AppendTLV(b, der.TagOctetString, content)
	}
	if len(certs) > 0 {
		b = der.AppendTLV(b, der.ContextConstructed(0), certs...)
	}
	return der.AppendTLV(b, der.TagSet, signerInfo)
}

var (
	oidSignedDataDER   = der.OID(OIDSignedData)
	oidGMSignedDataDER = der.OID(OIDGMSignedData)
)

// signAttributes signs the DER SET OF signed attributes.
func (s *Signer) signAttributes(rand io.Reader, signedSet []byte) ([]byte, error) {
	var (
		sig []byte
		err error
	)
	if s.gm {
		// SM2 crypto.Signer convention (gmsm, smx509): the message is passed
		// whole with the SM2 signer options; Z_A uses the default signer ID.
		sig, err = s.key.Sign(rand, signedSet, sm2.DefaultSM2SignerOpts)
	} else {
		sig, err = s.key.Sign(rand, s.digest.Sum(signedSet), s.digest.crypto())
	}
	if err != nil {
		return nil, fmt.Errorf("cms: sign with %q: %w", s.cert.Subject.String(), err)
	}
	return sig, nil
}

// encodeAttributes encodes each Attribute and returns them in DER SET OF
// order (values inside each attribute sorted too).
func encodeAttributes(attrs []Attribute) ([][]byte, error) {
	encoded := make([][]byte, 0, len(attrs))
	for i, a := range attrs {
		for _, b := range attrs[:i] {
			if b.Type.Equal(a.Type) {
				return nil, fmt.Errorf("cms: attribute %s given twice", a.Type)
			}
		}
		if len(a.Values) == 0 {
			return nil, fmt.Errorf("cms: attribute %s has no value", a.Type)
		}
		vals := a.Values
		if len(vals) > 1 {
			vals = slices.Clone(vals)
			slices.SortFunc(vals, bytes.Compare)
		}
		encoded = append(encoded, der.TLV(der.TagSequence, attrOID(a.Type), der.TLV(der.TagSet, vals...)))
	}
	slices.SortFunc(encoded, bytes.Compare)
	return encoded, nil
}

var (
	derContentType   = der.OID(OIDAttributeContentType)
	derMessageDigest = der.OID(OIDAttributeMessageDigest)
	derSigningTime   = der.OID(OIDAttributeSigningTime)
	derSigningCertV2 = der.OID(OIDAttributeSigningCertificateV2)
)

func attrOID(oid asn1.ObjectIdentifier) []byte {
	switch {
	case oid.Equal(OIDAttributeContentType):
		return derContentType
	case oid.Equal(OIDAttributeMessageDigest):
		return derMessageDigest
	case oid.Equal(OIDAttributeSigningTime):
		return derSigningTime
	case oid.Equal(OIDAttributeSigningCertificateV2):
		return derSigningCertV2
	}
	return der.OID(oid)
}

func algorithmIdentifier(oid asn1.ObjectIdentifier, nullParams bool) []byte {
	if nullParams {
		return der.TLV(der.TagSequence, der.OID(oid), []byte{der.TagNull, 0})
	}
	return der.TLV(der.TagSequence, der.OID(oid))
}

func issuerAndSerial(cert *smx509.Certificate) []byte {
	return der.TLV(der.TagSequence, cert.RawIssuer, der.BigInt(cert.SerialNumber))
}

// marshalTime encodes t as RFC 5652 §11.3 Time: UTCTime for 1950-2049,
// GeneralizedTime otherwise, whole seconds, UTC.
func marshalTime(t time.Time) ([]byte, error) {
	t = t.UTC()
	switch y := t.Year(); {
	case y < 0 || y > 9999:
		return nil, fmt.Errorf("cms: signing time %s out of range", t)
	case y >= 1950 && y < 2050:
		return der.TLV(der.TagUTCTime, []byte(t.Format("060102150405Z"))), nil
	default:
		return der.TLV(der.TagGeneralized, []byte(t.Format("20060102150405Z"))), nil
	}
}
