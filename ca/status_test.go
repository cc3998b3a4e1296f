package ca_test

import (
	"context"
	"crypto"
	"crypto/elliptic"
	"errors"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/catest"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

func issueService(t testing.TB, f *catest.Fixture, pub crypto.PublicKey) *ca.Issued {
	t.Helper()
	iss, err := f.CA.Issue(context.Background(), ca.IssueRequest{
		PublicKey: pub, Profile: "service", RequestedBy: "officer:test",
		Subject: ca.Subject{Department: "tax", Service: "api", DNSNames: []string{"api.tax.example"}},
	})
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	return iss
}

func parseCRL(t testing.TB, der []byte, issuer *ca.Issuer) *smx509.RevocationList {
	t.Helper()
	crl, err := smx509.ParseRevocationList(der)
	if err != nil {
		t.Fatalf("ParseRevocationList: %v", err)
	}
	if err := crl.CheckSignatureFrom(issuer.Cert); err != nil {
		t.Fatalf("CRL signature by %s: %v", issuer.Name, err)
	}
	return crl
}

func TestStatusChanges(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := catest.New(t, catest.OnDB(db))
		tests := []struct {
			name   string
			steps  []ca.StatusChange
			status ca.Status
			reason string
			fail   int // HTTP status of the last step's error, 0 if none
		}{
			{"ok/revoke", []ca.StatusChange{{To: ca.StatusRevoked, Reason: ca.ReasonKeyCompromise}}, ca.StatusRevoked, "keyCompromise", 0},
			{"ok/hold", []ca.StatusChange{{To: ca.StatusHold}}, ca.StatusHold, "certificateHold", 0},
			{"ok/hold-release", []ca.StatusChange{{To: ca.StatusHold}, {To: ca.StatusValid}}, ca.StatusValid, "", 0},
			{"ok/hold-then-revoke", []ca.StatusChange{{To: ca.StatusHold}, {To: ca.StatusRevoked, Reason: ca.ReasonSuperseded}}, ca.StatusRevoked, "superseded", 0},
			{"fail/revoke-twice", []ca.StatusChange{{To: ca.StatusRevoked}, {To: ca.StatusRevoked}}, ca.StatusRevoked, "unspecified", 409},
			{"fail/release-valid", []ca.StatusChange{{To: ca.StatusValid}}, ca.StatusValid, "", 409},
			{"fail/unrevoke", []ca.StatusChange{{To: ca.StatusRevoked}, {To: ca.StatusValid}}, ca.StatusRevoked, "unspecified", 409},
			{"fail/hold-reason-for-revoke", []ca.StatusChange{{To: ca.StatusRevoked, Reason: ca.ReasonCertificateHold}}, ca.StatusValid, "", 400},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				iss := issueService(t, f, catest.ECKey(t, elliptic.P256()).Public())
				serial := iss.Record.Serial
				var err error
				ok := 0
				for _, st := range tt.steps {
					st.Serial, st.Actor, st.Comment = serial, "officer:li", "test "+tt.name
					if _, err = f.CA.SetStatus(ctx, st); err == nil {
						ok++
					}
				}
				if tt.fail == 0 && err != nil {
					t.Fatalf("SetStatus: %v", err)
				}
				if tt.fail != 0 {
					field := "status"
					if tt.fail == 400 {
						field = "reason"
					}
					requestError(t, err, field, tt.fail)
				}
				rec, err := f.CA.Certificate(ctx, serial)
				if err != nil {
					t.Fatal(err)
				}
				if rec.Status != tt.status {
					t.Errorf("status = %s, want %s", rec.Status, tt.status)
				}
				got := ""
				if rec.Reason != nil {
					got = rec.Reason.String()
				}
				if got != tt.reason {
					t.Errorf("reason = %q, want %q", got, tt.reason)
				}
				evs, err := f.CA.Events(ctx, serial)
				if err != nil {
					t.Fatal(err)
				}
				if len(evs) != ok {
					t.Fatalf("%d events recorded, want %d (one per successful change)", len(evs), ok)
				}
				for _, ev := range evs {
					if ev.Actor != "officer:li" || ev.Comment != "test "+tt.name || ev.At.IsZero() {
						t.Errorf("event lacks who/why/when: %+v", ev)
					}
				}
			})
		}
		t.Run("fail/unknown-serial", func(t *testing.T) {
			_, err := f.CA.SetStatus(ctx, ca.StatusChange{Serial: "abcdef", To: ca.StatusRevoked, Actor: "officer:li"})
			if !errors.Is(err, ca.ErrNotFound) {
				t.Errorf("err = %v, want ErrNotFound", err)
			}
		})
	})
}

