package certlogin

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/kms"
)

// Limits on what a client sends.
const (
	// MaxChainSize is the largest certificate chain PEM, in bytes.
	MaxChainSize = 16 << 10
	// MaxChainCerts is the most certificates a chain may hold, leaf
	// included.
	MaxChainCerts = 8
	// MaxSignatureSize is the largest signature, in bytes. SM2 and ECDSA
	// P-256 DER signatures are at most 72 bytes.
	MaxSignatureSize = 256
)

// Errors returned by this package. Every error wraps one of these, so
// callers use errors.Is to pick a response.
var (
	// ErrChallenge means a challenge is malformed.
	ErrChallenge = errors.New("certlogin: malformed challenge")
	// ErrChallengeExpired means the challenge's expiry has passed.
	ErrChallengeExpired = errors.New("certlogin: challenge expired")
	// ErrChallengeReused means the challenge was already used to log in.
	ErrChallengeReused = errors.New("certlogin: challenge already used")
	// ErrRequest means a login request body is malformed or too large.
	ErrRequest = errors.New("certlogin: malformed login request")
	// ErrChain means the certificate chain PEM is malformed or too large.
	ErrChain = errors.New("certlogin: malformed certificate chain")
	// ErrUntrusted means the chain does not verify to the configured
	// roots (unknown issuer, an expired or unauthorised CA, a missing
	// intermediate).
	ErrUntrusted = errors.New("certlogin: certificate not trusted")
	// ErrCertificate means the leaf certificate is not fit for login: not
	// valid at the time, without digitalSignature key usage or clientAuth
	// extended key usage, or with a key that is neither SM2 nor P-256.
	ErrCertificate = errors.New("certlogin: certificate not usable for login")
	// ErrSignature means the signature is missing, too large or does not
	// verify over the challenge with the leaf certificate's key.
	ErrSignature = errors.New("certlogin: bad signature")
	// ErrRevocation means the revocation check refused the certificate.
	// The error also wraps the checker's: for a revoked certificate
	// errors.Is(err, ca.ErrRevoked) holds and the message says when and
	// why; otherwise the check could not be completed and login fails
	// closed.
	ErrRevocation = errors.New("certlogin: certificate refused by revocation check")
	// ErrIdentity means a GM/T 0015 identity extension of the certificate
	// is malformed.
	ErrIdentity = errors.New("certlogin: malformed identity in certificate")
	// ErrConfig means [VerifyOptions] lacks a required field.
	ErrConfig = errors.New("certlogin: incomplete verify options")
)

// Kind says whom a certificate identifies.
type Kind string

// Kinds of identity.
const (
	// KindCitizen is a natural person: a citizen-card (gm) or citizen
	// login (intl) certificate with a subject serialNumber or a GM/T 0015
	// identity code. See [IdentityOf].
	KindCitizen Kind = "citizen"
	// KindEnterprise is a legal person: an e-cert (gm) or enterprise
	// login (intl) certificate with a unified social credit code.
	KindEnterprise Kind = "enterprise"
	// KindOther is any other certificate, e.g. a department service's.
	KindOther Kind = "other"
)

// Identity is what a verified login certificate proves.
type Identity struct {
	Suite kms.Suite
	Kind  Kind
	// Subject and Issuer are the certificate's distinguished names in
	// RFC 4514 form.
	Subject string
	Issuer  string
	// CommonName is the subject CN.
	CommonName string
	// Serial is the certificate serial number in lower-case hex, as
	// Tongxing's CA records it.
	Serial   string
	NotAfter time.Time

	// Pseudonym is the subject serialNumber of a citizen certificate
	// (Tongxing writes a keyed SM3 pseudonym of the identity number
	// there). Its format is not checked.
	Pseudonym string
	// IdentityCode is the citizen identity number from the GM/T 0015
	// identity code extension, validated (GB 11643), when present. It is
	// personal data: do not log it.
	IdentityCode string

	// OrgName is the subject O of an enterprise certificate.
	OrgName string
	// USCC is the unified social credit code of an enterprise
	// certificate, validated (GB 32100).
	USCC string
	// AgentName is the subject CN of an enterprise certificate when it
	// differs from OrgName: the person acting for the enterprise.
	AgentName string

	// Certificate is the leaf; Chain is the verified chain, leaf first
	// and root last.
	Certificate *smx509.Certificate
	Chain       []*smx509.Certificate
}

