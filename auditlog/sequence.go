package auditlog

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"

	"github.com/tongxing/tongxing/store"
)

// sequencer is the sequencing state of a [Log]: whether this process
// holds the lease, and the last committed tree it knows.
type sequencer struct {
	leader     atomic.Bool
	needReload atomic.Bool
	mu         sync.Mutex // guards state
	state      treeState  // last committed tree known here, used when sequencing
	lastBatch  int        // size of the previous batch; only run uses it

	// When entries were last copied into audit_search, and whether the
	// copy left more behind; only run uses them.
	searchAt     time.Time
	searchBehind bool
}

// run is the single sequencing goroutine: it collects appends into batches
// and, while it holds the lease, sequences them; when the log is shared it
// also competes for the lease and sequences other processes' pending
// entries. Only run uses the lease.
func (l *Log) run() {
	defer close(l.runDone)
	var pollTick, leaseTick <-chan time.Time
	if l.shared {
		pt := time.NewTicker(l.opts.pollInterval)
		defer pt.Stop()
		lt := time.NewTicker(l.opts.leaderRetry)
		defer lt.Stop()
		pollTick, leaseTick = pt.C, lt.C
	}
	for {
		select {
		case r := <-l.reqs:
			l.handle(r)
		case <-pollTick:
			if l.seq.leader.Load() {
				l.sequencePending()
			}
		case <-l.handoff.wakeSeq:
			if l.seq.leader.Load() {
				l.sequencePending()
			}
		case <-leaseTick:
			if l.seq.leader.Load() {
				l.checkLease()
			} else {
				l.takeLease(l.ctx)
			}
		case <-l.stop:
			for {
				select {
				case r := <-l.reqs:
					l.handle(r)
					continue
				default:
				}
				break
			}
			if l.seq.leader.Load() {
				l.sequencePending() // staged entries and other replicas' pending ones
				if err := l.catchUpSearch(l.ctx); err != nil {
					l.opts.logger.Error("audit: copy the last entries into the search table", "err", err)
				}
			}
			if l.seq.leader.Load() && l.pub.on.Load() {
				if err := l.publish(l.ctx); err != nil {
					l.opts.logger.Error("audit: publish final checkpoint", "err", err)
				}
			}
			l.releaseLease()
			return
		}
	}
}

// handle commits r together with whatever else is queued, up to the batch
// limit; a flush marker ends the batch and is released after the commit.
// Under concurrent load it lingers (at most store.BatchLinger) until the
// batch is as large as the previous one: a commit costs about the same for
// one entry as for many.
func (l *Log) handle(r *appendReq) {
	var flushes []chan struct{}
	var batch []*appendReq
	add := func(r *appendReq) {
		if r.flush != nil {
			flushes = append(flushes, r.flush)
		} else {
			batch = append(batch, r)
		}
	}
	add(r)
collect:
	for len(batch) < l.opts.maxBatch && len(flushes) == 0 {
		select {
		case r := <-l.reqs:
			add(r)
		default:
			break collect
		}
	}
	if want := min(l.seq.lastBatch, l.opts.maxBatch); len(batch) < want && len(flushes) == 0 {
		store.Linger(l.reqs, store.BatchLinger, func(r *appendReq) bool {
			add(r)
			return len(batch) < want && len(flushes) == 0
		})
	}
	if deferredOnly(batch) && len(flushes) == 0 {
		// Nothing waits on this batch: let the next append that something
		// waits on commit with it rather than behind it.
		if l.opts.onLinger != nil {
			l.opts.onLinger()
		}
		store.Linger(l.reqs, l.opts.deferLinger, func(r *appendReq) bool {
			add(r)
			return r.deferred && len(batch) < l.opts.maxBatch // an append waited on, or a flush marker, ends it
		})
	}
	l.seq.lastBatch = len(batch)
	if len(batch) > 0 {
		l.commit(batch)
	}
	for _, f := range flushes {
		close(f)
	}
}

