package auditlog

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"golang.org/x/mod/sumdb/note"

	"github.com/tongxing/tongxing/store"
)

const testOrigin = "audit.tongxing.test/log"

type testKeys struct {
	sm2    *sm2.PrivateKey
	ed     ed25519.PrivateKey
	signer *CheckpointSigner
}

func newKeys(t testing.TB) *testKeys {
	t.Helper()
	k, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewCheckpointSigner(testOrigin, k, ed)
	if err != nil {
		t.Fatal(err)
	}
	return &testKeys{sm2: k, ed: ed, signer: s}
}

// edVerifier is the Ed25519 co-signature's note verifier.
func (k *testKeys) edVerifier(t testing.TB) note.Verifier {
	t.Helper()
	vkey, err := note.NewEd25519VerifierKey(testOrigin, k.ed.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// openLog opens a log with a short checkpoint interval and closes it when
// the test ends.
func openLog(t testing.TB, db *store.DB, keys *testKeys, opts ...Option) *Log {
	t.Helper()
	opts = append([]Option{WithCheckpointInterval(50 * time.Millisecond), WithPollInterval(5 * time.Millisecond),
		WithLeaderRetry(50 * time.Millisecond), WithCitizenKey(citizenKey)}, opts...)
	l, err := Open(context.Background(), db, keys.signer, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := l.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return l
}

var testBase = time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)

// testEntry is the i-th entry of a varied synthetic workload.
func testEntry(i int) Entry {
	depts := []string{"gongan", "minzheng", "shebao", "shuiwu"}
	actions := []string{"gateway.call", "ca.certificate.issue", "authn.login", "audit.entries.search"}
	e := Entry{
		Time:     testBase.Add(time.Duration(i) * time.Second),
		Actor:    Actor{Subject: fmt.Sprintf("user-%d", i%7), Department: depts[i%4], Client: "portal", SourceAddr: "10.1.2.3:4000"},
		Action:   actions[i%len(actions)],
		Object:   Object{Resource: fmt.Sprintf("/gw/%s/v1/records/%d", depts[(i+1)%4], i), Department: depts[(i+1)%4]},
		Outcome:  "200",
		Latency:  time.Duration(i) * time.Microsecond,
		Reasons:  []string{},
		Decision: DecisionNone,
	}
	if i%3 == 0 {
		e.Decision, e.Reasons = DecisionAllow, []string{"agreement"}
	} else if i%3 == 1 {
		e.Decision, e.Reasons = DecisionDeny, []string{"no agreement"}
	}
	if i%5 == 0 {
		e.CitizenHash = CitizenHash(citizenKey, fmt.Sprintf("citizen-%d", i%10))
	}
	return e
}

// testItems returns testEntry(start) ... testEntry(start+n-1) ready for
// Log.sequence, which tests and benchmarks call directly to commit large
// batches.
func testItems(t testing.TB, start, n int) []seqItem {
	t.Helper()
	items := make([]seqItem, 0, n)
	for j := start; j < start+n; j++ {
		e := testEntry(j)
		body, err := e.MarshalCanonical()
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, seqItem{entry: e, rest: body[len(indexPrefix)+1:]})
	}
	return items
}

func appendN(t testing.TB, l *Log, start, n int) []uint64 {
	t.Helper()
	out := make([]uint64, n)
	for i := 0; i < n; i++ {
		idx, err := l.Append(context.Background(), testEntry(start+i))
		if err != nil {
			t.Fatalf("append %d: %v", start+i, err)
		}
		out[i] = idx
	}
	return out
}

// withDeferHooks sets how long deferred appends wait and the hooks called
// when a batch of them starts waiting and after each commit.
func withDeferHooks(wait time.Duration, onLinger func(), onCommit func(entries int)) Option {
	return func(o *options) { o.deferLinger, o.onLinger, o.onCommit = wait, onLinger, onCommit }
}
