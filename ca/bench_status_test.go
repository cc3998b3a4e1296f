package ca_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/catest"
	"github.com/tongxing/tongxing/ca/ocsp"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// BenchmarkStatus compares the certificate-status paths with the raw SM2
// signing rate in one run ("resp/sign": responses per second as a multiple
// of parallel SM2 signatures per second):
//
//	go test -run '^$' -bench BenchmarkStatus -benchtime 2s ./ca/
//
// ocsp-cached answers a nonce-less request from memory (the pre-signed
// response cached after the first answer; no signing, no database read);
// ocsp-signed answers one with a nonce, which must be signed per request;
// crl-100k signs a full SM2 CRL over 100,000 revoked certificates
// (reading them from SQLite, numbering, signing, storing).
func BenchmarkStatus(b *testing.B) {
	ctx := context.Background()
	db := storetest.SQLite(b)
	fx := catest.New(b, catest.OnDB(db))
	issuer := fx.Issuer(b, "gm-issuing")
	msg := make([]byte, 600)
	rand.Read(msg)
	// The status paths run in parallel, so the raw rate they are compared
	// with is measured in parallel too.
	var signNs float64
	b.Run("raw-sm2-sign-parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := crypto.SignMessage(issuer.Signer, rand.Reader, msg, sm2.DefaultSM2SignerOpts); err != nil {
					b.Fatal(err)
				}
			}
		})
		signNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	report := func(b *testing.B) {
		if signNs > 0 {
			b.ReportMetric(signNs/(float64(b.Elapsed().Nanoseconds())/float64(b.N)), "resp/sign")
		}
	}
	rk, err := fx.CA.EnsureResponder(ctx, fx.KM, fx.Dir, "gm-issuing")
	if err != nil {
		b.Fatal(err)
	}
	r, err := ca.NewOCSPResponder(fx.CA, db, []*ca.ResponderKey{rk})
	if err != nil {
		b.Fatal(err)
	}
	iss, err := fx.CA.Issue(ctx, ca.IssueRequest{PublicKey: catest.SM2Key(b).Public(), Profile: "citizen", RequestedBy: "bench",
		Subject: ca.Subject{Name: catest.CitizenName, IDNumber: catest.CitizenID}})
	if err != nil {
		b.Fatal(err)
	}
	id, _ := ocsp.NewCertID(ocsp.SHA1, issuer.Cert, iss.Certificate.SerialNumber)
	req, _ := ocsp.CreateRequest([]ocsp.CertID{id}, nil)
	if _, err := r.Respond(ctx, req); err != nil {
		b.Fatal(err)
	}
	b.Run("ocsp-cached", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := r.Respond(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
		report(b)
	})
	nonceReq, _ := ocsp.CreateRequest([]ocsp.CertID{id}, &ocsp.Nonce{Value: []byte("0123456789abcdef")})
	b.Run("ocsp-signed", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := r.Respond(ctx, nonceReq); err != nil {
					b.Fatal(err)
				}
			}
		})
		report(b)
	})
	insertRevoked(b, db, "gm-issuing", 100000)
	b.Run("crl-100k", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			c, err := fx.CA.GenerateCRL(ctx, "gm-issuing")
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(len(c.DER))/1e6, "MB")
		}
	})
}

// insertRevoked stores n revoked certificates of issuer directly.
func insertRevoked(b *testing.B, db *store.DB, issuer string, n int) {
	b.Helper()
	ctx := context.Background()
	now := time.Now()
	err := db.InTx(ctx, func(tx *store.Tx) error {
		for i := range n {
			serial := fmt.Sprintf("7%039x", i+1)
			if _, err := tx.Exec(ctx, `INSERT INTO ca_certificates (serial, issuer, profile, suite, subject, not_before, not_after, status, der, requested_by, created_at, revoked_at, revocation_reason)
				VALUES (?, ?, 'citizen', 'gm', 'CN=bench', ?, ?, 'revoked', ?, 'bench', ?, ?, 1)`,
				serial, issuer, now.Unix(), now.Add(24*time.Hour).Unix(), []byte{0}, now.Unix(), now.Unix()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
