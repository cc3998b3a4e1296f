package auditlog

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/proof"

	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// exportBundle writes a small log to db and exports it.
func exportBundle(t testing.TB, db *store.DB, keys *testKeys, n int, q Query) []byte {
	t.Helper()
	ctx := context.Background()
	l := openLog(t, db, keys)
	appendN(t, l, 0, n)
	if err := l.PublishCheckpoint(ctx); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	rep, err := l.Export(ctx, &buf, q)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Checkpoint.Size != uint64(n) {
		t.Fatalf("exported against checkpoint of size %d, want %d", rep.Checkpoint.Size, n)
	}
	return buf.Bytes()
}

func TestBundle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		keys := newKeys(t)
		bundle := exportBundle(t, db, keys, 40, Query{})
		lines := strings.SplitAfter(string(bundle), "\n")
		if len(lines) != 43 || lines[42] != "" {
			t.Fatalf("bundle has %d lines", len(lines))
		}
		join := func(ls ...string) []byte { return []byte(strings.Join(ls, "")) }
		edv := keys.edVerifier(t)
		other := newKeys(t)
		tests := []struct {
			name string
			in   []byte
			key  *testKeys
		}{
			{"ok/whole", bundle, keys},
			{"ok/subset", join(lines[0], lines[5], lines[30], `{"type":"end","entries":2}`+"\n"), keys},
			{"ok/no-final-newline", []byte(strings.TrimSuffix(string(bundle), "\n")), keys},
			{"fail/other-key", bundle, other},
			{"fail/changed-entry-byte", []byte(strings.Replace(string(bundle), `records/3"`, `records/4"`, 1)), keys},
			{"fail/entry-moved", join(lines[0], strings.Replace(lines[5], `"index":4,`, `"index":5,`, 1), `{"type":"end","entries":1}`+"\n"), keys},
			{"fail/truncated", join(lines[:20]...), keys},
			{"fail/miscounted", join(lines[0], lines[1], `{"type":"end","entries":2}`+"\n"), keys},
			{"fail/after-end", join(append(lines, lines[1])...), keys},
			{"fail/empty", nil, keys},
			{"fail/no-header", join(lines[1:]...), keys},
			{"fail/version", []byte(strings.Replace(string(bundle), `"version":1`, `"version":2`, 1)), keys},
			{"fail/unknown-field", []byte(strings.Replace(string(bundle), `{"type":"entry",`, `{"type":"entry","x":1,`, 1)), keys},
			{"fail/pretty-entry", []byte(strings.Replace(string(bundle), `"entry":{"index":`, `"entry":{ "index":`, 1)), keys},
			{"fail/blank-line", join(lines[0], "\n", lines[1]), keys},
			{"fail/long-line", join(lines[0], strings.Repeat(" ", MaxBundleLine+1), "\n"), keys},
			{"fail/proof-hash-short", []byte(strings.Replace(string(bundle), `"proof":["`, `"proof":["AAAA","`, 1)), keys},
			{"fail/beyond-checkpoint", join(lines[0], strings.Replace(lines[1], `"index":0,`, `"index":40,`, 1), `{"type":"end","entries":1}`+"\n"), keys},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				rep, err := VerifyBundleKey(bytes.NewReader(tc.in), testOrigin, &tc.key.sm2.PublicKey)
				if strings.HasPrefix(tc.name, "ok/") {
					if err != nil {
						t.Fatal(err)
					}
					if rep.Checkpoint.Size != 40 {
						t.Fatalf("report %+v", rep)
					}
					if _, err := VerifyBundle(bytes.NewReader(tc.in), edv); err != nil {
						t.Fatalf("Ed25519 verifier: %v", err)
					}
					return
				}
				if !errors.Is(err, ErrBundle) {
					t.Fatalf("err = %v, want ErrBundle", err)
				}
			})
		}
	})
}

