package auditlog

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"

	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// Environment of the crash-test writer process.
const (
	envCrashDSN = "TONGXING_AUDITLOG_CRASH_DSN"
	envCrashKey = "TONGXING_AUDITLOG_CRASH_KEY" // hex SM2 scalar, then ":" and hex Ed25519 seed
)

// TestCrashWriter is the child process of TestCrash; run directly it does
// nothing. It appends from 8 goroutines until killed and prints
// "ack <index> <resource>" after each Append returns.
func TestCrashWriter(t *testing.T) {
	dsn := os.Getenv(envCrashDSN)
	if dsn == "" {
		return // not started by TestCrash
	}
	ctx := context.Background()
	keys := crashKeys(t, os.Getenv(envCrashKey))
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(ctx, db, keys.signer, WithCheckpointInterval(20*time.Millisecond), WithPollInterval(5*time.Millisecond),
		WithLeaderRetry(20*time.Millisecond), WithMaxBatch(64))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	out := os.Stdout
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				e := testEntry(i)
				e.Object.Resource = fmt.Sprintf("crash/%d/%d", w, i)
				idx, err := l.Append(ctx, e)
				if err != nil {
					fmt.Fprintf(os.Stderr, "append: %v\n", err)
					os.Exit(3)
				}
				mu.Lock()
				fmt.Fprintf(out, "ack %d %s\n", idx, e.Object.Resource)
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
}

func crashKeys(t testing.TB, s string) *testKeys {
	t.Helper()
	a, b, ok := strings.Cut(s, ":")
	d, err1 := hex.DecodeString(a)
	seed, err2 := hex.DecodeString(b)
	if !ok || err1 != nil || err2 != nil {
		t.Fatalf("bad %s", envCrashKey)
	}
	k, err := sm2.NewPrivateKey(d)
	if err != nil {
		t.Fatal(err)
	}
	ed := ed25519.NewKeyFromSeed(seed)
	signer, err := NewCheckpointSigner(testOrigin, k, ed)
	if err != nil {
		t.Fatal(err)
	}
	return &testKeys{sm2: k, ed: ed, signer: signer}
}

// TestCrash starts a writer process, kills it with SIGKILL in the middle of
// a burst of appends, and checks that every index it acknowledged holds the
// acknowledged entry and that the log verifies and keeps growing. On
// PostgreSQL this process also appends during the burst (through the pending
// table, since the writer holds the sequencer lock) and must take over the
// sequencer role when the writer dies.
func TestCrash(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		crashOnce(t, filepath.Join(t.TempDir(), "crash.db"), false)
	})
	t.Run("postgres", func(t *testing.T) {
		crashOnce(t, storetest.PostgresDSN(t), true)
	})
}

func crashOnce(t *testing.T, dsn string, concurrentReplica bool) {
	ctx := context.Background()
	keys := newKeys(t)
	keyEnv := hex.EncodeToString(keys.sm2.D.FillBytes(make([]byte, 32))) + ":" + hex.EncodeToString(keys.ed.Seed())

	// On PostgreSQL a second replica runs in this process during the burst.
	// Its database is opened (and migrated) first; its log starts after the
	// writer's first acknowledgement, so the writer holds the sequencer lock.
	var replica *Log
	var replicaAcked sync.Map
	var replicaWG sync.WaitGroup
	stopReplica := make(chan struct{})
	var replicaDB *store.DB
	if concurrentReplica {
		db, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		replicaDB = db
	}
	startReplica := func() {
		replica = openLog(t, replicaDB, keys)
		for w := 0; w < 2; w++ {
			replicaWG.Add(1)
			go func(w int) {
				defer replicaWG.Done()
				for i := 0; ; i++ {
					select {
					case <-stopReplica:
						return
					default:
					}
					e := testEntry(i)
					e.Object.Resource = fmt.Sprintf("replica/%d/%d", w, i)
					idx, err := replica.Append(ctx, e)
					if err != nil {
						t.Errorf("replica append: %v", err)
						return
					}
					replicaAcked.Store(idx, e.Object.Resource)
				}
			}(w)
		}
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashWriter$", "-test.count=1")
	cmd.Env = append(os.Environ(), envCrashDSN+"="+dsn, envCrashKey+"="+keyEnv)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()

	acked := map[uint64]string{}
	killAt := 300 + rand.IntN(700)
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[0] != "ack" {
			continue // test framework output
		}
		idx, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			t.Fatalf("bad line %q", sc.Text())
		}
		if prev, dup := acked[idx]; dup {
			t.Fatalf("index %d acknowledged twice (%s, %s)", idx, prev, f[2])
		}
		acked[idx] = f[2]
		if len(acked) == 1 && concurrentReplica {
			startReplica()
		}
		if len(acked) == killAt && !killed {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
			// Keep reading: lines already written were acknowledged.
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatalf("writer exited before it was killed, after %d acks", len(acked))
	}
	t.Logf("writer killed after %d acknowledged appends", len(acked))

	if concurrentReplica {
		// The replica takes over the sequencer role and its own appends keep
		// succeeding.
		waitFor(t, "the replica to take over", replica.IsSequencer)
		time.Sleep(100 * time.Millisecond)
		close(stopReplica)
		replicaWG.Wait()
		n := 0
		replicaAcked.Range(func(k, v any) bool {
			idx := k.(uint64)
			if prev, dup := acked[idx]; dup {
				t.Fatalf("index %d given to %s and %s", idx, prev, v)
			}
			acked[idx] = v.(string)
			n++
			return true
		})
		if n == 0 {
			t.Fatal("the replica acknowledged nothing")
		}
		t.Logf("replica acknowledged %d appends", n)
	}

	// Restart: reopen the store, check every acknowledged entry, verify.
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	l := openLog(t, db, keys)
	if concurrentReplica {
		l = replica
	}
	for idx, res := range acked {
		e, err := l.Entry(ctx, idx)
		if err != nil {
			t.Fatalf("acknowledged entry %d: %v", idx, err)
		}
		if e.Object.Resource != res {
			t.Fatalf("entry %d is %q, acknowledged as %q", idx, e.Object.Resource, res)
		}
	}
	waitFor(t, "a sequencer", l.IsSequencer)
	appendN(t, l, 0, 5)
	if err := l.PublishCheckpoint(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := NewReader(db).Verify(ctx, keys.signer.Verifier())
	if err != nil {
		t.Fatalf("log does not verify after the crash: %v", err)
	}
	if rep.Size < uint64(len(acked))+5 {
		t.Fatalf("tree size %d < %d acknowledged + 5", rep.Size, len(acked))
	}
	var pending int
	db.QueryRow(ctx, "SELECT COUNT(*) FROM audit_pending").Scan(&pending)
	t.Logf("tree size %d after restart, %d checkpoints verified, %d pending", rep.Size, rep.Checkpoints, pending)
}
