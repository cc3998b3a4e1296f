package revcheck

import (
	"bytes"
	"context"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"net/http"
	"net/url"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/ocsp"
)

// Errors of the checker (wrapped; match with errors.Is). A revoked
// certificate gives [ca.ErrRevoked] instead.
var (
	// ErrUnavailable: neither OCSP nor the CRL gave a verified, fresh answer.
	ErrUnavailable = errors.New("revcheck: revocation status unavailable")
	// ErrUnknown: the OCSP responder does not know the certificate.
	ErrUnknown = errors.New("revcheck: OCSP responder does not know the certificate")
	// ErrInvalidInput: nil certificates, or cert not issued by issuer.
	ErrInvalidInput = errors.New("revcheck: invalid input")
)

// Defaults of [New].
const (
	// DefaultTimeout bounds each HTTP exchange.
	DefaultTimeout = 10 * time.Second
	// DefaultClockSkew is the tolerance when comparing thisUpdate and
	// nextUpdate with the clock.
	DefaultClockSkew = 5 * time.Minute
	// DefaultMaxAge is how old an OCSP response without nextUpdate may be.
	DefaultMaxAge = 7 * 24 * time.Hour
	// DefaultMaxCRLSize is the largest CRL read, in bytes.
	DefaultMaxCRLSize = 16 << 20
)

// Checker checks revocation over HTTP: OCSP first, the CRL when OCSP gives
// no usable answer. It implements signature.RevocationChecker and is safe
// for concurrent use.
type Checker struct {
	client     *http.Client
	now        func() time.Time
	timeout    time.Duration
	skew       time.Duration
	maxAge     time.Duration
	maxCRLSize int64
}

// Option configures [New].
type Option func(*Checker)

// WithHTTPClient sets the client for OCSP and CRL requests, e.g. one that
// trusts the CA's TLS roots. Default: http.DefaultClient.
func WithHTTPClient(c *http.Client) Option { return func(k *Checker) { k.client = c } }

// WithClock sets the clock freshness is judged by. Default: time.Now.
func WithClock(now func() time.Time) Option { return func(k *Checker) { k.now = now } }

// WithTimeout bounds each HTTP exchange. Default: [DefaultTimeout].
func WithTimeout(d time.Duration) Option { return func(k *Checker) { k.timeout = d } }

// WithClockSkew sets the tolerance for thisUpdate in the future and
// nextUpdate in the past. Default: [DefaultClockSkew].
func WithClockSkew(d time.Duration) Option { return func(k *Checker) { k.skew = d } }

// WithMaxAge sets how old an OCSP response without nextUpdate may be.
// Default: [DefaultMaxAge].
func WithMaxAge(d time.Duration) Option { return func(k *Checker) { k.maxAge = d } }

// WithMaxCRLSize sets the largest CRL read, in bytes. Default:
// [DefaultMaxCRLSize].
func WithMaxCRLSize(n int64) Option { return func(k *Checker) { k.maxCRLSize = n } }

// New returns a Checker with the options applied over the defaults.
func New(opts ...Option) (*Checker, error) {
	k := &Checker{
		client: http.DefaultClient, now: time.Now, timeout: DefaultTimeout,
		skew: DefaultClockSkew, maxAge: DefaultMaxAge, maxCRLSize: DefaultMaxCRLSize,
	}
	for _, o := range opts {
		o(k)
	}
	switch {
	case k.client == nil || k.now == nil:
		return nil, fmt.Errorf("%w: nil HTTP client or clock", ErrInvalidInput)
	case k.timeout <= 0 || k.skew < 0 || k.maxAge <= 0 || k.maxCRLSize <= 0:
		return nil, fmt.Errorf("%w: timeout, max age and CRL size must be positive, skew not negative", ErrInvalidInput)
	}
	return k, nil
}

// status is what one source says about a certificate.
type status struct {
	revoked   bool
	revokedAt time.Time
	reason    int // CRLReason; ocsp.NoReason when absent
	source    string
}

