package kms

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
)

func TestParseSuite(t *testing.T) {
	tests := []struct {
		name, in string
		want     Suite
		wantErr  bool
	}{
		{"ok/gm", "gm", GM, false},
		{"ok/intl", "intl", Intl, false},
		{"fail/empty", "", "", true},
		{"fail/upper", "GM", "", true},
		{"fail/unknown", "rsa", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSuite(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseSuite(%q) error = %v, wantErr %v", tc.in, err, tc.wantErr)
			}
			if got != tc.want {
				t.Fatalf("ParseSuite(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if err != nil && !strings.Contains(err.Error(), `"`+tc.in+`"`) {
				t.Errorf("error %q does not name the input", err)
			}
		})
	}
}

func TestSuiteProperties(t *testing.T) {
	// Known answers for "abc": GB/T 32905 appendix A.1 and FIPS 180-2 B.1.
	tests := []struct {
		name    string
		suite   Suite
		alg     smx509.SignatureAlgorithm
		hashABC string
		opts    crypto.SignerOpts
	}{
		{"ok/gm", GM, smx509.SM2WithSM3, "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0", sm2.DefaultSM2SignerOpts},
		{"ok/intl", Intl, smx509.ECDSAWithSHA256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", crypto.SHA256},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.suite.SignatureAlgorithm(); got != tc.alg {
				t.Errorf("SignatureAlgorithm() = %v, want %v", got, tc.alg)
			}
			h := tc.suite.NewHash()
			h.Write([]byte("abc"))
			if got := hex.EncodeToString(h.Sum(nil)); got != tc.hashABC {
				t.Errorf("NewHash()(abc) = %s, want %s", got, tc.hashABC)
			}
			if got := tc.suite.SignerOpts(); got != tc.opts {
				t.Errorf("SignerOpts() = %v, want %v", got, tc.opts)
			}
		})
	}
	t.Run("fail/invalid", func(t *testing.T) {
		bad := Suite("x")
		if bad.SignatureAlgorithm() != smx509.UnknownSignatureAlgorithm || bad.SignerOpts() != nil {
			t.Error("invalid suite returned a usable algorithm")
		}
		if _, err := bad.GenerateKey(nil); err == nil {
			t.Error("GenerateKey on invalid suite succeeded")
		}
		defer func() {
			if recover() == nil {
				t.Error("NewHash on invalid suite did not panic")
			}
		}()
		bad.NewHash()
	})
}

func TestGenerateKeySuiteOf(t *testing.T) {
	for _, s := range []Suite{GM, Intl} {
		t.Run("ok/"+string(s), func(t *testing.T) {
			k, err := s.GenerateKey(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			switch s {
			case GM:
				if _, ok := k.(*sm2.PrivateKey); !ok {
					t.Fatalf("GenerateKey(gm) = %T", k)
				}
			case Intl:
				if _, ok := k.(*ecdsa.PrivateKey); !ok {
					t.Fatalf("GenerateKey(intl) = %T", k)
				}
			}
			got, err := SuiteOf(k.Public())
			if err != nil || got != s {
				t.Fatalf("SuiteOf = %q, %v; want %q", got, err, s)
			}
			msg := []byte("tongxing")
			verifySig(t, s, k.Public(), msg, signMessage(t, s, k, msg))
		})
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	fails := []struct {
		name string
		pub  crypto.PublicKey
		want string
	}{
		{"fail/p384", &p384.PublicKey, "P-384"},
		{"fail/ed25519", edPub, "ed25519.PublicKey"},
		{"fail/nil", nil, "<nil>"},
		{"fail/no-curve", &ecdsa.PublicKey{}, "no curve"},
	}
	for _, tc := range fails {
		t.Run(tc.name, func(t *testing.T) {
			_, err := SuiteOf(tc.pub)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("SuiteOf error = %v, want mention of %q", err, tc.want)
			}
		})
	}
}

// signMessage signs msg as a certificate signer does: GM signers get the
// message (SM3 with Z inside), Intl signers the SHA-256 digest.
func signMessage(tb testing.TB, s Suite, k crypto.Signer, msg []byte) []byte {
	opts := s.SignerOpts()
	in := msg
	if opts.HashFunc() != 0 {
		h := s.NewHash()
		h.Write(msg)
		in = h.Sum(nil)
	}
	sig, err := k.Sign(rand.Reader, in, opts)
	if err != nil {
		tb.Fatalf("sign: %v", err)
	}
	return sig
}

func verifySig(tb testing.TB, s Suite, pub crypto.PublicKey, msg, sig []byte) {
	tb.Helper()
	p := pub.(*ecdsa.PublicKey)
	var ok bool
	switch s {
	case GM:
		ok = sm2.VerifyASN1WithSM2(p, []byte("1234567812345678"), msg, sig)
	case Intl:
		h := s.NewHash()
		h.Write(msg)
		ok = ecdsa.VerifyASN1(p, h.Sum(nil), sig)
	}
	if !ok {
		tb.Fatalf("%s signature does not verify", s)
	}
}
