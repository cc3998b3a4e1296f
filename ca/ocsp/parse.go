package ocsp

import (
	"bytes"
	"encoding/asn1"
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/emmansun/gmsm/smx509"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/tongxing/tongxing/kms"
)

// MaxResponseSize is the largest DER OCSPResponse [ParseResponse] accepts.
// A Tongxing response with one status and its responder certificate is
// under 2 KiB.
const MaxResponseSize = 64 << 10

// ParsedResponse is a verified BasicOCSPResponse.
type ParsedResponse struct {
	// ResponseData holds producedAt, the single responses (in response
	// order) and the nonce. ThisUpdate and NextUpdate are NOT checked
	// against the current time.
	ResponseData
	// Responder is the certificate whose key signed the response: the
	// issuer itself or a delegated responder certificate from certs.
	Responder *smx509.Certificate
	// Certificates are all certificates in the response's certs field.
	Certificates []*smx509.Certificate
	// SignatureAlgorithm is smx509.SM2WithSM3 or smx509.ECDSAWithSHA256.
	SignatureAlgorithm smx509.SignatureAlgorithm
	// TBSResponseData is the DER of tbsResponseData, the signed bytes.
	TBSResponseData []byte
	// Signature is the signature value.
	Signature []byte

	issuer *smx509.Certificate
}

// Find returns the single response about the certificate with serial issued
// by the issuer given to [ParseResponse]: its CertID must have that serial
// and match the issuer (see [CertID.Matches]). The second result is false
// when there is none, and also when several match and disagree on the
// status, so that a contradictory response is never read as good.
func (r *ParsedResponse) Find(serial *big.Int) (SingleResponse, bool) {
	if r == nil || serial == nil {
		return SingleResponse{}, false
	}
	var found SingleResponse
	ok := false
	for _, s := range r.Responses {
		if s.SerialNumber.Cmp(serial) != 0 || !s.CertID.Matches(r.issuer) {
			continue
		}
		if ok && s.Status != found.Status {
			return SingleResponse{}, false
		}
		if !ok {
			found, ok = s, true
		}
	}
	return found, ok
}

// ParseResponse parses a DER OCSPResponse of at most [MaxResponseSize] bytes
// about certificates of issuer, and verifies it.
//
// A response whose status is not successful yields a [*ResponseError]. A
// successful one must be an id-pkix-ocsp-basic v1 response signed with the
// signature algorithm of its signer's suite (SM2-with-SM3 with the default
// signer ID, or ECDSA with SHA-256) by either
//
//   - issuer itself (matched by ResponderID), or
//   - a certificate in certs matched by ResponderID, issued by issuer (its
//     issuer name equals issuer's subject and issuer's signature on it
//     verifies, smx509 checking that issuer is a CA), carrying the extended
//     key usage id-kp-OCSPSigning, and valid at producedAt.
//
// Structural errors wrap [ErrMalformed] or [ErrTooLarge]; an unacceptable
// signer or signature wraps [ErrVerification].
//
// It does NOT check freshness (producedAt, thisUpdate, nextUpdate against
// the current time), the nonce, the responder certificate's revocation
// status or id-pkix-ocsp-nocheck, or the issuer's own chain. It does not
// drop single responses about other issuers; use [ParsedResponse.Find].
func ParseResponse(der []byte, issuer *smx509.Certificate) (*ParsedResponse, error) {
	if issuer == nil {
		return nil, fmt.Errorf("ocsp: response: nil issuer: %w", ErrVerification)
	}
	if len(der) > MaxResponseSize {
		return nil, fmt.Errorf("ocsp: response of %d bytes exceeds %d: %w", len(der), MaxResponseSize, ErrTooLarge)
	}
	r, err := parseResponse(cryptobyte.String(der))
	if err != nil {
		return nil, fmt.Errorf("ocsp: response: %w", err)
	}
	if err := r.verify(issuer); err != nil {
		return nil, fmt.Errorf("ocsp: response: %w", err)
	}
	r.issuer = issuer
	return r.ParsedResponse, nil
}

