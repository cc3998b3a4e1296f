package auditlog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tongxing/tongxing/store"
)

// The pending/receipt protocol. A process that does not hold the lease
// commits its batches to audit_pending, durable at once, and waits; the
// sequencer moves them into the log in a transaction that also deletes them
// from audit_pending and writes a receipt with their index, which the
// waiting process collects to answer its appends.

// handoff is a [Log]'s side of the protocol: the appends waiting for their
// receipts, and the wake-ups that spare both sides a poll (see notify.go).
type handoff struct {
	mu       sync.Mutex
	waiters  map[string]*appendReq // pending entries waiting for their index
	wakeSeq  chan struct{}         // pending entries were committed: sequence them
	wakeRecv chan struct{}         // receipts were committed: collect them

	committed func(ids []string) // tests: runs once pending rows are committed
}

// writePending stores a batch durably for the sequencer and registers the
// requests to be answered when their receipts appear. They are registered
// before the insert commits: from that moment the sequencer may write their
// receipts, and notify, before writePending returns, and a look for
// receipts then must find the requests. The batch's timestamp tokens are
// kept in the same transaction.
func (l *Log) writePending(batch []*appendReq, tokens []keptToken) error {
	ids := make([]string, len(batch))
	for i := range batch {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return fmt.Errorf("auditlog: pending id: %w", err)
		}
		ids[i] = hex.EncodeToString(b[:])
	}
	l.handoff.mu.Lock()
	for i, r := range batch {
		l.handoff.waiters[ids[i]] = r
	}
	l.handoff.mu.Unlock()
	now := l.opts.now().UnixNano()
	err := l.db.InTx(l.ctx, func(tx *store.Tx) error {
		for start := 0; start < len(batch); start += rowsPerInsert {
			end := min(start+rowsPerInsert, len(batch))
			args := make([]any, 0, 3*(end-start))
			for i := start; i < end; i++ {
				body := append([]byte(indexPrefix+"0"), batch[i].rest...)
				// created_ns keeps batch order for the sequencer.
				args = append(args, ids[i], now+int64(i), body)
			}
			if _, err := tx.Exec(l.ctx, "INSERT INTO audit_pending (id, created_ns, body) VALUES "+valuesList(end-start, 3), args...); err != nil {
				return fmt.Errorf("auditlog: insert pending entries: %w", err)
			}
		}
		if err := insertTokens(l.ctx, tx, tokens, now); err != nil {
			return err
		}
		pending, _ := notifyChannels(l.opts.lockID)
		return l.notify(l.ctx, tx, pending)
	})
	if err != nil {
		l.handoff.mu.Lock()
		for _, id := range ids {
			delete(l.handoff.waiters, id)
		}
		l.handoff.mu.Unlock()
		return err
	}
	if l.handoff.committed != nil {
		l.handoff.committed(ids)
	}
	return nil
}

// sequencePending sequences entries other processes left in the pending
// table. A pending row that does not parse is logged and left in place.
func (l *Log) sequencePending() {
	// A full batch means more may wait: go on, a bounded number of times,
	// so that the sequencer still answers its own appends in between.
	for i := 0; i < 16 && l.sequencePendingBatch() == l.opts.maxBatch; i++ {
	}
}

// sequencePendingBatch sequences up to one batch of pending entries and
// returns how many it read.
func (l *Log) sequencePendingBatch() int {
	rows, err := l.db.Query(l.ctx, "SELECT id, body FROM audit_pending ORDER BY created_ns, id LIMIT ?", l.opts.maxBatch)
	if err != nil {
		l.opts.logger.Error("audit: read pending entries", "err", err)
		return 0
	}
	read := 0
	var items []seqItem
	for rows.Next() {
		var id string
		var body []byte
		if err := rows.Scan(&id, &body); err != nil {
			l.opts.logger.Error("audit: read pending entries", "err", err)
			break
		}
		read++
		e, err := ParseEntry(body)
		if err != nil || e.Index != 0 {
			l.opts.logger.Error("audit: pending entry is invalid and stays unsequenced", "id", id, "err", err)
			continue
		}
		items = append(items, seqItem{entry: e, rest: body[len(indexPrefix)+1:], pendingID: id})
	}
	rows.Close()
	if len(items) == 0 {
		return 0
	}
	if _, err := l.sequence(items); err != nil {
		if errors.Is(err, errStale) {
			l.seq.needReload.Store(true)
			return 0
		}
		l.opts.logger.Error("audit: sequence pending entries", "entries", len(items), "err", err)
		return 0
	}
	return read
}

