package server

import (
	"bytes"
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
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emmansun/gmsm/smx509"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/auditlog"
	"github.com/tongxing/tongxing/authz"
	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/gateway"
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/kms/softkms"
	"github.com/tongxing/tongxing/policies"
)

// GatewayConfig configures the gateway: its listener, where its policy
// comes from, and its limits.
type GatewayConfig struct {
	// Listen is the gateway's own TLS listener, which asks callers for a
	// client certificate. Default ":9443". It is opened when a department
	// has an upstream; "off" never opens it.
	Listen string `yaml:"listen"`
	// Bundle is a signed policy bundle (tongxing policy build) activated
	// at start when the database holds none. Later changes go through
	// `tongxing policy push`. Empty: the built-in example policy
	// (policies/) is built and signed at the first start.
	Bundle string `yaml:"bundle"`
	// PolicyDir with AllowUnsignedPolicy loads an unsigned policy
	// directory instead, for development only: it is not stored, not
	// shared with replicas and not reloaded.
	PolicyDir           string `yaml:"policy_dir"`
	AllowUnsignedPolicy bool   `yaml:"allow_unsigned_policy"`
	// PolicyPoll is how often each replica looks for a newly activated
	// bundle. Default 1s.
	PolicyPoll time.Duration `yaml:"policy_poll"`
	// MaxBody (default 1 MiB) and MaxFilteredResponse (default 4 MiB) in
	// bytes; UpstreamTimeout default 30s.
	MaxBody             int64         `yaml:"max_body"`
	MaxFilteredResponse int64         `yaml:"max_filtered_response"`
	UpstreamTimeout     time.Duration `yaml:"upstream_timeout"`
	// Rate limits per caller identity and per resource (rate 0: none),
	// with overrides by caller identity or department, and by resource id.
	CallerLimit       gateway.Limit            `yaml:"caller_limit"`
	ResourceLimit     gateway.Limit            `yaml:"resource_limit"`
	CallerOverrides   map[string]gateway.Limit `yaml:"caller_overrides"`
	ResourceOverrides map[string]gateway.Limit `yaml:"resource_overrides"`
	// UpstreamCAFile adds PEM roots for upstream server certificates
	// (default: only Tongxing's intl root).
	UpstreamCAFile string `yaml:"upstream_ca_file"`
	// IdentityCacheTTL is how long a verified token or certificate status
	// is reused. Default 5s.
	IdentityCacheTTL time.Duration `yaml:"identity_cache_ttl"`
}

// DefaultGatewayConfig returns the gateway defaults.
func DefaultGatewayConfig() GatewayConfig {
	return GatewayConfig{Listen: ":9443", PolicyPoll: time.Second, MaxBody: gateway.DefaultMaxBody,
		MaxFilteredResponse: gateway.DefaultMaxFilteredResponse, UpstreamTimeout: gateway.DefaultUpstreamTimeout,
		IdentityCacheTTL: gateway.DefaultIdentityCacheTTL}
}

// Keys Tongxing issues to itself for the gateway and its policy, all intl
// (ECDSA P-256) with service certificates of department "tongxing".
const (
	gatewayKey      = "gateway"        // client certificate to upstreams
	gatewayCallerKy = "gateway-caller" // signs Tongxing-Caller tokens
	policySignerKey = "policy-signer"  // signs policy bundles
)

// PolicyVerificationKeyFile is the PEM public key that verifies policy
// bundles (stock opa: --verification-key).
func (c *Config) PolicyVerificationKeyFile() string {
	return filepath.Join(c.pkiDir(), policySignerKey+".pub.pem")
}

// gatewayState is the gateway's part of a Server.
type gatewayState struct {
	engine   *authz.Engine
	store    *authz.Store
	loader   *authz.Loader
	verifier *authz.Verifier
	gw       *gateway.Gateway
	ledger   *gateway.Ledger
	admin    *authz.Admin
	unsigned bool
	loadErrs prometheus.Counter
}