// LogValue implements slog.LogValuer: it logs the certificate's serial,
// issuer, suite and kind, never the identity number.
func (id *Identity) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("serial", id.Serial),
		slog.String("issuer", id.Issuer),
		slog.String("suite", string(id.Suite)),
		slog.String("kind", string(id.Kind)),
	)
}

// Revocation finds out whether a certificate was revoked at a time.
// CheckRevocation returns nil when cert, issued by issuer, was good at at;
// an error wrapping ca.ErrRevoked (a *ca.RevokedError saying when and why)
// when it was revoked or on hold by then; any other error when it cannot
// tell. Tongxing's *ca.Authority and *revcheck.Checker implement it.
type Revocation interface {
	CheckRevocation(ctx context.Context, cert, issuer *smx509.Certificate, at time.Time) error
}

// VerifyOptions configures [Verify]. Roots, Revocation and Used are
// required; Verify refuses to run without them ([ErrConfig]).
type VerifyOptions struct {
	// Roots are the trust anchors. Only CAs whose certificates may log in
	// belong here; the system roots are never used.
	Roots *smx509.CertPool
	// Now is the time of verification; zero means time.Now().
	Now time.Time
	// Revocation checks the leaf certificate at Now.
	Revocation Revocation
	// Used records used challenges.
	Used UsedChallenges
}

