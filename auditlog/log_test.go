package auditlog

import (
	"bytes"
	"context"
	"errors"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"

	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// TestAppendConcurrent appends from many goroutines and checks that indexes
// are dense and unique, entries read back intact, checkpoints appear, proofs
// from storage verify with transparency-dev/merkle, and Verify passes.
func TestAppendConcurrent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		keys := newKeys(t)
		l := openLog(t, db, keys)
		const workers, per = 16, 40
		var mu sync.Mutex
		got := map[uint64]int{}
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; i < per; i++ {
					n := w*per + i
					idx, err := l.Append(ctx, testEntry(n))
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					if prev, dup := got[idx]; dup {
						t.Errorf("index %d given to entries %d and %d", idx, prev, n)
					}
					got[idx] = n
					mu.Unlock()
				}
			}(w)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		const total = workers * per
		for i := uint64(0); i < total; i++ {
			n, ok := got[i]
			if !ok {
				t.Fatalf("index %d was never returned", i)
			}
			e, err := l.Entry(ctx, i)
			if err != nil {
				t.Fatal(err)
			}
			want := testEntry(n)
			if e.Index != i || e.Object.Resource != want.Object.Resource || !e.Time.Equal(want.Time) {
				t.Fatalf("entry %d = %+v, want %+v", i, e, want)
			}
		}
		if err := l.PublishCheckpoint(ctx); err != nil {
			t.Fatal(err)
		}
		cp, err := l.LatestCheckpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if cp.Size != total {
			t.Fatalf("latest checkpoint size %d, want %d", cp.Size, total)
		}
		if _, err := OpenCheckpoint(cp.Note, keys.signer.Verifier()); err != nil {
			t.Fatal(err)
		}
		for _, i := range []uint64{0, 1, 7, total / 2, total - 1} {
			p, err := l.InclusionProof(ctx, i, cp.Size)
			if err != nil {
				t.Fatal(err)
			}
			e, _ := l.Entry(ctx, i)
			raw, _ := e.MarshalCanonical()
			if err := proof.VerifyInclusion(Hasher{}, i, cp.Size, Hasher{}.HashLeaf(raw), p, cp.Root); err != nil {
				t.Fatalf("inclusion of %d: %v", i, err)
			}
		}
		var oldest int64
		if err := db.QueryRow(ctx, "SELECT MIN(size) FROM audit_checkpoints").Scan(&oldest); err != nil {
			t.Fatal(err)
		}
		old, err := l.CheckpointAt(ctx, uint64(oldest))
		if err != nil {
			t.Fatal(err)
		}
		p, err := l.ConsistencyProof(ctx, old.Size, cp.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyConsistency(Hasher{}, old.Size, cp.Size, p, old.Root, cp.Root); err != nil {
			t.Fatal(err)
		}
		rep, err := l.Verify(ctx, keys.signer.Verifier())
		if err != nil {
			t.Fatal(err)
		}
		if rep.Size != total || rep.Checkpoints < 2 || rep.Latest.Size != total {
			t.Fatalf("report %+v", rep)
		}
	})
}

func TestAppendRejectsAndClose(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		keys := newKeys(t)
		l, err := Open(ctx, db, keys.signer, WithCheckpointInterval(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(ctx, Entry{Action: "bad action"}); !errors.Is(err, ErrInvalidEntry) {
			t.Fatalf("invalid entry: err = %v", err)
		}
		idx, err := l.Append(ctx, Entry{Action: "ok"})
		if err != nil || idx != 0 {
			t.Fatalf("append: %d, %v", idx, err)
		}
		e, err := l.Entry(ctx, 0)
		if err != nil || e.Time.IsZero() {
			t.Fatalf("time not filled in: %+v %v", e, err)
		}
		if err := l.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(ctx, Entry{Action: "late"}); !errors.Is(err, ErrClosed) {
			t.Fatalf("append after close: %v", err)
		}
		// Close published a checkpoint covering the entry.
		cp, err := l.LatestCheckpoint(ctx)
		if err != nil || cp.Size != 1 {
			t.Fatalf("final checkpoint: %+v %v", cp, err)
		}
		if _, err := l.Entry(ctx, 5); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing entry: %v", err)
		}
		// A second log on the same database continues the sequence.
		l2 := openLog(t, db, keys)
		if idx, err := l2.Append(ctx, Entry{Action: "again"}); err != nil || idx != 1 {
			t.Fatalf("append after reopen: %d, %v", idx, err)
		}
	})
}