// ensureService returns a key and certificate Tongxing issues to itself
// with the service profile (department tongxing).
func (s *Server) ensureService(ctx context.Context, name string) (*ca.ResponderKey, []*smx509.Certificate, error) {
	k, err := s.CA.EnsureServiceKey(ctx, s.km, s.cfg.pkiDir(), ca.ServiceKeySpec{
		Name: name, Issuer: "intl-issuing", Profile: "service",
		Subject: ca.Subject{Department: "tongxing", Service: name},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("gateway: %s key: %w", name, err)
	}
	chain, err := s.CA.Chain("intl-issuing")
	if err != nil {
		return nil, nil, err
	}
	return k, append([]*smx509.Certificate{k.Cert}, chain...), nil
}

// openGateway prepares the policy engine, its first bundle and the
// gateway. The listener opens in Serve.
func (s *Server) openGateway(ctx context.Context, citizenKey []byte) error {
	gc := s.cfg.Gateway
	if _, err := s.CA.CA("intl-issuing"); err != nil {
		return errors.New("the gateway needs the intl (ECDSA) hierarchy: initialise with --suites gm,intl")
	}
	st := &gatewayState{engine: authz.NewEngine(), store: authz.NewStore(s.db)}
	st.loadErrs = prometheus.NewCounter(prometheus.CounterOpts{Name: "tongxing_gateway_policy_load_errors_total",
		Help: "Activated policy bundles this replica could not load (the previous policy stays in force)."})
	s.registry.MustRegister(st.loadErrs)
	s.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tongxing_gateway_policy_loaded",
		Help: "1 while a policy bundle is loaded, 0 while every call is refused."}, func() float64 {
		if st.engine.Current() != nil {
			return 1
		}
		return 0
	}))
	signer, _, err := s.ensureService(ctx, policySignerKey)
	if err != nil {
		return err
	}
	if st.verifier, err = authz.NewVerifier(signer.Signer.Public()); err != nil {
		return err
	}
	if err := os.WriteFile(s.cfg.PolicyVerificationKeyFile(), []byte(st.verifier.PublicKeyPEM()), 0o644); err != nil {
		return err
	}
	st.loader = &authz.Loader{Store: st.store, Verifier: st.verifier, Engine: st.engine, Logger: s.log, OnError: func(error) { st.loadErrs.Inc() }}
	if err := s.firstPolicy(ctx, st, signer.Signer); err != nil {
		return err
	}

	upstream, upChain, err := s.ensureService(ctx, gatewayKey)
	if err != nil {
		return err
	}
	callerKey, callerChain, err := s.ensureService(ctx, gatewayCallerKy)
	if err != nil {
		return err
	}
	var x5c []*x509.Certificate
	for _, c := range callerChain {
		if xc, err := x509.ParseCertificate(c.Raw); err == nil {
			x5c = append(x5c, xc)
		}
	}
	callerSigner, err := gateway.NewCallerSigner(callerKey.Signer, x5c)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	for _, c := range s.CA.CAs() {
		if c.Root && c.Suite == kms.Intl {
			if xc, err := x509.ParseCertificate(c.Cert.Raw); err == nil {
				roots.AddCert(xc)
			}
		}
	}
	if gc.UpstreamCAFile != "" {
		b, err := os.ReadFile(gc.UpstreamCAFile)
		if err != nil {
			return fmt.Errorf("config: gateway.upstream_ca_file: %w", err)
		}
		if !roots.AppendCertsFromPEM(b) {
			return fmt.Errorf("config: gateway.upstream_ca_file %s holds no PEM certificate", gc.UpstreamCAFile)
		}
	}
	clientCert := tls.Certificate{PrivateKey: upstream.Signer}
	for _, c := range upChain {
		clientCert.Certificate = append(clientCert.Certificate, c.Raw)
	}
	reg, err := s.cfg.DepartmentRegistry()
	if err != nil {
		return err
	}
	st.gw, err = gateway.New(gateway.Config{
		Registry: reg, TrustDomain: s.cfg.CA.TrustDomain, Policy: st.engine,
		Stamper: gateway.AuthorityStamper{TSA: s.tsa}, Recorder: s.audit, Evidence: s.audit, Stamps: s.audit,
		Tokens: s.oidc, Revocation: s.CA, Signer: callerSigner, Issuer: strings.TrimSuffix(s.cfg.PublicURL, "/") + "/gateway",
		Transport:  gateway.NewTransport(clientCert, roots, gc.UpstreamTimeout),
		CitizenKey: citizenKey, MaxBody: gc.MaxBody, MaxFilteredResponse: gc.MaxFilteredResponse, UpstreamTimeout: gc.UpstreamTimeout,
		CallerLimit: gc.CallerLimit, ResourceLimit: gc.ResourceLimit, CallerOverrides: gc.CallerOverrides, ResourceOverrides: gc.ResourceOverrides,
		IdentityCacheTTL: gc.IdentityCacheTTL, Logger: s.log, Registerer: s.registry,
	})
	if err != nil {
		return err
	}
	st.ledger = &gateway.Ledger{Sessions: s.oidc, Log: s.audit, Key: citizenKey, Registry: reg, Policy: st.engine, Logger: s.log}
	st.admin = &authz.Admin{Loader: st.loader, Unsigned: st.unsigned, Logger: s.log,
		Guard: func(h http.Handler) http.Handler { return s.Tokens.Require(access.RoleSysadmin, h) },
		Audit: func(ctx context.Context, actor, source string, a *authz.Active, refusal error) error {
			return s.auditBundle(ctx, actor, a, source, refusal)
		}}
	s.gw = st
	return nil
}

