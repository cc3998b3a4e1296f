package softkms

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sync"

	"golang.org/x/sync/singleflight"

	"github.com/tongxing/tongxing/kms"
)

// File name extensions of stored keys and secrets.
const (
	keyExt    = ".key"
	secretExt = ".secret"
)

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// ValidName reports whether name is a valid key name: 1 to 64 characters
// from [a-z0-9._-], starting with a letter or digit. Such a name cannot
// leave the key directory.
func ValidName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("softkms: invalid key name %q (want [a-z0-9][a-z0-9._-]{0,63})", name)
	}
	return nil
}

// Manager stores keys in one directory, encrypted under one passphrase. It is
// safe for concurrent use. Other processes may add keys to the same
// directory; a key is never overwritten, by this process or another.
type Manager struct {
	dir        string
	load       singleflight.Group
	mu         sync.Mutex
	passphrase []byte // nil after Close
	cache      map[string]crypto.Signer
}

var (
	_ kms.KeyManager      = (*Manager)(nil)
	_ kms.TypedKeyCreator = (*Manager)(nil)
	_ kms.SecretStore     = (*Manager)(nil)
	_ kms.KeySealer       = (*Manager)(nil)
)

// New returns a Manager for the keys in dir, creating dir with mode 0700 if
// it does not exist. An existing dir must not be accessible to group or
// others. passphrase (copied) encrypts new keys and decrypts stored ones; it
// must not be empty. New does not read or check existing keys.
func New(dir string, passphrase []byte) (*Manager, error) {
	if len(passphrase) == 0 {
		return nil, fmt.Errorf("softkms: %w", kms.ErrEmptyPassphrase)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("softkms: create key directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("softkms: key directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("softkms: key directory %s is not a directory", dir)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("softkms: key directory %s has mode %04o, want no group or other access (0700)", dir, perm)
	}
	return &Manager{
		dir:        dir,
		passphrase: append([]byte(nil), passphrase...),
		cache:      make(map[string]crypto.Signer),
	}, nil
}

// Dir returns the key directory.
func (m *Manager) Dir() string { return m.dir }

func (m *Manager) path(name string) string { return filepath.Join(m.dir, name+keyExt) }

// pass returns the passphrase, or ErrClosed.
func (m *Manager) pass() ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.passphrase == nil {
		return nil, fmt.Errorf("softkms: %w", kms.ErrClosed)
	}
	return m.passphrase, nil
}

// CreateKey generates a key of suite, writes it encrypted to <dir>/<name>.key
// and returns its signer. The file is written to a temporary file, synced,
// and then linked into place, which fails if the name exists (even if
// another process created it meanwhile); the directory is synced after. An
// existing key yields an error wrapping kms.ErrKeyExists. ctx is checked
// before the work starts; the work itself is not interruptible.
func (m *Manager) CreateKey(ctx context.Context, name string, suite kms.Suite) (crypto.Signer, error) {
	if err := suite.Valid(); err != nil {
		return nil, err
	}
	return m.create(ctx, name, func() (crypto.Signer, error) { return suite.GenerateKey(nil) })
}

// CreateTypedKey is CreateKey for a key of type t (Ed25519, RSA): the same
// file, format and guarantees. Signer returns it.
func (m *Manager) CreateTypedKey(ctx context.Context, name string, t kms.KeyType) (crypto.Signer, error) {
	if err := t.Valid(); err != nil {
		return nil, err
	}
	return m.create(ctx, name, t.GenerateKey)
}

func (m *Manager) create(ctx context.Context, name string, generate func() (crypto.Signer, error)) (crypto.Signer, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	pass, err := m.pass()
	if err != nil {
		return nil, err
	}
	final := m.path(name)
	if _, err := os.Lstat(final); err == nil {
		return nil, fmt.Errorf("softkms: key %q: %w", name, kms.ErrKeyExists)
	}
	key, err := generate()
	if err != nil {
		return nil, err
	}
	data, err := kms.MarshalEncryptedKeyPEM(key, pass)
	if err != nil {
		return nil, err
	}
	if err := writeNew(m.dir, final, data); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("softkms: key %q: %w", name, kms.ErrKeyExists)
		}
		return nil, fmt.Errorf("softkms: store key %q: %w", name, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.passphrase == nil {
		return nil, fmt.Errorf("softkms: %w", kms.ErrClosed)
	}
	m.cache[name] = key
	return key, nil
}

