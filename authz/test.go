package authz

import (
	"context"
	"fmt"
	"io/fs"
	"time"

	"github.com/open-policy-agent/opa/v1/loader"
	"github.com/open-policy-agent/opa/v1/tester"
)

// TestTimeout bounds one Rego test case in [RunTests]. OPA's runner
// defaults to 5 seconds, which the exhaustive tests in policies/ (tens of
// thousands of decisions each) can exceed on a busy machine; this bound
// only stops a test that hangs.
const TestTimeout = 10 * time.Minute

// RunTests runs the Rego unit tests (rules named test_*) of the policy
// directory fsys, data documents included, with OPA's test runner, and
// returns every result.
func RunTests(ctx context.Context, fsys fs.FS) ([]*tester.Result, error) {
	res, err := loader.NewFileLoader().WithFS(fsys).All([]string{"."})
	if err != nil {
		return nil, fmt.Errorf("authz: load policy directory: %w", err)
	}
	store, err := res.Store()
	if err != nil {
		return nil, fmt.Errorf("authz: load policy data: %w", err)
	}
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		return nil, err
	}
	defer store.Abort(ctx, txn)
	ch, err := tester.NewRunner().SetTimeout(TestTimeout).SetStore(store).SetModules(res.ParsedModules()).RunTests(ctx, txn)
	if err != nil {
		return nil, fmt.Errorf("authz: run tests: %w", err)
	}
	var out []*tester.Result
	for r := range ch {
		out = append(out, r)
	}
	return out, nil
}
