package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
)

// PostgreSQL notifications (LISTEN/NOTIFY) let replicas that share a
// database wake each other: a notification queued in a transaction is
// delivered to every listener when the transaction commits, and
// notifications of different transactions arrive in commit order. SQLite
// serves one process, which needs no notification: there [Tx.Notify] and
// [DB.Notify] do nothing and [DB.Listen] returns [ErrNoNotifications].

// ErrNoNotifications is returned by [DB.Listen] on SQLite.
var ErrNoNotifications = errors.New("store: notifications need PostgreSQL")

// MaxNotifyPayload bounds a notification's payload (PostgreSQL's limit is
// just below 8000 bytes).
const MaxNotifyPayload = 7000

// Notify queues a notification on channel with payload, sent when tx
// commits and dropped if it rolls back. On SQLite it does nothing.
func (tx *Tx) Notify(ctx context.Context, channel, payload string) error {
	if tx.dialect != Postgres {
		return nil
	}
	if len(payload) > MaxNotifyPayload {
		return fmt.Errorf("store: notification payload is %d bytes, at most %d", len(payload), MaxNotifyPayload)
	}
	if _, err := tx.Exec(ctx, "SELECT pg_notify(?, ?)", channel, payload); err != nil {
		return fmt.Errorf("store: notify %s: %w", channel, err)
	}
	return nil
}

// Notify sends a notification on channel with payload at once. On SQLite
// it does nothing.
func (db *DB) Notify(ctx context.Context, channel, payload string) error {
	if db.dialect != Postgres {
		return nil
	}
	if len(payload) > MaxNotifyPayload {
		return fmt.Errorf("store: notification payload is %d bytes, at most %d", len(payload), MaxNotifyPayload)
	}
	if _, err := db.Exec(ctx, "SELECT pg_notify(?, ?)", channel, payload); err != nil {
		return fmt.Errorf("store: notify %s: %w", channel, err)
	}
	return nil
}

// Listener receives what [DB.Listen] hears. Its methods are called from
// the listening goroutine, one at a time.
type Listener interface {
	// Up is called each time the listening session has started LISTENing:
	// notifications sent before it may have been missed.
	Up()
	// Notify is called for each notification.
	Notify(channel, payload string)
	// Down is called when the session fails, before it is reopened.
	Down(err error)
}

// Listen holds a dedicated PostgreSQL session LISTENing on channels and
// hands what it hears to l, until ctx ends. A failed session is reopened
// after retry. It returns [ErrNoNotifications] at once on SQLite, and
// otherwise nil when ctx ends.
func (db *DB) Listen(ctx context.Context, channels []string, retry time.Duration, l Listener) error {
	if db.dialect != Postgres {
		return ErrNoNotifications
	}
	for {
		err := db.listenOnce(ctx, channels, l)
		if ctx.Err() != nil {
			return nil
		}
		l.Down(err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(retry):
		}
	}
}

func (db *DB) listenOnce(ctx context.Context, channels []string, l Listener) error {
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return err
	}
	// A LISTENing session must not go back to the pool: mark it bad, so
	// that closing it ends the session.
	defer func() {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		conn.Close()
	}()
	return conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("store: driver connection is %T, not pgx", dc)
		}
		pc := sc.Conn()
		for _, ch := range channels {
			if _, err := pc.Exec(ctx, "LISTEN "+QuoteIdent(ch)); err != nil {
				return fmt.Errorf("store: listen %s: %w", ch, err)
			}
		}
		l.Up()
		for {
			n, err := pc.WaitForNotification(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			l.Notify(n.Channel, n.Payload)
		}
	})
}

// QuoteIdent quotes a PostgreSQL identifier.
func QuoteIdent(s string) string {
	out := []byte{'"'}
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			out = append(out, '"')
		}
		out = append(out, s[i])
	}
	return string(append(out, '"'))
}
