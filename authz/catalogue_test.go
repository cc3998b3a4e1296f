package authz_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/tongxing/tongxing/authz"
	"github.com/tongxing/tongxing/policies"
)

func exampleCatalogue(t testing.TB) *authz.Catalogue {
	t.Helper()
	return examplePolicy(t).Catalogue()
}

func TestMatch(t *testing.T) {
	c := exampleCatalogue(t)
	tests := []struct {
		name, owner, method, path string
		want                      string
		params                    map[string]string
	}{
		{"ok/static", "gongan", "GET", "/v1/statistics/population", "gongan.population-stats", nil},
		{"ok/param", "renshe", "GET", "/v1/insurance/11010519491231002X", "renshe.social-insurance", map[string]string{"id_number": "11010519491231002X"}},
		{"ok/escaped-param", "renshe", "GET", "/v1/insurance/%E5%BC%A0", "renshe.social-insurance", map[string]string{"id_number": "张"}},
		{"ok/nested-param", "renshe", "GET", "/v1/injury-cases/X1/medical", "renshe.injury-medical", map[string]string{"id_number": "X1"}},
		{"ok/post", "scjg", "POST", "/v1/inspections/search", "scjg.inspection-results", nil},
		{"fail/method", "renshe", "POST", "/v1/insurance/1", "", nil},
		{"fail/other-owner", "tax", "GET", "/v1/insurance/1", "", nil},
		{"fail/unknown-owner", "nope", "GET", "/v1/insurance/1", "", nil},
		{"fail/trailing-slash", "gongan", "GET", "/v1/statistics/population/", "", nil},
		{"fail/double-slash", "gongan", "GET", "/v1//statistics/population", "", nil},
		{"fail/dot-dot", "renshe", "GET", "/v1/insurance/..", "", nil},
		{"fail/encoded-dot-dot", "renshe", "GET", "/v1/insurance/%2e%2e", "", nil},
		{"fail/encoded-slash", "renshe", "GET", "/v1/insurance/a%2Fb", "", nil},
		{"fail/encoded-backslash", "renshe", "GET", "/v1/insurance/a%5Cb", "", nil},
		{"fail/bad-escape", "renshe", "GET", "/v1/insurance/%zz", "", nil},
		{"fail/control", "renshe", "GET", "/v1/insurance/a%0Ab", "", nil},
		{"fail/dot-dot-semicolon", "renshe", "GET", "/v1/insurance/..;", "", nil},
		{"fail/path-parameter", "renshe", "GET", "/v1/insurance/11010519491231002X;jsessionid=1", "", nil},
		{"fail/encoded-semicolon", "renshe", "GET", "/v1/insurance/a%3Bb", "", nil},
		{"fail/no-leading-slash", "gongan", "GET", "v1/statistics/population", "", nil},
		{"fail/too-deep", "gongan", "GET", strings.Repeat("/a", 100), "", nil},
		{"fail/static-escaped", "gongan", "GET", "/v1/statistics/populatio%6e", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, ok := c.Match(tc.owner, tc.method, tc.path)
			if tc.want == "" {
				if ok {
					t.Fatalf("matched %s", m.Resource.ID)
				}
				return
			}
			if !ok || m.Resource.ID != tc.want {
				t.Fatalf("match = %v %v, want %s", m, ok, tc.want)
			}
			for k, v := range tc.params {
				if m.Params[k] != v {
					t.Fatalf("param %s = %q, want %q", k, m.Params[k], v)
				}
			}
		})
	}
}

