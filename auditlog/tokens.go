package auditlog

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tongxing/tongxing/store"
)

// MaxTokenLen bounds a kept timestamp token (DER).
const MaxTokenLen = 64 << 10

// PutToken keeps the timestamp token (DER) an entry references as ref (its
// TimestampToken field), so that reviewers can see and verify it later.
// Keeping the same token again is a no-op; another token under a kept
// reference is an error.
func (l *Log) PutToken(ctx context.Context, ref string, der []byte) error {
	if ref == "" || len(ref) > MaxFieldLen {
		return &QueryError{Field: "ref", Reason: fmt.Sprintf("1 to %d bytes", MaxFieldLen)}
	}
	if len(der) == 0 || len(der) > MaxTokenLen {
		return &QueryError{Field: "token", Reason: fmt.Sprintf("1 to %d bytes", MaxTokenLen)}
	}
	// Concurrent calls' tokens share one commit.
	err := l.tokens.Do(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO audit_tokens (ref, token, time_ns) VALUES (?, ?, ?)", ref, der, time.Now().UnixNano())
		return err
	})
	if store.IsUniqueViolation(err) {
		kept, gerr := l.Token(ctx, ref)
		if gerr == nil && bytes.Equal(kept, der) {
			return nil
		}
		return fmt.Errorf("auditlog: another token is kept as %q", ref)
	}
	if err != nil {
		return fmt.Errorf("auditlog: keep token %q: %w", ref, err)
	}
	return nil
}

// Token returns the timestamp token kept as ref, or an error wrapping
// ErrNotFound.
func (r *Reader) Token(ctx context.Context, ref string) ([]byte, error) {
	var der []byte
	err := r.db.QueryRow(ctx, "SELECT token FROM audit_tokens WHERE ref = ?", ref).Scan(&der)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("token %q", ref)
	}
	if err != nil {
		return nil, fmt.Errorf("auditlog: read token %q: %w", ref, err)
	}
	return der, nil
}