// firstPolicy loads the policy in force at start: the unsigned development
// directory when allowed; else the active bundle of the database; else
// gateway.bundle, or the built-in example policy signed with the
// policy-signer key, activated as the first bundle.
func (s *Server) firstPolicy(ctx context.Context, st *gatewayState, signer crypto.Signer) error {
	gc := s.cfg.Gateway
	if gc.PolicyDir != "" {
		if !gc.AllowUnsignedPolicy {
			return errors.New("config: gateway.policy_dir loads an unsigned policy: set gateway.allow_unsigned_policy (development only) or build a signed bundle with `tongxing policy build`")
		}
		b, err := authz.ReadDir(os.DirFS(gc.PolicyDir))
		if err != nil {
			return err
		}
		p, err := authz.Load(ctx, b)
		if err != nil {
			return err
		}
		st.engine.Swap(p)
		st.unsigned = true
		s.log.WarnContext(ctx, "gateway: UNSIGNED development policy loaded; not for production", "dir", gc.PolicyDir, "revision", p.Revision())
		return nil
	}
	_, err := st.loader.LoadActive(ctx)
	if err == nil {
		return nil
	}
	if !errors.Is(err, authz.ErrNoBundle) {
		return fmt.Errorf("gateway: the active policy bundle does not load: %w", err)
	}
	var raw []byte
	by := "system:serve"
	if gc.Bundle != "" {
		if raw, err = os.ReadFile(gc.Bundle); err != nil {
			return fmt.Errorf("config: gateway.bundle: %w", err)
		}
		by += " (gateway.bundle " + filepath.Base(gc.Bundle) + ")"
	} else {
		b, err := authz.Build(policies.FS, "")
		if err != nil {
			return err
		}
		if err := authz.Sign(b, signer); err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := authz.Write(&buf, b); err != nil {
			return err
		}
		raw = buf.Bytes()
		by += " (built-in example policy)"
	}
	b, err := authz.Read(bytes.NewReader(raw), st.verifier)
	if err != nil {
		return fmt.Errorf("gateway: policy bundle refused: %w", err)
	}
	if _, err := authz.Load(ctx, b); err != nil {
		return err
	}
	a, err := st.store.Activate(ctx, b.Manifest.Revision, raw, by)
	if err != nil {
		return err
	}
	if err := s.auditBundle(ctx, by, a, "", nil); err != nil {
		return err
	}
	_, err = st.loader.LoadActive(ctx)
	return err
}

// auditBundle records an activation (refusal is the error that refused it).
func (s *Server) auditBundle(ctx context.Context, actor string, a *authz.Active, source string, refusal error) error {
	e := auditlog.Entry{Actor: auditlog.Actor{Subject: actor, SourceAddr: source}, Action: "authz.bundle.activate", Outcome: "success"}
	if a != nil {
		e.Object.Resource = "authz:bundle:" + a.Revision
		e.PolicyRevision = a.Revision
		e.Reasons = []string{"sha256=" + a.SHA256}
	}
	if refusal != nil {
		e.Action, e.Outcome = "authz.bundle.refuse", "refused"
		e.Reasons = append(e.Reasons, clipReason(refusal.Error()))
	}
	_, err := s.audit.Append(context.WithoutCancel(ctx), e)
	return err
}

func clipReason(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) > auditlog.MaxFieldLen {
		s = s[:auditlog.MaxFieldLen-3]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "..."
	}
	return s
}

// gatewayRoutes mounts the gateway's services on the main listener: the
// published caller-token keys, the citizen's access log and the
// sysadmin's bundle API.
func (s *Server) gatewayRoutes(mux *http.ServeMux) {
	s.gw.gw.Routes(mux)
	s.gw.ledger.Routes(mux)
	s.gw.admin.Routes(mux)
}

