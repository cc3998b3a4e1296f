package auditlog

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// TestStageTx: entries staged in a caller's transaction are in the log once
// it commits, with no receipt left behind, and nothing of a rolled-back
// transaction or an invalid entry is.
func TestStageTx(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		keys := newKeys(t)
		l := openLog(t, db, keys)
		if _, err := l.Append(ctx, testEntry(0)); err != nil {
			t.Fatal(err)
		}

		t.Run("ok/committed", func(t *testing.T) {
			err := db.InTx(ctx, func(tx *store.Tx) error {
				return l.StageTx(ctx, tx, testEntry(1), testEntry(2))
			})
			if err != nil {
				t.Fatal(err)
			}
			l.Kick()
			waitFor(t, "staged entries sequenced", func() bool {
				n, err := l.TreeSize(ctx)
				return err == nil && n == 3
			})
			for i := uint64(1); i <= 2; i++ {
				e, err := l.Entry(ctx, i)
				want := testEntry(int(i))
				if err != nil || e.Action != want.Action || e.Object.Resource != want.Object.Resource || !e.Time.Equal(want.Time) {
					t.Fatalf("entry %d = %+v, %v; want %+v", i, e, err, want)
				}
			}
			var receipts, pending int
			db.QueryRow(ctx, "SELECT COUNT(*) FROM audit_receipts").Scan(&receipts)
			db.QueryRow(ctx, "SELECT COUNT(*) FROM audit_pending").Scan(&pending)
			if receipts != 0 || pending != 0 {
				t.Fatalf("%d receipts and %d pending rows left", receipts, pending)
			}
		})

		t.Run("ok/rolled-back", func(t *testing.T) {
			boom := errors.New("the action failed")
			err := db.InTx(ctx, func(tx *store.Tx) error {
				if err := l.StageTx(ctx, tx, testEntry(3)); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("InTx = %v", err)
			}
			l.Kick()
			if _, err := l.Append(ctx, testEntry(4)); err != nil { // a sequencing round after the kick
				t.Fatal(err)
			}
			if n, _ := l.TreeSize(ctx); n != 4 {
				t.Fatalf("tree size %d, want 4: the rolled-back entry must not be there", n)
			}
		})

		t.Run("fail/invalid-entry", func(t *testing.T) {
			bad := testEntry(5)
			bad.Action = "not an action!"
			err := db.InTx(ctx, func(tx *store.Tx) error { return l.StageTx(ctx, tx, bad) })
			if !errors.Is(err, ErrInvalidEntry) {
				t.Fatalf("StageTx with an invalid entry: %v", err)
			}
		})

		if _, err := l.Verify(ctx, keys.signer.Verifier()); err != nil {
			t.Fatalf("log with staged entries does not verify: %v", err)
		}
	})
}

// TestStagedBeforeCrash: an entry staged and committed by a process that
// died before sequencing it is sequenced when the log opens again.
func TestStagedBeforeCrash(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "audit.db")
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	keys := newKeys(t)
	// Staging needs only the table: write through a log, never kicked or
	// closed, as a process that dies right after its commit.
	dead, err := Open(ctx, db, keys.signer, WithCitizenKey(citizenKey))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // after the checks: by then there is nothing left to sequence
		dead.Close(ctx)
		db.Close()
	})
	if err := db.InTx(ctx, func(tx *store.Tx) error { return dead.StageTx(ctx, tx, testEntry(7)) }); err != nil {
		t.Fatal(err)
	}
	var pending int
	db.QueryRow(ctx, "SELECT COUNT(*) FROM audit_pending").Scan(&pending)
	if pending != 1 {
		t.Fatalf("%d pending rows after the commit, want 1", pending)
	}
	db2, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	l := openLog(t, db2, keys)
	if n, err := l.TreeSize(ctx); err != nil || n != 1 {
		t.Fatalf("tree size after reopening: %d, %v; want the staged entry", n, err)
	}
	if e, err := l.Entry(ctx, 0); err != nil || e.Action != testEntry(7).Action {
		t.Fatalf("entry 0 = %+v, %v", e, err)
	}
}
