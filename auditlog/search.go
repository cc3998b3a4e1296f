package auditlog

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tongxing/tongxing/store"
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

// Column types of audit_entries and audit_search, in the order of their
// search columns, as SQLite's typeof names them.
var (
	entryTypes  = []string{"idx:integer", "time_ns:integer", "actor_subject:text", "actor_department:text", "object_department:text", "action:text", "decision:text", "citizen_hash:text", "leaf_hash:blob", "body:blob"}
	searchTypes = []string{"idx:integer", "time_ns:integer", "actor_subject:text", "actor_department:text", "object_department:text", "action:text", "decision:text", "citizen_hash:text"}
)

// typed returns an SQL expression that is true when every column of cols
// ("name:type", qualified with alias, e.g. "s." or "") holds a value of its declared type. SQLite stores any
// value in any column, and a BLOB with a text's bytes reads back in Go as
// the same string while SQL comparisons, and so searches, never match it;
// PostgreSQL enforces the declared types.
func (r *Reader) typed(alias string, cols []string) string {
	if r.db.Dialect() == store.Postgres {
		return "TRUE"
	}
	conds := make([]string, len(cols))
	for i, c := range cols {
		name, typ, _ := strings.Cut(c, ":")
		conds[i] = "typeof(" + alias + name + ") = '" + typ + "'"
	}
	return "(" + strings.Join(conds, " AND ") + ")"
}

// checkSearchBeyond fails if the search table is not a prefix of the log
// or has a row beyond the tree Verify replayed (the rows below it are
// compared during the replay) that matches no entry: a search result for
// an entry that does not exist, or entries hidden by a gap. Rows of
// entries appended since the verification started match theirs.
func (v *verification) checkSearchBeyond(ctx context.Context) error {
	if v.searchHeld {
		return &IntegrityError{Index: uint64(max(v.searchRow.idx, 0)), Reason: "search table row does not match the entry"}
	}
	bad := func(at any, reason string) error {
		n, ok := at.(int64)
		if !ok {
			return &IntegrityError{Index: v.size, Reason: fmt.Sprintf("search table row with index %v, not an integer", at)}
		}
		return &IntegrityError{Index: uint64(max(n, 0)), Reason: reason}
	}
	// One statement, so one snapshot: the table is a prefix in every one.
	var count int64
	var lo, hi any
	if err := v.r.db.QueryRow(ctx, "SELECT COUNT(*), MIN(idx), MAX(idx) FROM audit_search").Scan(&count, &lo, &hi); err != nil {
		return fmt.Errorf("auditlog: verify: read the search table: %w", err)
	}
	if count > 0 {
		if _, ok := lo.(int64); !ok {
			return bad(lo, "")
		}
		if n, ok := hi.(int64); !ok {
			return bad(hi, "")
		} else if lo.(int64) != 0 || n+1 != count {
			return bad(lo, fmt.Sprintf("search table holds %d rows from index %d to %d: entries are missing from searches", count, lo, n))
		}
	}
	var idx any
	err := v.r.db.QueryRow(ctx, `SELECT MIN(s.idx) FROM audit_search s WHERE NOT (s.idx < ?) AND NOT EXISTS (SELECT 1 FROM audit_entries e
		WHERE e.idx = s.idx AND e.time_ns = s.time_ns AND e.actor_subject = s.actor_subject AND e.actor_department = s.actor_department
		AND e.object_department = s.object_department AND e.action = s.action AND e.decision = s.decision AND e.citizen_hash = s.citizen_hash
		AND `+v.r.typed("s.", searchTypes)+`)`, int64(v.size)).Scan(&idx)
	if err != nil {
		return fmt.Errorf("auditlog: verify: read the search table: %w", err)
	}
	if idx != nil {
		return bad(idx, "search table row does not match the entry")
	}
	return nil
}
