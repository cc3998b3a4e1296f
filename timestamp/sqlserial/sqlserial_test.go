package sqlserial_test

import (
	"context"
	"encoding/asn1"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
	"github.com/tongxing/tongxing/timestamp"
	"github.com/tongxing/tongxing/timestamp/internal/testpki"
	"github.com/tongxing/tongxing/timestamp/sqlserial"
)

func TestNext(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		src, err := sqlserial.New(ctx, db, "tsa")
		if err != nil {
			t.Fatal(err)
		}
		base := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		tests := []struct {
			name       string
			at         time.Time
			wantSerial int64
			wantLatest time.Time
		}{
			{"ok/first", base, 1, base},
			{"ok/forward", base.Add(time.Second), 2, base.Add(time.Second)},
			{"ok/same-time", base.Add(time.Second), 3, base.Add(time.Second)},
			{"fail/backwards-keeps-latest", base, 4, base.Add(time.Second)},
			{"ok/forward-again", base.Add(2 * time.Second), 5, base.Add(2 * time.Second)},
		}
		for _, tc := range tests {
			serial, latest, err := src.Next(ctx, tc.at)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if serial.Int64() != tc.wantSerial || !latest.Equal(tc.wantLatest) {
				t.Fatalf("%s: serial %s latest %s, want %d %s", tc.name, serial, latest, tc.wantSerial, tc.wantLatest)
			}
		}
		// A second sequence is independent.
		other, err := sqlserial.New(ctx, db, "other")
		if err != nil {
			t.Fatal(err)
		}
		if s, _, err := other.Next(ctx, base); err != nil || s.Int64() != 1 {
			t.Fatalf("other sequence: %v %v", s, err)
		}
	})
}

// TestConcurrentReplicas runs several sources on one sequence at once, as
// replicas sharing a database do, and checks that serials are unique.
func TestConcurrentReplicas(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		const replicas, perReplica = 4, 25
		var mu sync.Mutex
		seen := map[int64]bool{}
		var wg sync.WaitGroup
		for r := 0; r < replicas; r++ {
			src, err := sqlserial.New(ctx, db, "shared")
			if err != nil {
				t.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				prev := int64(0)
				for i := 0; i < perReplica; i++ {
					s, _, err := src.Next(ctx, time.Now())
					if err != nil {
						t.Error(err)
						return
					}
					if s.Int64() <= prev {
						t.Errorf("serial %d not increasing after %d", s.Int64(), prev)
					}
					prev = s.Int64()
					mu.Lock()
					if seen[s.Int64()] {
						t.Errorf("serial %d handed out twice", s.Int64())
					}
					seen[s.Int64()] = true
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(seen) != replicas*perReplica {
			t.Fatalf("%d serials, want %d", len(seen), replicas*perReplica)
		}
	})
}

// TestRestart closes and reopens a SQLite database: serials continue and
// the latest genTime survives.
func TestRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tsa.db")
	late := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	src, err := sqlserial.New(ctx, db, "tsa")
	if err != nil {
		t.Fatal(err)
	}
	first, _, err := src.Next(ctx, late)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	db, err = store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	src, err = sqlserial.New(ctx, db, "tsa")
	if err != nil {
		t.Fatal(err)
	}
	second, latest, err := src.Next(ctx, late.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if second.Cmp(first) <= 0 {
		t.Fatalf("serial %s after restart is not above %s", second, first)
	}
	if !latest.Equal(late) {
		t.Fatalf("latest %s after restart, want %s", latest, late)
	}
}

func newTSA(t *testing.T, src timestamp.SerialSource, now func() time.Time, opts ...timestamp.Option) *timestamp.Authority {
	t.Helper()
	p := testpki.New(t, true, testpki.Options{})
	all := append([]timestamp.Option{
		timestamp.WithPolicy(asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1, 1}),
		timestamp.WithSerialSource(src),
		timestamp.WithClock(now),
	}, opts...)
	a, err := timestamp.NewAuthority(p.LeafKey, p.Chain(), all...)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestAuthorityReplicas runs two Authorities on one database, as two
// replicas do, issuing concurrently: every serial is unique.
func TestAuthorityReplicas(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var replicas []*timestamp.Authority
		for i := 0; i < 2; i++ {
			src, err := sqlserial.New(ctx, db, "tsa")
			if err != nil {
				t.Fatal(err)
			}
			replicas = append(replicas, newTSA(t, src, time.Now, timestamp.WithBackwardsTolerance(time.Second)))
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
						tok, err := a.Timestamp(ctx, make([]byte, 32), timestamp.SM3, timestamp.TimestampOptions{})
						if err != nil {
							t.Error(err)
							return
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
	})
}

// TestAuthorityRestartClockBackwards issues a token, "restarts" with a
// clock set one minute earlier, and expects a timeNotAvailable refusal.
func TestAuthorityRestartClockBackwards(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		late := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
		src, err := sqlserial.New(ctx, db, "tsa")
		if err != nil {
			t.Fatal(err)
		}
		first := newTSA(t, src, func() time.Time { return late })
		if _, err := first.Timestamp(ctx, make([]byte, 32), timestamp.SM3, timestamp.TimestampOptions{}); err != nil {
			t.Fatal(err)
		}
		src2, err := sqlserial.New(ctx, db, "tsa")
		if err != nil {
			t.Fatal(err)
		}
		restarted := newTSA(t, src2, func() time.Time { return late.Add(-time.Minute) })
		_, err = restarted.Timestamp(ctx, make([]byte, 32), timestamp.SM3, timestamp.TimestampOptions{})
		if !errors.Is(err, timestamp.ErrClockBackwards) || !errors.Is(err, timestamp.TimeNotAvailable) {
			t.Fatalf("restart with an earlier clock: %v", err)
		}
		if st := restarted.Stats(); st.ClockBackwards != 1 || st.ClockOK {
			t.Fatalf("stats %+v", st)
		}
	})
}
