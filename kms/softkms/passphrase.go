package softkms

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"os"

	"github.com/tongxing/tongxing/kms"
)

// maxPassphraseFile bounds how much of a passphrase file is read.
const maxPassphraseFile = 4 << 10

// LoadPassphrase returns the key passphrase: envValue if it is non-empty
// (used as is), otherwise the contents of file with trailing "\n" and "\r"
// removed. The file must be a regular file of at most 4 KiB not readable,
// writable or executable by group or others. An empty result is an error
// wrapping kms.ErrEmptyPassphrase. Errors name the file, never its contents.
func LoadPassphrase(envValue, file string) ([]byte, error) {
	if envValue != "" {
		return []byte(envValue), nil
	}
	if file == "" {
		return nil, fmt.Errorf("softkms: no passphrase given (neither environment value nor file): %w", kms.ErrEmptyPassphrase)
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("softkms: passphrase file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("softkms: passphrase file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("softkms: passphrase file %s is not a regular file", file)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("softkms: passphrase file %s has mode %04o, want no group or other access (chmod 600)", file, perm)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxPassphraseFile+1))
	if err != nil {
		return nil, fmt.Errorf("softkms: read passphrase file %s: %w", file, err)
	}
	if len(data) > maxPassphraseFile {
		return nil, fmt.Errorf("softkms: passphrase file %s is larger than %d bytes", file, maxPassphraseFile)
	}
	data = bytes.TrimRight(data, "\r\n")
	if len(data) == 0 {
		return nil, fmt.Errorf("softkms: passphrase file %s: %w", file, kms.ErrEmptyPassphrase)
	}
	return data, nil
}

// GeneratePassphraseFile creates path (mode 0600, failing if it exists) and
// writes to it a new passphrase: 32 bytes from crypto/rand, base64url without
// padding (43 characters), followed by "\n". It returns the passphrase
// without the newline. On a write error the file is removed.
func GeneratePassphraseFile(path string) ([]byte, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("softkms: generate passphrase: %w", err)
	}
	pass := []byte(base64.RawURLEncoding.EncodeToString(raw))
	clear(raw)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("softkms: create passphrase file: %w", err)
	}
	_, err = f.Write(append(append([]byte(nil), pass...), '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("softkms: write passphrase file %s: %w", path, err)
	}
	return pass, nil
}
