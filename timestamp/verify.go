package timestamp

import (
	"crypto/subtle"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/timestamp/cms"
)

// Verification errors (wrapped; match with errors.Is).
var (
	ErrImprintMismatch = errors.New("timestamp: message imprint does not match the data")
	ErrNonceMismatch   = errors.New("timestamp: nonce does not match the request")
	ErrPolicyMismatch  = errors.New("timestamp: policy is not the one requested")
	ErrNoCertificate   = errors.New("timestamp: TSA certificate not found")
	ErrBadSignature    = errors.New("timestamp: token signature invalid")
	ErrUntrusted       = errors.New("timestamp: TSA certificate not trusted")
)

// VerifyOptions says what VerifyToken checks a token against.
type VerifyOptions struct {
	// Data is the time-stamped data. If nil, Digest is used instead.
	Data []byte
	// Digest is the digest of the data with the token's imprint algorithm.
	Digest []byte
	// Roots are the trust anchors for the TSA certificate; required.
	Roots *smx509.CertPool
	// Intermediates help build the chain, with the token's other certificates.
	Intermediates *smx509.CertPool
	// Certificates are candidate TSA certificates for tokens issued
	// without one (certReq false).
	Certificates []*smx509.Certificate
	// Nonce, if set, must equal the token's nonce.
	Nonce *big.Int
	// Policy, if set, must equal the token's policy.
	Policy asn1.ObjectIdentifier
}

// Info is a verified token: its TSTInfo and what the verifier found.
type Info struct {
	TSTInfo
	Suite kms.Suite
	Hash  HashAlgorithm
	// Certificate is the TSA certificate; Chain runs from it to a root.
	Certificate *smx509.Certificate
	Chain       []*smx509.Certificate
}

// Verify checks token (DER) for data against roots; see VerifyToken.
func Verify(token, data []byte, roots *smx509.CertPool) (*Info, error) {
	if data == nil {
		data = []byte{}
	}
	return VerifyToken(token, VerifyOptions{Data: data, Roots: roots})
}

// VerifyToken checks a DER time-stamp token:
//   - structure (ParseToken) and imprint algorithm (SM3 or SHA-256/384/512;
//     MD5 and SHA-1 imprints are refused);
//   - the message imprint against opts.Data or opts.Digest;
//   - the CMS signature (SM2 with SM3 and the default signer ID, ECDSA, or
//     RSA PKCS #1 v1.5) with the content-type and message-digest attributes;
//   - the ESS signing-certificate(-v2) binding to the TSA certificate;
//   - the TSA certificate: critical EKU holding only timeStamping, and a
//     chain to opts.Roots valid at the token's genTime;
//   - nonce and policy when opts asks.
//
// It does NOT check revocation of the TSA certificate or its issuers, and
// it does not compare genTime with the current time.
func VerifyToken(token []byte, opts VerifyOptions) (*Info, error) {
	if opts.Roots == nil {
		return nil, fmt.Errorf("%w: no trust roots given", ErrUntrusted)
	}
	t, err := ParseToken(token)
	if err != nil {
		return nil, err
	}
	alg, err := HashFromOID(t.Info.MessageImprint.HashAlgorithm)
	if err != nil {
		return nil, err
	}
	digest := opts.Digest
	if opts.Data != nil {
		digest = alg.Sum(opts.Data)
	}
	if digest == nil {
		return nil, fmt.Errorf("%w: neither data nor digest given", ErrImprintMismatch)
	}
	if subtle.ConstantTimeCompare(digest, t.Info.MessageImprint.HashedMessage) != 1 {
		return nil, fmt.Errorf("%w (%s)", ErrImprintMismatch, alg)
	}
	if opts.Nonce != nil && (t.Info.Nonce == nil || t.Info.Nonce.Cmp(opts.Nonce) != 0) {
		return nil, ErrNonceMismatch
	}
	if opts.Policy != nil && !opts.Policy.Equal(t.Info.Policy) {
		return nil, fmt.Errorf("%w: token has %s, want %s", ErrPolicyMismatch, t.Info.Policy, opts.Policy)
	}

	sd := t.SignedData
	si := sd.SignerInfos[0]
	cert := sd.FindCertificate(si, opts.Certificates...)
	if cert == nil {
		return nil, ErrNoCertificate
	}
	if err := sd.Verify(si, cert, nil); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	if err := cms.CheckSigningCertificate(si, cert); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	if err := CheckTSACertificate(cert); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUntrusted, err)
	}
	inter := smx509.NewCertPool()
	if opts.Intermediates != nil {
		inter = opts.Intermediates.Clone()
	}
	for _, c := range sd.Certificates {
		if c != cert {
			inter.AddCert(c)
		}
	}
	chains, err := cert.Verify(smx509.VerifyOptions{
		Roots:         opts.Roots,
		Intermediates: inter,
		CurrentTime:   t.Info.GenTime,
		KeyUsages:     []smx509.ExtKeyUsage{smx509.ExtKeyUsageTimeStamping},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %q at %s: %w", ErrUntrusted, cert.Subject.String(), t.Info.GenTime, err)
	}
	return &Info{TSTInfo: *t.Info, Suite: t.Suite, Hash: alg, Certificate: cert, Chain: chains[0]}, nil
}
