package authz

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/tongxing/tongxing/store"
)

// ErrNoBundle is returned by [Store.Active] when no bundle was ever
// activated.
var ErrNoBundle = errors.New("authz: no policy bundle is active")

// Store keeps activated bundles in table authz_bundles; replicas sharing a
// database load the most recently activated one. It is safe for
// concurrent use.
type Store struct {
	db  *store.DB
	now func() time.Time
}

// NewStore returns the bundle store on db.
func NewStore(db *store.DB) *Store { return &Store{db: db, now: time.Now} }

// Active is the most recently activated bundle.
type Active struct {
	Revision    string
	Bundle      []byte
	SHA256      string
	ActivatedAt time.Time
	ActivatedBy string
}

// ErrOlderBundle is returned by [Store.Activate] for a bundle built no
// later than the one in force.
var ErrOlderBundle = errors.New("authz: the bundle is older than the one in force")

// Activate stores raw (a bundle of revision) and makes it the active one.
// The caller has verified it. Pushing the active revision again is
// allowed (same bytes); any other bundle must have been built after the
// active one ([BuiltAt]): a withdrawn policy, signed long ago, cannot be
// brought back by re-uploading it, only by building and signing it again.
// The activation time is after every earlier one even if this replica's
// clock is behind, so the bundle is in force on every replica.
func (s *Store) Activate(ctx context.Context, revision string, raw []byte, by string) (*Active, error) {
	sum := sha256.Sum256(raw)
	a := &Active{Revision: revision, Bundle: raw, SHA256: hex.EncodeToString(sum[:]), ActivatedAt: s.now().UTC(), ActivatedBy: by}
	m, err := manifestOf(raw)
	if err != nil {
		return nil, fmt.Errorf("authz: activate bundle %q: %w", revision, err)
	}
	built := builtAt(m)
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		last, err := newerThanActive(ctx, tx, revision, built)
		if err != nil {
			return err
		}
		if a.ActivatedAt.UnixNano() <= last {
			a.ActivatedAt = time.Unix(0, last+1).UTC()
		}
		// Replicas starting together may store the same first bundle:
		// the insert is idempotent, the content must agree.
		if _, err := tx.Exec(ctx, `INSERT INTO authz_bundles (revision, bundle, sha256, activated_ns, activated_by) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (revision) DO NOTHING`, revision, raw, a.SHA256, a.ActivatedAt.UnixNano(), by); err != nil {
			return err
		}
		var have string
		if err := tx.QueryRow(ctx, "SELECT sha256 FROM authz_bundles WHERE revision = ?", revision).Scan(&have); err != nil {
			return err
		}
		if have != a.SHA256 {
			return fmt.Errorf("authz: revision %q is stored with other content; give the new bundle its own revision", revision)
		}
		_, err = tx.Exec(ctx, "UPDATE authz_bundles SET activated_ns = ?, activated_by = ? WHERE revision = ?", a.ActivatedAt.UnixNano(), by, revision)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("authz: activate bundle %q: %w", revision, err)
	}
	return a, nil
}

// newerThanActive refuses a bundle built at built unless it is the active
// revision or was built after the active bundle, and returns the active
// bundle's activation time (0 when there is none), the latest of all.
// Only the active bundle's manifest is parsed.
func newerThanActive(ctx context.Context, tx *store.Tx, revision string, built time.Time) (int64, error) {
	var (
		activeRev string
		activeRaw []byte
		activeNS  int64
	)
	err := tx.QueryRow(ctx, "SELECT revision, bundle, activated_ns FROM authz_bundles ORDER BY activated_ns DESC, revision DESC LIMIT 1").Scan(&activeRev, &activeRaw, &activeNS)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil || activeRev == revision {
		return activeNS, err
	}
	m, err := manifestOf(activeRaw)
	if err != nil {
		return activeNS, nil // the active bundle is unreadable: any verified bundle replaces it
	}
	activeBuilt := builtAt(m)
	if !built.After(activeBuilt) && !(built.IsZero() && activeBuilt.IsZero()) {
		return 0, fmt.Errorf("%w: %s was built %s, the active %s %s; build and sign it again to put it in force",
			ErrOlderBundle, revision, builtText(built), activeRev, builtText(activeBuilt))
	}
	return activeNS, nil
}

func builtText(t time.Time) string {
	if t.IsZero() {
		return "at an unrecorded time"
	}
	return "at " + t.Format(time.RFC3339)
}

// ActiveRevision returns the revision of the active bundle, or
// ErrNoBundle. It is one indexed read, cheap enough to poll.
func (s *Store) ActiveRevision(ctx context.Context) (string, error) {
	var rev string
	err := s.db.QueryRow(ctx, "SELECT revision FROM authz_bundles ORDER BY activated_ns DESC, revision DESC LIMIT 1").Scan(&rev)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNoBundle
	}
	if err != nil {
		return "", fmt.Errorf("authz: read active revision: %w", err)
	}
	return rev, nil
}

// Active returns the active bundle, or ErrNoBundle.
func (s *Store) Active(ctx context.Context) (*Active, error) {
	var (
		a  Active
		ns int64
	)
	err := s.db.QueryRow(ctx, "SELECT revision, bundle, sha256, activated_ns, activated_by FROM authz_bundles ORDER BY activated_ns DESC, revision DESC LIMIT 1").
		Scan(&a.Revision, &a.Bundle, &a.SHA256, &ns, &a.ActivatedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNoBundle
	}
	if err != nil {
		return nil, fmt.Errorf("authz: read active bundle: %w", err)
	}
	a.ActivatedAt = time.Unix(0, ns).UTC()
	return &a, nil
}
