package auditlog

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"golang.org/x/mod/sumdb/note"
)

// IntegrityError reports stored log data that fails verification. Index is
// the first entry index that cannot be trusted: the entry that is missing,
// changed or out of place, or, for a checkpoint or tree node that does not
// match, the first index it covers that no earlier valid data vouches for.
type IntegrityError struct {
	Index  uint64
	Reason string
	Err    error // optional cause
}

// Error returns "auditlog: integrity: entry <index>: <reason>".
func (e *IntegrityError) Error() string {
	s := fmt.Sprintf("auditlog: integrity: entry %d: %s", e.Index, e.Reason)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *IntegrityError) Unwrap() error { return e.Err }

// VerifyReport summarises a successful [Reader.Verify].
type VerifyReport struct {
	// Size and Root are those of the stored tree, recomputed from the entries.
	Size uint64
	Root []byte
	// Checkpoints is the number of stored checkpoints verified.
	Checkpoints int
	// Latest is the newest verified checkpoint, nil if there is none.
	Latest *Checkpoint
	// Elapsed is how long verification took.
	Elapsed time.Duration
}

// Verify recomputes the whole tree from the stored entries and checks, in
// index order, that:
//
//   - entries 0..size-1 all exist, each parses as a canonical entry naming its
//     own index, and its search columns and stored leaf hash match it;
//   - every stored tree node equals the recomputed one;
//   - every stored checkpoint carries a valid signature by logVerifier (and by
//     any of otherVerifiers it names), has the verifier's name as origin, and
//     its root equals the recomputed root of its size — so all checkpoints are
//     consistent with each other; the newest two are also checked with a
//     consistency proof built from stored nodes and transparency-dev/merkle's
//     verifier;
//   - the stored tree state equals the recomputation, and no entry lies
//     beyond it;
//   - the search table is an exact copy of the search columns of a prefix
//     of the entries.
//
// The first failure is returned as an *IntegrityError naming the index.
// Verify reads the log as of its start and tolerates concurrent appends.
func (r *Reader) Verify(ctx context.Context, logVerifier note.Verifier, otherVerifiers ...note.Verifier) (*VerifyReport, error) {
	start := time.Now()
	if logVerifier == nil {
		return nil, fmt.Errorf("auditlog: verify: no checkpoint verifier")
	}
	v := &verification{r: r, logVerifier: logVerifier, otherVerifiers: otherVerifiers, rng: rangeFactory.NewEmptyRange(0)}
	defer v.close()
	for _, step := range []func(context.Context) error{
		v.readTreeState,
		v.openTables,
		v.replay,
		v.checkNothingBeyond,
		v.checkTreeState,
		r.checkNoExtraEntries,
		v.checkSearchBeyond,
		v.checkConsistency,
	} {
		if err := step(ctx); err != nil {
			return nil, err
		}
	}
	return &VerifyReport{Size: v.size, Root: rootOf(v.rng), Checkpoints: v.checkpoints, Latest: v.latest, Elapsed: time.Since(start)}, nil
}

// verification is one run of [Reader.Verify]: the stored tree state, the
// entry, node and checkpoint tables read in index order, and what has been
// recomputed and verified so far.
type verification struct {
	r              *Reader
	logVerifier    note.Verifier
	otherVerifiers []note.Verifier

	// The stored tree state.
	size                    uint64
	storedRoot, storedRange []byte

	entries, nodes, cps *sql.Rows
	search              *sql.Rows // audit_search below the tree size, by index
	stopScan            func()    // ends the entry scan, which owns entries once started

	rng         *compact.Range // the tree of the entries replayed so far
	next        *Checkpoint    // the next stored checkpoint, nil after the last
	latest      *Checkpoint    // the newest checkpoint verified so far
	checkpoints int            // checkpoints verified so far
	vouched     uint64         // entries below this are covered by a verified checkpoint

	// The stored nodes, read alongside the recomputed ones.
	nodesLeft bool  // more stored nodes may follow
	pos       int64 // position of the last stored node read
	stored    []byte
	nodeErr   error // the first node that did not match

	// The search table, read alongside the entries.
	searchLeft bool      // more search rows may follow
	searchRow  verifyRow // the search row read but not yet matched
	searchHeld bool      // searchRow holds a row
}

