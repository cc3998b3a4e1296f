package server

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/emmansun/gmsm/smx509"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/auditlog"
	"github.com/tongxing/tongxing/authn"
	"github.com/tongxing/tongxing/authn/certlogin"
	"github.com/tongxing/tongxing/authn/qrlogin"
	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/acmeca"
	"github.com/tongxing/tongxing/ca/kmc"
	"github.com/tongxing/tongxing/forwarded"
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/kms/softkms"
	"github.com/tongxing/tongxing/problem"
	"github.com/tongxing/tongxing/signature"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/timestamp"
)

// Server is a running Tongxing instance's wiring. Create it with [Open], serve
// with [Server.Serve], release it with [Server.Close].
type Server struct {
	cfg      Config
	log      *slog.Logger
	db       *store.DB
	km       *softkms.Manager
	caStore  *ca.SQLStore
	CA       *ca.Authority
	Tokens   *access.Tokens
	registry *prometheus.Registry
	tlsCert  *tls.Certificate
	handler  http.Handler
	ocsp     *ca.OCSPResponder
	kmc      *kmc.Centre
	tsa      *timestamp.Authority
	audit    *auditlog.Log
	acme     *acmeca.Server
	oidc     *authn.Provider
	gw       *gatewayState
	webKey   []byte
	qr       *qrlogin.Service

	metricsToken string
	draining     atomic.Bool
	trust        *forwarded.Trust // set by Serve
}

// Open loads everything cfg names. The data directory must be initialised
// (see [Init] and [DevBootstrap]).
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Resolve(); err != nil {
		return nil, err
	}
	if !Initialized(&cfg) {
		return nil, fmt.Errorf("%s holds no PKI: run `tongxing init` first", cfg.Data)
	}
	pass, err := LoadPassphrase(&cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, registry: prometheus.NewRegistry()}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	if s.db, err = store.Open(ctx, cfg.Database); err != nil {
		return nil, err
	}
	if s.km, err = softkms.New(cfg.keysDir(), pass); err != nil {
		return nil, err
	}
	pseudonymKey, err := os.ReadFile(filepath.Join(cfg.secretsDir(), "pseudonym.key"))
	if err != nil {
		return nil, fmt.Errorf("pseudonym key: %w", err)
	}
	if s.audit, err = s.openAudit(ctx, pseudonymKey); err != nil {
		return nil, err
	}
	for _, d := range cfg.Deprecations() {
		log.WarnContext(ctx, "deprecated configuration", "warning", d)
	}
	keyStorage, err := cfg.keyStoragePolicies()
	if err != nil {
		return nil, err
	}
	if err := s.openCA(ctx, pseudonymKey, keyStorage); err != nil {
		return nil, err
	}
	if s.tlsCert, err = s.serverCertificate(ctx); err != nil {
		return nil, err
	}
	if s.ocsp, err = s.openOCSP(ctx); err != nil {
		return nil, err
	}
	if s.kmc, err = s.openKMC(ctx); err != nil {
		return nil, err
	}
	if s.tsa, err = s.openTSA(ctx); err != nil {
		return nil, err
	}
	// The audit log has recorded what the start issued; with the TSA open
	// its checkpoints can be timestamped.
	if err := s.audit.StartCheckpoints(ctx, auditStamper(s.tsa)); err != nil {
		return nil, fmt.Errorf("audit checkpoints: %w", err)
	}
	if s.acme, err = s.openACME(ctx); err != nil {
		return nil, err
	}
	if err := s.openSignOn(ctx, pseudonymKey, keyStorage); err != nil {
		return nil, err
	}
	if s.Tokens, err = s.openOfficers(ctx); err != nil {
		return nil, err
	}
	if s.metricsToken, err = loadOrCreateMetricsToken(cfg.MetricsTokenFile()); err != nil {
		return nil, err
	}
	if err := s.openGateway(ctx, pseudonymKey); err != nil {
		return nil, err
	}
	if s.handler, err = s.routes(); err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

