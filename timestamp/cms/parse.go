package cms

import (
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/emmansun/gmsm/smx509"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// MaxSize is the largest ContentInfo Parse accepts, in bytes.
const MaxSize = 8 << 20

// ErrMalformed is returned (wrapped) for input that is not DER SignedData.
var ErrMalformed = errors.New("cms: malformed SignedData")

// SignedData is a parsed ContentInfo holding SignedData.
type SignedData struct {
	// Raw is the complete DER ContentInfo.
	Raw []byte
	// GM reports that the outer content type is the GM/T 0010 signedData.
	GM               bool
	Version          int
	DigestAlgorithms []Algorithm
	// ContentType is the eContentType.
	ContentType asn1.ObjectIdentifier
	// Content is the eContent octets; nil when Detached.
	Content  []byte
	Detached bool
	// Certificates are the X.509 certificates of the certificates field;
	// other certificate choices are skipped.
	Certificates []*smx509.Certificate
	SignerInfos  []*SignerInfo
}

// SignerInfo is one parsed SignerInfo.
type SignerInfo struct {
	Version int
	// IssuerRaw and Serial hold an issuerAndSerialNumber sid; SubjectKeyID
	// holds a subjectKeyIdentifier sid.
	IssuerRaw          []byte
	Serial             *big.Int
	SubjectKeyID       []byte
	DigestAlgorithm    Algorithm
	SignedAttributes   []Attribute
	SignatureAlgorithm Algorithm
	Signature          []byte
	UnsignedAttributes []Attribute

	signedAttrsDER []byte // signedAttrs re-tagged as SET OF, what was signed
}

// SignedAttributesDER returns the DER SET OF signed attributes over which
// the signature is computed (nil when there are none).
func (si *SignerInfo) SignedAttributesDER() []byte { return si.signedAttrsDER }

// SignedAttribute returns the signed attribute of type oid, or nil.
func (si *SignerInfo) SignedAttribute(oid asn1.ObjectIdentifier) *Attribute {
	return findAttribute(si.SignedAttributes, oid)
}

// UnsignedAttribute returns the unsigned attribute of type oid, or nil.
func (si *SignerInfo) UnsignedAttribute(oid asn1.ObjectIdentifier) *Attribute {
	return findAttribute(si.UnsignedAttributes, oid)
}

// SigningTime returns the signing-time attribute; ok is false when absent.
func (si *SignerInfo) SigningTime() (t time.Time, ok bool, err error) {
	a := si.SignedAttribute(OIDAttributeSigningTime)
	if a == nil {
		return time.Time{}, false, nil
	}
	if len(a.Values) != 1 {
		return time.Time{}, true, fmt.Errorf("%w: signing-time has %d values", ErrMalformed, len(a.Values))
	}
	v := cryptobyte.String(a.Values[0])
	switch {
	case v.PeekASN1Tag(cbasn1.UTCTime):
		if !v.ReadASN1UTCTime(&t) {
			return t, true, fmt.Errorf("%w: bad signing-time UTCTime", ErrMalformed)
		}
	case v.PeekASN1Tag(cbasn1.GeneralizedTime):
		if !v.ReadASN1GeneralizedTime(&t) {
			return t, true, fmt.Errorf("%w: bad signing-time GeneralizedTime", ErrMalformed)
		}
	default:
		return t, true, fmt.Errorf("%w: signing-time is not a Time", ErrMalformed)
	}
	return t, true, nil
}

func findAttribute(attrs []Attribute, oid asn1.ObjectIdentifier) *Attribute {
	for i := range attrs {
		if attrs[i].Type.Equal(oid) {
			return &attrs[i]
		}
	}
	return nil
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// Parse parses a DER ContentInfo holding SignedData under either the
// RFC 5652 or the GM/T 0010 content type. It does not verify anything.
func Parse(der []byte) (*SignedData, error) {
	if len(der) > MaxSize {
		return nil, malformed("%d bytes, limit %d", len(der), MaxSize)
	}
	in := cryptobyte.String(der)
	var ci, body, sdSeq cryptobyte.String
	var ctype asn1.ObjectIdentifier
	if !in.ReadASN1(&ci, cbasn1.SEQUENCE) || !in.Empty() {
		return nil, malformed("ContentInfo is not one DER SEQUENCE")
	}
	if !ci.ReadASN1ObjectIdentifier(&ctype) {
		return nil, malformed("bad contentType")
	}
	sd := &SignedData{Raw: der}
	switch {
	case ctype.Equal(OIDSignedData):
	case ctype.Equal(OIDGMSignedData):
		sd.GM = true
	default:
		return nil, malformed("content type %s is not signedData", ctype)
	}
	if !ci.ReadASN1(&body, cbasn1.Tag(0).ContextSpecific().Constructed()) || !ci.Empty() ||
		!body.ReadASN1(&sdSeq, cbasn1.SEQUENCE) || !body.Empty() {
		return nil, malformed("bad content [0]")
	}
	if err := sd.parseSignedData(sdSeq); err != nil {
		return nil, err
	}
	return sd, nil
}

func (sd *SignedData) parseSignedData(s cryptobyte.String) error {
	var algs, eci cryptobyte.String
	if !s.ReadASN1Integer(&sd.Version) || sd.Version < 0 || sd.Version > 5 {
		return malformed("bad SignedData version")
	}
	if !s.ReadASN1(&algs, cbasn1.SET) {
		return malformed("bad digestAlgorithms")
	}
	for !algs.Empty() {
		a, err := readAlgorithm(&algs)
		if err != nil {
			return malformed("digestAlgorithms: %v", err)
		}
		sd.DigestAlgorithms = append(sd.DigestAlgorithms, a)
	}
	if !s.ReadASN1(&eci, cbasn1.SEQUENCE) || !eci.ReadASN1ObjectIdentifier(&sd.ContentType) {
		return malformed("bad encapContentInfo")
	}
	if eci.Empty() {
		sd.Detached = true
	} else {
		var ex cryptobyte.String
		var content []byte
		if !eci.ReadASN1(&ex, cbasn1.Tag(0).ContextSpecific().Constructed()) || !eci.Empty() ||
			!ex.ReadASN1Bytes(&content, cbasn1.OCTET_STRING) || !ex.Empty() {
			return malformed("eContent is not [0] EXPLICIT OCTET STRING")
		}
		if content == nil {
			content = []byte{}
		}
		sd.Content = content
	}
	var certs cryptobyte.String
	var present bool
	if !s.ReadOptionalASN1(&certs, &present, cbasn1.Tag(0).ContextSpecific().Constructed()) {
		return malformed("bad certificates")
	}
	for !certs.Empty() {
		var c cryptobyte.String
		var tag cbasn1.Tag
		if !certs.ReadAnyASN1Element(&c, &tag) {
			return malformed("bad certificates element")
		}
		if tag != cbasn1.SEQUENCE {
			continue // attribute or other certificate format
		}
		cert, err := smx509.ParseCertificate(c)
		if err != nil {
			return malformed("certificate %d: %v", len(sd.Certificates), err)
		}
		sd.Certificates = append(sd.Certificates, cert)
	}
	if !s.SkipOptionalASN1(cbasn1.Tag(1).ContextSpecific().Constructed()) {
		return malformed("bad crls")
	}
	var infos cryptobyte.String
	if !s.ReadASN1(&infos, cbasn1.SET) || !s.Empty() {
		return malformed("bad signerInfos")
	}
	for !infos.Empty() {
		si, err := parseSignerInfo(&infos)
		if err != nil {
			return fmt.Errorf("signerInfo %d: %w", len(sd.SignerInfos), err)
		}
		sd.SignerInfos = append(sd.SignerInfos, si)
	}
	return nil
}

func parseSignerInfo(s *cryptobyte.String) (*SignerInfo, error) {
	var seq cryptobyte.String
	si := &SignerInfo{}
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1Integer(&si.Version) {
		return nil, malformed("bad SignerInfo")
	}
	switch {
	case seq.PeekASN1Tag(cbasn1.SEQUENCE):
		var ias, name cryptobyte.String
		var tag cbasn1.Tag
		si.Serial = new(big.Int)
		if !seq.ReadASN1(&ias, cbasn1.SEQUENCE) ||
			!ias.ReadAnyASN1Element(&name, &tag) || tag != cbasn1.SEQUENCE ||
			!ias.ReadASN1Integer(si.Serial) || !ias.Empty() {
			return nil, malformed("bad issuerAndSerialNumber")
		}
		si.IssuerRaw = name
	case seq.PeekASN1Tag(cbasn1.Tag(0).ContextSpecific()):
		if !seq.ReadASN1Bytes(&si.SubjectKeyID, cbasn1.Tag(0).ContextSpecific()) {
			return nil, malformed("bad subjectKeyIdentifier")
		}
	default:
		return nil, malformed("unknown sid choice")
	}
	var err error
	if si.DigestAlgorithm, err = readAlgorithm(&seq); err != nil {
		return nil, malformed("digestAlgorithm: %v", err)
	}
	if seq.PeekASN1Tag(cbasn1.Tag(0).ContextSpecific().Constructed()) {
		var elem, tmp cryptobyte.String
		if !seq.ReadASN1Element(&elem, cbasn1.Tag(0).ContextSpecific().Constructed()) {
			return nil, malformed("bad signedAttrs")
		}
		// The signature covers the EXPLICIT SET OF tag (RFC 5652 §5.4).
		si.signedAttrsDER = append([]byte{byte(cbasn1.SET)}, elem[1:]...)
		tmp = cryptobyte.String(si.signedAttrsDER)
		if si.SignedAttributes, err = parseAttributes(&tmp, cbasn1.SET); err != nil {
			return nil, fmt.Errorf("signedAttrs: %w", err)
		}
	}
	if si.SignatureAlgorithm, err = readAlgorithm(&seq); err != nil {
		return nil, malformed("signatureAlgorithm: %v", err)
	}
	if !seq.ReadASN1Bytes(&si.Signature, cbasn1.OCTET_STRING) {
		return nil, malformed("bad signature")
	}
	if seq.PeekASN1Tag(cbasn1.Tag(1).ContextSpecific().Constructed()) {
		if si.UnsignedAttributes, err = parseAttributes(&seq, cbasn1.Tag(1).ContextSpecific().Constructed()); err != nil {
			return nil, fmt.Errorf("unsignedAttrs: %w", err)
		}
	}
	if !seq.Empty() {
		return nil, malformed("trailing data in SignerInfo")
	}
	return si, nil
}

func parseAttributes(s *cryptobyte.String, tag cbasn1.Tag) ([]Attribute, error) {
	var set cryptobyte.String
	if !s.ReadASN1(&set, tag) {
		return nil, malformed("bad attribute set")
	}
	var attrs []Attribute
	seen := map[string]bool{}
	for !set.Empty() {
		var seq, vals cryptobyte.String
		var a Attribute
		if !set.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1ObjectIdentifier(&a.Type) ||
			!seq.ReadASN1(&vals, cbasn1.SET) || !seq.Empty() || vals.Empty() {
			return nil, malformed("bad attribute")
		}
		if seen[a.Type.String()] {
			return nil, malformed("attribute %s repeated", a.Type)
		}
		seen[a.Type.String()] = true
		for !vals.Empty() {
			var v cryptobyte.String
			var t cbasn1.Tag
			if !vals.ReadAnyASN1Element(&v, &t) {
				return nil, malformed("bad value of attribute %s", a.Type)
			}
			a.Values = append(a.Values, v)
		}
		attrs = append(attrs, a)
	}
	return attrs, nil
}