func (v *verification) close() {
	if v.stopScan != nil {
		v.stopScan()
	} else if v.entries != nil {
		v.entries.Close()
	}
	for _, rows := range []*sql.Rows{v.nodes, v.cps, v.search} {
		if rows != nil {
			rows.Close()
		}
	}
}

// readTreeState reads the stored size, root and compact range.
func (v *verification) readTreeState(ctx context.Context) error {
	var size int64
	err := v.r.db.QueryRow(ctx, "SELECT size, root, compact FROM audit_tree WHERE id = 1").Scan(&size, &v.storedRoot, &v.storedRange)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		size, v.storedRoot, v.storedRange = 0, Hasher{}.EmptyRoot(), []byte{}
	case err != nil:
		return fmt.Errorf("auditlog: verify: read tree state: %w", err)
	case size < 0:
		return &IntegrityError{Index: 0, Reason: fmt.Sprintf("stored tree size %d is negative", size)}
	}
	v.size = uint64(size)
	return nil
}

// openTables queries the entries and nodes below the stored tree size and
// every checkpoint, in order, and reads the first checkpoint.
func (v *verification) openTables(ctx context.Context) error {
	var err error
	v.entries, err = v.r.db.Query(ctx, `SELECT idx, time_ns, actor_subject, actor_department, object_department, action, decision, citizen_hash, leaf_hash, body, `+
		v.r.typed("", entryTypes)+` FROM audit_entries WHERE idx < ? ORDER BY idx`, int64(v.size))
	if err != nil {
		return fmt.Errorf("auditlog: verify: read entries: %w", err)
	}
	if v.nodes, err = v.r.db.Query(ctx, "SELECT pos, hash FROM audit_nodes WHERE pos < ? ORDER BY pos", int64(nodeCount(v.size))); err != nil {
		return fmt.Errorf("auditlog: verify: read tree nodes: %w", err)
	}
	v.nodesLeft = true
	if v.search, err = v.r.db.Query(ctx, "SELECT "+searchColumns+", "+v.r.typed("", searchTypes)+" FROM audit_search WHERE idx < ? ORDER BY idx", int64(v.size)); err != nil {
		return fmt.Errorf("auditlog: verify: read the search table: %w", err)
	}
	v.searchLeft = true
	if v.cps, err = v.r.db.Query(ctx, "SELECT size, time_ns, note FROM audit_checkpoints ORDER BY size"); err != nil {
		return fmt.Errorf("auditlog: verify: read checkpoints: %w", err)
	}
	v.next, err = v.nextCheckpoint()
	return err
}

// nextCheckpoint reads and opens the next stored checkpoint, nil at the
// end.
func (v *verification) nextCheckpoint() (*Checkpoint, error) {
	if !v.cps.Next() {
		if err := v.cps.Err(); err != nil {
			return nil, fmt.Errorf("auditlog: verify: read checkpoints: %w", err)
		}
		return nil, nil
	}
	var cs, ns int64
	var msg string
	if err := v.cps.Scan(&cs, &ns, &msg); err != nil {
		return nil, fmt.Errorf("auditlog: verify: read checkpoints: %w", err)
	}
	cp, err := OpenCheckpoint([]byte(msg), v.logVerifier, v.otherVerifiers...)
	if err != nil {
		return nil, &IntegrityError{Index: v.vouched, Reason: fmt.Sprintf("checkpoint stored for size %d does not verify", cs), Err: err}
	}
	if cp.Size != uint64(cs) || cs < 0 {
		return nil, &IntegrityError{Index: v.vouched, Reason: fmt.Sprintf("checkpoint stored for size %d says size %d", cs, cp.Size)}
	}
	cp.Time = time.Unix(0, ns).UTC()
	return cp, nil
}

