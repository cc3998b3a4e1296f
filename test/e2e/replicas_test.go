package e2e

import (
	"encoding/json"
	"io"
	"strings"
	"syscall"
	"testing"

	"github.com/tongxing/tongxing/store/storetest"
	"github.com/tongxing/tongxing/test/serverproc"
)

// TestReplicasOnPostgres runs two `tongxing serve` processes on one
// PostgreSQL database and one data directory, as a scaled-out deployment
// does: what one issues the other serves, enrolment codes stay single-use
// across them, and the audit log stays one verifiable log.
func TestReplicasOnPostgres(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	dir := t.TempDir()
	a := serverproc.Start(t, binary, dir, "--database", dsn)
	// Replicas share the public URL (a load balancer in front of them).
	b := serverproc.Start(t, binary, dir, "--database", dsn, "--public-url", a.URL(""))
	defer b.Stop(syscall.SIGTERM)

	resp, err := a.Client().Get(a.URL("/readyz"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "postgres") {
		t.Fatalf("readyz does not report PostgreSQL: %s", body)
	}

	out, err := a.CLI("ca", "enrol-code", "--profile", "service", "--department", "tax", "--service", "api", "--dns", "api.tax.example", "--json")
	if err != nil {
		t.Fatalf("enrol-code on A: %v\n%s", err, out)
	}
	var code struct{ Code string }
	json.Unmarshal([]byte(out), &code)
	out, err = b.CLI("ca", "request", "--profile", "service", "--code", code.Code, "--out", "svc")
	if err != nil {
		t.Fatalf("request on B with A's code: %v\n%s", err, out)
	}
	serial := strings.Fields(out)[4]
	if out, err := a.CLI("ca", "request", "--profile", "service", "--code", code.Code, "--out", "svc2"); err == nil || !strings.Contains(out, "already been used") {
		t.Errorf("code reused on the other replica: %v\n%s", err, out)
	}
	if out, err := a.CLI("ca", "show", serial); err != nil || !strings.Contains(out, serial) {
		t.Errorf("A does not see B's certificate: %v\n%s", err, out)
	}
	if out, err := a.CLI("ca", "revoke", serial, "--reason", "superseded"); err != nil {
		t.Fatalf("revoke on A: %v\n%s", err, out)
	}
	if out, err := b.CLI("audit", "search", "--json", "--action", "ca.certificate.revoke"); err != nil || !strings.Contains(out, serial) {
		t.Errorf("B's audit search misses A's revocation: %v\n%s", err, out)
	}
	if err := a.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("stop A: %v", err)
	}
	// B carries on alone (and takes over sequencing the audit log if A held it).
	out, err = b.CLI("ca", "enrol-code", "--profile", "citizen", "--name", "张三", "--id-number", "11010519491231002X", "--json")
	if err != nil {
		t.Fatalf("enrol-code on B after A stopped: %v\n%s", err, out)
	}
	if out, err := b.CLI("audit", "search", "--json", "--action", "ca.enrolment-code.create"); err != nil || strings.Count(out, "ca.enrolment-code.create") < 2 {
		t.Errorf("audit entries after failover: %v\n%s", err, out)
	}
	b.Stop(syscall.SIGTERM)
	if out, err := b.Run("audit", "verify", "--database", dsn); err != nil || !strings.Contains(out, "audit log OK") {
		t.Errorf("audit verify on PostgreSQL: %v\n%s", err, out)
	}
}
