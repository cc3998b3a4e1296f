package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// TestGroup commits many concurrent jobs through one Group, one of which
// fails with a unique violation and one of whose callers has given up:
// every other job is durable, the failing one gets its own error, and the
// cancelled one is either written or reported as cancelled, never both.
func TestGroup(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		const q = "INSERT INTO access_tokens (id, token_hash, name, roles, created_at) VALUES (?, ?, ?, ?, ?)"
		if _, err := db.Exec(ctx, q, "taken", []byte("h-taken"), "a", "ra", 1); err != nil {
			t.Fatal(err)
		}
		g := store.NewGroup(db)
		const n = 200
		errs := make([]error, n)
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				hash := []byte(fmt.Sprintf("h-%d", i))
				jctx := ctx
				switch i {
				case 17:
					hash = []byte("h-taken")
				case 42:
					jctx = cancelled
				}
				errs[i] = g.Do(jctx, func(tx *store.Tx) error {
					_, err := tx.Exec(jctx, q, fmt.Sprintf("g-%d", i), hash, "a", "ra", 1)
					return err
				})
			}()
		}
		wg.Wait()
		for i, err := range errs {
			var count int
			if err := db.QueryRow(ctx, "SELECT COUNT(*) FROM access_tokens WHERE id = ?", fmt.Sprintf("g-%d", i)).Scan(&count); err != nil {
				t.Fatal(err)
			}
			switch {
			case i == 17:
				if !store.IsUniqueViolation(err) || count != 0 {
					t.Errorf("job 17: err = %v, %d rows; want its unique violation and no row", err, count)
				}
			case i == 42:
				if (err == nil) != (count == 1) {
					t.Errorf("cancelled job: err = %v with %d rows", err, count)
				}
			default:
				if err != nil || count != 1 {
					t.Errorf("job %d: err = %v, %d rows", i, err, count)
				}
			}
		}
	})
}
