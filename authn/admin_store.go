package authn

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// list returns at most limit accounts whose user name or name contains q
// (all when q is empty) and whose user name sorts after after, by user
// name.
func (u *Users) list(ctx context.Context, q, after string, limit int) ([]*User, error) {
	query := "SELECT " + userColumns + " FROM authn_users WHERE username > ?"
	args := []any{NormalizeUsername(after)}
	if q != "" {
		like := "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(q) + "%"
		query += ` AND (username LIKE ? ESCAPE '\' OR name LIKE ? ESCAPE '\')`
		args = append(args, strings.ToLower(like), like)
	}
	rows, err := u.db.Query(ctx, query+" ORDER BY username LIMIT ?", append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("authn: list users: %w", err)
	}
	defer rows.Close()
	var out []*User
	for rows.Next() {
		usr, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("authn: list users: %w", err)
		}
		out = append(out, usr)
	}
	return out, rows.Err()
}

// lockedUntil returns when the lock of key ends, or the zero time if key
// is not locked now.
func (t *throttle) lockedUntil(ctx context.Context, key string) (time.Time, error) {
	var until int64
	err := t.db.QueryRow(ctx, "SELECT locked_until FROM authn_throttle WHERE key = ?", key).Scan(&until)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("authn: read login throttle: %w", err)
	}
	if until <= t.now().UnixNano() {
		return time.Time{}, nil
	}
	return time.Unix(0, until).UTC(), nil
}
