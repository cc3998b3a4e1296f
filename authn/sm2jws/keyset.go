package sm2jws

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

var (
	_ oidc.KeySet = (*StaticKeySet)(nil)
	_ oidc.KeySet = (*RemoteKeySet)(nil)
)

// StaticKeySet is a go-oidc KeySet over a fixed set of SM2 public keys. It is
// immutable and safe for concurrent use.
type StaticKeySet struct {
	keys map[string]*ecdsa.PublicKey
}

// NewStaticKeySet returns a key set of keys. Every key must be a valid SM2 JWK
// ([JWK.PublicKey]) with a non-empty kid unique among keys; errors wrap
// [ErrInvalidKey] or [ErrAlgorithm].
func NewStaticKeySet(keys ...JWK) (*StaticKeySet, error) {
	m, err := keyMap(keys)
	if err != nil {
		return nil, err
	}
	return &StaticKeySet{keys: m}, nil
}

// VerifySignature parses jwt as a compact JWS with alg "SM2" and a kid (see
// the package documentation for the limits), verifies its signature with the
// key of that kid and returns the payload. It does NOT check any claim; that
// is the caller's job (go-oidc's IDTokenVerifier does it). Errors wrap
// [ErrTooLarge], [ErrMalformedJWS], [ErrAlgorithm], [ErrUnknownKey] or
// [ErrInvalidSignature].
func (s *StaticKeySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	return verifyWith(ctx, jwt, func(_ context.Context, kid string) (*ecdsa.PublicKey, error) {
		if pub, ok := s.keys[kid]; ok {
			return pub, nil
		}
		return nil, fmt.Errorf("%w: kid %s", ErrUnknownKey, quote(kid))
	})
}

// DefaultMinRefreshInterval is how long a [RemoteKeySet] waits, by default,
// after one fetch before a token with an unknown kid may cause another: 30s.
const DefaultMinRefreshInterval = 30 * time.Second

// defaultFetchTimeout bounds a fetch made with the default HTTP client.
const defaultFetchTimeout = 30 * time.Second

// RemoteKeySet is a go-oidc KeySet that fetches the provider's SM2 JWK Set
// (the URL in the discovery field [DiscoveryField]) over HTTP and caches it.
// The first verification fetches the set; a token whose kid is not cached
// causes a refetch, but at most once per minimum refresh interval (default
// [DefaultMinRefreshInterval]), so a flood of tokens with made-up kids costs
// at most one request per interval. Fetches are serialised: concurrent
// verifications wait for one fetch rather than making their own. A fetched
// set replaces the cached one; a failed fetch keeps it.
//
// It does NOT honour Cache-Control or Expires, and it does not refetch on its
// own: a key the provider has withdrawn keeps verifying here until a token
// with an unknown kid triggers a refetch. Content-Type is not checked. It is
// safe for concurrent use.
type RemoteKeySet struct {
	url        string
	client     *http.Client
	ctxClient  *http.Client // from the construction context, if any
	minRefresh time.Duration
	now        func() time.Time

	sem chan struct{} // holds a token while a fetch runs

	mu      sync.RWMutex
	keys    map[string]*ecdsa.PublicKey
	fetched time.Time // time of the last fetch attempt; zero before the first
}

// Option configures a [RemoteKeySet].
type Option func(*RemoteKeySet)

// WithHTTPClient makes the key set fetch with c. By default it uses the
// client that oidc.ClientContext (or oauth2.HTTPClient) put in the context of
// VerifySignature, else the one in the context given to [NewRemoteKeySet],
// else a client with a 30 s timeout.
func WithHTTPClient(c *http.Client) Option {
	return func(r *RemoteKeySet) { r.client = c }
}

// WithMinRefreshInterval sets the least time between two fetches caused by
// unknown kids (default [DefaultMinRefreshInterval]). Values below zero count
// as zero.
func WithMinRefreshInterval(d time.Duration) Option {
	return func(r *RemoteKeySet) { r.minRefresh = max(d, 0) }
}

// WithClock sets the clock used for the refresh interval (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(r *RemoteKeySet) { r.now = now }
}