func TestCRL(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := catest.New(t, catest.OnDB(db))
		for _, suite := range []string{"gm", "intl"} {
			t.Run("ok/"+suite, func(t *testing.T) {
				issuer := f.Issuer(t, suite+"-issuing")
				var key crypto.PublicKey = catest.ECKey(t, elliptic.P256()).Public()
				if suite == "gm" {
					key = catest.SM2Key(t).Public()
				}
				revoked := issueService(t, f, key)
				kept := issueService(t, f, key)
				first, err := f.CA.CurrentCRL(ctx, issuer.Name)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := f.CA.SetStatus(ctx, ca.StatusChange{Serial: revoked.Record.Serial, To: ca.StatusRevoked, Reason: ca.ReasonKeyCompromise, Actor: "officer:li"}); err != nil {
					t.Fatal(err)
				}
				after, err := f.CA.CurrentCRL(ctx, issuer.Name)
				if err != nil {
					t.Fatal(err)
				}
				if after.Number <= first.Number {
					t.Errorf("CRL number %d after a revocation, was %d: not regenerated", after.Number, first.Number)
				}
				crl := parseCRL(t, after.DER, issuer)
				if crl.Number.Int64() != after.Number {
					t.Errorf("CRL number extension %v, record %d", crl.Number, after.Number)
				}
				found := false
				for _, e := range crl.RevokedCertificateEntries {
					if e.SerialNumber.Cmp(revoked.Certificate.SerialNumber) == 0 {
						found = true
						if e.ReasonCode != int(ca.ReasonKeyCompromise) {
							t.Errorf("reason code %d, want keyCompromise", e.ReasonCode)
						}
					}
					if e.SerialNumber.Cmp(kept.Certificate.SerialNumber) == 0 {
						t.Error("a valid certificate is on the CRL")
					}
				}
				if !found {
					t.Error("revoked certificate missing from the CRL")
				}
				if got := crl.SignatureAlgorithm; got != issuer.Suite.SignatureAlgorithm() {
					t.Errorf("CRL signature algorithm %v, want %v", got, issuer.Suite.SignatureAlgorithm())
				}
				if !crl.NextUpdate.After(crl.ThisUpdate) {
					t.Errorf("nextUpdate %v not after thisUpdate %v", crl.NextUpdate, crl.ThisUpdate)
				}
			})
		}
		t.Run("ok/regenerated-past-half-validity", func(t *testing.T) {
			c1, err := f.CA.CurrentCRL(ctx, "intl-issuing")
			if err != nil {
				t.Fatal(err)
			}
			f.Clock.Set(c1.ThisUpdate.Add(13 * time.Hour))
			defer f.Clock.Set(time.Now().UTC().Truncate(time.Second))
			c2, err := f.CA.CurrentCRL(ctx, "intl-issuing")
			if err != nil {
				t.Fatal(err)
			}
			if c2.Number <= c1.Number || !c2.ThisUpdate.After(c1.ThisUpdate) {
				t.Errorf("CRL not refreshed: %d@%v then %d@%v", c1.Number, c1.ThisUpdate, c2.Number, c2.ThisUpdate)
			}
		})
		t.Run("fail/root-has-no-crl", func(t *testing.T) {
			if _, err := f.CA.CurrentCRL(ctx, "gm-root"); !errors.Is(err, ca.ErrNotFound) {
				t.Errorf("err = %v, want ErrNotFound", err)
			}
		})
	})
}

// TestCRLNumbersAcrossReplicas runs two stores (two replicas, or a process
// before and after a restart) on one database: CRL numbers never repeat and
// only increase.
func TestCRLNumbersAcrossReplicas(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a, b := ca.NewSQLStore(db), ca.NewSQLStore(db)
		defer a.Close()
		defer b.Close()
		var (
			mu   sync.Mutex
			seen = map[int64]bool{}
			wg   sync.WaitGroup
		)
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := a
				if i%2 == 1 {
					s = b
				}
				n, err := s.NextCRLNumber(ctx, "gm-issuing")
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if seen[n] {
					t.Errorf("CRL number %d handed out twice", n)
				}
				seen[n] = true
			}()
		}
		wg.Wait()
		c := ca.NewSQLStore(db) // "restart"
		defer c.Close()
		n, err := c.NextCRLNumber(ctx, "gm-issuing")
		if err != nil {
			t.Fatal(err)
		}
		if n != 21 {
			t.Errorf("after 20 numbers and a restart got %d, want 21", n)
		}
		if err := c.SaveCRL(ctx, &ca.CRL{Issuer: "x", Number: 5, ThisUpdate: time.Now(), NextUpdate: time.Now(), DER: []byte{5}}); err != nil {
			t.Fatal(err)
		}
		if err := c.SaveCRL(ctx, &ca.CRL{Issuer: "x", Number: 4, ThisUpdate: time.Now(), NextUpdate: time.Now(), DER: []byte{4}}); err != nil {
			t.Fatal(err)
		}
		latest, err := c.LatestCRL(ctx, "x", 0)
		if err != nil || latest.Number != 5 || big.NewInt(int64(latest.DER[0])).Int64() != 5 {
			t.Errorf("older CRL replaced a newer one: %+v %v", latest, err)
		}
	})
}

func TestCheckRevocation(t *testing.T) {
	ctx := context.Background()
	f := catest.New(t)
	iss := issueService(t, f, catest.SM2Key(t).Public())
	issuer := f.Issuer(t, "gm-issuing").Cert
	before := f.Clock.Now().Add(-time.Hour)
	if err := f.CA.CheckRevocation(ctx, iss.Certificate, issuer, f.Clock.Now()); err != nil {
		t.Fatalf("good certificate: %v", err)
	}
	f.Clock.Set(f.Clock.Now().Add(time.Minute))
	if _, err := f.CA.SetStatus(ctx, ca.StatusChange{Serial: iss.Record.Serial, To: ca.StatusRevoked, Reason: ca.ReasonKeyCompromise, Actor: "officer:li"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		at      time.Time
		issuer  *smx509.Certificate
		wantErr error
	}{
		{"ok/before-revocation-stays-good", before, issuer, nil},
		{"fail/after-revocation", f.Clock.Now().Add(time.Second), issuer, ca.ErrRevoked},
		{"fail/foreign-issuer", f.Clock.Now(), f.Issuer(t, "intl-issuing").Cert, ca.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := f.CA.CheckRevocation(ctx, iss.Certificate, tt.issuer, tt.at)
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("CheckRevocation at %v = %v, want %v", tt.at, err, tt.wantErr)
			}
			var re *ca.RevokedError
			if errors.Is(tt.wantErr, ca.ErrRevoked) && (!errors.As(err, &re) || re.Reason != ca.ReasonKeyCompromise) {
				t.Errorf("error %v lacks the reason", err)
			}
		})
	}
}