// PolicyRevision returns the revision of the policy this process
// evaluates with, or "" when none is loaded.
func (s *Server) PolicyRevision() string {
	if s.gw == nil {
		return ""
	}
	if p := s.gw.engine.Current(); p != nil {
		return p.Revision()
	}
	return ""
}

// gatewayListens reports whether the gateway listener opens.
func (s *Server) gatewayListens() bool { return s.cfg.gatewayListens() }

// gatewayListens reports whether the gateway listener opens: it is not off
// and some department has an upstream.
func (c *Config) gatewayListens() bool {
	if c.Gateway.Listen == "" || c.Gateway.Listen == "off" {
		return false
	}
	for _, d := range c.Departments {
		if d.Upstream != "" {
			return true
		}
	}
	return false
}

// startGateway opens the gateway listener (TLS asking for, not requiring,
// an intl client certificate) and the policy watcher. The returned
// function shuts the listener down gracefully.
func (s *Server) startGateway(ctx context.Context, ln net.Listener) (func(context.Context) error, error) {
	if !s.gw.unsigned {
		go s.gw.loader.Watch(ctx, s.cfg.Gateway.PolicyPoll)
	}
	if ln == nil {
		return s.gw.gw.Wait, nil
	}
	tc := s.TLSConfig()
	tc.ClientAuth = tls.VerifyClientCertIfGiven
	srv := &http.Server{
		Handler:           s.trust.Handler(s.gw.gw.Handler()),
		TLSConfig:         tc,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      s.cfg.Gateway.UpstreamTimeout + 30*time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	s.log.Info("gateway serving", "addr", ln.Addr().String(), "policy_revision", s.PolicyRevision())
	return func(sctx context.Context) error {
		err := srv.Shutdown(sctx)
		if e := <-errc; !errors.Is(e, http.ErrServerClosed) {
			err = errors.Join(err, e)
		}
		return errors.Join(err, s.gw.gw.Wait(sctx))
	}, nil
}

// PolicySigner opens the policy-signer key of the data directory (for
// `tongxing policy build`). serve creates it at its first start.
func PolicySigner(ctx context.Context, cfg *Config) (crypto.Signer, func() error, error) {
	pass, err := LoadPassphrase(cfg)
	if err != nil {
		return nil, nil, err
	}
	km, err := softkms.New(cfg.keysDir(), pass)
	if err != nil {
		return nil, nil, err
	}
	k, err := km.Signer(ctx, policySignerKey)
	if errors.Is(err, kms.ErrKeyNotFound) {
		km.Close()
		return nil, nil, fmt.Errorf("no %s key in %s: start `tongxing serve` once to create it", policySignerKey, cfg.keysDir())
	}
	if err != nil {
		km.Close()
		return nil, nil, err
	}
	return k, km.Close, nil
}

// ReadPolicyVerifier reads the policy verification key the server
// published.
func ReadPolicyVerifier(cfg *Config) (*authz.Verifier, error) {
	b, err := os.ReadFile(cfg.PolicyVerificationKeyFile())
	if err != nil {
		return nil, fmt.Errorf("policy verification key: %w (start `tongxing serve` once to create it)", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", cfg.PolicyVerificationKeyFile())
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	return authz.NewVerifier(pub)
}

// resolve fills in defaults and checks the gateway settings.
func (g *GatewayConfig) resolve() error {
	d := DefaultGatewayConfig()
	if g.Listen == "" {
		g.Listen = d.Listen
	}
	if g.PolicyPoll <= 0 {
		g.PolicyPoll = d.PolicyPoll
	}
	if g.MaxBody <= 0 {
		g.MaxBody = d.MaxBody
	}
	if g.MaxFilteredResponse <= 0 {
		g.MaxFilteredResponse = d.MaxFilteredResponse
	}
	if g.UpstreamTimeout <= 0 {
		g.UpstreamTimeout = d.UpstreamTimeout
	}
	if g.IdentityCacheTTL == 0 {
		g.IdentityCacheTTL = d.IdentityCacheTTL
	}
	for _, l := range []gateway.Limit{g.CallerLimit, g.ResourceLimit} {
		if l.Rate < 0 || l.Burst < 0 {
			return errors.New("config: gateway rate limits must not be negative")
		}
	}
	if g.PolicyDir != "" && g.Bundle != "" {
		return errors.New("config: gateway.bundle and gateway.policy_dir are exclusive")
	}
	return nil
}
