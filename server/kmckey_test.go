package server

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tongxing/tongxing/kms/softkms"
)

func TestKMCMasterKey(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	setup := func(t *testing.T) (*softkms.Manager, string) {
		dir := t.TempDir()
		km, err := softkms.New(filepath.Join(dir, "keys"), []byte("passphrase"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { km.Close() })
		return km, filepath.Join(dir, "secrets", "kmc-master.key")
	}
	legacyKey := bytes.Repeat([]byte{0x5a}, 16)
	writeLegacy := func(t *testing.T, path string, b []byte, mode os.FileMode) {
		os.MkdirAll(filepath.Dir(path), 0o700)
		if err := os.WriteFile(path, b, mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(path, mode)
	}

	t.Run("ok/fresh", func(t *testing.T) {
		km, legacy := setup(t)
		k1, err := kmcMasterKey(ctx, km, legacy, log)
		if err != nil || len(k1) != 16 {
			t.Fatalf("%x %v", k1, err)
		}
		k2, err := kmcMasterKey(ctx, km, legacy, log)
		if err != nil || !bytes.Equal(k1, k2) {
			t.Fatalf("second start got %x, %v; want %x", k2, err, k1)
		}
		if _, err := os.Stat(legacy); !os.IsNotExist(err) {
			t.Fatalf("a raw key file was written: %v", err)
		}
	})
	t.Run("ok/legacy-rewrapped-and-removed", func(t *testing.T) {
		km, legacy := setup(t)
		writeLegacy(t, legacy, legacyKey, 0o600)
		k, err := kmcMasterKey(ctx, km, legacy, log)
		if err != nil || !bytes.Equal(k, legacyKey) {
			t.Fatalf("got %x, %v; want the legacy key", k, err)
		}
		if _, err := os.Stat(legacy); !os.IsNotExist(err) {
			t.Fatalf("raw key file still there: %v", err)
		}
		stored, err := km.Secret(ctx, KMCMasterKeyName)
		if err != nil || !bytes.Equal(stored, legacyKey) {
			t.Fatalf("stored %x, %v", stored, err)
		}
		sealed, _ := os.ReadFile(filepath.Join(km.Dir(), KMCMasterKeyName+".secret"))
		if bytes.Contains(sealed, legacyKey) {
			t.Fatal("the key is stored in the clear")
		}
	})
	t.Run("ok/legacy-left-after-rewrap", func(t *testing.T) {
		km, legacy := setup(t)
		if err := km.CreateSecret(ctx, KMCMasterKeyName, legacyKey); err != nil {
			t.Fatal(err)
		}
		writeLegacy(t, legacy, legacyKey, 0o600)
		if k, err := kmcMasterKey(ctx, km, legacy, log); err != nil || !bytes.Equal(k, legacyKey) {
			t.Fatalf("got %x, %v", k, err)
		}
		if _, err := os.Stat(legacy); !os.IsNotExist(err) {
			t.Fatalf("raw key file still there: %v", err)
		}
	})
	fails := []struct {
		name  string
		setup func(t *testing.T, km *softkms.Manager, legacy string)
		want  string
	}{
		{"fail/two-different-keys", func(t *testing.T, km *softkms.Manager, legacy string) {
			km.CreateSecret(ctx, KMCMasterKeyName, bytes.Repeat([]byte{1}, 16))
			writeLegacy(t, legacy, legacyKey, 0o600)
		}, "different key"},
		{"fail/group-readable", func(t *testing.T, _ *softkms.Manager, legacy string) {
			writeLegacy(t, legacy, legacyKey, 0o640)
		}, "mode 0640"},
		{"fail/short", func(t *testing.T, _ *softkms.Manager, legacy string) {
			writeLegacy(t, legacy, []byte("short"), 0o600)
		}, "5 bytes"},
	}
	for _, tc := range fails {
		t.Run(tc.name, func(t *testing.T) {
			km, legacy := setup(t)
			tc.setup(t, km, legacy)
			before, _ := os.ReadFile(legacy)
			if k, err := kmcMasterKey(ctx, km, legacy, log); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %x, %v; want an error containing %q", k, err, tc.want)
			}
			if after, _ := os.ReadFile(legacy); !bytes.Equal(before, after) {
				t.Fatal("a refused raw key file was changed")
			}
		})
	}
}
