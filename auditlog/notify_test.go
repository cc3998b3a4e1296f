package auditlog

import (
	"context"
	"testing"
	"time"

	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// pgPair opens two logs on one PostgreSQL database, as two replicas: the
// first holds the sequencer lock, the second hands entries over.
func pgPair(t testing.TB, opts ...Option) (seq, other *Log) {
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
	keys := newKeys(t)
	seq = openLog(t, open(), keys, opts...)
	waitFor(t, "the first log to sequence", seq.IsSequencer)
	other = openLog(t, open(), keys, opts...)
	time.Sleep(100 * time.Millisecond) // the second tries the lock at least once
	if other.IsSequencer() {
		t.Fatal("both logs hold the sequencer lock")
	}
	return seq, other
}

// TestNotifyWakesSequencerAndWaiter shows that, with polling effectively
// off (an hour), an append on a process that does not sequence still
// completes: the pending insert wakes the sequencer and the receipts wake
// the waiting process.
func TestNotifyWakesSequencerAndWaiter(t *testing.T) {
	seq, other := pgPair(t, WithPollInterval(time.Hour))
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		idx, err := other.Append(ctx, testEntry(i))
		if err != nil {
			t.Fatalf("append %d on the non-sequencer: %v", i, err)
		}
		e, err := seq.Entry(ctx, idx)
		if err != nil {
			t.Fatalf("entry %d: %v", idx, err)
		}
		if e.Object.Resource != testEntry(i).Object.Resource {
			t.Fatalf("entry %d holds %q, want %q", idx, e.Object.Resource, testEntry(i).Object.Resource)
		}
	}
}

// TestNotifyOffStillPolls checks the fallback: without notifications the
// non-sequencer's appends complete through polling.
func TestNotifyOffStillPolls(t *testing.T) {
	_, other := pgPair(t, WithNotify(false))
	if _, err := other.Append(context.Background(), testEntry(1)); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkAppendNonSequencer measures one append at a time on a process
// that does not hold the sequencer lock, with notifications (the default)
// and with polling only (default 20ms poll interval).
func BenchmarkAppendNonSequencer(b *testing.B) {
	for _, bc := range []struct {
		name string
		on   bool
	}{{"notify", true}, {"poll", false}} {
		b.Run(bc.name, func(b *testing.B) {
			_, other := pgPair(b, WithNotify(bc.on), WithPollInterval(DefaultPollInterval))
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := other.Append(ctx, testEntry(i)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestNotifyReceiptBeforeWaiter: the sequencer may sequence a pending
// entry, commit its receipt and notify before the process that handed the
// entry over has come back from committing it; the woken waiter's look for
// receipts then comes before the hand-off returns. With polling
// effectively off, the append must still complete.
func TestNotifyReceiptBeforeWaiter(t *testing.T) {
	seq, other := pgPair(t, WithPollInterval(time.Hour))
	ctx := context.Background()
	other.handoff.committed = func([]string) {
		// Hold the hand-off until the sequencer has sequenced the entry
		// (with it its receipt is committed and notified), then look for
		// receipts, as the waiter woken by the notification does.
		for {
			var n int
			if err := seq.db.QueryRow(ctx, "SELECT COUNT(*) FROM audit_entries").Scan(&n); err != nil {
				t.Error(err)
				return
			}
			if n > 0 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		other.collectReceipts()
	}
	idx, err := other.Append(ctx, testEntry(7))
	if err != nil {
		t.Fatal(err)
	}
	if e, err := seq.Entry(ctx, idx); err != nil || e.Object.Resource != testEntry(7).Object.Resource {
		t.Fatalf("entry %d: %+v, %v", idx, e, err)
	}
}
