package timestamp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"slices"
	"time"

	"github.com/emmansun/gmsm/smx509"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/timestamp/cms"
)

// ErrConfig is returned (wrapped) by NewAuthority for a bad configuration.
var ErrConfig = errors.New("timestamp: invalid authority configuration")

var oidExtKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 37}

// Authority is a time-stamp authority. It is safe for concurrent use.
type Authority struct {
	signers  map[kms.Suite]*suiteSigner
	policy   asn1.ObjectIdentifier
	accepted []asn1.ObjectIdentifier
	accuracy time.Duration
	now      func() time.Time
	clock    *clockGuard
	drift    *driftGuard
	rand     io.Reader
	log      *slog.Logger
	stats    stats
}

type suiteSigner struct {
	cms     *cms.Signer
	chain   []*smx509.Certificate
	certs   []*smx509.Certificate // what certReq adds: the TSA certificate
	ess     cms.Attribute
	tsaName []byte
}

// NewAuthority returns a TSA signing with signer, whose certificate chain
// (TSA certificate first, then its issuers) is chain. An SM2 key serves SM3
// requests (gm), an ECDSA P-256/P-384/P-521 key serves SHA-2 requests
// (intl); add the other suite with WithSigner. Each TSA certificate must
// carry a critical extended key usage with only id-kp-timeStamping
// (RFC 3161 §2.3). The chain is checked for internal signatures, not
// against a trust store, and validity periods are not checked.
func NewAuthority(signer crypto.Signer, chain []*smx509.Certificate, opts ...Option) (*Authority, error) {
	c := config{
		signers:  []signerSpec{{signer, chain}},
		accuracy: DefaultAccuracy,
		now:      time.Now,
		maxDrift: DefaultMaxDrift,
		interval: DefaultReferenceInterval,
		rand:     rand.Reader,
		log:      slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(&c)
	}
	a := &Authority{
		signers:  map[kms.Suite]*suiteSigner{},
		accuracy: c.accuracy,
		now:      c.now,
		clock:    &clockGuard{wm: c.wm, window: c.window, slack: c.slack},
		rand:     c.rand,
		log:      c.log,
	}
	for _, s := range c.signers {
		ss, err := newSuiteSigner(s, c.tsaName)
		if err != nil {
			return nil, err
		}
		suite := kms.Intl
		if ss.cms.GM() {
			suite = kms.GM
		}
		if a.signers[suite] != nil {
			return nil, fmt.Errorf("%w: two signers for suite %s", ErrConfig, suite)
		}
		a.signers[suite] = ss
	}
	a.policy = c.policy
	if a.policy == nil {
		if p := c.signers[0].chain[0].PolicyIdentifiers; len(p) > 0 {
			a.policy = p[0]
		}
	}
	if a.policy == nil {
		return nil, fmt.Errorf("%w: no TSA policy: use WithPolicy or a TSA certificate with a certificate policy", ErrConfig)
	}
	a.accepted = append([]asn1.ObjectIdentifier{a.policy}, c.accepted...)
	if c.slack < 0 {
		return nil, fmt.Errorf("%w: negative backwards tolerance %s", ErrConfig, c.slack)
	}
	if c.window < 0 {
		return nil, fmt.Errorf("%w: negative watermark window %s", ErrConfig, c.window)
	}
	if a.clock.window == 0 {
		a.clock.window = DefaultWatermarkWindow
	}
	if a.accuracy < 0 {
		return nil, fmt.Errorf("%w: negative accuracy %s", ErrConfig, a.accuracy)
	}
	if a.now == nil || a.rand == nil || a.log == nil {
		return nil, fmt.Errorf("%w: nil clock, randomness or logger", ErrConfig)
	}
	if c.ref != nil {
		if c.maxDrift <= 0 || c.interval <= 0 {
			return nil, fmt.Errorf("%w: drift bound %s and reference interval %s must be positive", ErrConfig, c.maxDrift, c.interval)
		}
		if a.accuracy > 0 && a.accuracy < c.maxDrift {
			return nil, fmt.Errorf("%w: accuracy %s is smaller than the drift bound %s", ErrConfig, a.accuracy, c.maxDrift)
		}
		a.drift = &driftGuard{ref: c.ref, maxDrift: c.maxDrift, interval: c.interval, now: a.now}
	}
	return a, nil
}

