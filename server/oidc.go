package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tongxing/tongxing/auditlog"
	"github.com/tongxing/tongxing/authn"
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/store"
)

// OpenProvider opens the OpenID Connect provider on db with the settings of
// cfg: issuer public_url, signing keys sealed by sealer (the key manager:
// encrypted under the key passphrase), ID-number pseudonyms under
// DATA/secrets/pseudonym.key.
func OpenProvider(ctx context.Context, cfg *Config, db *store.DB, sealer kms.KeySealer, opts ...authn.Option) (*authn.Provider, error) {
	pk, err := os.ReadFile(filepath.Join(cfg.secretsDir(), "pseudonym.key"))
	if err != nil {
		return nil, fmt.Errorf("pseudonym key: %w", err)
	}
	base := []authn.Option{
		authn.WithIssuer(cfg.PublicURL),
		authn.WithClients(cfg.OIDC.Clients...),
		authn.WithKeySealer(sealer),
		authn.WithPseudonymKey(pk),
	}
	if cfg.OIDC.AccessTokenAlg != "" {
		base = append(base, authn.WithAccessTokenAlg(cfg.OIDC.AccessTokenAlg))
	}
	return authn.New(ctx, db, append(base, opts...)...)
}

// authnAuditor writes provider events into the audit log.
type authnAuditor struct {
	log        *auditlog.Log
	citizenKey []byte
}

func (a authnAuditor) Record(ctx context.Context, ev authn.AuditEvent) error {
	e := auditlog.Entry{
		Actor:   auditlog.Actor{Subject: ev.Subject, Client: ev.Client, CertSerial: ev.CertSerial, SourceAddr: ev.SourceAddr},
		Action:  ev.Action,
		Object:  auditlog.Object{Resource: ev.Resource},
		Reasons: ev.Reasons,
		Outcome: ev.Outcome,
		Latency: ev.Latency,
	}
	switch {
	case ev.CitizenHash != "":
		e.CitizenHash = ev.CitizenHash
	case ev.Account != "":
		// An officer acted on a citizen's account.
		e.CitizenHash = auditlog.CitizenHash(a.citizenKey, ev.Account)
	case ev.Subject != "" && !strings.HasPrefix(ev.Subject, "officer:"):
		e.CitizenHash = auditlog.CitizenHash(a.citizenKey, ev.Subject)
	}
	_, err := a.log.Append(ctx, e)
	return err
}
