package auditlog

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tongxing/tongxing/store"
)

// Benchmarks are not run by CI. Figures are reported per run; for example
//
//	go test -run '^$' -bench 'AppendParallel' -benchtime 200000x ./auditlog/
//	go test -run '^$' -bench 'AppendOne' -benchtime 3000x ./auditlog/
//	TONGXING_AUDIT_BENCH_ENTRIES=1000000 go test -run '^$' -bench 'Search|Verify' -benchtime 20x -timeout 1h ./auditlog/
//
// TONGXING_AUDIT_BENCH_DIR keeps the large benchmark database between runs.

// benchSQLiteLog opens a log on a new SQLite database in dir, closed when
// the benchmark ends.
func benchSQLiteLog(b *testing.B, dir string) *Log {
	db, err := store.Open(context.Background(), filepath.Join(dir, "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	l, err := Open(context.Background(), db, newKeys(b).signer)
	if err != nil {
		db.Close()
		b.Fatal(err)
	}
	b.Cleanup(func() {
		l.Close(context.Background())
		db.Close()
	})
	return l
}

// BenchmarkAppendOne measures one append at a time on SQLite
// (synchronous=FULL), the latency a single caller waits, beside a raw
// write and fsync of 4 KiB in the same directory, interleaved.
func BenchmarkAppendOne(b *testing.B) {
	dir := b.TempDir()
	l := benchSQLiteLog(b, dir)
	f, err := os.Create(filepath.Join(dir, "fsync"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	token := make([]byte, 1200) // about a gm timestamp token
	app := make([]time.Duration, 0, b.N)
	raw := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		t := time.Now()
		e := testEntry(i)
		e.TimestampToken = fmt.Sprintf("tsa:serial:%032x", i)
		if _, err := l.AppendWithToken(context.Background(), e, token); err != nil {
			b.Fatal(err)
		}
		app = append(app, time.Since(t))
		t = time.Now()
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		raw = append(raw, time.Since(t))
	}
	slices.Sort(app)
	slices.Sort(raw)
	b.ReportMetric(float64(app[len(app)/2].Microseconds()), "append-p50-µs")
	b.ReportMetric(float64(raw[len(raw)/2].Microseconds()), "fsync-p50-µs")
}

// BenchmarkAppendParallel measures group-committed appends on SQLite
// (synchronous=FULL) from many goroutines.
func BenchmarkAppendParallel(b *testing.B) {
	for _, par := range []int{16, 64, 256} {
		b.Run(fmt.Sprintf("goroutines=%d", par), func(b *testing.B) {
			l := benchSQLiteLog(b, b.TempDir())
			var n atomic.Int64
			b.SetParallelism(max(1, par/runtime.GOMAXPROCS(0)))
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := int(n.Add(1))
					if _, err := l.Append(context.Background(), testEntry(i)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "appends/s")
		})
	}
}

// benchLog returns a reader over a SQLite log of TONGXING_AUDIT_BENCH_ENTRIES
// entries (default 1,000,000), built once per directory with large batches,
// and the keys that signed it.
func benchLog(b *testing.B) (*Reader, *testKeys, int) {
	b.Helper()
	n := 1_000_000
	if s := os.Getenv("TONGXING_AUDIT_BENCH_ENTRIES"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			b.Fatalf("TONGXING_AUDIT_BENCH_ENTRIES=%q", s)
		}
		n = v
	}
	dir := os.Getenv("TONGXING_AUDIT_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	path := filepath.Join(dir, fmt.Sprintf("audit-bench-%d.db", n))
	keyPath := path + ".key"
	ctx := context.Background()
	db, err := store.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	var keys *testKeys
	if kb, err := os.ReadFile(keyPath); err == nil {
		keys = crashKeys(b, string(kb))
	} else {
		keys = newKeys(b)
		s := fmt.Sprintf("%x:%x", keys.sm2.D.FillBytes(make([]byte, 32)), keys.ed.Seed())
		if err := os.WriteFile(keyPath, []byte(s), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	r := NewReader(db, WithCitizenKey(citizenKey))
	size, err := r.TreeSize(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if size >= uint64(n) {
		return r, keys, n
	}
	l, err := Open(ctx, db, keys.signer, WithCheckpointInterval(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	const batch = 4096
	for i := int(size); i < n; i += batch {
		if _, err := l.sequence(testItems(b, i, min(batch, n-i))); err != nil {
			b.Fatal(err)
		}
		if err := l.publish(ctx); err != nil { // one checkpoint per batch
			b.Fatal(err)
		}
	}
	if err := l.Close(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("built a log of %d entries in %s", n, time.Since(start))
	return r, keys, n
}

// BenchmarkSearch measures one page (limit 100) of indexed searches over the
// benchmark log.
func BenchmarkSearch(b *testing.B) {
	r, _, n := benchLog(b)
	ctx := context.Background()
	mid := testBase.Add(time.Duration(n/2) * time.Second)
	deep, err := r.Search(ctx, Query{Actor: "user-3", From: mid, Limit: 100})
	if err != nil || deep.Next == "" {
		b.Fatalf("no deep cursor: %v", err)
	}
	queries := []struct {
		name string
		q    Query
	}{
		{"time-range-1h", Query{From: mid, To: mid.Add(time.Hour)}},
		{"actor", Query{Actor: "user-3"}},
		{"actor+time-range", Query{Actor: "user-3", From: mid, To: mid.Add(24 * time.Hour)}},
		{"department", Query{Department: "gongan", From: mid}},
		{"action+decision", Query{Action: "gateway.call", Decision: DecisionDeny, From: mid}},
		{"citizen-subject", Query{CitizenSubject: "citizen-5"}},
		{"deep-page", Query{Actor: "user-3", From: mid, Cursor: deep.Next}},
	}
	for _, tc := range queries {
		b.Run(tc.name, func(b *testing.B) {
			tc.q.Limit = 100
			for b.Loop() {
				p, err := r.Search(ctx, tc.q)
				if err != nil {
					b.Fatal(err)
				}
				if len(p.Entries) == 0 {
					b.Fatal("no results")
				}
			}
		})
	}
}

// BenchmarkVerify measures full verification of the benchmark log.
func BenchmarkVerify(b *testing.B) {
	r, keys, _ := benchLog(b)
	ctx := context.Background()
	for b.Loop() {
		rep, err := r.Verify(ctx, keys.signer.Verifier())
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(rep.Size)/rep.Elapsed.Seconds(), "entries/s")
		b.ReportMetric(float64(rep.Checkpoints), "checkpoints")
	}
}
