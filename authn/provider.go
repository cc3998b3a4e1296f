package authn

import (
	"context"
	"crypto"
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/emmansun/gmsm/sm3"
	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/authn/certlogin"
	"github.com/tongxing/tongxing/authn/totp"
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/store"
)

// Lifetimes of what the provider issues. Zero fields take the defaults.
type Lifetimes struct {
	// Code is the authorization code lifetime. Default 60s.
	Code time.Duration
	// AccessToken is the access token lifetime. Default 10m.
	AccessToken time.Duration
	// IDToken is the ID token lifetime. Default 10m.
	IDToken time.Duration
	// RefreshToken is the lifetime of each refresh token; rotation issues a
	// new one with a new lifetime, but never beyond Session from the
	// sign-in the grant came from. Default 8h.
	RefreshToken time.Duration
	// Session is the absolute lifetime of an SSO session. Default 8h.
	Session time.Duration
	// Login is how long a login or consent form stays valid. Default 30m.
	Login time.Duration
}

var defaultLifetimes = Lifetimes{
	Code:         time.Minute,
	AccessToken:  10 * time.Minute,
	IDToken:      10 * time.Minute,
	RefreshToken: 8 * time.Hour,
	Session:      8 * time.Hour,
	Login:        30 * time.Minute,
}

func (l Lifetimes) withDefaults() Lifetimes {
	fill := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	fill(&l.Code, defaultLifetimes.Code)
	fill(&l.AccessToken, defaultLifetimes.AccessToken)
	fill(&l.IDToken, defaultLifetimes.IDToken)
	fill(&l.RefreshToken, defaultLifetimes.RefreshToken)
	fill(&l.Session, defaultLifetimes.Session)
	fill(&l.Login, defaultLifetimes.Login)
	return l
}

type options struct {
	issuer       string
	clients      []ClientConfig
	km           kms.KeyManager
	sealer       kms.KeySealer
	pseudonymKey []byte
	pairwiseKey  []byte
	log          *slog.Logger
	now          func() time.Time
	life         Lifetimes
	account      ThrottlePolicy
	address      ThrottlePolicy
	accessAlg    string
	auditor      Auditor
	certRoots    *smx509.CertPool
	certRev      certlogin.Revocation
	keyStorage   KeyStorage
	qr           QRLogin
}

// Option configures [New].
type Option func(*options)

// WithIssuer sets the issuer URL (required): https, or http on a loopback
// host for development; no query, fragment or user information. A path is
// allowed, and every endpoint is then served below it.
func WithIssuer(u string) Option { return func(o *options) { o.issuer = u } }

// WithClients registers clients from configuration. They are validated by
// New; clients added with [Provider.AddClient] live in the database.
func WithClients(c ...ClientConfig) Option {
	return func(o *options) { o.clients = append(o.clients, c...) }
}

// WithKeyPassphrase seals the signing keys stored in the database under
// p with kms.NewPassphraseSealer, the format kms/softkms writes.
//
// Deprecated: pass the server's key manager with [WithKeySealer].
func WithKeyPassphrase(p []byte) Option {
	return func(o *options) {
		o.sealer = nil
		if s, err := kms.NewPassphraseSealer(p); err == nil {
			o.sealer = s
		}
	}
}

// WithKeySealer sets the sealer (required) of the signing keys stored in
// the database: always the RS256 keys, and the ES256 and SM2 keys unless a
// key manager is given. It must also be a kms.SecretSealer, which seals
// the data key of the one-time code secrets. kms/softkms seals them under
// the key passphrase. Every replica must be able to open what another
// sealed (the same passphrase).
func WithKeySealer(s kms.KeySealer) Option {
	return func(o *options) { o.sealer = s }
}

// WithKeyManager makes the provider create its ES256 (kms.Intl) and SM2
// (kms.GM) signing keys in km, named "oidc-<kid>", instead of storing them
// encrypted in the database. RS256 keys stay in the database, as kms has
// no RSA suite. With several replicas, km must give every replica the same
// keys (a shared HSM); the default (no key manager) needs nothing shared
// but the database.
func WithKeyManager(km kms.KeyManager) Option { return func(o *options) { o.km = km } }

