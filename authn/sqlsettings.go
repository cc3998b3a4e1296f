package authn

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/tongxing/tongxing/store"
)

// settings are per-deployment values in authn_settings, shared by every
// replica: the pairwise-subject key and the sealed one-time code data key.
type settings struct{ db *store.DB }

// get returns the value of setting name, or nil if it is not set.
func (s settings) get(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := s.db.QueryRow(ctx, "SELECT value FROM authn_settings WHERE name = ?", name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return v, err
}

// ensure stores value as setting name unless it is set, and returns the
// stored value: replicas starting together agree on the first one.
func (s settings) ensure(ctx context.Context, name string, value []byte) ([]byte, error) {
	if _, err := s.db.Exec(ctx, "INSERT INTO authn_settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", name, value); err != nil {
		return nil, fmt.Errorf("store setting %s: %w", name, err)
	}
	v, err := s.get(ctx, name)
	if err == nil && v == nil {
		err = errors.New("gone after it was stored")
	}
	if err != nil {
		return nil, fmt.Errorf("read setting %s: %w", name, err)
	}
	return v, nil
}

// loadSetting returns the setting name, creating it with n random bytes if
// it does not exist. Replicas starting together agree on one value.
func loadSetting(ctx context.Context, db *store.DB, name string, n int) ([]byte, error) {
	raw, err := base64.RawURLEncoding.DecodeString(randomToken(n))
	if err != nil {
		return nil, err
	}
	v, err := settings{db: db}.ensure(ctx, name, raw)
	if err != nil {
		return nil, fmt.Errorf("authn: %w", err)
	}
	if len(v) < n {
		return nil, fmt.Errorf("authn: setting %s is %d bytes, want %d", name, len(v), n)
	}
	return v, nil
}