// deferredOnly reports whether batch holds only deferred appends.
func deferredOnly(batch []*appendReq) bool {
	for _, r := range batch {
		if !r.deferred {
			return false
		}
	}
	return len(batch) > 0
}

// commit makes a batch durable: sequenced directly when this process is the
// sequencer, otherwise stored as pending for the sequencer.
func (l *Log) commit(batch []*appendReq) {
	items := make([]seqItem, len(batch))
	for i, r := range batch {
		items[i] = seqItem{entry: r.entry, rest: r.rest, token: r.token}
	}
	var err error
	for attempt := 0; attempt < 8; attempt++ {
		if !l.seq.leader.Load() {
			err = l.writePending(batch, tokensOf(items))
			if err != nil {
				l.fail(batch, err)
			}
			return
		}
		var idx []uint64
		idx, err = l.sequence(items)
		if err == nil {
			if l.opts.onCommit != nil {
				l.opts.onCommit(len(items))
			}
			for i, r := range batch {
				r.done <- appendResult{index: idx[i]}
			}
			return
		}
		if !errors.Is(err, errStale) {
			l.checkLease() // a broken lease session means another process may sequence now
			if !l.seq.leader.Load() {
				continue
			}
			break
		}
		l.seq.needReload.Store(true)
		time.Sleep(time.Duration(1+attempt) * time.Millisecond)
	}
	l.fail(batch, err)
}

// fail answers the requests of batch with err. A request already answered
// keeps its answer: a pending entry whose insert reported an error may
// still have committed, been sequenced and had its receipt collected.
func (l *Log) fail(batch []*appendReq, err error) {
	l.opts.logger.Error("audit append failed", "entries", len(batch), "err", err)
	for _, r := range batch {
		select {
		case r.done <- appendResult{err: fmt.Errorf("auditlog: append %s: %w", r.entry.Action, err)}:
		default:
		}
	}
}

// seqItem is an entry to sequence; pendingID is set for pending entries.
type seqItem struct {
	entry     Entry
	rest      []byte
	token     []byte // kept as entry.TimestampToken in the same commit
	pendingID string
}

type entryRow struct {
	idx   uint64
	entry *Entry
	leaf  []byte
	body  []byte
}

type nodeRow struct {
	pos  uint64
	hash []byte
}

