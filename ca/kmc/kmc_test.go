package kmc

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/store/storetest"
)

func TestLoadOrCreateMasterKey(t *testing.T) {
	t.Run("ok/create-then-load", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "secrets", "kmc-master.key")
		k1, err := LoadOrCreateMasterKey(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(k1) != MasterKeySize || bytes.Equal(k1, make([]byte, MasterKeySize)) {
			t.Fatalf("new key %x", k1)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 || st.Size() != MasterKeySize {
			t.Errorf("key file mode %o size %d, want 0600 and %d", st.Mode().Perm(), st.Size(), MasterKeySize)
		}
		if dst, _ := os.Stat(filepath.Dir(path)); dst.Mode().Perm() != 0o700 {
			t.Errorf("secrets directory mode %o, want 0700", dst.Mode().Perm())
		}
		k2, err := LoadOrCreateMasterKey(path)
		if err != nil || !bytes.Equal(k1, k2) {
			t.Fatalf("reload gave %x, %v; want %x", k2, err, k1)
		}
		if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".kmc-master-*")); len(left) != 0 {
			t.Errorf("temporary files left: %v", left)
		}
	})
	t.Run("ok/concurrent-creators-agree", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "kmc-master.key")
		keys := make([][]byte, 8)
		errs := make([]error, len(keys))
		var wg sync.WaitGroup
		for i := range keys {
			wg.Add(1)
			go func() {
				defer wg.Done()
				keys[i], errs[i] = LoadOrCreateMasterKey(path)
			}()
		}
		wg.Wait()
		for i := range keys {
			if errs[i] != nil || !bytes.Equal(keys[i], keys[0]) {
				t.Fatalf("creator %d: %x %v, creator 0: %x", i, keys[i], errs[i], keys[0])
			}
		}
	})
	tests := []struct {
		name  string
		setup func(t *testing.T, path string)
	}{
		{"fail/group-readable", func(t *testing.T, path string) {
			writeFile(t, path, bytes.Repeat([]byte{7}, MasterKeySize), 0o640)
		}},
		{"fail/short", func(t *testing.T, path string) { writeFile(t, path, []byte("short"), 0o600) }},
		{"fail/long", func(t *testing.T, path string) { writeFile(t, path, bytes.Repeat([]byte{7}, 33), 0o600) }},
		{"fail/directory", func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kmc-master.key")
			tt.setup(t, path)
			before, _ := os.ReadFile(path)
			if k, err := LoadOrCreateMasterKey(path); err == nil {
				t.Fatalf("accepted: %x", k)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
				t.Error("a refused key file was changed")
			}
		})
	}
}

func writeFile(t *testing.T, path string, b []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, b, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func TestNew(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t))
	noEnc, err := ca.LoadProfiles(ca.BuiltinProfiles())
	if err != nil {
		t.Fatal(err)
	}
	delete(noEnc, EncProfile)
	lacking, err := ca.New(f.cas, f.store, f.store, ca.WithProfiles(noEnc), ca.WithPseudonymKey(bytes.Repeat([]byte{1}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	key := bytes.Repeat([]byte{0x42}, MasterKeySize)
	tests := []struct {
		name string
		a    *ca.Authority
		key  []byte
		opts []Option
		ok   bool
	}{
		{name: "ok/defaults", a: f.ca, key: key, ok: true},
		{name: "ok/ttl", a: f.ca, key: key, opts: []Option{WithRecoveryTTL(time.Hour)}, ok: true},
		{name: "fail/no-authority", key: key},
		{name: "fail/short-key", a: f.ca, key: key[:15]},
		{name: "fail/long-key", a: f.ca, key: append(bytes.Clone(key), 0)},
		{name: "fail/zero-key", a: f.ca, key: make([]byte, MasterKeySize)},
		{name: "fail/no-enc-profile", a: lacking, key: key},
		{name: "fail/ttl-too-short", a: f.ca, key: key, opts: []Option{WithRecoveryTTL(time.Second)}},
		{name: "fail/ttl-too-long", a: f.ca, key: key, opts: []Option{WithRecoveryTTL(31 * 24 * time.Hour)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := New(tt.a, f.db, tt.key, tt.opts...)
			if tt.ok != (err == nil) {
				t.Fatalf("New: %v, want ok=%v", err, tt.ok)
			}
			if err != nil && bytes.Contains([]byte(err.Error()), tt.key) && len(tt.key) > 0 {
				t.Error("the error holds the master key")
			}
			if tt.ok && k.keyID != MasterKeyID(key) {
				t.Error("key id not set")
			}
		})
	}
}

func TestSealOpen(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t))
	key := sm2Key(t)
	nonce, box, err := f.kmc.seal("abc123", key)
	if err != nil {
		t.Fatal(err)
	}
	nonce2, box2, err := f.kmc.seal("abc123", key)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(nonce, nonce2) || bytes.Equal(box, box2) {
		t.Fatal("two seals of one key share a nonce or ciphertext")
	}
	tests := []struct {
		name   string
		serial string
		keyID  string
		nonce  []byte
		box    []byte
		is     error
	}{
		{name: "ok/round-trip", serial: "abc123", keyID: f.kmc.keyID, nonce: nonce, box: box},
		{name: "fail/other-serial", serial: "abc124", keyID: f.kmc.keyID, nonce: nonce, box: box, is: ErrEscrowCorrupt},
		{name: "fail/other-nonce", serial: "abc123", keyID: f.kmc.keyID, nonce: nonce2, box: box, is: ErrEscrowCorrupt},
		{name: "fail/short-nonce", serial: "abc123", keyID: f.kmc.keyID, nonce: nonce[:8], box: box, is: ErrEscrowCorrupt},
		{name: "fail/empty-box", serial: "abc123", keyID: f.kmc.keyID, nonce: nonce, box: nil, is: ErrEscrowCorrupt},
		{name: "fail/other-key-id", serial: "abc123", keyID: "0000000000000000", nonce: nonce, box: box, is: ErrWrongMasterKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.kmc.open(tt.serial, tt.keyID, tt.nonce, tt.box)
			if tt.is == nil {
				if err != nil || got.D.Cmp(key.D) != 0 {
					t.Fatalf("open: %v", err)
				}
				return
			}
			wantError(t, err, tt.is, 500, "")
		})
	}
	// An all-zero scalar is not a valid SM2 key even when it decrypts.
	t.Run("fail/invalid-scalar", func(t *testing.T) {
		n := make([]byte, 12)
		box := f.kmc.aead.Seal(nil, n, make([]byte, 32), escrowAAD("abc123"))
		_, err := f.kmc.open("abc123", f.kmc.keyID, n, box)
		wantError(t, err, ErrEscrowCorrupt, 500, "")
	})
}
