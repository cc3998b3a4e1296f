package auditlog

import (
	"bytes"
	"context"
	"database/sql"
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
//     beyond it.
//
// The first failure is returned as an *IntegrityError naming the index.
// Verify reads the log as of its start and tolerates concurrent appends.
func (r *Reader) Verify(ctx context.Context, logVerifier note.Verifier, otherVerifiers ...note.Verifier) (*VerifyReport, error) {
	start := time.Now()
	if logVerifier == nil {
		return nil, fmt.Errorf("auditlog: verify: no checkpoint verifier")
	}
	var (
		size           int64
		root, compactB []byte
	)
	if err := r.db.QueryRow(ctx, "SELECT size, root, compact FROM audit_tree WHERE id = 1").Scan(&size, &root, &compactB); err != nil {
		if err == sql.ErrNoRows {
			size, root, compactB = 0, Hasher{}.EmptyRoot(), []byte{}
		} else {
			return nil, fmt.Errorf("auditlog: verify: read tree state: %w", err)
		}
	}
	if size < 0 {
		return nil, &IntegrityError{Index: 0, Reason: fmt.Sprintf("stored tree size %d is negative", size)}
	}
	S := uint64(size)

	entries, err := r.db.Query(ctx, `SELECT idx, time_ns, actor_subject, actor_department, object_department, action, decision, citizen_hash, leaf_hash, body
		FROM audit_entries WHERE idx < ? ORDER BY idx`, size)
	if err != nil {
		return nil, fmt.Errorf("auditlog: verify: read entries: %w", err)
	}
	nodes, err := r.db.Query(ctx, "SELECT pos, hash FROM audit_nodes WHERE pos < ? ORDER BY pos", int64(nodeCount(S)))
	if err != nil {
		return nil, fmt.Errorf("auditlog: verify: read tree nodes: %w", err)
	}
	defer nodes.Close()
	cps, err := r.db.Query(ctx, "SELECT size, time_ns, note FROM audit_checkpoints ORDER BY size")
	if err != nil {
		return nil, fmt.Errorf("auditlog: verify: read checkpoints: %w", err)
	}
	defer cps.Close()

	rep := &VerifyReport{}
	var prev *Checkpoint // the newest checkpoint verified so far
	vouched := uint64(0) // entries below this are covered by a verified checkpoint

	// nextCheckpoint reads the next stored checkpoint, nil at the end.
	nextCheckpoint := func() (*Checkpoint, int64, error) {
		if !cps.Next() {
			if err := cps.Err(); err != nil {
				return nil, 0, fmt.Errorf("auditlog: verify: read checkpoints: %w", err)
			}
			return nil, 0, nil
		}
		var cs, ns int64
		var msg string
		if err := cps.Scan(&cs, &ns, &msg); err != nil {
			return nil, 0, fmt.Errorf("auditlog: verify: read checkpoints: %w", err)
		}
		cp, err := OpenCheckpoint([]byte(msg), logVerifier, otherVerifiers...)
		if err != nil {
			return nil, cs, &IntegrityError{Index: vouched, Reason: fmt.Sprintf("checkpoint stored for size %d does not verify", cs), Err: err}
		}
		if cp.Size != uint64(cs) || cs < 0 {
			return nil, cs, &IntegrityError{Index: vouched, Reason: fmt.Sprintf("checkpoint stored for size %d says size %d", cs, cp.Size)}
		}
		cp.Time = time.Unix(0, ns).UTC()
		return cp, cs, nil
	}
	cp, _, err := nextCheckpoint()
	if err != nil {
		return nil, err
	}
	rng := rangeFactory.NewEmptyRange(0)
	// checkCheckpoints verifies every checkpoint of the current size.
	checkCheckpoints := func(n uint64) error {
		for cp != nil && cp.Size == n {
			if got := rootOf(rng); !bytes.Equal(got, cp.Root) {
				return &IntegrityError{Index: vouched, Reason: fmt.Sprintf("checkpoint of size %d does not match the stored entries below it", n)}
			}
			rep.Checkpoints++
			prev, vouched = cp, n
			var err error
			if cp, _, err = nextCheckpoint(); err != nil {
				return err
			}
		}
		return nil
	}
	if err := checkCheckpoints(0); err != nil {
		return nil, err
	}

	var nodeErr error
	var (
		pos     int64
		stored  []byte
		nodesOK = true
	)
	visit := func(id compact.NodeID, h []byte) {
		if id.Level == 0 || nodeErr != nil {
			return
		}
		want := int64(nodePos(id))
		if nodesOK && nodes.Next() {
			if err := nodes.Scan(&pos, &stored); err != nil {
				nodeErr = fmt.Errorf("auditlog: verify: read tree nodes: %w", err)
				return
			}
		} else {
			nodesOK = false
			pos = -1
		}
		switch {
		case pos != want:
			nodeErr = &IntegrityError{Index: max(firstLeaf(id), vouched), Reason: fmt.Sprintf("tree node (level %d, index %d) is missing or out of place", id.Level, id.Index)}
		case !bytes.Equal(stored, h):
			nodeErr = &IntegrityError{Index: max(firstLeaf(id), vouched), Reason: fmt.Sprintf("tree node (level %d, index %d) does not match the entries", id.Level, id.Index)}
		}
	}

	chunks, stop := scanEntries(entries, S)
	defer stop()
	i := uint64(0)
	for c := range chunks {
		<-c.done
		if c.err != nil {
			return nil, c.err
		}
		for k := range c.rows {
			if ie := c.rows[k].bad; ie != nil {
				return nil, ie
			}
			if err := rng.Append(c.rows[k].hash, visit); err != nil {
				return nil, fmt.Errorf("auditlog: verify: extend tree at %d: %w", i, err)
			}
			if nodeErr != nil {
				return nil, nodeErr
			}
			i++
			if err := checkCheckpoints(i); err != nil {
				return nil, err
			}
		}
	}
	if i < S {
		return nil, &IntegrityError{Index: i, Reason: "entry is missing"}
	}
	if nodesOK && nodes.Next() {
		if err := nodes.Scan(&pos, &stored); err == nil {
			return nil, &IntegrityError{Index: S, Reason: fmt.Sprintf("unexpected tree node at position %d", pos)}
		}
	}
	if cp != nil {
		return nil, &IntegrityError{Index: S, Reason: fmt.Sprintf("checkpoint of size %d covers entries beyond the stored tree of size %d", cp.Size, S)}
	}
	// Any further checkpoint must also lie beyond S; nextCheckpoint already
	// returned nil, so none exists.
	got := rootOf(rng)
	if !bytes.Equal(got, root) {
		return nil, &IntegrityError{Index: vouched, Reason: "stored tree root does not match the entries"}
	}
	var want []byte
	for _, h := range rng.Hashes() {
		want = append(want, h...)
	}
	if !bytes.Equal(want, compactB) {
		return nil, &IntegrityError{Index: vouched, Reason: "stored compact range does not match the entries"}
	}
	if err := r.checkNoExtraEntries(ctx); err != nil {
		return nil, err
	}
	if prev != nil && rep.Checkpoints > 1 {
		if err := r.crossCheckConsistency(ctx, logVerifier, prev); err != nil {
			return nil, err
		}
	}
	rep.Size, rep.Root, rep.Latest = S, got, prev
	rep.Elapsed = time.Since(start)
	return rep, nil
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
				if err := rows.Scan(&r.idx, &r.ns, &r.subj, &r.adept, &r.odept, &r.action, &r.decision, &r.citizen, &r.leaf, &r.body); err != nil {
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
