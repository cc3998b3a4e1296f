package ca_test

import (
	"context"
	"crypto/elliptic"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/catest"
	"github.com/tongxing/tongxing/ca/ident"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// TestEnrolRepeat is finding 9 of issue 9: a subscriber whose answer was
// lost asks again with the same code and key and gets the same certificate;
// any other key stays refused.
func TestEnrolRepeat(t *testing.T) {
	f := catest.New(t)
	ctx := context.Background()
	enterprise := ca.Subject{Organization: catest.OrgName, USCC: catest.USCC}

	t.Run("ok/same-key-same-certificate", func(t *testing.T) {
		code := f.Code(t, "enterprise-sign", enterprise)
		key := catest.SM2Key(t)
		first, err := f.CA.Enrol(ctx, ca.EnrolRequest{CSR: catest.PEMCSR(catest.CSR(t, key)), Code: code})
		if err != nil || first.Repeated {
			t.Fatalf("first: %v repeated=%v", err, first != nil && first.Repeated)
		}
		// A new CSR for the same key: what a client retrying would send.
		again, err := f.CA.Enrol(ctx, ca.EnrolRequest{CSR: catest.PEMCSR(catest.CSR(t, key)), Code: code})
		if err != nil {
			t.Fatalf("repeat: %v", err)
		}
		if !again.Repeated || again.Record.Serial != first.Record.Serial || !again.Certificate.Equal(first.Certificate) || len(again.Chain) != 1 {
			t.Fatalf("repeat gave %s (repeated=%v), want %s", again.Record.Serial, again.Repeated, first.Record.Serial)
		}
		if recs, _ := f.Store.Certificates(ctx, ca.Filter{RequestedBy: first.Record.RequestedBy}); len(recs) != 1 {
			t.Fatalf("%d certificates for one code", len(recs))
		}
		_, err = f.CA.Enrol(ctx, ca.EnrolRequest{CSR: catest.PEMCSR(catest.CSR(t, catest.SM2Key(t))), Code: code})
		requestError(t, err, "enrolment_code", 409)
		if !errors.Is(err, ca.ErrCodeUsed) {
			t.Errorf("error %v is not ErrCodeUsed", err)
		}
	})
	t.Run("fail/repeat-after-expiry", func(t *testing.T) {
		code, _, err := f.CA.CreateCode(ctx, ca.NewCodeRequest{Profile: "enterprise-sign", Subject: enterprise, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		key := catest.SM2Key(t)
		if _, err := f.CA.Enrol(ctx, ca.EnrolRequest{CSR: catest.PEMCSR(catest.CSR(t, key)), Code: code}); err != nil {
			t.Fatal(err)
		}
		now := f.Clock.Now()
		f.Clock.Set(now.Add(time.Hour))
		defer f.Clock.Set(now)
		_, err = f.CA.Enrol(ctx, ca.EnrolRequest{CSR: catest.PEMCSR(catest.CSR(t, key)), Code: code})
		requestError(t, err, "enrolment_code", 403)
		if !errors.Is(err, ca.ErrCodeExpired) {
			t.Errorf("error %v is not ErrCodeExpired", err)
		}
	})
	t.Run("fail/repeat-after-revocation", func(t *testing.T) {
		code := f.Code(t, "enterprise-sign", enterprise)
		key := catest.SM2Key(t)
		iss, err := f.CA.Enrol(ctx, ca.EnrolRequest{CSR: catest.PEMCSR(catest.CSR(t, key)), Code: code})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.CA.SetStatus(ctx, ca.StatusChange{Serial: iss.Record.Serial, To: ca.StatusRevoked, Reason: ca.ReasonKeyCompromise, Actor: "officer:test"}); err != nil {
			t.Fatal(err)
		}
		_, err = f.CA.Enrol(ctx, ca.EnrolRequest{CSR: catest.PEMCSR(catest.CSR(t, key)), Code: code})
		requestError(t, err, "enrolment_code", 409)
	})
}

// TestEnrolRepeatConcurrent sends one code and one key from 20 goroutines
// at once: every one gets the same certificate, and exactly one is issued.
// Requests with other keys get 409.
func TestEnrolRepeatConcurrent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := catest.New(t, catest.OnDB(db))
		ctx := context.Background()
		code := f.Code(t, "enterprise-sign", ca.Subject{Organization: catest.OrgName, USCC: catest.USCC})
		key := catest.SM2Key(t)
		const n = 20
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			got   = make([]*ca.Issued, n)
			errs  = make([]error, n)
		)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				k := key
				if i%5 == 4 {
					k = catest.SM2Key(t) // another key: must be refused
				}
				csr := catest.PEMCSR(catest.CSR(t, k))
				<-start
				got[i], errs[i] = f.CA.Enrol(ctx, ca.EnrolRequest{CSR: csr, Code: code})
			}()
		}
		close(start)
		wg.Wait()
		var serials []string
		for i := range n {
			if i%5 == 4 {
				if errs[i] == nil {
					// The other key may have won the race; then the
					// same-key requests are the ones refused.
					serials = append(serials, "other:"+got[i].Record.Serial)
					continue
				}
				requestError(t, errs[i], "enrolment_code", 409)
				continue
			}
			if errs[i] != nil {
				requestError(t, errs[i], "enrolment_code", 409)
				continue
			}
			serials = append(serials, got[i].Record.Serial)
		}
		slices.Sort(serials)
		serials = slices.Compact(serials)
		if len(serials) != 1 {
			t.Fatalf("distinct certificates handed out: %v, want exactly one", serials)
		}
		recs, err := f.Store.Certificates(ctx, ca.Filter{Profile: "enterprise-sign"})
		if err != nil || len(recs) != 1 {
			t.Fatalf("inventory holds %d certificates (%v), want 1", len(recs), err)
		}
	})
}

