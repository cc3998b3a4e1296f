package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/emmansun/gmsm/sm3"
	"golang.org/x/mod/sumdb/note"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/auditlog"
	"github.com/tongxing/tongxing/auditlog/sm2note"
	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/timestamp"
)

// AuditPublicKeyFile is the PEM SM2 public key that verifies checkpoints
// (tongxing audit verify-bundle --key).
func (c *Config) AuditPublicKeyFile() string { return filepath.Join(c.pkiDir(), "audit-sm2.pub.pem") }

// AuditNoteKeysFile holds the checkpoint verifier keys, SM2 then Ed25519, one
// per line, in signed-note verifier-key form.
func (c *Config) AuditNoteKeysFile() string { return filepath.Join(c.pkiDir(), "audit-note-keys.txt") }

// auditSigner loads or creates, in the key manager, the SM2 audit key
// (audit-sm2) and the Ed25519 co-signing key (audit-ed25519, encrypted
// PKCS#8 in DATA/keys like every key), and publishes their public forms in
// DATA/pki.
func (s *Server) auditSigner(ctx context.Context) (*auditlog.CheckpointSigner, error) {
	sm2Key, err := s.km.Signer(ctx, "audit-sm2")
	if errors.Is(err, kms.ErrKeyNotFound) {
		sm2Key, err = s.km.CreateKey(ctx, "audit-sm2", kms.GM)
	}
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	edKey, err := s.km.Signer(ctx, "audit-ed25519")
	if errors.Is(err, kms.ErrKeyNotFound) {
		edKey, err = s.km.CreateTypedKey(ctx, "audit-ed25519", kms.Ed25519)
	}
	if err != nil {
		return nil, fmt.Errorf("audit co-signing key: %w", err)
	}
	if _, ok := edKey.Public().(ed25519.PublicKey); !ok {
		return nil, fmt.Errorf("audit co-signing key audit-ed25519 is not an Ed25519 key")
	}
	signer, err := auditlog.NewCheckpointSigner(s.cfg.Audit.Origin, sm2Key, edKey)
	if err != nil {
		return nil, err
	}
	pubPEM, err := sm2note.MarshalPublicKeyPEM(sm2Key.Public().(*ecdsa.PublicKey))
	if err != nil {
		return nil, err
	}
	sm2VKey, err := sm2note.VerifierKey(s.cfg.Audit.Origin, sm2Key.Public().(*ecdsa.PublicKey))
	if err != nil {
		return nil, err
	}
	edVKey, err := note.NewEd25519VerifierKey(s.cfg.Audit.Origin, edKey.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(s.cfg.AuditPublicKeyFile(), pubPEM, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(s.cfg.AuditNoteKeysFile(), []byte(sm2VKey+"\n"+edVKey+"\n"), 0o644); err != nil {
		return nil, err
	}
	return signer, nil
}

// openAudit opens the audit log. Its checkpoints are deferred until the
// TSA is open: Open calls StartCheckpoints with [auditStamper].
func (s *Server) openAudit(ctx context.Context, citizenKey []byte) (*auditlog.Log, error) {
	signer, err := s.auditSigner(ctx)
	if err != nil {
		return nil, err
	}
	return auditlog.Open(ctx, s.db, signer,
		auditlog.WithCheckpointInterval(s.cfg.Audit.CheckpointInterval),
		auditlog.WithDeferredCheckpoints(),
		auditlog.WithCitizenKey(citizenKey),
		auditlog.WithLogger(s.log))
}

// auditStamper timestamps audit checkpoints in-process with tsa: an SM2
// token over the SM3 imprint of the signed note.
func auditStamper(tsa *timestamp.Authority) auditlog.Timestamper {
	return func(ctx context.Context, msg []byte) ([]byte, error) {
		d := sm3.Sum(msg)
		tok, err := tsa.Timestamp(ctx, d[:], timestamp.SM3, timestamp.TokenOptions{CertReq: true})
		if err != nil {
			return nil, err
		}
		return tok.Raw, nil
	}
}

// caAuditor writes CA and KMC events into the audit log. An event caused by
// an officer's request carries the request's source address.
type caAuditor struct{ log *auditlog.Log }

var _ ca.TxAuditor = caAuditor{}

func (a caAuditor) entry(ctx context.Context, ev ca.AuditEvent) auditlog.Entry {
	src := ev.Source
	if p, ok := access.PrincipalFrom(ctx); ok && p.Actor() == ev.Actor && src == "" {
		src = p.SourceAddr
	}
	return auditlog.Entry{
		Actor:   auditlog.Actor{Subject: ev.Actor, SourceAddr: src},
		Action:  ev.Action,
		Object:  auditlog.Object{Resource: ev.Resource},
		Reasons: ev.Reasons,
		Outcome: ev.Outcome,
		Latency: ev.Latency,
	}
}

func (a caAuditor) Record(ctx context.Context, ev ca.AuditEvent) error {
	_, err := a.log.Append(ctx, a.entry(ctx, ev))
	return err
}

// StageTx writes issuance events into the inventory's transaction: a
// certificate and its audit entry are committed together.
func (a caAuditor) StageTx(ctx context.Context, tx *store.Tx, evs ...ca.AuditEvent) error {
	entries := make([]auditlog.Entry, len(evs))
	for i, ev := range evs {
		entries[i] = a.entry(ctx, ev)
	}
	return a.log.StageTx(ctx, tx, entries...)
}

// Staged wakes the sequencer for the entries just committed.
func (a caAuditor) Staged() { a.log.Kick() }

// auditAPI serves /audit/v1 to officers with the auditor role; every
// read is itself logged by the API.
func (s *Server) auditAPI() *auditlog.API {
	officer := func(r *http.Request) (auditlog.Actor, bool) {
		p, ok := access.PrincipalFrom(r.Context())
		if !ok {
			return auditlog.Actor{}, false
		}
		return auditlog.Actor{Subject: p.Actor(), SourceAddr: r.RemoteAddr}, true
	}
	auditors := func(h http.Handler) http.Handler { return s.Tokens.Require(access.RoleAuditor, h) }
	return auditlog.NewAPI(s.audit, auditors, officer, s.log)
}
