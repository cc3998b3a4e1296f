package ca

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/store"
)

// SQLStore keeps the inventory and enrolment codes in the ca_* tables of a
// [store.DB]. Concurrent Record calls are group-committed: a single writer
// collects the records waiting at the moment and commits them in one
// transaction, so SQLite pays one fsync for many certificates.
type SQLStore struct {
	db  *store.DB
	now func() time.Time

	mu     sync.Mutex
	closed bool
	queue  chan *recordOp
	done   chan struct{}
}

var (
	_ Inventory = (*SQLStore)(nil)
	_ Codes     = (*SQLStore)(nil)
)

type recordOp struct {
	ctx    context.Context
	rec    *Record
	code   string
	result chan error
}

// maxBatch bounds one group commit.
const maxBatch = 256

// NewSQLStore returns a store on db and starts its writer; Close stops it.
func NewSQLStore(db *store.DB) *SQLStore {
	s := &SQLStore{db: db, now: time.Now, queue: make(chan *recordOp, maxBatch), done: make(chan struct{})}
	go s.writer()
	return s
}

// Close stops the writer after the queued records are committed.
func (s *SQLStore) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.queue)
	}
	s.mu.Unlock()
	<-s.done
	return nil
}

var errStoreClosed = errors.New("ca: store closed")

// Record implements [Inventory].
func (s *SQLStore) Record(ctx context.Context, rec *Record, redeemCode string) error {
	op := &recordOp{ctx: ctx, rec: rec, code: redeemCode, result: make(chan error, 1)}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errStoreClosed
	}
	s.queue <- op
	s.mu.Unlock()
	// Wait for the commit even if ctx ends: the outcome must be known
	// before the caller answers.
	return <-op.result
}

func (s *SQLStore) writer() {
	defer close(s.done)
	for op := range s.queue {
		batch := []*recordOp{op}
	drain:
		for len(batch) < maxBatch {
			select {
			case more, ok := <-s.queue:
				if !ok {
					break drain
				}
				batch = append(batch, more)
			default:
				break drain
			}
		}
		s.commit(batch)
	}
}

func (s *SQLStore) commit(batch []*recordOp) {
	results := make([]error, len(batch))
	ctx := context.Background()
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		now := s.now().Unix()
		for i, op := range batch {
			if op.ctx.Err() != nil {
				results[i] = op.ctx.Err()
				continue
			}
			if op.code != "" {
				res, err := tx.Exec(ctx, "UPDATE ca_enrolment_codes SET used_at = ?, used_serial = ? WHERE id = ? AND used_at IS NULL AND expires_at > ?",
					now, op.rec.Serial, op.code, now)
				if err != nil {
					return fmt.Errorf("ca: redeem code %s: %w", op.code, err)
				}
				if n, err := res.RowsAffected(); err != nil {
					return err
				} else if n != 1 {
					results[i] = s.whyNotRedeemable(ctx, tx, op.code, now)
					continue
				}
			}
			r := op.rec
			res, err := tx.Exec(ctx, `INSERT INTO ca_certificates
				(serial, issuer, profile, suite, subject, not_before, not_after, status, der, requested_by, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (serial) DO NOTHING`,
				r.Serial, r.Issuer, r.Profile, string(r.Suite), r.Subject, r.NotBefore.Unix(), r.NotAfter.Unix(),
				string(r.Status), r.DER, r.RequestedBy, r.CreatedAt.Unix())
			if err != nil {
				return fmt.Errorf("ca: record certificate %s: %w", r.Serial, err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n != 1 {
				return fmt.Errorf("ca: serial %s already recorded", r.Serial)
			}
		}
		return nil
	})
	for i, op := range batch {
		if err != nil {
			op.result <- err
		} else {
			op.result <- results[i]
		}
	}
}

func (s *SQLStore) whyNotRedeemable(ctx context.Context, tx *store.Tx, id string, now int64) error {
	var (
		used    sql.NullInt64
		expires int64
	)
	err := tx.QueryRow(ctx, "SELECT used_at, expires_at FROM ca_enrolment_codes WHERE id = ?", id).Scan(&used, &expires)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return &RequestError{Field: "enrolment_code", Status: 403, Msg: "unknown enrolment code", Err: ErrNotFound}
	case err != nil:
		return fmt.Errorf("ca: look up code %s: %w", id, err)
	case used.Valid:
		return &RequestError{Field: "enrolment_code", Status: 409, Msg: "this enrolment code has already been used", Err: ErrCodeUsed}
	default:
		return &RequestError{Field: "enrolment_code", Status: 403, Msg: "this enrolment code has expired", Err: ErrCodeExpired}
	}
}

