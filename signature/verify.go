package signature

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/ca/ident"
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/timestamp"
	"github.com/tongxing/tongxing/timestamp/cms"
)

// MaxSignatureSize is the largest SignedData Verify reads, in bytes.
const MaxSignatureSize = cms.MaxSize

// RevocationChecker tells whether cert, issued by issuer, was revoked at
// the given time. It returns nil for a good certificate.
type RevocationChecker interface {
	CheckRevocation(ctx context.Context, cert, issuer *smx509.Certificate, at time.Time) error
}

// VerifyOptions says what a signature is checked against.
type VerifyOptions struct {
	// Roots are the trust anchors of signer certificates; required.
	Roots *smx509.CertPool
	// Intermediates help build chains, with the certificates in the file.
	Intermediates *smx509.CertPool
	// TSARoots are the trust anchors of time-stamp authorities.
	// Default: Roots.
	TSARoots *smx509.CertPool
	// Revocation, if set, is asked about the signer certificate.
	Revocation RevocationChecker
	// RequireTimestamp fails signatures without a valid time-stamp token.
	RequireTimestamp bool
	// Now is the verification time when there is no valid time-stamp.
	// Default: time.Now().
	Now time.Time
}

// Status is the outcome of one check.
type Status string

// Check outcomes.
const (
	Passed     Status = "passed"
	Failed     Status = "failed"
	NotChecked Status = "not-checked"
)

// Check names, in the order a report lists them.
const (
	CheckStructure          = "structure"
	CheckContent            = "content"
	CheckSignature          = "signature"
	CheckSigningCertificate = "signing-certificate"
	CheckTimestamp          = "timestamp"
	CheckChain              = "certificate-chain"
	CheckRevocation         = "revocation"
)

// Check is one verification step.
type Check struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// SignerInfo describes the signer's certificate.
type SignerInfo struct {
	Subject      string    `json:"subject"`
	CommonName   string    `json:"commonName"`
	Organization string    `json:"organization,omitempty"`
	USCC         string    `json:"uscc,omitempty"` // unified social credit code (GM/T 0015)
	Issuer       string    `json:"issuer"`
	Serial       string    `json:"serial"` // hexadecimal
	NotBefore    time.Time `json:"notBefore"`
	NotAfter     time.Time `json:"notAfter"`
}

// TimestampInfo describes the signature time-stamp token.
type TimestampInfo struct {
	Time     time.Time     `json:"time"`
	Accuracy time.Duration `json:"accuracy"`
	TSA      string        `json:"tsa"`
	Serial   string        `json:"serial"` // decimal
	Policy   string        `json:"policy"`
}

// Report is the result of Verify. Valid is true only when the content,
// the signature and the certificate chain passed and no check failed.
type Report struct {
	Valid bool   `json:"valid"`
	Suite string `json:"suite,omitempty"` // gm or intl
	// Algorithm names digest and signature, e.g. "SM3 / SM2".
	Algorithm string      `json:"algorithm,omitempty"`
	Signer    *SignerInfo `json:"signer,omitempty"`
	// ContentDigest is the hex digest of the content the signature covers.
	ContentDigest string `json:"contentDigest,omitempty"`
	// ClaimedSigningTime is the signer's own signing-time, not trusted.
	ClaimedSigningTime *time.Time     `json:"claimedSigningTime,omitempty"`
	Timestamp          *TimestampInfo `json:"timestamp,omitempty"`
	// ValidationTime is when the certificate chain was checked: the
	// time-stamp time if a valid token is present, otherwise now.
	ValidationTime time.Time `json:"validationTime"`
	Checks         []Check   `json:"checks"`
}

func (r *Report) add(name string, st Status, format string, args ...any) {
	r.Checks = append(r.Checks, Check{Name: name, Status: st, Detail: fmt.Sprintf(format, args...)})
}

// Check returns the check called name, or nil.
func (r *Report) Check(name string) *Check {
	for i := range r.Checks {
		if r.Checks[i].Name == name {
			return &r.Checks[i]
		}
	}
	return nil
}

func (r *Report) finish() *Report {
	r.Valid = true
	for _, must := range []string{CheckStructure, CheckContent, CheckSignature, CheckChain} {
		if c := r.Check(must); c == nil || c.Status != Passed {
			r.Valid = false
		}
	}
	for _, c := range r.Checks {
		if c.Status == Failed {
			r.Valid = false
		}
	}
	return r
}

