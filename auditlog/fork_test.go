package auditlog

import (
	"context"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"

	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// TestSequencerSignsNoForkedTree plays an insider with write access to the
// database but not to the audit keys. After a checkpoint of size 8 is
// signed, they rewrite entry 3, recompute its leaf hash, the tree nodes and
// the tree state, add one entry so that the running sequencer's
// compare-and-set fails and it reloads the state, and delete the
// checkpoint that no longer matches. The sequencer must not go on to sign
// checkpoints of the rewritten tree: that would give the forgery the audit
// key's signature, and `audit verify` would accept it.
func TestSequencerSignsNoForkedTree(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		keys := newKeys(t)
		l := openLog(t, db, keys, WithCheckpointInterval(time.Hour))
		appendN(t, l, 0, 8)
		if err := l.PublishCheckpoint(ctx); err != nil {
			t.Fatal(err)
		}
		signed, err := l.CheckpointAt(ctx, 8)
		if err != nil {
			t.Fatal(err)
		}

		// The insider's rewrite, with SQL only.
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := db.Exec(ctx, q, args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		var bodies [][]byte
		for i := 0; i < 8; i++ {
			var b []byte
			if err := db.QueryRow(ctx, "SELECT body FROM audit_entries WHERE idx = ?", i).Scan(&b); err != nil {
				t.Fatal(err)
			}
			bodies = append(bodies, b)
		}
		e3, err := ParseEntry(bodies[3])
		if err != nil {
			t.Fatal(err)
		}
		e3.Object.Resource = "/gw/nothing-to-see-here"
		forged3, err := e3.MarshalCanonical()
		if err != nil {
			t.Fatal(err)
		}
		bodies[3] = forged3
		e8 := testEntry(100)
		e8.Index = 8
		b8, err := e8.MarshalCanonical()
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, b8)
		rng := rangeFactory.NewEmptyRange(0)
		exec("DELETE FROM audit_nodes")
		for i, b := range bodies {
			if err := rng.Append(Hasher{}.HashLeaf(b), func(id compact.NodeID, h []byte) {
				if id.Level > 0 {
					exec("INSERT INTO audit_nodes (pos, hash) VALUES (?, ?)", int64(nodePos(id)), h)
				}
			}); err != nil {
				t.Fatal(err)
			}
			if i == 3 {
				exec("UPDATE audit_entries SET body = ?, leaf_hash = ? WHERE idx = 3", b, Hasher{}.HashLeaf(b))
			}
		}
		exec(`INSERT INTO audit_entries (idx, time_ns, actor_subject, actor_department, object_department, action, decision, citizen_hash, leaf_hash, body)
			VALUES (8, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, e8.Time.UnixNano(), e8.Actor.Subject, e8.Actor.Department, e8.Object.Department,
			e8.Action, e8.Decision, e8.CitizenHash, Hasher{}.HashLeaf(b8), b8)
		var compactBytes []byte
		for _, h := range rng.Hashes() {
			compactBytes = append(compactBytes, h...)
		}
		exec("UPDATE audit_tree SET size = 9, root = ?, compact = ? WHERE id = 1", rootOf(rng), compactBytes)
		exec("DELETE FROM audit_checkpoints WHERE size > 3")

		// The server goes on logging and checkpointing.
		for i := 0; i < 2; i++ {
			if _, err := l.Append(ctx, testEntry(200+i)); err != nil {
				t.Logf("append after the rewrite refused: %v", err)
			}
		}
		if err := l.PublishCheckpoint(ctx); err != nil {
			t.Logf("publish after the rewrite refused: %v", err)
		}

		latest, err := l.LatestCheckpoint(ctx)
		if err != nil || latest.Size <= signed.Size {
			return // nothing signed beyond the genuine checkpoint
		}
		cp, err := OpenCheckpoint(latest.Note, keys.signer.Verifier())
		if err != nil {
			t.Fatal(err)
		}
		p, err := l.InclusionProof(ctx, 3, cp.Size)
		if err != nil {
			t.Fatal(err)
		}
		if proof.VerifyInclusion(Hasher{}, 3, cp.Size, Hasher{}.HashLeaf(forged3), p, cp.Root) == nil {
			rep, verr := NewReader(db).Verify(ctx, keys.signer.Verifier())
			t.Fatalf("the log signed checkpoint %d over the rewritten entry 3 (its checkpoint %d said otherwise); audit verify: %+v, err %v",
				cp.Size, signed.Size, rep, verr)
		}
	})
}
