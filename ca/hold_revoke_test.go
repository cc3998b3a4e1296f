package ca_test

import (
	"context"
	"crypto/elliptic"
	"errors"
	"testing"
	"time"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/catest"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// TestRevokeAfterHoldKeepsHoldTime: a certificate put on hold when its key
// is suspected stolen and revoked once the compromise is confirmed must
// stay revoked for the time it was held. A signature timestamped during
// the hold was refused during the hold; after the revocation, relying
// parties that check at the signature time (signed filings, revcheck with
// the CRL or OCSP revocation time) must not start accepting it.
func TestRevokeAfterHoldKeepsHoldTime(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := catest.New(t, catest.OnDB(db))
		iss := issueService(t, f, catest.ECKey(t, elliptic.P256()).Public())
		serial := iss.Record.Serial
		issuer := f.Issuer(t, iss.Record.Issuer)

		heldAt := f.Clock.Now().Add(time.Hour)
		f.Clock.Set(heldAt)
		if _, err := f.CA.SetStatus(ctx, ca.StatusChange{Serial: serial, To: ca.StatusHold, Actor: "officer:li", Comment: "key may be stolen"}); err != nil {
			t.Fatal(err)
		}
		signedAt := heldAt.Add(time.Hour) // the thief signs while the certificate is held
		if err := f.CA.CheckRevocation(ctx, iss.Certificate, issuer.Cert, signedAt); !errors.Is(err, ca.ErrRevoked) {
			t.Fatalf("during the hold, a signature made while held: %v, want ErrRevoked", err)
		}
		f.Clock.Set(heldAt.Add(48 * time.Hour))
		rec, err := f.CA.SetStatus(ctx, ca.StatusChange{Serial: serial, To: ca.StatusRevoked, Reason: ca.ReasonKeyCompromise, Actor: "officer:li", Comment: "confirmed"})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.CA.CheckRevocation(ctx, iss.Certificate, issuer.Cert, signedAt); !errors.Is(err, ca.ErrRevoked) {
			t.Errorf("after revocation for keyCompromise, a signature made while held is accepted (err %v); revoked at %s, held at %s",
				err, rec.RevokedAt.Format(time.RFC3339), heldAt.Format(time.RFC3339))
		}
		c, err := f.CA.CurrentCRL(ctx, issuer.Name)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range parseCRL(t, c.DER, issuer).RevokedCertificateEntries {
			if e.SerialNumber.Cmp(iss.Certificate.SerialNumber) == 0 && e.RevocationTime.After(signedAt) {
				t.Errorf("CRL revocation date %s is after the signature made while held (%s)", e.RevocationTime.Format(time.RFC3339), signedAt.Format(time.RFC3339))
			}
		}
	})
}
