package signature

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/timestamp"
	"github.com/tongxing/tongxing/timestamp/cms"
)

// OIDSignatureTimeStampToken is id-aa-signatureTimeStampToken (RFC 3161
// Appendix A), the unsigned attribute holding the time-stamp token.
var OIDSignatureTimeStampToken = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 14}

// ErrConfig is returned (wrapped) by NewSigner for a bad configuration.
var ErrConfig = errors.New("signature: invalid signer configuration")

// Timestamper obtains a time-stamp token for a digest. *timestamp.Client
// implements it; Local adapts an in-process *timestamp.Authority.
type Timestamper interface {
	Timestamp(ctx context.Context, digest []byte, alg timestamp.HashAlgorithm) (*timestamp.Token, error)
}

// TimestampFunc adapts a function to Timestamper.
type TimestampFunc func(ctx context.Context, digest []byte, alg timestamp.HashAlgorithm) (*timestamp.Token, error)

// Timestamp calls f.
func (f TimestampFunc) Timestamp(ctx context.Context, digest []byte, alg timestamp.HashAlgorithm) (*timestamp.Token, error) {
	return f(ctx, digest, alg)
}

// Local returns a Timestamper using an in-process Authority, asking for
// the TSA certificate in each token.
func Local(a *timestamp.Authority) Timestamper {
	return TimestampFunc(func(ctx context.Context, digest []byte, alg timestamp.HashAlgorithm) (*timestamp.Token, error) {
		return a.Timestamp(ctx, digest, alg, timestamp.TokenOptions{CertReq: true})
	})
}

type config struct {
	tsa      Timestamper
	now      func() time.Time
	attached bool
	pkcs7    bool
	rand     io.Reader
}

// Option configures NewSigner.
type Option func(*config)

// WithPKCS7OIDs writes SM2 signatures with the RFC 5652 signedData and data
// OIDs instead of the GM/T 0010 ones, for receivers that only know PKCS #7.
// Default: GM/T 0010 for SM2 keys. No effect on ECDSA keys.
func WithPKCS7OIDs() Option { return func(c *config) { c.pkcs7 = true } }

// WithTimestamper adds a signature time-stamp token from t to every
// signature; signing fails when t fails. Default: no time-stamp.
func WithTimestamper(t Timestamper) Option { return func(c *config) { c.tsa = t } }

// WithClock sets the clock for the signing-time attribute. Default: time.Now.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithAttached puts the content inside the SignedData. Default: detached
// (a .p7s next to the filing).
func WithAttached() Option { return func(c *config) { c.attached = true } }

// WithRand sets the randomness for signatures. Default: crypto/rand.Reader.
func WithRand(r io.Reader) Option { return func(c *config) { c.rand = r } }

// Signer signs filings with one key and certificate chain. It is safe for
// concurrent use if its key and Timestamper are.
type Signer struct {
	cms   *cms.Signer
	chain []*smx509.Certificate
	ess   cms.Attribute
	c     config
}

// NewSigner returns a Signer for key, whose certificate chain (signer
// certificate first, then its issuers; the root may be left out) is chain.
// An SM2 key gives gm signatures, an ECDSA key intl ones. The certificate's
// validity and key usage are not checked here; Verify checks them.
func NewSigner(key crypto.Signer, chain []*smx509.Certificate, opts ...Option) (*Signer, error) {
	c := config{now: time.Now, rand: rand.Reader}
	for _, o := range opts {
		o(&c)
	}
	if len(chain) == 0 || chain[0] == nil || key == nil {
		return nil, fmt.Errorf("%w: need a key and a certificate chain", ErrConfig)
	}
	if c.now == nil || c.rand == nil {
		return nil, fmt.Errorf("%w: nil clock or randomness", ErrConfig)
	}
	for i := 0; i+1 < len(chain); i++ {
		if err := chain[i].CheckSignatureFrom(chain[i+1]); err != nil {
			return nil, fmt.Errorf("%w: chain[%d] %q is not issued by chain[%d]: %v", ErrConfig, i, chain[i].Subject.String(), i+1, err)
		}
	}
	cs, err := cms.NewSigner(key, chain[0])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	essHash := cms.DigestSHA256
	if cs.GM() {
		essHash = cms.DigestSM3
	}
	return &Signer{cms: cs, chain: append([]*smx509.Certificate(nil), chain...), ess: cms.SigningCertificateV2(chain[0], essHash), c: c}, nil
}

// Suite returns "gm" or "intl".
func (s *Signer) Suite() kms.Suite {
	if s.cms.GM() {
		return kms.GM
	}
	return kms.Intl
}

// Sign returns the DER SignedData (.p7s) over content.
func (s *Signer) Sign(ctx context.Context, content []byte) ([]byte, error) {
	opts := s.options(ctx)
	if !s.c.attached {
		opts.ContentDigest = s.cms.Digest().Sum(content)
		content = nil
	}
	return s.sign(opts, content)
}

// SignReader signs the content read from r without holding it in memory;
// the signature is always detached.
func (s *Signer) SignReader(ctx context.Context, r io.Reader) ([]byte, error) {
	h := s.cms.Digest().New()
	if _, err := io.Copy(h, r); err != nil {
		return nil, fmt.Errorf("signature: read content: %w", err)
	}
	opts := s.options(ctx)
	opts.Detached = true
	opts.ContentDigest = h.Sum(nil)
	return s.sign(opts, nil)
}

func (s *Signer) options(ctx context.Context) cms.SignOptions {
	opts := cms.SignOptions{
		Detached:         !s.c.attached,
		SigningTime:      s.c.now(),
		SignedAttributes: []cms.Attribute{s.ess},
		Certificates:     s.chain,
		PKCS7OIDs:        s.c.pkcs7,
	}
	if s.c.tsa != nil {
		alg := timestamp.HashOf(s.Suite())
		opts.UnsignedAttributesFunc = func(sig []byte) ([]cms.Attribute, error) {
			tok, err := s.c.tsa.Timestamp(ctx, alg.Sum(sig), alg)
			if err != nil {
				return nil, fmt.Errorf("signature: time-stamp: %w", err)
			}
			return []cms.Attribute{{Type: OIDSignatureTimeStampToken, Values: [][]byte{tok.Raw}}}, nil
		}
	}
	return opts
}

func (s *Signer) sign(opts cms.SignOptions, content []byte) ([]byte, error) {
	der, err := s.cms.Sign(s.c.rand, content, opts)
	if err != nil {
		return nil, fmt.Errorf("signature: sign as %q: %w", s.chain[0].Subject.String(), err)
	}
	return der, nil
}
