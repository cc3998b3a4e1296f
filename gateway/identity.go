package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/authn"
	"github.com/tongxing/tongxing/authz"
	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/department"
)

// TokenVerifier verifies a department service's bearer access token; the
// OpenID provider (*authn.Provider) is one. Rejections wrap
// authn.ErrTokenRejected.
type TokenVerifier interface {
	VerifyServiceToken(ctx context.Context, token string) (*authn.ServiceToken, error)
}

// RevocationChecker says whether a certificate the CA issued was revoked
// at a time; *ca.Authority is one.
type RevocationChecker interface {
	CheckRevocation(ctx context.Context, cert, issuer *smx509.Certificate, at time.Time) error
}

// Caller is a verified caller.
type Caller struct {
	// ID is the recorded identity: the SPIFFE ID of the certificate, or
	// "client:" and the client id of a token.
	ID         string
	Department string
	Service    string // from the certificate's SPIFFE ID
	Client     string // from the token
	CertSerial string // lower-case hex, when a certificate was presented
	Via        string // "mtls" or "token"
	// Token is the verified token, for token callers.
	Token *authn.ServiceToken
}

// IdentityError is a caller the gateway cannot identify: 401.
type IdentityError struct{ Reason string }

func (e *IdentityError) Error() string { return "gateway: caller not identified: " + e.Reason }

// HTTPStatus is 401.
func (e *IdentityError) HTTPStatus() int { return http.StatusUnauthorized }

// ForbiddenError is an identified caller refused before the policy: 403.
type ForbiddenError struct{ Reason string }

func (e *ForbiddenError) Error() string { return "gateway: " + e.Reason }

// HTTPStatus is 403.
func (e *ForbiddenError) HTTPStatus() int { return http.StatusForbidden }

// authzResource is a catalogue entry.
type authzResource = authz.Resource

// authnToken is a verified service token.
type authnToken = authn.ServiceToken

// identifier establishes callers, caching verified tokens and revocation
// answers for a short time.
type identifier struct {
	registry    *department.Registry
	trustDomain string
	tokens      TokenVerifier
	revocation  RevocationChecker
	cacheTTL    time.Duration
	now         func() time.Time

	mu    sync.Mutex
	certs map[string]cached[error]                 // by serial
	toks  map[[32]byte]cached[*authn.ServiceToken] // by SHA-256 of the token
	last  time.Time
}

type cached[T any] struct {
	v       T
	expires time.Time
}

// maxCached bounds each cache; past it the cache is emptied.
const maxCached = 100_000

// identify returns the caller of r. target is the department called, or ""
// for a request that calls none (evidence reads): a token must then still
// be live but its audience is not checked.
func (id *identifier) identify(r *http.Request, target string) (*Caller, error) {
	ctx := r.Context()
	var certCaller *Caller
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		c, err := id.fromCertificate(ctx, r.TLS.PeerCertificates, r.TLS.VerifiedChains)
		if err != nil {
			return nil, err
		}
		certCaller = c
	}
	tok, err := ParseBearer(r.Header)
	if errors.Is(err, errNoBearer) {
		if certCaller == nil {
			return nil, &IdentityError{"present a Tongxing service certificate (mTLS) or a bearer access token from Tongxing's provider"}
		}
		return certCaller, nil
	}
	if err != nil {
		return nil, &IdentityError{err.Error()}
	}
	tc, err := id.fromToken(ctx, tok, target)
	if err != nil {
		return nil, err
	}
	if certCaller != nil {
		if certCaller.Department != tc.Department {
			return nil, &IdentityError{fmt.Sprintf("the certificate names department %s and the token department %s", certCaller.Department, tc.Department)}
		}
		tc.CertSerial = certCaller.CertSerial
	}
	return tc, nil
}

