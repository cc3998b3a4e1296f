package auditlog

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// TestTamper changes stored data the way an attacker with database access
// would and checks that Verify fails naming the first bad index.
func TestTamper(t *testing.T) {
	const n = 20
	body := func(t *testing.T, db *store.DB, idx int) []byte {
		var b []byte
		if err := db.QueryRow(context.Background(), "SELECT body FROM audit_entries WHERE idx = ?", idx).Scan(&b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	exec := func(t *testing.T, db *store.DB, q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(context.Background(), q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	tests := []struct {
		name      string
		tamper    func(t *testing.T, db *store.DB)
		wantIndex uint64
		minIndex  uint64 // when the data only localises a range [minIndex, wantIndex]
		reason    string
	}{
		{name: "ok/untouched", tamper: func(*testing.T, *store.DB) {}},
		{name: "fail/changed-one-byte", wantIndex: 7, reason: "leaf hash", tamper: func(t *testing.T, db *store.DB) {
			b := body(t, db, 7)
			i := bytes.Index(b, []byte(`records/7"`)) + len("records/")
			b[i] = '8'
			exec(t, db, "UPDATE audit_entries SET body = ? WHERE idx = 7", b)
		}},
		{name: "fail/changed-byte-and-leaf-hash", minIndex: 6, wantIndex: 7, reason: "tree node", tamper: func(t *testing.T, db *store.DB) {
			b := body(t, db, 7)
			i := bytes.Index(b, []byte(`records/7"`)) + len("records/")
			b[i] = '8'
			exec(t, db, "UPDATE audit_entries SET body = ?, leaf_hash = ? WHERE idx = 7", b, Hasher{}.HashLeaf(b))
		}},
		{name: "fail/unparseable-byte", wantIndex: 4, reason: "does not parse", tamper: func(t *testing.T, db *store.DB) {
			b := body(t, db, 4)
			b[len(b)-1] = ' '
			exec(t, db, "UPDATE audit_entries SET body = ? WHERE idx = 4", b)
		}},
		{name: "fail/deleted-row", wantIndex: 11, reason: "missing", tamper: func(t *testing.T, db *store.DB) {
			exec(t, db, "DELETE FROM audit_entries WHERE idx = 11")
		}},
		{name: "fail/deleted-last-row", wantIndex: n - 1, reason: "missing", tamper: func(t *testing.T, db *store.DB) {
			exec(t, db, "DELETE FROM audit_entries WHERE idx = ?", n-1)
		}},
		{name: "fail/swapped-rows", wantIndex: 3, reason: "says index 9", tamper: func(t *testing.T, db *store.DB) {
			exec(t, db, "UPDATE audit_entries SET idx = -1 WHERE idx = 3")
			exec(t, db, "UPDATE audit_entries SET idx = 3 WHERE idx = 9")
			exec(t, db, "UPDATE audit_entries SET idx = 9 WHERE idx = -1")
		}},
		{name: "fail/swapped-bodies", wantIndex: 2, reason: "says index 5", tamper: func(t *testing.T, db *store.DB) {
			b2, b5 := body(t, db, 2), body(t, db, 5)
			exec(t, db, "UPDATE audit_entries SET body = ? WHERE idx = 2", b5)
			exec(t, db, "UPDATE audit_entries SET body = ? WHERE idx = 5", b2)
		}},
		{name: "fail/changed-search-column", wantIndex: 5, reason: "search columns", tamper: func(t *testing.T, db *store.DB) {
			exec(t, db, "UPDATE audit_entries SET actor_subject = 'someone-else' WHERE idx = 5")
		}},
		{name: "fail/changed-node", minIndex: 8, wantIndex: 8, reason: "tree node", tamper: func(t *testing.T, db *store.DB) {
			// The level-2 node over leaves 8..11.
			exec(t, db, "UPDATE audit_nodes SET hash = ? WHERE pos = ?", Hasher{}.EmptyRoot(), int64(nodePos(nodeID(2, 2))))
		}},
		{name: "fail/row-beyond-tree", wantIndex: n, reason: "beyond", tamper: func(t *testing.T, db *store.DB) {
			exec(t, db, `INSERT INTO audit_entries (idx, time_ns, actor_subject, actor_department, object_department, action, decision, citizen_hash, leaf_hash, body)
				SELECT ?, time_ns, actor_subject, actor_department, object_department, action, decision, citizen_hash, leaf_hash, body FROM audit_entries WHERE idx = 0`, n)
		}},
		{name: "fail/changed-search-row", wantIndex: 5, reason: "search table row", tamper: func(t *testing.T, db *store.DB) {
			exec(t, db, "UPDATE audit_search SET actor_subject = 'someone-else' WHERE idx = 5")
		}},
		{name: "fail/search-row-deleted", wantIndex: 6, reason: "missing from the search table", tamper: func(t *testing.T, db *store.DB) {
			exec(t, db, "DELETE FROM audit_search WHERE idx = 6")
		}},
		{name: "fail/search-row-without-entry", wantIndex: n, reason: "search table row", tamper: func(t *testing.T, db *store.DB) {
			exec(t, db, "INSERT INTO audit_search ("+searchColumns+") SELECT ?, time_ns, actor_subject, actor_department, object_department, action, decision, citizen_hash FROM audit_search WHERE idx = 0", n)
		}},
		{name: "fail/forged-checkpoint", wantIndex: 0, reason: "does not verify", tamper: func(t *testing.T, db *store.DB) {
			var note string
			if err := db.QueryRow(context.Background(), "SELECT note FROM audit_checkpoints WHERE size = ?", n).Scan(&note); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(note, "\n")
			lines[2] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" // another root, signature kept
			exec(t, db, "UPDATE audit_checkpoints SET note = ? WHERE size = ?", strings.Join(lines, "\n"), n)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				ctx := context.Background()
				keys, r := verifiedLog(t, db, n)
				tc.tamper(t, db)
				rep, err := r.Verify(ctx, keys.signer.Verifier())
				if strings.HasPrefix(tc.name, "ok/") {
					if err != nil || rep.Size != n {
						t.Fatalf("verify: %+v %v", rep, err)
					}
					return
				}
				var ie *IntegrityError
				if !errors.As(err, &ie) {
					t.Fatalf("err = %v, want *IntegrityError", err)
				}
				lo := tc.wantIndex
				if tc.minIndex != 0 {
					lo = tc.minIndex
				}
				if ie.Index < lo || ie.Index > tc.wantIndex || !strings.Contains(err.Error(), tc.reason) {
					t.Fatalf("err = %v; want index %d..%d and %q", err, lo, tc.wantIndex, tc.reason)
				}
				t.Logf("detected: %v", err)
			})
		})
	}
}

// verifiedLog appends n entries to a new log on db, closes it (which
// publishes the checkpoint of size n) and checks that the log verifies. It
// returns the checkpoint keys and a reader of db.
func verifiedLog(t *testing.T, db *store.DB, n int) (*testKeys, *Reader) {
	t.Helper()
	ctx := context.Background()
	keys := newKeys(t)
	l, err := Open(ctx, db, keys.signer, WithCheckpointInterval(time.Hour), WithLeaderRetry(10*time.Millisecond), WithPollInterval(2*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 0, n)
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := l.CheckpointAt(ctx, uint64(n)); err != nil {
		t.Fatalf("no final checkpoint: %v", err)
	}
	r := NewReader(db)
	if _, err := r.Verify(ctx, keys.signer.Verifier()); err != nil {
		t.Fatalf("verify before tampering: %v", err)
	}
	return keys, r
}

// TestTamperSQLiteTypes changes the type of a stored value, which SQLite
// allows in any column (PostgreSQL enforces the declared types): a BLOB
// holding a text's bytes reads back in Go as the same string, while SQL
// comparisons, and so searches, never match it. Verify must notice.
func TestTamperSQLiteTypes(t *testing.T) {
	const n = 20
	for _, tc := range []struct {
		name, tamper string
		wantIndex    uint64
		reason       string
	}{
		{"blob-search-column", "UPDATE audit_search SET actor_subject = CAST(actor_subject AS BLOB) WHERE idx = 12", 12, "wrong type"},
		{"blob-search-time", "UPDATE audit_search SET time_ns = CAST(CAST(time_ns AS TEXT) AS BLOB) WHERE idx = 7", 7, "wrong type"},
		{"text-search-index", "INSERT INTO audit_search (" + searchColumns + ") VALUES ('zz', 0, '', '', '', '', '', '')", n, "not an integer"},
		{"blob-entry-column", "UPDATE audit_entries SET actor_subject = CAST(actor_subject AS BLOB) WHERE idx = 12", 12, "wrong type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db := storetest.SQLite(t)
			keys, r := verifiedLog(t, db, n)
			if _, err := db.Exec(ctx, tc.tamper); err != nil {
				t.Fatal(err)
			}
			_, err := r.Verify(ctx, keys.signer.Verifier())
			var ie *IntegrityError
			if !errors.As(err, &ie) || ie.Index != tc.wantIndex || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("err = %v; want an IntegrityError at %d with %q", err, tc.wantIndex, tc.reason)
			}
			t.Logf("detected: %v", err)
		})
	}
}
