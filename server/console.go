package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/authn"
	"github.com/tongxing/tongxing/authz"
	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/console"
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/portal"
	"github.com/tongxing/tongxing/problem"
	"github.com/tongxing/tongxing/signature"
	"github.com/tongxing/tongxing/web"
	"github.com/tongxing/tongxing/web/rp"
)

// webKeyName is the key manager's secret that signs the console's and
// the portals' cookies and CSRF tokens (the same on every replica that
// shares the keys).
const webKeyName = "web-session"

// webKey returns the pages' secret, made at first use.
func webKey(ctx context.Context, secrets kms.SecretStore) ([]byte, error) {
	k, err := secrets.Secret(ctx, webKeyName)
	if err == nil {
		return k, nil
	}
	if !errors.Is(err, kms.ErrKeyNotFound) {
		return nil, fmt.Errorf("web key: %w", err)
	}
	k = make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	if err := secrets.CreateSecret(ctx, webKeyName, k); err != nil {
		if errors.Is(err, kms.ErrKeyExists) {
			return secrets.Secret(ctx, webKeyName)
		}
		return nil, fmt.Errorf("web key: %w", err)
	}
	return k, nil
}

// pageClients are the provider's clients of Tongxing's own pages: the
// console and the portal, public clients (PKCE) with public subjects.
func pageClients(issuer string) []authn.ClientConfig {
	var out []authn.ClientConfig
	for _, c := range []func(string) (string, string, string, string){console.Client, portal.Client} {
		id, name, redirect, minACR := c(issuer)
		out = append(out, authn.ClientConfig{ID: id, Name: name, RedirectURIs: []string{redirect}, TokenEndpointAuthMethod: authn.AuthNone,
			MinACR: minACR, SubjectType: authn.SubjectPublic, Scopes: []string{"openid", "profile"}})
	}
	return out
}

// consoleCA is the registration desk's view of the CA: the authority and
// its inventory.
type consoleCA struct {
	*ca.Authority
	inv *ca.SQLStore
}

func (c consoleCA) Certificates(ctx context.Context, f ca.Filter) ([]*ca.Record, error) {
	return c.inv.Certificates(ctx, f)
}

// inProcessGuard admits to next the officer of role whom the console put
// in the request's context after its own role check; it guards the APIs
// the console calls in this process, which are never mounted for the
// network.
func inProcessGuard(role string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := access.PrincipalFrom(r.Context()); !ok || !p.Has(role) {
			problem.Write(w, problem.New(http.StatusForbidden, "role "+role+" required"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// consoleRoutes mounts the officer console and the pages' style sheet;
// the console reaches the provider through mux in this process.
func (s *Server) consoleRoutes(mux *http.ServeMux) error {
	roots := smx509.NewCertPool()
	for _, c := range s.CA.CAs() {
		if c.Root {
			roots.AddCert(c.Cert)
		}
	}
	// The sign-on administration API for the console's own calls: never
	// mounted for the network, its guard admits the principal the console
	// put in the request's context after its own role check.
	accounts := http.NewServeMux()
	s.oidc.AdminRoutes(accounts, inProcessGuard, s.Tokens)
	var (
		policies console.Policies
		bundles  http.Handler
	)
	if s.gw != nil {
		policies = consolePolicies{s.gw.engine, s.gw.store}
		// The policy-bundle API, the same way: the sysadmin's uploads.
		admin := *s.gw.admin
		admin.Guard = func(next http.Handler) http.Handler { return inProcessGuard(access.RoleSysadmin, next) }
		mux := http.NewServeMux()
		admin.Routes(mux)
		bundles = mux
	}
	c, err := console.New(console.Deps{
		Issuer: s.cfg.PublicURL, Provider: rp.InProcess(mux), Key: s.webKey,
		Officers: s.Tokens, Recorder: accessAuditor{s.audit},
		Audit: s.audit, Checkpoints: s.audit.Signer().Verifier(), TSARoots: roots,
		CA: consoleCA{s.CA, s.caStore}, Recovery: s.kmc, Accounts: accounts, Policies: policies, Bundles: bundles, Registry: s.CA.Departments(), Logger: s.log,
	})
	if err != nil {
		return err
	}
	verifier := s.signatureVerifier()
	me, err := portal.New(portal.Deps{
		Issuer: s.cfg.PublicURL, Provider: rp.InProcess(mux), Key: s.webKey,
		Accounts: s.oidc, Users: s.oidc.Users(), Inventory: s.caStore,
		Verify: func(ctx context.Context, p7s, content []byte) (*signature.Report, error) {
			return signature.Verify(ctx, p7s, content, *verifier)
		},
		Logger: s.log,
	})
	if err != nil {
		return err
	}
	web.Routes(mux)
	c.Routes(mux)
	me.Routes(mux)
	s.qr.Routes(mux, strings.TrimSuffix(pathOfURL(s.cfg.PublicURL), "/"))
	return nil
}

// pathOfURL is the path of an absolute URL ("" for none).
func pathOfURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Path
}

// consolePolicies is the gateway policy for the console: the engine's
// current policy and the store's revisions.
type consolePolicies struct {
	*authz.Engine
	st *authz.Store
}

func (p consolePolicies) Revisions(ctx context.Context, limit int) ([]authz.Revision, error) {
	return p.st.Revisions(ctx, limit)
}