// checkCheckpoints verifies every stored checkpoint of size n against the
// tree replayed so far, which is of size n.
func (v *verification) checkCheckpoints(n uint64) error {
	for v.next != nil && v.next.Size == n {
		if got := rootOf(v.rng); !bytes.Equal(got, v.next.Root) {
			return &IntegrityError{Index: v.vouched, Reason: fmt.Sprintf("checkpoint of size %d does not match the stored entries below it", n)}
		}
		v.checkpoints++
		v.latest, v.vouched = v.next, n
		var err error
		if v.next, err = v.nextCheckpoint(); err != nil {
			return err
		}
	}
	return nil
}

// visitNode compares a node the replay completed with the next stored one.
// It is compact.Range.Append's visitor; the first mismatch is kept in
// nodeErr.
func (v *verification) visitNode(id compact.NodeID, h []byte) {
	if id.Level == 0 || v.nodeErr != nil {
		return
	}
	want := int64(nodePos(id))
	if v.nodesLeft && v.nodes.Next() {
		if err := v.nodes.Scan(&v.pos, &v.stored); err != nil {
			v.nodeErr = fmt.Errorf("auditlog: verify: read tree nodes: %w", err)
			return
		}
	} else {
		v.nodesLeft = false
		v.pos = -1
	}
	switch {
	case v.pos != want:
		v.nodeErr = &IntegrityError{Index: max(firstLeaf(id), v.vouched), Reason: fmt.Sprintf("tree node (level %d, index %d) is missing or out of place", id.Level, id.Index)}
	case !bytes.Equal(v.stored, h):
		v.nodeErr = &IntegrityError{Index: max(firstLeaf(id), v.vouched), Reason: fmt.Sprintf("tree node (level %d, index %d) does not match the entries", id.Level, id.Index)}
	}
}

// replay rebuilds the tree from the entries in index order, checked in
// parallel by [scanEntries], comparing every node it completes with the
// stored one and every checkpoint with the tree of its size.
func (v *verification) replay(context.Context) error {
	if err := v.checkCheckpoints(0); err != nil {
		return err
	}
	chunks, stop := scanEntries(v.entries, v.size)
	v.stopScan = stop
	i := uint64(0)
	for c := range chunks {
		<-c.done
		if c.err != nil {
			return c.err
		}
		for k := range c.rows {
			if ie := c.rows[k].bad; ie != nil {
				return ie
			}
			if err := v.rng.Append(c.rows[k].hash, v.visitNode); err != nil {
				return fmt.Errorf("auditlog: verify: extend tree at %d: %w", i, err)
			}
			if v.nodeErr != nil {
				return v.nodeErr
			}
			if err := v.checkSearchRow(i, &c.rows[k]); err != nil {
				return err
			}
			i++
			if err := v.checkCheckpoints(i); err != nil {
				return err
			}
		}
	}
	if i < v.size {
		return &IntegrityError{Index: i, Reason: "entry is missing"}
	}
	return nil
}

// checkSearchRow compares the search table's row for entry i, if the
// table holds it, with the entry's columns (already checked against its
// body). The table holds a prefix of the log: a row for a later entry
// while i has none means an entry was removed from searches.
func (v *verification) checkSearchRow(i uint64, e *verifyRow) error {
	if !v.searchHeld && v.searchLeft {
		if !v.search.Next() {
			v.searchLeft = false
			if err := v.search.Err(); err != nil {
				return fmt.Errorf("auditlog: verify: read the search table: %w", err)
			}
			return nil
		}
		s := &v.searchRow
		if err := v.search.Scan(&s.idx, &s.ns, &s.subj, &s.adept, &s.odept, &s.action, &s.decision, &s.citizen, &s.typed); err != nil {
			return fmt.Errorf("auditlog: verify: read the search table: %w", err)
		}
		v.searchHeld = true
	}
	if !v.searchHeld {
		return nil
	}
	s := &v.searchRow
	switch {
	case s.idx > int64(i):
		return &IntegrityError{Index: i, Reason: "entry is missing from the search table, so searches do not find it"}
	case s.idx < int64(i):
		return &IntegrityError{Index: i, Reason: fmt.Sprintf("search table row with index %d does not match the entry", s.idx)}
	}
	v.searchHeld = false
	if !s.typed {
		return &IntegrityError{Index: i, Reason: "search table row has a column of the wrong type"}
	}
	if s.ns != e.ns || s.subj != e.subj || s.adept != e.adept || s.odept != e.odept || s.action != e.action || s.decision != e.decision || s.citizen != e.citizen {
		return &IntegrityError{Index: i, Reason: "search table row does not match the entry"}
	}
	return nil
}

