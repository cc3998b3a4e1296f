package auditlog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/tongxing/tongxing/store"
)

// stagedPrefix marks the pending rows of staged entries: nobody waits for
// their receipt, so the sequencer writes none.
const stagedPrefix = "staged-"

// StageTx writes entries as pending entries inside tx, a transaction the
// caller runs on the log's database: they become durable exactly when tx
// commits, together with whatever else tx writes, and the sequencer gives
// them their indexes soon after (woken by the commit on PostgreSQL; call
// [Log.Kick] after the commit to wake this process's sequencer). Use it
// when an action and its audit entry must be one atomic commit. StageTx
// neither waits for nor returns the indexes. Each entry is validated first;
// a zero Time is filled in.
func (l *Log) StageTx(ctx context.Context, tx *store.Tx, entries ...Entry) error {
	if len(entries) == 0 {
		return nil
	}
	now := l.opts.now()
	args := make([]any, 0, 3*len(entries))
	for i := range entries {
		e := entries[i]
		e.Index = 0
		if e.Time.IsZero() {
			e.Time = now
		}
		body, err := e.MarshalCanonical()
		if err != nil {
			return err
		}
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return fmt.Errorf("auditlog: pending id: %w", err)
		}
		// created_ns keeps the entries in order for the sequencer.
		args = append(args, stagedPrefix+hex.EncodeToString(b[:]), now.UnixNano()+int64(i), body)
	}
	for start := 0; start < len(entries); start += rowsPerInsert {
		end := min(start+rowsPerInsert, len(entries))
		if _, err := tx.Exec(ctx, "INSERT INTO audit_pending (id, created_ns, body) VALUES "+valuesList(end-start, 3), args[3*start:3*end]...); err != nil {
			return fmt.Errorf("auditlog: stage entries: %w", err)
		}
	}
	pending, _ := notifyChannels(l.opts.lockID)
	return l.notify(ctx, tx, pending)
}

// Kick wakes this process's sequencer to sequence staged entries now,
// instead of at its next poll. It never blocks.
func (l *Log) Kick() { wake(l.handoff.wakeSeq) }

func staged(pendingID string) bool { return strings.HasPrefix(pendingID, stagedPrefix) }