// Verify checks the SignedData p7s (DER, one signer) over content (nil to
// use attached content) and reports every check. The error is non-nil only
// for unusable options; a bad or unreadable signature gives a Report with
// Valid false.
func Verify(ctx context.Context, p7s, content []byte, opts VerifyOptions) (*Report, error) {
	if opts.Roots == nil {
		return nil, errors.New("signature: verify: no trust roots given")
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if opts.TSARoots == nil {
		opts.TSARoots = opts.Roots
	}
	v := &verification{opts: opts, r: &Report{ValidationTime: opts.Now}, validAt: opts.Now}
	if !v.parse(p7s) {
		return v.r.finish(), nil
	}
	v.checkContent(content)
	v.checkSignature()
	v.checkTimestamp()
	v.checkChain()
	v.checkRevocation(ctx)
	return v.r.finish(), nil
}

// verification is one run of [Verify]: the parsed signature and what the
// checks so far established.
type verification struct {
	opts VerifyOptions
	r    *Report

	sd    *cms.SignedData
	si    *cms.SignerInfo
	cert  *smx509.Certificate
	inter *smx509.CertPool // the intermediates given and the signature's certificates

	validAt  time.Time // the trusted time: the time-stamp's, else now
	chains   [][]*smx509.Certificate
	chainErr error
}

// parse reads the SignedData and its one signer and describes them; false
// ends the verification (the structure check failed).
func (v *verification) parse(p7s []byte) bool {
	sd, err := cms.Parse(p7s)
	if err != nil {
		v.r.add(CheckStructure, Failed, "%v", err)
		return false
	}
	if len(sd.SignerInfos) != 1 {
		v.r.add(CheckStructure, Failed, "%d signers, expected exactly one", len(sd.SignerInfos))
		return false
	}
	si := sd.SignerInfos[0]
	cert := sd.FindCertificate(si)
	if cert == nil {
		v.r.add(CheckStructure, Failed, "the signer's certificate is not in the file")
		return false
	}
	v.sd, v.si, v.cert = sd, si, cert
	v.r.add(CheckStructure, Passed, "CMS SignedData, one signer")
	v.r.Suite = string(kms.Intl)
	if sd.GM {
		v.r.Suite = string(kms.GM)
	}
	v.r.Algorithm = fmt.Sprintf("%s / %s", cms.DigestFromOID(si.DigestAlgorithm.OID), signatureName(si))
	v.r.Signer = describeSigner(cert)
	if t, ok, err := si.SigningTime(); ok && err == nil {
		v.r.ClaimedSigningTime = &t
	}
	// Certificates in the file help build both the signer's and the TSA's
	// chains.
	v.inter = smx509.NewCertPool()
	if v.opts.Intermediates != nil {
		v.inter = v.opts.Intermediates.Clone()
	}
	for _, c := range sd.Certificates {
		if c != cert {
			v.inter.AddCert(c)
		}
	}
	return true
}

// checkContent compares the content (nil: the attached content) with the
// signed message digest.
func (v *verification) checkContent(content []byte) {
	if content == nil && v.sd.Detached {
		v.r.add(CheckContent, Failed, "detached signature: the signed file was not supplied")
		return
	}
	if content == nil {
		content = v.sd.Content
	}
	// A filing is data; other content types (a time-stamp token's
	// TSTInfo, say) are signatures made for another purpose.
	if ct := v.sd.ContentType; !ct.Equal(cms.OIDData) && !ct.Equal(cms.OIDGMData) {
		v.r.add(CheckContent, Failed, "content type %s is not data: not a signed filing", ct)
		return
	}
	d := cms.DigestFromOID(v.si.DigestAlgorithm.OID)
	if d == cms.DigestUnknown || d == cms.DigestSHA1 {
		v.r.add(CheckContent, Failed, "digest algorithm %s is not accepted", v.si.DigestAlgorithm.OID)
		return
	}
	v.r.ContentDigest = hex.EncodeToString(d.Sum(content))
	if err := v.sd.Verify(v.si, v.cert, content); errors.Is(err, cms.ErrMessageDigest) || errors.Is(err, cms.ErrContentType) {
		v.r.add(CheckContent, Failed, "the file does not match the signature: %v", err)
	} else {
		v.r.add(CheckContent, Passed, "%s digest matches", d)
	}
}

// checkSignature checks the signature value and the ESS binding of the
// certificate.
func (v *verification) checkSignature() {
	if err := v.si.CheckSignature(v.cert); err != nil {
		v.r.add(CheckSignature, Failed, "%v", err)
	} else {
		v.r.add(CheckSignature, Passed, "%s signature by the certificate holder is valid", signatureName(v.si))
	}
	if err := cms.CheckSigningCertificate(v.si, v.cert); err != nil {
		st := Failed
		if v.si.SignedAttribute(cms.OIDAttributeSigningCertificateV2) == nil && v.si.SignedAttribute(cms.OIDAttributeSigningCertificate) == nil {
			st = NotChecked
		}
		v.r.add(CheckSigningCertificate, st, "%v", err)
	} else {
		v.r.add(CheckSigningCertificate, Passed, "the signature names this certificate (ESS)")
	}
}

// checkTimestamp verifies the time-stamp over the signature value; a
// valid one is the trusted time of the checks that follow.
func (v *verification) checkTimestamp() {
	a := v.si.UnsignedAttribute(OIDSignatureTimeStampToken)
	switch {
	case a != nil:
		info, err := verifyTimestamp(a, v.si.Signature, v.opts.TSARoots, v.inter)
		if err != nil {
			v.r.add(CheckTimestamp, Failed, "%v", err)
			break
		}
		v.validAt = info.GenTime
		v.r.Timestamp = &TimestampInfo{
			Time: info.GenTime, Accuracy: info.Accuracy, TSA: info.Certificate.Subject.String(),
			Serial: info.SerialNumber.String(), Policy: info.Policy.String(),
		}
		v.r.add(CheckTimestamp, Passed, "time-stamp token by %q over the signature is valid", info.Certificate.Subject.CommonName)
	case v.opts.RequireTimestamp:
		v.r.add(CheckTimestamp, Failed, "no time-stamp token, one is required")
	default:
		v.r.add(CheckTimestamp, NotChecked, "no time-stamp token; the signing time is only the signer's claim")
	}
	v.r.ValidationTime = v.validAt
}

// checkChain builds the signer's chain at the trusted time and checks that
// the certificate is for signing.
func (v *verification) checkChain() {
	v.chains, v.chainErr = v.cert.Verify(smx509.VerifyOptions{
		Roots: v.opts.Roots, Intermediates: v.inter, CurrentTime: v.validAt,
		KeyUsages: []smx509.ExtKeyUsage{smx509.ExtKeyUsageAny},
	})
	switch {
	case v.chainErr != nil:
		v.r.add(CheckChain, Failed, "at %s: %v", v.validAt.UTC().Format(time.RFC3339), v.chainErr)
	case v.cert.KeyUsage != 0 && v.cert.KeyUsage&(smx509.KeyUsageDigitalSignature|smx509.KeyUsageContentCommitment) == 0:
		v.r.add(CheckChain, Failed, "the certificate is not for signing (key usage)")
	case serviceCertificate(v.cert):
		v.r.add(CheckChain, Failed, "the certificate is a TLS server, time-stamping or OCSP certificate, not for signing filings (extended key usage)")
	default:
		v.r.add(CheckChain, Passed, "issued by %q, valid at %s", v.chains[0][len(v.chains[0])-1].Subject.CommonName, v.validAt.UTC().Format(time.RFC3339))
	}
}

// checkRevocation asks the revocation source about the certificate at the
// trusted time.
func (v *verification) checkRevocation(ctx context.Context) {
	switch {
	case v.opts.Revocation == nil:
		v.r.add(CheckRevocation, NotChecked, "no revocation source configured")
	case v.chainErr != nil || len(v.chains[0]) < 2:
		v.r.add(CheckRevocation, NotChecked, "no valid chain to check revocation against")
	default:
		if err := v.opts.Revocation.CheckRevocation(ctx, v.cert, v.chains[0][1], v.validAt); err != nil {
			v.r.add(CheckRevocation, Failed, "%v", err)
		} else {
			v.r.add(CheckRevocation, Passed, "not revoked at %s", v.validAt.UTC().Format(time.RFC3339))
		}
	}
}

func verifyTimestamp(a *cms.Attribute, signature []byte, roots, inter *smx509.CertPool) (*timestamp.Info, error) {
	if len(a.Values) != 1 {
		return nil, fmt.Errorf("time-stamp attribute has %d values, expected one", len(a.Values))
	}
	return timestamp.VerifyToken(a.Values[0], timestamp.VerifyOptions{Data: signature, Roots: roots, Intermediates: inter})
}

// serviceCertificate reports whether c is for a service (a TLS server, a
// TSA, an OCSP responder) rather than a person or an organisation.
func serviceCertificate(c *smx509.Certificate) bool {
	for _, u := range c.ExtKeyUsage {
		switch u {
		case smx509.ExtKeyUsageServerAuth, smx509.ExtKeyUsageTimeStamping, smx509.ExtKeyUsageOCSPSigning:
			return true
		}
	}
	return false
}

func signatureName(si *cms.SignerInfo) string {
	switch oid := si.SignatureAlgorithm.OID; {
	case oid.Equal(cms.OIDSM2Sign), oid.Equal(cms.OIDSM2WithSM3):
		return "SM2"
	case oid.Equal(cms.OIDECDSAWithSHA256), oid.Equal(cms.OIDECDSAWithSHA384), oid.Equal(cms.OIDECDSAWithSHA512), oid.Equal(cms.OIDECPublicKey):
		return "ECDSA"
	case oid.Equal(cms.OIDRSAEncryption), oid.Equal(cms.OIDSHA256WithRSA), oid.Equal(cms.OIDSHA384WithRSA), oid.Equal(cms.OIDSHA512WithRSA):
		return "RSA"
	default:
		return oid.String()
	}
}

func describeSigner(c *smx509.Certificate) *SignerInfo {
	s := &SignerInfo{
		Subject: c.Subject.String(), CommonName: c.Subject.CommonName, Issuer: c.Issuer.String(),
		Serial: fmt.Sprintf("%X", c.SerialNumber), NotBefore: c.NotBefore, NotAfter: c.NotAfter,
	}
	if len(c.Subject.Organization) > 0 {
		s.Organization = c.Subject.Organization[0]
	}
	if code, ok, err := ident.USCCFrom(c.Extensions); ok && err == nil {
		s.USCC = code
	}
	return s
}
