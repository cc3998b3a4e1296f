package acmeca

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestServiceSlug(t *testing.T) {
	long := strings.Repeat("abcdefghij", 7) + ".tax.example" // first label 70 characters
	tests := []struct {
		name    string
		in      string
		domains []string
		want    string
	}{
		{"ok/whole name", "invoice.tax.example", nil, "invoice-tax-example"},
		{"ok/relative to a domain", "invoice.tax.example", []string{"tax.example"}, "invoice"},
		{"ok/relative to a wildcard pattern", "api.invoice.tax.example", []string{"*.tax.example"}, "api-invoice"},
		{"ok/longest domain wins", "a.invoice.tax.example", []string{"tax.example", "invoice.tax.example"}, "a"},
		{"ok/name equal to the domain", "tax.example", []string{"tax.example"}, "tax"},
		{"ok/other domain ignored", "invoice.tax.example", []string{"health.example"}, "invoice-tax-example"},
		{"ok/suffix not at a label boundary", "mytax.example", []string{"tax.example"}, "mytax-example"},
		{"ok/wildcard name", "*.invoice.tax.example", []string{"tax.example"}, "invoice"},
		{"ok/upper case and trailing dot", "Invoice.Tax.Example.", []string{"tax.example"}, "invoice"},
		{"ok/IPv4", "10.20.0.7", nil, "ip-10-20-0-7"},
		{"ok/IPv6", "2001:db8::1", nil, "ip6-20010db8000000000000000000000001"},
		{"ok/too long is cut and hashed", long, []string{"tax.example"}, ""},
		{"ok/odd characters", "under_score.tax.example", []string{"tax.example"}, "under-score"},
		{"ok/nothing usable", "_.tax.example", []string{"tax.example"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ServiceSlug(tt.in, tt.domains)
			if !slugRE.MatchString(got) {
				t.Fatalf("ServiceSlug(%q) = %q, not a slug", tt.in, got)
			}
			if tt.want != "" && got != tt.want {
				t.Fatalf("ServiceSlug(%q, %v) = %q, want %q", tt.in, tt.domains, got, tt.want)
			}
			if got != ServiceSlug(tt.in, tt.domains) {
				t.Fatal("not deterministic")
			}
		})
	}
	if a, b := ServiceSlug(long, nil), ServiceSlug(strings.Replace(long, "j.", "k.", 1), nil); a == b {
		t.Fatalf("two long names cut to the same slug %q", a)
	}
}

func FuzzServiceSlug(f *testing.F) {
	f.Add("invoice.tax.example", "tax.example")
	f.Add("*.a.b.c", "*.b.c")
	f.Add("2001:db8::1", "")
	f.Add(strings.Repeat("x", 300), "x")
	f.Add("-.-", ".")
	f.Fuzz(func(t *testing.T, name, domain string) {
		if len(name) > 1024 || len(domain) > 1024 {
			return
		}
		got := ServiceSlug(name, []string{domain})
		if !slugRE.MatchString(got) || len(got) > maxSlug {
			t.Fatalf("ServiceSlug(%q, %q) = %q, not a slug", name, domain, got)
		}
		if got != ServiceSlug(name, []string{domain}) {
			t.Fatal("not deterministic")
		}
	})
}

func TestFinalizePath(t *testing.T) {
	tests := []struct {
		name, path, dept, order string
	}{
		{"ok/finalize", "/acme/tax/order/abc123/finalize", "tax", "abc123"},
		{"ok/escaped", "/acme/t%61x/order/a%2Fb/finalize", "tax", "a/b"},
		{"fail/order", "/acme/tax/order/abc123", "", ""},
		{"fail/new-order", "/acme/tax/new-order", "", ""},
		{"fail/empty order", "/acme/tax/order//finalize", "", ""},
		{"fail/extra segment", "/acme/tax/order/a/finalize/x", "", ""},
		{"fail/bad escape", "/acme/t%zzx/order/a/finalize", "", ""},
		{"fail/other prefix", "/ca/v1/tax/order/a/finalize", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dept, order, ok := finalizePath(tt.path)
			if ok != strings.HasPrefix(tt.name, "ok/") || dept != tt.dept || order != tt.order {
				t.Fatalf("finalizePath(%q) = %q, %q, %v", tt.path, dept, order, ok)
			}
		})
	}
}

func FuzzFinalizePath(f *testing.F) {
	f.Add("/acme/tax/order/abc/finalize")
	f.Add("/acme/%2F/order/%00/finalize")
	f.Add("/acme//order//finalize")
	f.Fuzz(func(t *testing.T, p string) {
		if len(p) > 4096 {
			return
		}
		dept, order, ok := finalizePath(p)
		if !ok {
			if dept != "" || order != "" {
				t.Fatalf("refused %q but returned %q, %q", p, dept, order)
			}
			return
		}
		if order == "" {
			t.Fatalf("accepted %q with an empty order ID", p)
		}
		again := Prefix + url.PathEscape(dept) + "/order/" + url.PathEscape(order) + "/finalize"
		d2, o2, ok2 := finalizePath(again)
		if !ok2 || d2 != dept || o2 != order {
			t.Fatalf("%q -> (%q, %q) does not round-trip through %q", p, dept, order, again)
		}
	})
}

