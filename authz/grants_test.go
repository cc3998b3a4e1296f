package authz_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"testing"
	"testing/fstest"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/tongxing/tongxing/authz"
	"github.com/tongxing/tongxing/policies"
)

// exampleSource returns the example policy's module text and its data.
func exampleSource(t *testing.T) ([]byte, map[string]any) {
	t.Helper()
	rego, err := fs.ReadFile(policies.FS, "gateway.rego")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := fs.ReadFile(policies.FS, "data.json")
	if err != nil {
		t.Fatal(err)
	}
	var data map[string]any
	if err := json.Unmarshal(raw, &data); err != nil {
		t.Fatal(err)
	}
	return rego, data
}

// exampleWith loads a bundle of the example policy whose data is changed
// by edit.
func exampleWith(t *testing.T, edit func(root map[string]any)) error {
	t.Helper()
	rego, data := exampleSource(t)
	edit(data["tongxing"].(map[string]any))
	out, _ := json.Marshal(data)
	b, err := authz.Build(fstest.MapFS{"gateway.rego": {Data: rego}, "data.json": {Data: out}}, "r-grants")
	if err != nil {
		t.Fatal(err)
	}
	_, err = authz.Load(context.Background(), b)
	return err
}

// TestLoadRefusesItsOwnGrants shows that a bundle cannot bring the grant
// index Tongxing computes from the agreements: an index granting what no
// agreement gives is refused, not believed.
func TestLoadRefusesItsOwnGrants(t *testing.T) {
	err := exampleWith(t, func(root map[string]any) {
		root["grants"] = map[string]any{"tax": map[string]any{"gongan.household": map[string]any{"P-IIT-VERIFY": []any{
			map[string]any{"id": "forged", "from_ns": 0, "until_ns": 1 << 62, "fields": []any{"religion"}, "approved_by": "nobody"},
		}}}}
	})
	if !errors.Is(err, authz.ErrReservedData) {
		t.Fatalf("Load: %v, want ErrReservedData", err)
	}
	// The same for the open-resource index: an entry opening a conditional
	// resource to everyone.
	err = exampleWith(t, func(root map[string]any) {
		root["open_resources"] = map[string]any{"gongan.household": map[string]any{"owner": "gongan", "personal": false, "names_citizen": false,
			"decision": map[string]any{"allow": true, "reasons": []any{"forged"}, "obligations": map[string]any{}, "agreement": "", "legal_basis": ""}}}
	})
	if !errors.Is(err, authz.ErrReservedData) {
		t.Fatalf("Load with open_resources: %v, want ErrReservedData", err)
	}
	// A negative list of another shape than the policy reads: a field list
	// written as a string, a resource without a reason.
	for name, edit := range map[string]func(nl map[string]any){
		"string-fields": func(nl map[string]any) { nl["fields"].(map[string]any)["gongan.population-stats"] = "households" },
		"no-reason": func(nl map[string]any) {
			nl["resources"].(map[string]any)["tax.offices"] = map[string]any{"basis": "x"}
		},
		"unknown": func(nl map[string]any) { nl["people"] = map[string]any{} },
	} {
		err := exampleWith(t, func(root map[string]any) { edit(root["negative_list"].(map[string]any)) })
		if !errors.Is(err, authz.ErrCatalogue) {
			t.Errorf("negative list %s: Load: %v, want ErrCatalogue", name, err)
		}
	}
	if err := exampleWith(t, func(map[string]any) {}); err != nil {
		t.Fatalf("the unchanged example: %v", err)
	}
}

// TestGrantIndexDecides checks that the decisions Tongxing makes with the
// index it computes at load are those the policy makes when it computes
// the index itself (stock OPA over the bundle's own data), for allowed and
// refused calls.
func TestGrantIndexDecides(t *testing.T) {
	p := examplePolicy(t)
	ctx := context.Background()
	src, data := exampleSource(t)
	mod, err := ast.ParseModuleWithOpts("gateway.rego", string(src), ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		t.Fatal(err)
	}
	stock, err := rego.New(rego.Query(authz.DecisionQuery), rego.ParsedModule(mod), rego.Store(inmem.NewFromObject(data))).PrepareForEval(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		in    *authz.Input
		allow bool
	}{
		{"ok/agreement", input("tax", "renshe", "renshe.social-insurance", "P-IIT-VERIFY"), true},
		{"ok/unconditional", input("tax", "gongan", "gongan.population-stats", ""), true},
		{"fail/no-agreement", input("tax", "gongan", "gongan.household", "P-IIT-VERIFY"), false},
		{"fail/purpose-outside-powers", input("tax", "renshe", "renshe.social-insurance", "P-SI-ELIG"), false},
		{"fail/expired", withTime(input("gongan", "scjg", "scjg.inspection-results", "P-HUKOU"), "2040-01-01T00:00:00Z"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := p.Decide(ctx, tc.in)
			if d.Allow != tc.allow {
				t.Fatalf("allow = %v, want %v: %v", d.Allow, tc.allow, d.Reasons)
			}
			rs, err := stock.Eval(ctx, rego.EvalParsedInput(tc.in.Value()))
			if err != nil || len(rs) != 1 {
				t.Fatalf("stock evaluation: %v %v", rs, err)
			}
			m := rs[0].Expressions[0].Value.(map[string]any)
			if m["allow"] != d.Allow || m["agreement"] != d.Agreement || fmt.Sprint(m["reasons"]) != fmt.Sprint(d.Reasons) {
				t.Errorf("stock OPA decided %v, Tongxing %+v", m, d)
			}
		})
	}
}

func withTime(in *authz.Input, rfc3339 string) *authz.Input {
	t, err := time.Parse(time.RFC3339, rfc3339)
	if err != nil {
		panic(err)
	}
	in.Time = t
	return in
}
