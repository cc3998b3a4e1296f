package ca_test

import (
	"context"
	"crypto/elliptic"
	"sync"
	"testing"
	"time"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/catest"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// pausedRevoked is a replica's inventory whose next Revoked call, once
// armed, pauses after reading the list until released: the moment a CRL
// generation on this replica (its refresh loop, a GET of a CRL past half
// validity, another officer's status change) has read the revoked
// certificates but not yet signed.
type pausedRevoked struct {
	*ca.SQLStore
	mu      sync.Mutex
	armed   bool
	read    chan struct{}
	release chan struct{}
}

func (p *pausedRevoked) Revoked(ctx context.Context, issuer string, now time.Time) ([]*ca.Record, error) {
	recs, err := p.SQLStore.Revoked(ctx, issuer, now)
	p.mu.Lock()
	armed := p.armed
	p.armed = false
	p.mu.Unlock()
	if armed {
		close(p.read)
		<-p.release
	}
	return recs, err
}

// TestCRLGenerationRacingRevocation: a CRL generation that read the revoked
// certificates before a revocation committed must not end up as the CRL
// everybody is served after the revocation's own CRL. Otherwise the revoked
// certificate is missing from the published CRL until the next regeneration
// (half the validity, 12 h) and relying parties cache that CRL until its
// nextUpdate, 24 h more, while OCSP already says revoked.
func TestCRLGenerationRacingRevocation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := catest.New(t, catest.OnDB(db)) // replica B: the officer's revocation
		pr := &pausedRevoked{SQLStore: ca.NewSQLStore(db), read: make(chan struct{}), release: make(chan struct{})}
		defer pr.SQLStore.Close()
		other, err := ca.New(f.CAs, pr, pr, ca.WithDepartments(catest.Departments(t)), ca.WithPseudonymKey(catest.PseudonymKey),
			ca.WithPublicURL(catest.PublicURL), ca.WithClock(f.Clock.Now), ca.WithLogger(catest.Discard()))
		if err != nil {
			t.Fatal(err)
		}
		iss := issueService(t, f, catest.ECKey(t, elliptic.P256()).Public())
		issuer := f.Issuer(t, iss.Record.Issuer)

		// Replica A starts a CRL generation and reads the revoked list.
		pr.mu.Lock()
		pr.armed = true
		pr.mu.Unlock()
		done := make(chan error, 1)
		go func() {
			_, err := other.GenerateCRL(ctx, issuer.Name)
			done <- err
		}()
		<-pr.read

		// Replica B revokes the certificate; SetStatus regenerates the CRL.
		if _, err := f.CA.SetStatus(ctx, ca.StatusChange{Serial: iss.Record.Serial, To: ca.StatusRevoked,
			Reason: ca.ReasonKeyCompromise, Actor: "officer:li"}); err != nil {
			t.Fatal(err)
		}
		close(pr.release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}

		for name, a := range map[string]*ca.Authority{"revoking replica": f.CA, "other replica": other} {
			c, err := a.CurrentCRL(ctx, issuer.Name)
			if err != nil {
				t.Fatal(err)
			}
			crl := parseCRL(t, c.DER, issuer)
			found := false
			for _, e := range crl.RevokedCertificateEntries {
				found = found || e.SerialNumber.Cmp(iss.Certificate.SerialNumber) == 0
			}
			if !found {
				t.Errorf("%s serves CRL %d (nextUpdate %s) without the certificate revoked before it was published", name, c.Number, c.NextUpdate.Format(time.RFC3339))
			}
		}
	})
}
