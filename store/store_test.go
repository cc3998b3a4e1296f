package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

func TestRebind(t *testing.T) {
	tests := []struct {
		name    string
		dialect store.Dialect
		in, out string
	}{
		{"ok/sqlite-untouched", store.SQLite, "SELECT a FROM t WHERE b = ? AND c = ?", "SELECT a FROM t WHERE b = ? AND c = ?"},
		{"ok/postgres-numbered", store.Postgres, "SELECT a FROM t WHERE b = ? AND c = ?", "SELECT a FROM t WHERE b = $1 AND c = $2"},
		{"ok/postgres-quoted-kept", store.Postgres, "SELECT '?' FROM t WHERE b = ?", "SELECT '?' FROM t WHERE b = $1"},
		{"ok/postgres-none", store.Postgres, "SELECT 1", "SELECT 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := store.RebindFor(tt.dialect, tt.in); got != tt.out {
				t.Errorf("rebind(%q) = %q, want %q", tt.in, got, tt.out)
			}
		})
	}
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	t.Run("fail/empty", func(t *testing.T) {
		if _, err := store.Open(ctx, ""); err == nil {
			t.Fatal("Open(\"\") succeeded")
		}
	})
	t.Run("fail/unreachable-postgres", func(t *testing.T) {
		_, err := store.Open(ctx, "postgres://nobody:secret@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
		if err == nil {
			t.Fatal("Open of an unreachable server succeeded")
		}
		if got := err.Error(); contains(got, "secret") {
			t.Errorf("error leaks the password: %s", got)
		}
	})
	t.Run("ok/sqlite-reopen-keeps-data", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "sub", "x.db")
		db, err := store.Open(ctx, "sqlite:"+path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, "INSERT INTO access_tokens (id, token_hash, name, roles, created_at) VALUES (?, ?, ?, ?, ?)", "t1", []byte{1}, "n", "admin", 1); err != nil {
			t.Fatal(err)
		}
		db.Close()
		db, err = store.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n int
		if err := db.QueryRow(ctx, "SELECT COUNT(*) FROM access_tokens").Scan(&n); err != nil || n != 1 {
			t.Fatalf("after reopen: count = %d, err = %v; want 1 row", n, err)
		}
	})
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// TestBackends is the storage suite every backend must pass.
func TestBackends(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		t.Run("ok/migrated", func(t *testing.T) {
			v, err := db.SchemaVersion(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if v < 2 {
				t.Errorf("schema version = %d, want >= 2", v)
			}
		})
		t.Run("ok/bytes-and-bigint-round-trip", func(t *testing.T) {
			blob := []byte{0, 1, 2, 0xff, 0}
			const big = int64(1) << 62
			if _, err := db.Exec(ctx, "INSERT INTO access_tokens (id, token_hash, name, roles, created_at) VALUES (?, ?, ?, ?, ?)", "rt", blob, "name", "ra", big); err != nil {
				t.Fatal(err)
			}
			var (
				gotBlob []byte
				gotBig  int64
			)
			if err := db.QueryRow(ctx, "SELECT token_hash, created_at FROM access_tokens WHERE id = ?", "rt").Scan(&gotBlob, &gotBig); err != nil {
				t.Fatal(err)
			}
			if string(gotBlob) != string(blob) || gotBig != big {
				t.Errorf("got %x %d, want %x %d", gotBlob, gotBig, blob, big)
			}
		})
		t.Run("ok/prepared-statements", func(t *testing.T) {
			const ins = "INSERT INTO access_tokens (id, token_hash, name, roles, created_at) VALUES (?, ?, ?, ?, ?)"
			const sel = "SELECT name FROM access_tokens WHERE id = ?"
			// Several transactions, so that the statement prepared once
			// runs on the transaction's connection each time.
			for i, id := range []string{"p1", "p2", "p3"} {
				if err := db.InTx(ctx, func(tx *store.Tx) error {
					_, err := tx.ExecPrepared(ctx, ins, id, []byte("h-"+id), "prepared-"+id, "ra", int64(i))
					return err
				}); err != nil {
					t.Fatalf("insert %s: %v", id, err)
				}
				var name string
				if err := db.QueryRowPrepared(ctx, sel, id).Scan(&name); err != nil || name != "prepared-"+id {
					t.Fatalf("select %s: %q, %v", id, name, err)
				}
			}
			// A statement that cannot be prepared reports why, every time.
			for range 2 {
				var n int
				if err := db.QueryRowPrepared(ctx, "SELECT nope FROM no_such_table").Scan(&n); err == nil {
					t.Error("a query on a missing table succeeded")
				}
				if err := db.InTx(ctx, func(tx *store.Tx) error {
					_, err := tx.ExecPrepared(ctx, "DELETE FROM no_such_table")
					return err
				}); err == nil {
					t.Error("a statement on a missing table succeeded")
				}
			}
		})
		t.Run("fail/unique-violation-detected", func(t *testing.T) {
			q := "INSERT INTO access_tokens (id, token_hash, name, roles, created_at) VALUES (?, ?, ?, ?, ?)"
			if _, err := db.Exec(ctx, q, "u1", []byte("h-unique"), "a", "ra", 1); err != nil {
				t.Fatal(err)
			}
			_, err := db.Exec(ctx, q, "u2", []byte("h-unique"), "b", "ra", 1)
			if !store.IsUniqueViolation(err) {
				t.Fatalf("duplicate insert: err = %v, want a unique violation", err)
			}
			if store.IsUniqueViolation(errors.New("other")) {
				t.Error("IsUniqueViolation(other error) = true")
			}
		})
		t.Run("ok/tx-rollback-on-error", func(t *testing.T) {
			boom := errors.New("boom")
			err := db.InTx(ctx, func(tx *store.Tx) error {
				if _, err := tx.Exec(ctx, "INSERT INTO access_tokens (id, token_hash, name, roles, created_at) VALUES (?, ?, ?, ?, ?)", "rb", []byte("rb"), "a", "ra", 1); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("InTx err = %v, want boom", err)
			}
			var n int
			if err := db.QueryRow(ctx, "SELECT COUNT(*) FROM access_tokens WHERE id = ?", "rb").Scan(&n); err != nil || n != 0 {
				t.Fatalf("rolled-back row visible: n=%d err=%v", n, err)
			}
		})
		t.Run("ok/concurrent-conditional-update-wins-once", func(t *testing.T) {
			// The pattern behind single-use codes: many writers race to set a
			// column that is still NULL; exactly one may win.
			if _, err := db.Exec(ctx, "INSERT INTO access_tokens (id, token_hash, name, roles, created_at) VALUES (?, ?, ?, ?, ?)", "race", []byte("race"), "a", "ra", 1); err != nil {
				t.Fatal(err)
			}
			const writers = 16
			var (
				wg   sync.WaitGroup
				mu   sync.Mutex
				wins int
				errs []error
			)
			for i := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := db.InTx(ctx, func(tx *store.Tx) error {
						res, err := tx.Exec(ctx, "UPDATE access_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", i+1, "race")
						if err != nil {
							return err
						}
						n, err := res.RowsAffected()
						if err != nil {
							return err
						}
						if n == 1 {
							mu.Lock()
							wins++
							mu.Unlock()
						}
						return nil
					})
					if err != nil {
						mu.Lock()
						errs = append(errs, fmt.Errorf("writer %d: %w", i, err))
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if len(errs) > 0 {
				t.Fatal(errors.Join(errs...))
			}
			if wins != 1 {
				t.Fatalf("%d writers won the conditional update, want exactly 1", wins)
			}
		})
		t.Run("ok/ping", func(t *testing.T) {
			if err := db.Ping(ctx); err != nil {
				t.Fatal(err)
			}
		})
	})
}
