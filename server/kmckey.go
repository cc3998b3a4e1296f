package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tongxing/tongxing/ca/kmc"
	"github.com/tongxing/tongxing/kms"
)

// KMCMasterKeyName is the name of the KMC master key in the key manager
// (DATA/keys/kmc-master.secret with kms/softkms: encrypted under the key
// passphrase).
const KMCMasterKeyName = "kmc-master"

// LegacyKMCMasterKeyFile is where versions before the officers' release kept
// the KMC master key: 16 raw bytes. [Server] re-wraps it under the key
// passphrase at start and removes it.
func (c *Config) LegacyKMCMasterKeyFile() string {
	return filepath.Join(c.secretsDir(), "kmc-master.key")
}

// kmcMasterKey returns the KMC master key from the secret store, creating it
// on first start. A raw key file left by an earlier version is imported
// first (the same key, so escrowed keys stay recoverable), then overwritten
// and removed.
func kmcMasterKey(ctx context.Context, secrets kms.SecretStore, legacyPath string, log interface {
	Warn(msg string, args ...any)
}) ([]byte, error) {
	raw, err := readLegacyKMCKey(legacyPath)
	if errors.Is(err, fs.ErrNotExist) {
		return kms.LoadOrCreateSecret(ctx, secrets, KMCMasterKeyName, kmc.MasterKeySize)
	}
	if err != nil {
		return nil, err
	}
	err = secrets.CreateSecret(ctx, KMCMasterKeyName, raw)
	if errors.Is(err, kms.ErrKeyExists) {
		// Re-wrapped already (by another replica, or a start that stopped
		// before removing the file): it must be the same key.
		stored, serr := secrets.Secret(ctx, KMCMasterKeyName)
		if serr != nil {
			return nil, fmt.Errorf("KMC master key: %w", serr)
		}
		if !bytes.Equal(stored, raw) {
			return nil, fmt.Errorf("KMC master key: %s holds a different key than the key manager's %s; refusing to choose (escrowed keys open only under the key that sealed them: compare master_key_id in kmc_escrow with each, keep the right one, remove the other)",
				legacyPath, KMCMasterKeyName)
		}
	} else if err != nil {
		return nil, fmt.Errorf("KMC master key: re-wrap %s: %w", legacyPath, err)
	}
	if err := removeLegacyKMCKey(legacyPath); err != nil {
		return nil, err
	}
	log.Warn("re-wrapped the KMC master key under the key passphrase and removed the raw key file",
		"file", legacyPath, "key", KMCMasterKeyName, "master_key_id", kmc.MasterKeyID(raw))
	return raw, nil
}

// readLegacyKMCKey reads a raw master key file as earlier versions wrote
// it: a regular file of exactly kmc.MasterKeySize bytes, not accessible to
// group or others.
func readLegacyKMCKey(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("KMC master key %s is not a regular file", path)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("KMC master key %s has mode %04o; it must not be accessible to group or others (chmod 600)", path, st.Mode().Perm())
	}
	if st.Size() != kmc.MasterKeySize {
		return nil, fmt.Errorf("KMC master key %s is %d bytes, want %d", path, st.Size(), kmc.MasterKeySize)
	}
	key := make([]byte, kmc.MasterKeySize)
	if _, err := io.ReadFull(f, key); err != nil {
		return nil, fmt.Errorf("read KMC master key %s: %w", path, err)
	}
	return key, nil
}

// removeLegacyKMCKey overwrites the raw key file with zeros, syncs it and
// removes it. (Overwriting does not reach copies a file system or backup
// kept; the key itself stays the same, so old copies of the raw file still
// open escrowed keys: see docs/ARCHITECTURE.md.)
func removeLegacyKMCKey(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("neutralise %s: %w", path, err)
	}
	_, err = f.WriteAt(make([]byte, kmc.MasterKeySize), 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("neutralise %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
