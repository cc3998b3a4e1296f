package auditlog

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
)

// refRoot is RFC 6962 section 2.1's MTH, written from scratch: the root of
// leaves is the hash of the roots of its first k leaves and the rest, where k
// is the largest power of two below n.
func refRoot(leaves [][]byte) []byte {
	h := Hasher{}
	switch n := len(leaves); n {
	case 0:
		return h.EmptyRoot()
	case 1:
		return h.HashLeaf(leaves[0])
	default:
		k := 1
		for k*2 < n {
			k *= 2
		}
		return h.HashChildren(refRoot(leaves[:k]), refRoot(leaves[k:]))
	}
}

// memTree keeps every node the compact range reports, as the database does.
type memTree struct {
	rng   *compact.Range
	nodes map[compact.NodeID][]byte
	order []compact.NodeID
}

func newMemTree() *memTree {
	return &memTree{rng: rangeFactory.NewEmptyRange(0), nodes: map[compact.NodeID][]byte{}}
}

func (m *memTree) add(leaf []byte) {
	if err := m.rng.Append(Hasher{}.HashLeaf(leaf), func(id compact.NodeID, h []byte) {
		m.nodes[id] = h
		m.order = append(m.order, id)
	}); err != nil {
		panic(err)
	}
}

func (m *memTree) proof(t *testing.T, n proof.Nodes) [][]byte {
	t.Helper()
	hs := make([][]byte, len(n.IDs))
	for i, id := range n.IDs {
		h, ok := m.nodes[id]
		if !ok {
			t.Fatalf("node %+v not stored", id)
		}
		hs[i] = h
	}
	p, err := n.Rehash(hs, Hasher{}.HashChildren)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func testLeaves(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte(fmt.Sprintf("leaf %d", i))
	}
	return out
}

// TestTreeAgainstReference checks, for every size 1..N, the compact-range
// root against the from-scratch recursion, every inclusion proof and every
// consistency proof with transparency-dev/merkle's verifiers, and that
// tampered proofs fail.
func TestTreeAgainstReference(t *testing.T) {
	const N = 80
	leaves := testLeaves(N)
	m := newMemTree()
	roots := [][]byte{Hasher{}.EmptyRoot()}
	for size := 1; size <= N; size++ {
		m.add(leaves[size-1])
		want := refRoot(leaves[:size])
		if got := rootOf(m.rng); !bytes.Equal(got, want) {
			t.Fatalf("size %d: compact root %x, reference %x", size, got, want)
		}
		roots = append(roots, want)
	}
	if !bytes.Equal(rootOf(rangeFactory.NewEmptyRange(0)), refRoot(nil)) {
		t.Fatal("empty root differs from reference")
	}
	for size := uint64(1); size <= N; size++ {
		for i := uint64(0); i < size; i++ {
			n, err := proof.Inclusion(i, size)
			if err != nil {
				t.Fatal(err)
			}
			p := m.proof(t, n)
			leaf := Hasher{}.HashLeaf(leaves[i])
			if err := proof.VerifyInclusion(Hasher{}, i, size, leaf, p, roots[size]); err != nil {
				t.Fatalf("ok/inclusion %d in %d: %v", i, size, err)
			}
			if len(p) > 0 {
				bad := clone2(p)
				bad[len(bad)/2][0] ^= 1
				if proof.VerifyInclusion(Hasher{}, i, size, leaf, bad, roots[size]) == nil {
					t.Fatalf("fail/inclusion %d in %d: tampered proof verified", i, size)
				}
			}
			if proof.VerifyInclusion(Hasher{}, i, size, Hasher{}.HashLeaf([]byte("other")), p, roots[size]) == nil {
				t.Fatalf("fail/inclusion %d in %d: other leaf verified", i, size)
			}
		}
		for old := uint64(0); old <= size; old++ {
			n, err := proof.Consistency(old, size)
			if err != nil {
				t.Fatal(err)
			}
			p := m.proof(t, n)
			if err := proof.VerifyConsistency(Hasher{}, old, size, p, roots[old], roots[size]); err != nil {
				t.Fatalf("ok/consistency %d->%d: %v", old, size, err)
			}
			if len(p) > 0 {
				bad := clone2(p)
				bad[0][0] ^= 1
				if proof.VerifyConsistency(Hasher{}, old, size, bad, roots[old], roots[size]) == nil {
					t.Fatalf("fail/consistency %d->%d: tampered proof verified", old, size)
				}
			}
		}
	}
}

func clone2(p [][]byte) [][]byte {
	out := make([][]byte, len(p))
	for i := range p {
		out[i] = bytes.Clone(p[i])
	}
	return out
}

// TestNodePos checks that post-order positions are exactly the order in
// which compact ranges report nodes, which Verify relies on.
func TestNodePos(t *testing.T) {
	m := newMemTree()
	for _, l := range testLeaves(1000) {
		m.add(l)
	}
	for i, id := range m.order {
		if got := nodePos(id); got != uint64(i) {
			t.Fatalf("node %+v: position %d, reported %d-th", id, got, i)
		}
	}
	for size := uint64(0); size <= 1000; size++ {
		var n uint64
		for _, id := range m.order {
			if _, end := id.Coverage(); end <= size {
				n++
			}
		}
		if nodeCount(size) != n {
			t.Fatalf("nodeCount(%d) = %d, want %d", size, nodeCount(size), n)
		}
	}
}

func TestDecodeState(t *testing.T) {
	m := newMemTree()
	for _, l := range testLeaves(13) {
		m.add(l)
	}
	st := treeState{size: 13, rng: m.rng, root: rootOf(m.rng)}
	tests := []struct {
		name    string
		size    uint64
		root    []byte
		compact []byte
	}{
		{"ok/round-trip", 13, st.root, st.compactBytes()},
		{"fail/wrong-root", 13, Hasher{}.EmptyRoot(), st.compactBytes()},
		{"fail/wrong-size", 12, st.root, st.compactBytes()},
		{"fail/ragged", 13, st.root, st.compactBytes()[1:]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeState(tc.size, tc.root, tc.compact)
			if tc.name[:3] == "ok/" {
				if err != nil || !got.rng.Equal(st.rng) || !bytes.Equal(got.root, st.root) {
					t.Fatalf("round trip: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func nodeID(level uint, index uint64) compact.NodeID { return compact.NewNodeID(level, index) }
