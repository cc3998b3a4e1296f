package e2e

import (
	"io"
	"strings"
	"syscall"
	"testing"

	"github.com/tongxing/tongxing/test/serverproc"
)

// TestCertificateExposure is finding 11 of issue 9 (the CA part) through the
// real binary: without an officer token a certificate shows only its
// status, never the citizen's name or the certificate; `ca show` with the
// registration officer's token shows the details, --status-only what anyone
// sees.
func TestCertificateExposure(t *testing.T) {
	dir := t.TempDir()
	in := serverproc.Start(t, binary, dir)
	defer in.Stop(syscall.SIGTERM)
	_, serial := in.Enrol(t, "zhangsan", "--profile", "citizen", "--name", "张三", "--id-number", "11010519491231002X")
	if out, err := in.CLI("ca", "hold", serial, "--comment", "card reported lost"); err != nil {
		t.Fatalf("hold: %v\n%s", err, out)
	}
	resp, err := in.Client().Get(in.URL("/ca/v1/certificates/" + serial))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"status": "hold"`) {
		t.Fatalf("public view: %d %s", resp.StatusCode, body)
	}
	for _, leak := range []string{"张三", "CERTIFICATE", "subject", "requested_by"} {
		if strings.Contains(string(body), leak) {
			t.Errorf("without a token the answer shows %q:\n%s", leak, body)
		}
	}
	out, err := in.CLI("ca", "show", serial)
	if err != nil || !strings.Contains(out, "张三") || !strings.Contains(out, "BEGIN CERTIFICATE") {
		t.Errorf("ca show with the officer token: %v\n%s", err, out)
	}
	out, err = in.CLI("ca", "show", serial, "--status-only", "--token", "")
	if err != nil || !strings.Contains(out, "status:       hold") || !strings.Contains(out, "certificateHold") || strings.Contains(out, "张三") {
		t.Errorf("ca show --status-only: %v\n%s", err, out)
	}
}
