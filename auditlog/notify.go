package auditlog

import (
	"context"
	"fmt"
	"strconv"

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

// listen LISTENs on both channels (store.DB.Listen) and turns
// notifications into wake-ups of run (pending entries to sequence) and
// waitLoop (receipts to collect), until the log stops. A failed session is
// reopened after the leader-retry interval; meanwhile polling carries on.
func (l *Log) listen() {
	defer l.bgDone.Done()
	ctx, cancel := context.WithCancel(l.ctx)
	defer cancel()
	go func() {
		select {
		case <-l.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	pending, receipts := notifyChannels(l.opts.lockID)
	_ = l.db.Listen(ctx, []string{pending, receipts}, l.opts.leaderRetry, wakeups{l: l, pending: pending, receipts: receipts})
}

// wakeups is the log's store.Listener.
type wakeups struct {
	l                 *Log
	pending, receipts string
}

// Up looks once for anything committed before LISTEN took effect.
func (w wakeups) Up() {
	wake(w.l.handoff.wakeSeq)
	wake(w.l.handoff.wakeRecv)
}

func (w wakeups) Notify(channel, _ string) {
	switch channel {
	case w.pending:
		wake(w.l.handoff.wakeSeq)
	case w.receipts:
		wake(w.l.handoff.wakeRecv)
	}
}

func (w wakeups) Down(err error) {
	if w.l.ctx.Err() == nil {
		w.l.opts.logger.Warn("audit: notification listener; falling back to polling until it reconnects", "err", err)
	}
}
