package store_test

import (
	"testing"
	"time"

	"github.com/tongxing/tongxing/store"
)

func TestLinger(t *testing.T) {
	t.Run("ok/stops-when-add-says-enough", func(t *testing.T) {
		q := make(chan int, 10)
		for i := range 10 {
			q <- i
		}
		var got []int
		open := store.Linger(q, time.Hour, func(x int) bool { got = append(got, x); return len(got) < 3 })
		if !open || len(got) != 3 || len(q) != 7 {
			t.Fatalf("open %v, got %v, %d left queued", open, got, len(q))
		}
	})
	t.Run("ok/stops-when-the-time-is-up", func(t *testing.T) {
		q := make(chan int)
		if open := store.Linger(q, time.Millisecond, func(int) bool { t.Error("nothing was queued"); return true }); !open {
			t.Fatal("reported closed")
		}
	})
	t.Run("ok/reports-a-closed-queue", func(t *testing.T) {
		q := make(chan int, 1)
		q <- 1
		close(q)
		var got []int
		if open := store.Linger(q, time.Hour, func(x int) bool { got = append(got, x); return true }); open || len(got) != 1 {
			t.Fatalf("open %v, got %v", open, got)
		}
	})
}
