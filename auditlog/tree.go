package auditlog

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/bits"
	"strings"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"

	"github.com/tongxing/tongxing/store"
)

// rangeFactory builds compact ranges with the SM3 hasher.
var rangeFactory = &compact.RangeFactory{Hash: Hasher{}.HashChildren}

// nodePos returns the post-order position of the perfect-subtree node id in
// the infinite left-to-right tree: the number of nodes completed before it
// when leaves are appended one by one and each completed node is visited
// after its children (the order compact.Range.Append reports them).
func nodePos(id compact.NodeID) uint64 {
	m := (id.Index + 1) << id.Level // leaves up to and including this node's last
	return 2*m - uint64(bits.OnesCount64(m)) - uint64(bits.TrailingZeros64(m)) + uint64(id.Level) - 1
}

// nodeCount returns the number of perfect-subtree nodes (all levels) in a
// tree of size leaves, which is also the post-order position of the first
// node the next leaf completes.
func nodeCount(size uint64) uint64 {
	return 2*size - uint64(bits.OnesCount64(size))
}

// treeState is the integrated tree: size, compact range of [0, size) and root.
type treeState struct {
	size uint64
	rng  *compact.Range
	root []byte
}

func emptyState() treeState {
	return treeState{rng: rangeFactory.NewEmptyRange(0), root: Hasher{}.EmptyRoot()}
}

// clone returns a deep copy whose range can be appended to without changing s.
func (s treeState) clone() treeState {
	hs := make([][]byte, len(s.rng.Hashes()))
	copy(hs, s.rng.Hashes())
	r, err := rangeFactory.NewRange(0, s.size, hs)
	if err != nil {
		panic(fmt.Sprintf("auditlog: clone tree state: %v", err)) // sizes match by construction
	}
	return treeState{size: s.size, rng: r, root: s.root}
}

func (s treeState) compactBytes() []byte {
	b := make([]byte, 0, len(s.rng.Hashes())*HashSize)
	for _, h := range s.rng.Hashes() {
		b = append(b, h...)
	}
	return b
}

// rootOf returns the root hash of a compact range starting at 0.
func rootOf(r *compact.Range) []byte {
	root, err := r.GetRootHash(nil)
	if err != nil {
		panic(fmt.Sprintf("auditlog: root of range [%d, %d): %v", r.Begin(), r.End(), err)) // begin is always 0
	}
	if root == nil {
		return Hasher{}.EmptyRoot()
	}
	return root
}

// decodeState rebuilds a tree state from the audit_tree columns and checks
// that the stored root matches the compact range.
func decodeState(size uint64, root, compactHashes []byte) (treeState, error) {
	if len(compactHashes)%HashSize != 0 {
		return treeState{}, fmt.Errorf("auditlog: stored compact range is %d bytes, not a multiple of %d", len(compactHashes), HashSize)
	}
	var hs [][]byte
	for i := 0; i < len(compactHashes); i += HashSize {
		hs = append(hs, bytes.Clone(compactHashes[i:i+HashSize]))
	}
	r, err := rangeFactory.NewRange(0, size, hs)
	if err != nil {
		return treeState{}, fmt.Errorf("auditlog: stored compact range for size %d: %w", size, err)
	}
	if got := rootOf(r); !bytes.Equal(got, root) {
		return treeState{}, fmt.Errorf("auditlog: stored root for size %d does not match its compact range", size)
	}
	return treeState{size: size, rng: r, root: bytes.Clone(root)}, nil
}

// querier is what both *store.DB and *store.Tx offer.
type querier interface {
	QueryRow(ctx context.Context, query string, args ...any) *sql.Row
	Query(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	Exec(ctx context.Context, query string, args ...any) (sql.Result, error)
}

var (
	_ querier = (*store.DB)(nil)
	_ querier = (*store.Tx)(nil)
)

// loadState reads the integrated tree. A database without a tree row holds
// an empty log.
func loadState(ctx context.Context, q querier) (treeState, error) {
	var (
		size          int64
		root, compact []byte
	)
	err := q.QueryRow(ctx, "SELECT size, root, compact FROM audit_tree WHERE id = 1").Scan(&size, &root, &compact)
	if errors.Is(err, sql.ErrNoRows) {
		return emptyState(), nil
	}
	if err != nil {
		return treeState{}, fmt.Errorf("auditlog: read tree state: %w", err)
	}
	if size < 0 {
		return treeState{}, fmt.Errorf("auditlog: stored tree size %d is negative", size)
	}
	return decodeState(uint64(size), root, compact)
}

// fetchNodes returns the hashes of the given perfect-subtree nodes of the
// tree, in the order of ids: leaves from audit_entries.leaf_hash, interior
// nodes from audit_nodes. A missing node is an error naming it.
func fetchNodes(ctx context.Context, q querier, ids []compact.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	var leafIdx, nodeIdx []any
	for _, id := range ids {
		if id.Level == 0 {
			leafIdx = append(leafIdx, int64(id.Index))
		} else {
			nodeIdx = append(nodeIdx, int64(nodePos(id)))
		}
	}
	leaves := map[uint64][]byte{}
	nodes := map[uint64][]byte{}
	get := func(query string, args []any, into map[uint64][]byte) error {
		if len(args) == 0 {
			return nil
		}
		rows, err := q.Query(ctx, fmt.Sprintf(query, placeholders(len(args))), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k int64
			var h []byte
			if err := rows.Scan(&k, &h); err != nil {
				return err
			}
			into[uint64(k)] = h
		}
		return rows.Err()
	}
	if err := get("SELECT idx, leaf_hash FROM audit_entries WHERE idx IN (%s)", leafIdx, leaves); err != nil {
		return nil, fmt.Errorf("auditlog: read leaf hashes: %w", err)
	}
	if err := get("SELECT pos, hash FROM audit_nodes WHERE pos IN (%s)", nodeIdx, nodes); err != nil {
		return nil, fmt.Errorf("auditlog: read tree nodes: %w", err)
	}
	for i, id := range ids {
		var h []byte
		if id.Level == 0 {
			h = leaves[id.Index]
		} else {
			h = nodes[nodePos(id)]
		}
		if len(h) != HashSize {
			return nil, &IntegrityError{Index: firstLeaf(id), Reason: fmt.Sprintf("tree node (level %d, index %d) is missing or malformed", id.Level, id.Index)}
		}
		out[i] = h
	}
	return out, nil
}

func firstLeaf(id compact.NodeID) uint64 {
	begin, _ := id.Coverage()
	return begin
}

func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?,", n-1) + "?"
}

// buildProof fetches and rehashes the nodes of an inclusion or consistency
// proof.
func buildProof(ctx context.Context, q querier, nodes proof.Nodes) ([][]byte, error) {
	hashes, err := fetchNodes(ctx, q, nodes.IDs)
	if err != nil {
		return nil, err
	}
	p, err := nodes.Rehash(hashes, Hasher{}.HashChildren)
	if err != nil {
		return nil, fmt.Errorf("auditlog: rehash proof: %w", err)
	}
	return p, nil
}
