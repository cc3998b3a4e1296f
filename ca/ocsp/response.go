package ocsp

import (
	"crypto"
	"crypto/rand"
	"encoding/asn1"
	"fmt"
	"strconv"
	"time"

	"github.com/emmansun/gmsm/smx509"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/tongxing/tongxing/kms"
)

// oidBasic is id-pkix-ocsp-basic (RFC 6960 §4.2.1).
var oidBasic = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 1}

// sigAlgs are the signature algorithms of the two suites, the only ones
// this package writes or accepts.
var sigAlgs = []struct {
	suite kms.Suite
	alg   smx509.SignatureAlgorithm
	oid   asn1.ObjectIdentifier
}{
	{kms.GM, smx509.SM2WithSM3, asn1.ObjectIdentifier{1, 2, 156, 10197, 1, 501}},
	{kms.Intl, smx509.ECDSAWithSHA256, asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}},
}

// Status is a certificate's status in a SingleResponse (RFC 6960 §4.2.1).
// The zero value is not valid, so a forgotten status is never sent as good.
type Status int

// The certificate statuses.
const (
	// Good: the certificate is not revoked (and, for Tongxing's responder,
	// was issued by the CA).
	Good Status = iota + 1
	// Revoked: the certificate is revoked (or on hold).
	Revoked
	// Unknown: the responder does not know the certificate.
	Unknown
)

// String returns "good", "revoked" or "unknown".
func (s Status) String() string {
	switch s {
	case Good:
		return "good"
	case Revoked:
		return "revoked"
	case Unknown:
		return "unknown"
	}
	return "status(" + strconv.Itoa(int(s)) + ")"
}

// NoReason in [SingleResponse.Reason] means that revocationReason is absent.
const NoReason = -1

// SingleResponse is the status of one certificate (RFC 6960 §4.2.1).
type SingleResponse struct {
	// CertID names the certificate. A responder copies it from the request
	// unchanged, so that the hashAlgorithm parameters are echoed too.
	CertID
	// Status is Good, Revoked or Unknown.
	Status Status
	// RevokedAt is the revocation time; used only when Status is Revoked,
	// and then required.
	RevokedAt time.Time
	// Reason is the CRLReason code (RFC 5280 §5.3.1: 0-6, 8-10) or
	// NoReason; used only when Status is Revoked. The zero value is
	// unspecified(0), which is written out; set NoReason to omit it.
	Reason int
	// ThisUpdate is when the status was known to be correct (required).
	ThisUpdate time.Time
	// NextUpdate is when newer information will be available; the zero
	// time omits it.
	NextUpdate time.Time
}

// ResponseData is what a response says, apart from who signed it.
type ResponseData struct {
	// ProducedAt is when the response was signed (required).
	ProducedAt time.Time
	// Responses holds at least one SingleResponse.
	Responses []SingleResponse
	// Nonce is echoed from the request, or nil.
	Nonce *Nonce
}

// CreateResponse returns a signed DER OCSPResponse: responseStatus
// successful, a BasicOCSPResponse (v1) with ResponderID byKey (SHA-1 of
// responder's subjectPublicKey), the nonce extension when data.Nonce is set,
// and certs holding responder followed by extra.
//
// signer must hold responder's key, an SM2 or P-256 key (see
// [kms.SuiteOf]). The signature algorithm is the suite's: for gm the signer
// is given the whole tbsResponseData with sm2.DefaultSM2SignerOpts (SM3,
// signer ID 1234567812345678); for intl the SHA-256 digest. Times are
// written in UTC with whole seconds. Invalid data yields an error wrapping
// [ErrInvalidInput]; a failing signer, its own error.
//
// It does NOT check that responder is valid now, is authorised for the
// certificates (EKU OCSPSigning, same issuer), or that each Status is true,
// and it does not verify the signature it made.
func CreateResponse(responder *smx509.Certificate, signer crypto.Signer, data ResponseData, extra ...*smx509.Certificate) ([]byte, error) {
	suite, err := checkResponse(responder, signer, data)
	if err != nil {
		return nil, err
	}
	kh, err := keyHash(responder)
	if err != nil {
		return nil, err
	}
	tbs, err := data.marshal(kh)
	if err != nil {
		return nil, err
	}
	sig, sigOID, err := signTBS(signer, suite, tbs)
	if err != nil {
		return nil, err
	}

	var bb cryptobyte.Builder
	bb.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(tbs)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(sigOID) })
		b.AddASN1BitString(sig)
		b.AddASN1(tag0, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddBytes(responder.Raw)
				for _, c := range extra {
					if c != nil {
						b.AddBytes(c.Raw)
					}
				}
			})
		})
	})
	basic, err := bb.Bytes()
	if err != nil {
		return nil, fmt.Errorf("ocsp: encode BasicOCSPResponse: %w", err)
	}

	var rb cryptobyte.Builder
	rb.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Enum(int64(Successful))
		b.AddASN1(tag0, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oidBasic)
				b.AddASN1OctetString(basic)
			})
		})
	})
	der, err := rb.Bytes()
	if err != nil {
		return nil, fmt.Errorf("ocsp: encode OCSPResponse: %w", err)
	}
	return der, nil
}