// Verify checks a certificate login: that ch has not expired at opts.Now,
// that chainPEM (the leaf first, then intermediates, as PEM CERTIFICATE
// blocks) verifies to opts.Roots at opts.Now, that the leaf has key usage
// digitalSignature and extended key usage clientAuth and is valid at
// opts.Now, that signature is the leaf key's signature over
// ch.ToBeSigned() (SM2 with SM3 and the default signer ID for an SM2 key,
// ECDSA with SHA-256 for a P-256 key), that opts.Revocation finds the leaf
// good at opts.Now, and finally that ch was not used before, which it
// records through opts.Used. A failed attempt does not use up ch.
//
// ch must come from the provider's store (see [Challenge]). Each failure
// wraps one of the package's sentinel errors; a revoked certificate gives
// an error wrapping both [ErrRevocation] and the checker's error (so
// errors.Is(err, ca.ErrRevoked) holds), whose message says when and why.
//
// Verify does NOT check the revocation of intermediate CAs, nor map the
// identity to an account.
func Verify(ctx context.Context, ch *Challenge, chainPEM, signature []byte, opts VerifyOptions) (*Identity, error) {
	switch {
	case opts.Roots == nil:
		return nil, fmt.Errorf("%w: no Roots", ErrConfig)
	case opts.Revocation == nil:
		return nil, fmt.Errorf("%w: no Revocation checker", ErrConfig)
	case opts.Used == nil:
		return nil, fmt.Errorf("%w: no UsedChallenges store", ErrConfig)
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	if err := ch.check(); err != nil {
		return nil, err
	}
	if !now.Before(ch.ExpiresAt) {
		return nil, fmt.Errorf("%w: challenge %s expired at %s", ErrChallengeExpired, ch.ID(), ch.ExpiresAt.Format(time.RFC3339))
	}
	if len(signature) == 0 || len(signature) > MaxSignatureSize {
		return nil, fmt.Errorf("%w: signature is %d bytes, want 1 to %d", ErrSignature, len(signature), MaxSignatureSize)
	}
	certs, err := parseChain(chainPEM)
	if err != nil {
		return nil, err
	}
	leaf := certs[0]
	serial := leaf.SerialNumber.Text(16)
	suite, err := checkLeaf(leaf, now)
	if err != nil {
		return nil, err
	}
	inter := smx509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(smx509.VerifyOptions{
		Roots:         opts.Roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []smx509.ExtKeyUsage{smx509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: certificate %s issued by %q: %w", ErrUntrusted, serial, leaf.Issuer.String(), err)
	}
	chain := chains[0]
	if len(chain) < 2 {
		return nil, fmt.Errorf("%w: certificate %s is itself a trust anchor", ErrUntrusted, serial)
	}
	if !verifySignature(suite, leaf.PublicKey.(*ecdsa.PublicKey), ch.ToBeSigned(), signature) {
		return nil, fmt.Errorf("%w: signature over challenge %s does not verify with the key of certificate %s (%s suite)", ErrSignature, ch.ID(), serial, suite)
	}
	id, err := IdentityOf(leaf, chain)
	if err != nil {
		return nil, err
	}
	if err := opts.Revocation.CheckRevocation(ctx, leaf, chain[1], now); err != nil {
		if strings.Contains(err.Error(), serial) {
			return nil, fmt.Errorf("%w: %w", ErrRevocation, err)
		}
		return nil, fmt.Errorf("%w: certificate %s: %w", ErrRevocation, serial, err)
	}
	fresh, err := opts.Used.MarkUsed(ctx, ch.ID(), ch.ExpiresAt)
	if err != nil {
		return nil, fmt.Errorf("certlogin: recording challenge %s as used: %w", ch.ID(), err)
	}
	if !fresh {
		return nil, fmt.Errorf("%w: challenge %s", ErrChallengeReused, ch.ID())
	}
	return id, nil
}

// parseChain parses PEM CERTIFICATE blocks, separated only by white space.
func parseChain(b []byte) ([]*smx509.Certificate, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrChain)
	}
	if len(b) > MaxChainSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrChain, len(b), MaxChainSize)
	}
	var certs []*smx509.Certificate
	rest := b
	for {
		rest = bytes.TrimLeft(rest, " \t\r\n")
		if len(rest) == 0 {
			break
		}
		if !bytes.HasPrefix(rest, []byte("-----BEGIN ")) {
			return nil, fmt.Errorf("%w: data that is not a PEM block after certificate %d", ErrChain, len(certs))
		}
		blk, r := pem.Decode(rest)
		if blk == nil {
			return nil, fmt.Errorf("%w: block %d is not valid PEM", ErrChain, len(certs)+1)
		}
		if blk.Type != "CERTIFICATE" || len(blk.Headers) != 0 {
			return nil, fmt.Errorf("%w: block %d is %q, want CERTIFICATE without headers", ErrChain, len(certs)+1, blk.Type)
		}
		if len(certs) == MaxChainCerts {
			return nil, fmt.Errorf("%w: more than %d certificates", ErrChain, MaxChainCerts)
		}
		c, err := smx509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: certificate %d: %w", ErrChain, len(certs)+1, err)
		}
		certs = append(certs, c)
		rest = r
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: no certificate", ErrChain)
	}
	return certs, nil
}

// checkLeaf checks the leaf's validity at now, key usages and key type,
// and returns its suite.
func checkLeaf(leaf *smx509.Certificate, now time.Time) (kms.Suite, error) {
	serial := leaf.SerialNumber.Text(16)
	if now.Before(leaf.NotBefore) {
		return "", fmt.Errorf("%w: certificate %s is not valid before %s", ErrCertificate, serial, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	if now.After(leaf.NotAfter) {
		return "", fmt.Errorf("%w: certificate %s expired at %s", ErrCertificate, serial, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if leaf.KeyUsage&smx509.KeyUsageDigitalSignature == 0 {
		return "", fmt.Errorf("%w: certificate %s lacks key usage digitalSignature", ErrCertificate, serial)
	}
	if !slices.Contains(leaf.ExtKeyUsage, smx509.ExtKeyUsageClientAuth) {
		return "", fmt.Errorf("%w: certificate %s lacks extended key usage clientAuth", ErrCertificate, serial)
	}
	return SuiteOf(leaf)
}

// verifySignature verifies sig over msg with pub in suite.
func verifySignature(suite kms.Suite, pub *ecdsa.PublicKey, msg, sig []byte) bool {
	switch suite {
	case kms.GM:
		return sm2.VerifyASN1WithSM2(pub, nil, msg, sig)
	case kms.Intl:
		d := sha256.Sum256(msg)
		return ecdsa.VerifyASN1(pub, d[:], sig)
	}
	return false
}