// writeNew writes data to a new file final (mode 0600) in dir without ever
// replacing an existing file: temp file, fsync, hard link, fsync of dir.
func writeNew(dir, final string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, ".tmp-*") // mode 0600
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp, final); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Signer returns the signer of the key stored under name (of a suite or a
// kms.KeyType), decrypting it on first use (about 70 ms, see kms.PBKDF2Iterations) and caching it after.
// Concurrent first calls for one name decrypt once. A missing file yields an
// error wrapping kms.ErrKeyNotFound; a wrong passphrase one wrapping
// kms.ErrWrongPassphrase. ctx is checked before a file is read.
func (m *Manager) Signer(ctx context.Context, name string) (crypto.Signer, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	m.mu.Lock()
	closed := m.passphrase == nil
	k, ok := m.cache[name]
	m.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("softkms: %w", kms.ErrClosed)
	}
	if ok {
		return k, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	v, err, _ := m.load.Do(name, func() (any, error) { return m.loadKey(name) })
	if err != nil {
		return nil, err
	}
	return v.(crypto.Signer), nil
}

func (m *Manager) loadKey(name string) (crypto.Signer, error) {
	pass, err := m.pass()
	if err != nil {
		return nil, err
	}
	f, err := os.Open(m.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("softkms: key %q: %w", name, kms.ErrKeyNotFound)
	} else if err != nil {
		return nil, fmt.Errorf("softkms: open key %q: %w", name, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, kms.MaxPEMSize+1))
	if err != nil {
		return nil, fmt.Errorf("softkms: read key %q: %w", name, err)
	}
	key, err := kms.ParseEncryptedKeyPEM(data, pass)
	if err != nil {
		return nil, fmt.Errorf("softkms: key %q: %w", name, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.passphrase == nil {
		return nil, fmt.Errorf("softkms: %w", kms.ErrClosed)
	}
	if k, ok := m.cache[name]; ok { // created meanwhile by CreateKey
		return k, nil
	}
	m.cache[name] = key
	return key, nil
}

// CreateSecret stores secret under name as <dir>/<name>.secret, encrypted
// under the passphrase (kms.MarshalEncryptedSecretPEM), with the
// never-replace guarantee of CreateKey: an existing name yields an error
// wrapping kms.ErrKeyExists.
func (m *Manager) CreateSecret(ctx context.Context, name string, secret []byte) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	pass, err := m.pass()
	if err != nil {
		return err
	}
	final := m.secretPath(name)
	if _, err := os.Lstat(final); err == nil {
		return fmt.Errorf("softkms: secret %q: %w", name, kms.ErrKeyExists)
	}
	data, err := kms.MarshalEncryptedSecretPEM(secret, pass)
	if err != nil {
		return err
	}
	if err := writeNew(m.dir, final, data); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("softkms: secret %q: %w", name, kms.ErrKeyExists)
		}
		return fmt.Errorf("softkms: store secret %q: %w", name, err)
	}
	return nil
}

// Secret returns a copy of the secret stored under name, decrypting the
// file each time (it is not cached; callers keep what they need). A missing
// file yields an error wrapping kms.ErrKeyNotFound, a wrong passphrase one
// wrapping kms.ErrWrongPassphrase.
func (m *Manager) Secret(ctx context.Context, name string) ([]byte, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	pass, err := m.pass()
	if err != nil {
		return nil, err
	}
	f, err := os.Open(m.secretPath(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("softkms: secret %q: %w", name, kms.ErrKeyNotFound)
	} else if err != nil {
		return nil, fmt.Errorf("softkms: open secret %q: %w", name, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, kms.MaxPEMSize+1))
	if err != nil {
		return nil, fmt.Errorf("softkms: read secret %q: %w", name, err)
	}
	v, err := kms.ParseEncryptedSecretPEM(data, pass)
	if err != nil {
		return nil, fmt.Errorf("softkms: secret %q: %w", name, err)
	}
	return v, nil
}

func (m *Manager) secretPath(name string) string { return filepath.Join(m.dir, name+secretExt) }

// SealKey returns key encrypted under the passphrase in the format of the
// key files (kms.MarshalEncryptedKeyPEM), for keys kept elsewhere.
func (m *Manager) SealKey(ctx context.Context, key crypto.Signer) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	pass, err := m.pass()
	if err != nil {
		return nil, err
	}
	return kms.MarshalEncryptedKeyPEM(key, pass)
}

// OpenKey decrypts a key sealed by SealKey (or any key file of this
// format) with the passphrase.
func (m *Manager) OpenKey(ctx context.Context, sealed []byte) (crypto.Signer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	pass, err := m.pass()
	if err != nil {
		return nil, err
	}
	return kms.ParseEncryptedKeyPEM(sealed, pass)
}

// Close forgets the cached signers and the passphrase (overwriting its
// copy). Signers handed out before keep working: they are in-memory keys.
// Later calls fail with kms.ErrClosed. Close is idempotent.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.passphrase)
	m.passphrase = nil
	m.cache = nil
	return nil
}
