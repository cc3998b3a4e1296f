package kmc

import (
	"bytes"
	"testing"
	"time"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/catest"
	"github.com/tongxing/tongxing/store/storetest"
)

func TestNew(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t))
	noEnc, err := ca.LoadProfiles(ca.BuiltinProfiles())
	if err != nil {
		t.Fatal(err)
	}
	delete(noEnc, EncProfile)
	lacking, err := ca.New(f.CAs, f.Store, f.Store, ca.WithProfiles(noEnc), ca.WithPseudonymKey(bytes.Repeat([]byte{1}, 32)))
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
		{name: "ok/defaults", a: f.CA, key: key, ok: true},
		{name: "ok/ttl", a: f.CA, key: key, opts: []Option{WithRecoveryTTL(time.Hour)}, ok: true},
		{name: "fail/no-authority", key: key},
		{name: "fail/short-key", a: f.CA, key: key[:15]},
		{name: "fail/long-key", a: f.CA, key: append(bytes.Clone(key), 0)},
		{name: "fail/zero-key", a: f.CA, key: make([]byte, MasterKeySize)},
		{name: "fail/no-enc-profile", a: lacking, key: key},
		{name: "fail/ttl-too-short", a: f.CA, key: key, opts: []Option{WithRecoveryTTL(time.Second)}},
		{name: "fail/ttl-too-long", a: f.CA, key: key, opts: []Option{WithRecoveryTTL(31 * 24 * time.Hour)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := New(tt.a, f.DB, tt.key, tt.opts...)
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
	key := catest.SM2Key(t)
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
