package server

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestACMEAllowedNamesMigration checks that acme.allowed_names of an older
// configuration becomes the departments' name policy, with a warning, and
// that ACME departments must be registered.
func TestACMEAllowedNamesMigration(t *testing.T) {
	dir := t.TempDir()
	const deps = `departments:
  - {id: tax, name: 税务局, domains: [tax.example]}
  - {id: health, name: 卫生健康委}
`
	tests := []struct {
		name    string
		yaml    string
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{name: "ok/migrated", yaml: deps + `acme:
  departments: [tax, health]
  allowed_names:
    tax: ["*.tax.gov.example", "tax.example", "10.20.0.0/16", "192.0.2.7"]
    health: ["records.health.example", "2001:db8::1"]
`, check: func(t *testing.T, c Config) {
			tax, health := c.Departments[0], c.Departments[1]
			if !slices.Equal(tax.Domains, []string{"tax.example", "tax.gov.example"}) || !tax.Wildcards ||
				!slices.Equal(tax.IPRanges, []string{"10.20.0.0/16", "192.0.2.7/32"}) {
				t.Errorf("tax after migration: %+v", tax)
			}
			if !slices.Equal(health.Domains, []string{"records.health.example"}) || health.Wildcards ||
				!slices.Equal(health.IPRanges, []string{"2001:db8::1/128"}) {
				t.Errorf("health after migration: %+v", health)
			}
			if len(c.ACME.AllowedNames) != 0 {
				t.Errorf("allowed_names kept: %v", c.ACME.AllowedNames)
			}
			w := c.Deprecations()
			if len(w) != 2 || !strings.Contains(w[0], "deprecated") || !strings.Contains(w[0], "health") || !strings.Contains(w[1], "tax.gov.example") {
				t.Errorf("warnings %q", w)
			}
			reg, err := c.DepartmentRegistry()
			if err != nil {
				t.Fatal(err)
			}
			if err := reg.CheckNames("tax", []string{"*.tax.gov.example", "a.b.tax.example"}, nil); err != nil {
				t.Errorf("migrated policy refuses what allowed_names allowed: %v", err)
			}
			if err := reg.CheckNames("tax", []string{"www.gov.cn"}, nil); err == nil {
				t.Error("migrated policy admits www.gov.cn")
			}
			out, _ := c.YAML()
			if strings.Contains(string(out), "allowed_names") {
				t.Errorf("config print still shows allowed_names:\n%s", out)
			}
		}},
		{name: "ok/no-allowed-names", yaml: deps + "acme:\n  departments: [tax]\n", check: func(t *testing.T, c Config) {
			if len(c.Deprecations()) != 0 || !slices.Equal(c.Departments[0].Domains, []string{"tax.example"}) {
				t.Errorf("changed without allowed_names: %+v %q", c.Departments, c.Deprecations())
			}
		}},
		{name: "fail/allowed-names-of-unregistered-department", yaml: deps + "acme:\n  departments: [tax]\n  allowed_names:\n    police: [police.example]\n", wantErr: `department "police", which is not in departments`},
		{name: "fail/acme-department-not-registered", yaml: deps + "acme:\n  departments: [tax, police]\n", wantErr: `acme.departments names department "police"`},
		{name: "fail/acme-without-any-departments", yaml: "acme:\n  departments: [tax]\n", wantErr: `department "tax"`},
		{name: "fail/migrated-name-invalid", yaml: deps + "acme:\n  departments: [tax]\n  allowed_names:\n    tax: [\"bad name\"]\n", wantErr: "domains"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, fmt.Sprintf("c%d.yaml", i))
			if err := os.WriteFile(p, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := LoadConfig(p)
			if err == nil {
				err = c.Resolve()
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
			if err := c.Resolve(); err != nil || len(c.Deprecations()) != len(c.deprecations) {
				t.Errorf("second Resolve: %v", err)
			}
		})
	}
}
