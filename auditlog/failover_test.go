package auditlog

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// TestSequencerFailover runs two logs (as two replicas would) on one
// PostgreSQL database. The first takes the sequencer lock; the second hands
// its entries over through the pending table. Then the first one's lock
// session is terminated mid-burst, and later the first is shut down: at no
// time are there two sequencers, one takes over each time, and every
// acknowledged entry has exactly one index. (The crash test covers a
// sequencer killed with SIGKILL.)
func TestSequencerFailover(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	ctx := context.Background()
	open := func() *store.DB {
		db, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	dbA, dbB := open(), open()
	keys := newKeys(t)
	a := openLog(t, dbA, keys)
	waitFor(t, "A to become the sequencer", a.IsSequencer)
	b := openLog(t, dbB, keys)
	time.Sleep(100 * time.Millisecond) // B tries the lock at least once
	if b.IsSequencer() {
		t.Fatal("both logs hold the sequencer lock")
	}

	var mu sync.Mutex
	acked := map[uint64]string{}
	burst := func(l *Log, name string, from, n int) *sync.WaitGroup {
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := from + w; i < from+n; i += 4 {
					e := testEntry(i)
					e.Object.Resource = name + "/" + itoa(uint64(i))
					idx, err := l.Append(ctx, e)
					if err != nil {
						t.Errorf("%s append %d: %v", name, i, err)
						return
					}
					mu.Lock()
					if prev, dup := acked[idx]; dup {
						t.Errorf("index %d given to %s and %s", idx, prev, e.Object.Resource)
					}
					acked[idx] = e.Object.Resource
					mu.Unlock()
				}
			}(w)
		}
		return &wg
	}
	w1, w2 := burst(a, "A", 0, 60), burst(b, "B", 0, 60)
	w1.Wait()
	w2.Wait()

	// Kill A's lock session, as if its network had failed, while both keep
	// appending: one of them (A again, or B) must end up sequencing.
	w3, w4 := burst(a, "A", 60, 80), burst(b, "B", 60, 80)
	var pid int
	if err := dbB.QueryRow(ctx, `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&pid); err != nil {
		t.Fatalf("find the sequencer's session: %v", err)
	}
	if _, err := dbB.Exec(ctx, "SELECT pg_terminate_backend(?)", pid); err != nil {
		t.Fatal(err)
	}
	w3.Wait()
	w4.Wait()
	waitFor(t, "a sequencer", func() bool { return a.IsSequencer() || b.IsSequencer() })
	if a.IsSequencer() && b.IsSequencer() {
		t.Fatal("two sequencers")
	}

	// Shut A down mid-burst: B must take over.
	w5 := burst(b, "B", 140, 20)
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	w5.Wait()
	waitFor(t, "B to sequence", b.IsSequencer)

	size, err := b.TreeSize(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if size != 300 || len(acked) != 300 {
		t.Fatalf("tree size %d, %d acknowledged; want 300", size, len(acked))
	}
	for idx, res := range acked {
		e, err := b.Entry(ctx, idx)
		if err != nil || e.Object.Resource != res {
			t.Fatalf("entry %d = %q (%v), acknowledged for %q", idx, e.Object.Resource, err, res)
		}
	}
	if err := b.PublishCheckpoint(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := b.Verify(ctx, keys.signer.Verifier())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Latest == nil || rep.Latest.Size != 300 {
		t.Fatalf("report %+v", rep)
	}
	var pending int
	dbB.QueryRow(ctx, "SELECT COUNT(*) FROM audit_pending").Scan(&pending)
	if pending != 0 {
		t.Fatalf("%d entries left pending", pending)
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