// WithPseudonymKey sets the key (copied) of the HMAC-SM3 pseudonyms of
// personal ID numbers (ident.Pseudonym), the same per-deployment secret the
// CA uses. Without it, accounts with an ID number cannot be added.
func WithPseudonymKey(k []byte) Option {
	return func(o *options) { o.pseudonymKey = append([]byte(nil), k...) }
}

// WithPairwiseKey sets the key (copied, at least 32 bytes) of pairwise
// subject identifiers. Default: a random key made on first start and kept
// in the database (authn_settings), shared by replicas. Changing it changes
// every pairwise sub.
func WithPairwiseKey(k []byte) Option {
	return func(o *options) { o.pairwiseKey = append([]byte(nil), k...) }
}

// WithLogger sets the logger (default slog.Default()). Secrets are never
// logged.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithClock sets the clock (default time.Now).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithLifetimes overrides lifetimes; zero fields keep their defaults.
func WithLifetimes(l Lifetimes) Option { return func(o *options) { o.life = l } }

// WithThrottle overrides the brute-force throttling of accounts and client
// addresses (see [ThrottlePolicy] for the defaults).
func WithThrottle(account, address ThrottlePolicy) Option {
	return func(o *options) { o.account, o.address = account, address }
}

// WithAccessTokenAlg sets the algorithm of access tokens: RS256 (default),
// ES256 or SM2.
func WithAccessTokenAlg(alg string) Option { return func(o *options) { o.accessAlg = alg } }

// WithCertLogin enables certificate login (assurance level
// urn:tongxing:loa:4, see [ACRCertificate]): a citizen-card or enterprise
// e-cert certificate chaining to roots (Tongxing's CA roots; the system
// roots are never used), checked for revocation with rev (Tongxing's
// *ca.Authority, or ca/revcheck for other CAs). Both are required; without
// this option the login page offers no certificate login and
// POST /login/cert answers 404.
func WithCertLogin(roots *smx509.CertPool, rev certlogin.Revocation) Option {
	return func(o *options) { o.certRoots, o.certRev = roots, rev }
}

// Provider is the OpenID Connect provider. It is safe for concurrent use;
// several replicas may share one PostgreSQL database.
//
// It is built of parts that share only [base]: the OAuth endpoints (the
// token endpoint [tokenEndpoint]; introspection, revocation and userinfo
// in [tokenChecks]; both authenticate clients with [clientAuth]), the
// authorization endpoint ([authorizer]), the login methods on [loginFlow]
// ([loginPages]: password, one-time code, consent; [certLogin]:
// certificate and mTLS), SSO sessions and logout ([sessions]), the
// self-service pages ([mePages], [totpEnrolment]) and discovery
// ([metadata]). [Provider.Routes] is the one route table.
type Provider struct {
	*base
	db      *store.DB
	store   sqlStore
	clients *clientRegistry
	users   *Users
	keys    *keyStore
	thr     *throttle

	tokens *tokenEndpoint
	checks *tokenChecks
	authz  *authorizer
	login  *loginPages
	cert   *certLogin
	sess   *sessions
	me     *mePages
	enrol  *totpEnrolment
	meta   *metadata
}

// base is what every part of the provider shares: its issuer, clock,
// lifetimes, log, audit trail, pages and pairwise-subject key.
type base struct {
	issuer      string
	prefix      string // path of the issuer URL, without trailing slash
	log         *slog.Logger
	now         func() time.Time
	life        Lifetimes
	auditor     Auditor
	pairwiseKey []byte
	pages       *pages
}

