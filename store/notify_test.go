package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

type heard struct {
	up    chan struct{}
	notes chan [2]string
}

func (h *heard) Up()                            { h.up <- struct{}{} }
func (h *heard) Notify(channel, payload string) { h.notes <- [2]string{channel, payload} }
func (h *heard) Down(error)                     {}

// TestNotify: a notification queued in a transaction arrives when it
// commits, not when it rolls back; SQLite has none and says so.
func TestNotify(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if db.Dialect() != store.Postgres {
			if err := db.Listen(ctx, []string{"c"}, time.Second, &heard{}); !errors.Is(err, store.ErrNoNotifications) {
				t.Fatalf("Listen on SQLite = %v", err)
			}
			if err := db.InTx(ctx, func(tx *store.Tx) error { return tx.Notify(ctx, "c", "x") }); err != nil {
				t.Fatalf("Notify on SQLite: %v", err)
			}
			return
		}
		h := &heard{up: make(chan struct{}, 1), notes: make(chan [2]string, 8)}
		done := make(chan error, 1)
		go func() { done <- db.Listen(ctx, []string{"tongxing test \"q\""}, 10*time.Millisecond, h) }()
		<-h.up
		ch := "tongxing test \"q\""
		_ = db.InTx(ctx, func(tx *store.Tx) error {
			tx.Notify(ctx, ch, "rolled back")
			return errors.New("roll back")
		})
		if err := db.InTx(ctx, func(tx *store.Tx) error { return tx.Notify(ctx, ch, "committed") }); err != nil {
			t.Fatal(err)
		}
		if err := db.Notify(ctx, ch, "direct"); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"committed", "direct"} {
			got := <-h.notes
			if got != [2]string{ch, want} {
				t.Fatalf("heard %q, want %q on %q", got, want, ch)
			}
		}
		if err := db.Notify(ctx, ch, string(make([]byte, store.MaxNotifyPayload+1))); err == nil {
			t.Fatal("an oversized payload was sent")
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Listen after cancel: %v", err)
		}
	})
}
