// Package sqlmark is a timestamp.Watermark on the Tongxing store (SQLite or
// PostgreSQL): the high-water mark of each TSA process's genTime, kept in
// table timestamp_watermarks (migration 00080) under the process's name, so
// that after a restart the process issues no token earlier than one it
// issued before.
//
// A mark is raised with one conditional upsert; the Authority raises it about
// once per watermark window (one second by default), not per token.
package sqlmark

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/timestamp"
)

// Mark is the watermark stored under one name. It is safe for concurrent
// use.
type Mark struct {
	db   *store.DB
	name string
}

var _ timestamp.Watermark = (*Mark)(nil)

// New returns the watermark named name: one per TSA process. Replicas
// sharing a database use different names (e.g. "tsa/" + replica ID).
func New(db *store.DB, name string) (*Mark, error) {
	if db == nil || name == "" {
		return nil, errors.New("sqlmark: need a database and a name")
	}
	return &Mark{db: db, name: name}, nil
}

// Load implements timestamp.Watermark.
func (m *Mark) Load(ctx context.Context) (time.Time, error) {
	var ns int64
	err := m.db.QueryRow(ctx, `SELECT mark_ns FROM timestamp_watermarks WHERE name = ?`, m.name).Scan(&ns)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("sqlmark: load %q: %w", m.name, err)
	}
	return time.Unix(0, ns).UTC(), nil
}

// Raise implements timestamp.Watermark: the stored mark becomes the later
// of the stored one and mark.
func (m *Mark) Raise(ctx context.Context, mark time.Time) error {
	ns := mark.UnixNano()
	_, err := m.db.Exec(ctx, `INSERT INTO timestamp_watermarks (name, mark_ns) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET mark_ns = CASE WHEN timestamp_watermarks.mark_ns > excluded.mark_ns
			THEN timestamp_watermarks.mark_ns ELSE excluded.mark_ns END`, m.name, ns)
	if err != nil {
		return fmt.Errorf("sqlmark: raise %q: %w", m.name, err)
	}
	return nil
}
