package auditlog

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Known answers computed with OpenSSL 3 (shell recipe in each case name's
// comment), e.g. printf '\x00abc' | openssl dgst -sm3 -r.
func TestHasherKnownAnswers(t *testing.T) {
	abc := mustHex(t, "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0") // SM3("abc"), GB/T 32905 A.1
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		// printf '' | openssl dgst -sm3
		{"ok/empty-root", Hasher{}.EmptyRoot(), "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b"},
		// printf '\x00' | openssl dgst -sm3
		{"ok/leaf-empty", Hasher{}.HashLeaf(nil), "2daef60e7a0b8f5e024c81cd2ab3109f2b4f155cf83adeb2ae5532f74a157fdf"},
		// printf '\x00abc' | openssl dgst -sm3
		{"ok/leaf-abc", Hasher{}.HashLeaf([]byte("abc")), "a7fe0cdcc2194aa7a9c6bfad5637581bf051d935a10bb6a9ccabfce125c27d96"},
		// 0x01 || SM3("abc") || SM3("abc") | openssl dgst -sm3
		{"ok/children", Hasher{}.HashChildren(abc, abc), "688083a55372458f7c22e83122e0577c4993f4061f4fa3cae438eb9765a66b33"},
		{"ok/children-odd-lengths", Hasher{}.HashChildren(abc[:31], append(abc[31:], abc...)), "688083a55372458f7c22e83122e0577c4993f4061f4fa3cae438eb9765a66b33"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := hex.EncodeToString(tc.got); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
	if (Hasher{}).Size() != 32 {
		t.Fatalf("Size = %d", Hasher{}.Size())
	}
}

// TestHasherOpenSSL compares leaf and node hashes of random inputs with
// OpenSSL's SM3.
func TestHasherOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not installed on this machine")
	}
	dir := t.TempDir()
	sm3 := func(data []byte) string {
		p := filepath.Join(dir, "in")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(openssl, "dgst", "-sm3", "-r", p).Output()
		if err != nil {
			t.Fatalf("openssl: %v", err)
		}
		return strings.Fields(string(out))[0]
	}
	for _, n := range []int{1, 55, 56, 64, 1000} {
		d := make([]byte, n)
		rand.Read(d)
		if got, want := hex.EncodeToString(Hasher{}.HashLeaf(d)), sm3(append([]byte{0}, d...)); got != want {
			t.Fatalf("leaf of %d bytes: got %s, openssl %s", n, got, want)
		}
	}
	l, r := make([]byte, 32), make([]byte, 32)
	rand.Read(l)
	rand.Read(r)
	if got, want := hex.EncodeToString(Hasher{}.HashChildren(l, r)), sm3(bytes.Join([][]byte{{1}, l, r}, nil)); got != want {
		t.Fatalf("children: got %s, openssl %s", got, want)
	}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