func (id *identifier) fromCertificate(ctx context.Context, peers []*x509.Certificate, chains [][]*x509.Certificate) (*Caller, error) {
	if len(chains) == 0 || len(chains[0]) < 2 {
		return nil, &IdentityError{"the client certificate was not verified against Tongxing's intl root"}
	}
	leaf := peers[0]
	// Go verifies the chain at the handshake only (on the wall clock, as
	// here); a keep-alive connection can outlive the certificate.
	now := time.Now()
	for _, c := range chains[0] {
		if now.Before(c.NotBefore) || now.After(c.NotAfter) {
			return nil, &IdentityError{fmt.Sprintf("the client certificate chain is not valid now (%s: %s to %s)", c.Subject, c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339))}
		}
	}
	if len(leaf.URIs) != 1 {
		return nil, &IdentityError{"the client certificate must carry exactly one SPIFFE ID (a Tongxing service certificate)"}
	}
	dept, svc, err := department.ParseSPIFFEID(leaf.URIs[0], id.trustDomain)
	if err != nil {
		return nil, &IdentityError{err.Error()}
	}
	if _, err := id.registry.Lookup(dept); err != nil {
		return nil, &ForbiddenError{fmt.Sprintf("caller department %s is not a registered department", dept)}
	}
	serial := ca.SerialHex(leaf.SerialNumber)
	if err := id.checkRevocation(ctx, serial, leaf, chains[0][1]); err != nil {
		return nil, err
	}
	return &Caller{ID: leaf.URIs[0].String(), Department: dept, Service: svc, CertSerial: serial, Via: "mtls"}, nil
}

func (id *identifier) checkRevocation(ctx context.Context, serial string, leaf, issuer *x509.Certificate) error {
	now := id.now()
	id.mu.Lock()
	if c, ok := id.certs[serial]; ok && now.Before(c.expires) {
		id.mu.Unlock()
		return c.v
	}
	id.mu.Unlock()
	l, err1 := smx509.ParseCertificate(leaf.Raw)
	is, err2 := smx509.ParseCertificate(issuer.Raw)
	if err := errors.Join(err1, err2); err != nil {
		return &IdentityError{"the client certificate does not parse"}
	}
	err := id.revocation.CheckRevocation(ctx, l, is, now)
	var re *ca.RevokedError
	switch {
	case errors.As(err, &re):
		err = &IdentityError{fmt.Sprintf("the client certificate %s is %s", serial, re.Status)}
	case errors.Is(err, ca.ErrNotFound):
		err = &IdentityError{fmt.Sprintf("the client certificate %s is not in Tongxing's inventory", serial)}
	case err != nil:
		return fmt.Errorf("gateway: revocation check: %w", err) // not cached
	}
	id.store(func() { id.certs[serial] = cached[error]{err, now.Add(id.cacheTTL)} })
	return err
}

func (id *identifier) fromToken(ctx context.Context, tok, target string) (*Caller, error) {
	now := id.now()
	key := sha256.Sum256([]byte(tok))
	id.mu.Lock()
	c, ok := id.toks[key]
	id.mu.Unlock()
	st := c.v
	if !ok || !now.Before(c.expires) {
		var err error
		st, err = id.tokens.VerifyServiceToken(ctx, tok)
		if errors.Is(err, authn.ErrTokenRejected) {
			return nil, &IdentityError{"the bearer token is invalid, expired or revoked, or not a department service's token"}
		}
		if err != nil {
			return nil, fmt.Errorf("gateway: verify token: %w", err)
		}
		exp := now.Add(id.cacheTTL)
		if st.ExpiresAt.Before(exp) {
			exp = st.ExpiresAt
		}
		id.store(func() { id.toks[key] = cached[*authn.ServiceToken]{st, exp} })
	}
	if !now.Before(st.ExpiresAt) {
		return nil, &IdentityError{"the bearer token has expired"}
	}
	if _, err := id.registry.Lookup(st.Department); err != nil {
		return nil, &ForbiddenError{fmt.Sprintf("caller department %s is not a registered department", st.Department)}
	}
	if target != "" && !slices.Contains(st.Audience, target) {
		return nil, &ForbiddenError{fmt.Sprintf("the bearer token is not for department %s (audience %v)", target, st.Audience)}
	}
	return &Caller{ID: "client:" + st.Client, Department: st.Department, Client: st.Client, Via: "token", Token: st}, nil
}

// store runs fn under the lock, pruning expired entries first when due.
func (id *identifier) store(fn func()) {
	id.mu.Lock()
	defer id.mu.Unlock()
	if id.cacheTTL <= 0 {
		return
	}
	now := id.now()
	if now.Sub(id.last) > id.cacheTTL || len(id.certs)+len(id.toks) > maxCached {
		for k, v := range id.certs {
			if !now.Before(v.expires) || len(id.certs) > maxCached {
				delete(id.certs, k)
			}
		}
		for k, v := range id.toks {
			if !now.Before(v.expires) || len(id.toks) > maxCached {
				delete(id.toks, k)
			}
		}
		id.last = now
	}
	fn()
}