// checkResponse checks what [CreateResponse] is given and returns the
// responder key's suite.
func checkResponse(responder *smx509.Certificate, signer crypto.Signer, data ResponseData) (kms.Suite, error) {
	if responder == nil || signer == nil {
		return "", fmt.Errorf("ocsp: nil responder certificate or signer: %w", ErrInvalidInput)
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(responder.PublicKey) {
		return "", fmt.Errorf("ocsp: signer key does not match responder certificate %q: %w", responder.Subject.String(), ErrInvalidInput)
	}
	suite, err := kms.SuiteOf(signer.Public())
	if err != nil {
		return "", fmt.Errorf("ocsp: responder key: %v: %w", err, ErrInvalidInput)
	}
	if data.ProducedAt.IsZero() || !encodable(data.ProducedAt) {
		return "", fmt.Errorf("ocsp: producedAt %v is zero or not encodable: %w", data.ProducedAt, ErrInvalidInput)
	}
	if len(data.Responses) == 0 {
		return "", fmt.Errorf("ocsp: no single responses: %w", ErrInvalidInput)
	}
	for i := range data.Responses {
		if err := data.Responses[i].check(); err != nil {
			return "", fmt.Errorf("ocsp: single response %d: %w", i, err)
		}
	}
	return suite, nil
}

// marshal encodes the tbsResponseData of a responder whose key hash is kh
// (ResponderID byKey).
func (data *ResponseData) marshal(kh []byte) ([]byte, error) {
	var tb cryptobyte.Builder
	tb.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(tag2, func(b *cryptobyte.Builder) { b.AddASN1OctetString(kh) })
		b.AddASN1GeneralizedTime(derTime(data.ProducedAt))
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			for i := range data.Responses {
				data.Responses[i].marshal(b)
			}
		})
		if data.Nonce != nil {
			addNonceExtensions(b, tag1, data.Nonce)
		}
	})
	tbs, err := tb.Bytes()
	if err != nil {
		return nil, fmt.Errorf("ocsp: encode tbsResponseData: %w", err)
	}
	return tbs, nil
}

// signTBS signs tbs with the suite's algorithm and returns the signature
// and the algorithm's OID.
func signTBS(signer crypto.Signer, suite kms.Suite, tbs []byte) ([]byte, asn1.ObjectIdentifier, error) {
	opts := suite.SignerOpts()
	msg := tbs
	if h := opts.HashFunc(); h != 0 {
		hh := h.New()
		hh.Write(tbs)
		msg = hh.Sum(nil)
	}
	sig, err := signer.Sign(rand.Reader, msg, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("ocsp: sign response with %s key: %w", suite, err)
	}
	var sigOID asn1.ObjectIdentifier
	for _, a := range sigAlgs {
		if a.suite == suite {
			sigOID = a.oid
		}
	}
	return sig, sigOID, nil
}

// ErrorResponse returns the unsigned DER OCSPResponse carrying only status,
// one of MalformedRequest, InternalError, TryLater, SigRequired and
// Unauthorized. Any other status is an error wrapping [ErrInvalidInput].
func ErrorResponse(status ResponseStatus) ([]byte, error) {
	if status == Successful || !status.valid() {
		return nil, fmt.Errorf("ocsp: %v is not an error status: %w", status, ErrInvalidInput)
	}
	// SEQUENCE { ENUMERATED status }
	return []byte{0x30, 0x03, 0x0a, 0x01, byte(status)}, nil
}

// derTime returns t as written in DER: UTC, whole seconds.
func derTime(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

// encodable reports whether t fits a GeneralizedTime (years 0000-9999).
func encodable(t time.Time) bool {
	y := t.UTC().Year()
	return y >= 0 && y <= 9999
}

// validReason reports whether r is a CRLReason code or NoReason.
func validReason(r int) bool {
	return r == NoReason || (r >= 0 && r <= 10 && r != 7)
}

// check validates r before encoding.
func (r *SingleResponse) check() error {
	switch r.Status {
	case Good, Unknown:
	case Revoked:
		if r.RevokedAt.IsZero() {
			return fmt.Errorf("revoked without revocation time: %w", ErrInvalidInput)
		}
		if !validReason(r.Reason) {
			return fmt.Errorf("revocation reason %d is not a CRLReason: %w", r.Reason, ErrInvalidInput)
		}
	default:
		return fmt.Errorf("invalid status %v: %w", r.Status, ErrInvalidInput)
	}
	if r.ThisUpdate.IsZero() {
		return fmt.Errorf("zero thisUpdate: %w", ErrInvalidInput)
	}
	for _, t := range []time.Time{r.ThisUpdate, r.NextUpdate, r.RevokedAt} {
		if !encodable(t) {
			return fmt.Errorf("time %v is not encodable as GeneralizedTime: %w", t, ErrInvalidInput)
		}
	}
	if !r.NextUpdate.IsZero() && !derTime(r.NextUpdate).After(derTime(r.ThisUpdate)) {
		return fmt.Errorf("nextUpdate %s is not after thisUpdate %s: %w",
			r.NextUpdate.UTC().Format(time.RFC3339), r.ThisUpdate.UTC().Format(time.RFC3339), ErrInvalidInput)
	}
	return nil
}

// marshal appends the SingleResponse SEQUENCE to b.
func (r *SingleResponse) marshal(b *cryptobyte.Builder) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		r.CertID.marshal(b)
		switch r.Status {
		case Good:
			b.AddASN1(cbasn1.Tag(0).ContextSpecific(), func(*cryptobyte.Builder) {})
		case Revoked:
			b.AddASN1(tag1, func(b *cryptobyte.Builder) {
				b.AddASN1GeneralizedTime(derTime(r.RevokedAt))
				if r.Reason != NoReason {
					b.AddASN1(tag0, func(b *cryptobyte.Builder) { b.AddASN1Enum(int64(r.Reason)) })
				}
			})
		case Unknown:
			b.AddASN1(cbasn1.Tag(2).ContextSpecific(), func(*cryptobyte.Builder) {})
		}
		b.AddASN1GeneralizedTime(derTime(r.ThisUpdate))
		if !r.NextUpdate.IsZero() {
			b.AddASN1(tag0, func(b *cryptobyte.Builder) { b.AddASN1GeneralizedTime(derTime(r.NextUpdate)) })
		}
	})
}
