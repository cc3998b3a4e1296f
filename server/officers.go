package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/auditlog"
	"github.com/tongxing/tongxing/authn"
)

// openOfficers opens the officers with auditing, brings a data directory
// of an earlier version up to date (legacy tokens get an expiry, the
// admin-token file becomes sysadmin-token) and gives every role without a
// usable officer a first one, whose token it writes to
// DATA/secrets/ROLE-token.
func (s *Server) openOfficers(ctx context.Context) (*access.Officers, error) {
	o := access.New(s.db,
		access.WithAuditor(accessAuditor{s.audit}),
		access.WithUsers(userDirectory{s.oidc.Users()}),
		access.WithLogger(s.log))
	if n, err := o.UpgradeLegacyTokens(ctx); err != nil {
		return nil, err
	} else if n > 0 {
		s.log.WarnContext(ctx, "officer tokens of an earlier version now expire", "tokens", n, "in", access.DefaultTokenTTL)
	}
	if err := renameLegacyAdminToken(&s.cfg); err != nil {
		return nil, err
	}
	made, err := o.Bootstrap(ctx, "system:serve")
	if err != nil {
		return nil, err
	}
	for _, f := range made {
		path := s.cfg.OfficerTokenFile(f.Role)
		if err := replaceSecret(path, []byte(f.Token+"\n")); err != nil {
			return nil, err
		}
		s.log.WarnContext(ctx, "a role had no officer with a usable token: created one; move its token somewhere safe",
			"officer", f.Name, "role", f.Role, "token_file", path, "expires", f.ExpiresAt)
	}
	return o, nil
}

// renameLegacyAdminToken renames DATA/secrets/admin-token, the token of
// the all-powerful admin of earlier versions (now a sysadmin officer), to
// DATA/secrets/sysadmin-token unless that exists.
func renameLegacyAdminToken(cfg *Config) error {
	old, neu := cfg.legacyAdminTokenFile(), cfg.OfficerTokenFile(access.RoleSysadmin)
	if _, err := os.Stat(old); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if _, err := os.Stat(neu); err == nil {
		return nil
	}
	if err := os.Rename(old, neu); err != nil && !errors.Is(err, fs.ErrNotExist) { // another replica renamed it
		return fmt.Errorf("rename the admin token file to %s: %w", neu, err)
	}
	return nil
}

// replaceSecret writes data to path (0600) through a temporary file and a
// rename, replacing what was there.
func replaceSecret(path string, data []byte) error {
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	tmp := path + ".tmp-" + hex.EncodeToString(rnd[:])
	if err := writeSecret(tmp, data, 0); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// accessAuditor writes officer actions and access decisions into the
// audit log.
type accessAuditor struct{ log *auditlog.Log }

func (a accessAuditor) Record(ctx context.Context, ev access.Event) error {
	e := auditlog.Entry{
		Actor:   auditlog.Actor{Subject: ev.Actor, SourceAddr: ev.SourceAddr},
		Action:  ev.Action,
		Object:  auditlog.Object{Resource: ev.Resource},
		Reasons: ev.Reasons,
		Outcome: ev.Outcome,
	}
	if ev.Role != "" {
		e.Reasons = append([]string{"role " + ev.Role}, e.Reasons...)
	}
	switch ev.Action {
	case "access.allow":
		e.Decision = auditlog.DecisionAllow
	case "access.deny":
		e.Decision = auditlog.DecisionDeny
	}
	_, err := a.log.Append(ctx, e)
	return err
}

// userDirectory resolves sign-on accounts for officer binding.
type userDirectory struct{ users *authn.Users }

func (d userDirectory) UserID(ctx context.Context, username string) (string, error) {
	u, err := d.users.ByUsername(ctx, username)
	if err != nil {
		return "", err
	}
	return u.ID, nil
}