func newSuiteSigner(s signerSpec, tsaName bool) (*suiteSigner, error) {
	if s.key == nil || len(s.chain) == 0 || s.chain[0] == nil {
		return nil, fmt.Errorf("%w: signer needs a key and a certificate chain", ErrConfig)
	}
	leaf := s.chain[0]
	if err := CheckTSACertificate(leaf); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	for i := 0; i+1 < len(s.chain); i++ {
		if err := s.chain[i].CheckSignatureFrom(s.chain[i+1]); err != nil {
			return nil, fmt.Errorf("%w: chain[%d] %q is not issued by chain[%d]: %v", ErrConfig, i, s.chain[i].Subject.String(), i+1, err)
		}
	}
	signer, err := cms.NewSigner(s.key, leaf)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	ss := &suiteSigner{cms: signer, chain: slices.Clone(s.chain), certs: []*smx509.Certificate{leaf}}
	// ESS certID hash: SHA-256 for intl (RFC 5816), SM3 for gm.
	essHash := cms.DigestSHA256
	if signer.GM() {
		essHash = cms.DigestSM3
	}
	ss.ess = cms.SigningCertificateV2(leaf, essHash)
	if tsaName {
		b := cryptobyte.NewBuilder(nil)
		b.AddASN1(cbasn1.Tag(4).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) { b.AddBytes(leaf.RawSubject) })
		ss.tsaName = b.BytesOrPanic()
	}
	return ss, nil
}

// CheckTSACertificate checks the RFC 3161 §2.3 rule for a TSA certificate:
// one extended key usage extension, critical, holding only
// id-kp-timeStamping.
func CheckTSACertificate(cert *smx509.Certificate) error {
	var found int
	for _, e := range cert.Extensions {
		if !e.Id.Equal(oidExtKeyUsage) {
			continue
		}
		found++
		if !e.Critical {
			return fmt.Errorf("timestamp: TSA certificate %q: extended key usage is not critical", cert.Subject.String())
		}
	}
	if found != 1 {
		return fmt.Errorf("timestamp: TSA certificate %q has %d extended key usage extensions, want 1", cert.Subject.String(), found)
	}
	if len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != smx509.ExtKeyUsageTimeStamping || len(cert.UnknownExtKeyUsage) != 0 {
		return fmt.Errorf("timestamp: TSA certificate %q: extended key usage must be only timeStamping", cert.Subject.String())
	}
	return nil
}

// Certificates returns the certificate chain of suite, or nil.
func (a *Authority) Certificates(suite kms.Suite) []*smx509.Certificate {
	if s := a.signers[suite]; s != nil {
		return slices.Clone(s.chain)
	}
	return nil
}

// Policy returns the default TSA policy.
func (a *Authority) Policy() asn1.ObjectIdentifier { return slices.Clone(a.policy) }

// Stats returns a snapshot of the counters and clock state.
func (a *Authority) Stats() Stats { return a.stats.snapshot() }

// TokenOptions tunes Authority.Timestamp. The zero value asks for the
// default policy, no nonce and no certificate in the token.
type TokenOptions struct {
	// Policy is the requested policy (nil: the default one).
	Policy asn1.ObjectIdentifier
	// Nonce is echoed in the token when not nil.
	Nonce *big.Int
	// CertReq puts the TSA certificate into the token.
	CertReq bool
}

// Timestamp issues a token for digest, the alg hash of the data, without
// going through HTTP. Refusals are *RejectionError values that match the
// FailureInfo sentinels with errors.Is (BadAlg, TimeNotAvailable, ...).
func (a *Authority) Timestamp(ctx context.Context, digest []byte, alg HashAlgorithm, opts TokenOptions) (*Token, error) {
	req := &TimeStampReq{
		Version:        1,
		MessageImprint: MessageImprint{HashAlgorithm: alg.OID(), NullParams: true, HashedMessage: digest},
		ReqPolicy:      opts.Policy,
		Nonce:          opts.Nonce,
		CertReq:        opts.CertReq,
	}
	if !alg.Valid() {
		a.stats.rejections.Add(1)
		return nil, reject(BadAlg, fmt.Sprintf("unknown hash algorithm %s", alg), nil)
	}
	return a.Issue(ctx, req)
}

// Respond answers a DER TimeStampReq with a TimeStampResp: granted with a
// token, or a rejection carrying the failure reason. It never fails.
func (a *Authority) Respond(ctx context.Context, der []byte) *TimeStampResp {
	req, err := ParseRequest(der)
	if err != nil {
		a.stats.rejections.Add(1)
		return rejection(asRejection(err))
	}
	tok, err := a.Issue(ctx, req)
	if err != nil {
		return rejection(asRejection(err))
	}
	return &TimeStampResp{Status: StatusGranted, Token: tok.Raw}
}