// parsed carries the ResponderID between parsing and verification.
type parsed struct {
	*ParsedResponse
	byKey  []byte // ResponderID byKey, or nil
	byName []byte // ResponderID byName (DER Name), or nil
}

func parseResponse(input cryptobyte.String) (*parsed, error) {
	var resp, rb, basic cryptobyte.String
	var status int
	var has bool
	if !input.ReadASN1(&resp, cbasn1.SEQUENCE) || !input.Empty() {
		return nil, fmt.Errorf("not a single DER SEQUENCE: %w", ErrMalformed)
	}
	if !resp.ReadASN1Enum(&status) || !ResponseStatus(status).valid() {
		return nil, fmt.Errorf("responseStatus is not an assigned ENUMERATED: %w", ErrMalformed)
	}
	if !resp.ReadOptionalASN1(&rb, &has, tag0) || !resp.Empty() {
		return nil, fmt.Errorf("malformed responseBytes or trailing data: %w", ErrMalformed)
	}
	if ResponseStatus(status) != Successful {
		if has {
			return nil, fmt.Errorf("%v response carries responseBytes: %w", ResponseStatus(status), ErrMalformed)
		}
		return nil, &ResponseError{Status: ResponseStatus(status)}
	}
	if !has {
		return nil, fmt.Errorf("successful response without responseBytes: %w", ErrMalformed)
	}
	var seq cryptobyte.String
	var typ asn1.ObjectIdentifier
	if !rb.ReadASN1(&seq, cbasn1.SEQUENCE) || !rb.Empty() || !seq.ReadASN1ObjectIdentifier(&typ) ||
		!seq.ReadASN1(&basic, cbasn1.OCTET_STRING) || !seq.Empty() {
		return nil, fmt.Errorf("malformed ResponseBytes: %w", ErrMalformed)
	}
	if !typ.Equal(oidBasic) {
		return nil, fmt.Errorf("response type %s is not id-pkix-ocsp-basic: %w", typ, ErrMalformed)
	}

	var br, tbs, alg, certs cryptobyte.String
	var sig asn1.BitString
	if !basic.ReadASN1(&br, cbasn1.SEQUENCE) || !basic.Empty() ||
		!br.ReadASN1Element(&tbs, cbasn1.SEQUENCE) ||
		!br.ReadASN1Element(&alg, cbasn1.SEQUENCE) ||
		!br.ReadASN1BitString(&sig) || sig.BitLength%8 != 0 ||
		!br.ReadOptionalASN1(&certs, &has, tag0) || !br.Empty() {
		return nil, fmt.Errorf("malformed BasicOCSPResponse: %w", ErrMalformed)
	}
	p := &parsed{ParsedResponse: &ParsedResponse{
		TBSResponseData: bytes.Clone(tbs),
		Signature:       bytes.Clone(sig.Bytes),
	}}
	oid, err := parseAlgorithmIdentifier(alg)
	if err != nil {
		return nil, fmt.Errorf("signatureAlgorithm: %w", err)
	}
	for _, a := range sigAlgs {
		if oid.Equal(a.oid) {
			p.SignatureAlgorithm = a.alg
		}
	}
	if p.SignatureAlgorithm == smx509.UnknownSignatureAlgorithm {
		return nil, fmt.Errorf("signature algorithm %s is neither SM2-with-SM3 nor ecdsa-with-SHA256: %w", oid, ErrMalformed)
	}
	if has {
		var list cryptobyte.String
		if !certs.ReadASN1(&list, cbasn1.SEQUENCE) || !certs.Empty() {
			return nil, fmt.Errorf("certs is not a SEQUENCE OF Certificate: %w", ErrMalformed)
		}
		for i := 0; !list.Empty(); i++ {
			var c cryptobyte.String
			if !list.ReadASN1Element(&c, cbasn1.SEQUENCE) {
				return nil, fmt.Errorf("certificate %d is not a SEQUENCE: %w", i, ErrMalformed)
			}
			cert, err := smx509.ParseCertificate(bytes.Clone(c))
			if err != nil {
				return nil, fmt.Errorf("certificate %d: %v: %w", i, err, ErrMalformed)
			}
			p.Certificates = append(p.Certificates, cert)
		}
	}
	if err := p.parseTBS(tbs); err != nil {
		return nil, err
	}
	return p, nil
}

