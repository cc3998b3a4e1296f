package auditlog

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/tongxing/tongxing/store"
)

// Wake-ups on PostgreSQL. A process that does not sequence commits its
// entries to audit_pending and waits; so that neither side waits for a poll,
// the pending insert notifies the sequencer (LISTEN/NOTIFY, delivered when
// the transaction commits) and the sequencing transaction that writes
// receipts notifies the waiting processes. Polling stays as the fallback
// for a lost notification or a broken listener connection.

// notifyChannels returns the channel names of the log with lock key id.
func notifyChannels(id int64) (pending, receipts string) {
	s := strconv.FormatUint(uint64(id), 16)
	return "tongxing_audit_" + s + "_pending", "tongxing_audit_" + s + "_receipts"
}

// notify queues a notification on channel, sent when tx commits. It does
// nothing except on PostgreSQL.
func (l *Log) notify(ctx context.Context, tx execer, channel string) error {
	if l.db.Dialect() != store.Postgres || !l.opts.notify {
		return nil
	}
	if _, err := tx.Exec(ctx, "SELECT pg_notify(?, '')", channel); err != nil {
		return fmt.Errorf("auditlog: notify %s: %w", channel, err)
	}
	return nil
}

// wake sends on a wake-up channel without blocking; one wake-up pending is
// enough.
func wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// listen holds a dedicated connection that LISTENs on both channels and
// turns notifications into wake-ups of run (pending entries to sequence)
// and waitLoop (receipts to collect), until the log stops. A failed
// connection is reopened after the leader-retry interval.
func (l *Log) listen() {
	defer l.bgDone.Done()
	pending, receipts := notifyChannels(l.opts.lockID)
	for {
		err := l.listenOnce(pending, receipts)
		select {
		case <-l.stop:
			return
		default:
		}
		if err != nil && l.ctx.Err() == nil {
			l.opts.logger.Warn("audit: notification listener; falling back to polling until it reconnects", "err", err)
		}
		select {
		case <-l.stop:
			return
		case <-time.After(l.opts.leaderRetry):
		}
	}
}

func (l *Log) listenOnce(pending, receipts string) error {
	ctx, cancel := context.WithCancel(l.ctx)
	defer cancel()
	go func() {
		select {
		case <-l.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	conn, err := l.db.SQL().Conn(ctx)
	if err != nil {
		return err
	}
	defer discard(conn) // a LISTENing session must not go back to the pool
	return conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("auditlog: driver connection is %T, not pgx", dc)
		}
		pc := sc.Conn()
		for _, ch := range []string{pending, receipts} {
			if _, err := pc.Exec(ctx, "LISTEN "+quoteIdent(ch)); err != nil {
				return fmt.Errorf("listen %s: %w", ch, err)
			}
		}
		// Anything committed before LISTEN took effect is found by one
		// look now.
		wake(l.handoff.wakeSeq)
		wake(l.handoff.wakeRecv)
		for {
			n, err := pc.WaitForNotification(ctx)
			if err != nil {
				if errors.Is(err, context.Canceled) {
					return nil
				}
				return err
			}
			switch n.Channel {
			case pending:
				wake(l.handoff.wakeSeq)
			case receipts:
				wake(l.handoff.wakeRecv)
			}
		}
	})
}

// quoteIdent quotes a PostgreSQL identifier.
func quoteIdent(s string) string {
	out := []byte{'"'}
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			out = append(out, '"')
		}
		out = append(out, s[i])
	}
	return string(append(out, '"'))
}
