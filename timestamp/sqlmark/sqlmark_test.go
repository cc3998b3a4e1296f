package sqlmark_test

import (
	"context"
	"encoding/asn1"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tongxing/tongxing/internal/testpki"
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
	"github.com/tongxing/tongxing/timestamp"
	"github.com/tongxing/tongxing/timestamp/sqlmark"
)

func TestRaiseLoad(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		m, err := sqlmark.New(db, "tsa/a")
		if err != nil {
			t.Fatal(err)
		}
		if got, err := m.Load(ctx); err != nil || !got.IsZero() {
			t.Fatalf("fresh mark = %s, %v; want zero", got, err)
		}
		base := time.Date(2026, 5, 1, 12, 0, 0, 123456789, time.UTC)
		tests := []struct {
			name  string
			raise time.Time
			want  time.Time
		}{
			{"ok/first", base, base},
			{"ok/later", base.Add(time.Second), base.Add(time.Second)},
			{"ok/earlier-keeps-later", base, base.Add(time.Second)},
			{"ok/same", base.Add(time.Second), base.Add(time.Second)},
		}
		for _, tc := range tests {
			if err := m.Raise(ctx, tc.raise); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			got, err := m.Load(ctx)
			if err != nil || !got.Equal(tc.want) {
				t.Fatalf("%s: mark %s, %v; want %s", tc.name, got, err, tc.want)
			}
		}
		other, _ := sqlmark.New(db, "tsa/b")
		if got, err := other.Load(ctx); err != nil || !got.IsZero() {
			t.Fatalf("another replica's mark = %s, %v; want zero", got, err)
		}
	})
}

func TestNewRefuses(t *testing.T) {
	if _, err := sqlmark.New(nil, "tsa"); err == nil {
		t.Fatal("New(nil db) accepted")
	}
}

// TestRestart closes and reopens a SQLite database: the mark survives.
func TestRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tsa.db")
	late := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := sqlmark.New(db, "tsa/a")
	if err := m.Raise(ctx, late); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m, _ = sqlmark.New(db, "tsa/a")
	if got, err := m.Load(ctx); err != nil || !got.Equal(late) {
		t.Fatalf("mark after restart %s, %v; want %s", got, err, late)
	}
}

func newTSA(t *testing.T, wm timestamp.Watermark, now func() time.Time, opts ...timestamp.Option) *timestamp.Authority {
	t.Helper()
	p := testpki.NewTSA(t, kms.GM, testpki.TSAOptions{})
	all := append([]timestamp.Option{
		timestamp.WithPolicy(asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1, 1}),
		timestamp.WithWatermark(wm, 0),
		timestamp.WithClock(now),
	}, opts...)
	a, err := timestamp.NewAuthority(p.LeafKey, p.Chain(), all...)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestAuthorityReplicas runs two Authorities on one database, as two
// replicas do, one with its clock 300 ms behind the other and no backwards
// tolerance, issuing concurrently: nothing is refused and every serial is
// unique.
func TestAuthorityReplicas(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var replicas []*timestamp.Authority
		for i, skew := range []time.Duration{0, -300 * time.Millisecond} {
			wm, err := sqlmark.New(db, "tsa/replica-"+string(rune('a'+i)))
			if err != nil {
				t.Fatal(err)
			}
			replicas = append(replicas, newTSA(t, wm, func() time.Time { return time.Now().Add(skew) }))
		}
		var mu sync.Mutex
		seen := map[string]bool{}
		var wg sync.WaitGroup
		for _, a := range replicas {
			for w := 0; w < 2; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 20; i++ {
						tok, err := a.Timestamp(ctx, make([]byte, 32), timestamp.SM3, timestamp.TokenOptions{})
						if err != nil {
							t.Error(err)
							return
						}
						if n := tok.Info.SerialNumber; n.Sign() <= 0 || n.BitLen() > timestamp.SerialBits {
							t.Errorf("serial %s is not a positive %d-bit integer", n, timestamp.SerialBits)
						}
						mu.Lock()
						if seen[tok.Info.SerialNumber.String()] {
							t.Errorf("serial %s issued twice", tok.Info.SerialNumber)
						}
						seen[tok.Info.SerialNumber.String()] = true
						mu.Unlock()
					}
				}()
			}
		}
		wg.Wait()
		if len(seen) != 80 {
			t.Fatalf("%d serials, want 80", len(seen))
		}
		for _, a := range replicas {
			if st := a.Stats(); st.ClockBackwards != 0 || !st.ClockOK {
				t.Fatalf("a replica refused: %+v", st)
			}
		}
	})
}

// TestAuthorityRestart issues tokens, "restarts" on the same mark, and
// checks that the next token is not earlier than any before the restart,
// however soon it is asked for; a clock a minute behind is refused.
func TestAuthorityRestart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		wm, _ := sqlmark.New(db, "tsa/a")
		first := newTSA(t, wm, time.Now)
		var latest time.Time
		for i := 0; i < 5; i++ {
			tok, err := first.Timestamp(ctx, make([]byte, 32), timestamp.SM3, timestamp.TokenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			latest = tok.Info.GenTime
		}
		mark, err := wm.Load(ctx)
		if err != nil || mark.Before(latest) {
			t.Fatalf("stored mark %s (%v) is before the latest token %s", mark, err, latest)
		}

		wm2, _ := sqlmark.New(db, "tsa/a")
		restarted := newTSA(t, wm2, time.Now)
		tok, err := restarted.Timestamp(ctx, make([]byte, 32), timestamp.SM3, timestamp.TokenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if tok.Info.GenTime.Before(mark) {
			t.Fatalf("token after restart at %s, before the previous run's mark %s", tok.Info.GenTime, mark)
		}

		wm3, _ := sqlmark.New(db, "tsa/a")
		behind := newTSA(t, wm3, func() time.Time { return time.Now().Add(-time.Minute) })
		_, err = behind.Timestamp(ctx, make([]byte, 32), timestamp.SM3, timestamp.TokenOptions{})
		if !errors.Is(err, timestamp.ErrClockBackwards) || !errors.Is(err, timestamp.TimeNotAvailable) {
			t.Fatalf("restart with a clock a minute behind: %v", err)
		}
		if st := behind.Stats(); st.ClockBackwards != 1 || st.ClockOK {
			t.Fatalf("stats %+v", st)
		}
	})
}
