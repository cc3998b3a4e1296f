package auditlog

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transparency-dev/merkle/compact"

	"github.com/tongxing/tongxing/store"
)

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("auditlog: log is closed")

// errStale means the stored tree moved on since this process last saw it
// (another process sequenced entries); the batch is retried on fresh state.
var errStale = errors.New("auditlog: tree state changed concurrently")

// indexPrefix starts every canonical encoding; the index digits follow.
const indexPrefix = `{"index":`

// Log is the append-only audit log. Every process that writes audit entries
// opens one; see the package documentation for how several processes on one
// PostgreSQL database share it. All methods are safe for concurrent use.
type Log struct {
	*Reader
	signer *CheckpointSigner

	reqs     chan *appendReq
	closeMu  sync.RWMutex
	closed   bool
	runDone  chan struct{}
	stop     chan struct{}
	bgDone   sync.WaitGroup
	ctx      context.Context // background work; cancelled if Close runs out of time
	cancel   context.CancelFunc
	closeErr error
	once     sync.Once

	leader     atomic.Bool
	needReload atomic.Bool
	lockConn   *sql.Conn // PostgreSQL advisory lock session; used only by run

	mu            sync.Mutex // guards state, lastPublished and stamp
	state         treeState  // last committed tree known here, used when sequencing
	lastPublished int64      // size of the newest checkpoint known stored; -1 unknown
	stamp         Timestamper

	checkpointsOn atomic.Bool // checkpoints are published (not deferred, or started)

	waitMu  sync.Mutex
	waiters map[string]*appendReq // pending entries waiting for their index
}

type appendReq struct {
	entry Entry
	rest  []byte // canonical encoding after the index digits
	done  chan appendResult
	flush chan struct{} // set on the marker Close queues behind all appends
}

type appendResult struct {
	index uint64
	err   error
}

