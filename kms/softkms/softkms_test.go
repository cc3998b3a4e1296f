package softkms

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/emmansun/gmsm/sm2"

	"github.com/tongxing/tongxing/kms"
)

var pass = []byte("softkms test passphrase")

func newManager(t *testing.T, dir string) *Manager {
	t.Helper()
	m, err := New(dir, pass)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// checkSigns signs msg with k as its suite prescribes and verifies it.
func checkSigns(t *testing.T, k crypto.Signer) {
	t.Helper()
	s, err := kms.SuiteOf(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("softkms")
	h := s.NewHash()
	h.Write(msg)
	digest := h.Sum(nil)
	in := digest
	if s == kms.GM {
		in = msg
	}
	sig, err := k.Sign(rand.Reader, in, s.SignerOpts())
	if err != nil {
		t.Fatal(err)
	}
	pub := k.Public().(*ecdsa.PublicKey)
	ok := s == kms.GM && sm2.VerifyASN1WithSM2(pub, []byte("1234567812345678"), msg, sig) ||
		s == kms.Intl && ecdsa.VerifyASN1(pub, digest, sig)
	if !ok {
		t.Fatalf("%s signature does not verify", s)
	}
}

func TestCreateAndReopen(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "keys")
	m := newManager(t, dir)
	for _, s := range []kms.Suite{kms.GM, kms.Intl} {
		t.Run("ok/"+string(s), func(t *testing.T) {
			name := "ca-" + string(s)
			k, err := m.CreateKey(ctx, name, s)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := kms.SuiteOf(k.Public()); got != s {
				t.Fatalf("suite = %q, want %q", got, s)
			}
			checkSigns(t, k)
			again, err := m.Signer(ctx, name)
			if err != nil || again != k {
				t.Fatalf("Signer = %p, %v; want cached %p", again, err, k)
			}
			fi, err := os.Stat(filepath.Join(dir, name+".key"))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Fatalf("key file mode %04o, want 0600", fi.Mode().Perm())
			}
			// A second manager reads the key from disk.
			m2 := newManager(t, dir)
			k2, err := m2.Signer(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			if !k2.Public().(*ecdsa.PublicKey).Equal(k.Public()) {
				t.Fatal("reopened key differs")
			}
			checkSigns(t, k2)
		})
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v, %v; want 0700", fi.Mode().Perm(), err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "ca-gm.key,ca-intl.key" {
		t.Fatalf("directory holds %v, want only the two key files", names)
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "keys")
	m := newManager(t, dir)
	orig, err := m.CreateKey(ctx, "taken", kms.GM)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "taken.key"))
	os.WriteFile(filepath.Join(dir, "junk.key"), []byte("junk"), 0o600)
	other, err := New(dir, []byte("another passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()

	tests := []struct {
		name string
		call func() (crypto.Signer, error)
		is   error
		want string
	}{
		{"fail/exists", func() (crypto.Signer, error) { return m.CreateKey(ctx, "taken", kms.Intl) }, kms.ErrKeyExists, `"taken"`},
		{"fail/exists-other-manager", func() (crypto.Signer, error) { return other.CreateKey(ctx, "taken", kms.GM) }, kms.ErrKeyExists, `"taken"`},
		{"fail/not-found", func() (crypto.Signer, error) { return m.Signer(ctx, "missing") }, kms.ErrKeyNotFound, `"missing"`},
		{"fail/wrong-passphrase", func() (crypto.Signer, error) { return other.Signer(ctx, "taken") }, kms.ErrWrongPassphrase, `"taken"`},
		{"fail/corrupt-file", func() (crypto.Signer, error) { return m.Signer(ctx, "junk") }, nil, "no PEM block"},
		{"fail/bad-suite", func() (crypto.Signer, error) { return m.CreateKey(ctx, "new", kms.Suite("rsa")) }, nil, "unknown suite"},
		{"fail/canceled-create", func() (crypto.Signer, error) { return m.CreateKey(canceled, "new", kms.GM) }, context.Canceled, ""},
		{"fail/canceled-load", func() (crypto.Signer, error) { return m.Signer(canceled, "taken2") }, context.Canceled, ""},
	}
	for _, name := range []string{"", "../etc/passwd", "a/b", "Upper", ".hidden", "-dash", "a b", strings.Repeat("a", 65), "x\x00"} {
		tests = append(tests, struct {
			name string
			call func() (crypto.Signer, error)
			is   error
			want string
		}{"fail/name/" + name, func() (crypto.Signer, error) { return m.CreateKey(ctx, name, kms.GM) }, nil, "invalid key name"},
			struct {
				name string
				call func() (crypto.Signer, error)
				is   error
				want string
			}{"fail/signer-name/" + name, func() (crypto.Signer, error) { return m.Signer(ctx, name) }, nil, "invalid key name"})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := tc.call()
			if err == nil || k != nil {
				t.Fatalf("got %T, %v; want error", k, err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("error %v is not %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
	after, _ := os.ReadFile(filepath.Join(dir, "taken.key"))
	if string(before) != string(after) {
		t.Fatal("existing key file was modified")
	}
	if k, err := m.Signer(ctx, "taken"); err != nil || k != orig {
		t.Fatalf("original key lost: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "new.key")); !os.IsNotExist(err) {
		t.Fatalf("failed create left a file: %v", err)
	}
	for _, ok := range []string{"a", "0", "ca-gm.2026_01", strings.Repeat("z", 64)} {
		if err := ValidName(ok); err != nil {
			t.Errorf("ValidName(%q) = %v", ok, err)
		}
	}
}

func TestNew(t *testing.T) {
	base := t.TempDir()
	open := filepath.Join(base, "open")
	os.Mkdir(open, 0o755)
	os.Chmod(open, 0o755)
	file := filepath.Join(base, "file")
	os.WriteFile(file, nil, 0o600)
	tests := []struct {
		name string
		dir  string
		pass []byte
		want string
	}{
		{"ok/new-dir", filepath.Join(base, "a", "b"), pass, ""},
		{"fail/empty-passphrase", filepath.Join(base, "c"), nil, "empty passphrase"},
		{"fail/group-readable", open, pass, "mode 0755"},
		{"fail/not-dir", file, pass, "file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := New(tc.dir, tc.pass)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if m.Dir() != tc.dir {
					t.Fatalf("Dir() = %q", m.Dir())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New error = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestConcurrentSigner(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "keys")
	m := newManager(t, dir)
	for _, n := range []string{"k1", "k2"} {
		if _, err := m.CreateKey(ctx, n, kms.GM); err != nil {
			t.Fatal(err)
		}
	}
	fresh := newManager(t, dir) // empty cache: loads race
	const workers = 16
	got := make([]crypto.Signer, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			k, err := fresh.Signer(ctx, []string{"k1", "k2"}[i%2])
			if err != nil {
				t.Error(err)
				return
			}
			msg := []byte{byte(i)}
			sig, err := k.Sign(rand.Reader, msg, sm2.DefaultSM2SignerOpts)
			if err != nil || !sm2.VerifyASN1WithSM2(k.Public().(*ecdsa.PublicKey), nil, msg, sig) {
				t.Errorf("worker %d: sign/verify failed: %v", i, err)
			}
			got[i] = k
		})
	}
	wg.Wait()
	for i := range got {
		if got[i] == nil || got[i] != got[i%2] {
			t.Fatalf("worker %d got a different signer instance for the same name", i)
		}
	}
	if got[0] == got[1] {
		t.Fatal("k1 and k2 returned the same signer")
	}
}

func TestClose(t *testing.T) {
	ctx := context.Background()
	m, err := New(filepath.Join(t.TempDir(), "keys"), pass)
	if err != nil {
		t.Fatal(err)
	}
	k, err := m.CreateKey(ctx, "k", kms.Intl)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := m.Signer(ctx, "k"); !errors.Is(err, kms.ErrClosed) {
		t.Fatalf("Signer after Close: %v", err)
	}
	if _, err := m.CreateKey(ctx, "k2", kms.GM); !errors.Is(err, kms.ErrClosed) {
		t.Fatalf("CreateKey after Close: %v", err)
	}
	checkSigns(t, k) // signers handed out stay usable
}

func TestTypedKeys(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "keys")
	m := newManager(t, dir)
	for _, kt := range []kms.KeyType{kms.Ed25519, kms.RSA2048} {
		t.Run("ok/"+string(kt), func(t *testing.T) {
			k, err := m.CreateTypedKey(ctx, "k-"+string(kt), kt)
			if err != nil {
				t.Fatal(err)
			}
			k2, err := newManager(t, dir).Signer(ctx, "k-"+string(kt))
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := kms.TypeOf(k2); got != kt || !k2.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Public()) {
				t.Fatalf("reopened key is %T", k2)
			}
			if _, err := m.CreateTypedKey(ctx, "k-"+string(kt), kt); !errors.Is(err, kms.ErrKeyExists) {
				t.Fatalf("second create: %v", err)
			}
		})
	}
	if _, err := m.CreateTypedKey(ctx, "x", kms.KeyType("dsa")); err == nil {
		t.Error("unknown key type accepted")
	}
}

func TestSecrets(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "keys")
	m := newManager(t, dir)
	secret := []byte("sixteen byte key")
	if err := m.CreateSecret(ctx, "kmc-master", secret); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "kmc-master.secret"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), string(secret)) || !strings.Contains(string(raw), "ENCRYPTED SYMMETRIC KEY") {
		t.Fatalf("secret file:\n%s", raw)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "kmc-master.secret")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %04o", fi.Mode().Perm())
	}
	got, err := newManager(t, dir).Secret(ctx, "kmc-master")
	if err != nil || string(got) != string(secret) {
		t.Fatalf("Secret = %q, %v", got, err)
	}
	got[0] ^= 1 // callers own their copy
	if again, _ := m.Secret(ctx, "kmc-master"); string(again) != string(secret) {
		t.Fatal("Secret returned shared memory")
	}
	other, err := New(dir, []byte("another passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		err  error
		is   error
	}{
		{"fail/exists", m.CreateSecret(ctx, "kmc-master", []byte("other")), kms.ErrKeyExists},
		{"fail/exists-other-manager", other.CreateSecret(ctx, "kmc-master", []byte("other")), kms.ErrKeyExists},
		{"fail/wrong-passphrase", second(other.Secret(ctx, "kmc-master")), kms.ErrWrongPassphrase},
		{"fail/not-found", second(m.Secret(ctx, "missing")), kms.ErrKeyNotFound},
		{"fail/bad-name", m.CreateSecret(ctx, "../x", secret), nil},
		{"fail/empty", m.CreateSecret(ctx, "empty", nil), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == nil || (tc.is != nil && !errors.Is(tc.err, tc.is)) {
				t.Fatalf("error %v, want %v", tc.err, tc.is)
			}
		})
	}
	if after, _ := m.Secret(ctx, "kmc-master"); string(after) != string(secret) {
		t.Fatal("existing secret replaced")
	}
	m.Close()
	if _, err := m.Secret(ctx, "kmc-master"); !errors.Is(err, kms.ErrClosed) {
		t.Fatalf("Secret after Close: %v", err)
	}
}

