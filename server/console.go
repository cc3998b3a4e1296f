package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/authn"
	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/console"
	"github.com/tongxing/tongxing/kms"
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

// pageClients are the provider's clients of Tongxing's own pages.
func pageClients(issuer string) []authn.ClientConfig {
	id, name, redirect, minACR := console.Client(issuer)
	return []authn.ClientConfig{{ID: id, Name: name, RedirectURIs: []string{redirect}, TokenEndpointAuthMethod: authn.AuthNone,
		MinACR: minACR, SubjectType: authn.SubjectPublic, Scopes: []string{"openid", "profile"}}}
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

// consoleRoutes mounts the officer console and the pages' style sheet;
// the console reaches the provider through mux in this process.
func (s *Server) consoleRoutes(mux *http.ServeMux) error {
	roots := smx509.NewCertPool()
	for _, c := range s.CA.CAs() {
		if c.Root {
			roots.AddCert(c.Cert)
		}
	}
	c, err := console.New(console.Deps{
		Issuer: s.cfg.PublicURL, Provider: rp.InProcess(mux), Key: s.webKey,
		Officers: s.Tokens, Recorder: accessAuditor{s.audit},
		Audit: s.audit, Checkpoints: s.audit.Signer().Verifier(), TSARoots: roots,
		CA: consoleCA{s.CA, s.caStore}, Registry: s.CA.Departments(), Logger: s.log,
	})
	if err != nil {
		return err
	}
	web.Routes(mux)
	c.Routes(mux)
	return nil
}