func TestEntriesTail(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := openLog(t, db, newKeys(t))
		appendN(t, l, 0, 30)
		es, err := l.Entries(ctx, 10, 5)
		if err != nil || len(es) != 5 || es[0].Index != 10 || es[4].Index != 14 {
			t.Fatalf("Entries: %v %v", len(es), err)
		}
		tail, err := l.Tail(ctx, 3)
		if err != nil || len(tail) != 3 || tail[0].Index != 27 || tail[2].Index != 29 {
			t.Fatalf("Tail: %v %v", tail, err)
		}
		fctx, cancel := context.WithCancel(ctx)
		var seen []uint64
		err = l.Follow(fctx, 25, time.Millisecond, func(e Entry) error {
			seen = append(seen, e.Index)
			if e.Index == 29 {
				cancel()
			}
			return nil
		})
		if !errors.Is(err, context.Canceled) || len(seen) != 5 {
			t.Fatalf("Follow: %v %v", seen, err)
		}
		if _, err := l.InclusionProof(ctx, 3, 31); err == nil {
			t.Fatal("proof for a size beyond the log")
		}
		if _, err := l.ConsistencyProof(ctx, 5, 4); err == nil {
			t.Fatal("consistency proof with old > new")
		}
		sorted := sort.SliceIsSorted(tail, func(i, j int) bool { return tail[i].Index < tail[j].Index })
		if !sorted {
			t.Fatal("tail not in index order")
		}
	})
}

func TestCheckpointTimestamps(t *testing.T) {
	db := storetest.SQLite(t)
	ctx := context.Background()
	keys := newKeys(t)
	l := openLog(t, db, keys, WithTimestamper(func(_ context.Context, note []byte) ([]byte, error) {
		if bytes.Contains(note, []byte("\n6\n")) {
			return nil, errors.New("TSA unavailable")
		}
		h := Hasher{}.HashLeaf(note)
		return h, nil
	}))
	appendN(t, l, 0, 3)
	if err := l.PublishCheckpoint(ctx); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 3, 3)
	if err := l.PublishCheckpoint(ctx); err != nil {
		t.Fatal(err)
	}
	cp, err := l.CheckpointAt(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Hasher{}).HashLeaf(cp.Note); string(cp.Timestamp) != string(want) {
		t.Fatalf("timestamp %x, want %x", cp.Timestamp, want)
	}
	cp6, err := l.CheckpointAt(ctx, 6)
	if err != nil || cp6.Timestamp != nil {
		t.Fatalf("checkpoint stored despite the TSA failure should have no token: %+v %v", cp6, err)
	}
	var buf bytes.Buffer
	if _, err := l.Export(ctx, &buf, Query{}); err != nil {
		t.Fatal(err)
	}
	br, err := NewBundleReader(&buf)
	if err != nil || br.Timestamp() != nil {
		t.Fatalf("bundle header timestamp: %v", err)
	}
	if _, err := l.Verify(ctx, keys.signer.Verifier()); err != nil {
		t.Fatal(err)
	}
}

// TestDeferredCheckpoints opens a log whose timestamper is not ready yet:
// entries are committed, but no checkpoint is published until
// StartCheckpoints, and the first one carries a token.
func TestDeferredCheckpoints(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		keys := newKeys(t)
		l := openLog(t, db, keys, WithDeferredCheckpoints())
		appendN(t, l, 0, 4)
		if err := l.PublishCheckpoint(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := l.LatestCheckpoint(ctx); !errors.Is(err, ErrNotFound) {
			t.Fatalf("checkpoint before StartCheckpoints: %v, want ErrNotFound", err)
		}
		var calls atomic.Int32
		stamp := func(_ context.Context, note []byte) ([]byte, error) {
			calls.Add(1)
			return Hasher{}.HashLeaf(note), nil
		}
		if err := l.StartCheckpoints(ctx, stamp); err != nil {
			t.Fatal(err)
		}
		if err := l.StartCheckpoints(ctx, stamp); !errors.Is(err, ErrCheckpointsStarted) {
			t.Fatalf("second StartCheckpoints: %v", err)
		}
		var cp *Checkpoint
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
			var err error
			if cp, err = l.LatestCheckpoint(ctx); err == nil && cp.Size == 4 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no checkpoint of size 4 after StartCheckpoints: %+v %v", cp, err)
			}
		}
		if want := (Hasher{}).HashLeaf(cp.Note); string(cp.Timestamp) != string(want) {
			t.Fatalf("first checkpoint carries timestamp %x, want %x", cp.Timestamp, want)
		}
		if calls.Load() == 0 {
			t.Fatal("the timestamper was never called")
		}
	})
}
