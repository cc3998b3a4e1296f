package softkms

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tongxing/tongxing/kms"
)

func TestLoadPassphrase(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", "s3cret\n", 0o600)
	crlf := write("crlf", "s3cret\r\n", 0o400)
	inner := write("inner", " two words \n", 0o600)
	world := write("world", "s3cret\n", 0o644)
	group := write("group", "s3cret\n", 0o640)
	empty := write("empty", "\n", 0o600)
	big := write("big", strings.Repeat("x", 5000), 0o600)

	tests := []struct {
		name, env, file string
		want            string
		is              error
		errHas          string
	}{
		{"ok/env-wins", "from-env", world, "from-env", nil, ""},
		{"ok/file", "", good, "s3cret", nil, ""},
		{"ok/file-crlf", "", crlf, "s3cret", nil, ""},
		{"ok/inner-spaces-kept", "", inner, " two words ", nil, ""},
		{"fail/none", "", "", "", kms.ErrEmptyPassphrase, "no passphrase"},
		{"fail/world-readable", "", world, "", nil, "mode 0644"},
		{"fail/group-readable", "", group, "", nil, "mode 0640"},
		{"fail/empty-file", "", empty, "", kms.ErrEmptyPassphrase, empty},
		{"fail/missing", "", filepath.Join(dir, "nope"), "", os.ErrNotExist, "nope"},
		{"fail/directory", "", dir, "", nil, "not a regular file"},
		{"fail/too-large", "", big, "", nil, "larger than"},
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LoadPassphrase(tc.env, tc.file)
			if tc.errHas == "" {
				if err != nil || string(got) != tc.want {
					t.Fatalf("LoadPassphrase = %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if err == nil || got != nil {
				t.Fatalf("LoadPassphrase = %q, nil; want error", got)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("error %v is not %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("error %q does not contain %q", err, tc.errHas)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("error %q reveals the passphrase", err)
			}
		})
	}
}

func TestGeneratePassphraseFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "passphrase")
	pass, err := GeneratePassphraseFile(p)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(string(pass))
	if err != nil || len(raw) != 32 {
		t.Fatalf("passphrase %q decodes to %d bytes, %v", pass, len(raw), err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	loaded, err := LoadPassphrase("", p)
	if err != nil || string(loaded) != string(pass) {
		t.Fatalf("LoadPassphrase = %q, %v; want %q", loaded, err, pass)
	}
	t.Run("fail/exists", func(t *testing.T) {
		again, err := GeneratePassphraseFile(p)
		if err == nil || again != nil || !errors.Is(err, os.ErrExist) {
			t.Fatalf("second GeneratePassphraseFile = %q, %v; want ErrExist", again, err)
		}
		kept, _ := LoadPassphrase("", p)
		if string(kept) != string(pass) {
			t.Fatal("existing passphrase file was overwritten")
		}
	})
	t.Run("ok/distinct", func(t *testing.T) {
		other, err := GeneratePassphraseFile(p + "2")
		if err != nil || string(other) == string(pass) {
			t.Fatalf("second passphrase %q, %v", other, err)
		}
	})
}