func second[T any](_ T, err error) error { return err }

func TestSealer(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, filepath.Join(t.TempDir(), "keys"))
	rsaKey, err := kms.RSA2048.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	gm, _ := kms.GM.GenerateKey(nil)
	for name, k := range map[string]crypto.Signer{"rsa": rsaKey, "gm": gm} {
		t.Run("ok/"+name, func(t *testing.T) {
			sealed, err := m.SealKey(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.OpenKey(ctx, sealed)
			if err != nil || !got.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Public()) {
				t.Fatalf("OpenKey = %T, %v", got, err)
			}
			other, _ := New(filepath.Join(t.TempDir(), "k2"), []byte("another passphrase"))
			if _, err := other.OpenKey(ctx, sealed); !errors.Is(err, kms.ErrWrongPassphrase) {
				t.Fatalf("OpenKey with another passphrase: %v", err)
			}
		})
	}
}

func TestSecretSealer(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, filepath.Join(t.TempDir(), "keys"))
	secret := []byte("sixteen byte key")
	sealed, err := m.SealSecret(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := m.OpenSecret(ctx, sealed); err != nil || string(got) != string(secret) {
		t.Fatalf("OpenSecret = %q, %v", got, err)
	}
	other, _ := New(filepath.Join(t.TempDir(), "k2"), []byte("another passphrase"))
	if _, err := other.OpenSecret(ctx, sealed); !errors.Is(err, kms.ErrWrongPassphrase) {
		t.Fatalf("OpenSecret with another passphrase: %v", err)
	}
	m.Close()
	if _, err := m.SealSecret(ctx, secret); !errors.Is(err, kms.ErrClosed) {
		t.Fatalf("SealSecret after Close: %v", err)
	}
}