// checkNothingBeyond fails if a node or a checkpoint lies beyond the stored
// tree.
func (v *verification) checkNothingBeyond(context.Context) error {
	if v.nodesLeft && v.nodes.Next() {
		if err := v.nodes.Scan(&v.pos, &v.stored); err == nil {
			return &IntegrityError{Index: v.size, Reason: fmt.Sprintf("unexpected tree node at position %d", v.pos)}
		}
	}
	// checkpoints are read in order of size: the next one, if any, is
	// beyond the tree, and so is every one after it.
	if v.next != nil {
		return &IntegrityError{Index: v.size, Reason: fmt.Sprintf("checkpoint of size %d covers entries beyond the stored tree of size %d", v.next.Size, v.size)}
	}
	return nil
}

// checkTreeState compares the stored root and compact range with the
// replayed tree.
func (v *verification) checkTreeState(context.Context) error {
	if !bytes.Equal(rootOf(v.rng), v.storedRoot) {
		return &IntegrityError{Index: v.vouched, Reason: "stored tree root does not match the entries"}
	}
	var want []byte
	for _, h := range v.rng.Hashes() {
		want = append(want, h...)
	}
	if !bytes.Equal(want, v.storedRange) {
		return &IntegrityError{Index: v.vouched, Reason: "stored compact range does not match the entries"}
	}
	return nil
}

// checkConsistency proves the newest two checkpoints consistent (when
// there are two).
func (v *verification) checkConsistency(ctx context.Context) error {
	if v.latest == nil || v.checkpoints < 2 {
		return nil
	}
	return v.r.crossCheckConsistency(ctx, v.logVerifier, v.latest)
}

// checkNoExtraEntries fails if a row lies beyond the stored tree. It reads
// the rows before the tree size so that concurrent appends are not flagged.
func (r *Reader) checkNoExtraEntries(ctx context.Context) error {
	var maxIdx sql.NullInt64
	if err := r.db.QueryRow(ctx, "SELECT MAX(idx) FROM audit_entries").Scan(&maxIdx); err != nil {
		return fmt.Errorf("auditlog: verify: read entries: %w", err)
	}
	size, err := r.TreeSize(ctx)
	if err != nil {
		return err
	}
	if maxIdx.Valid && (maxIdx.Int64 < 0 || uint64(maxIdx.Int64) >= size) {
		return &IntegrityError{Index: size, Reason: fmt.Sprintf("row with index %d lies beyond the tree of size %d", maxIdx.Int64, size)}
	}
	return nil
}

// crossCheckConsistency proves, with a consistency proof assembled from
// stored nodes and transparency-dev/merkle's verifier, that the checkpoint
// before latest is consistent with latest.
func (r *Reader) crossCheckConsistency(ctx context.Context, v note.Verifier, latest *Checkpoint) error {
	var oldMsg string
	err := r.db.QueryRow(ctx, "SELECT note FROM audit_checkpoints WHERE size < ? ORDER BY size DESC LIMIT 1", int64(latest.Size)).Scan(&oldMsg)
	if err != nil {
		return fmt.Errorf("auditlog: verify: read checkpoint before %d: %w", latest.Size, err)
	}
	old, err := OpenCheckpoint([]byte(oldMsg), v)
	if err != nil {
		return &IntegrityError{Index: 0, Reason: "checkpoint changed during verification", Err: err}
	}
	p, err := r.ConsistencyProof(ctx, old.Size, latest.Size)
	if err != nil {
		return err
	}
	if err := proof.VerifyConsistency(Hasher{}, old.Size, latest.Size, p, old.Root, latest.Root); err != nil {
		return &IntegrityError{Index: old.Size, Reason: fmt.Sprintf("checkpoints %d and %d are not consistent", old.Size, latest.Size), Err: err}
	}
	return nil
}

