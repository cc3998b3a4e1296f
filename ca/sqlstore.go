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

// The statements every enrolment runs, prepared once on the database.
const (
	codeByHashSQL = "SELECT " + codeColumns + " FROM ca_enrolment_codes WHERE code_hash = ?"
	redeemSQL     = "UPDATE ca_enrolment_codes SET used_at = ?, used_serial = ?, subject_json = '{}', purged_at = ? WHERE id = ? AND used_at IS NULL AND expires_at > ?"
	recordSQL     = `INSERT INTO ca_certificates
	(serial, issuer, profile, suite, subject, not_before, not_after, status, der, requested_by, created_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (serial) DO NOTHING`
)

var (
	_ Inventory   = (*SQLStore)(nil)
	_ TxInventory = (*SQLStore)(nil)
	_ Codes       = (*SQLStore)(nil)
)

type recordOp struct {
	ctx    context.Context
	recs   []*Record
	code   string
	stage  func(ctx context.Context, tx *store.Tx) error
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
func (s *SQLStore) Record(ctx context.Context, redeemCode string, recs ...*Record) error {
	return s.RecordWith(ctx, redeemCode, nil, recs...)
}

// RecordWith implements [TxInventory]: stage (if not nil) runs in the
// group-committed transaction, after recs are written. A failing stage
// fails every record of that transaction.
func (s *SQLStore) RecordWith(ctx context.Context, redeemCode string, stage func(ctx context.Context, tx *store.Tx) error, recs ...*Record) error {
	if len(recs) == 0 {
		return errors.New("ca: nothing to record")
	}
	op := &recordOp{ctx: ctx, recs: recs, code: redeemCode, stage: stage, result: make(chan error, 1)}
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
	last := 0 // size of the previous batch
	for op := range s.queue {
		batch := []*recordOp{op}
		open := true
	drain:
		for len(batch) < maxBatch {
			select {
			case more, ok := <-s.queue:
				if !ok {
					open = false
					break drain
				}
				batch = append(batch, more)
			default:
				break drain
			}
		}
		if want := min(last, maxBatch); open && len(batch) < want {
			store.Linger(s.queue, store.BatchLinger, func(op *recordOp) bool {
				batch = append(batch, op)
				return len(batch) < want
			})
		}
		last = len(batch)
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
				res, err := tx.ExecPrepared(ctx, redeemSQL, now, op.recs[0].Serial, now, op.code, now)
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
			for _, r := range op.recs {
				res, err := tx.ExecPrepared(ctx, recordSQL, r.Serial, r.Issuer, r.Profile, string(r.Suite), r.Subject, r.NotBefore.Unix(), r.NotAfter.Unix(),
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
			if op.stage != nil {
				if err := op.stage(ctx, tx); err != nil {
					return fmt.Errorf("ca: audit entries of %s: %w", op.recs[0].Serial, err)
				}
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

const certColumns = "serial, issuer, profile, suite, subject, not_before, not_after, status, der, requested_by, created_at, revoked_at, revocation_reason"

func scanRecord(sc interface{ Scan(...any) error }) (*Record, error) {
	var (
		r                   Record
		suite, status       string
		nb, na, createdUnix int64
		revokedAt, reason   sql.NullInt64
	)
	if err := sc.Scan(&r.Serial, &r.Issuer, &r.Profile, &suite, &r.Subject, &nb, &na, &status, &r.DER, &r.RequestedBy, &createdUnix, &revokedAt, &reason); err != nil {
		return nil, err
	}
	if revokedAt.Valid {
		r.RevokedAt = time.Unix(revokedAt.Int64, 0).UTC()
	}
	if reason.Valid {
		rr := Reason(reason.Int64)
		r.Reason = &rr
	}
	r.Suite, r.Status = kms.Suite(suite), Status(status)
	r.NotBefore, r.NotAfter, r.CreatedAt = time.Unix(nb, 0).UTC(), time.Unix(na, 0).UTC(), time.Unix(createdUnix, 0).UTC()
	return &r, nil
}

// Certificate implements [Inventory].
func (s *SQLStore) Certificate(ctx context.Context, serial string) (*Record, error) {
	r, err := scanRecord(s.db.QueryRow(ctx, "SELECT "+certColumns+" FROM ca_certificates WHERE serial = ?", serial))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("no certificate with serial %s", serial)
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
	if f.RequestedBy != "" {
		where, args = append(where, "requested_by = ?"), append(args, f.RequestedBy)
	}
	if f.Subject != "" {
		where, args = append(where, "LOWER(subject) LIKE LOWER(?) ESCAPE '\\'"), append(args, "%"+likeEscape(f.Subject)+"%")
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
	_, err = s.db.Exec(ctx, `INSERT INTO ca_enrolment_codes (id, code_hash, profile, subject_json, created_by, created_at, expires_at, hardware_key)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, c.ID, c.Hash, c.Profile, string(subj), c.CreatedBy, c.CreatedAt.Unix(), c.ExpiresAt.Unix(), boolInt(c.HardwareKey))
	if err != nil {
		return fmt.Errorf("ca: store enrolment code %s: %w", c.ID, err)
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

const codeColumns = "id, code_hash, profile, subject_json, created_by, created_at, expires_at, used_at, used_serial, hardware_key, purged_at"

func scanCode(sc interface{ Scan(...any) error }) (*Code, error) {
	var (
		c                Code
		subj             string
		created, expires int64
		used, purged     sql.NullInt64
		usedSerial       sql.NullString
		hardware         int64
	)
	if err := sc.Scan(&c.ID, &c.Hash, &c.Profile, &subj, &c.CreatedBy, &created, &expires, &used, &usedSerial, &hardware, &purged); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(subj), &c.Subject); err != nil {
		return nil, fmt.Errorf("ca: enrolment code %s: stored subject: %w", c.ID, err)
	}
	c.CreatedAt, c.ExpiresAt = time.Unix(created, 0).UTC(), time.Unix(expires, 0).UTC()
	if used.Valid {
		c.UsedAt = time.Unix(used.Int64, 0).UTC()
	}
	if purged.Valid {
		c.PurgedAt = time.Unix(purged.Int64, 0).UTC()
	}
	c.UsedSerial, c.HardwareKey = usedSerial.String, hardware != 0
	return &c, nil
}

// CodeByHash implements [Codes].
func (s *SQLStore) CodeByHash(ctx context.Context, h []byte) (*Code, error) {
	c, err := scanCode(s.db.QueryRowPrepared(ctx, codeByHashSQL, h))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("ca: look up enrolment code: %w", err)
	}
	return c, nil
}

// PurgeCodes implements [Codes].
func (s *SQLStore) PurgeCodes(ctx context.Context, now time.Time, minimise func(*Code) (Subject, bool)) (purged, minimised int, err error) {
	res, err := s.db.Exec(ctx, "UPDATE ca_enrolment_codes SET subject_json = '{}', purged_at = ? WHERE purged_at IS NULL AND (used_at IS NOT NULL OR expires_at <= ?)",
		now.Unix(), now.Unix())
	if err != nil {
		return 0, 0, fmt.Errorf("ca: purge enrolment codes: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, 0, err
	}
	purged = int(n)
	if minimise == nil {
		return purged, 0, nil
	}
	rows, err := s.db.Query(ctx, "SELECT "+codeColumns+" FROM ca_enrolment_codes WHERE purged_at IS NULL AND used_at IS NULL AND subject_json LIKE ?", `%"id_number"%`)
	if err != nil {
		return purged, 0, fmt.Errorf("ca: list enrolment codes to minimise: %w", err)
	}
	var codes []*Code
	for rows.Next() {
		c, err := scanCode(rows)
		if err != nil {
			rows.Close()
			return purged, 0, err
		}
		codes = append(codes, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return purged, 0, err
	}
	for _, c := range codes {
		subj, ok := minimise(c)
		if !ok {
			continue
		}
		b, err := json.Marshal(subj)
		if err != nil {
			return purged, minimised, err
		}
		if _, err := s.db.Exec(ctx, "UPDATE ca_enrolment_codes SET subject_json = ? WHERE id = ? AND used_at IS NULL AND purged_at IS NULL", string(b), c.ID); err != nil {
			return purged, minimised, fmt.Errorf("ca: minimise enrolment code %s: %w", c.ID, err)
		}
		minimised++
	}
	return purged, minimised, nil
}

var _ StatusStore = (*SQLStore)(nil)

// errStatusChanged means the certificate's status moved between reading and
// writing it.
var errStatusChanged = &RequestError{Field: "status", Status: 409, Msg: "the certificate's status changed concurrently; retry"}

// SetStatus implements [StatusStore].
func (s *SQLStore) SetStatus(ctx context.Context, ev *Event, revokedAt time.Time) (*Record, error) {
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var (
			res sql.Result
			err error
		)
		switch ev.To {
		case StatusValid:
			res, err = tx.Exec(ctx, "UPDATE ca_certificates SET status = ?, revoked_at = NULL, revocation_reason = NULL WHERE serial = ? AND status = ?",
				string(ev.To), ev.Serial, string(ev.From))
		default:
			// A held certificate that is revoked stays revoked from the
			// start of the hold (revoked_at is NULL only while valid).
			res, err = tx.Exec(ctx, "UPDATE ca_certificates SET status = ?, revoked_at = COALESCE(revoked_at, ?), revocation_reason = ? WHERE serial = ? AND status = ?",
				string(ev.To), revokedAt.Unix(), int(*ev.Reason), ev.Serial, string(ev.From))
		}
		if err != nil {
			return fmt.Errorf("ca: set status of %s: %w", ev.Serial, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return errStatusChanged
		}
		var reason any
		if ev.Reason != nil {
			reason = int(*ev.Reason)
		}
		_, err = tx.Exec(ctx, "INSERT INTO ca_status_events (id, serial, from_status, to_status, reason, actor, comment, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			ev.ID, ev.Serial, string(ev.From), string(ev.To), reason, ev.Actor, ev.Comment, ev.At.UnixNano())
		if err != nil {
			return fmt.Errorf("ca: record status event of %s: %w", ev.Serial, err)
		}
		// Every replica drops what it remembers of the certificate when
		// this commits (OCSP answers from memory).
		return tx.Notify(ctx, StatusChannel, "serial:"+ev.Serial)
	})
	if err != nil {
		return nil, err
	}
	return s.Certificate(ctx, ev.Serial)
}

// Events implements [StatusStore].
func (s *SQLStore) Events(ctx context.Context, serial string) ([]*Event, error) {
	rows, err := s.db.Query(ctx, "SELECT id, serial, from_status, to_status, reason, actor, comment, at FROM ca_status_events WHERE serial = ? ORDER BY at, id", serial)
	if err != nil {
		return nil, fmt.Errorf("ca: list status events of %s: %w", serial, err)
	}
	defer rows.Close()
	out := []*Event{}
	for rows.Next() {
		var (
			ev       Event
			from, to string
			reason   sql.NullInt64
			at       int64
		)
		if err := rows.Scan(&ev.ID, &ev.Serial, &from, &to, &reason, &ev.Actor, &ev.Comment, &at); err != nil {
			return nil, err
		}
		ev.From, ev.To, ev.At = Status(from), Status(to), time.Unix(0, at).UTC()
		if reason.Valid {
			r := Reason(reason.Int64)
			ev.Reason = &r
		}
		out = append(out, &ev)
	}
	return out, rows.Err()
}

// Revoked implements [StatusStore].
func (s *SQLStore) Revoked(ctx context.Context, issuer string, now time.Time) ([]*Record, error) {
	rows, err := s.db.Query(ctx, "SELECT serial, revoked_at, revocation_reason FROM ca_certificates WHERE issuer = ? AND status IN ('revoked', 'hold') AND not_after > ? ORDER BY serial",
		issuer, now.Unix())
	if err != nil {
		return nil, fmt.Errorf("ca: list revoked certificates of %s: %w", issuer, err)
	}
	defer rows.Close()
	var out []*Record
	for rows.Next() {
		var (
			r       Record
			at, rsn sql.NullInt64
		)
		if err := rows.Scan(&r.Serial, &at, &rsn); err != nil {
			return nil, err
		}
		r.Issuer = issuer
		r.RevokedAt = time.Unix(at.Int64, 0).UTC()
		rr := Reason(rsn.Int64)
		r.Reason = &rr
		out = append(out, &r)
	}
	return out, rows.Err()
}

var _ CRLStore = (*SQLStore)(nil)

// NextCRLNumber implements [CRLStore]: numbers increase by one per call per
// issuer, across restarts and replicas.
func (s *SQLStore) NextCRLNumber(ctx context.Context, issuer string) (int64, error) {
	var n int64
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO ca_crl_numbers (issuer, number) VALUES (?, 0) ON CONFLICT (issuer) DO NOTHING", issuer); err != nil {
			return err
		}
		return tx.QueryRow(ctx, "UPDATE ca_crl_numbers SET number = number + 1 WHERE issuer = ? RETURNING number", issuer).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("ca: next CRL number of %s: %w", issuer, err)
	}
	return n, nil
}

// SaveCRL implements [CRLStore]; an older CRL never replaces a newer one.
func (s *SQLStore) SaveCRL(ctx context.Context, c *CRL) error {
	_, err := s.db.Exec(ctx, `INSERT INTO ca_crls (issuer, number, this_update, next_update, der) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (issuer) DO UPDATE SET number = excluded.number, this_update = excluded.this_update,
		next_update = excluded.next_update, der = excluded.der WHERE ca_crls.number < excluded.number`,
		c.Issuer, c.Number, c.ThisUpdate.Unix(), c.NextUpdate.Unix(), c.DER)
	if err != nil {
		return fmt.Errorf("ca: save CRL %d of %s: %w", c.Number, c.Issuer, err)
	}
	return nil
}

// LatestCRL implements [CRLStore].
func (s *SQLStore) LatestCRL(ctx context.Context, issuer string, haveNumber int64) (*CRL, error) {
	var (
		c      = CRL{Issuer: issuer}
		tu, nu int64
	)
	err := s.db.QueryRow(ctx, "SELECT number, this_update, next_update, CASE WHEN number > ? THEN der ELSE NULL END FROM ca_crls WHERE issuer = ?", haveNumber, issuer).
		Scan(&c.Number, &tu, &nu, &c.DER)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: no CRL for %s yet", ErrNotFound, issuer)
	}
	if err != nil {
		return nil, fmt.Errorf("ca: read CRL of %s: %w", issuer, err)
	}
	c.ThisUpdate, c.NextUpdate = time.Unix(tu, 0).UTC(), time.Unix(nu, 0).UTC()
	return &c, nil
}
