package timestamp_test

import (
	"context"
	"encoding/asn1"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/emmansun/gmsm/pkcs7"
	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/internal/testpki"
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/timestamp"
)

func TestVerify(t *testing.T) {
	a := newAuthority(t, timestamp.WithTSAName())
	data := []byte("申报材料 2026-001")
	p := pkis(t)
	nonce := big.NewInt(123456789)
	for _, suite := range []kms.Suite{kms.GM, kms.Intl} {
		alg := timestamp.HashOf(suite)
		withCert := mustTimestamp(t, a, data, alg, timestamp.TokenOptions{CertReq: true, Nonce: nonce})
		noCert := mustTimestamp(t, a, data, alg, timestamp.TokenOptions{})
		other := map[kms.Suite]kms.Suite{kms.GM: kms.Intl, kms.Intl: kms.GM}[suite]
		tampered := append([]byte(nil), withCert.Raw...)
		tampered[len(tampered)-10] ^= 0x01 // inside the signature value
		tests := []struct {
			name  string
			token []byte
			opts  timestamp.VerifyOptions
			want  error
		}{
			{"ok/data", withCert.Raw, timestamp.VerifyOptions{Data: data, Roots: roots(t, suite)}, nil},
			{"ok/digest", withCert.Raw, timestamp.VerifyOptions{Digest: alg.Sum(data), Roots: roots(t, suite)}, nil},
			{"ok/nonce", withCert.Raw, timestamp.VerifyOptions{Data: data, Roots: roots(t, suite), Nonce: nonce}, nil},
			{"ok/policy", withCert.Raw, timestamp.VerifyOptions{Data: data, Roots: roots(t, suite), Policy: testPolicy}, nil},
			{"ok/no-cert-in-token-cert-supplied", noCert.Raw, timestamp.VerifyOptions{Data: data, Roots: roots(t, suite), Certificates: []*smx509.Certificate{p[suite].Leaf}}, nil},
			{"fail/other-data", withCert.Raw, timestamp.VerifyOptions{Data: []byte("other"), Roots: roots(t, suite)}, timestamp.ErrImprintMismatch},
			{"fail/no-data", withCert.Raw, timestamp.VerifyOptions{Roots: roots(t, suite)}, timestamp.ErrImprintMismatch},
			{"fail/wrong-nonce", withCert.Raw, timestamp.VerifyOptions{Data: data, Roots: roots(t, suite), Nonce: big.NewInt(1)}, timestamp.ErrNonceMismatch},
			{"fail/wrong-policy", withCert.Raw, timestamp.VerifyOptions{Data: data, Roots: roots(t, suite), Policy: otherPolicy}, timestamp.ErrPolicyMismatch},
			{"fail/other-roots", withCert.Raw, timestamp.VerifyOptions{Data: data, Roots: roots(t, other)}, timestamp.ErrUntrusted},
			{"fail/no-roots", withCert.Raw, timestamp.VerifyOptions{Data: data}, timestamp.ErrUntrusted},
			{"fail/no-cert", noCert.Raw, timestamp.VerifyOptions{Data: data, Roots: roots(t, suite)}, timestamp.ErrNoCertificate},
			{"fail/wrong-cert-supplied", noCert.Raw, timestamp.VerifyOptions{Data: data, Roots: roots(t, suite), Certificates: []*smx509.Certificate{p[other].Leaf}}, timestamp.ErrNoCertificate},
			{"fail/tampered-signature", tampered, timestamp.VerifyOptions{Data: data, Roots: roots(t, suite)}, timestamp.ErrBadSignature},
			{"fail/truncated", withCert.Raw[:len(withCert.Raw)-1], timestamp.VerifyOptions{Data: data, Roots: roots(t, suite)}, timestamp.ErrMalformedToken},
		}
		for _, tc := range tests {
			t.Run(string(suite)+"/"+tc.name, func(t *testing.T) {
				info, err := timestamp.VerifyToken(tc.token, tc.opts)
				if tc.want != nil {
					if !errors.Is(err, tc.want) {
						t.Fatalf("got %v, want %v", err, tc.want)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if info.Suite != suite || info.Hash != alg || !info.Certificate.Equal(p[suite].Leaf) || len(info.Chain) != 2 || info.TSAName == nil {
					t.Fatalf("info %+v", info)
				}
			})
		}
		t.Run(string(suite)+"/ok/Verify", func(t *testing.T) {
			if _, err := timestamp.Verify(withCert.Raw, data, roots(t, suite)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestVerifyCertificateRules issues tokens with TSA certificates that break
// RFC 3161 §2.3 or are outside their validity, and checks the verifier
// refuses them.
func TestVerifyCertificateRules(t *testing.T) {
	now := time.Now()
	expired := testpki.NewTSA(t, kms.Intl, testpki.TSAOptions{NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)})
	a, err := timestamp.NewAuthority(expired.LeafKey, expired.Chain(), timestamp.WithPolicy(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	tok := mustTimestamp(t, a, []byte("x"), timestamp.SHA256, timestamp.TokenOptions{CertReq: true})
	if _, err := timestamp.Verify(tok.Raw, []byte("x"), expired.Roots()); !errors.Is(err, timestamp.ErrUntrusted) {
		t.Fatalf("token from an expired TSA certificate: %v", err)
	}
	// Issued while valid (genTime inside the validity) verifies later too.
	past := now.Add(-36 * time.Hour)
	b, err := timestamp.NewAuthority(expired.LeafKey, expired.Chain(), timestamp.WithPolicy(testPolicy), timestamp.WithClock(func() time.Time { return past }))
	if err != nil {
		t.Fatal(err)
	}
	old := mustTimestamp(t, b, []byte("x"), timestamp.SHA256, timestamp.TokenOptions{CertReq: true})
	if _, err := timestamp.Verify(old.Raw, []byte("x"), expired.Roots()); err != nil {
		t.Fatalf("token issued within validity: %v", err)
	}
}

// TestGMTokenWithGmsmPKCS7 parses and verifies a gm token with
// github.com/emmansun/gmsm/pkcs7, a second CMS implementation.
func TestGMTokenWithGmsmPKCS7(t *testing.T) {
	a := newAuthority(t)
	tok := mustTimestamp(t, a, []byte("data"), timestamp.SM3, timestamp.TokenOptions{CertReq: true})
	p7, err := pkcs7.Parse(tok.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := p7.Verify(); err != nil {
		t.Fatalf("gmsm pkcs7 verify: %v", err)
	}
	info, err := timestamp.ParseTSTInfo(p7.Content)
	if err != nil || info.SerialNumber.Cmp(tok.Info.SerialNumber) != 0 {
		t.Fatalf("TSTInfo from pkcs7 content: %v", err)
	}
	var ct asn1.ObjectIdentifier
	if err := p7.UnmarshalSignedAttribute(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}, &ct); err != nil || !ct.Equal(timestamp.OIDTSTInfo) {
		t.Fatalf("content-type attribute %s %v", ct, err)
	}
}

func TestClientVerifiesAgainstAuthority(t *testing.T) {
	a := newAuthority(t)
	ctx := context.Background()
	// In-process tokens and tokens over Respond carry the same structure.
	resp := a.Respond(ctx, mustMarshal(t, &timestamp.TimeStampReq{Version: 1, MessageImprint: imprint(timestamp.SM3.OID(), 32), CertReq: true}))
	if err := resp.Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := timestamp.VerifyToken(resp.Token, timestamp.VerifyOptions{Digest: imprint(timestamp.SM3.OID(), 32).HashedMessage, Roots: roots(t, kms.GM)}); err != nil {
		t.Fatal(err)
	}
}
