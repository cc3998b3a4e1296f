package kms

import (
	"bytes"
	"context"
	"crypto"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/emmansun/gmsm/pkcs"
	"github.com/emmansun/gmsm/sm3"
	"github.com/emmansun/gmsm/sm4"
)

func TestEncryptedSecretRoundTrip(t *testing.T) {
	for _, n := range []int{1, 16, 32, MaxSecretSize} {
		t.Run(fmt.Sprintf("ok/%d-bytes", n), func(t *testing.T) {
			secret := make([]byte, n)
			rand.Read(secret)
			data, err := MarshalEncryptedSecretPEM(secret, testPass)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(data, []byte("-----BEGIN ENCRYPTED SYMMETRIC KEY-----\n")) {
				t.Fatalf("unexpected PEM:\n%s", data)
			}
			if bytes.Contains(pemBytes(data), secret) && n >= 8 {
				t.Fatal("the secret appears in the clear")
			}
			got, err := ParseEncryptedSecretPEM(data, testPass)
			if err != nil || !bytes.Equal(got, secret) {
				t.Fatalf("ParseEncryptedSecretPEM = %x, %v; want %x", got, err, secret)
			}
			if _, err := ParseEncryptedSecretPEM(data, []byte("wrong")); !errors.Is(err, ErrWrongPassphrase) {
				t.Fatalf("wrong passphrase: %v", err)
			}
		})
	}
}

// TestEncryptedSecretFormat decrypts a secret with PBKDF2-HMAC-SM3 and
// SM4-CBC assembled here and parses the RFC 6031 structure by hand.
func TestEncryptedSecretFormat(t *testing.T) {
	secret := []byte("0123456789abcdef")
	data, err := MarshalEncryptedSecretPEM(secret, testPass)
	if err != nil {
		t.Fatal(err)
	}
	var info encryptedPrivateKeyInfo
	var params pkcs.PBES2Params
	var kdf pbkdf2Params
	var iv []byte
	mustUnmarshal(t, pemBytes(data), &info)
	mustUnmarshal(t, info.Algorithm.Parameters.FullBytes, &params)
	mustUnmarshal(t, params.KeyDerivationFunc.Parameters.FullBytes, &kdf)
	mustUnmarshal(t, params.EncryptionScheme.Parameters.FullBytes, &iv)
	if !kdf.PRF.Algorithm.Equal(asn1.ObjectIdentifier{1, 2, 156, 10197, 1, 401, 2}) || !params.EncryptionScheme.Algorithm.Equal(oidSM4CBC) ||
		kdf.IterationCount != PBKDF2Iterations || len(kdf.Salt) != PBKDF2SaltSize {
		t.Fatalf("unexpected parameters: PRF %s, cipher %s, %d iterations", kdf.PRF.Algorithm, params.EncryptionScheme.Algorithm, kdf.IterationCount)
	}
	key, err := pbkdf2.Key(sm3.New, string(testPass), kdf.Salt, kdf.IterationCount, 16)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := sm4.NewCipher(key)
	plain := make([]byte, len(info.EncryptedData))
	cipher.NewCBCDecrypter(b, iv).CryptBlocks(plain, info.EncryptedData)
	plain = plain[:len(plain)-int(plain[len(plain)-1])]
	// SEQUENCE { [1] OCTET STRING secret }, context tag 1 implicit.
	want := append([]byte{0x30, byte(2 + len(secret)), 0x81, byte(len(secret))}, secret...)
	if !bytes.Equal(plain, want) {
		t.Fatalf("plaintext %x, want OneSymmetricKey %x", plain, want)
	}
}

