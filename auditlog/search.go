package auditlog

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// The search columns of sequenced entries are copied into audit_search,
// which carries the search indexes, rather than indexed in audit_entries:
// an append then writes one row, and the indexes are extended for many
// entries at once. audit_search always holds the prefix [0, n) of the log;
// [Reader.Search] reads the entries beyond it from audit_entries directly.
const (
	// searchInterval is how long the sequencer lets entries accumulate
	// before it copies them into audit_search, in the transaction of the
	// next batch it commits.
	searchInterval = 100 * time.Millisecond
	// searchChunk bounds the entries copied in one transaction, beyond
	// those of the batch it commits (so that the copy keeps up however
	// large the batches).
	searchChunk = 2048
	// searchColumns are the columns audit_search copies from audit_entries.
	searchColumns = "idx, time_ns, actor_subject, actor_department, object_department, action, decision, citizen_hash"
	// searchTail selects the entries not yet in audit_search.
	searchTail = "idx > (SELECT COALESCE(MAX(idx), -1) FROM audit_search)"
)

// copySearch copies up to limit entries beyond audit_search's prefix into
// it and reports how many it copied. It runs inside a transaction of the
// sequencer, so nothing else extends audit_search meanwhile; ON CONFLICT
// only guards against a second sequencer on a lease being lost.
func copySearch(ctx context.Context, tx execer, limit int) (int64, error) {
	res, err := tx.Exec(ctx, "INSERT INTO audit_search ("+searchColumns+") SELECT "+searchColumns+
		" FROM audit_entries WHERE "+searchTail+" ORDER BY idx LIMIT ? ON CONFLICT (idx) DO NOTHING", limit)
	if err != nil {
		return 0, fmt.Errorf("auditlog: copy entries into the search table: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("auditlog: copy entries into the search table: %w", err)
	}
	return n, nil
}

// searchDue reports whether the sequencer should copy entries into
// audit_search in the transaction it is about to commit at now.
func (s *sequencer) searchDue(now time.Time) bool {
	return s.searchBehind || now.Sub(s.searchAt) >= searchInterval
}

// searchCopied records a copy of n entries, at most limit, at now: a full
// copy means more may be waiting, so the next batch copies again.
func (s *sequencer) searchCopied(now time.Time, n int64, limit int) {
	s.searchAt, s.searchBehind = now, n >= int64(limit)
}

// catchUpSearch copies every entry not yet in audit_search into it, a
// chunk per transaction. Close runs it so that a stopped log leaves no
// tail for searches to scan.
func (l *Log) catchUpSearch(ctx context.Context) error {
	for {
		var n int64
		err := l.lease.InTx(ctx, func(tx execer) error {
			var err error
			n, err = copySearch(ctx, tx, searchChunk)
			return err
		})
		if err != nil || n < searchChunk {
			return err
		}
	}
}

// checkSearch fails if audit_search is not exactly a copy of the search
// columns of a prefix of audit_entries: a row changed, added or removed
// there would hide entries from searches, or show ones that do not exist.
func (r *Reader) checkSearch(ctx context.Context) error {
	var idx sql.NullInt64
	err := r.db.QueryRow(ctx, `SELECT MIN(s.idx) FROM audit_search s LEFT JOIN audit_entries e ON e.idx = s.idx
		WHERE e.idx IS NULL OR s.time_ns <> e.time_ns OR s.actor_subject <> e.actor_subject
		OR s.actor_department <> e.actor_department OR s.object_department <> e.object_department
		OR s.action <> e.action OR s.decision <> e.decision OR s.citizen_hash <> e.citizen_hash`).Scan(&idx)
	if err != nil {
		return fmt.Errorf("auditlog: verify: read the search table: %w", err)
	}
	if idx.Valid {
		return &IntegrityError{Index: uint64(max(idx.Int64, 0)), Reason: "search table row does not match the entry"}
	}
	err = r.db.QueryRow(ctx, `SELECT MIN(e.idx) FROM audit_entries e LEFT JOIN audit_search s ON s.idx = e.idx
		WHERE s.idx IS NULL AND e.idx < (SELECT MAX(idx) FROM audit_search)`).Scan(&idx)
	if err != nil {
		return fmt.Errorf("auditlog: verify: read the search table: %w", err)
	}
	if idx.Valid {
		return &IntegrityError{Index: uint64(max(idx.Int64, 0)), Reason: "entry is missing from the search table, so searches do not find it"}
	}
	return nil
}