// parseTBS parses a complete ResponseData element.
func (p *parsed) parseTBS(s cryptobyte.String) error {
	var tbs cryptobyte.String
	if !s.ReadASN1(&tbs, cbasn1.SEQUENCE) || !s.Empty() {
		return fmt.Errorf("tbsResponseData is not a SEQUENCE: %w", ErrMalformed)
	}
	if err := readVersion(&tbs, "tbsResponseData"); err != nil {
		return err
	}
	var rid cryptobyte.String
	var tag cbasn1.Tag
	if !tbs.ReadAnyASN1(&rid, &tag) {
		return fmt.Errorf("missing responderID: %w", ErrMalformed)
	}
	switch tag {
	case tag1:
		var name cryptobyte.String
		if !rid.ReadASN1Element(&name, cbasn1.SEQUENCE) || !rid.Empty() {
			return fmt.Errorf("responderID byName is not a Name: %w", ErrMalformed)
		}
		p.byName = bytes.Clone(name)
	case tag2:
		var kh []byte
		if !rid.ReadASN1Bytes(&kh, cbasn1.OCTET_STRING) || !rid.Empty() || len(kh) != 20 {
			return fmt.Errorf("responderID byKey is not a 20-byte KeyHash: %w", ErrMalformed)
		}
		p.byKey = bytes.Clone(kh)
	default:
		return fmt.Errorf("responderID is neither byName [1] nor byKey [2]: %w", ErrMalformed)
	}
	if !tbs.ReadASN1GeneralizedTime(&p.ProducedAt) {
		return fmt.Errorf("producedAt is not a DER GeneralizedTime: %w", ErrMalformed)
	}
	var list cryptobyte.String
	if !tbs.ReadASN1(&list, cbasn1.SEQUENCE) {
		return fmt.Errorf("responses is not a SEQUENCE: %w", ErrMalformed)
	}
	for i := 0; !list.Empty(); i++ {
		r, err := parseSingle(&list)
		if err != nil {
			return fmt.Errorf("single response %d: %w", i, err)
		}
		p.Responses = append(p.Responses, r)
	}
	if len(p.Responses) == 0 {
		return fmt.Errorf("no single responses: %w", ErrMalformed)
	}
	var ext cryptobyte.String
	var has bool
	if !tbs.ReadOptionalASN1(&ext, &has, tag1) || !tbs.Empty() {
		return fmt.Errorf("malformed responseExtensions or trailing data in tbsResponseData: %w", ErrMalformed)
	}
	if has {
		exts, err := parseExtensions(ext, "responseExtensions")
		if err != nil {
			return err
		}
		if p.Nonce, err = nonceFrom(exts, "responseExtensions"); err != nil {
			return err
		}
	}
	return nil
}