// NewRemoteKeySet returns a key set that fetches the SM2 JWK Set at jwksURL.
// ctx is used only for its values (an HTTP client set by oidc.ClientContext);
// its cancellation is ignored, like go-oidc's own NewRemoteKeySet. Nothing is
// fetched until the first verification, so an unusable URL shows up there as
// an error wrapping [ErrFetch].
func NewRemoteKeySet(ctx context.Context, jwksURL string, opts ...Option) *RemoteKeySet {
	r := &RemoteKeySet{
		url:        jwksURL,
		minRefresh: DefaultMinRefreshInterval,
		now:        time.Now,
		sem:        make(chan struct{}, 1),
	}
	if c, ok := ctx.Value(oauth2.HTTPClient).(*http.Client); ok && c != nil {
		r.ctxClient = c
	}
	for _, o := range opts {
		o(r)
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r
}

// NewRemoteKeySetFromProvider returns a [RemoteKeySet] for the URL in p's
// discovery document field "sm2_jwks_uri". The URL must be absolute http or
// https; it is trusted as far as the discovery document is (fetched by
// oidc.NewProvider over the issuer's TLS). Errors wrap [ErrFetch].
func NewRemoteKeySetFromProvider(ctx context.Context, p *oidc.Provider, opts ...Option) (*RemoteKeySet, error) {
	var meta struct {
		URL string `json:"sm2_jwks_uri"`
	}
	if err := p.Claims(&meta); err != nil {
		return nil, fmt.Errorf("%w: reading %s from discovery: %w", ErrFetch, DiscoveryField, err)
	}
	if meta.URL == "" {
		return nil, fmt.Errorf("%w: discovery document has no %s", ErrFetch, DiscoveryField)
	}
	u, err := url.Parse(meta.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%w: %s %s is not an absolute http(s) URL", ErrFetch, DiscoveryField, quote(meta.URL))
	}
	return NewRemoteKeySet(ctx, meta.URL, opts...), nil
}

// VerifySignature parses jwt as a compact JWS with alg "SM2" and a kid,
// verifies it with the key of that kid (fetching the key set as described on
// [RemoteKeySet]) and returns the payload. HTTP requests use ctx for
// cancellation. It does NOT check any claim. Errors wrap [ErrTooLarge],
// [ErrMalformedJWS], [ErrAlgorithm], [ErrUnknownKey], [ErrFetch] or
// [ErrInvalidSignature].
func (r *RemoteKeySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	return verifyWith(ctx, jwt, r.key)
}

// key returns the cached key for kid, fetching the set if kid is unknown and
// the refresh interval allows it.
func (r *RemoteKeySet) key(ctx context.Context, kid string) (*ecdsa.PublicKey, error) {
	if pub := r.cached(kid); pub != nil {
		return pub, nil
	}
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: waiting for fetch of %s: %w", ErrFetch, r.url, ctx.Err())
	}
	defer func() { <-r.sem }()

	// Another verification may have fetched while this one waited.
	r.mu.RLock()
	pub, last := r.keys[kid], r.fetched
	r.mu.RUnlock()
	if pub != nil {
		return pub, nil
	}
	now := r.now()
	if !last.IsZero() && now.Sub(last) < r.minRefresh {
		return nil, fmt.Errorf("%w: kid %s (key set fetched %s ago; next refetch allowed after %s)",
			ErrUnknownKey, quote(kid), now.Sub(last).Round(time.Second), r.minRefresh)
	}
	keys, err := r.fetch(ctx)
	r.mu.Lock()
	// A fetch cut short by the caller's own context says nothing about the
	// server, so it does not count against the refresh interval.
	if err == nil || ctx.Err() == nil {
		r.fetched = now
	}
	if err == nil {
		r.keys = keys
	}
	r.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if pub := keys[kid]; pub != nil {
		return pub, nil
	}
	return nil, fmt.Errorf("%w: kid %s is not in %s", ErrUnknownKey, quote(kid), r.url)
}

func (r *RemoteKeySet) cached(kid string) *ecdsa.PublicKey {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.keys[kid]
}

// httpClient picks the client for a fetch; see WithHTTPClient.
func (r *RemoteKeySet) httpClient(ctx context.Context) *http.Client {
	if r.client != nil {
		return r.client
	}
	if c, ok := ctx.Value(oauth2.HTTPClient).(*http.Client); ok && c != nil {
		return c
	}
	if r.ctxClient != nil {
		return r.ctxClient
	}
	return &http.Client{Timeout: defaultFetchTimeout}
}

// fetch GETs and parses the JWK Set.
func (r *RemoteKeySet) fetch(ctx context.Context) (map[string]*ecdsa.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrFetch, quote(r.url), err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := r.httpClient(ctx).Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrFetch, r.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: %s: HTTP status %s", ErrFetch, r.url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSetSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: reading body: %w", ErrFetch, r.url, err)
	}
	set, err := ParseJWKSet(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrFetch, r.url, err)
	}
	keys, err := keyMap(set.Keys)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrFetch, r.url, err)
	}
	return keys, nil
}
