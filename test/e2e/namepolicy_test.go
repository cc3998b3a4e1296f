package e2e

import (
	"strings"
	"syscall"
	"testing"

	"github.com/tongxing/tongxing/test/serverproc"
)

// TestNamePolicyCLI is finding 5 of issue 9 through the real binary: a
// registration officer cannot hand a tax service a code for names outside
// the tax department's policy (DATA/config.yaml of the development start:
// tax.example, no wildcards, no IP ranges), nor for an unregistered
// department; the refusal names the policy and the field.
func TestNamePolicyCLI(t *testing.T) {
	dir := t.TempDir()
	in := serverproc.Start(t, binary, dir)
	defer in.Stop(syscall.SIGTERM)
	tests := []struct {
		name string
		args []string
		says []string
	}{
		{"fail/wildcard-gov-cn", []string{"--department", "tax", "--dns", "*.gov.cn"}, []string{"subject.dns_names", `name policy of department tax: "*.gov.cn"`}},
		{"fail/www-gov-cn", []string{"--department", "tax", "--dns", "www.gov.cn"}, []string{"subject.dns_names", `name policy of department tax: "www.gov.cn" is not under the department's domains (tax.example)`}},
		{"fail/wildcard-cn", []string{"--department", "tax", "--dns", "*.cn"}, []string{"subject.dns_names", `"*.cn"`}},
		{"fail/unspecified-ip", []string{"--department", "tax", "--ip", "0.0.0.0"}, []string{"subject.ip_addresses", `name policy of department tax: "0.0.0.0"`}},
		{"fail/ip-without-ranges", []string{"--department", "tax", "--ip", "10.0.0.1"}, []string{"subject.ip_addresses", "no permitted IP ranges"}},
		{"fail/own-wildcard", []string{"--department", "tax", "--dns", "*.tax.example"}, []string{"may not use wildcards"}},
		{"fail/unknown-department", []string{"--department", "police", "--dns", "api.police.example"}, []string{"subject.department", `department "police" is not in the department registry`}},
		{"fail/tongxing-department", []string{"--department", "tongxing", "--dns", "localhost"}, []string{"reserved for Tongxing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"ca", "enrol-code", "--profile", "service", "--service", "portal"}, tt.args...)
			out, err := in.CLI(args...)
			if err == nil {
				t.Fatalf("enrol-code %v accepted:\n%s", tt.args, out)
			}
			for _, s := range append(tt.says, "403") {
				if !strings.Contains(out, s) {
					t.Errorf("output lacks %q:\n%s", s, out)
				}
			}
		})
	}
	t.Run("ok/within-the-policy", func(t *testing.T) {
		_, serial := in.Enrol(t, "portal", "--profile", "service", "--department", "tax", "--service", "portal", "--dns", "portal.tax.example", "--dns", "www.portal.tax.example")
		if serial == "" {
			t.Fatal("no certificate")
		}
	})
}