// openCA loads the CA hierarchies and profiles and builds the CA over its
// SQL store, auditing into the audit log.
func (s *Server) openCA(ctx context.Context, pseudonymKey []byte, keyStorage ca.KeyStoragePolicies) error {
	cfg := &s.cfg
	cas, err := ca.LoadPKI(ctx, s.km, cfg.pkiDir())
	if err != nil {
		return err
	}
	profiles, err := loadProfiles(cfg)
	if err != nil {
		return err
	}
	departments, err := cfg.DepartmentRegistry()
	if err != nil {
		return err
	}
	s.caStore = ca.NewSQLStore(s.db)
	s.CA, err = ca.New(cas, s.caStore, s.caStore,
		ca.WithProfiles(profiles),
		ca.WithDepartments(departments),
		ca.WithKeyStoragePolicies(keyStorage),
		ca.WithPublicURL(cfg.PublicURL),
		ca.WithPublicHTTPURL(cfg.PublicHTTPURL),
		ca.WithTrustDomain(cfg.CA.TrustDomain),
		ca.WithPseudonymKey(pseudonymKey),
		ca.WithRefusalLimits(ca.RefusalLimits{Burst: cfg.CA.Refusals.Burst, Every: cfg.CA.Refusals.Every, AuditInterval: cfg.CA.Refusals.AuditInterval}),
		ca.WithLogger(s.log),
		ca.WithAuditor(caAuditor{s.audit}))
	return err
}

// openSignOn opens the pages' cookie key, scan to sign in and the OpenID
// Connect provider with certificate login against the CA.
func (s *Server) openSignOn(ctx context.Context, pseudonymKey []byte, keyStorage ca.KeyStoragePolicies) error {
	var err error
	if s.webKey, err = webKey(ctx, s.km); err != nil {
		return err
	}
	if s.qr, err = qrlogin.New(s.db, s.cfg.PublicURL, certlogin.VerifyOptions{Roots: s.loginRoots(), Revocation: s.CA}, s.log); err != nil {
		return err
	}
	s.oidc, err = OpenProvider(ctx, &s.cfg, s.db, s.km, authn.WithLogger(s.log), authn.WithClients(pageClients(s.cfg.PublicURL)...), authn.WithQRLogin(s.qr),
		authn.WithAuditor(authnAuditor{log: s.audit, citizenKey: pseudonymKey}),
		authn.WithCertLogin(s.loginRoots(), s.CA), authn.WithKeyStorage(keyStorage))
	return err
}

func loadProfiles(cfg *Config) (map[string]*ca.Profile, error) {
	fsys := ca.BuiltinProfiles()
	if cfg.CA.ProfilesDir != "" {
		fsys = os.DirFS(cfg.CA.ProfilesDir)
	}
	profiles, err := ca.LoadProfiles(fsys)
	if err != nil {
		return nil, err
	}
	for name, opts := range cfg.CA.ProfileOptions {
		p, ok := profiles[name]
		if !ok {
			return nil, fmt.Errorf("config: ca.profile_options names unknown profile %q", name)
		}
		for k, v := range opts {
			if err := p.SetOption(k, v); err != nil {
				return nil, fmt.Errorf("config: %w", err)
			}
		}
	}
	for name, oids := range cfg.CA.CertificatePolicies {
		p, ok := profiles[name]
		if !ok {
			return nil, fmt.Errorf("config: ca.certificate_policies names unknown profile %q", name)
		}
		if err := p.SetPolicies(oids); err != nil {
			return nil, fmt.Errorf("config: ca.certificate_policies: %w", err)
		}
	}
	return profiles, nil
}