// sequence assigns the next indexes to items, extends the tree and commits
// entries, nodes and the new tree state in one transaction guarded by a
// compare-and-set on the stored tree size.
func (l *Log) sequence(items []seqItem) ([]uint64, error) {
	if l.seq.needReload.Swap(false) {
		st, err := loadState(l.ctx, l.db)
		if err == nil {
			err = l.extends(l.ctx, l.snapshot(), st)
		}
		if err != nil {
			l.seq.needReload.Store(true)
			return nil, err
		}
		l.setState(st)
	}
	l.seq.mu.Lock()
	st := l.seq.state.clone()
	l.seq.mu.Unlock()
	old := st.size

	rows := make([]entryRow, len(items))
	var nodes []nodeRow
	visit := func(id compact.NodeID, h []byte) {
		if id.Level > 0 {
			nodes = append(nodes, nodeRow{pos: nodePos(id), hash: h})
		}
	}
	idx := make([]uint64, len(items))
	for i := range items {
		n := old + uint64(i)
		body := make([]byte, 0, len(indexPrefix)+20+len(items[i].rest))
		body = append(body, indexPrefix...)
		body = strconv.AppendUint(body, n, 10)
		body = append(body, items[i].rest...)
		leaf := Hasher{}.HashLeaf(body)
		if err := st.rng.Append(leaf, visit); err != nil {
			return nil, fmt.Errorf("auditlog: extend tree at %d: %w", n, err)
		}
		rows[i] = entryRow{idx: n, entry: &items[i].entry, leaf: leaf, body: body}
		idx[i] = n
	}
	st.size = old + uint64(len(items))
	st.root = rootOf(st.rng)

	var pendingIDs []any
	for _, it := range items {
		if it.pendingID != "" {
			pendingIDs = append(pendingIDs, it.pendingID)
		}
	}
	now := l.opts.now().UnixNano()
	mono := time.Now()
	copySearchNow := l.seq.searchDue(mono)
	searchLimit := searchChunk + len(items)
	var copied int64
	err := l.lease.InTx(l.ctx, func(tx execer) error {
		res, err := tx.ExecPrepared(l.ctx, "UPDATE audit_tree SET size = ?, root = ?, compact = ?, updated_ns = ? WHERE id = 1 AND size = ?",
			int64(st.size), st.root, st.compactBytes(), now, int64(old))
		if err != nil {
			return fmt.Errorf("auditlog: update tree state: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return errStale
		}
		if err := insertEntries(l.ctx, tx, rows); err != nil {
			return err
		}
		if err := insertNodes(l.ctx, tx, nodes); err != nil {
			return err
		}
		if err := insertTokens(l.ctx, tx, tokensOf(items), now); err != nil {
			return err
		}
		if copySearchNow {
			if copied, err = copySearch(l.ctx, tx, searchLimit); err != nil {
				return err
			}
		}
		if len(pendingIDs) > 0 {
			res, err := tx.Exec(l.ctx, "DELETE FROM audit_pending WHERE id IN ("+placeholders(len(pendingIDs))+")", pendingIDs...)
			if err != nil {
				return fmt.Errorf("auditlog: remove sequenced pending entries: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil || n != int64(len(pendingIDs)) {
				return errStale // another sequencer took some of them
			}
			if err := insertReceipts(l.ctx, tx, items, idx, now); err != nil {
				return err
			}
			_, receipts := notifyChannels(l.opts.lockID)
			if err := l.notify(l.ctx, tx, receipts); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if store.IsUniqueViolation(err) {
			return nil, fmt.Errorf("%w: %v", errStale, err)
		}
		return nil, err
	}
	l.setState(st)
	if copySearchNow {
		l.seq.searchCopied(mono, copied, searchLimit)
	}
	return idx, nil
}

// keptToken is a timestamp token to keep under ref.
type keptToken struct {
	ref string
	der []byte
}

func tokensOf(items []seqItem) []keptToken {
	var out []keptToken
	for _, it := range items {
		if it.token != nil {
			out = append(out, keptToken{ref: it.entry.TimestampToken, der: it.token})
		}
	}
	return out
}

// insertTokens keeps tokens; a reference already kept keeps its first
// token (a changed one would fail verification against its entry anyway).
func insertTokens(ctx context.Context, tx execer, tokens []keptToken, now int64) error {
	for start := 0; start < len(tokens); start += rowsPerInsert {
		end := min(start+rowsPerInsert, len(tokens))
		args := make([]any, 0, 3*(end-start))
		for _, t := range tokens[start:end] {
			args = append(args, t.ref, t.der, now)
		}
		if _, err := execRows(ctx, tx, end-start, "INSERT INTO audit_tokens (ref, token, time_ns) VALUES "+valuesList(end-start, 3)+" ON CONFLICT (ref) DO NOTHING", args...); err != nil {
			return fmt.Errorf("auditlog: keep timestamp tokens: %w", err)
		}
	}
	return nil
}

// execer runs statements with '?' placeholders; *store.Tx is one.
// ExecPrepared keeps the statement prepared for the next time its text
// is run, for the statements of every commit.
type execer interface {
	Exec(ctx context.Context, query string, args ...any) (sql.Result, error)
	ExecPrepared(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// preparedRows is the most rows a multi-row statement may hold to be kept
// prepared: the batches of a commit under light load, when compiling the
// statements (which SQLite otherwise does on every run) is a large part
// of an append's time. Larger batches are rarer and each text kept costs
// memory.
const preparedRows = 8

// execRows runs query, a statement of rows rows, prepared once if it is
// short enough (see preparedRows).
func execRows(ctx context.Context, tx execer, rows int, query string, args ...any) (sql.Result, error) {
	if rows <= preparedRows {
		return tx.ExecPrepared(ctx, query, args...)
	}
	return tx.Exec(ctx, query, args...)
}

// extends checks that st, a tree state read from the database, extends
// old, the last tree this process sequenced or loaded: the stored state is
// not to be trusted, and a sequencer that took it as it is would sign
// checkpoints of whatever tree a writer to the database put there.
func (l *Log) extends(ctx context.Context, old, st treeState) error {
	switch {
	case st.size < old.size:
		return fmt.Errorf("auditlog: stored tree of size %d is smaller than the tree of size %d sequenced here: refusing to sequence", st.size, old.size)
	case st.size == old.size:
		if !bytes.Equal(st.root, old.root) {
			return fmt.Errorf("auditlog: stored tree of size %d has another root than the one sequenced here: refusing to sequence", st.size)
		}
		return nil
	case old.size == 0:
		return nil
	}
	nodes, err := proof.Consistency(old.size, st.size)
	if err != nil {
		return err
	}
	p, err := buildProof(ctx, l.db, nodes)
	if err != nil {
		return err
	}
	if err := proof.VerifyConsistency(Hasher{}, old.size, st.size, p, old.root, st.root); err != nil {
		return fmt.Errorf("auditlog: stored tree of size %d does not extend the tree of size %d sequenced here: refusing to sequence: %w", st.size, old.size, err)
	}
	return nil
}

func (l *Log) setState(st treeState) {
	l.seq.mu.Lock()
	defer l.seq.mu.Unlock()
	l.seq.state = st
}

func (l *Log) snapshot() treeState {
	l.seq.mu.Lock()
	defer l.seq.mu.Unlock()
	return l.seq.state
}

// rowsPerInsert bounds multi-row INSERT statements well below the parameter
// limits of SQLite (32766) and PostgreSQL (65535).
const rowsPerInsert = 500

func insertEntries(ctx context.Context, tx execer, rows []entryRow) error {
	const cols = 10
	for start := 0; start < len(rows); start += rowsPerInsert {
		chunk := rows[start:min(start+rowsPerInsert, len(rows))]
		args := make([]any, 0, cols*len(chunk))
		for _, r := range chunk {
			e := r.entry
			args = append(args, int64(r.idx), e.Time.UnixNano(), e.Actor.Subject, e.Actor.Department, e.Object.Department,
				e.Action, e.Decision, e.CitizenHash, r.leaf, r.body)
		}
		q := "INSERT INTO audit_entries (idx, time_ns, actor_subject, actor_department, object_department, action, decision, citizen_hash, leaf_hash, body) VALUES " +
			valuesList(len(chunk), cols)
		if _, err := execRows(ctx, tx, len(chunk), q, args...); err != nil {
			return fmt.Errorf("auditlog: insert entries %d..%d: %w", chunk[0].idx, chunk[len(chunk)-1].idx, err)
		}
	}
	return nil
}

func insertNodes(ctx context.Context, tx execer, nodes []nodeRow) error {
	for start := 0; start < len(nodes); start += rowsPerInsert {
		chunk := nodes[start:min(start+rowsPerInsert, len(nodes))]
		args := make([]any, 0, 2*len(chunk))
		for _, n := range chunk {
			args = append(args, int64(n.pos), n.hash)
		}
		if _, err := execRows(ctx, tx, len(chunk), "INSERT INTO audit_nodes (pos, hash) VALUES "+valuesList(len(chunk), 2), args...); err != nil {
			return fmt.Errorf("auditlog: insert tree nodes: %w", err)
		}
	}
	return nil
}

// valuesList returns "(?,?),(?,?)" for rows rows of cols columns.
func valuesList(rows, cols int) string {
	one := "(" + placeholders(cols) + ")"
	var b strings.Builder
	b.Grow(rows * (len(one) + 1))
	for i := 0; i < rows; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(one)
	}
	return b.String()
}
