package authz_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/tongxing/tongxing/authz"
	"github.com/tongxing/tongxing/policies"
)

var decisionTime = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

func examplePolicy(t testing.TB) *authz.Policy {
	t.Helper()
	b, err := authz.Build(policies.FS, "r-example")
	if err != nil {
		t.Fatal(err)
	}
	p, err := authz.Load(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func input(caller, target, resource, purpose string) *authz.Input {
	return &authz.Input{
		Caller:     authz.Caller{Department: caller, Service: "api", ID: "spiffe://tongxing.internal/dept/" + caller + "/svc/api", Via: "mtls"},
		Target:     target,
		ResourceID: resource,
		Purpose:    purpose,
		Citizen:    authz.Citizen{Named: "pseudonym"},
		Time:       decisionTime,
		Method:     "GET",
		Path:       "/v1/x",
	}
}

func TestDecide(t *testing.T) {
	p := examplePolicy(t)
	e := authz.NewEngine()
	if d := e.Decide(context.Background(), input("tax", "gongan", "gongan.population-stats", "")); d.Allow || !errors.Is(d.Error, authz.ErrNoPolicy) {
		t.Fatalf("without a policy: %+v", d)
	}
	if prev := e.Swap(p); prev != nil {
		t.Fatal("first swap returned a policy")
	}
	tests := []struct {
		name     string
		in       *authz.Input
		allow    bool
		reason   string
		fields   []string
		filtered bool
	}{
		{"ok/unconditional", input("tax", "gongan", "gongan.population-stats", ""), true, "无条件共享", nil, false},
		{"ok/agreement", input("tax", "renshe", "renshe.social-insurance", "P-IIT-VERIFY"), true, "A-2025-002", []string{"employer", "id_number", "months_paid", "name"}, true},
		{"ok/negative-fields-removed", input("renshe", "gongan", "gongan.household", "P-SI-ELIG"), true, "A-2025-001", []string{"birth_date", "gender", "id_number", "name"}, true},
		{"fail/no-agreement", input("tax", "gongan", "gongan.household", "P-IIT-VERIFY"), false, "no sharing agreement", nil, false},
		{"fail/no-purpose", input("tax", "renshe", "renshe.social-insurance", ""), false, "purpose code", nil, false},
		{"fail/purpose-not-in-power-list", input("tax", "renshe", "renshe.social-insurance", "P-SI-ELIG"), false, "权力清单", nil, false},
		{"fail/not-shared", input("tax", "gongan", "gongan.criminal-record", "P-IIT-VERIFY"), false, "不予共享", nil, false},
		{"fail/negative-list", input("tax", "renshe", "renshe.injury-medical", "P-IIT-VERIFY"), false, "负面清单", nil, false},
		{"fail/expired", input("tax", "renshe", "renshe.pension-payments", "P-IIT-VERIFY"), false, "expired", nil, false},
		{"fail/unknown-resource", input("tax", "renshe", "", ""), false, "catalogue", nil, false},
		{"fail/no-caller", input("", "gongan", "gongan.population-stats", ""), false, "no verified caller", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := e.Decide(context.Background(), tc.in)
			if d.Error != nil {
				t.Fatal(d.Error)
			}
			if d.Allow != tc.allow || d.Revision != "r-example" {
				t.Fatalf("allow %v revision %q, want %v: %v", d.Allow, d.Revision, tc.allow, d.Reasons)
			}
			if !slices.ContainsFunc(d.Reasons, func(r string) bool { return strings.Contains(r, tc.reason) }) {
				t.Fatalf("reasons %q lack %q", d.Reasons, tc.reason)
			}
			if tc.allow && (d.FilterFields != tc.filtered || !slices.Equal(d.Fields, tc.fields)) {
				t.Fatalf("fields %v (filter %v), want %v (filter %v)", d.Fields, d.FilterFields, tc.fields, tc.filtered)
			}
		})
	}
}

// TestEvaluationErrorDenies loads a policy whose decision fails at run time
// (a built-in error under strict mode) and one whose decision is not a
// document: both deny with Error set.
func TestEvaluationErrorDenies(t *testing.T) {
	for name, rego := range map[string]string{
		"builtin-error": "package tongxing.gateway\n\ndecision := {\"allow\": true, \"reasons\": [], \"x\": to_number(\"not a number\")}\n",
		"malformed":     "package tongxing.gateway\n\ndecision := {\"allow\": \"yes\", \"reasons\": []}\n",
		"undefined":     "package tongxing.gateway\n\ndecision := x if { x := input.nothing }\n",
		"not-object":    "package tongxing.gateway\n\ndecision := [true]\n",
		"no-allow":      "package tongxing.gateway\n\ndecision := {\"reasons\": []}\n",
		"no-reasons":    "package tongxing.gateway\n\ndecision := {\"allow\": true}\n",
		"reason-number": "package tongxing.gateway\n\ndecision := {\"allow\": true, \"reasons\": [1]}\n",
		"obligations":   "package tongxing.gateway\n\ndecision := {\"allow\": true, \"reasons\": [], \"obligations\": [\"name\"]}\n",
		"fields":        "package tongxing.gateway\n\ndecision := {\"allow\": true, \"reasons\": [], \"obligations\": {\"fields\": \"name\"}}\n",
	} {
		t.Run("fail/"+name, func(t *testing.T) {
			if d := decideWith(t, rego, "r-bad"); d.Allow || d.Error == nil {
				t.Fatalf("decision %+v", d)
			}
		})
	}
}

// decideWith builds a bundle of revision from one Rego module and decides
// a call with it.
func decideWith(t *testing.T, rego, revision string) *authz.Decision {
	t.Helper()
	b, err := authz.Build(fstest.MapFS{"p.rego": {Data: []byte(rego)}}, revision)
	if err != nil {
		t.Fatal(err)
	}
	p, err := authz.Load(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	return p.Decide(context.Background(), input("tax", "gongan", "x", ""))
}

// TestDecisionDocument reads a well-formed decision with every member.
func TestDecisionDocument(t *testing.T) {
	const rego = "package tongxing.gateway\n\ndecision := {\"allow\": true, \"reasons\": [\"agreement A\", \"basis\"], " +
		"\"agreement\": \"A\", \"legal_basis\": \"law\", \"obligations\": {\"fields\": [\"name\", \"是否\"]}}\n"
	d := decideWith(t, rego, "r-doc")
	want := &authz.Decision{Allow: true, Reasons: []string{"agreement A", "basis"}, Agreement: "A", LegalBasis: "law",
		Fields: []string{"name", "是否"}, FilterFields: true, Revision: "r-doc"}
	if !reflect.DeepEqual(d, want) {
		t.Fatalf("decision\n%+v, want\n%+v", d, want)
	}
}

func TestExplain(t *testing.T) {
	p := examplePolicy(t)
	var trace strings.Builder
	in := map[string]any{"caller": map[string]any{"department": "tax"}, "target": map[string]any{"department": "gongan"},
		"resource": map[string]any{"id": "gongan.population-stats"}, "time_ns": decisionTime.UnixNano(), "method": "GET", "path": "/"}
	d, err := p.Explain(context.Background(), in, &trace)
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := d.(map[string]any); m["allow"] != true {
		t.Fatalf("decision %v", d)
	}
	if !strings.Contains(trace.String(), "gateway.rego") {
		t.Fatalf("trace lacks locations:\n%.500s", trace.String())
	}
}

// bigPolicy is the example policy with n synthetic agreements: 100 consumer
// departments, each with agreements for n/100 conditional resources.
func bigPolicy(b testing.TB, n int) (*authz.Policy, []string) {
	b.Helper()
	rego, err := fs.ReadFile(policies.FS, "gateway.rego")
	if err != nil {
		b.Fatal(err)
	}
	perConsumer := n / 100
	catalogue := map[string]any{}
	for r := 0; r < perConsumer; r++ {
		catalogue[fmt.Sprintf("owner.r%04d", r)] = map[string]any{
			"name": "r", "owner": "owner", "method": "GET", "path": fmt.Sprintf("/v1/r%04d/{id_number}", r),
			"sharing": "conditional", "fields": []string{"a", "b", "c"}, "personal_fields": []string{"a"},
			"citizen_field": map[string]any{"in": "path", "name": "id_number"}, "legal_basis": "test",
		}
	}
	agreements := map[string]any{}
	powers := map[string]any{}
	var consumers []string
	for c := 0; c < 100; c++ {
		dep := fmt.Sprintf("d%03d", c)
		consumers = append(consumers, dep)
		powers[dep] = map[string]any{"item." + dep: map[string]any{"name": "x"}}
		m := map[string]any{}
		for r := 0; r < perConsumer; r++ {
			m[fmt.Sprintf("owner.r%04d", r)] = []any{map[string]any{
				"id": fmt.Sprintf("A-%s-%04d", dep, r), "purposes": []string{"P-" + dep}, "fields": []string{"a", "b"},
				"valid_from": "2025-01-01T00:00:00Z", "expires": "2031-01-01T00:00:00Z", "approved_by": "test",
			}}
		}
		agreements[dep] = m
	}
	purposes := map[string]any{}
	for _, dep := range consumers {
		purposes["P-"+dep] = map[string]any{"name": "p", "powers": []string{"item." + dep}}
	}
	data, _ := json.Marshal(map[string]any{"tongxing": map[string]any{
		"catalogue": catalogue, "agreements": agreements, "power_lists": powers, "purposes": purposes,
		"negative_list": map[string]any{"resources": map[string]any{}, "fields": map[string]any{}},
	}})
	bd, err := authz.Build(fstest.MapFS{"gateway.rego": {Data: rego}, "data.json": {Data: data}}, "r-bench")
	if err != nil {
		b.Fatal(err)
	}
	p, err := authz.Load(context.Background(), bd)
	if err != nil {
		b.Fatal(err)
	}
	return p, consumers
}

func TestBigPolicyDecides(t *testing.T) {
	p, _ := bigPolicy(t, 1000)
	d := p.Decide(context.Background(), input("d007", "owner", "owner.r0003", "P-d007"))
	if !d.Allow || d.Agreement != "A-d007-0003" {
		t.Fatalf("%+v", d)
	}
	d = p.Decide(context.Background(), input("d007", "owner", "owner.r0003", "P-d008"))
	if d.Allow {
		t.Fatalf("another department's purpose allowed: %+v", d)
	}
}

// BenchmarkDecide10kAgreements measures one decision over 10,000
// agreements (100 consumers x 100 conditional resources) and reports the
// p50 and p99 of single decisions besides the mean. Interleaved with each
// decision it times the smallest useful OPA evaluation, a policy whose
// decision is one keyed lookup of a prepared answer (oneLookup), and
// reports the ratio of the two p50s, which depends less on the machine.
func BenchmarkDecide10kAgreements(b *testing.B) {
	p, consumers := bigPolicy(b, 10000)
	ctx := context.Background()
	ref := oneLookup(b)
	rng := rand.New(rand.NewPCG(1, 2))
	durs := make([]time.Duration, 0, b.N)
	refs := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := consumers[rng.IntN(len(consumers))]
		in := input(c, "owner", fmt.Sprintf("owner.r%04d", rng.IntN(100)), "P-"+c)
		start := time.Now()
		d := p.Decide(ctx, in)
		durs = append(durs, time.Since(start))
		if !d.Allow {
			b.Fatalf("denied: %v %v", d.Reasons, d.Error)
		}
		start = time.Now()
		rs, err := ref.Eval(ctx, rego.EvalParsedInput(in.Value()))
		refs = append(refs, time.Since(start))
		if err != nil || len(rs) != 1 || rs[0].Expressions[0].Value.(map[string]any)["allow"] != true {
			b.Fatalf("one-lookup reference: %v %v", rs, err)
		}
	}
	b.StopTimer()
	p50 := func(d []time.Duration) time.Duration {
		slices.Sort(d)
		return d[len(d)/2]
	}
	b.ReportMetric(float64(p50(durs).Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(durs[len(durs)*99/100].Nanoseconds()), "p99-ns")
	b.ReportMetric(float64(p50(refs).Nanoseconds()), "one-lookup-p50-ns")
	b.ReportMetric(float64(p50(durs))/float64(p50(refs)), "p50/one-lookup")
}

// oneLookup prepares the reference evaluation of
// BenchmarkDecide10kAgreements: a decision document looked up by the
// caller's department, the resource and the purpose, over a store read as
// Load reads its own, and the input built the same way.
func oneLookup(b *testing.B) rego.PreparedEvalQuery {
	b.Helper()
	decision := map[string]any{"allow": true, "reasons": []any{"agreement A", "legal basis: test"},
		"obligations": map[string]any{"fields": []any{"a", "b"}}, "agreement": "A", "legal_basis": "test"}
	idx := map[string]any{}
	for c := 0; c < 100; c++ {
		dep := fmt.Sprintf("d%03d", c)
		byRes := map[string]any{}
		for r := 0; r < 100; r++ {
			byRes[fmt.Sprintf("owner.r%04d", r)] = map[string]any{"P-" + dep: decision}
		}
		idx[dep] = byRes
	}
	store := inmem.NewFromObjectWithOpts(map[string]any{"idx": idx}, inmem.OptReturnASTValuesOnRead(true), inmem.OptRoundTripOnWrite(false))
	q, err := rego.New(rego.Query("data.ref.decision"), rego.Store(store), rego.StoreReadAST(true),
		rego.Module("ref.rego", "package ref\n\ndecision := data.idx[input.caller.department][input.resource.id][input.purpose]\n"),
	).PrepareForEval(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return q
}

// BenchmarkLoad10kAgreements measures loading a bundle of 10,000
// agreements: compiling it and indexing its agreements, what every
// replica does when the policy changes. It reports the heap the loaded
// policy keeps.
func BenchmarkLoad10kAgreements(b *testing.B) {
	var p *authz.Policy
	for i := 0; i < b.N; i++ {
		p, _ = bigPolicy(b, 10000)
	}
	b.StopTimer()
	// Two collections each time: objects with finalizers go in the second.
	var with, without runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&with)
	runtime.KeepAlive(p)
	p = nil
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&without)
	b.ReportMetric((float64(with.HeapAlloc)-float64(without.HeapAlloc))/(1<<20), "heap-MB")
}

// BenchmarkDecideExample measures the decisions of the example policy on
// the allowed calls of each kind, with the p50 of single decisions: an
// unconditional resource (decided from the open-resource index) and a
// conditional one under an agreement (from the grant index); and on a
// refusal, whose reasons the deny rules work out.
func BenchmarkDecideExample(b *testing.B) {
	p := examplePolicy(b)
	ctx := context.Background()
	open := input("tax", "gongan", "gongan.population-stats", "")
	open.Citizen = authz.Citizen{}
	for _, tc := range []struct {
		name  string
		in    *authz.Input
		allow bool
	}{
		{"unconditional", open, true},
		{"agreement", input("tax", "renshe", "renshe.social-insurance", "P-IIT-VERIFY"), true},
		{"refused-no-agreement", input("tax", "gongan", "gongan.household", "P-IIT-VERIFY"), false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			durs := make([]time.Duration, 0, b.N)
			for i := 0; i < b.N; i++ {
				start := time.Now()
				d := p.Decide(ctx, tc.in)
				durs = append(durs, time.Since(start))
				if d.Allow != tc.allow || d.Error != nil {
					b.Fatalf("allow %v, want %v: %v %v", d.Allow, tc.allow, d.Reasons, d.Error)
				}
			}
			slices.Sort(durs)
			b.ReportMetric(float64(durs[len(durs)/2].Nanoseconds()), "p50-ns")
		})
	}
}
