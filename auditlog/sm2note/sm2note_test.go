package sm2note_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emmansun/gmsm/sm2"
	tjsm2 "github.com/tjfoc/gmsm/sm2"
	"golang.org/x/mod/sumdb/note"

	"github.com/tongxing/tongxing/auditlog/sm2note"
)

const name = "audit.tongxing.example"

func newKey(t *testing.T) *sm2.PrivateKey {
	t.Helper()
	k, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func signNote(t *testing.T, text string, signers ...note.Signer) []byte {
	t.Helper()
	msg, err := note.Sign(&note.Note{Text: text}, signers...)
	if err != nil {
		t.Fatalf("note.Sign: %v", err)
	}
	return msg
}

func TestSignVerify(t *testing.T) {
	key := newKey(t)
	other := newKey(t)
	s, err := sm2note.NewSigner(name, key)
	if err != nil {
		t.Fatal(err)
	}
	v, err := sm2note.NewVerifier(name, &key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	vOther, err := sm2note.NewVerifier(name, &other.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if s.KeyHash() != v.KeyHash() || s.Name() != v.Name() {
		t.Fatalf("signer %s/%08x and verifier %s/%08x disagree", s.Name(), s.KeyHash(), v.Name(), v.KeyHash())
	}
	text := "audit.tongxing.example\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
	msg := signNote(t, text, s)

	tests := []struct {
		name    string
		msg     []byte
		v       note.Verifier
		wantErr bool
	}{
		{"ok/own-key", msg, v, false},
		{"fail/other-key-same-name", msg, vOther, true},
		{"fail/changed-text", []byte(strings.Replace(string(msg), "\n3\n", "\n4\n", 1)), v, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := note.Open(tc.msg, note.VerifierList(tc.v))
			if tc.wantErr {
				if err == nil {
					t.Fatal("note.Open accepted the note")
				}
				return
			}
			if err != nil {
				t.Fatalf("note.Open: %v", err)
			}
			if n.Text != text || len(n.Sigs) != 1 || n.Sigs[0].Hash != v.KeyHash() {
				t.Fatalf("unexpected note %+v", n)
			}
		})
	}
}

// TestInterop checks the signature inside a note with two independent SM2
// implementations: github.com/tjfoc/gmsm and OpenSSL 3.
func TestInterop(t *testing.T) {
	key := newKey(t)
	s, err := sm2note.NewSigner(name, key)
	if err != nil {
		t.Fatal(err)
	}
	text := "interop check\n"
	msg := signNote(t, text, s)
	sig := sigBytes(t, msg)

	t.Run("ok/tjfoc", func(t *testing.T) {
		pub := &tjsm2.PublicKey{Curve: tjsm2.P256Sm2(), X: key.X, Y: key.Y}
		if !pub.Verify([]byte(text), sig) {
			t.Fatal("tjfoc/gmsm rejects the signature")
		}
		if pub.Verify([]byte("interop check!\n"), sig) {
			t.Fatal("tjfoc/gmsm accepts the signature over other text")
		}
	})
	t.Run("ok/openssl", func(t *testing.T) {
		openssl, err := exec.LookPath("openssl")
		if err != nil {
			t.Skip("openssl is not installed on this machine")
		}
		dir := t.TempDir()
		pemPub, err := sm2note.MarshalPublicKeyPEM(&key.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		write := func(n string, b []byte) string {
			p := filepath.Join(dir, n)
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}
		pubPath, msgPath, sigPath := write("pub.pem", pemPub), write("msg", []byte(text)), write("sig", sig)
		out, err := exec.Command(openssl, "dgst", "-sm3", "-verify", pubPath, "-sigopt", "distid:1234567812345678",
			"-signature", sigPath, msgPath).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Verified OK") {
			t.Fatalf("openssl rejects the signature: %v: %s", err, out)
		}
	})
}

func sigBytes(t *testing.T, msg []byte) []byte {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(string(msg), "\n"), "\n")
	last := lines[len(lines)-1]
	_, b64, _ := strings.Cut(strings.TrimPrefix(last, "— "), " ")
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) < 5 {
		t.Fatalf("bad signature line %q", last)
	}
	return raw[4:]
}