// TestExportFilterAndLimit checks filtered exports and the export bound.
func TestExportFilterAndLimit(t *testing.T) {
	db := storetest.SQLite(t)
	keys := newKeys(t)
	bundle := exportBundle(t, db, keys, 30, Query{Actor: "user-2"})
	b, err := ParseBundle(bundle)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Entries) != 4 { // 2, 9, 16, 23
		t.Fatalf("%d entries", len(b.Entries))
	}
	for _, e := range b.Entries {
		if e.Entry.Actor.Subject != "user-2" {
			t.Fatalf("entry %d does not match", e.Index)
		}
	}
	r := NewReader(db, WithMaxExport(3))
	var buf bytes.Buffer
	var qe *QueryError
	if _, err := r.Export(context.Background(), &buf, Query{}); !errors.As(err, &qe) {
		t.Fatalf("export beyond the bound: %v", err)
	}
	if _, err := ParseBundle(buf.Bytes()); !errors.Is(err, ErrBundle) {
		t.Fatalf("an aborted export parses: %v", err)
	}
}

// FuzzParseBundle checks the parser's invariants: accepted bundles hold only
// canonical entries naming their line's index and proofs of 32-byte hashes
// within the limit; VerifyBundle never accepts what ParseBundle rejects.
func FuzzParseBundle(f *testing.F) {
	keys := newKeys(f)
	bundle := memBundle(f, keys, 9)
	f.Add(bundle)
	lines := strings.SplitAfter(string(bundle), "\n")
	f.Add([]byte(lines[0] + `{"type":"end","entries":0}` + "\n"))
	f.Add([]byte(lines[0] + lines[3] + `{"type":"end","entries":1}`))
	f.Add([]byte(`{"type":"checkpoint","version":1,"checkpoint":""}` + "\n"))
	f.Add([]byte("{}\n"))
	v := keys.signer.Verifier()
	f.Fuzz(func(t *testing.T, in []byte) {
		b, err := ParseBundle(in)
		_, verr := VerifyBundle(bytes.NewReader(in), v)
		if err != nil {
			if !errors.Is(err, ErrBundle) {
				t.Fatalf("error does not wrap ErrBundle: %v", err)
			}
			if verr == nil {
				t.Fatalf("VerifyBundle accepted a bundle ParseBundle rejects: %v", err)
			}
			return
		}
		for _, e := range b.Entries {
			again, err := ParseEntry(e.Raw)
			if err != nil || again.Index != e.Index {
				t.Fatalf("accepted entry %d does not re-parse: %v", e.Index, err)
			}
			raw, _ := again.MarshalCanonical()
			if !bytes.Equal(raw, e.Raw) {
				t.Fatal("accepted non-canonical entry")
			}
			if len(e.Proof) > MaxProofLen {
				t.Fatalf("proof of %d hashes accepted", len(e.Proof))
			}
			for _, h := range e.Proof {
				if len(h) != HashSize {
					t.Fatalf("proof hash of %d bytes accepted", len(h))
				}
			}
		}
		if len(b.Checkpoint) > MaxCheckpointSize {
			t.Fatal("oversized checkpoint accepted")
		}
	})
}

// memBundle builds a valid bundle of n entries without a database, with the
// in-memory tree of the tree tests.
func memBundle(t testing.TB, keys *testKeys, n int) []byte {
	m := newMemTree()
	raws := make([][]byte, n)
	for i := range raws {
		e := testEntry(i)
		e.Index = uint64(i)
		raw, err := e.MarshalCanonical()
		if err != nil {
			t.Fatal(err)
		}
		raws[i] = raw
		m.add(raw)
	}
	msg, err := keys.signer.Sign(uint64(n), rootOf(m.rng))
	if err != nil {
		t.Fatal(err)
	}
	b, err := appendBundleHeader(nil, &Checkpoint{Note: msg})
	if err != nil {
		t.Fatal(err)
	}
	for i, raw := range raws {
		nodes, err := proof.Inclusion(uint64(i), uint64(n))
		if err != nil {
			t.Fatal(err)
		}
		hs := make([][]byte, len(nodes.IDs))
		for j, id := range nodes.IDs {
			hs[j] = m.nodes[id]
		}
		p, err := nodes.Rehash(hs, Hasher{}.HashChildren)
		if err != nil {
			t.Fatal(err)
		}
		b = appendBundleEntry(b, uint64(i), raw, p)
	}
	return appendBundleEnd(b, uint64(n))
}

func TestMemBundle(t *testing.T) {
	keys := newKeys(t)
	rep, err := VerifyBundle(bytes.NewReader(memBundle(t, keys, 9)), keys.signer.Verifier())
	if err != nil || rep.Entries != 9 {
		t.Fatalf("%+v %v", rep, err)
	}
}
