package auditlog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// MaxTokenLen bounds a kept timestamp token (DER).
const MaxTokenLen = 64 << 10

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
