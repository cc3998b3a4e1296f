package department

import (
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
)

func testRegistry(t testing.TB) *Registry {
	t.Helper()
	r, err := New(
		Department{ID: "tax", Name: "税务局", NameEN: "Tax Bureau", Domains: []string{"tax.example", "Shuiwu.Example."}, IPRanges: []string{"10.20.0.0/16"}},
		Department{ID: "gongan", Name: "公安局", Domains: []string{"gongan.example"}, Wildcards: true, Upstream: "https://api.gongan.example/v1"},
		Department{ID: "empty", Name: "无域名"},
	)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCheckNames(t *testing.T) {
	r := testRegistry(t)
	tests := []struct {
		name   string
		dept   string
		dns    []string
		ips    []string
		errHas string
	}{
		{"ok/exact domain", "tax", []string{"tax.example"}, nil, ""},
		{"ok/below domain", "tax", []string{"invoice.tax.example", "a.b.shuiwu.example"}, []string{"10.20.3.4"}, ""},
		{"ok/wildcard allowed", "gongan", []string{"*.api.gongan.example", "*.gongan.example"}, nil, ""},
		{"ok/no names", "empty", nil, nil, ""},
		{"fail/other domain", "tax", []string{"www.gov.cn"}, nil, `"www.gov.cn" is not under the department's domains (tax.example, shuiwu.example)`},
		{"fail/suffix without dot", "tax", []string{"eviltax.example"}, nil, "is not under"},
		{"fail/wildcard not allowed", "tax", []string{"*.tax.example"}, nil, "may not use wildcards"},
		{"fail/wildcard of parent", "gongan", []string{"*.example"}, nil, "is not under"},
		{"fail/wildcard of tld", "tax", []string{"*.cn"}, nil, "wildcard"},
		{"fail/ip outside", "tax", nil, []string{"10.21.0.1"}, "is not in the department's IP ranges"},
		{"fail/unspecified", "tax", nil, []string{"0.0.0.0"}, "is not a host address"},
		{"fail/unspecified v6", "tax", nil, []string{"::"}, "is not a host address"},
		{"fail/no ranges", "gongan", nil, []string{"10.20.0.1"}, "no permitted IP ranges"},
		{"fail/no domains", "empty", []string{"x.example"}, nil, "no permitted domains"},
		{"fail/unknown department", "nope", []string{"x.example"}, nil, `unknown department "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ips []net.IP
			for _, s := range tt.ips {
				ips = append(ips, net.ParseIP(s))
			}
			err := r.CheckNames(tt.dept, tt.dns, ips)
			if tt.errHas == "" {
				if err != nil {
					t.Fatalf("CheckNames: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("CheckNames error = %v, want it to contain %q", err, tt.errHas)
			}
			var ne *NameError
			if tt.dept != "nope" && !errors.As(err, &ne) {
				t.Fatalf("error %v is not a *NameError", err)
			}
			if tt.dept == "nope" && !errors.Is(err, ErrUnknown) {
				t.Fatalf("error %v does not wrap ErrUnknown", err)
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		name   string
		deps   []Department
		errHas string
	}{
		{"fail/bad id", []Department{{ID: "Tax", Name: "税务"}}, "id must be a slug"},
		{"fail/no name", []Department{{ID: "tax"}}, "name (Chinese) is required"},
		{"fail/bidi in name", []Department{{ID: "tax", Name: "税务\u202e局"}}, "U+202E"},
		{"fail/zero width in english name", []Department{{ID: "tax", Name: "税务", NameEN: "Ta\u200bx"}}, "U+200B"},
		{"fail/invalid utf8", []Department{{ID: "tax", Name: "\xff"}}, "not valid UTF-8"},
		{"fail/single label domain", []Department{{ID: "tax", Name: "税务", Domains: []string{"cn"}}}, "single label"},
		{"fail/wildcard domain", []Department{{ID: "tax", Name: "税务", Domains: []string{"*.tax.example"}}}, "not a DNS domain"},
		{"fail/everything range", []Department{{ID: "tax", Name: "税务", IPRanges: []string{"0.0.0.0/0"}}}, "admits every address"},
		{"fail/bad range", []Department{{ID: "tax", Name: "税务", IPRanges: []string{"10.0.0.1"}}}, "not a CIDR prefix"},
		{"fail/http upstream", []Department{{ID: "tax", Name: "税务", Upstream: "http://tax.example"}}, "not an https URL"},
		{"fail/duplicate", []Department{{ID: "tax", Name: "税务"}, {ID: "tax", Name: "税务2"}}, "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.deps...)
			if err == nil || !strings.Contains(err.Error(), tt.errHas) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("New error = %v, want ErrInvalid containing %q", err, tt.errHas)
			}
		})
	}
}

func TestRegistryAccessors(t *testing.T) {
	r := testRegistry(t)
	if got := strings.Join(r.IDs(), ","); got != "tax,gongan,empty" {
		t.Fatalf("IDs = %s", got)
	}
	d, err := r.Lookup("tax")
	if err != nil {
		t.Fatal(err)
	}
	if d.NameEN != "Tax Bureau" || d.Domains[1] != "shuiwu.example" {
		t.Fatalf("tax = %+v (want normalised domains)", d)
	}
	g, _ := r.Lookup("gongan")
	if g.NameEN != "gongan" {
		t.Fatalf("NameEN default = %q, want the ID", g.NameEN)
	}
	all := r.All()
	all[0].Domains[0] = "changed.example"
	if d.Domains[0] != "tax.example" {
		t.Fatal("All returned shared slices")
	}
	var nilReg *Registry
	if _, err := nilReg.Lookup("tax"); !errors.Is(err, ErrUnknown) {
		t.Fatalf("nil registry Lookup = %v", err)
	}
}

func TestSPIFFEID(t *testing.T) {
	id := SPIFFEID("tongxing.internal", "tax", "invoice-api")
	if id != "spiffe://tongxing.internal/dept/tax/svc/invoice-api" {
		t.Fatalf("SPIFFEID = %s", id)
	}
	u, _ := url.Parse(id)
	d, s, err := ParseSPIFFEID(u, "tongxing.internal")
	if err != nil || d != "tax" || s != "invoice-api" {
		t.Fatalf("ParseSPIFFEID = %q %q %v", d, s, err)
	}
	for _, bad := range []string{
		"spiffe://other.domain/dept/tax/svc/a",
		"spiffe://tongxing.internal/dept/tax/svc/a/b",
		"spiffe://tongxing.internal/dept/Tax/svc/a",
		"spiffe://tongxing.internal/svc/a/dept/tax",
		"https://tongxing.internal/dept/tax/svc/a",
		"spiffe://tongxing.internal/dept/tax/svc/a?x=1",
		"spiffe://u@tongxing.internal/dept/tax/svc/a",
	} {
		u, err := url.Parse(bad)
		if err != nil {
			continue
		}
		if _, _, err := ParseSPIFFEID(u, "tongxing.internal"); err == nil {
			t.Errorf("ParseSPIFFEID(%s) accepted", bad)
		}
	}
	if _, _, err := ParseSPIFFEID(nil, "tongxing.internal"); err == nil {
		t.Error("ParseSPIFFEID(nil) accepted")
	}
}

// FuzzPermitsDNS checks that the policy never admits a name outside the
// department's domains, and never a wildcard when wildcards are off.
func FuzzPermitsDNS(f *testing.F) {
	for _, s := range []string{"tax.example", "*.tax.example", "eviltax.example", "*.cn", "a.b.tax.example", ""} {
		f.Add(s)
	}
	r := testRegistry(f)
	d, _ := r.Lookup("tax")
	f.Fuzz(func(t *testing.T, name string) {
		if len(name) > 1024 {
			return
		}
		if d.PermitsDNS(name) != nil {
			return
		}
		if strings.HasPrefix(name, "*.") {
			t.Fatalf("wildcard %q admitted without Wildcards", name)
		}
		ok := false
		for _, dom := range d.Domains {
			if name == dom || strings.HasSuffix(name, "."+dom) {
				ok = true
			}
		}
		if !ok {
			t.Fatalf("%q admitted outside %v", name, d.Domains)
		}
	})
}

func TestExamplesAreValid(t *testing.T) {
	r, err := New(Examples()...)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.IDs(), ","); got != "gongan,renshe,tax,scjg" {
		t.Fatalf("example IDs = %s", got)
	}
	if err := r.CheckNames("tax", []string{"invoice.tax.example"}, nil); err != nil {
		t.Fatal(err)
	}
}
