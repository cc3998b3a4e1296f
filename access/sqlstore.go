package access

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tongxing/tongxing/store"
)

// SQLStore is [Storage] on the access_* tables of a store.DB (SQLite or
// PostgreSQL). Updates are serialised by SQLite's write lock and, on
// PostgreSQL, a transaction-scoped advisory lock.
type SQLStore struct {
	db *store.DB
}

var _ Storage = (*SQLStore)(nil)

// NewSQLStore returns the store on db.
func NewSQLStore(db *store.DB) *SQLStore { return &SQLStore{db: db} }

// updateLockID is the PostgreSQL advisory lock taken by every Update
// ("txaccess" in ASCII).
const updateLockID int64 = 0x7478616363657373

func unix(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.Unix(), Valid: true}
}

func fromUnix(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.Unix(v.Int64, 0).UTC()
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

const officerColumns = `o.id, o.name, o.role, o.status, o.user_id, o.username, o.proposed_by, o.approved_by, o.created_at, o.revoked_at, o.revoked_by, o.console_signed_out_at`

func scanOfficer(row interface{ Scan(...any) error }, extra ...any) (*Officer, error) {
	var (
		o                Officer
		userID, username sql.NullString
		revokedBy        sql.NullString
		created          int64
		revoked          sql.NullInt64
		signedOut        int64
	)
	dst := append([]any{&o.ID, &o.Name, &o.Role, &o.Status, &userID, &username, &o.ProposedBy, &o.ApprovedBy, &created, &revoked, &revokedBy, &signedOut}, extra...)
	if err := row.Scan(dst...); err != nil {
		return nil, err
	}
	o.UserID, o.Username, o.RevokedBy = userID.String, username.String, revokedBy.String
	o.CreatedAt = time.Unix(created, 0).UTC()
	o.RevokedAt = fromUnix(revoked)
	if signedOut > 0 {
		o.ConsoleSignedOutAt = time.Unix(signedOut, 0).UTC()
	}
	return &o, nil
}

// Token implements [Storage].
func (s *SQLStore) Token(ctx context.Context, hash []byte) (*Token, *Officer, error) {
	var (
		t                Token
		created          int64
		expires, revoked sql.NullInt64
	)
	o, err := scanOfficer(s.db.QueryRow(ctx, `SELECT `+officerColumns+`, t.id, t.token_hash, t.created_at, t.expires_at, t.revoked_at
		FROM access_tokens t JOIN access_officers o ON o.id = t.officer_id WHERE t.token_hash = ?`, hash),
		&t.ID, &t.Hash, &created, &expires, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, ErrUnknownToken
	}
	if err != nil {
		return nil, nil, fmt.Errorf("access: look up token: %w", err)
	}
	t.OfficerID = o.ID
	t.CreatedAt = time.Unix(created, 0).UTC()
	t.ExpiresAt, t.RevokedAt = fromUnix(expires), fromUnix(revoked)
	return &t, o, nil
}

// Officers implements [Storage].
func (s *SQLStore) Officers(ctx context.Context) ([]*Officer, error) {
	rows, err := s.db.Query(ctx, `SELECT `+officerColumns+`,
		(SELECT MAX(t.expires_at) FROM access_tokens t WHERE t.officer_id = o.id AND t.revoked_at IS NULL)
		FROM access_officers o ORDER BY o.name`)
	if err != nil {
		return nil, fmt.Errorf("access: list officers: %w", err)
	}
	defer rows.Close()
	var out []*Officer
	for rows.Next() {
		var exp sql.NullInt64
		o, err := scanOfficer(rows, &exp)
		if err != nil {
			return nil, fmt.Errorf("access: list officers: %w", err)
		}
		o.TokenExpiresAt = fromUnix(exp)
		out = append(out, o)
	}
	return out, rows.Err()
}

const proposalColumns = `id, kind, officer, role, user_id, username, status, proposed_by, proposed_at, expires_at,
	decided_by, decided_at, comment, proposer_code_hash, approver_code_hash, claim_failures, claimed_at`

func scanProposal(row interface{ Scan(...any) error }) (*Proposal, error) {
	var (
		p                           Proposal
		userID, username, decidedBy sql.NullString
		proposed, expires, failures int64
		decided, claimed            sql.NullInt64
	)
	if err := row.Scan(&p.ID, &p.Kind, &p.Officer, &p.Role, &userID, &username, &p.Status, &p.ProposedBy, &proposed, &expires,
		&decidedBy, &decided, &p.Comment, &p.ProposerCodeHash, &p.ApproverCodeHash, &failures, &claimed); err != nil {
		return nil, err
	}
	p.UserID, p.Username, p.DecidedBy = userID.String, username.String, decidedBy.String
	p.ProposedAt, p.ExpiresAt = time.Unix(proposed, 0).UTC(), time.Unix(expires, 0).UTC()
	p.DecidedAt, p.ClaimedAt = fromUnix(decided), fromUnix(claimed)
	p.ClaimFailures = int(failures)
	return &p, nil
}

// Proposals implements [Storage].
func (s *SQLStore) Proposals(ctx context.Context, status string) ([]*Proposal, error) {
	q := "SELECT " + proposalColumns + " FROM access_proposals"
	var args []any
	if status != "" {
		q += " WHERE status = ?"
		args = append(args, status)
	}
	rows, err := s.db.Query(ctx, q+" ORDER BY proposed_at DESC, id LIMIT 1000", args...)
	if err != nil {
		return nil, fmt.Errorf("access: list proposals: %w", err)
	}
	defer rows.Close()
	var out []*Proposal
	for rows.Next() {
		p, err := scanProposal(rows)
		if err != nil {
			return nil, fmt.Errorf("access: list proposals: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Update implements [Storage].
func (s *SQLStore) Update(ctx context.Context, fn func(tx Tx) (*Change, error)) error {
	var refusal error
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if tx.Dialect() == store.Postgres {
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(?)", updateLockID); err != nil {
				return fmt.Errorf("access: lock: %w", err)
			}
		}
		ch, err := fn(sqlTx{tx})
		if err != nil && ch == nil {
			return err
		}
		refusal = err
		if ch == nil {
			return nil
		}
		return write(ctx, tx, ch)
	})
	if refusal != nil && err == nil {
		return refusal
	}
	return err
}

func write(ctx context.Context, tx *store.Tx, ch *Change) error {
	for _, o := range ch.Officers {
		if _, err := tx.Exec(ctx, `INSERT INTO access_officers (id, name, role, status, user_id, username, proposed_by, approved_by, created_at, revoked_at, revoked_by)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET status = excluded.status, user_id = excluded.user_id, username = excluded.username,
				revoked_at = excluded.revoked_at, revoked_by = excluded.revoked_by`,
			o.ID, o.Name, o.Role, o.Status, nullString(o.UserID), nullString(o.Username), o.ProposedBy, o.ApprovedBy,
			o.CreatedAt.Unix(), unix(o.RevokedAt), nullString(o.RevokedBy)); err != nil {
			if store.IsUniqueViolation(err) {
				return refuse(409, ErrExists, "officer %q or its sign-on account is taken", o.Name)
			}
			return fmt.Errorf("access: store officer %s: %w", o.Name, err)
		}
	}
	for _, p := range ch.Proposals {
		// An open proposal past its time no longer blocks a new one.
		if _, err := tx.Exec(ctx, `UPDATE access_proposals SET status = ? WHERE officer = ? AND id <> ? AND status IN (?, ?) AND expires_at <= ?`,
			ProposalExpired, p.Officer, p.ID, ProposalPending, ProposalApproved, p.ProposedAt.Unix()); err != nil {
			return fmt.Errorf("access: expire proposals: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO access_proposals (`+proposalColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET status = excluded.status, expires_at = excluded.expires_at,
				decided_by = excluded.decided_by, decided_at = excluded.decided_at, comment = excluded.comment,
				approver_code_hash = excluded.approver_code_hash, claim_failures = excluded.claim_failures, claimed_at = excluded.claimed_at`,
			p.ID, p.Kind, p.Officer, p.Role, nullString(p.UserID), nullString(p.Username), p.Status, p.ProposedBy,
			p.ProposedAt.Unix(), p.ExpiresAt.Unix(), nullString(p.DecidedBy), unix(p.DecidedAt), p.Comment,
			p.ProposerCodeHash, p.ApproverCodeHash, int64(p.ClaimFailures), unix(p.ClaimedAt)); err != nil {
			if store.IsUniqueViolation(err) {
				return refuse(409, ErrExists, "a proposal for officer %q is already open", p.Officer)
			}
			return fmt.Errorf("access: store proposal %s: %w", p.ID, err)
		}
	}
	for _, id := range ch.SignedOut {
		if _, err := tx.Exec(ctx, "UPDATE access_officers SET console_signed_out_at = ? WHERE id = ? AND console_signed_out_at < ?",
			ch.SignedOutAt.Unix(), id, ch.SignedOutAt.Unix()); err != nil {
			return fmt.Errorf("access: record console sign-out: %w", err)
		}
	}
	for _, id := range ch.Revoke {
		if _, err := tx.Exec(ctx, "UPDATE access_tokens SET revoked_at = ? WHERE officer_id = ? AND revoked_at IS NULL AND id <> ?",
			ch.RevokedAt.Unix(), id, ch.ExceptToken); err != nil {
			return fmt.Errorf("access: revoke tokens: %w", err)
		}
	}
	for _, t := range ch.Tokens {
		var name, role string
		if err := tx.QueryRow(ctx, "SELECT name, role FROM access_officers WHERE id = ?", t.OfficerID).Scan(&name, &role); err != nil {
			return fmt.Errorf("access: token of officer %s: %w", t.OfficerID, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO access_tokens (id, token_hash, name, roles, created_at, officer_id, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
			t.ID, t.Hash, name, role, t.CreatedAt.Unix(), t.OfficerID, t.ExpiresAt.Unix()); err != nil {
			return fmt.Errorf("access: store token: %w", err)
		}
	}
	return nil
}

type sqlTx struct{ tx *store.Tx }

func (t sqlTx) Officer(ctx context.Context, name string) (*Officer, error) {
	o, err := scanOfficer(t.tx.QueryRow(ctx, "SELECT "+officerColumns+" FROM access_officers o WHERE o.name = ?", name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("no officer %q", truncate(name, 80))
	}
	if err != nil {
		return nil, fmt.Errorf("access: load officer: %w", err)
	}
	return o, nil
}

func (t sqlTx) BoundTo(ctx context.Context, userID string) (*Officer, error) {
	o, err := scanOfficer(t.tx.QueryRow(ctx, "SELECT "+officerColumns+" FROM access_officers o WHERE o.user_id = ? AND o.status = ?", userID, StatusActive))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("access: load officer: %w", err)
	}
	return o, nil
}

func (t sqlTx) Proposal(ctx context.Context, id string) (*Proposal, error) {
	p, err := scanProposal(t.tx.QueryRow(ctx, "SELECT "+proposalColumns+" FROM access_proposals WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("no proposal %q", truncate(id, 80))
	}
	if err != nil {
		return nil, fmt.Errorf("access: load proposal: %w", err)
	}
	return p, nil
}

func (t sqlTx) Usable(ctx context.Context, role string, now time.Time, except string) (int, error) {
	var n int
	err := t.tx.QueryRow(ctx, `SELECT COUNT(DISTINCT o.id) FROM access_officers o JOIN access_tokens t ON t.officer_id = o.id
		WHERE o.role = ? AND o.status = ? AND o.id <> ? AND t.revoked_at IS NULL AND t.expires_at > ?`, role, StatusActive, except, now.Unix()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("access: count officers: %w", err)
	}
	return n, nil
}

// TokenLive implements [Tx].
func (t sqlTx) TokenLive(ctx context.Context, id, officerID string, now time.Time) (bool, error) {
	var n int
	err := t.tx.QueryRow(ctx, `SELECT COUNT(*) FROM access_tokens WHERE id = ? AND officer_id = ? AND revoked_at IS NULL AND expires_at > ?`,
		id, officerID, now.Unix()).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("access: read token: %w", err)
	}
	return n == 1, nil
}

// legacyTokens sets the expiry of tokens of earlier versions (which had
// none) to now+ttl and returns how many it changed.
func (s *SQLStore) legacyTokens(ctx context.Context, now time.Time, ttl time.Duration) (int64, error) {
	res, err := s.db.Exec(ctx, "UPDATE access_tokens SET expires_at = ? WHERE expires_at IS NULL AND revoked_at IS NULL", now.Add(ttl).Unix())
	if err != nil {
		return 0, fmt.Errorf("access: upgrade tokens: %w", err)
	}
	return res.RowsAffected()
}
