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

// ErrReservedData is returned by [Load] for a bundle whose data sets what
// Tongxing computes when loading it.
var ErrReservedData = errors.New("authz: reserved data")

// withGrants returns data with data.tongxing.grants computed by the
// policy's own GrantsQuery rule, or data unchanged when the policy defines
// none. A bundle may not bring its own index: it could grant what its
// agreements do not.
func withGrants(ctx context.Context, data map[string]any, modules map[string]*ast.Module) (map[string]any, error) {
	root, _ := data["tongxing"].(map[string]any)
	if _, ok := root["grants"]; ok {
		return nil, fmt.Errorf("%w: data.tongxing.grants is computed from the agreements when the bundle is loaded; remove it from the bundle", ErrReservedData)
	}
	opts := []func(*rego.Rego){
		rego.Query(GrantsQuery),
		rego.Store(inmem.NewFromObjectWithOpts(data, inmem.OptRoundTripOnWrite(false))),
		rego.StrictBuiltinErrors(true),
	}
	for _, m := range modules {
		opts = append(opts, rego.ParsedModule(m))
	}
	rs, err := rego.New(opts...).Eval(ctx)
	if err != nil {
		return nil, fmt.Errorf("authz: index the agreements (%s): %w", GrantsQuery, err)
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return data, nil // the policy does not index its agreements
	}
	out := maps.Clone(data)
	tx := maps.Clone(root)
	if tx == nil {
		tx = map[string]any{}
	}
	tx["grants"] = rs[0].Expressions[0].Value
	out["tongxing"] = tx
	return out, nil
}
