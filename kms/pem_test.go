package kms

import (
	"bytes"
	"crypto"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/pbkdf2"
	"crypto/rand"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emmansun/gmsm/pkcs"
	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm3"
	"github.com/emmansun/gmsm/sm4"
	"github.com/emmansun/gmsm/smx509"
)

var testPass = []byte("correct horse battery staple")

func TestEncryptedPEMRoundTrip(t *testing.T) {
	for _, s := range []Suite{GM, Intl} {
		t.Run("ok/"+string(s), func(t *testing.T) {
			k, err := s.GenerateKey(nil)
			if err != nil {
				t.Fatal(err)
			}
			data, err := MarshalEncryptedPEM(k, testPass)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(data, []byte("BEGIN PRIVATE KEY")) || !bytes.HasPrefix(data, []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\n")) {
				t.Fatalf("unexpected PEM:\n%s", data)
			}
			got, err := ParseEncryptedPEM(data, testPass)
			if err != nil {
				t.Fatal(err)
			}
			if gs, err := SuiteOf(got.Public()); err != nil || gs != s {
				t.Fatalf("parsed key suite = %q, %v", gs, err)
			}
			if !got.Public().(*ecdsa.PublicKey).Equal(k.Public()) {
				t.Fatal("parsed public key differs")
			}
			msg := bytes.Repeat([]byte("filing "), 100)
			verifySig(t, s, k.Public(), msg, signMessage(t, s, got, msg))
		})
	}
}

// TestEncryptedPEMFormat checks the written structure and decrypts it with
// PBKDF2 and SM4 assembled here, without the pkcs package that wrote it.
func TestEncryptedPEMFormat(t *testing.T) {
	k, _ := GM.GenerateKey(nil)
	data, err := MarshalEncryptedPEM(k, testPass)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	var info encryptedPrivateKeyInfo
	var params pkcs.PBES2Params
	var kdf pbkdf2Params
	var iv []byte
	mustUnmarshal(t, block.Bytes, &info)
	mustUnmarshal(t, info.Algorithm.Parameters.FullBytes, &params)
	mustUnmarshal(t, params.KeyDerivationFunc.Parameters.FullBytes, &kdf)
	mustUnmarshal(t, params.EncryptionScheme.Parameters.FullBytes, &iv)
	checks := []struct {
		name      string
		got, want asn1.ObjectIdentifier
	}{
		{"PBES2", info.Algorithm.Algorithm, asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}},
		{"PBKDF2", params.KeyDerivationFunc.Algorithm, oidPBKDF2},
		{"hmacWithSM3", kdf.PRF.Algorithm, asn1.ObjectIdentifier{1, 2, 156, 10197, 1, 401, 2}},
		{"SM4-CBC", params.EncryptionScheme.Algorithm, oidSM4CBC},
	}
	for _, c := range checks {
		if !c.got.Equal(c.want) {
			t.Errorf("%s: OID %s, want %s", c.name, c.got, c.want)
		}
	}
	if len(kdf.Salt) != PBKDF2SaltSize || kdf.IterationCount != PBKDF2Iterations || len(iv) != 16 {
		t.Fatalf("salt %d bytes, %d iterations, IV %d bytes", len(kdf.Salt), kdf.IterationCount, len(iv))
	}
	key, err := pbkdf2.Key(sm3.New, string(testPass), kdf.Salt, kdf.IterationCount, 16)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sm4.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	plain := make([]byte, len(info.EncryptedData))
	cipher.NewCBCDecrypter(b, iv).CryptBlocks(plain, info.EncryptedData)
	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > 16 {
		t.Fatalf("bad padding %d", pad)
	}
	got, err := smx509.ParsePKCS8PrivateKey(plain[:len(plain)-pad])
	if err != nil {
		t.Fatal(err)
	}
	if !got.(*sm2.PrivateKey).Equal(k) {
		t.Fatal("independently decrypted key differs")
	}
}

func mustUnmarshal(t *testing.T, der []byte, v any) {
	t.Helper()
	if rest, err := asn1.Unmarshal(der, v); err != nil || len(rest) != 0 {
		t.Fatalf("unmarshal %T: %v (%d trailing bytes)", v, err, len(rest))
	}
}