const certColumns = "serial, issuer, profile, suite, subject, not_before, not_after, status, der, requested_by, created_at"

func scanRecord(sc interface{ Scan(...any) error }) (*Record, error) {
	var (
		r                   Record
		suite, status       string
		nb, na, createdUnix int64
	)
	if err := sc.Scan(&r.Serial, &r.Issuer, &r.Profile, &suite, &r.Subject, &nb, &na, &status, &r.DER, &r.RequestedBy, &createdUnix); err != nil {
		return nil, err
	}
	r.Suite, r.Status = kms.Suite(suite), Status(status)
	r.NotBefore, r.NotAfter, r.CreatedAt = time.Unix(nb, 0).UTC(), time.Unix(na, 0).UTC(), time.Unix(createdUnix, 0).UTC()
	return &r, nil
}

// Certificate implements [Inventory].
func (s *SQLStore) Certificate(ctx context.Context, serial string) (*Record, error) {
	r, err := scanRecord(s.db.QueryRow(ctx, "SELECT "+certColumns+" FROM ca_certificates WHERE serial = ?", serial))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: certificate %s", ErrNotFound, serial)
	}
	if err != nil {
		return nil, fmt.Errorf("ca: read certificate %s: %w", serial, err)
	}
	return r, nil
}

// Certificates implements [Inventory].
func (s *SQLStore) Certificates(ctx context.Context, f Filter) ([]*Record, error) {
	var (
		where []string
		args  []any
	)
	if f.Profile != "" {
		where, args = append(where, "profile = ?"), append(args, f.Profile)
	}
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, string(f.Status))
	}
	if f.Subject != "" {
		where, args = append(where, "subject LIKE ? ESCAPE '\\'"), append(args, "%"+likeEscape(f.Subject)+"%")
	}
	if f.After != "" {
		where = append(where, "(created_at, serial) > (SELECT created_at, serial FROM ca_certificates WHERE serial = ?)")
		args = append(args, f.After)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	q := "SELECT " + certColumns + " FROM ca_certificates"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += fmt.Sprintf(" ORDER BY created_at, serial LIMIT %d", limit)
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("ca: list certificates: %w", err)
	}
	defer rows.Close()
	var out []*Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("ca: list certificates: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// CreateCode implements [Codes].
func (s *SQLStore) CreateCode(ctx context.Context, c *Code) error {
	subj, err := json.Marshal(c.Subject)
	if err != nil {
		return err
	}
	_, err = s.db.Exec(ctx, `INSERT INTO ca_enrolment_codes (id, code_hash, profile, subject_json, created_by, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, c.ID, c.Hash, c.Profile, string(subj), c.CreatedBy, c.CreatedAt.Unix(), c.ExpiresAt.Unix())
	if err != nil {
		return fmt.Errorf("ca: store enrolment code %s: %w", c.ID, err)
	}
	return nil
}

// CodeByHash implements [Codes].
func (s *SQLStore) CodeByHash(ctx context.Context, h []byte) (*Code, error) {
	var (
		c                Code
		subj             string
		created, expires int64
		used             sql.NullInt64
	)
	err := s.db.QueryRow(ctx, "SELECT id, code_hash, profile, subject_json, created_by, created_at, expires_at, used_at FROM ca_enrolment_codes WHERE code_hash = ?", h).
		Scan(&c.ID, &c.Hash, &c.Profile, &subj, &c.CreatedBy, &created, &expires, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("ca: look up enrolment code: %w", err)
	}
	if err := json.Unmarshal([]byte(subj), &c.Subject); err != nil {
		return nil, fmt.Errorf("ca: enrolment code %s: stored subject: %w", c.ID, err)
	}
	c.CreatedAt, c.ExpiresAt = time.Unix(created, 0).UTC(), time.Unix(expires, 0).UTC()
	if used.Valid {
		c.UsedAt = time.Unix(used.Int64, 0).UTC()
	}
	return &c, nil
}
