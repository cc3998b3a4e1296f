package auditlog

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"log/slog"
	"time"

	"github.com/tongxing/tongxing/store"
)

// lease is the sequencer role: one process at a time sequences the log,
// integrates the tree and publishes checkpoints. Only the goroutine that
// runs the sequencer uses a lease.
type lease interface {
	// Acquire tries to take the lease and reports whether this process
	// holds it now.
	Acquire(ctx context.Context) bool
	// Held reports whether the lease is still held; a lease whose session
	// failed is given up.
	Held(ctx context.Context) bool
	// InTx runs fn in a transaction that cannot commit once the lease is
	// lost; without the lease it fails with errStale.
	InTx(ctx context.Context, fn func(tx execer) error) error
	// Release gives the lease up.
	Release()
}

// newLease returns the lease of db: on PostgreSQL, which replicas share,
// a session-level advisory lock with key id that they compete for
// (shared); on SQLite, whose file one process owns, a lease that is always
// held.
func newLease(db *store.DB, id int64, log *slog.Logger) (l lease, shared bool) {
	if db.Dialect() == store.Postgres {
		return &advisoryLease{db: db, id: id, log: log}, true
	}
	return ownLease{db: db}, false
}

// ownLease is the lease of a database only this process writes the log
// to (SQLite): always held. SQLite's write lock and the compare-and-set on
// the tree size serialise writers anyway.
type ownLease struct{ db *store.DB }

func (ownLease) Acquire(context.Context) bool { return true }
func (ownLease) Held(context.Context) bool    { return true }
func (ownLease) Release()                     {}

func (o ownLease) InTx(ctx context.Context, fn func(tx execer) error) error {
	return o.db.InTx(ctx, func(tx *store.Tx) error { return fn(tx) })
}

// advisoryLease is a PostgreSQL session-level advisory lock, held on a
// dedicated connection: when the process dies, its session ends and
// PostgreSQL frees the lock for another replica.
type advisoryLease struct {
	db   *store.DB
	id   int64
	log  *slog.Logger
	conn *sql.Conn // the lock's session while held
}

func (a *advisoryLease) Acquire(ctx context.Context) bool {
	conn, err := a.db.SQL().Conn(ctx)
	if err != nil {
		a.log.Warn("audit: sequencer lock connection", "err", err)
		return false
	}
	var got bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", a.id).Scan(&got); err != nil || !got {
		if err != nil {
			a.log.Warn("audit: try sequencer lock", "err", err)
		}
		conn.Close()
		return false
	}
	a.conn = conn
	a.log.Info("audit: this process is now the sequencer")
	return true
}

func (a *advisoryLease) Held(ctx context.Context) bool {
	if a.conn == nil {
		return false
	}
	if _, err := a.conn.ExecContext(ctx, "SELECT 1"); err != nil {
		a.log.Warn("audit: lost the sequencer lock session", "err", err)
		discard(a.conn)
		a.conn = nil
		return false
	}
	return true
}

// InTx runs fn on the connection that holds the lock, so the transaction
// cannot commit once that session, and with it the lock, is gone.
func (a *advisoryLease) InTx(ctx context.Context, fn func(tx execer) error) error {
	if a.conn == nil {
		return errStale // not the sequencer (any more)
	}
	tx, err := a.conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("auditlog: begin on the sequencer connection: %w", err)
	}
	if err := fn(rebindTx{tx: tx, db: a.db}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("auditlog: commit on the sequencer connection: %w", err)
	}
	return nil
}

func (a *advisoryLease) Release() {
	if a.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := a.conn.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", a.id); err != nil {
		a.log.Warn("audit: release sequencer lock", "err", err)
		discard(a.conn)
	} else {
		a.conn.Close()
	}
	a.conn = nil
}

// rebindTx is a transaction on the sequencer's lock connection.
type rebindTx struct {
	tx *sql.Tx
	db *store.DB
}

func (t rebindTx) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, t.db.Rebind(query), args...)
}

// ExecPrepared is Exec: PostgreSQL plans the statement on the server.
func (t rebindTx) ExecPrepared(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.Exec(ctx, query, args...)
}

// discard closes a dedicated connection without returning it to the pool,
// which ends its PostgreSQL session and so releases any advisory lock it
// still holds.
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	conn.Close()
}

// takeLease tries to make this process the sequencer. One that becomes it
// reloads the tree state, since others may have sequenced since it last
// looked, and no longer trusts what it knew of published checkpoints.
func (l *Log) takeLease(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if !l.lease.Acquire(ctx) {
		return
	}
	st, err := loadState(ctx, l.db)
	if err == nil {
		err = l.extends(ctx, l.snapshot(), st)
	}
	if err == nil {
		l.setState(st)
	} else {
		l.opts.logger.Warn("audit: reload tree state", "err", err)
		l.seq.needReload.Store(true)
	}
	l.pub.forget()
	l.seq.leader.Store(true)
}

// checkLease stops sequencing if the lease was lost.
func (l *Log) checkLease() {
	ctx, cancel := context.WithTimeout(l.ctx, 5*time.Second)
	defer cancel()
	if !l.lease.Held(ctx) {
		l.seq.leader.Store(false)
	}
}

// releaseLease stops sequencing and gives the lease up.
func (l *Log) releaseLease() {
	l.seq.leader.Store(false)
	l.lease.Release()
}
