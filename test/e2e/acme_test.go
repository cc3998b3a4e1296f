package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tongxing/tongxing/test/serverproc"
)

// TestACMEDirectory starts the server with ACME configured for one
// department, in the form of earlier versions (acme.allowed_names, migrated
// with a warning), and reads its RFC 8555 directory.
func TestACMEDirectory(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tongxing.yaml")
	os.WriteFile(cfg, []byte("departments:\n  - {id: tax, name: 税务局, domains: [tax.example]}\nacme:\n  departments: [tax]\n  allowed_names:\n    tax: [\"*.tax.gov.example\"]\n"), 0o600)
	in := serverproc.Start(t, binary, dir, "--config", cfg)
	defer in.Stop(syscall.SIGTERM)
	if out := in.Out.String(); !strings.Contains(out, "acme.allowed_names is deprecated") || !strings.Contains(out, "tax.gov.example") {
		t.Errorf("no deprecation warning for acme.allowed_names:\n%s", out)
	}
	resp, err := in.Client().Get(in.URL("/acme/tax/directory"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil || resp.StatusCode != 200 {
		t.Fatalf("directory: %d %v", resp.StatusCode, err)
	}
	for _, k := range []string{"newNonce", "newAccount", "newOrder", "revokeCert"} {
		if _, ok := d[k]; !ok {
			t.Errorf("directory lacks %s: %v", k, d)
		}
	}
	resp2, err := in.Client().Get(in.URL("/acme/health/directory"))
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode < 400 {
		t.Errorf("directory of an unconfigured department: %d", resp2.StatusCode)
	}
}

// TestACMEDepartmentNotRegistered: an ACME department missing from the
// department registry stops the server with an error naming it.
func TestACMEDepartmentNotRegistered(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tongxing.yaml")
	os.WriteFile(cfg, []byte("departments:\n  - {id: tax, name: 税务局, domains: [tax.example]}\nacme:\n  departments: [tax, police]\n"), 0o600)
	cmd := exec.Command(binary, "serve", "--config", cfg, "--listen", "127.0.0.1:0", "--http-listen", "")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), `acme.departments names department "police"`) {
		t.Fatalf("serve with an unregistered ACME department: %v\n%s", err, out)
	}
}