// waitLoop answers pending appends when their receipts appear, and removes
// receipts nobody collected for an hour.
func (l *Log) waitLoop() {
	defer l.bgDone.Done()
	t := time.NewTicker(l.opts.pollInterval)
	defer t.Stop()
	lastPrune := time.Now()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		case <-l.handoff.wakeRecv:
		}
		l.collectReceipts()
		if l.seq.leader.Load() && time.Since(lastPrune) > time.Minute {
			lastPrune = time.Now()
			cutoff := l.opts.now().Add(-time.Hour).UnixNano()
			if _, err := l.db.Exec(l.ctx, "DELETE FROM audit_receipts WHERE created_ns < ?", cutoff); err != nil {
				l.opts.logger.Warn("audit: prune receipts", "err", err)
			}
		}
	}
}

// collectReceipts looks up the indexes of waiting pending entries.
func (l *Log) collectReceipts() int {
	l.handoff.mu.Lock()
	ids := make([]any, 0, min(len(l.handoff.waiters), 1000))
	for id := range l.handoff.waiters {
		if len(ids) == cap(ids) {
			break
		}
		ids = append(ids, id)
	}
	l.handoff.mu.Unlock()
	if len(ids) == 0 {
		return 0
	}
	rows, err := l.db.Query(l.ctx, "SELECT id, idx FROM audit_receipts WHERE id IN ("+placeholders(len(ids))+")", ids...)
	if err != nil {
		l.opts.logger.Warn("audit: read receipts", "err", err)
		return 0
	}
	got := map[string]uint64{}
	for rows.Next() {
		var id string
		var idx int64
		if err := rows.Scan(&id, &idx); err != nil {
			l.opts.logger.Warn("audit: read receipts", "err", err)
			break
		}
		got[id] = uint64(idx)
	}
	rows.Close()
	if len(got) == 0 {
		return 0
	}
	done := make([]any, 0, len(got))
	l.handoff.mu.Lock()
	for id, idx := range got {
		if r := l.handoff.waiters[id]; r != nil {
			r.done <- appendResult{index: idx}
			delete(l.handoff.waiters, id)
		}
		done = append(done, id)
	}
	l.handoff.mu.Unlock()
	if _, err := l.db.Exec(l.ctx, "DELETE FROM audit_receipts WHERE id IN ("+placeholders(len(done))+")", done...); err != nil {
		l.opts.logger.Warn("audit: remove collected receipts", "err", err)
	}
	return len(got)
}

func insertReceipts(ctx context.Context, tx execer, items []seqItem, idx []uint64, now int64) error {
	var args []any
	n := 0
	for i, it := range items {
		if it.pendingID == "" || staged(it.pendingID) {
			continue
		}
		args = append(args, it.pendingID, int64(idx[i]), now)
		n++
		if n == rowsPerInsert || i == len(items)-1 {
			if _, err := tx.Exec(ctx, "INSERT INTO audit_receipts (id, idx, created_ns) VALUES "+valuesList(n, 3), args...); err != nil {
				return fmt.Errorf("auditlog: insert receipts: %w", err)
			}
			args, n = args[:0], 0
		}
	}
	if n > 0 {
		if _, err := tx.Exec(ctx, "INSERT INTO audit_receipts (id, idx, created_ns) VALUES "+valuesList(n, 3), args...); err != nil {
			return fmt.Errorf("auditlog: insert receipts: %w", err)
		}
	}
	return nil
}
