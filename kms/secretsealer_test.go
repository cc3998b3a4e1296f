package kms

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func TestPassphraseSecretSealer(t *testing.T) {
	ctx := context.Background()
	ks, err := NewPassphraseSealer(testPass)
	if err != nil {
		t.Fatal(err)
	}
	s, ok := ks.(SecretSealer)
	if !ok {
		t.Fatalf("NewPassphraseSealer's %T is not a SecretSealer", ks)
	}
	secret := []byte("0123456789abcdef")
	sealed, err := s.SealSecret(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, secret) || !bytes.HasPrefix(sealed, []byte("-----BEGIN "+SecretPEMType)) {
		t.Fatalf("sealed secret is not an encrypted PEM block:\n%s", sealed)
	}
	if got, err := ParseEncryptedSecretPEM(sealed, testPass); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("the sealed secret is not the secret file format: %v", err)
	}
	tests := []struct {
		name    string
		sealer  SecretSealer
		sealed  []byte
		want    []byte
		wantErr error
	}{
		{"ok/round-trip", s, sealed, secret, nil},
		{"fail/other-passphrase", mustSecretSealer(t, []byte("other")), sealed, nil, ErrWrongPassphrase},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.sealer.OpenSecret(ctx, tt.sealed)
			if !errors.Is(err, tt.wantErr) || !bytes.Equal(got, tt.want) {
				t.Fatalf("OpenSecret = %x, %v; want %x, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
	if _, err := s.OpenSecret(ctx, mustSealedKey(t, ks)); err == nil || !strings.Contains(err.Error(), SecretPEMType) {
		t.Fatalf("a sealed private key opened as a secret: %v", err)
	}
	if _, err := s.SealSecret(ctx, nil); err == nil {
		t.Fatal("an empty secret was sealed")
	}
}

func mustSecretSealer(t *testing.T, pass []byte) SecretSealer {
	t.Helper()
	s, err := NewPassphraseSealer(pass)
	if err != nil {
		t.Fatal(err)
	}
	return s.(SecretSealer)
}

func mustSealedKey(t *testing.T, s KeySealer) []byte {
	t.Helper()
	b, err := s.SealKey(context.Background(), mustKey(t, Intl))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