// serverCertificate loads tls/server.crt, or issues a new one from the intl
// issuing CA when it is missing, expires within 30 days, or names other hosts
// than configured. The key is "tls-server" in the key manager.
func (s *Server) serverCertificate(ctx context.Context) (*tls.Certificate, error) {
	path := filepath.Join(s.cfg.Data, "tls", "server.crt")
	if _, err := s.CA.CA("intl-issuing"); err != nil {
		return nil, errors.New("the HTTPS listener needs a certificate from the intl (ECDSA) hierarchy, and this PKI has none: initialise with --suites gm,intl")
	}
	key, err := s.km.Signer(ctx, "tls-server")
	if errors.Is(err, kms.ErrKeyNotFound) {
		key, err = s.km.CreateKey(ctx, "tls-server", kms.Intl)
	}
	if err != nil {
		return nil, fmt.Errorf("server TLS key: %w", err)
	}
	if chain, err := os.ReadFile(path); err == nil {
		if c, leaf, err := parseChain(chain, key); err == nil &&
			time.Until(leaf.NotAfter) > 30*24*time.Hour && sameHosts(leaf, s.cfg.TLS.Hosts) {
			return c, nil
		}
	}
	var subj ca.Subject
	subj.Department, subj.Service = "tongxing", "server"
	subj.Organization = s.cfg.PKI.Organization
	for _, h := range s.cfg.TLS.Hosts {
		if net.ParseIP(h) != nil {
			subj.IPAddresses = append(subj.IPAddresses, h)
		} else {
			subj.DNSNames = append(subj.DNSNames, h)
		}
	}
	issued, err := s.CA.Issue(ctx, ca.IssueRequest{PublicKey: key.Public(), Profile: "service", Subject: subj, RequestedBy: "system:serve"})
	if err != nil {
		return nil, fmt.Errorf("issue server TLS certificate: %w", err)
	}
	var chainPEM []byte
	for _, c := range append([]*smx509.Certificate{issued.Certificate}, issued.Chain...) {
		chainPEM = append(chainPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path+".tmp", chainPEM, 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "issued server TLS certificate", "serial", issued.Record.Serial, "hosts", s.cfg.TLS.Hosts, "not_after", issued.Certificate.NotAfter)
	c, _, err := parseChain(chainPEM, key)
	return c, err
}

func parseChain(chainPEM []byte, key crypto.Signer) (*tls.Certificate, *smx509.Certificate, error) {
	var c tls.Certificate
	for rest := chainPEM; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		c.Certificate = append(c.Certificate, block.Bytes)
	}
	if len(c.Certificate) == 0 {
		return nil, nil, errors.New("no certificates")
	}
	leaf, err := smx509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return nil, nil, err
	}
	c.PrivateKey = key
	return &c, leaf, nil
}

func sameHosts(leaf *smx509.Certificate, hosts []string) bool {
	var have []string
	have = append(have, leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		have = append(have, ip.String())
	}
	want := slices.Clone(hosts)
	for i, h := range want {
		if ip := net.ParseIP(h); ip != nil {
			want[i] = ip.String()
		}
	}
	slices.Sort(have)
	slices.Sort(want)
	return slices.Equal(have, want)
}

// Handler returns the server's HTTP handler (every route, with metrics and,
// over TLS, Strict-Transport-Security).
func (s *Server) Handler() http.Handler { return s.handler }

// TLSConfig returns the TLS configuration of the listener.
func (s *Server) TLSConfig() *tls.Config {
	// Browsers may present an intl client certificate for certificate login
	// (/login/mtls) and department services for tls_client_auth; nobody has
	// to. Go's TLS stack verifies only the ECDSA chain; SM2 certificates
	// log in through /login/cert instead.
	pool := x509.NewCertPool()
	for _, c := range s.CA.CAs() {
		if c.Root && c.Suite == kms.Intl {
			if cert, err := x509.ParseCertificate(c.Cert.Raw); err == nil {
				pool.AddCert(cert)
			}
		}
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*s.tlsCert},
		ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pool}
}

