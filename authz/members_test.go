package authz_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/tongxing/tongxing/authz"
)

// loadExampleWith builds and loads the example policy with its data changed
// by edit.
func loadExampleWith(t *testing.T, edit func(root map[string]any)) (*authz.Policy, error) {
	t.Helper()
	src, data := exampleSource(t)
	edit(data["tongxing"].(map[string]any))
	out, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	b, err := authz.Build(fstest.MapFS{"gateway.rego": {Data: src}, "data.json": {Data: out}}, "r-members")
	if err != nil {
		t.Fatal(err)
	}
	return authz.Load(context.Background(), b)
}

func obj(v any) map[string]any { return v.(map[string]any) }

// rename moves m[from] to m[to].
func rename(m map[string]any, from, to string) {
	m[to] = m[from]
	delete(m, from)
}

// TestLoadRefusesMembersSpelledOtherwise: Go's encoding/json matches
// member names case-insensitively (and with Unicode folding: "ſ" is "s"),
// so DisallowUnknownFields lets through a member the policy, which reads
// names exactly, never sees. The console and the gateway then see one
// bundle and the policy another. Each case below loaded and decided
// against what the loaded data shows.
func TestLoadRefusesMembersSpelledOtherwise(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		edit func(root map[string]any)
		harm func(t *testing.T, p *authz.Policy) // what the accepted bundle does
	}{
		{
			// The negative list written with "Resources": checkNegativeList
			// accepts it, the policy sees no resource on the negative list, and
			// agreement A-2025-009 opens the injury medical findings to tax.
			name: "negative-list-Resources",
			edit: func(root map[string]any) { rename(obj(root["negative_list"]), "resources", "Resources") },
			harm: func(t *testing.T, p *authz.Policy) {
				if d := p.Decide(ctx, input("tax", "renshe", "renshe.injury-medical", "P-IIT-VERIFY")); d.Allow {
					t.Errorf("tax is given renshe.injury-medical, on the negative list: %v", d.Reasons)
				}
			},
		},
		{
			// The negative list's fields written "fieldſ" (long s): religion is returned.
			name: "negative-list-fields-long-s",
			edit: func(root map[string]any) { rename(obj(root["negative_list"]), "fields", "field\u017f") },
			harm: func(t *testing.T, p *authz.Policy) {
				if d := p.Decide(ctx, input("renshe", "gongan", "gongan.household", "P-SI-ELIG")); slices.Contains(d.Fields, "religion") {
					t.Errorf("renshe receives religion, a field on the negative list: %v", d.Fields)
				}
			},
		},
		{
			// The citizen field of pension payments written "Citizen_field":
			// the catalogue Go reads (console, gateway) has it, the policy
			// does not ask that the call name a citizen, so a call without
			// ?id_number= (every pensioner) is allowed.
			name: "catalogue-Citizen_field",
			edit: func(root map[string]any) {
				rename(obj(obj(root["catalogue"])["renshe.pension-payments"]), "citizen_field", "Citizen_field")
			},
			harm: func(t *testing.T, p *authz.Policy) {
				if p.Catalogue().Resource("renshe.pension-payments").CitizenField == nil {
					return
				}
				in := withTime(input("tax", "renshe", "renshe.pension-payments", "P-IIT-VERIFY"), "2025-03-01T00:00:00Z")
				in.Citizen.Named = ""
				if d := p.Decide(ctx, in); d.Allow {
					t.Errorf("the catalogue says pension payments name a citizen, yet a call naming none is allowed: %v", d.Reasons)
				}
			},
		},
		{
			// The personal fields of an unconditional resource written
			// "personal_fieldſ": Go (and the console) see personal data, the
			// policy asks no purpose.
			name: "catalogue-personal-fields-long-s",
			edit: func(root map[string]any) {
				obj(obj(root["catalogue"])["renshe.job-vacancies"])["personal_field\u017f"] = []any{"contact_name"}
				delete(obj(obj(root["catalogue"])["renshe.job-vacancies"]), "personal_fields")
			},
			harm: func(t *testing.T, p *authz.Policy) {
				if len(p.Catalogue().Resource("renshe.job-vacancies").PersonalFields) == 0 {
					return
				}
				if d := p.Decide(ctx, input("tax", "renshe", "renshe.job-vacancies", "")); d.Allow {
					t.Errorf("the catalogue says job vacancies hold personal data, yet a call without a purpose is allowed: %v", d.Reasons)
				}
			},
		},
		{
			// An agreement with "fields" and "fieldſ", "expires" and
			// "expireſ": the agreement Go validates and the console shows
			// (the later member of each pair) gives one field until 2025;
			// the policy reads the other and gives four fields until 2031.
			name: "agreement-shadow-members",
			edit: func(root map[string]any) {
				a := obj(obj(obj(root["agreements"])["tax"])["renshe.social-insurance"].([]any)[0])
				a["field\u017f"] = []any{"id_number"}
				a["expire\u017f"] = "2025-06-30T23:59:59+08:00"
			},
			harm: func(t *testing.T, p *authz.Policy) {
				for _, a := range p.Agreements() {
					if a.ID == "A-2025-002" {
						t.Logf("the console shows A-2025-002 with fields %v, expires %s", a.Fields, a.Expires)
					}
				}
				if d := p.Decide(ctx, input("tax", "renshe", "renshe.social-insurance", "P-IIT-VERIFY")); d.Allow {
					t.Errorf("allowed in 2026 with fields %v", d.Fields)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := loadExampleWith(t, tc.edit)
			if errors.Is(err, authz.ErrCatalogue) {
				t.Logf("refused: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("Load: %v, want ErrCatalogue", err)
			}
			t.Errorf("Load accepted a member the policy does not read")
			tc.harm(t, p)
		})
	}
}