// CheckRevocation returns nil when cert, issued by issuer, was not revoked
// at time at; an error wrapping [ca.ErrRevoked] (a [*ca.RevokedError]) when
// it was revoked or put on hold at or before at; [ErrUnknown] when its OCSP
// responder does not know it; and [ErrUnavailable] when neither the OCSP
// responders nor the CRL distribution points of cert gave a verified,
// fresh answer. Freshness is judged at the checker's clock, not at at.
func (k *Checker) CheckRevocation(ctx context.Context, cert, issuer *smx509.Certificate, at time.Time) error {
	if cert == nil || issuer == nil || cert.SerialNumber == nil {
		return fmt.Errorf("%w: nil certificate or issuer", ErrInvalidInput)
	}
	if err := cert.CheckSignatureFrom(issuer); err != nil {
		return fmt.Errorf("%w: certificate %q is not issued by %q: %v", ErrInvalidInput, cert.Subject.String(), issuer.Subject.String(), err)
	}
	serial := ca.SerialHex(cert.SerialNumber)

	ocspErr := errors.New("the certificate names no http(s) OCSP responder")
	var ocspErrs []error
	for _, u := range cert.OCSPServer {
		if !httpURL(u) {
			continue
		}
		st, err := k.askOCSP(ctx, u, cert, issuer)
		if err == nil {
			return decide(st, serial, at)
		}
		if errors.Is(err, ErrUnknown) || ctx.Err() != nil {
			return err
		}
		ocspErrs = append(ocspErrs, err)
	}
	if len(ocspErrs) > 0 {
		ocspErr = errors.Join(ocspErrs...)
	}

	crlErr := errors.New("the certificate names no http(s) CRL distribution point")
	var crlErrs []error
	for _, u := range cert.CRLDistributionPoints {
		if !httpURL(u) {
			continue
		}
		st, err := k.readCRL(ctx, u, cert.SerialNumber, issuer)
		if err == nil {
			return decide(st, serial, at)
		}
		if ctx.Err() != nil {
			return err
		}
		crlErrs = append(crlErrs, err)
	}
	if len(crlErrs) > 0 {
		crlErr = errors.Join(crlErrs...)
	}
	return fmt.Errorf("%w for certificate %s: OCSP: %w; CRL: %w", ErrUnavailable, serial, ocspErr, crlErr)
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// decide turns a source's answer into the result for time at.
func decide(st status, serial string, at time.Time) error {
	if !st.revoked || st.revokedAt.After(at) {
		return nil
	}
	re := &ca.RevokedError{Serial: serial, Status: ca.StatusRevoked, RevokedAt: st.revokedAt.UTC(), Reason: ca.ReasonUnspecified}
	if st.reason >= 0 {
		re.Reason = ca.Reason(st.reason)
	}
	if re.Reason == ca.ReasonCertificateHold {
		re.Status = ca.StatusHold
	}
	return fmt.Errorf("%w, according to %s", re, st.source)
}

// fetch performs one bounded HTTP exchange and returns at most limit bytes
// of a 200 answer.
func (k *Checker) fetch(ctx context.Context, method, u string, body []byte, contentType, accept string, limit int64) ([]byte, string, error) {
	ctx, cancel := context.WithTimeout(ctx, k.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", u, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", accept)
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, "", err // *url.Error names the method and URL
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("%s: HTTP status %s", u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, "", fmt.Errorf("%s: read answer: %w", u, err)
	}
	if int64(len(b)) > limit {
		return nil, "", fmt.Errorf("%s: answer exceeds %d bytes", u, limit)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return b, mt, nil
}

// askOCSP asks one responder about cert and verifies the answer.
func (k *Checker) askOCSP(ctx context.Context, u string, cert, issuer *smx509.Certificate) (status, error) {
	id, err := ocsp.NewCertID(ocsp.SHA1, issuer, cert.SerialNumber)
	if err != nil {
		return status{}, fmt.Errorf("%s: %w", u, err)
	}
	req, err := ocsp.CreateRequest([]ocsp.CertID{id}, nil)
	if err != nil {
		return status{}, fmt.Errorf("%s: %w", u, err)
	}
	der, mt, err := k.fetch(ctx, http.MethodPost, u, req, "application/ocsp-request", "application/ocsp-response", ocsp.MaxResponseSize)
	if err != nil {
		return status{}, err
	}
	if mt != "" && mt != "application/ocsp-response" {
		return status{}, fmt.Errorf("%s: Content-Type %q is not application/ocsp-response", u, mt)
	}
	resp, err := ocsp.ParseResponse(der, issuer)
	if err != nil {
		return status{}, fmt.Errorf("%s: %w", u, err)
	}
	single, ok := resp.Find(cert.SerialNumber)
	if !ok {
		return status{}, fmt.Errorf("%s: the response says nothing (or contradictory things) about serial %s", u, ca.SerialHex(cert.SerialNumber))
	}
	now := k.now()
	switch {
	case resp.ProducedAt.After(now.Add(k.skew)):
		return status{}, fmt.Errorf("%s: response produced in the future (%s)", u, stamp(resp.ProducedAt))
	case single.ThisUpdate.After(now.Add(k.skew)):
		return status{}, fmt.Errorf("%s: response thisUpdate %s is in the future", u, stamp(single.ThisUpdate))
	case !single.NextUpdate.IsZero() && now.Add(-k.skew).After(single.NextUpdate):
		return status{}, fmt.Errorf("%s: stale response: nextUpdate %s has passed", u, stamp(single.NextUpdate))
	case single.NextUpdate.IsZero() && now.Sub(single.ThisUpdate) > k.maxAge:
		return status{}, fmt.Errorf("%s: stale response: thisUpdate %s is older than %s", u, stamp(single.ThisUpdate), k.maxAge)
	}
	src := "OCSP " + u
	switch single.Status {
	case ocsp.Good:
		return status{source: src}, nil
	case ocsp.Revoked:
		return status{revoked: true, revokedAt: single.RevokedAt, reason: single.Reason, source: src}, nil
	default:
		return status{}, fmt.Errorf("%w: %s says %s for serial %s", ErrUnknown, u, single.Status, ca.SerialHex(cert.SerialNumber))
	}
}

var (
	oidDeltaCRLIndicator = asn1.ObjectIdentifier{2, 5, 29, 27}
	oidIssuingDP         = asn1.ObjectIdentifier{2, 5, 29, 28}
)

// readCRL fetches one CRL, verifies it against issuer and looks up serial.
func (k *Checker) readCRL(ctx context.Context, u string, serial *big.Int, issuer *smx509.Certificate) (status, error) {
	der, _, err := k.fetch(ctx, http.MethodGet, u, nil, "", "application/pkix-crl", k.maxCRLSize)
	if err != nil {
		return status{}, err
	}
	crl, err := smx509.ParseRevocationList(der)
	if err != nil {
		return status{}, fmt.Errorf("%s: not a DER CRL: %w", u, err)
	}
	if !bytes.Equal(crl.RawIssuer, issuer.RawSubject) {
		return status{}, fmt.Errorf("%s: CRL issuer %q is not %q", u, crl.Issuer.String(), issuer.Subject.String())
	}
	if err := crl.CheckSignatureFrom(issuer); err != nil {
		return status{}, fmt.Errorf("%s: CRL signature by %q does not verify: %w", u, issuer.Subject.String(), err)
	}
	for _, e := range crl.Extensions {
		switch {
		case e.Id.Equal(oidDeltaCRLIndicator):
			return status{}, fmt.Errorf("%s: a delta CRL, not a complete one", u)
		case e.Id.Equal(oidIssuingDP) && e.Critical:
			return status{}, fmt.Errorf("%s: a CRL with an issuing distribution point (partitioned or indirect) is not supported", u)
		case e.Critical:
			return status{}, fmt.Errorf("%s: CRL has unsupported critical extension %s", u, e.Id)
		}
	}
	now := k.now()
	switch {
	case crl.ThisUpdate.After(now.Add(k.skew)):
		return status{}, fmt.Errorf("%s: CRL thisUpdate %s is in the future", u, stamp(crl.ThisUpdate))
	case crl.NextUpdate.IsZero():
		return status{}, fmt.Errorf("%s: CRL has no nextUpdate", u)
	case now.Add(-k.skew).After(crl.NextUpdate):
		return status{}, fmt.Errorf("%s: stale CRL: nextUpdate %s has passed", u, stamp(crl.NextUpdate))
	}
	src := "CRL " + u
	for _, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber == nil || e.SerialNumber.Cmp(serial) != 0 {
			continue
		}
		for _, x := range e.Extensions {
			if x.Critical {
				return status{}, fmt.Errorf("%s: CRL entry for %s has unsupported critical extension %s", u, ca.SerialHex(serial), x.Id)
			}
		}
		if e.ReasonCode == int(ca.ReasonRemoveFromCRL) {
			return status{}, fmt.Errorf("%s: removeFromCRL entry for %s in a complete CRL", u, ca.SerialHex(serial))
		}
		return status{revoked: true, revokedAt: e.RevocationTime, reason: e.ReasonCode, source: src}, nil
	}
	return status{source: src}, nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