// verifyChunk is a run of consecutive entry rows checked by one worker.
type verifyChunk struct {
	start uint64
	rows  []verifyRow
	err   error // reading the rows failed
	done  chan struct{}
}

type verifyRow struct {
	idx                                           int64
	ns                                            int64
	subj, adept, odept, action, decision, citizen string
	leaf, body                                    []byte
	typed                                         bool            // every column has its declared type
	hash                                          []byte          // leaf hash recomputed from body
	bad                                           *IntegrityError // first problem with this row
}

const verifyChunkRows = 512

// scanEntries reads the entry rows (expected to be 0..size-1 in order) in
// one goroutine and checks them in parallel: parse, index, search columns
// and leaf hash. Chunks arrive in order on the returned channel; a chunk
// shorter than expected ends it. stop ends the work early and closes rows.
func scanEntries(rows *sql.Rows, size uint64) (<-chan *verifyChunk, func()) {
	out := make(chan *verifyChunk, 2*runtime.GOMAXPROCS(0))
	work := make(chan *verifyChunk, 2*runtime.GOMAXPROCS(0))
	quit := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				for k := range c.rows {
					checkRow(c.start+uint64(k), &c.rows[k])
				}
				close(c.done)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(work)
		defer close(out)
		defer rows.Close()
		for pos := uint64(0); pos < size; {
			c := &verifyChunk{start: pos, done: make(chan struct{})}
			for len(c.rows) < verifyChunkRows && pos < size {
				if !rows.Next() {
					c.err = rows.Err()
					break
				}
				var r verifyRow
				if err := rows.Scan(&r.idx, &r.ns, &r.subj, &r.adept, &r.odept, &r.action, &r.decision, &r.citizen, &r.leaf, &r.body, &r.typed); err != nil {
					c.err = err
					break
				}
				c.rows = append(c.rows, r)
				pos++
			}
			if c.err != nil {
				c.err = fmt.Errorf("auditlog: verify: read entries: %w", c.err)
			}
			select {
			case out <- c:
			case <-quit:
				return
			}
			select {
			case work <- c:
			case <-quit:
				return
			}
			if len(c.rows) < verifyChunkRows || c.err != nil {
				return
			}
		}
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() { close(quit) })
		for range out { // let the reader finish
		}
		wg.Wait()
	}
	return out, stop
}

// checkRow checks one stored entry against its expected index i.
func checkRow(i uint64, r *verifyRow) {
	if r.idx != int64(i) {
		if r.idx > int64(i) {
			r.bad = &IntegrityError{Index: i, Reason: "entry is missing"}
		} else {
			r.bad = &IntegrityError{Index: i, Reason: fmt.Sprintf("unexpected row with index %d", r.idx)}
		}
		return
	}
	if !r.typed {
		r.bad = &IntegrityError{Index: i, Reason: "stored entry has a column of the wrong type"}
		return
	}
	e, err := ParseEntry(r.body)
	if err != nil {
		r.bad = &IntegrityError{Index: i, Reason: "stored entry does not parse", Err: err}
		return
	}
	if e.Index != i {
		r.bad = &IntegrityError{Index: i, Reason: fmt.Sprintf("stored entry says index %d", e.Index)}
		return
	}
	if r.ns != e.Time.UnixNano() || r.subj != e.Actor.Subject || r.adept != e.Actor.Department || r.odept != e.Object.Department ||
		r.action != e.Action || r.decision != e.Decision || r.citizen != e.CitizenHash {
		r.bad = &IntegrityError{Index: i, Reason: "search columns do not match the stored entry"}
		return
	}
	r.hash = Hasher{}.HashLeaf(r.body)
	if !bytes.Equal(r.hash, r.leaf) {
		r.bad = &IntegrityError{Index: i, Reason: "stored leaf hash does not match the entry"}
	}
	r.body, r.leaf = nil, nil
}
