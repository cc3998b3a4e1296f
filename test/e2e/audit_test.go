package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/test/serverproc"
)

// TestAuditTrail reads the audit trail the way a security officer does and
// then tampers with the stored log.
func TestAuditTrail(t *testing.T) {
	dir := t.TempDir()
	in := serverproc.Start(t, binary, dir)
	_, serial := enrol(t, in, "svc", "--profile", "service", "--department", "tax", "--service", "api", "--dns", "api.tax.example")
	if out, err := in.CLI("ca", "revoke", serial, "--reason", "superseded"); err != nil {
		t.Fatalf("revoke: %v\n%s", err, out)
	}
	t.Run("ok/search-finds-issuance-and-revocation", func(t *testing.T) {
		for _, action := range []string{"ca.certificate.issue", "ca.certificate.revoke", "ca.enrolment-code.create"} {
			out, err := in.CLI("audit", "search", "--json", "--action", action)
			if err != nil || !strings.Contains(out, action) {
				t.Errorf("search %s: %v\n%s", action, err, out)
			}
		}
		out, _ := in.CLI("audit", "search", "--json", "--action", "ca.certificate.revoke")
		if !strings.Contains(out, serial) || !strings.Contains(out, "officer:ra-1") || !strings.Contains(out, "reason superseded") {
			t.Errorf("revocation entry lacks who/what/why:\n%s", out)
		}
	})
	t.Run("ok/reads-are-logged", func(t *testing.T) {
		out, err := in.CLI("audit", "search", "--json", "--action", "audit.entries.search")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if !strings.Contains(out, "officer:auditor-1") {
			t.Errorf("earlier searches were not recorded:\n%s", out)
		}
	})
	t.Run("ok/export-verifies-offline", func(t *testing.T) {
		if out, err := in.CLI("audit", "export", "-o", "bundle.jsonl"); err != nil {
			t.Fatalf("export: %v\n%s", err, out)
		}
		out, err := in.Run("audit", "verify-bundle", "bundle.jsonl", "--key", filepath.Join("tongxing-data", "pki", "audit-sm2.pub.pem"))
		if err != nil || !strings.Contains(out, "bundle OK") {
			t.Errorf("verify-bundle: %v\n%s", err, out)
		}
	})
	if err := in.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("stop: %v", err)
	}
	t.Run("ok/verify-intact", func(t *testing.T) {
		out, err := in.Run("audit", "verify")
		if err != nil || !strings.Contains(out, "audit log OK") {
			t.Fatalf("verify: %v\n%s", err, out)
		}
	})
	t.Run("fail/verify-names-the-changed-entry", func(t *testing.T) {
		db, err := store.Open(context.Background(), filepath.Join(dir, "tongxing-data", "tongxing.db"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = db.Exec(context.Background(), "UPDATE audit_entries SET body = REPLACE(body, 'superseded', 'unspecifie') WHERE action = 'ca.certificate.revoke'")
		var idx int64
		db.QueryRow(context.Background(), "SELECT idx FROM audit_entries WHERE action = 'ca.certificate.revoke'").Scan(&idx)
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		out, err := in.Run("audit", "verify")
		if err == nil || !strings.Contains(out, fmt.Sprintf("entry %d:", idx)) {
			t.Errorf("verify after tampering entry %d: %v\n%s", idx, err, out)
		}
	})
}
