package auditlog

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// commitLog records the size of every commit.
type commitLog struct {
	mu    sync.Mutex
	sizes []int
}

func (c *commitLog) add(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sizes = append(c.sizes, n)
}

func (c *commitLog) get() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.sizes...)
}

type deferResult struct {
	idx uint64
	err error
}

// startDeferred appends e deferred in the background and returns once the
// sequencer holds it, waiting for an append to share its commit.
func startDeferred(t *testing.T, l *Log, lingering <-chan struct{}, e Entry) <-chan deferResult {
	t.Helper()
	done := make(chan deferResult, 1)
	go func() {
		idx, err := l.AppendDeferred(context.Background(), e)
		done <- deferResult{idx, err}
	}()
	select {
	case <-lingering:
	case r := <-done:
		t.Fatalf("the deferred append was committed without waiting for another: index %d, %v", r.idx, r.err)
	}
	return done
}

func TestAppendDeferred(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		t.Run("alone", func(t *testing.T) {
			// With nothing to share its commit, a deferred append is
			// committed on its own once its wait ends.
			l := openLog(t, db, newKeys(t))
			idx, err := l.AppendDeferred(ctx, testEntry(1))
			if err != nil {
				t.Fatal(err)
			}
			if e, err := l.Entry(ctx, idx); err != nil || e.Action != testEntry(1).Action {
				t.Fatalf("entry %d: %+v %v", idx, e, err)
			}
		})
	})
	// The cases below count the sequencer's commits, which a log on SQLite
	// makes for every append (on PostgreSQL one that has not yet taken the
	// sequencer's lease stores appends as pending instead).
	db := storetest.SQLite(t)
	ctx := context.Background()
	t.Run("shares the next commit", func(t *testing.T) {
		var commits commitLog
		lingering := make(chan struct{}, 1)
		l := openLog(t, db, newKeys(t), withDeferHooks(time.Hour, func() { lingering <- struct{}{} }, commits.add))
		before := len(commits.get())
		d := startDeferred(t, l, lingering, testEntry(2))
		eager, err := l.Append(ctx, testEntry(3))
		if err != nil {
			t.Fatal(err)
		}
		r := <-d
		if r.err != nil || r.idx+1 != eager {
			t.Fatalf("deferred append: index %d, %v; the next append got %d", r.idx, r.err, eager)
		}
		if got := commits.get()[before:]; len(got) != 1 || got[0] != 2 {
			t.Fatalf("commits after the deferred append = %v, want one of 2 entries", got)
		}
	})
	t.Run("committed at close", func(t *testing.T) {
		lingering := make(chan struct{}, 1)
		keys := newKeys(t)
		l, err := Open(ctx, db, keys.signer, withDeferHooks(time.Hour, func() { lingering <- struct{}{} }, nil))
		if err != nil {
			t.Fatal(err)
		}
		d := startDeferred(t, l, lingering, testEntry(4))
		if err := l.Close(ctx); err != nil {
			t.Fatal(err)
		}
		r := <-d
		if r.err != nil {
			t.Fatalf("deferred append waiting at close: %v", r.err)
		}
		l2 := openLog(t, db, keys)
		if e, err := l2.Entry(ctx, r.idx); err != nil || e.Action != testEntry(4).Action {
			t.Fatalf("entry %d after reopening: %+v %v", r.idx, e, err)
		}
	})
}
