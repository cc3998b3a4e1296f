package auditlog

import (
	"context"
	"testing"
	"time"

	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

func TestCheckpointHistory(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := openLog(t, db, newKeys(t), WithCheckpointInterval(time.Hour))
		for i := range 3 {
			appendN(t, l, i*5, 5)
			if err := l.PublishCheckpoint(ctx); err != nil {
				t.Fatal(err)
			}
		}
		all, err := l.Checkpoints(ctx, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		var sizes []uint64
		for _, cp := range all {
			sizes = append(sizes, cp.Size)
			if len(cp.Note) == 0 || cp.Time.IsZero() {
				t.Errorf("checkpoint %d without note or time", cp.Size)
			}
		}
		if len(sizes) < 3 || sizes[0] != 15 || sizes[len(sizes)-1] > 5 {
			t.Fatalf("sizes %v, want largest first from 15", sizes)
		}
		older, err := l.Checkpoints(ctx, 15, 1)
		if err != nil || len(older) != 1 || older[0].Size >= 15 {
			t.Fatalf("before 15: %v %v", older, err)
		}
		for _, bad := range []int{0, -1, 1001} {
			if _, err := l.Checkpoints(ctx, 0, bad); err == nil {
				t.Errorf("limit %d accepted", bad)
			}
		}
	})
}
