package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/asn1"
	"encoding/pem"
	"testing"

	"github.com/emmansun/gmsm/sm2"

	"github.com/tongxing/tongxing/kms"
)

// TestSubscriberKeyFormats: `ca request` encrypts ECDSA keys with
// PBKDF2-HMAC-SHA256 and AES-256-CBC (what OpenSSL reads) and SM2 keys in
// the GM/T form (HMAC-SM3, SM4-CBC); Tongxing reads both back.
func TestSubscriberKeyFormats(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	gm, _ := sm2.GenerateKey(rand.Reader)
	var (
		hmacSHA256 = mustOID(t, asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9})
		aes256CBC  = mustOID(t, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42})
		hmacSM3    = mustOID(t, asn1.ObjectIdentifier{1, 2, 156, 10197, 1, 401, 2})
		sm4CBC     = mustOID(t, asn1.ObjectIdentifier{1, 2, 156, 10197, 1, 104, 2})
	)
	pass := []byte("plum orbit canvas ladder 42")
	for _, tt := range []struct {
		name      string
		key       crypto.Signer
		want, not [][]byte
	}{
		{"ok/ecdsa-as-openssl-reads", ec, [][]byte{hmacSHA256, aes256CBC}, [][]byte{hmacSM3, sm4CBC}},
		{"ok/sm2-stays-gmt", gm, [][]byte{hmacSM3, sm4CBC}, [][]byte{aes256CBC}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := encryptSubscriberKey(tt.key, pass)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := pem.Decode(p)
			if b == nil || b.Type != kms.PEMType {
				t.Fatalf("not an encrypted PEM key:\n%s", p)
			}
			for _, oid := range tt.want {
				if !bytes.Contains(b.Bytes, oid) {
					t.Errorf("algorithm %x missing", oid)
				}
			}
			for _, oid := range tt.not {
				if bytes.Contains(b.Bytes, oid) {
					t.Errorf("algorithm %x present", oid)
				}
			}
			back, err := kms.ParseEncryptedPEM(p, pass)
			if err != nil {
				t.Fatal(err)
			}
			if !back.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(tt.key.Public()) {
				t.Error("a different key came back")
			}
		})
	}
	if _, err := encryptSubscriberKey(ec, nil); err == nil {
		t.Error("an empty passphrase was accepted")
	}
}

func mustOID(t *testing.T, oid asn1.ObjectIdentifier) []byte {
	t.Helper()
	b, err := asn1.Marshal(oid)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
