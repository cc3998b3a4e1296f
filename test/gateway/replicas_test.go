package gateway_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tongxing/tongxing/gateway"
	"github.com/tongxing/tongxing/policies"
	"github.com/tongxing/tongxing/store/storetest"
	"github.com/tongxing/tongxing/test/serverproc"
)

// TestPolicyChangeOnReplicas runs two replicas on one PostgreSQL database.
// A system administrator activates a new bundle on replica A; replica B
// picks it up without a restart, and its next audit entry carries the new
// revision.
func TestPolicyChangeOnReplicas(t *testing.T) {
	dsn := storetest.PostgresDSN(t) // skips, saying so, without TONGXING_TEST_POSTGRES
	dir := t.TempDir()
	d := newDeployment(t, dir)
	a := serverproc.Start(t, binary, dir, "--config", filepath.Join(dir, "tongxing.yaml"), "--database", dsn)
	defer a.Stop(syscall.SIGTERM)
	// B: same database and data directory, its own gateway port, A's
	// public URL (one load balancer in front of both).
	bGW := serverproc.FreePort(t)
	raw, _ := os.ReadFile(filepath.Join(dir, "tongxing.yaml"))
	var cfg map[string]any
	json.Unmarshal(raw, &cfg)
	cfg["gateway"].(map[string]any)["listen"] = "127.0.0.1:" + bGW
	d.write(t, "tongxing-b.yaml", cfg)
	b := serverproc.Start(t, binary, dir, "--config", filepath.Join(dir, "tongxing-b.yaml"), "--database", dsn, "--public-url", a.URL(""))
	defer b.Stop(syscall.SIGTERM)

	revision := func(in *serverproc.Instance) string {
		r, _ := do(t, in.Client(), "GET", in.URL("/readyz"), nil, nil).json(t)["policy_revision"].(string)
		return r
	}
	first := revision(a)
	if first == "" || revision(b) != first {
		t.Fatalf("revisions A %q, B %q", first, revision(b))
	}
	a.Enrol(t, "renshe-api", "--profile", "service", "--department", "renshe", "--service", "api", "--ip", "127.0.0.1")
	a.Enrol(t, "tax-svc", "--profile", "service", "--department", "tax", "--service", "invoice-api", "--dns", "invoice.tax.example")
	renshe := startUpstream(t, a, "renshe", d.rensheGP, "/api", serverproc.ServiceCert(t, filepath.Join(dir, "renshe-api")), rensheReplies)
	taxCert := serverproc.ServiceCert(t, filepath.Join(dir, "tax-svc"))
	viaB := func() response {
		return do(t, gatewayClient(t, b, &taxCert), "GET", "https://localhost:"+bGW+"/gw/renshe/v1/pensions?id_number="+idNumber,
			map[string]string{gateway.HeaderPurpose: "P-IIT-VERIFY"}, nil)
	}
	if r := viaB(); r.status != 403 || !strings.Contains(r.body, "expired") {
		t.Fatalf("before the change: %d %s", r.status, r.body)
	}

	// The sysadmin renews agreement A-2024-007: a copy of the policy
	// directory with the new expiry, built, signed and pushed to A.
	pol := filepath.Join(dir, "policy")
	os.MkdirAll(pol, 0o755)
	for _, f := range []string{"gateway.rego", "gateway_test.rego", "data.json"} {
		b, err := policies.FS.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if f == "data.json" {
			b = []byte(strings.Replace(string(b), `"expires": "2025-06-30T23:59:59+08:00"`, `"expires": "2031-06-30T23:59:59+08:00"`, 1))
		}
		os.WriteFile(filepath.Join(pol, f), b, 0o644)
	}
	if out, err := a.Run("policy", "test", "--dir", "policy"); err == nil || !strings.Contains(out, "failed") {
		// The Rego test of the expired agreement must now fail: the tests
		// run against the data they ship with.
		t.Fatalf("policy test on the changed data: %v\n%s", err, out)
	}
	out, err := a.Run("policy", "build", "--dir", "policy", "--revision", "r-renewed-a-2024-007", "-o", "renewed.tar.gz", "--database", dsn)
	if err != nil {
		t.Fatalf("policy build: %v\n%s", err, out)
	}
	if out, err := a.CLI("policy", "push", "renewed.tar.gz"); err != nil || !strings.Contains(out, "r-renewed-a-2024-007") {
		t.Fatalf("policy push: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for revision(b) != "r-renewed-a-2024-007" {
		if time.Now().After(deadline) {
			t.Fatalf("replica B still evaluates with %q", revision(b))
		}
		time.Sleep(100 * time.Millisecond)
	}
	r := viaB()
	if r.status != 200 || r.header.Get(gateway.HeaderRevision) != "r-renewed-a-2024-007" {
		t.Fatalf("after the change: %d %s", r.status, r.body)
	}
	if m := r.json(t); len(m) != 2 || m["monthly_amount"] == nil || m["id_number"] == nil {
		t.Fatalf("fields %v", m)
	}
	if last := renshe.last(); last.err != nil {
		t.Fatalf("upstream refused: %v", last.err)
	}
	out, err = a.CLI("audit", "search", "--json", "--action", gateway.ActionCall, "--limit", "1000")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if lastLine := lines[len(lines)-1]; !strings.Contains(lastLine, `"policy_revision":"r-renewed-a-2024-007"`) || !strings.Contains(lastLine, `"decision":"allow"`) {
		t.Fatalf("newest gateway entry: %s", lastLine)
	}
	if out, err := a.CLI("audit", "search", "--json", "--action", "authz.bundle.activate"); err != nil || !strings.Contains(out, "r-renewed-a-2024-007") || !strings.Contains(out, "officer:") {
		t.Fatalf("activation not audited with the officer: %v\n%s", err, out)
	}
}

// TestServeRefusesBadBundle starts a fresh deployment whose configured
// bundle was changed after signing: serve refuses to start.
func TestServeRefusesBadBundle(t *testing.T) {
	dir := t.TempDir()
	d := newDeployment(t, dir)
	in := serverproc.Start(t, binary, dir, "--config", filepath.Join(dir, "tongxing.yaml"))
	out, err := in.Run("policy", "build", "-o", "good.tar.gz")
	if err != nil {
		t.Fatalf("policy build: %v\n%s", err, out)
	}
	in.Stop(syscall.SIGTERM)
	good, _ := os.ReadFile(filepath.Join(dir, "good.tar.gz"))
	os.WriteFile(filepath.Join(dir, "bad.tar.gz"), tamper(t, good), 0o644)
	// A new database (the bundle applies when none is active), the same keys.
	raw, _ := os.ReadFile(filepath.Join(dir, "tongxing.yaml"))
	var cfg map[string]any
	json.Unmarshal(raw, &cfg)
	cfg["gateway"].(map[string]any)["bundle"] = "bad.tar.gz"
	cfg["database"] = filepath.Join(dir, "fresh.db")
	d.write(t, "bad.yaml", cfg)
	out, err = in.Run("serve", "--config", "bad.yaml", "--listen", "127.0.0.1:"+serverproc.FreePort(t), "--http-listen", "")
	if err == nil || !strings.Contains(out, "signature") {
		t.Fatalf("serve with a tampered bundle: %v\n%s", err, out)
	}
	cfg["gateway"].(map[string]any)["bundle"] = "good.tar.gz"
	d.write(t, "good.yaml", cfg)
	ok := serverproc.Start(t, binary, dir, "--config", filepath.Join(dir, "good.yaml"))
	defer ok.Stop(syscall.SIGTERM)
	if r, _ := do(t, ok.Client(), "GET", ok.URL("/readyz"), nil, nil).json(t)["policy_revision"].(string); !strings.HasPrefix(r, "r-") {
		t.Fatalf("revision %q", r)
	}
}