// TestEnrolLogin is the login certificate of finding 13 (CA side): a citizen
// or e-cert code yields, in the same request, an ECDSA P-256 clientAuth
// certificate for the same identity.
func TestEnrolLogin(t *testing.T) {
	f := catest.New(t)
	ctx := context.Background()
	intlRoots, intlInter := smx509.NewCertPool(), smx509.NewCertPool()
	intlRoots.AddCert(f.Issuer(t, "intl-root").Cert)
	intlInter.AddCert(f.Issuer(t, "intl-issuing").Cert)
	verifyLogin := func(t *testing.T, c *smx509.Certificate) {
		t.Helper()
		if _, err := c.Verify(smx509.VerifyOptions{Roots: intlRoots, Intermediates: intlInter, CurrentTime: f.Clock.Now(),
			KeyUsages: []smx509.ExtKeyUsage{smx509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("login certificate does not verify for clientAuth: %v", err)
		}
		if c.KeyUsage != smx509.KeyUsageDigitalSignature || !slices.Equal(c.ExtKeyUsage, []smx509.ExtKeyUsage{smx509.ExtKeyUsageClientAuth}) {
			t.Errorf("login usages %v %v", c.KeyUsage, c.ExtKeyUsage)
		}
	}

	t.Run("ok/citizen", func(t *testing.T) {
		code := f.Code(t, "citizen", ca.Subject{Name: catest.CitizenName, IDNumber: catest.CitizenID})
		signKey, loginKey := catest.SM2Key(t), catest.ECKey(t, elliptic.P256())
		iss, err := f.CA.Enrol(ctx, ca.EnrolRequest{CSR: catest.PEMCSR(catest.CSR(t, signKey)), LoginCSR: catest.PEMCSR(catest.CSR(t, loginKey)), Code: code})
		if err != nil {
			t.Fatal(err)
		}
		if iss.Login == nil {
			t.Fatal("no login certificate")
		}
		l := iss.Login.Certificate
		verifyLogin(t, l)
		if l.Subject.SerialNumber != iss.Certificate.Subject.SerialNumber || l.Subject.SerialNumber != pseudonymOf(catest.PseudonymKey, catest.CitizenID) || l.Subject.CommonName != catest.CitizenName {
			t.Errorf("login subject %v, citizen-card subject %v", l.Subject, iss.Certificate.Subject)
		}
		if !publicKeyEqual(l.PublicKey, loginKey.Public()) || iss.Login.Record.Profile != "citizen-login" || iss.Login.Record.RequestedBy != iss.Record.RequestedBy {
			t.Errorf("login record %+v", iss.Login.Record)
		}
		again, err := f.CA.Enrol(ctx, ca.EnrolRequest{CSR: catest.PEMCSR(catest.CSR(t, signKey)), LoginCSR: catest.PEMCSR(catest.CSR(t, loginKey)), Code: code})
		if err != nil || !again.Repeated || again.Login == nil || again.Login.Record.Serial != iss.Login.Record.Serial {
			t.Fatalf("repeat with both keys: %v", err)
		}
		_, err = f.CA.Enrol(ctx, ca.EnrolRequest{CSR: catest.PEMCSR(catest.CSR(t, signKey)), LoginCSR: catest.PEMCSR(catest.CSR(t, catest.ECKey(t, elliptic.P256()))), Code: code})
		requestError(t, err, "enrolment_code", 409)
	})
	t.Run("ok/enterprise", func(t *testing.T) {
		code := f.Code(t, "enterprise-sign", ca.Subject{Organization: catest.OrgName, USCC: catest.USCC, Name: "李四"})
		iss, err := f.CA.Enrol(ctx, ca.EnrolRequest{CSR: catest.PEMCSR(catest.CSR(t, catest.SM2Key(t))), LoginCSR: catest.PEMCSR(catest.CSR(t, catest.ECKey(t, elliptic.P256()))), Code: code})
		if err != nil {
			t.Fatal(err)
		}
		l := iss.Login.Certificate
		verifyLogin(t, l)
		uscc, ok, err := ident.USCCFrom(l.Extensions)
		if err != nil || !ok || uscc != catest.USCC || !slices.Equal(l.Subject.Organization, []string{catest.OrgName}) || l.Subject.CommonName != "李四" {
			t.Errorf("login identity %v uscc %q %v %v", l.Subject, uscc, ok, err)
		}
	})
	t.Run("fail/sm2-login-key", func(t *testing.T) {
		code := f.Code(t, "citizen", ca.Subject{Name: catest.CitizenName, IDNumber: catest.CitizenID})
		_, err := f.CA.Enrol(ctx, ca.EnrolRequest{CSR: catest.PEMCSR(catest.CSR(t, catest.SM2Key(t))), LoginCSR: catest.PEMCSR(catest.CSR(t, catest.SM2Key(t))), Code: code})
		requestError(t, err, "login_csr", 400)
		if _, err := f.CA.Enrol(ctx, ca.EnrolRequest{CSR: catest.PEMCSR(catest.CSR(t, catest.SM2Key(t))), Code: code}); err != nil {
			t.Fatalf("a refused login CSR spent the code: %v", err)
		}
	})
	t.Run("fail/malformed-login-csr", func(t *testing.T) {
		code := f.Code(t, "citizen", ca.Subject{Name: catest.CitizenName, IDNumber: catest.CitizenID})
		_, err := f.CA.Enrol(ctx, ca.EnrolRequest{CSR: catest.PEMCSR(catest.CSR(t, catest.SM2Key(t))), LoginCSR: []byte("junk"), Code: code})
		requestError(t, err, "login_csr", 400)
	})
	t.Run("fail/profile-without-login", func(t *testing.T) {
		code := f.Code(t, "service", ca.Subject{Department: "tax", Service: "api"})
		_, err := f.CA.Enrol(ctx, ca.EnrolRequest{CSR: catest.PEMCSR(catest.CSR(t, catest.ECKey(t, elliptic.P256()))), LoginCSR: catest.PEMCSR(catest.CSR(t, catest.ECKey(t, elliptic.P256()))), Code: code})
		requestError(t, err, "login_csr", 400)
	})
}
