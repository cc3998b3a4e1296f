package authn

import (
	"context"
	"testing"
	"time"

	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

func TestRotateDue(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := newClock()
		p := newTestProvider(t, db, clk)
		current := func() map[string]string {
			out := map[string]string{}
			for _, alg := range signingAlgs {
				var kid string
				if err := db.QueryRow(ctx, "SELECT kid FROM authn_keys WHERE alg = ? AND state = 'current'", alg).Scan(&kid); err != nil {
					t.Fatal(err)
				}
				out[alg] = kid
			}
			return out
		}
		before := current()
		if got, err := p.RotateDue(ctx, 90*24*time.Hour); err != nil || len(got) != 0 {
			t.Fatalf("fresh keys rotated: %v, %v", got, err)
		}
		clk.Advance(91 * 24 * time.Hour)
		got, err := p.RotateDue(ctx, 90*24*time.Hour)
		if err != nil || len(got) != len(signingAlgs) {
			t.Fatalf("RotateDue after 91 days: %v, %v", got, err)
		}
		after := current()
		for _, alg := range signingAlgs {
			if before[alg] == after[alg] {
				t.Errorf("%s key not rotated", alg)
			}
		}
		if got, err := p.RotateDue(ctx, 90*24*time.Hour); err != nil || len(got) != 0 {
			t.Errorf("just-rotated keys rotated again: %v, %v", got, err)
		}
		if _, err := p.RotateDue(ctx, 0); err == nil {
			t.Error("RotateDue(0) accepted")
		}
	})
}