func TestAccountHints(t *testing.T) {
	h := newAccountHints()
	k := hintKey("tax", []string{"B.tax.example", "a.tax.example."}, []string{"10.0.0.1"})
	if k != hintKey("tax", []string{"a.tax.example", "b.tax.example"}, []string{"10.0.0.1", "10.0.0.1"}) {
		t.Fatal("key depends on order, case or duplicates")
	}
	if k == hintKey("health", []string{"a.tax.example", "b.tax.example"}, []string{"10.0.0.1"}) {
		t.Fatal("key does not depend on the department")
	}
	tests := []struct {
		name string
		hold []string
		want string
	}{
		{"ok/none", nil, ""},
		{"ok/one", []string{"x"}, "x"},
		{"ok/one twice", []string{"x", "x"}, "x"},
		{"fail/two accounts", []string{"x", "y"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var releases []func()
			for _, a := range tt.hold {
				releases = append(releases, h.hold(k, a))
			}
			if got := h.account(k); got != tt.want {
				t.Fatalf("account = %q, want %q", got, tt.want)
			}
			for _, r := range releases {
				r()
			}
			if got := h.account(k); got != "" || len(h.m) != 0 {
				t.Fatalf("after release: account %q, %d keys held", got, len(h.m))
			}
		})
	}
}

func TestChallengeClient(t *testing.T) {
	big := strings.Repeat("k", 1<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/acme-challenge/big":
			io.WriteString(w, big)
		case "/.well-known/acme-challenge/loop":
			http.Redirect(w, r, r.URL.String(), http.StatusFound)
		case "/.well-known/acme-challenge/ftp":
			http.Redirect(w, r, "ftp://example.org/x", http.StatusFound)
		default:
			io.WriteString(w, "token.thumbprint")
		}
	}))
	defer srv.Close()
	var dialed []string
	c := newChallengeClient(func(ctx context.Context, network, addr string) (net.Conn, error) {
		dialed = append(dialed, addr)
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Listener.Addr().String())
	})
	tests := []struct {
		name    string
		token   string
		wantLen int
	}{
		{"ok/key authorization", "tok", len("token.thumbprint")},
		{"ok/body cut at the limit", "big", maxChallengeBody},
		{"fail/redirect loop", "loop", 0},
		{"fail/redirect to ftp", "ftp", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := c.Get("http://svc.tax.example/.well-known/acme-challenge/" + tt.token)
			if strings.HasPrefix(tt.name, "fail/") {
				if err == nil {
					resp.Body.Close()
					t.Fatal("Get succeeded")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || len(b) != tt.wantLen {
				t.Fatalf("read %d bytes (%v), want %d", len(b), err, tt.wantLen)
			}
		})
	}
	if len(dialed) == 0 || dialed[0] != "svc.tax.example:80" {
		t.Fatalf("dialed %v, want svc.tax.example:80 first", dialed)
	}
}

func TestChallengeClientTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	c := newChallengeClient(func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr != "svc.tax.example:443" {
			return nil, fmt.Errorf("unexpected address %s", addr)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Listener.Addr().String())
	})
	conn, err := c.TLSDial("tcp", "svc.tax.example:443", &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}) //nolint:gosec // test server
	if err != nil {
		t.Fatalf("TLSDial: %v", err)
	}
	defer conn.Close()
	if sn := conn.ConnectionState().ServerName; sn != "svc.tax.example" {
		t.Fatalf("SNI %q, want svc.tax.example", sn)
	}
	if _, err := c.TLSDial("tcp", "svc.tax.example:443", nil); err == nil {
		t.Fatal("TLSDial without a configuration succeeded")
	}
}

func TestWithSearchPath(t *testing.T) {
	tests := []struct {
		name, in string
	}{
		{"ok/url", "postgres://u@127.0.0.1:5432/db?sslmode=disable"},
		{"ok/postgresql url", "postgresql://u@127.0.0.1/db"},
		{"ok/url with a search path", "postgres://u@h/db?search_path=public"},
		{"ok/key value", "host=127.0.0.1 user=u dbname=db sslmode=disable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := withSearchPath(tt.in, PostgresSchema)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := pgx.ParseConfig(out)
			if err != nil {
				t.Fatalf("pgx cannot parse %q: %v", out, err)
			}
			if got := cfg.RuntimeParams["search_path"]; got != PostgresSchema {
				t.Fatalf("search_path %q in %q", got, out)
			}
		})
	}
}