// Open starts the audit log on db, signing checkpoints with signer. The
// schema must exist (store.Open applies it). On SQLite the process always
// sequences; on PostgreSQL it competes for the sequencer lock and, while it
// does not hold it, hands entries to the holder through a pending table.
// Call Close to stop the background work.
func Open(ctx context.Context, db *store.DB, signer *CheckpointSigner, opts ...Option) (*Log, error) {
	if db == nil || signer == nil {
		return nil, errors.New("auditlog: Open needs a database and a checkpoint signer")
	}
	r := NewReader(db, opts...)
	if r.opts.maxBatch < 1 || r.opts.checkpointInterval <= 0 || r.opts.pollInterval <= 0 || r.opts.leaderRetry <= 0 {
		return nil, fmt.Errorf("auditlog: invalid options: batch %d, checkpoint interval %s, poll interval %s, leader retry %s",
			r.opts.maxBatch, r.opts.checkpointInterval, r.opts.pollInterval, r.opts.leaderRetry)
	}
	empty := emptyState()
	if _, err := db.Exec(ctx, "INSERT INTO audit_tree (id, size, root, compact, updated_ns) VALUES (1, 0, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
		empty.root, []byte{}, r.opts.now().UnixNano()); err != nil {
		return nil, fmt.Errorf("auditlog: initialise tree state: %w", err)
	}
	st, err := loadState(ctx, db)
	if err != nil {
		return nil, err
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l := &Log{
		Reader:        r,
		signer:        signer,
		reqs:          make(chan *appendReq, 2*r.opts.maxBatch),
		runDone:       make(chan struct{}),
		stop:          make(chan struct{}),
		ctx:           bg,
		cancel:        cancel,
		state:         st,
		lastPublished: -1,
		waiters:       map[string]*appendReq{},
	}
	l.stamp = r.opts.timestamper
	if db.Dialect() != store.Postgres {
		l.leader.Store(true)
	}
	if !r.opts.deferCheckpoints {
		l.checkpointsOn.Store(true)
		if l.leader.Load() {
			if err := l.publish(ctx); err != nil {
				cancel()
				return nil, err
			}
		}
	}
	if db.Dialect() == store.Postgres {
		l.tryLock()
	}
	go l.run()
	l.bgDone.Add(1)
	go l.waitLoop()
	if l.checkpointsOn.Load() {
		l.bgDone.Add(1)
		go l.publishLoop()
	}
	return l, nil
}

// ErrCheckpointsStarted is returned by [Log.StartCheckpoints] when
// checkpoints are already being published.
var ErrCheckpointsStarted = errors.New("auditlog: checkpoints already started")

// StartCheckpoints starts publishing the checkpoints of a log opened with
// [WithDeferredCheckpoints]: one at once if this process sequences, then
// whenever the tree has grown, at most once per checkpoint interval, and a
// final one on Close. Each carries a timestamp token from ts when ts is not
// nil (ts replaces [WithTimestamper]). It fails with ErrCheckpointsStarted
// if checkpoints are already published, ErrClosed after Close.
func (l *Log) StartCheckpoints(ctx context.Context, ts Timestamper) error {
	l.closeMu.RLock()
	defer l.closeMu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	l.mu.Lock()
	if l.checkpointsOn.Load() {
		l.mu.Unlock()
		return ErrCheckpointsStarted
	}
	l.stamp = ts
	l.checkpointsOn.Store(true)
	l.mu.Unlock()
	l.bgDone.Add(1)
	go l.publishLoop()
	if l.leader.Load() {
		return l.publish(ctx)
	}
	return nil
}

// Signer returns the checkpoint signer.
func (l *Log) Signer() *CheckpointSigner { return l.signer }

// IsSequencer reports whether this process currently sequences the log
// (always true on SQLite).
func (l *Log) IsSequencer() bool { return l.leader.Load() }

// Append adds e to the log and returns its index. It returns only after the
// entry is durable: committed with its index by the sequencer. e.Index is
// ignored; a zero e.Time is replaced by the current time. Concurrent calls
// are committed together in one transaction (group commit).
//
// If ctx ends first, Append returns its error but the entry may still be
// logged; callers that must not lose the record pass
// context.WithoutCancel(ctx).
func (l *Log) Append(ctx context.Context, e Entry) (uint64, error) {
	e.Index = 0
	if e.Time.IsZero() {
		e.Time = l.opts.now()
	}
	body, err := e.MarshalCanonical()
	if err != nil {
		return 0, err
	}
	if len(body)+19 > MaxEntrySize {
		return 0, fmt.Errorf("%w: encoding is %d bytes, limit %d with the index", ErrInvalidEntry, len(body), MaxEntrySize)
	}
	req := &appendReq{entry: e, rest: body[len(indexPrefix)+1:], done: make(chan appendResult, 1)}
	l.closeMu.RLock()
	if l.closed {
		l.closeMu.RUnlock()
		return 0, ErrClosed
	}
	select {
	case l.reqs <- req:
		l.closeMu.RUnlock()
	case <-ctx.Done():
		l.closeMu.RUnlock()
		return 0, fmt.Errorf("auditlog: append %s: %w", e.Action, ctx.Err())
	}
	select {
	case res := <-req.done:
		return res.index, res.err
	case <-ctx.Done():
		return 0, fmt.Errorf("auditlog: append %s: waiting for commit: %w", e.Action, ctx.Err())
	}
}

// run is the single sequencing goroutine: it collects appends into batches,
// and on PostgreSQL competes for the sequencer lock and, while it holds it,
// sequences other processes' pending entries. Only run touches lockConn.
func (l *Log) run() {
	defer close(l.runDone)
	var pollTick, leaderTick <-chan time.Time
	if l.db.Dialect() == store.Postgres {
		pt := time.NewTicker(l.opts.pollInterval)
		defer pt.Stop()
		lt := time.NewTicker(l.opts.leaderRetry)
		defer lt.Stop()
		pollTick, leaderTick = pt.C, lt.C
	}
	for {
		select {
		case r := <-l.reqs:
			l.handle(r)
		case <-pollTick:
			if l.leader.Load() {
				l.sequencePending()
			}
		case <-leaderTick:
			if l.lockConn == nil {
				l.tryLock()
			} else {
				l.checkLock()
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
			if l.leader.Load() && l.checkpointsOn.Load() {
				if err := l.publish(l.ctx); err != nil {
					l.opts.logger.Error("audit: publish final checkpoint", "err", err)
				}
			}
			l.releaseLock()
			return
		}
	}
}

// handle commits r together with whatever else is queued, up to the batch
// limit; a flush marker ends the batch and is released after the commit.
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
	if len(batch) > 0 {
		l.commit(batch)
	}
	for _, f := range flushes {
		close(f)
	}
}

// commit makes a batch durable: sequenced directly when this process is the
// sequencer, otherwise stored as pending for the sequencer.
func (l *Log) commit(batch []*appendReq) {
	items := make([]seqItem, len(batch))
	for i, r := range batch {
		items[i] = seqItem{entry: r.entry, rest: r.rest}
	}
	var err error
	for attempt := 0; attempt < 8; attempt++ {
		if !l.leader.Load() {
			err = l.writePending(batch)
			if err != nil {
				l.fail(batch, err)
			}
			return
		}
		var idx []uint64
		idx, err = l.sequence(items)
		if err == nil {
			for i, r := range batch {
				r.done <- appendResult{index: idx[i]}
			}
			return
		}
		if !errors.Is(err, errStale) {
			if l.lockConn != nil {
				l.checkLock() // a broken lock session means another process may sequence now
				if !l.leader.Load() {
					continue
				}
			}
			break
		}
		l.needReload.Store(true)
		time.Sleep(time.Duration(1+attempt) * time.Millisecond)
	}
	l.fail(batch, err)
}

func (l *Log) fail(batch []*appendReq, err error) {
	l.opts.logger.Error("audit append failed", "entries", len(batch), "err", err)
	for _, r := range batch {
		r.done <- appendResult{err: fmt.Errorf("auditlog: append %s: %w", r.entry.Action, err)}
	}
}

// seqItem is an entry to sequence; pendingID is set for pending entries.
type seqItem struct {
	entry     Entry
	rest      []byte
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
	if l.needReload.Swap(false) {
		st, err := loadState(l.ctx, l.db)
		if err != nil {
			l.needReload.Store(true)
			return nil, err
		}
		l.setState(st)
	}
	l.mu.Lock()
	st := l.state.clone()
	l.mu.Unlock()
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
	err := l.inTx(func(tx execer) error {
		res, err := tx.Exec(l.ctx, "UPDATE audit_tree SET size = ?, root = ?, compact = ?, updated_ns = ? WHERE id = 1 AND size = ?",
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
	return idx, nil
}

// execer runs statements with '?' placeholders; *store.Tx is one.
type execer interface {
	Exec(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// rebindTx is a transaction on the sequencer's lock connection.
type rebindTx struct {
	tx *sql.Tx
	db *store.DB
}

func (t rebindTx) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, t.db.Rebind(query), args...)
}

// inTx runs fn in a sequencing transaction. On PostgreSQL it runs on the
// connection that holds the sequencer lock, so the transaction cannot commit
// once that session, and with it the lock, is gone.
func (l *Log) inTx(fn func(tx execer) error) error {
	if l.db.Dialect() != store.Postgres {
		return l.db.InTx(l.ctx, func(tx *store.Tx) error { return fn(tx) })
	}
	if l.lockConn == nil {
		return errStale // not the sequencer (any more)
	}
	tx, err := l.lockConn.BeginTx(l.ctx, nil)
	if err != nil {
		return fmt.Errorf("auditlog: begin on the sequencer connection: %w", err)
	}
	if err := fn(rebindTx{tx: tx, db: l.db}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("auditlog: commit on the sequencer connection: %w", err)
	}
	return nil
}

func (l *Log) setState(st treeState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.state = st
}

func (l *Log) snapshot() treeState {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.state
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
		if _, err := tx.Exec(ctx, q, args...); err != nil {
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
		if _, err := tx.Exec(ctx, "INSERT INTO audit_nodes (pos, hash) VALUES "+valuesList(len(chunk), 2), args...); err != nil {
			return fmt.Errorf("auditlog: insert tree nodes: %w", err)
		}
	}
	return nil
}

func insertReceipts(ctx context.Context, tx execer, items []seqItem, idx []uint64, now int64) error {
	var args []any
	n := 0
	for i, it := range items {
		if it.pendingID == "" {
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

// writePending stores a batch durably for the sequencer and registers the
// requests to be answered when their receipts appear.
func (l *Log) writePending(batch []*appendReq) error {
	ids := make([]string, len(batch))
	for i := range batch {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return fmt.Errorf("auditlog: pending id: %w", err)
		}
		ids[i] = hex.EncodeToString(b[:])
	}
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
		return nil
	})
	if err != nil {
		return err
	}
	l.waitMu.Lock()
	for i, r := range batch {
		l.waiters[ids[i]] = r
	}
	l.waitMu.Unlock()
	return nil
}

// sequencePending sequences entries other processes left in the pending
// table. A pending row that does not parse is logged and left in place.
func (l *Log) sequencePending() {
	rows, err := l.db.Query(l.ctx, "SELECT id, body FROM audit_pending ORDER BY created_ns, id LIMIT ?", l.opts.maxBatch)
	if err != nil {
		l.opts.logger.Error("audit: read pending entries", "err", err)
		return
	}
	var items []seqItem
	for rows.Next() {
		var id string
		var body []byte
		if err := rows.Scan(&id, &body); err != nil {
			l.opts.logger.Error("audit: read pending entries", "err", err)
			break
		}
		e, err := ParseEntry(body)
		if err != nil || e.Index != 0 {
			l.opts.logger.Error("audit: pending entry is invalid and stays unsequenced", "id", id, "err", err)
			continue
		}
		items = append(items, seqItem{entry: e, rest: body[len(indexPrefix)+1:], pendingID: id})
	}
	rows.Close()
	if len(items) == 0 {
		return
	}
	if _, err := l.sequence(items); err != nil {
		if errors.Is(err, errStale) {
			l.needReload.Store(true)
			return
		}
		l.opts.logger.Error("audit: sequence pending entries", "entries", len(items), "err", err)
	}
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
		}
		l.collectReceipts()
		if l.leader.Load() && time.Since(lastPrune) > time.Minute {
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
	l.waitMu.Lock()
	ids := make([]any, 0, min(len(l.waiters), 1000))
	for id := range l.waiters {
		if len(ids) == cap(ids) {
			break
		}
		ids = append(ids, id)
	}
	l.waitMu.Unlock()
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
	l.waitMu.Lock()
	for id, idx := range got {
		if r := l.waiters[id]; r != nil {
			r.done <- appendResult{index: idx}
			delete(l.waiters, id)
		}
		done = append(done, id)
	}
	l.waitMu.Unlock()
	if _, err := l.db.Exec(l.ctx, "DELETE FROM audit_receipts WHERE id IN ("+placeholders(len(done))+")", done...); err != nil {
		l.opts.logger.Warn("audit: remove collected receipts", "err", err)
	}
	return len(got)
}

// checkLock gives up the sequencer role if the lock's session has failed.
func (l *Log) checkLock() {
	ctx, cancel := context.WithTimeout(l.ctx, 5*time.Second)
	defer cancel()
	if _, err := l.lockConn.ExecContext(ctx, "SELECT 1"); err != nil {
		l.opts.logger.Warn("audit: lost the sequencer lock session", "err", err)
		l.leader.Store(false)
		discard(l.lockConn)
		l.lockConn = nil
	}
}

// discard closes a dedicated connection without returning it to the pool,
// which ends its PostgreSQL session and so releases any advisory lock it
// still holds.
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	conn.Close()
}

func (l *Log) tryLock() {
	ctx, cancel := context.WithTimeout(l.ctx, 10*time.Second)
	defer cancel()
	conn, err := l.db.SQL().Conn(ctx)
	if err != nil {
		l.opts.logger.Warn("audit: sequencer lock connection", "err", err)
		return
	}
	var got bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", l.opts.lockID).Scan(&got); err != nil || !got {
		if err != nil {
			l.opts.logger.Warn("audit: try sequencer lock", "err", err)
		}
		conn.Close()
		return
	}
	l.lockConn = conn
	// Other processes may have sequenced since this one last looked.
	if st, err := loadState(ctx, l.db); err == nil {
		l.setState(st)
	} else {
		l.opts.logger.Warn("audit: reload tree state", "err", err)
		l.needReload.Store(true)
	}
	l.mu.Lock()
	l.lastPublished = -1
	l.mu.Unlock()
	l.leader.Store(true)
	l.opts.logger.Info("audit: this process is now the sequencer")
}

func (l *Log) releaseLock() {
	if l.lockConn == nil {
		return
	}
	l.leader.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := l.lockConn.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", l.opts.lockID); err != nil {
		l.opts.logger.Warn("audit: release sequencer lock", "err", err)
		discard(l.lockConn)
	} else {
		l.lockConn.Close()
	}
	l.lockConn = nil
}

// publishLoop signs a checkpoint whenever the tree has grown, at most once
// per checkpoint interval, while this process is the sequencer.
func (l *Log) publishLoop() {
	defer l.bgDone.Done()
	t := time.NewTicker(l.opts.checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		if l.leader.Load() && !l.needReload.Load() {
			if err := l.publish(l.ctx); err != nil {
				l.opts.logger.Error("audit: publish checkpoint", "err", err)
			}
		}
	}
}

// publish stores a signed checkpoint of the current tree unless one of that
// size exists.
func (l *Log) publish(ctx context.Context) error {
	st := l.snapshot()
	l.mu.Lock()
	last, stamp := l.lastPublished, l.stamp
	l.mu.Unlock()
	if int64(st.size) == last {
		return nil
	}
	msg, err := l.signer.Sign(st.size, st.root)
	if err != nil {
		return err
	}
	var tst []byte
	if stamp != nil {
		tst, err = stamp(ctx, msg)
		if err != nil {
			l.opts.logger.Error("audit: timestamp checkpoint; storing it without a token", "size", st.size, "err", err)
			tst = nil
		}
	}
	if _, err := l.db.Exec(ctx, "INSERT INTO audit_checkpoints (size, time_ns, note, tst) VALUES (?, ?, ?, ?) ON CONFLICT (size) DO NOTHING",
		int64(st.size), l.opts.now().UnixNano(), string(msg), tst); err != nil {
		return fmt.Errorf("auditlog: store checkpoint %d: %w", st.size, err)
	}
	l.mu.Lock()
	if int64(st.size) > l.lastPublished {
		l.lastPublished = int64(st.size)
	}
	l.mu.Unlock()
	return nil
}

// PublishCheckpoint signs and stores a checkpoint of the current tree now,
// if this process is the sequencer, checkpoints are published (not deferred,
// or started) and none of that size exists. The
// background loop does this every checkpoint interval; this method is for
// callers that need a checkpoint covering their entries at once.
func (l *Log) PublishCheckpoint(ctx context.Context) error {
	if !l.leader.Load() || !l.checkpointsOn.Load() {
		return nil
	}
	return l.publish(ctx)
}

// Close stops accepting appends, commits those already queued, waits (until
// ctx ends) for pending entries to get their indexes, publishes a final
// checkpoint, releases the sequencer lock and stops the background work. It
// does not close the database. Appends still waiting when ctx ends fail.
func (l *Log) Close(ctx context.Context) error {
	l.once.Do(func() {
		l.closeMu.Lock()
		l.closed = true
		l.closeMu.Unlock()
		var errs []error
		// Everything queued before closed was set is ahead of the marker.
		flush := make(chan struct{})
		select {
		case l.reqs <- &appendReq{flush: flush}:
			select {
			case <-flush:
			case <-ctx.Done():
			}
		case <-ctx.Done():
		}
		// Wait for pending entries to be sequenced by whoever holds the lock.
		for ctx.Err() == nil {
			l.waitMu.Lock()
			n := len(l.waiters)
			l.waitMu.Unlock()
			if n == 0 {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(l.opts.pollInterval):
			}
		}
		if ctx.Err() != nil {
			l.cancel() // abort database work still in progress
			errs = append(errs, fmt.Errorf("auditlog: close: %w", ctx.Err()))
		}
		close(l.stop)
		<-l.runDone
		l.bgDone.Wait()
		l.waitMu.Lock()
		for id, r := range l.waiters {
			r.done <- appendResult{err: fmt.Errorf("auditlog: closed before pending entry %s was sequenced", id)}
			delete(l.waiters, id)
		}
		l.waitMu.Unlock()
		l.cancel()
		l.closeErr = errors.Join(errs...)
	})
	return l.closeErr
}