// parseSingle reads a SingleResponse SEQUENCE from s.
func parseSingle(s *cryptobyte.String) (SingleResponse, error) {
	var one, st cryptobyte.String
	var tag cbasn1.Tag
	if !s.ReadASN1(&one, cbasn1.SEQUENCE) {
		return SingleResponse{}, fmt.Errorf("not a SEQUENCE: %w", ErrMalformed)
	}
	id, err := parseCertID(&one)
	if err != nil {
		return SingleResponse{}, err
	}
	r := SingleResponse{CertID: id, Reason: NoReason}
	if !one.ReadAnyASN1(&st, &tag) {
		return SingleResponse{}, fmt.Errorf("missing certStatus: %w", ErrMalformed)
	}
	switch tag {
	case cbasn1.Tag(0).ContextSpecific():
		r.Status = Good
	case tag1:
		r.Status = Revoked
		var reason cryptobyte.String
		var has bool
		if !st.ReadASN1GeneralizedTime(&r.RevokedAt) || !st.ReadOptionalASN1(&reason, &has, tag0) || !st.Empty() {
			return SingleResponse{}, fmt.Errorf("malformed RevokedInfo: %w", ErrMalformed)
		}
		if has && (!reason.ReadASN1Enum(&r.Reason) || !reason.Empty() || r.Reason == NoReason || !validReason(r.Reason)) {
			return SingleResponse{}, fmt.Errorf("revocationReason is not a CRLReason: %w", ErrMalformed)
		}
	case cbasn1.Tag(2).ContextSpecific():
		r.Status = Unknown
	default:
		return SingleResponse{}, fmt.Errorf("certStatus is not good [0], revoked [1] or unknown [2]: %w", ErrMalformed)
	}
	if r.Status != Revoked && len(st) != 0 {
		return SingleResponse{}, fmt.Errorf("%v certStatus is not NULL: %w", r.Status, ErrMalformed)
	}
	if !one.ReadASN1GeneralizedTime(&r.ThisUpdate) {
		return SingleResponse{}, fmt.Errorf("thisUpdate is not a DER GeneralizedTime: %w", ErrMalformed)
	}
	var next, ext cryptobyte.String
	var hasNext, hasExt bool
	if !one.ReadOptionalASN1(&next, &hasNext, tag0) || !one.ReadOptionalASN1(&ext, &hasExt, tag1) || !one.Empty() {
		return SingleResponse{}, fmt.Errorf("malformed nextUpdate, singleExtensions or trailing data: %w", ErrMalformed)
	}
	if hasNext && (!next.ReadASN1GeneralizedTime(&r.NextUpdate) || !next.Empty()) {
		return SingleResponse{}, fmt.Errorf("nextUpdate is not a DER GeneralizedTime: %w", ErrMalformed)
	}
	if hasExt {
		if _, err := parseExtensions(ext, "singleExtensions"); err != nil {
			return SingleResponse{}, err
		}
	}
	return r, nil
}

// verify finds the signer among issuer and the certs, checks its authority
// and the signature.
func (p *parsed) verify(issuer *smx509.Certificate) error {
	matches := func(c *smx509.Certificate) bool {
		if p.byName != nil {
			return bytes.Equal(c.RawSubject, p.byName)
		}
		kh, err := keyHash(c)
		return err == nil && bytes.Equal(kh, p.byKey)
	}
	switch {
	case matches(issuer):
		p.Responder = issuer
	default:
		i := slices.IndexFunc(p.Certificates, matches)
		if i < 0 {
			return fmt.Errorf("no certificate matches the responderID: %w", ErrVerification)
		}
		c := p.Certificates[i]
		if !bytes.Equal(c.RawIssuer, issuer.RawSubject) {
			return fmt.Errorf("responder %q is not issued by %q: %w", c.Subject.String(), issuer.Subject.String(), ErrVerification)
		}
		if err := c.CheckSignatureFrom(issuer); err != nil {
			return fmt.Errorf("responder %q: issuer signature: %v: %w", c.Subject.String(), err, ErrVerification)
		}
		if !slices.Contains(c.ExtKeyUsage, smx509.ExtKeyUsageOCSPSigning) {
			return fmt.Errorf("responder %q lacks extended key usage OCSPSigning: %w", c.Subject.String(), ErrVerification)
		}
		if p.ProducedAt.Before(c.NotBefore) || p.ProducedAt.After(c.NotAfter) {
			return fmt.Errorf("responder %q is not valid at producedAt %s: %w",
				c.Subject.String(), p.ProducedAt.UTC().Format(time.RFC3339), ErrVerification)
		}
		p.Responder = c
	}
	suite, err := kms.SuiteOf(p.Responder.PublicKey)
	if err != nil {
		return fmt.Errorf("responder %q: %v: %w", p.Responder.Subject.String(), err, ErrVerification)
	}
	if suite.SignatureAlgorithm() != p.SignatureAlgorithm {
		return fmt.Errorf("signature algorithm %v does not match the responder's %s key: %w", p.SignatureAlgorithm, suite, ErrVerification)
	}
	if err := p.Responder.CheckSignature(p.SignatureAlgorithm, p.TBSResponseData, p.Signature); err != nil {
		return fmt.Errorf("signature by %q: %v: %w", p.Responder.Subject.String(), err, ErrVerification)
	}
	return nil
}
