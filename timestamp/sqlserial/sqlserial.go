// Package sqlserial is a timestamp.SerialSource on the Tongxing store
// (SQLite or PostgreSQL): serial numbers are unique and increasing across
// restarts and across replicas sharing the database, and the latest genTime
// issued is persisted with them.
//
// Each Next is one atomic UPDATE ... RETURNING on a single row (table
// timestamp_serials, migration 00020), so tokens are serialised by that
// row's lock: one database round trip per token.
package sqlserial

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/timestamp"
)

// Source hands out serial numbers from the row named by its sequence name.
// It is safe for concurrent use.
type Source struct {
	db   *store.DB
	name string
}

var _ timestamp.SerialSource = (*Source)(nil)

// New returns the source for sequence name (created at serial 0 if new;
// the first serial is 1). Authorities that must not share serials use
// different names.
func New(ctx context.Context, db *store.DB, name string) (*Source, error) {
	if db == nil || name == "" {
		return nil, errors.New("sqlserial: need a database and a sequence name")
	}
	_, err := db.Exec(ctx, `INSERT INTO timestamp_serials (name, last_serial, latest_ns) VALUES (?, 0, 0)
		ON CONFLICT (name) DO NOTHING`, name)
	if err != nil {
		return nil, fmt.Errorf("sqlserial: create sequence %q: %w", name, err)
	}
	return &Source{db: db, name: name}, nil
}

// Next implements timestamp.SerialSource.
func (s *Source) Next(ctx context.Context, at time.Time) (*big.Int, time.Time, error) {
	ns := at.UnixNano()
	var serial, latest int64
	err := s.db.QueryRow(ctx, `UPDATE timestamp_serials
		SET last_serial = last_serial + 1,
		    latest_ns = CASE WHEN latest_ns > ? THEN latest_ns ELSE ? END
		WHERE name = ?
		RETURNING last_serial, latest_ns`, ns, ns, s.name).Scan(&serial, &latest)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("sqlserial: next serial of %q: %w", s.name, err)
	}
	return big.NewInt(serial), time.Unix(0, latest).UTC(), nil
}