// encryptDER wraps plain (any bytes) as an encrypted PKCS#8 PEM block with a
// low iteration count, to build inputs the marshaller refuses to write.
func encryptDER(tb testing.TB, plain, pass []byte) []byte {
	tb.Helper()
	alg, ct, err := encrypter(1).Encrypt(rand.Reader, pass, plain)
	if err != nil {
		tb.Fatal(err)
	}
	der, err := asn1.Marshal(encryptedPrivateKeyInfo{*alg, ct})
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: PEMType, Bytes: der})
}

func pkcs8Of(tb testing.TB, k any) []byte {
	tb.Helper()
	der, err := smx509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		tb.Fatal(err)
	}
	return der
}

// reencode rebuilds a PEM key after f changes its decoded structures.
func reencode(tb testing.TB, data []byte, f func(*encryptedPrivateKeyInfo, *pkcs.PBES2Params, *pbkdf2Params)) []byte {
	tb.Helper()
	block, _ := pem.Decode(data)
	var info encryptedPrivateKeyInfo
	var params pkcs.PBES2Params
	var kdf pbkdf2Params
	asn1.Unmarshal(block.Bytes, &info)
	asn1.Unmarshal(info.Algorithm.Parameters.FullBytes, &params)
	asn1.Unmarshal(params.KeyDerivationFunc.Parameters.FullBytes, &kdf)
	f(&info, &params, &kdf)
	must := func(b []byte, err error) []byte {
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	params.KeyDerivationFunc.Parameters = asn1.RawValue{FullBytes: must(asn1.Marshal(kdf))}
	info.Algorithm.Parameters = asn1.RawValue{FullBytes: must(asn1.Marshal(params))}
	return pem.EncodeToMemory(&pem.Block{Type: PEMType, Bytes: must(asn1.Marshal(info))})
}

func TestParseEncryptedPEMErrors(t *testing.T) {
	gm, _ := GM.GenerateKey(nil)
	good := encryptDER(t, pkcs8Of(t, gm), testPass)
	if _, err := ParseEncryptedPEM(good, testPass); err != nil {
		t.Fatalf("control input rejected: %v", err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	// d = n-1 is a valid ECDSA scalar but not a usable SM2 one.
	curve := sm2.P256()
	nMinus1 := new(big.Int).Sub(curve.Params().N, big.NewInt(1))
	badEC := &ecdsa.PrivateKey{D: nMinus1, PublicKey: ecdsa.PublicKey{Curve: curve}}
	badEC.X, badEC.Y = curve.ScalarBaseMult(nMinus1.Bytes())
	sm2D, err := new(sm2.PrivateKey).FromECPrivateKey(badEC)
	if err != nil {
		t.Fatal(err)
	}
	plainPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8Of(t, gm)})
	withHeader := pem.EncodeToMemory(&pem.Block{Type: PEMType, Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: []byte{0x30, 0}})

	tests := []struct {
		name string
		data []byte
		pass []byte
		is   error  // errors.Is target, or
		want string // substring of the message
	}{
		{"fail/wrong-passphrase", good, []byte("wrong"), ErrWrongPassphrase, ""},
		{"fail/empty-passphrase", good, nil, ErrEmptyPassphrase, ""},
		{"fail/empty-input", nil, testPass, nil, "no PEM block"},
		{"fail/garbage", []byte("not a key at all"), testPass, nil, "no PEM block"},
		{"fail/truncated-pem", good[:len(good)/2], testPass, nil, "no PEM block"},
		{"fail/truncated-der", pem.EncodeToMemory(&pem.Block{Type: PEMType, Bytes: pemBytes(good)[:40]}), testPass, nil, "malformed EncryptedPrivateKeyInfo"},
		{"fail/wrong-type", plainPEM, testPass, nil, `"PRIVATE KEY"`},
		{"fail/headers", withHeader, testPass, nil, "headers"},
		{"fail/trailing", append(append([]byte{}, good...), good...), testPass, nil, "after the PEM block"},
		{"fail/too-large", append(append([]byte{}, good...), make([]byte, MaxPEMSize)...), testPass, nil, "limit is"},
		{"fail/iterations", reencode(t, good, func(_ *encryptedPrivateKeyInfo, _ *pkcs.PBES2Params, k *pbkdf2Params) {
			k.IterationCount = MaxPBKDF2Iterations + 1
		}), testPass, nil, "iteration count"},
		{"fail/zero-iterations", reencode(t, good, func(_ *encryptedPrivateKeyInfo, _ *pkcs.PBES2Params, k *pbkdf2Params) {
			k.IterationCount = 0
		}), testPass, nil, "iteration count"},
		{"fail/scrypt", reencode(t, good, func(_ *encryptedPrivateKeyInfo, p *pkcs.PBES2Params, _ *pbkdf2Params) {
			p.KeyDerivationFunc.Algorithm = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11591, 4, 11}
		}), testPass, nil, "unsupported key derivation"},
		{"fail/pbes1", reencode(t, good, func(i *encryptedPrivateKeyInfo, _ *pkcs.PBES2Params, _ *pbkdf2Params) {
			i.Algorithm.Algorithm = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 3}
		}), testPass, nil, "unsupported key encryption"},
		{"fail/sm4-ecb", reencode(t, good, func(_ *encryptedPrivateKeyInfo, p *pkcs.PBES2Params, _ *pbkdf2Params) {
			p.EncryptionScheme.Algorithm = asn1.ObjectIdentifier{1, 2, 156, 10197, 1, 104, 1}
		}), testPass, nil, "unsupported key encryption cipher"},
		{"fail/short-iv", reencode(t, good, func(_ *encryptedPrivateKeyInfo, p *pkcs.PBES2Params, _ *pbkdf2Params) {
			p.EncryptionScheme.Parameters = asn1.RawValue{FullBytes: []byte{4, 8, 1, 2, 3, 4, 5, 6, 7, 8}}
		}), testPass, nil, "16-byte"},
		{"fail/partial-block", reencode(t, good, func(i *encryptedPrivateKeyInfo, _ *pkcs.PBES2Params, _ *pbkdf2Params) {
			i.EncryptedData = i.EncryptedData[:len(i.EncryptedData)-1]
		}), testPass, nil, "multiple of 16"},
		{"fail/noise-plaintext", encryptDER(t, []byte("definitely not PKCS#8"), testPass), testPass, ErrWrongPassphrase, ""},
		{"fail/p384", encryptDER(t, pkcs8Of(t, p384), testPass), testPass, nil, "P-384"},
		{"fail/ed25519", encryptDER(t, pkcs8Of(t, ed), testPass), testPass, nil, "ed25519"},
		{"fail/sm2-scalar-range", encryptDER(t, pkcs8Of(t, sm2D), testPass), testPass, nil, "out of range"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParseEncryptedPEM(tc.data, tc.pass)
			if err == nil || k != nil {
				t.Fatalf("ParseEncryptedPEM = %T, %v; want error", k, err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("error %v is not %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func pemBytes(data []byte) []byte {
	b, _ := pem.Decode(data)
	return b.Bytes
}

func TestMarshalEncryptedPEMErrors(t *testing.T) {
	gm, _ := GM.GenerateKey(nil)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	// An *ecdsa.PrivateKey on the SM2 curve would sign ECDSA, not SM2.
	sm2AsECDSA := gm.(*sm2.PrivateKey).PrivateKey
	tests := []struct {
		name string
		key  crypto.Signer
		pass []byte
		want string
	}{
		{"fail/empty-passphrase", gm, nil, "empty passphrase"},
		{"fail/p384", p384, testPass, "P-384"},
		{"fail/ed25519", ed, testPass, "ed25519"},
		{"fail/sm2-as-ecdsa", &sm2AsECDSA, testPass, "does not match"},
		{"fail/nil-sm2", (*sm2.PrivateKey)(nil), testPass, "nil"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := MarshalEncryptedPEM(tc.key, tc.pass)
			if err == nil || out != nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("MarshalEncryptedPEM = %d bytes, %v; want error containing %q", len(out), err, tc.want)
			}
		})
	}
}

// TestParseOpenSSLKeys reads keys that OpenSSL 3 generated and encrypted
// with PBES2 (OpenSSL 3.0 has no hmacWithSM3 PRF, so it uses HMAC-SHA256).
func TestParseOpenSSLKeys(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	tests := []struct {
		name   string
		suite  Suite
		genArg []string
		cipher string
	}{
		{"ok/gm-sm4-cbc", GM, []string{"-algorithm", "SM2"}, "sm4-cbc"},
		{"ok/intl-aes-256-cbc", Intl, []string{"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"}, "aes-256-cbc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			plain, enc := filepath.Join(dir, "plain.pem"), filepath.Join(dir, "enc.pem")
			run(t, openssl, append([]string{"genpkey", "-out", plain}, tc.genArg...)...)
			run(t, openssl, "pkcs8", "-topk8", "-in", plain, "-out", enc, "-v2", tc.cipher, "-v2prf", "hmacWithSHA256", "-passout", "pass:"+string(testPass))
			data, err := os.ReadFile(enc)
			if err != nil {
				t.Fatal(err)
			}
			k, err := ParseEncryptedPEM(data, testPass)
			if err != nil {
				t.Fatal(err)
			}
			if s, err := SuiteOf(k.Public()); err != nil || s != tc.suite {
				t.Fatalf("suite = %q, %v; want %q", s, err, tc.suite)
			}
			msg := []byte("interop")
			verifySig(t, tc.suite, k.Public(), msg, signMessage(t, tc.suite, k, msg))
			if _, err := ParseEncryptedPEM(data, []byte("wrong")); !errors.Is(err, ErrWrongPassphrase) {
				t.Fatalf("wrong passphrase: %v", err)
			}
		})
	}
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

func FuzzParseEncryptedPEM(f *testing.F) {
	gm, _ := GM.GenerateKey(nil)
	intl, _ := Intl.GenerateKey(nil)
	pass := []byte("fuzz")
	f.Add(encryptDER(f, pkcs8Of(f, gm), pass), pass)
	f.Add(encryptDER(f, pkcs8Of(f, intl), pass), pass)
	f.Add(pkcs8Of(f, gm), pass)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: PEMType, Bytes: pkcs8Of(f, intl)}), pass)
	f.Add([]byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n"), []byte("x"))
	f.Fuzz(func(t *testing.T, data, pass []byte) {
		check := func(k crypto.Signer, err error) {
			if err != nil {
				if k != nil {
					t.Fatalf("non-nil signer %T with error %v", k, err)
				}
				return
			}
			s, err := SuiteOf(k.Public())
			if err != nil {
				t.Fatalf("accepted key of no suite: %v", err)
			}
			msg := []byte("fuzz")
			verifySig(t, s, k.Public(), msg, signMessage(t, s, k, msg))
		}
		// As given: exercises PEM, ASN.1 and parameter checks.
		check(ParseEncryptedPEM(data, pass))
		// data as the plaintext under a known passphrase: exercises the
		// checks after decryption.
		if len(data) < MaxPEMSize/2 {
			check(ParseEncryptedPEM(encryptDER(t, data, pass), pass))
		}
	})
}

func BenchmarkSign(b *testing.B) {
	msg := make([]byte, 1024)
	rand.Read(msg)
	for _, s := range []Suite{GM, Intl} {
		b.Run(string(s), func(b *testing.B) {
			k, err := s.GenerateKey(nil)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				signMessage(b, s, k, msg)
			}
		})
	}
}

// BenchmarkParseEncryptedPEM measures the cost of a key load, dominated by
// PBKDF2Iterations rounds of HMAC-SM3.
func BenchmarkParseEncryptedPEM(b *testing.B) {
	k, _ := GM.GenerateKey(nil)
	data, err := MarshalEncryptedPEM(k, testPass)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := ParseEncryptedPEM(data, testPass); err != nil {
			b.Fatal(err)
		}
	}
}
