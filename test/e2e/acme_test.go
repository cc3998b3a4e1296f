package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/tongxing/tongxing/test/serverproc"
)

// TestACMEDirectory starts the server with ACME configured for one
// department and reads its RFC 8555 directory.
func TestACMEDirectory(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tongxing.yaml")
	os.WriteFile(cfg, []byte("acme:\n  departments: [tax]\n  allowed_names:\n    tax: [\"*.tax.example\"]\n"), 0o600)
	in := serverproc.Start(t, binary, dir, "--config", cfg)
	defer in.Stop(syscall.SIGTERM)
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