func (s *Server) routes() (http.Handler, error) {
	mux := http.NewServeMux()
	ca.NewAPI(s.CA, s.Tokens.Require, s.log).Routes(mux)
	kmc.NewAPI(s.kmc, s.Tokens.Require).Routes(mux)
	s.Tokens.Routes(mux)
	s.tsa.Routes(mux)
	signature.NewAPI(*s.signatureVerifier(), s.log).Routes(mux)
	s.ocsp.Routes(mux)
	s.auditAPI().Routes(mux)
	if s.acme != nil {
		s.acme.Routes(mux)
	}
	s.oidc.Routes(mux)
	s.oidc.AdminRoutes(mux, s.Tokens.Require, s.Tokens)
	s.gatewayRoutes(mux)
	if err := s.consoleRoutes(mux); err != nil {
		return nil, err
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		problem.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.ready)
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux.Handle("GET /metrics", s.metricsGuard(promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{Registry: s.registry})))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		problem.Write(w, problem.New(http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path))
	})
	// OCSP GET requests carry base64 in the path, which may hold "//";
	// they bypass the mux so that path cleaning cannot redirect them.
	return hsts(s.instrument(s.ocsp.RawPaths(mux))), nil
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		problem.Write(w, problem.New(http.StatusServiceUnavailable, "draining: this replica is shutting down"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := s.db.Ping(ctx); err != nil {
		s.log.WarnContext(ctx, "not ready", "err", err)
		problem.Write(w, problem.New(http.StatusServiceUnavailable, "database unavailable"))
		return
	}
	problem.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready", "database": s.db.Dialect().String(), "policy_revision": s.PolicyRevision()})
}

// instrument counts requests and their latency by route pattern and status.
func (s *Server) instrument(next http.Handler) http.Handler {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tongxing_http_requests_total", Help: "HTTP requests by route pattern and status code.",
	}, []string{"route", "code"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "tongxing_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	}, []string{"route"})
	s.registry.MustRegister(requests, latency)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		requests.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
		latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Close releases the store and keys. Records being written are committed
// first.
func (s *Server) Close() error {
	var errs []error
	if s.acme != nil {
		errs = append(errs, s.acme.Close())
	}
	if s.CA != nil && s.audit != nil {
		errs = append(errs, s.CA.FlushRefusals(context.Background(), true))
	}
	if s.audit != nil {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
		errs = append(errs, s.audit.Close(ctx))
		cancel()
	}
	if s.caStore != nil {
		errs = append(errs, s.caStore.Close())
	}
	if s.km != nil {
		errs = append(errs, s.km.Close())
	}
	if s.db != nil {
		errs = append(errs, s.db.Close())
	}
	return errors.Join(errs...)
}

// refreshCRLs keeps every issuing CA's CRL fresh until ctx ends.
func (s *Server) refreshCRLs(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		if err := s.CA.RefreshCRLs(ctx); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "refresh CRLs", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// refreshOCSP re-signs stored OCSP responses before they go stale.
func (s *Server) refreshOCSP(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.ocsp.Refresh(ctx, 10000); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "refresh OCSP responses", "err", err)
		}
	}
}

// loginRoots are the roots whose certificates may sign in (citizen cards and
// e-certs): the gm root; the intl root too, for ECDSA certificates.
func (s *Server) loginRoots() *smx509.CertPool {
	pool := smx509.NewCertPool()
	for _, c := range s.CA.CAs() {
		if c.Root {
			pool.AddCert(c.Cert)
		}
	}
	return pool
}

// purgeSignOn deletes expired sign-on records (sessions, codes, tokens,
// challenges) and rotates signing keys that are due, every hour.
func (s *Server) purgeSignOn(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if algs, err := s.oidc.RotateDue(ctx, s.cfg.OIDC.KeyRotation); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "rotate sign-on keys", "err", err)
		} else if len(algs) > 0 {
			s.log.InfoContext(ctx, "rotated sign-on keys", "algs", algs)
		}
		if n, err := s.oidc.Purge(ctx); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "purge sign-on records", "err", err)
		} else if n > 0 {
			s.log.InfoContext(ctx, "purged sign-on records", "rows", n)
		}
		if _, err := s.qr.Purge(ctx); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "purge scan-to-sign-in challenges", "err", err)
		}
	}
}
