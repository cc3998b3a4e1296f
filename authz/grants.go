package authz

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// GrantsQuery is the rule a policy may define to index its agreements for
// decisions (see policies/gateway.rego). When it is defined, [Load]
// evaluates it once and stores the result as data.tongxing.grants, which
// the policy then reads instead of computing it per decision.
const GrantsQuery = "data.tongxing.gateway.computed_grants"

// OpenResourcesQuery is the rule a policy may define to index its
// unconditionally shared resources for decisions; [Load] stores its
// result as data.tongxing.open_resources, as for [GrantsQuery].
const OpenResourcesQuery = "data.tongxing.gateway.computed_open_resources"

// ErrReservedData is returned by [Load] for a bundle whose data sets what
// Tongxing computes when loading it.
var ErrReservedData = errors.New("authz: reserved data")

// indexes are the data Tongxing computes from a bundle's own rules when it
// loads it: key under data.tongxing, and the rule.
var indexes = []struct{ key, query string }{
	{"grants", GrantsQuery},
	{"open_resources", OpenResourcesQuery},
}

// withIndexes returns data with each of [indexes] computed by the policy's
// own rule (in its modules, compiled by comp), or data unchanged for a rule the policy does not define. A
// bundle may not bring its own index: it could grant what its agreements
// and catalogue do not.
func withIndexes(ctx context.Context, data map[string]any, comp *ast.Compiler) (map[string]any, error) {
	root, _ := data["tongxing"].(map[string]any)
	for _, ix := range indexes {
		if _, ok := root[ix.key]; ok {
			return nil, fmt.Errorf("%w: data.tongxing.%s is computed from the policy's data when the bundle is loaded; remove it from the bundle", ErrReservedData, ix.key)
		}
	}
	store := inmem.NewFromObjectWithOpts(data, inmem.OptRoundTripOnWrite(false))
	tx := maps.Clone(root)
	if tx == nil {
		tx = map[string]any{}
	}
	computed := false
	for _, ix := range indexes {
		rs, err := rego.New(rego.Query(ix.query), rego.Store(store), rego.StrictBuiltinErrors(true), rego.Compiler(comp)).Eval(ctx)
		if err != nil {
			return nil, fmt.Errorf("authz: index the policy's data (%s): %w", ix.query, err)
		}
		if len(rs) == 0 || len(rs[0].Expressions) == 0 {
			continue // the policy does not define this index
		}
		tx[ix.key] = rs[0].Expressions[0].Value
		computed = true
	}
	if !computed {
		return data, nil
	}
	out := maps.Clone(data)
	out["tongxing"] = tx
	return out, nil
}
