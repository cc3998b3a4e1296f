package cms

import (
	"bytes"
	"crypto/subtle"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"github.com/emmansun/gmsm/smx509"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// ErrSigningCertificate is returned when the ESS signing-certificate
// attribute is missing or does not name the signer's certificate.
var ErrSigningCertificate = errors.New("cms: ESS signing certificate mismatch")

// SigningCertificateV2 returns the ESS signing-certificate-v2 attribute
// (RFC 5035) naming cert: one ESSCertIDv2 with the d-hash of the
// certificate and its IssuerSerial. hashAlgorithm is omitted for SHA-256
// (its DEFAULT) and written with NULL parameters for SM3.
func SigningCertificateV2(cert *smx509.Certificate, d Digest) Attribute {
	sum := d.Sum(cert.Raw)
	b := cryptobyte.NewBuilder(make([]byte, 0, 128+len(cert.RawIssuer)))
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // SigningCertificateV2
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // certs
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // ESSCertIDv2
				if d != DigestSHA256 {
					b.AddBytes(algorithmIdentifier(d.OID(), d == DigestSM3))
				}
				b.AddASN1OctetString(sum)
				addIssuerSerial(b, cert)
			})
		})
	})
	return Attribute{Type: OIDAttributeSigningCertificateV2, Values: [][]byte{b.BytesOrPanic()}}
}

func addIssuerSerial(b *cryptobyte.Builder, cert *smx509.Certificate) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // IssuerSerial
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // GeneralNames
			b.AddASN1(cbasn1.Tag(4).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
				b.AddBytes(cert.RawIssuer) // directoryName [4] EXPLICIT Name
			})
		})
		b.AddASN1BigInt(cert.SerialNumber)
	})
}

// CheckSigningCertificate checks that the signed attributes of si carry an
// ESS signing-certificate-v2 (or, failing that, a v1 signing-certificate)
// attribute whose first certificate identifier matches cert: the hash of
// the whole certificate and, when present, the issuer and serial number.
// Other identifiers and the policies field are not examined.
func CheckSigningCertificate(si *SignerInfo, cert *smx509.Certificate) error {
	v2 := si.SignedAttribute(OIDAttributeSigningCertificateV2)
	v1 := si.SignedAttribute(OIDAttributeSigningCertificate)
	switch {
	case v2 != nil:
		if len(v2.Values) != 1 {
			return fmt.Errorf("%w: signing-certificate-v2 has %d values", ErrSigningCertificate, len(v2.Values))
		}
		return checkESSCertID(v2.Values[0], cert, true)
	case v1 != nil:
		if len(v1.Values) != 1 {
			return fmt.Errorf("%w: signing-certificate has %d values", ErrSigningCertificate, len(v1.Values))
		}
		return checkESSCertID(v1.Values[0], cert, false)
	}
	return fmt.Errorf("%w: no signing-certificate attribute", ErrSigningCertificate)
}

func checkESSCertID(der []byte, cert *smx509.Certificate, v2 bool) error {
	in := cryptobyte.String(der)
	var sc, certs, id cryptobyte.String
	if !in.ReadASN1(&sc, cbasn1.SEQUENCE) || !in.Empty() ||
		!sc.ReadASN1(&certs, cbasn1.SEQUENCE) ||
		!certs.ReadASN1(&id, cbasn1.SEQUENCE) {
		return fmt.Errorf("%w: malformed attribute", ErrSigningCertificate)
	}
	d := DigestSHA1
	if v2 {
		d = DigestSHA256
		if id.PeekASN1Tag(cbasn1.SEQUENCE) {
			alg, err := readAlgorithm(&id)
			if err != nil {
				return fmt.Errorf("%w: %v", ErrSigningCertificate, err)
			}
			if d = DigestFromOID(alg.OID); d == DigestUnknown {
				return fmt.Errorf("%w: unknown hash algorithm %s", ErrSigningCertificate, alg.OID)
			}
		}
	}
	var hash []byte
	if !id.ReadASN1Bytes(&hash, cbasn1.OCTET_STRING) {
		return fmt.Errorf("%w: malformed certHash", ErrSigningCertificate)
	}
	if subtle.ConstantTimeCompare(hash, d.Sum(cert.Raw)) != 1 {
		return fmt.Errorf("%w: %s certHash does not match certificate %q", ErrSigningCertificate, d, cert.Subject.String())
	}
	if id.Empty() {
		return nil
	}
	var is, names cryptobyte.String
	serial := new(big.Int)
	if !id.ReadASN1(&is, cbasn1.SEQUENCE) || !id.Empty() ||
		!is.ReadASN1(&names, cbasn1.SEQUENCE) ||
		!is.ReadASN1Integer(serial) || !is.Empty() {
		return fmt.Errorf("%w: malformed issuerSerial", ErrSigningCertificate)
	}
	if serial.Cmp(cert.SerialNumber) != 0 {
		return fmt.Errorf("%w: issuerSerial names serial %s, certificate has %s", ErrSigningCertificate, serial, cert.SerialNumber)
	}
	for !names.Empty() {
		var name cryptobyte.String
		var tag cbasn1.Tag
		if !names.ReadAnyASN1(&name, &tag) {
			return fmt.Errorf("%w: malformed GeneralNames", ErrSigningCertificate)
		}
		if tag == cbasn1.Tag(4).ContextSpecific().Constructed() && bytes.Equal(name, cert.RawIssuer) {
			return nil
		}
	}
	return fmt.Errorf("%w: issuerSerial does not name the issuer of %q", ErrSigningCertificate, cert.Subject.String())
}

// Algorithm is a parsed AlgorithmIdentifier.
type Algorithm struct {
	OID asn1.ObjectIdentifier
	// Params is the DER of the parameters, nil when absent.
	Params []byte
}

// NullParams reports whether the parameters are an ASN.1 NULL.
func (a Algorithm) NullParams() bool { return bytes.Equal(a.Params, []byte{0x05, 0x00}) }

func readAlgorithm(s *cryptobyte.String) (Algorithm, error) {
	var seq cryptobyte.String
	var a Algorithm
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1ObjectIdentifier(&a.OID) {
		return a, errors.New("malformed AlgorithmIdentifier")
	}
	if !seq.Empty() {
		var params cryptobyte.String
		var tag cbasn1.Tag
		if !seq.ReadAnyASN1Element(&params, &tag) || !seq.Empty() {
			return a, fmt.Errorf("malformed parameters of %s", a.OID)
		}
		a.Params = params
	}
	return a, nil
}
