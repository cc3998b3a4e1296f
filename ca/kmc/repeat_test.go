package kmc

import (
	"context"
	"crypto/elliptic"
	"slices"
	"sync"
	"testing"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/catest"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// TestDualRepeat is finding 9 of issue 9 for dual certificates: the same
// code and signing key get the same pair again, the same escrowed
// encryption key enveloped anew; another key gets 409; concurrent requests
// with one code and key make exactly one pair.
func TestDualRepeat(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		subj := ca.Subject{Organization: catest.OrgName, USCC: catest.USCC}

		t.Run("ok/same-key-same-pair", func(t *testing.T) {
			code := f.Code(t, SignProfile, subj)
			signKey := catest.SM2Key(t)
			first, err := f.kmc.EnrolDual(ctx, catest.PEMCSR(catest.CSR(t, signKey)), code)
			if err != nil {
				t.Fatal(err)
			}
			escrowed := f.count(t, "SELECT COUNT(*) FROM kmc_escrow")
			again, err := f.kmc.EnrolDual(ctx, catest.PEMCSR(catest.CSR(t, signKey)), code)
			if err != nil {
				t.Fatalf("repeat: %v", err)
			}
			if !again.Repeated || again.SignSerial != first.SignSerial || again.EncSerial != first.EncSerial || !again.EncCertificate.Equal(first.EncCertificate) {
				t.Fatalf("repeat gave %s/%s, want %s/%s", again.SignSerial, again.EncSerial, first.SignSerial, first.EncSerial)
			}
			k1, err := smx509.ParseCSRResponse(signKey, first.CSRResponse)
			if err != nil {
				t.Fatal(err)
			}
			k2, err := smx509.ParseCSRResponse(signKey, again.CSRResponse)
			if err != nil {
				t.Fatalf("the repeated CSRResponse does not open with the signing key: %v", err)
			}
			if !k1.EncryptPrivateKey.Equal(k2.EncryptPrivateKey) {
				t.Fatal("the repeat delivered another encryption key")
			}
			if n := f.count(t, "SELECT COUNT(*) FROM kmc_escrow"); n != escrowed {
				t.Errorf("escrow rows %d -> %d on a repeat", escrowed, n)
			}
			if n := f.count(t, "SELECT COUNT(*) FROM kmc_events WHERE what = ? AND enc_serial = ?", EventRedelivered, first.EncSerial); n != 1 {
				t.Errorf("%d redelivery events, want 1", n)
			}
			_, err = f.kmc.EnrolDual(ctx, catest.PEMCSR(catest.CSR(t, catest.SM2Key(t))), code)
			wantError(t, err, ca.ErrCodeUsed, 409, "enrolment_code")
		})

		t.Run("ok/concurrent-same-key", func(t *testing.T) {
			code := f.Code(t, SignProfile, subj)
			signKey := catest.SM2Key(t)
			before := f.count(t, "SELECT COUNT(*) FROM kmc_escrow")
			const n = 8
			var (
				wg    sync.WaitGroup
				start = make(chan struct{})
				got   = make([]*DualResult, n)
				errs  = make([]error, n)
			)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					csr := catest.PEMCSR(catest.CSR(t, signKey))
					<-start
					got[i], errs[i] = f.kmc.EnrolDual(ctx, csr, code)
				}()
			}
			close(start)
			wg.Wait()
			var pairs []string
			for i := range n {
				if errs[i] != nil {
					t.Errorf("request %d: %v", i, errs[i])
					continue
				}
				pairs = append(pairs, got[i].SignSerial+"/"+got[i].EncSerial)
			}
			slices.Sort(pairs)
			if pairs = slices.Compact(pairs); len(pairs) != 1 {
				t.Fatalf("pairs handed out: %v, want exactly one", pairs)
			}
			if d := f.count(t, "SELECT COUNT(*) FROM kmc_escrow") - before; d != 1 {
				t.Fatalf("%d keys escrowed for one code, want 1", d)
			}
		})

		t.Run("ok/login-certificate", func(t *testing.T) {
			code := f.Code(t, SignProfile, subj)
			res, err := f.kmc.Enrol(ctx, DualRequest{CSR: catest.PEMCSR(catest.CSR(t, catest.SM2Key(t))), Code: code, LoginCSR: catest.PEMCSR(catest.CSR(t, catest.ECKey(t, elliptic.P256())))})
			if err != nil {
				t.Fatal(err)
			}
			if res.Login == nil || res.Login.Record.Profile != "enterprise-login" || res.Login.Certificate.Subject.Organization[0] != catest.OrgName {
				t.Fatalf("login %+v", res.Login)
			}
		})
	})
}
