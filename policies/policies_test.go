package policies_test

import (
	"context"
	"testing"

	"github.com/tongxing/tongxing/authz"
	"github.com/tongxing/tongxing/policies"
)

// TestRego runs the Rego unit tests (gateway_test.rego) with OPA's own test
// runner, as `tongxing policy test` does.
func TestRego(t *testing.T) {
	results, err := authz.RunTests(context.Background(), policies.FS)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) < 10 {
		t.Fatalf("ran %d Rego tests, expected the suite in gateway_test.rego", len(results))
	}
	for _, r := range results {
		if !r.Pass() {
			t.Errorf("%s: %v", r.String(), r.Error)
		}
	}
}
