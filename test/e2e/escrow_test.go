package e2e

import (
	"bytes"
	"context"
	"crypto/cipher"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/emmansun/gmsm/sm4"

	"github.com/tongxing/tongxing/kms/softkms"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/test/serverproc"
)

// escrowRow is one kmc_escrow row: SM4-GCM under the KMC master key, the
// additional data "tongxing kmc escrow v1", 0x00, the serial (see ca/kmc).
type escrowRow struct {
	serial            string
	nonce, ciphertext []byte
}

// opens reports whether key opens row.
func (r escrowRow) opens(key []byte) bool {
	b, err := sm4.NewCipher(key)
	if err != nil {
		return false
	}
	g, err := cipher.NewGCM(b)
	if err != nil || len(r.nonce) != g.NonceSize() {
		return false
	}
	_, err = g.Open(nil, r.nonce, r.ciphertext, []byte("tongxing kmc escrow v1\x00"+r.serial))
	return err == nil
}

// TestEscrowNeedsThePassphrase copies the database and the data directory
// of a server that escrowed an e-cert encryption key, leaving out the
// passphrase file, as a thief of backups would. Nothing in the copy opens
// the escrowed key: no 16 bytes anywhere in it are the KMC master key, and
// the server does not start on it.
func TestEscrowNeedsThePassphrase(t *testing.T) {
	dir := t.TempDir()
	in := serverproc.Start(t, binary, dir)
	var code struct{ Code string }
	json.Unmarshal([]byte(in.MustCLI(t, "ca", "enrol-code", "--profile", "enterprise-sign", "--organization", "福州示例科技有限公司",
		"--uscc", "91350100M000100Y43", "--json")), &code)
	in.MustCLI(t, "ca", "request", "--profile", "enterprise", "--dual", "--code", code.Code, "--out", "ecert")
	if err := in.Stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "tongxing-data")
	if _, err := os.Stat(filepath.Join(data, "secrets", "kmc-master.key")); !os.IsNotExist(err) {
		t.Fatalf("a raw KMC master key file exists: %v", err)
	}

	// The copy: everything but the passphrase.
	stolen := filepath.Join(t.TempDir(), "tongxing-data")
	var files []string
	err := filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(data, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(stolen, rel), 0o700)
		}
		if rel == filepath.Join("secrets", "passphrase") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files = append(files, filepath.Join(stolen, rel))
		return os.WriteFile(filepath.Join(stolen, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}

	db, err := store.Open(context.Background(), filepath.Join(stolen, "tongxing.db"))
	if err != nil {
		t.Fatal(err)
	}
	var row escrowRow
	err = db.QueryRow(context.Background(), "SELECT enc_serial, nonce, ciphertext FROM kmc_escrow").Scan(&row.serial, &row.nonce, &row.ciphertext)
	db.Close()
	if err != nil {
		t.Fatalf("no escrowed key in the copy: %v", err)
	}

	t.Run("ok/the-real-key-opens-it", func(t *testing.T) {
		// The control: with the passphrase the key manager yields the
		// master key, and the same check opens the row.
		pass, err := os.ReadFile(filepath.Join(data, "secrets", "passphrase"))
		if err != nil {
			t.Fatal(err)
		}
		km, err := softkms.New(filepath.Join(data, "keys"), bytes.TrimSpace(pass))
		if err != nil {
			t.Fatal(err)
		}
		defer km.Close()
		mk, err := km.Secret(context.Background(), "kmc-master")
		if err != nil || !row.opens(mk) {
			t.Fatalf("the master key from the key manager does not open the row: %v", err)
		}
		for _, f := range files {
			if b, _ := os.ReadFile(f); bytes.Contains(b, mk) {
				t.Errorf("%s holds the master key in the clear", f)
			}
		}
	})
	t.Run("fail/no-16-bytes-of-the-copy-open-it", func(t *testing.T) {
		tried := 0
		for _, f := range files {
			b, err := os.ReadFile(f)
			if errors.Is(err, fs.ErrNotExist) && (strings.HasSuffix(f, "-shm") || strings.HasSuffix(f, "-wal")) {
				continue // SQLite folded the copy's WAL into the database file when it was opened above
			}
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i+16 <= len(b); i++ {
				tried++
				if row.opens(b[i : i+16]) {
					t.Fatalf("bytes %d..%d of %s open the escrowed key", i, i+16, f)
				}
			}
		}
		if tried < 100000 {
			t.Fatalf("only %d candidates tried; the copy is suspiciously small", tried)
		}
	})
	t.Run("fail/the-server-does-not-start-on-the-copy", func(t *testing.T) {
		for _, pass := range []string{"", "a guessed passphrase"} {
			cmd := exec.Command(binary, "serve", "--data", stolen, "--listen", "127.0.0.1:0", "--http-listen", "")
			cmd.Env = append(os.Environ(), "TONGXING_KEY_PASSPHRASE="+pass)
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), "passphrase") {
				t.Errorf("serve on the copy with passphrase %q: %v\n%s", pass, err, out)
			}
		}
	})
}
