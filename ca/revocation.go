package ca

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/emmansun/gmsm/smx509"
)

// ErrRevoked is wrapped by revocation checks that find a certificate revoked
// or on hold at the time asked about.
var ErrRevoked = errors.New("certificate revoked")

// RevokedError says when and why a certificate was revoked.
type RevokedError struct {
	Serial    string
	Status    Status
	RevokedAt time.Time
	Reason    Reason
}

func (e *RevokedError) Error() string {
	return fmt.Sprintf("certificate %s %s since %s (%s)", e.Serial, e.Status, e.RevokedAt.Format(time.RFC3339), e.Reason)
}

// Unwrap returns [ErrRevoked].
func (e *RevokedError) Unwrap() error { return ErrRevoked }

// CheckRevocation reports whether cert, issued by one of this authority's
// CAs (issuer), was revoked or on hold at time at, from the inventory. It
// returns nil for a certificate that was good at that time — including one
// revoked later — a [*RevokedError] for one revoked by then, and an error
// wrapping [ErrNotFound] for a certificate this CA did not issue.
func (a *Authority) CheckRevocation(ctx context.Context, cert, issuer *smx509.Certificate, at time.Time) error {
	var ours *Issuer
	for _, c := range a.cas {
		if issuer != nil && c.Cert.Equal(issuer) {
			ours = c
		}
	}
	if ours == nil {
		return fmt.Errorf("%w: issuer %s is not a CA of this authority", ErrNotFound, issuerName(issuer))
	}
	rec, err := a.inv.Certificate(ctx, SerialHex(cert.SerialNumber))
	if err != nil {
		return err
	}
	if rec.Issuer != ours.Name {
		return fmt.Errorf("%w: certificate %s was issued by %s, not %s", ErrNotFound, rec.Serial, rec.Issuer, ours.Name)
	}
	if rec.Status == StatusValid || rec.RevokedAt.After(at) {
		return nil
	}
	re := &RevokedError{Serial: rec.Serial, Status: rec.Status, RevokedAt: rec.RevokedAt}
	if rec.Reason != nil {
		re.Reason = *rec.Reason
	}
	return re
}

func issuerName(c *smx509.Certificate) string {
	if c == nil {
		return "(none)"
	}
	return c.Subject.String()
}
