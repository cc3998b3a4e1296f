package server

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/emmansun/gmsm/pkcs8"
	"github.com/emmansun/gmsm/sm3"
	"golang.org/x/mod/sumdb/note"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/auditlog"
	"github.com/tongxing/tongxing/auditlog/sm2note"
	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/timestamp"
)

// AuditPublicKeyFile is the PEM SM2 public key that verifies checkpoints
// (tongxing audit verify-bundle --key).
func (c *Config) AuditPublicKeyFile() string { return filepath.Join(c.pkiDir(), "audit-sm2.pub.pem") }

// AuditNoteKeysFile holds the checkpoint verifier keys, SM2 then Ed25519, one
// per line, in signed-note verifier-key form.
func (c *Config) AuditNoteKeysFile() string { return filepath.Join(c.pkiDir(), "audit-note-keys.txt") }

// auditSigner loads or creates the SM2 audit key (in the key manager) and the
// Ed25519 co-signing key (encrypted PKCS#8 in DATA/keys/audit-ed25519.key),
// and publishes their public forms in DATA/pki.
func (s *Server) auditSigner(ctx context.Context, passphrase []byte) (*auditlog.CheckpointSigner, error) {
	sm2Key, err := s.km.Signer(ctx, "audit-sm2")
	if errors.Is(err, kms.ErrKeyNotFound) {
		sm2Key, err = s.km.CreateKey(ctx, "audit-sm2", kms.GM)
	}
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	edKey, err := loadOrCreateEd25519(filepath.Join(s.cfg.keysDir(), "audit-ed25519.key"), passphrase)
	if err != nil {
		return nil, err
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

func loadOrCreateEd25519(path string, passphrase []byte) (crypto.Signer, error) {
	if b, err := os.ReadFile(path); err == nil {
		block, _ := pem.Decode(b)
		if block == nil {
			return nil, fmt.Errorf("%s: no PEM block", path)
		}
		k, err := pkcs8.ParsePKCS8PrivateKey(block.Bytes, passphrase)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		ek, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%s: not an Ed25519 key", path)
		}
		return ek, nil
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := pkcs8.MarshalPrivateKey(key, passphrase, pkcs8.DefaultOpts)
	if err != nil {
		return nil, fmt.Errorf("encrypt Ed25519 audit key: %w", err)
	}
	if err := writeSecret(path, pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der}), 0); err != nil {
		return nil, err
	}
	return key, nil
}

// openAudit opens the audit log; checkpoints are timestamped in-process by
// the TSA (SM3 imprint of the signed note).
func (s *Server) openAudit(ctx context.Context, passphrase, citizenKey []byte) (*auditlog.Log, error) {
	signer, err := s.auditSigner(ctx, passphrase)
	if err != nil {
		return nil, err
	}
	stamp := func(ctx context.Context, msg []byte) ([]byte, error) {
		tsa := s.tsa // set once the TSA is open, after the log
		if tsa == nil {
			return nil, errors.New("the timestamp authority is not open yet")
		}
		d := sm3.Sum(msg)
		tok, err := tsa.Timestamp(ctx, d[:], timestamp.SM3, timestamp.TimestampOptions{CertReq: true})
		if err != nil {
			return nil, err
		}
		return tok.Raw, nil
	}
	return auditlog.Open(ctx, s.db, signer,
		auditlog.WithCheckpointInterval(s.cfg.Audit.CheckpointInterval),
		auditlog.WithTimestamper(stamp),
		auditlog.WithCitizenKey(citizenKey),
		auditlog.WithLogger(s.log))
}

// caAuditor writes CA events into the audit log.
type caAuditor struct{ log *auditlog.Log }

func (a caAuditor) Record(ctx context.Context, ev ca.AuditEvent) error {
	_, err := a.log.Append(ctx, auditlog.Entry{
		Actor:   auditlog.Actor{Subject: ev.Actor, SourceAddr: ev.Source},
		Action:  ev.Action,
		Object:  auditlog.Object{Resource: ev.Resource},
		Reasons: ev.Reasons,
		Outcome: ev.Outcome,
		Latency: ev.Latency,
	})
	return err
}

// auditHandler serves /audit/v1 to officers with the auditor role; every
// read is itself logged by the handler.
func (s *Server) auditHandler() http.Handler {
	officer := func(r *http.Request) (auditlog.Actor, bool) {
		p, ok := access.PrincipalFrom(r.Context())
		if !ok {
			return auditlog.Actor{}, false
		}
		return auditlog.Actor{Subject: p.Actor(), SourceAddr: r.RemoteAddr}, true
	}
	return s.Tokens.Require(access.RoleAuditor, auditlog.Handler(s.audit, officer, s.log))
}
