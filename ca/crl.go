package ca

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/emmansun/gmsm/smx509"
)

// CRL is a signed certificate revocation list of one issuing CA.
type CRL struct {
	Issuer     string
	Number     int64
	ThisUpdate time.Time
	NextUpdate time.Time
	DER        []byte // nil when the caller already has this number
}

// CRLStore keeps CRL numbers and the newest CRL per issuer, shared by
// replicas. [SQLStore] implements it.
type CRLStore interface {
	// NextCRLNumber returns a number greater than every number returned
	// before for issuer.
	NextCRLNumber(ctx context.Context, issuer string) (int64, error)
	// SaveCRL stores c unless a CRL with a higher number is stored.
	SaveCRL(ctx context.Context, c *CRL) error
	// LatestCRL returns the newest stored CRL; its DER is nil when its
	// number is not above haveNumber. ErrNotFound if there is none.
	LatestCRL(ctx context.Context, issuer string, haveNumber int64) (*CRL, error)
}

// DefaultCRLValidity is the time from thisUpdate to nextUpdate.
const DefaultCRLValidity = 24 * time.Hour

// crlCache holds the newest CRL per issuer in memory.
type crlCache struct {
	mu   sync.Mutex
	crls map[string]*CRL
}

func (a *Authority) crlStore() (CRLStore, error) {
	cs, ok := a.inv.(CRLStore)
	if !ok {
		return nil, errors.New("ca: the inventory does not keep CRLs")
	}
	return cs, nil
}

// GenerateCRL signs a new full CRL for the named issuing CA with the next CRL
// number, listing its unexpired revoked and held certificates, stores it, and
// returns it. SM2 CAs sign with SM2/SM3, ECDSA CAs with ECDSA/SHA-256.
func (a *Authority) GenerateCRL(ctx context.Context, issuerName string) (*CRL, error) {
	issuer, err := a.CA(issuerName)
	if err != nil {
		return nil, err
	}
	if issuer.Signer == nil {
		return nil, fmt.Errorf("ca: %s has no signing key loaded", issuerName)
	}
	cs, err := a.crlStore()
	if err != nil {
		return nil, err
	}
	ss, ok := a.inv.(StatusStore)
	if !ok {
		return nil, errors.New("ca: the inventory does not record status changes")
	}
	// The number is taken before the revoked certificates are read: a
	// generation that read them before a status change committed then
	// holds a lower number than the change's own CRL and can never
	// replace it (SaveCRL keeps the highest number).
	number, err := cs.NextCRLNumber(ctx, issuerName)
	if err != nil {
		return nil, err
	}
	now := a.now().UTC().Truncate(time.Second)
	revoked, err := ss.Revoked(ctx, issuerName, now)
	if err != nil {
		return nil, err
	}
	c, err := a.signCRL(issuer, revoked, number, now)
	if err != nil {
		return nil, err
	}
	if err := cs.SaveCRL(ctx, c); err != nil {
		return nil, err
	}
	a.crls.mu.Lock()
	if old := a.crls.crls[issuerName]; old == nil || old.Number < c.Number {
		a.crls.crls[issuerName] = c
	}
	a.crls.mu.Unlock()
	a.log.InfoContext(ctx, "CRL generated", "issuer", issuerName, "number", number, "entries", len(revoked), "next_update", c.NextUpdate)
	return c, nil
}

func (a *Authority) signCRL(issuer *Issuer, revoked []*Record, number int64, now time.Time) (*CRL, error) {
	entries := make([]smx509.RevocationListEntry, 0, len(revoked))
	for _, r := range revoked {
		n, ok := new(big.Int).SetString(r.Serial, 16)
		if !ok {
			return nil, fmt.Errorf("ca: bad serial %q in inventory", r.Serial)
		}
		e := smx509.RevocationListEntry{SerialNumber: n, RevocationTime: r.RevokedAt}
		if r.Reason != nil && *r.Reason != ReasonUnspecified {
			e.ReasonCode = int(*r.Reason)
		}
		entries = append(entries, e)
	}
	tmpl := &smx509.RevocationList{
		Number:                    big.NewInt(number),
		ThisUpdate:                now,
		NextUpdate:                now.Add(a.crlValidity),
		RevokedCertificateEntries: entries,
		SignatureAlgorithm:        issuer.Suite.SignatureAlgorithm(),
	}
	der, err := smx509.CreateRevocationList(rand.Reader, tmpl, issuer.Cert, issuer.Signer)
	if err != nil {
		return nil, fmt.Errorf("ca: sign CRL %d of %s: %w", number, issuer.Name, err)
	}
	return &CRL{Issuer: issuer.Name, Number: number, ThisUpdate: tmpl.ThisUpdate, NextUpdate: tmpl.NextUpdate, DER: der}, nil
}

// CurrentCRL returns the newest CRL of an issuing CA, from memory when no
// replica has made a newer one, and generates a new one when there is none
// or the newest is past half its validity. An unknown CA or a root has no
// CRL: a 404 [*RequestError] wrapping ErrNotFound.
func (a *Authority) CurrentCRL(ctx context.Context, issuerName string) (*CRL, error) {
	c, err := a.CA(issuerName)
	if err != nil {
		return nil, notFound("no CRL for %s", issuerName)
	}
	if c.Root {
		return nil, notFound("no CRL for %s: CRLs are published for issuing CAs only", issuerName)
	}
	cs, err := a.crlStore()
	if err != nil {
		return nil, err
	}
	a.crls.mu.Lock()
	cached := a.crls.crls[issuerName]
	a.crls.mu.Unlock()
	var have int64
	if cached != nil {
		have = cached.Number
	}
	latest, err := cs.LatestCRL(ctx, issuerName, have)
	switch {
	case errors.Is(err, ErrNotFound):
		return a.GenerateCRL(ctx, issuerName)
	case err != nil:
		return nil, err
	}
	if latest.DER == nil {
		latest = cached
	} else {
		a.crls.mu.Lock()
		if old := a.crls.crls[issuerName]; old == nil || old.Number < latest.Number {
			a.crls.crls[issuerName] = latest
		}
		a.crls.mu.Unlock()
	}
	now := a.now()
	if now.After(latest.ThisUpdate.Add(latest.NextUpdate.Sub(latest.ThisUpdate) / 2)) {
		return a.GenerateCRL(ctx, issuerName)
	}
	return latest, nil
}

// RefreshCRLs regenerates every issuing CA's CRL that is past half its
// validity; the server calls it periodically so CRLs never go stale.
func (a *Authority) RefreshCRLs(ctx context.Context) error {
	var errs []error
	for _, c := range a.CAs() {
		if !c.Root && c.Signer != nil {
			if _, err := a.CurrentCRL(ctx, c.Name); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