func TestParseCatalogueRejects(t *testing.T) {
	good := map[string]any{"name": "x", "owner": "tax", "method": "GET", "path": "/v1/a/{id}", "sharing": "conditional",
		"personal_fields": []any{}, "legal_basis": "x"}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for a, b := range good {
			m[a] = b
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name string
		cat  map[string]any
	}{
		{"fail/unknown-member", map[string]any{"tax.a": with("colour", "red")}},
		{"fail/sharing", map[string]any{"tax.a": with("sharing", "sometimes")}},
		{"fail/method", map[string]any{"tax.a": with("method", "get")}},
		{"fail/path", map[string]any{"tax.a": with("path", "v1/a")}},
		{"fail/path-dotdot", map[string]any{"tax.a": with("path", "/v1/../a")}},
		{"fail/path-param-syntax", map[string]any{"tax.a": with("path", "/v1/{ID}")}},
		{"fail/citizen-field-missing", map[string]any{"tax.a": with("citizen_field", map[string]any{"in": "path", "name": "nope"})}},
		{"fail/citizen-field-in", map[string]any{"tax.a": with("citizen_field", map[string]any{"in": "header", "name": "id"})}},
		{"fail/duplicate-route", map[string]any{"tax.a": good, "tax.b": good}},
		{"fail/param-names-differ", map[string]any{"tax.a": good, "tax.b": with("path", "/v1/a/{other}/x")}},
		{"fail/bad-id", map[string]any{"Tax A": good}},
		{"fail/negative-max-body", map[string]any{"tax.a": with("max_body", -1)}},
		{"fail/null-member", map[string]any{"tax.a": func() map[string]any { m := with("legal_basis", "x"); m["personal_fields"] = nil; return m }()}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := authz.ParseCatalogue(map[string]any{"tongxing": map[string]any{"catalogue": tc.cat}})
			if !errors.Is(err, authz.ErrCatalogue) {
				t.Fatalf("err = %v, want ErrCatalogue", err)
			}
		})
	}
	if _, err := authz.ParseCatalogue(map[string]any{"tongxing": map[string]any{"catalogue": map[string]any{"tax.a": good}}}); err != nil {
		t.Fatalf("ok/good: %v", err)
	}
}

// FuzzMatch checks the route matcher: no panic, and whatever matches is a
// resource of the owner and method asked, with parameters that are clean
// single segments.
func FuzzMatch(f *testing.F) {
	c := exampleCatalogue(f)
	for _, s := range []string{"/v1/insurance/11010519491231002X", "/v1/statistics/population", "/v1/insurance/%2e%2e", "/", "//", "/v1/injury-cases/a/medical"} {
		f.Add("renshe", "GET", s)
	}
	f.Fuzz(func(t *testing.T, owner, method, path string) {
		m, ok := c.Match(owner, method, path)
		if !ok {
			return
		}
		if m.Resource.Owner != owner || m.Resource.Method != method {
			t.Fatalf("%s %s %s matched %s of %s %s", owner, method, path, m.Resource.ID, m.Resource.Owner, m.Resource.Method)
		}
		for k, v := range m.Params {
			if v == "" || v == "." || v == ".." || strings.ContainsAny(v, "/\\\x00") || len(v) > authz.MaxParamLen {
				t.Fatalf("param %s = %q", k, v)
			}
		}
	})
}

// FuzzInput checks policy-input construction: any field values give an
// input that serialises to JSON and round-trips through OPA's parser, and
// the example policy decides on it without an evaluation error.
func FuzzInput(f *testing.F) {
	p := examplePolicy(f)
	f.Add("tax", "api", "renshe", "renshe.social-insurance", "P-IIT-VERIFY", "x", "/v1/insurance/{id_number}", int64(1780000000000000000))
	f.Add("", "", "", "", "", "", "", int64(0))
	f.Add("\"}", "\x00", "渲染", "a\\b", "P\u2028", "\xff", "//", int64(-1))
	f.Fuzz(func(t *testing.T, caller, service, target, resource, purpose, named, path string, ns int64) {
		in := &authz.Input{Caller: authz.Caller{Department: caller, Service: service, Via: "mtls"}, Target: target,
			ResourceID: resource, Purpose: purpose, Citizen: authz.Citizen{Named: named}, Time: time.Unix(0, ns), Method: "GET", Path: path}
		v := in.Value()
		doc, err := ast.JSON(v)
		if err != nil {
			t.Fatalf("input is not a JSON document: %v", err)
		}
		b, err := json.Marshal(doc)
		if err != nil {
			t.Fatalf("input does not serialise: %v", err)
		}
		var again any
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&again); err != nil {
			t.Fatalf("serialised input does not parse: %v\n%s", err, b)
		}
		back, err := ast.InterfaceToValue(again)
		if err != nil {
			t.Fatal(err)
		}
		if back.Compare(v) != 0 {
			t.Fatalf("round trip changed the input:\n%v\n%v", v, back)
		}
		d := p.Decide(context.Background(), in)
		if d.Error != nil {
			t.Fatalf("decision error for %s: %v", b, d.Error)
		}
		if d.Allow && caller == "" {
			t.Fatalf("allowed without a caller: %s", b)
		}
	})
}