// Issue checks req and issues a token. Checks, in order: version 1
// (badRequest); hash algorithm SM3/SHA-256/384/512 with a signer for its
// suite (badAlg); imprint length (badDataFormat); policy (unacceptedPolicy);
// no critical extension (unacceptedExtension; non-critical ones are
// ignored); nonce at most MaxNonceSize bytes (badRequest); clock
// (timeNotAvailable). Errors are *RejectionError.
func (a *Authority) Issue(ctx context.Context, req *TimeStampReq) (*Token, error) {
	tok, err := a.issue(ctx, req)
	if err != nil {
		a.stats.rejections.Add(1)
		re := asRejection(err)
		if re.Failure == SystemFailure || re.Failure == TimeNotAvailable {
			a.log.WarnContext(ctx, "timestamp refused", "failure", re.Failure.String(), "reason", re.Text, "err", err)
		}
		return nil, re
	}
	if tok.Suite == kms.GM {
		a.stats.tokensGM.Add(1)
	} else {
		a.stats.tokensIntl.Add(1)
	}
	return tok, nil
}

func (a *Authority) issue(ctx context.Context, req *TimeStampReq) (*Token, error) {
	if req.Version != 1 {
		return nil, reject(BadRequest, fmt.Sprintf("version %d is not supported", req.Version), nil)
	}
	alg, err := HashFromOID(req.MessageImprint.HashAlgorithm)
	if err != nil {
		return nil, err
	}
	s := a.signers[alg.Suite()]
	if s == nil {
		return nil, reject(BadAlg, fmt.Sprintf("%s imprints are not served here (no %s signer)", alg, alg.Suite()), nil)
	}
	if n := len(req.MessageImprint.HashedMessage); n != alg.Size() {
		return nil, reject(BadDataFormat, fmt.Sprintf("%s imprint is %d bytes, want %d", alg, n, alg.Size()), nil)
	}
	policy := a.policy
	if req.ReqPolicy != nil {
		if !slices.ContainsFunc(a.accepted, req.ReqPolicy.Equal) {
			return nil, reject(UnacceptedPolicy, fmt.Sprintf("policy %s is not accepted", req.ReqPolicy), nil)
		}
		policy = req.ReqPolicy
	}
	for _, e := range req.Extensions {
		if e.Critical {
			return nil, reject(UnacceptedExtension, fmt.Sprintf("critical extension %s is not supported", e.ID), nil)
		}
	}
	if req.Nonce != nil && len(req.Nonce.Bytes()) > MaxNonceSize {
		return nil, reject(BadRequest, fmt.Sprintf("nonce longer than %d bytes", MaxNonceSize), nil)
	}

	if a.drift != nil {
		off, err := a.drift.check(ctx, a.now())
		a.stats.offset.Store(int64(off))
		if err != nil {
			a.stats.clockRefusal(err)
			return nil, reject(TimeNotAvailable, err.Error(), err)
		}
	}
	at, err := a.clock.admit(ctx, a.now, func(err error) {
		a.log.ErrorContext(ctx, "timestamp high-water mark", "err", err)
	})
	if errors.Is(err, ErrClockBackwards) {
		a.stats.clockRefusal(err)
		return nil, reject(TimeNotAvailable, err.Error(), err)
	}
	if err != nil {
		return nil, reject(SystemFailure, "clock safety state unavailable", err)
	}
	serial, err := randomSerial(rand.Reader)
	if err != nil {
		return nil, reject(SystemFailure, "serial number unavailable", err)
	}
	a.stats.lastIssued.Store(at.UnixNano())
	a.stats.clockBad.Store(false)

	info := &TSTInfo{
		Version:        1,
		Policy:         policy,
		MessageImprint: req.MessageImprint,
		SerialNumber:   serial,
		GenTime:        at,
		Accuracy:       a.accuracy,
		Nonce:          req.Nonce,
		TSAName:        s.tsaName,
	}
	content, err := info.Marshal()
	if err != nil {
		return nil, reject(SystemFailure, "internal error", err)
	}
	opts := cms.SignOptions{ContentType: OIDTSTInfo, SigningTime: at, SignedAttributes: []cms.Attribute{s.ess}}
	if req.CertReq {
		opts.Certificates = s.certs
	}
	raw, err := s.cms.Sign(a.rand, content, opts)
	if err != nil {
		return nil, reject(SystemFailure, "signing failed", err)
	}
	suite := kms.Intl
	if s.cms.GM() {
		suite = kms.GM
	}
	return &Token{Raw: raw, Info: info, Suite: suite}, nil
}

// equalImprint reports whether two imprints are the same, parameters included.
func equalImprint(a, b MessageImprint) bool {
	return a.HashAlgorithm.Equal(b.HashAlgorithm) && a.NullParams == b.NullParams && bytes.Equal(a.HashedMessage, b.HashedMessage)
}
