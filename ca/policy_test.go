package ca_test

import (
	"context"
	"crypto/elliptic"
	"errors"
	"strings"
	"testing"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/catest"
	"github.com/tongxing/tongxing/department"
)

// TestNamePolicy checks the department name policy on service certificates
// requested with enrolment codes: at code creation, at redemption (when the
// registry changed in between), and that Tongxing's own certificates are
// not subject to it.
func TestNamePolicy(t *testing.T) {
	f := catest.New(t)
	ctx := context.Background()
	svc := func(dept string, dns []string, ips ...string) ca.Subject {
		return ca.Subject{Department: dept, Service: "api", DNSNames: dns, IPAddresses: ips}
	}
	tests := []struct {
		name    string
		subject ca.Subject
		field   string // "" for success
		says    string
	}{
		{"ok/under-domain", svc("tax", []string{"invoice.tax.example"}), "", ""},
		{"ok/domain-itself", svc("tax", []string{"tax.example"}), "", ""},
		{"ok/deep-name", svc("tax", []string{"a.b.invoice.tax.gov.example"}), "", ""},
		{"ok/ip-in-range", svc("tax", nil, "10.1.200.7", "2001:db8::1"), "", ""},
		{"ok/wildcard-where-allowed", svc("health", []string{"*.health.example"}), "", ""},
		{"ok/no-names", svc("social-security", nil), "", ""},
		{"fail/wildcard-gov-cn", svc("tax", []string{"*.gov.cn"}), "subject.dns_names", `name policy of department tax: "*.gov.cn"`},
		{"fail/www-gov-cn", svc("tax", []string{"invoice.tax.example", "www.gov.cn"}), "subject.dns_names", `name policy of department tax: "www.gov.cn" is not under the department's domains (tax.example, tax.gov.example)`},
		{"fail/wildcard-cn", svc("tax", []string{"*.cn"}), "subject.dns_names", `"*.cn"`},
		{"fail/unspecified-ip", svc("tax", nil, "0.0.0.0"), "subject.ip_addresses", `name policy of department tax: "0.0.0.0" is not a host address`},
		{"fail/ip-outside-ranges", svc("tax", nil, "10.2.0.1"), "subject.ip_addresses", "not in the department's IP ranges"},
		{"fail/wildcard-not-allowed", svc("tax", []string{"*.tax.example"}), "subject.dns_names", "may not use wildcards"},
		{"fail/suffix-lookalike", svc("tax", []string{"eviltax.example"}), "subject.dns_names", "not under the department's domains"},
		{"fail/other-departments-domain", svc("tax", []string{"records.health.example"}), "subject.dns_names", "not under"},
		{"fail/department-without-names", svc("social-security", []string{"pension.gov.cn"}), "subject.dns_names", "no permitted domains"},
		{"fail/unknown-department", svc("police", []string{"api.police.example"}), "subject.department", `department "police" is not in the department registry`},
		{"fail/tongxing-department", svc("tongxing", []string{"localhost"}), "subject.department", "reserved for Tongxing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := f.CA.CreateCode(ctx, ca.NewCodeRequest{Profile: "service", Subject: tt.subject, CreatedBy: "officer:test"})
			if tt.field == "" {
				if err != nil {
					t.Fatalf("CreateCode: %v", err)
				}
				return
			}
			re := requestError(t, err, tt.field, 403)
			if !strings.Contains(re.Error(), tt.says) {
				t.Errorf("error %q does not say %q", re, tt.says)
			}
			var ne *department.NameError
			if tt.field != "subject.department" && !errors.As(err, &ne) {
				t.Errorf("error %v is not a *department.NameError", err)
			}
		})
	}

	t.Run("fail/redeemed-after-the-policy-narrowed", func(t *testing.T) {
		code := f.Code(t, "service", svc("tax", []string{"invoice.tax.gov.example"}))
		narrow, err := department.New(department.Department{ID: "tax", Name: "税务局", Domains: []string{"tax.example"}})
		if err != nil {
			t.Fatal(err)
		}
		a, err := ca.New(f.CAs, f.Store, f.Store, ca.WithDepartments(narrow), ca.WithPseudonymKey(catest.PseudonymKey), ca.WithLogger(catest.Discard()))
		if err != nil {
			t.Fatal(err)
		}
		_, err = a.Enrol(ctx, ca.EnrolRequest{CSR: catest.PEMCSR(catest.CSR(t, catest.ECKey(t, elliptic.P256()))), Code: code})
		requestError(t, err, "subject.dns_names", 403)
		if _, err := f.CA.Enrol(ctx, ca.EnrolRequest{CSR: catest.PEMCSR(catest.CSR(t, catest.ECKey(t, elliptic.P256()))), Code: code}); err != nil {
			t.Fatalf("the refused redemption spent the code: %v", err)
		}
	})
	t.Run("ok/tongxing-issues-its-own", func(t *testing.T) {
		_, err := f.CA.Issue(ctx, ca.IssueRequest{PublicKey: catest.ECKey(t, elliptic.P256()).Public(), Profile: "service", RequestedBy: "system:serve",
			Subject: svc("tongxing", []string{"localhost", "ca.internal"}, "127.0.0.1", "::1")})
		if err != nil {
			t.Fatalf("internal TLS certificate: %v", err)
		}
	})
	t.Run("fail/acme-channel-checked-too", func(t *testing.T) {
		_, err := f.CA.Issue(ctx, ca.IssueRequest{PublicKey: catest.ECKey(t, elliptic.P256()).Public(), Profile: "service", RequestedBy: "acme:tax",
			Subject: svc("tax", []string{"www.gov.cn"}), Via: ca.ViaACME})
		requestError(t, err, "subject.dns_names", 403)
	})
	t.Run("fail/no-registry", func(t *testing.T) {
		a, err := ca.New(f.CAs, f.Store, f.Store, ca.WithPseudonymKey(catest.PseudonymKey), ca.WithLogger(catest.Discard()))
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = a.CreateCode(ctx, ca.NewCodeRequest{Profile: "service", Subject: svc("tax", []string{"invoice.tax.example"})})
		requestError(t, err, "subject.department", 403)
	})
}