func TestEncryptedSecretErrors(t *testing.T) {
	good, err := marshalEncryptedSecretPEM([]byte("sixteen byte key"), testPass, 1)
	if err != nil {
		t.Fatal(err)
	}
	encrypt := func(plain []byte) []byte {
		alg, ct, err := encrypter(1).Encrypt(rand.Reader, testPass, plain)
		if err != nil {
			t.Fatal(err)
		}
		der, _ := asn1.Marshal(encryptedPrivateKeyInfo{*alg, ct})
		return pem.EncodeToMemory(&pem.Block{Type: SecretPEMType, Bytes: der})
	}
	empty, _ := asn1.Marshal(oneSymmetricKey{Key: []byte{}})
	big, _ := asn1.Marshal(oneSymmetricKey{Key: make([]byte, MaxSecretSize+1)})
	keyPEM, _ := marshalEncryptedPEM(mustKey(t, GM), testPass, 1)
	tests := []struct {
		name string
		data []byte
		pass []byte
		is   error
		want string
	}{
		{"fail/wrong-passphrase", good, []byte("wrong"), ErrWrongPassphrase, ""},
		{"fail/empty-passphrase", good, nil, ErrEmptyPassphrase, ""},
		{"fail/garbage", []byte("junk"), testPass, nil, "no PEM block"},
		{"fail/a-private-key", keyPEM, testPass, nil, `"ENCRYPTED PRIVATE KEY"`},
		{"fail/trailing", append(append([]byte{}, good...), good...), testPass, nil, "after the PEM block"},
		{"fail/noise", encrypt([]byte("not a OneSymmetricKey")), testPass, ErrWrongPassphrase, ""},
		{"fail/empty-key", encrypt(empty), testPass, ErrWrongPassphrase, ""},
		{"fail/too-large-key", encrypt(big), testPass, ErrWrongPassphrase, ""},
		{"fail/trailing-plaintext", encrypt(append(empty[:0:0], append(mustMarshal(t, oneSymmetricKey{Key: []byte{1}}), 0)...)), testPass, ErrWrongPassphrase, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := ParseEncryptedSecretPEM(tc.data, tc.pass)
			if err == nil || v != nil {
				t.Fatalf("ParseEncryptedSecretPEM = %x, %v; want error", v, err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("error %v is not %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
	for _, n := range []int{0, MaxSecretSize + 1} {
		if _, err := MarshalEncryptedSecretPEM(make([]byte, n), testPass); err == nil {
			t.Errorf("MarshalEncryptedSecretPEM of %d bytes succeeded", n)
		}
	}
	if _, err := MarshalEncryptedSecretPEM([]byte("x"), nil); !errors.Is(err, ErrEmptyPassphrase) {
		t.Errorf("empty passphrase: %v", err)
	}
}

func mustKey(t *testing.T, s Suite) crypto.Signer {
	t.Helper()
	k, err := s.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTypedKeyPEM round-trips Ed25519 and RSA keys through the typed
// functions, which the suite-only ones keep refusing.
func TestTypedKeyPEM(t *testing.T) {
	for _, kt := range []KeyType{Ed25519, RSA2048} {
		t.Run("ok/"+string(kt), func(t *testing.T) {
			k, err := kt.GenerateKey()
			if err != nil {
				t.Fatal(err)
			}
			if got, err := TypeOf(k); err != nil || got != kt {
				t.Fatalf("TypeOf = %q, %v", got, err)
			}
			data, err := MarshalEncryptedKeyPEM(k, testPass)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseEncryptedKeyPEM(data, testPass)
			if err != nil {
				t.Fatal(err)
			}
			msg := []byte("checkpoint")
			switch kt {
			case Ed25519:
				sig, _ := got.Sign(nil, msg, crypto.Hash(0))
				if !ed25519.Verify(k.Public().(ed25519.PublicKey), msg, sig) {
					t.Fatal("Ed25519 signature of the parsed key does not verify")
				}
			case RSA2048:
				d := sha256.Sum256(msg)
				sig, err := got.Sign(rand.Reader, d[:], crypto.SHA256)
				if err != nil || rsa.VerifyPKCS1v15(k.Public().(*rsa.PublicKey), crypto.SHA256, d[:], sig) != nil {
					t.Fatalf("RSA signature of the parsed key does not verify: %v", err)
				}
			}
			if _, err := ParseEncryptedPEM(data, testPass); err == nil {
				t.Fatal("ParseEncryptedPEM accepted a key outside the suites")
			}
			if _, err := ParseEncryptedKeyPEM(data, []byte("wrong")); !errors.Is(err, ErrWrongPassphrase) {
				t.Fatalf("wrong passphrase: %v", err)
			}
		})
	}
	t.Run("ok/suite-keys-too", func(t *testing.T) {
		data, err := MarshalEncryptedKeyPEM(mustKey(t, GM), testPass)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseEncryptedKeyPEM(data, testPass); err != nil {
			t.Fatal(err)
		}
	})
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for name, k := range map[string]crypto.Signer{"rsa1024": small, "p384": p384} {
		t.Run("fail/"+name, func(t *testing.T) {
			if _, err := MarshalEncryptedKeyPEM(k, testPass); err == nil {
				t.Fatal("marshalled")
			}
			if _, err := ParseEncryptedKeyPEM(encryptDER(t, pkcs8Of(t, k), testPass), testPass); err == nil {
				t.Fatal("parsed")
			}
		})
	}
	if err := KeyType("dsa").Valid(); err == nil {
		t.Error(`KeyType("dsa") is valid`)
	}
}

// memSecrets is a SecretStore in memory.
type memSecrets struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *memSecrets) CreateSecret(_ context.Context, name string, v []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[name]; ok {
		return ErrKeyExists
	}
	s.m[name] = bytes.Clone(v)
	return nil
}

func (s *memSecrets) Secret(_ context.Context, name string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[name]
	if !ok {
		return nil, ErrKeyNotFound
	}
	return bytes.Clone(v), nil
}

func TestLoadOrCreateSecret(t *testing.T) {
	ctx := context.Background()
	s := &memSecrets{m: map[string][]byte{}}
	const workers = 8
	got := make([][]byte, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			v, err := LoadOrCreateSecret(ctx, s, "master", 16)
			if err != nil {
				t.Error(err)
			}
			got[i] = v
		})
	}
	wg.Wait()
	for i := range got {
		if len(got[i]) != 16 || !bytes.Equal(got[i], got[0]) {
			t.Fatalf("worker %d got %x, worker 0 %x", i, got[i], got[0])
		}
	}
	if _, err := LoadOrCreateSecret(ctx, s, "master", 32); err == nil || !strings.Contains(err.Error(), "16 bytes, want 32") {
		t.Fatalf("length mismatch: %v", err)
	}
}

func FuzzParseEncryptedSecretPEM(f *testing.F) {
	pass := []byte("fuzz")
	good, _ := marshalEncryptedSecretPEM([]byte("0123456789abcdef"), pass, 1)
	f.Add(good, pass)
	f.Add(pemBytes(good), pass)
	f.Add([]byte("-----BEGIN ENCRYPTED SYMMETRIC KEY-----\nMAA=\n-----END ENCRYPTED SYMMETRIC KEY-----\n"), []byte("x"))
	f.Fuzz(func(t *testing.T, data, pass []byte) {
		check := func(v []byte, err error) {
			if err != nil {
				if v != nil {
					t.Fatalf("secret %x returned with error %v", v, err)
				}
				return
			}
			if len(v) == 0 || len(v) > MaxSecretSize {
				t.Fatalf("accepted a secret of %d bytes", len(v))
			}
		}
		check(ParseEncryptedSecretPEM(data, pass))
		if len(data) < MaxPEMSize/2 && len(pass) > 0 {
			alg, ct, err := encrypter(1).Encrypt(rand.Reader, pass, data)
			if err != nil {
				return
			}
			der, _ := asn1.Marshal(encryptedPrivateKeyInfo{*alg, ct})
			check(ParseEncryptedSecretPEM(pem.EncodeToMemory(&pem.Block{Type: SecretPEMType, Bytes: der}), pass))
		}
	})
}

func TestPassphraseSealer(t *testing.T) {
	ctx := context.Background()
	s, err := NewPassphraseSealer(testPass)
	if err != nil {
		t.Fatal(err)
	}
	k := mustKey(t, Intl)
	sealed, err := s.SealKey(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.OpenKey(ctx, sealed)
	if err != nil || !got.Public().(*ecdsa.PublicKey).Equal(k.Public()) {
		t.Fatalf("OpenKey = %v", err)
	}
	other, _ := NewPassphraseSealer([]byte("other"))
	if _, err := other.OpenKey(ctx, sealed); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("another passphrase: %v", err)
	}
	if _, err := NewPassphraseSealer(nil); !errors.Is(err, ErrEmptyPassphrase) {
		t.Fatalf("empty passphrase: %v", err)
	}
}