func TestVerifierKey(t *testing.T) {
	key := newKey(t)
	vkey, err := sm2note.VerifierKey(name, &key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 || parts[0] != name || len(parts[1]) != 8 {
		t.Fatalf("verifier key %q is not name+id+key", vkey)
	}
	raw, _ := base64.StdEncoding.DecodeString(parts[2])
	if string(raw[:len(sm2note.SignatureType)]) != sm2note.SignatureType {
		t.Fatalf("verifier key type = %x", raw[:17])
	}
	rebuild := func(id string, enc []byte) string {
		return name + "+" + id + "+" + base64.StdEncoding.EncodeToString(enc)
	}
	offCurve := append([]byte(sm2note.SignatureType), 0x04)
	offCurve = append(offCurve, make([]byte, 64)...)
	offCurve[len(offCurve)-1] = 1
	edType := append([]byte{0x01}, make([]byte, 32)...)

	tests := []struct {
		name string
		vkey string
	}{
		{"ok/round-trip", vkey},
		{"fail/no-plus", "abc"},
		{"fail/bad-id", rebuild("zzzzzzzz", raw)},
		{"fail/short-id", rebuild("1234", raw)},
		{"fail/wrong-id", rebuild("00000000", raw)},
		{"fail/bad-base64", name + "+" + parts[1] + "+!!!"},
		{"fail/ed25519-type", rebuild(parts[1], edType)},
		{"fail/short-point", rebuild(parts[1], raw[:len(raw)-1])},
		{"fail/off-curve", rebuild(parts[1], offCurve)},
		{"fail/bad-name", "a b+" + parts[1] + "+" + parts[2]},
		{"fail/too-long", vkey + strings.Repeat("A", sm2note.MaxKeyLen)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := sm2note.NewVerifierFromKey(tc.vkey)
			if strings.HasPrefix(tc.name, "fail/") {
				if !errors.Is(err, sm2note.ErrInvalidKey) {
					t.Fatalf("err = %v, want ErrInvalidKey", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !v.PublicKey().Equal(&key.PublicKey) || v.Name() != name {
				t.Fatal("round trip changed the key")
			}
		})
	}
}

func TestEd25519Signer(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sm2note.NewEd25519Signer(name, priv)
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := note.NewEd25519VerifierKey(name, pub)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.VerifierKey()
	if err != nil || got != vkey {
		t.Fatalf("VerifierKey = %q, %v; want %q", got, err, vkey)
	}
	std, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	sm2s, err := sm2note.NewSigner(name, newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	msg := signNote(t, "cosigned\n", sm2s, s)
	n, err := note.Open(msg, note.VerifierList(std))
	if err != nil {
		t.Fatalf("standard Ed25519 verifier rejects the co-signature: %v", err)
	}
	if len(n.Sigs) != 1 || len(n.UnverifiedSigs) != 1 {
		t.Fatalf("sigs = %+v unverified = %+v", n.Sigs, n.UnverifiedSigs)
	}
	tests := []struct {
		name string
		key  any
		kn   string
	}{
		{"fail/sm2-key", newKey(t), name},
		{"fail/bad-name", priv, "with space"},
		{"fail/nil", nil, name},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			switch k := tc.key.(type) {
			case ed25519.PrivateKey:
				_, err = sm2note.NewEd25519Signer(tc.kn, k)
			case *sm2.PrivateKey:
				_, err = sm2note.NewEd25519Signer(tc.kn, k)
			default:
				_, err = sm2note.NewEd25519Signer(tc.kn, nil)
			}
			if !errors.Is(err, sm2note.ErrInvalidKey) {
				t.Fatalf("err = %v, want ErrInvalidKey", err)
			}
		})
	}
}

func TestNewSignerRejects(t *testing.T) {
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sm2note.NewSigner(name, p256); !errors.Is(err, sm2note.ErrInvalidKey) {
		t.Fatalf("P-256 key: err = %v", err)
	}
	if _, err := sm2note.NewSigner("", newKey(t)); !errors.Is(err, sm2note.ErrInvalidKey) {
		t.Fatalf("empty name: err = %v", err)
	}
	if _, err := sm2note.NewVerifier(name, &ecdsa.PublicKey{Curve: sm2.P256(), X: big.NewInt(1), Y: big.NewInt(1)}); !errors.Is(err, sm2note.ErrInvalidKey) {
		t.Fatalf("off-curve verifier: err = %v", err)
	}
}

func TestPublicKeyPEM(t *testing.T) {
	key := newKey(t)
	pemPub, err := sm2note.MarshalPublicKeyPEM(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&p256.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemP256 := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	tests := []struct {
		name string
		in   []byte
	}{
		{"ok/round-trip", pemPub},
		{"fail/p256-key", pemP256},
		{"fail/empty", nil},
		{"fail/wrong-type", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")},
		{"fail/garbage-der", []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")},
		{"fail/too-long", append(pemPub, make([]byte, 64<<10)...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pub, err := sm2note.ParsePublicKeyPEM(tc.in)
			if strings.HasPrefix(tc.name, "fail/") {
				if !errors.Is(err, sm2note.ErrInvalidKey) {
					t.Fatalf("err = %v, want ErrInvalidKey", err)
				}
				return
			}
			if err != nil || !pub.Equal(&key.PublicKey) {
				t.Fatalf("round trip: %v", err)
			}
		})
	}
}
