package cms

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/tongxing/tongxing/timestamp/internal/der"
)

// Errors returned (wrapped) by the verification methods.
var (
	ErrSignature     = errors.New("cms: invalid signature")
	ErrMessageDigest = errors.New("cms: message digest mismatch")
	ErrContentType   = errors.New("cms: content-type attribute mismatch")
	ErrAlgorithm     = errors.New("cms: unsupported or weak algorithm")
	ErrNoCertificate = errors.New("cms: signer certificate not found")
)

// FindCertificate returns the certificate named by si's sid among the
// SignedData certificates and then extra, or nil.
func (sd *SignedData) FindCertificate(si *SignerInfo, extra ...*smx509.Certificate) *smx509.Certificate {
	for _, list := range [][]*smx509.Certificate{sd.Certificates, extra} {
		for _, c := range list {
			if si.Serial != nil {
				if c.SerialNumber.Cmp(si.Serial) == 0 && bytes.Equal(c.RawIssuer, si.IssuerRaw) {
					return c
				}
			} else if si.SubjectKeyID != nil && bytes.Equal(c.SubjectKeyId, si.SubjectKeyID) {
				return c
			}
		}
	}
	return nil
}

// Verify checks si against cert and the content (sd.Content when content
// is nil): the content-type attribute equals eContentType, the
// message-digest attribute equals the digest of the content, and the
// signature over the signed attributes is valid for cert's key. Signed
// attributes are required. It does NOT check the certificate chain, its
// validity period or key usage, nor the ESS attribute (see
// CheckSigningCertificate).
func (sd *SignedData) Verify(si *SignerInfo, cert *smx509.Certificate, content []byte) error {
	d, err := si.digest()
	if err != nil {
		return err
	}
	if content == nil {
		if sd.Detached {
			return fmt.Errorf("%w: detached content not supplied", ErrMessageDigest)
		}
		content = sd.Content
	}
	return sd.VerifyDigest(si, cert, d.Sum(content))
}

// VerifyDigest is Verify with the content digest computed by the caller
// (with si's digest algorithm).
func (sd *SignedData) VerifyDigest(si *SignerInfo, cert *smx509.Certificate, digest []byte) error {
	if si.signedAttrsDER == nil {
		return fmt.Errorf("%w: no signed attributes", ErrSignature)
	}
	ct := si.SignedAttribute(OIDAttributeContentType)
	if ct == nil || len(ct.Values) != 1 {
		return fmt.Errorf("%w: content-type attribute missing or multi-valued", ErrContentType)
	}
	if !bytes.Equal(ct.Values[0], der.OID(sd.ContentType)) {
		return fmt.Errorf("%w: eContentType is %s", ErrContentType, sd.ContentType)
	}
	md := si.SignedAttribute(OIDAttributeMessageDigest)
	if md == nil || len(md.Values) != 1 {
		return fmt.Errorf("%w: message-digest attribute missing or multi-valued", ErrMessageDigest)
	}
	v := cryptobyte.String(md.Values[0])
	var got []byte
	if !v.ReadASN1Bytes(&got, cbasn1.OCTET_STRING) || !v.Empty() {
		return fmt.Errorf("%w: message-digest is not an OCTET STRING", ErrMessageDigest)
	}
	if subtle.ConstantTimeCompare(got, digest) != 1 {
		return ErrMessageDigest
	}
	return si.CheckSignature(cert)
}

func (si *SignerInfo) digest() (Digest, error) {
	d := DigestFromOID(si.DigestAlgorithm.OID)
	if d == DigestUnknown || d == DigestSHA1 {
		return d, fmt.Errorf("%w: digest %s", ErrAlgorithm, si.DigestAlgorithm.OID)
	}
	return d, nil
}

// CheckSignature verifies si's signature over its signed attributes with
// cert's public key: SM2 (sm2-1 or SM2-with-SM3, SM3, default signer ID),
// ECDSA or RSA PKCS #1 v1.5, hashing with si's digest algorithm. SHA-1 and
// unknown algorithms are rejected.
func (si *SignerInfo) CheckSignature(cert *smx509.Certificate) error {
	if si.signedAttrsDER == nil {
		return fmt.Errorf("%w: no signed attributes", ErrSignature)
	}
	d, err := si.digest()
	if err != nil {
		return err
	}
	sigOID := si.SignatureAlgorithm.OID
	msg := si.signedAttrsDER
	switch pub := cert.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if sm2.IsSM2PublicKey(pub) {
			if !(sigOID.Equal(OIDSM2Sign) || sigOID.Equal(OIDSM2WithSM3)) || d != DigestSM3 {
				return fmt.Errorf("%w: %s with %s for an SM2 key", ErrAlgorithm, sigOID, d)
			}
			if !sm2.VerifyASN1WithSM2(pub, nil, msg, si.Signature) {
				return fmt.Errorf("%w: SM2 signature by %q", ErrSignature, cert.Subject.String())
			}
			return nil
		}
		want := map[Digest]bool{DigestSHA256: sigOID.Equal(OIDECDSAWithSHA256), DigestSHA384: sigOID.Equal(OIDECDSAWithSHA384), DigestSHA512: sigOID.Equal(OIDECDSAWithSHA512)}
		if !want[d] && !sigOID.Equal(OIDECPublicKey) {
			return fmt.Errorf("%w: %s with digest %s for an ECDSA key", ErrAlgorithm, sigOID, d)
		}
		if !ecdsa.VerifyASN1(pub, d.Sum(msg), si.Signature) {
			return fmt.Errorf("%w: ECDSA signature by %q", ErrSignature, cert.Subject.String())
		}
		return nil
	case *rsa.PublicKey:
		want := map[Digest]bool{DigestSHA256: sigOID.Equal(OIDSHA256WithRSA), DigestSHA384: sigOID.Equal(OIDSHA384WithRSA), DigestSHA512: sigOID.Equal(OIDSHA512WithRSA)}
		if !want[d] && !sigOID.Equal(OIDRSAEncryption) {
			return fmt.Errorf("%w: %s with digest %s for an RSA key", ErrAlgorithm, sigOID, d)
		}
		if err := rsa.VerifyPKCS1v15(pub, d.crypto(), d.Sum(msg), si.Signature); err != nil {
			return fmt.Errorf("%w: RSA signature by %q", ErrSignature, cert.Subject.String())
		}
		return nil
	}
	return fmt.Errorf("%w: public key %T", ErrAlgorithm, cert.PublicKey)
}