func TestLoadRejectsBadAgreements(t *testing.T) {
	rego, _ := fs.ReadFile(policies.FS, "gateway.rego")
	for name, agreement := range map[string]string{
		"fail/date":       `{"id":"A","purposes":[],"fields":[],"valid_from":"2025-01-01","expires":"2031-01-01T00:00:00Z","approved_by":"x"}`,
		"fail/order":      `{"id":"A","purposes":[],"fields":[],"valid_from":"2031-01-01T00:00:00Z","expires":"2025-01-01T00:00:00Z","approved_by":"x"}`,
		"fail/unknown":    `{"id":"A","purposes":[],"fields":[],"valid_from":"2025-01-01T00:00:00Z","expires":"2031-01-01T00:00:00Z","approved_by":"x","colour":1}`,
		"fail/missing-id": `{"purposes":[],"fields":[],"valid_from":"2025-01-01T00:00:00Z","expires":"2031-01-01T00:00:00Z","approved_by":"x"}`,
		"fail/not-a-list": `"A"`,
	} {
		t.Run(name, func(t *testing.T) {
			data := `{"tongxing":{"agreements":{"tax":{"r":[` + agreement + `]}}}}`
			if name == "fail/not-a-list" {
				data = `{"tongxing":{"agreements":{"tax":{"r":` + agreement + `}}}}`
			}
			b, err := authz.Build(fstest.MapFS{"gateway.rego": {Data: rego}, "data.json": {Data: []byte(data)}}, "r")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := authz.Load(context.Background(), b); !errors.Is(err, authz.ErrCatalogue) {
				t.Fatalf("err = %v, want ErrCatalogue", err)
			}
		})
	}
}

// TestMatchLiteralBesideParam: a fixed segment written escaped or in other
// case is not taken as its {param} sibling, since upstreams that unescape
// or ignore case would serve the fixed resource the policy never saw.
func TestMatchLiteralBesideParam(t *testing.T) {
	res := func(path, sharing string) map[string]any {
		return map[string]any{"name": "x", "owner": "renshe", "method": "GET", "path": path, "sharing": sharing,
			"personal_fields": []any{}, "legal_basis": "x"}
	}
	c, err := authz.ParseCatalogue(map[string]any{"tongxing": map[string]any{"catalogue": map[string]any{
		"renshe.employer":           res("/v1/employers/{uscc}", "unconditional"),
		"renshe.employer-blacklist": res("/v1/employers/blacklist", "none"),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{"/v1/employers/blacklist", "renshe.employer-blacklist"},
		{"/v1/employers/91350100M000100Y43", "renshe.employer"},
		{"/v1/employers/blacklists", "renshe.employer"},
		{"/v1/employers/bl%61cklist", ""},
		{"/v1/employers/Blacklist", ""},
		{"/v1/employers/BLACKLIST", ""},
		{"/v1/employers/%62lacklist", ""},
	} {
		got := ""
		m, ok := c.Match("renshe", "GET", tc.path)
		if ok {
			got = m.Resource.ID
		}
		if got != tc.want {
			t.Errorf("%s matched %q, want %q", tc.path, got, tc.want)
		}
	}
}