// New returns a provider on db. It validates the options and clients,
// loads (or, on first start, creates) the pairwise-subject key and a
// current and a next signing key for each of RS256, ES256 and SM2, and
// decrypts the current ones, so a wrong passphrase fails here. Errors of
// options wrap ErrConfig or ErrInvalidClientConfig.
func New(ctx context.Context, db *store.DB, opts ...Option) (*Provider, error) {
	o := options{
		log:       slog.Default(),
		now:       time.Now,
		account:   defaultAccountThrottle,
		address:   defaultAddressThrottle,
		accessAlg: AlgRS256,
	}
	for _, opt := range opts {
		opt(&o)
	}
	o.life = o.life.withDefaults()
	if db == nil {
		return nil, fmt.Errorf("%w: no database", ErrConfig)
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	if o.now == nil {
		o.now = time.Now
	}
	issuer, prefix, err := checkIssuer(o.issuer)
	if err != nil {
		return nil, err
	}
	if o.sealer == nil {
		return nil, fmt.Errorf("%w: WithKeySealer is required", ErrConfig)
	}
	if o.pairwiseKey != nil && len(o.pairwiseKey) < 32 {
		return nil, fmt.Errorf("%w: the pairwise key must be at least 32 bytes", ErrConfig)
	}
	if !slices.Contains(signingAlgs, o.accessAlg) {
		return nil, fmt.Errorf("%w: access token algorithm %s (want RS256, ES256 or SM2)", ErrConfig, quote(o.accessAlg))
	}
	if err := o.account.valid(); err != nil {
		return nil, err
	}
	if err := o.address.valid(); err != nil {
		return nil, err
	}
	clients, err := newClientRegistry(db, o.clients)
	if err != nil {
		return nil, err
	}
	b := &base{issuer: issuer, prefix: prefix, log: o.log, now: o.now, life: o.life, pairwiseKey: o.pairwiseKey, auditor: o.auditor}
	p := &Provider{
		base: b, db: db, clients: clients,
		users: NewUsers(db, o.pseudonymKey, o.now),
		thr:   &throttle{db: db, now: o.now, account: o.account, address: o.address},
		keys: &keyStore{
			db: db, km: o.km, sealer: o.sealer, now: o.now,
			retain:  max(o.life.IDToken, o.life.AccessToken) + keyCacheTTL + 5*time.Minute,
			signers: map[string]crypto.Signer{},
		},
	}
	if err := p.assemble(o); err != nil {
		return nil, err
	}
	ss, ok := o.sealer.(kms.SecretSealer)
	if !ok {
		return nil, fmt.Errorf("%w: the key sealer %T cannot seal secrets (kms.SecretSealer), which one-time code secrets need", ErrConfig, o.sealer)
	}
	if p.users.totp, err = openTOTPBox(ctx, db, ss); err != nil {
		return nil, err
	}
	if err := p.users.sealLegacyTOTP(ctx); err != nil {
		return nil, err
	}
	if p.pages, err = newPages(prefix); err != nil {
		return nil, err
	}
	if p.pairwiseKey == nil {
		if p.pairwiseKey, err = loadSetting(ctx, db, "pairwise_key", 32); err != nil {
			return nil, err
		}
	}
	if err := p.keys.ensure(ctx); err != nil {
		return nil, err
	}
	for _, alg := range signingAlgs {
		if _, _, err := p.keys.current(ctx, alg); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// assemble builds the parts of the provider on its shared stores.
func (p *Provider) assemble(o options) error {
	if (o.certRoots == nil) != (o.certRev == nil) {
		return fmt.Errorf("%w: WithCertLogin needs both the roots and the revocation checker", ErrConfig)
	}
	verifier, err := totp.NewVerifier(dbUsedSteps{db: p.db, table: "authn_totp"})
	if err != nil {
		return err
	}
	st := newSQLStore(p.db)
	p.store = st
	p.sess = &sessions{base: p.base, store: st, users: p.users, clients: p.clients, keys: p.keys}
	auth := &clientAuth{base: p.base, clients: p.clients, assertions: st, revocation: o.certRev}
	p.checks = &tokenChecks{base: p.base, auth: auth, records: st, revoker: st, clients: p.clients, users: p.users, keys: p.keys}
	p.tokens = &tokenEndpoint{base: p.base, auth: auth, checks: p.checks, grants: st, users: p.users, keys: p.keys, accessAlg: o.accessAlg}
	p.authz = &authorizer{base: p.base, codes: st, logins: st, clients: p.clients, keys: p.keys, sess: p.sess}
	flow := &loginFlow{base: p.base, logins: st, revoker: st, clients: p.clients, users: p.users, thr: p.thr, authz: p.authz, sess: p.sess}
	p.cert = &certLogin{
		base: p.base, challenges: st, users: p.users, thr: p.thr, login: flow,
		certRoots: o.certRoots, certRev: o.certRev, used: dbUsedChallenges{db: p.db, now: p.now}, keyStorage: o.keyStorage, qr: o.qr,
	}
	p.login = &loginPages{loginFlow: flow, totp: verifier, offers: []loginOffer{p.cert.offerCertLogin}}
	p.me = &mePages{base: p.base, store: st, clients: p.clients, sess: p.sess}
	p.enrol = &totpEnrolment{base: p.base, store: st, steps: dbUsedSteps{db: p.db, table: "authn_totp_enrolments"}, users: p.users, thr: p.thr, sess: p.sess, login: flow}
	p.meta = &metadata{base: p.base, keys: p.keys}
	return nil
}

// checkIssuer validates the issuer URL and returns it without a trailing
// slash, and its path.
func checkIssuer(raw string) (string, string, error) {
	if raw == "" {
		return "", "", fmt.Errorf("%w: WithIssuer is required", ErrConfig)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.Contains(raw, "#") {
		return "", "", fmt.Errorf("%w: issuer %s is not an absolute URL without query, fragment or user information", ErrConfig, quote(raw))
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())) {
		return "", "", fmt.Errorf("%w: issuer %s must use https", ErrConfig, quote(raw))
	}
	iss := strings.TrimSuffix(raw, "/")
	return iss, strings.TrimSuffix(u.EscapedPath(), "/"), nil
}

// Issuer returns the issuer URL.
func (p *Provider) Issuer() string { return p.issuer }

// Users returns the account store.
func (p *Provider) Users() *Users { return p.users }

// Client returns the registered client id (from configuration or the
// database), or an error wrapping ErrClientNotFound.
func (p *Provider) Client(ctx context.Context, id string) (*Client, error) {
	return p.clients.get(ctx, id)
}

// ListClients returns the registered clients, those from the
// configuration first, then (at most a thousand) from the database, each
// group by ID, without secrets.
func (p *Provider) ListClients(ctx context.Context) ([]ClientSummary, error) {
	static, stored, err := p.clients.list(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ClientSummary, 0, len(static)+len(stored))
	for _, c := range static {
		out = append(out, c.summary(true))
	}
	for _, c := range stored {
		out = append(out, c.summary(false))
	}
	return out, nil
}

// AddClient validates cfg and stores it in the database. For a
// confidential client without SecretHash it generates a secret and returns
// it; it is shown only this once. An ID already taken (in the database or
// the configuration) gives an error wrapping ErrClientExists.
func (p *Provider) AddClient(ctx context.Context, cfg ClientConfig) (secret string, err error) {
	secret, _, err = p.clients.add(ctx, cfg, p.now().UnixNano())
	return secret, err
}

// Rotate rotates the signing keys of algs (default: RS256, ES256 and SM2):
// the current key of each is retired but stays published until the tokens
// it signed have expired (the longer of the ID and access token lifetimes,
// plus a margin), the next key becomes current, and a new next key is
// published. It fails with ErrRotationTooSoon, changing nothing, if a next
// key has been published for less than KeyPrePublication, so that relying
// parties have seen a key before it signs. Retired keys past their time
// are withdrawn and their private keys erased from the database. Other
// replicas start signing with the new key within a few seconds; until then
// they sign with the retired key, which is still published.
func (p *Provider) Rotate(ctx context.Context, algs ...string) error {
	if len(algs) == 0 {
		algs = signingAlgs
	}
	if err := p.keys.rotate(ctx, algs); err != nil {
		return err
	}
	p.log.InfoContext(ctx, "rotated OpenID Connect signing keys", "algs", algs)
	return nil
}

// Endpoint paths, relative to the issuer URL.
const (
	pathDiscovery = "/.well-known/openid-configuration"
	pathJWKS      = "/oauth2/jwks"
	pathSM2JWKS   = "/oauth2/sm2-jwks"
	pathAuthorize = "/oauth2/authorize"
	pathToken     = "/oauth2/token"
	pathUserinfo  = "/oauth2/userinfo"
	pathLogin     = "/login"
	pathConsent   = "/login/consent"
	pathCSS       = "/login/static/login.css"
)

// Routes registers the provider's endpoints on mux, below the issuer's
// path: discovery, the two key sets, the OAuth endpoints, logout, the
// login pages and the account holder's own pages.
func (p *Provider) Routes(mux *http.ServeMux) {
	for _, rt := range []struct {
		pattern string
		serve   http.HandlerFunc
	}{
		// What relying parties read first.
		{"GET " + pathDiscovery, p.meta.serveDiscovery},
		{"GET " + pathJWKS, p.meta.serveJWKS},
		{"GET " + pathSM2JWKS, p.meta.serveSM2JWKS},
		// OAuth endpoints.
		{"GET " + pathAuthorize, p.authz.serveAuthorize},
		{"POST " + pathAuthorize, p.authz.serveAuthorize},
		{"POST " + pathToken, p.tokens.serveToken},
		{"OPTIONS " + pathToken, p.meta.servePreflight},
		{"GET " + pathUserinfo, p.checks.serveUserinfo},
		{"POST " + pathUserinfo, p.checks.serveUserinfo},
		{"OPTIONS " + pathUserinfo, p.meta.servePreflight},
		{"POST " + pathIntrospect, p.checks.serveIntrospect},
		{"POST " + pathRevoke, p.checks.serveRevoke},
		{"GET " + pathLogout, p.sess.serveLogout},
		{"POST " + pathLogout, p.sess.serveLogout},
		// Login pages: password and one-time code, consent, certificate.
		{"GET " + pathLogin, p.login.serveLoginPage},
		{"POST " + pathLogin, p.login.serveLoginSubmit},
		{"POST " + pathConsent, p.login.serveConsentSubmit},
		{"GET " + pathCSS, p.login.serveCSS},
		{"GET " + pathCertChallenge, p.cert.serveCertChallenge},
		{"POST " + pathCertLogin, p.cert.serveCertLogin},
		{"GET " + pathQRLogin, p.cert.serveQRLogin},
		{"GET " + pathMTLSLogin, p.cert.serveMTLSLogin},
		// The account holder's own pages.
		{"GET " + pathMeSessions, p.me.serveMySessions},
		{"DELETE " + pathMeSessions + "/{id}", p.me.serveEndMySession},
		{"POST " + pathMeSessions + "/{id}/end", p.me.serveEndMySession},
		{"GET " + pathMeTOTP, p.enrol.serveTOTPEnrolPage},
		{"POST " + pathMeTOTP, p.enrol.serveTOTPEnrolSubmit},
	} {
		method, path, _ := strings.Cut(rt.pattern, " ")
		mux.HandleFunc(method+" "+p.prefix+path, rt.serve)
	}
}

// subject returns the sub of userID for client c: pairwise (the default)
// is the unpadded base64url HMAC-SM3, under the pairwise key, of the
// client's sector identifier, a zero byte and the user ID; public is the
// user ID.
func (b *base) subject(c *Client, userID string) string {
	if c.SubjectType == SubjectPublic {
		return userID
	}
	mac := hmac.New(sm3.New, b.pairwiseKey)
	mac.Write([]byte(c.SectorIdentifier))
	mac.Write([]byte{0})
	mac.Write([]byte(userID))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// logError logs err, with msg and the request's method and path, unless
// it is the request's own cancellation.
func (b *base) logError(r *http.Request, msg string, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	b.log.ErrorContext(r.Context(), msg, "method", r.Method, "path", r.URL.Path, "err", err)
}
