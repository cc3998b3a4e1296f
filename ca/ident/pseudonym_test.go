package ident

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"os/exec"
	"strings"
	"testing"
)

// testKey is 0x00 0x01 ... 0x1f.
func testKey() []byte {
	k := make([]byte, 32)
	for i := range k {
		k[i] = byte(i)
	}
	return k
}

func TestPseudonym(t *testing.T) {
	key := testKey()
	otherKey := bytes.Repeat([]byte{0xa5}, 32)
	// Known answer from OpenSSL 3:
	//   printf '11010519491231002X' | openssl dgst -sm3 -mac HMAC \
	//     -macopt hexkey:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
	const kat = "b0388348088fd3f9c27114fb639a0f32b762dd6e5194279ced98d8455eef3ac5"
	tests := []struct {
		name     string
		key      []byte
		id       string
		want     string // exact expected value, if known
		sameAs   string // id whose pseudonym under key must be equal
		differID string // id whose pseudonym under key must differ
	}{
		{name: "ok/openssl-kat", key: key, id: "11010519491231002X", want: kat},
		{name: "ok/normalised-lower-x", key: key, id: " 11010519491231002x ", want: kat},
		{name: "ok/same-id-same-key", key: otherKey, id: "320582199511087716", sameAs: "320582199511087716"},
		{name: "ok/different-id", key: key, id: "320582199511087716", differID: "11010519491231002X"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Pseudonym(tc.key, tc.id)
			if len(got) != 64 || strings.ToLower(got) != got {
				t.Fatalf("Pseudonym = %q, want 64 lower-case hex characters", got)
			}
			if _, err := hex.DecodeString(got); err != nil {
				t.Fatalf("not hex: %v", err)
			}
			if !isPrintableString(got) {
				t.Errorf("%q is not a PrintableString", got)
			}
			if tc.want != "" && got != tc.want {
				t.Errorf("Pseudonym = %s, want %s", got, tc.want)
			}
			if tc.sameAs != "" && Pseudonym(tc.key, tc.sameAs) != got {
				t.Error("same key and id gave different pseudonyms")
			}
			if tc.differID != "" && Pseudonym(tc.key, tc.differID) == got {
				t.Error("different ids gave the same pseudonym")
			}
		})
	}
	t.Run("fail/other-key-differs", func(t *testing.T) {
		if Pseudonym(otherKey, "11010519491231002X") == kat {
			t.Error("a different key gave the same pseudonym")
		}
	})
}

// TestPseudonymOpenSSL checks HMAC-SM3 against OpenSSL 3 with a random key.
func TestPseudonymOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, id string }{
		{"ok/gb11643-example", "11010519491231002X"},
		{"ok/jiangsu", "320582199511087716"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(openssl, "dgst", "-sm3", "-mac", "HMAC", "-macopt", "hexkey:"+hex.EncodeToString(key))
			cmd.Stdin = strings.NewReader(tc.id)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("openssl: %v", err)
			}
			fields := strings.Fields(string(out))
			if len(fields) == 0 {
				t.Fatalf("openssl printed nothing")
			}
			if want, got := fields[len(fields)-1], Pseudonym(key, tc.id); got != want {
				t.Errorf("Pseudonym = %s, openssl = %s", got, want)
			}
		})
	}
}
