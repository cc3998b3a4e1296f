// Package e2e runs the tongxing binary as an operator would: zero-config
// start, CLI enrolment, graceful shutdown, restart, and a crash after
// issuance.
package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tongxing/tongxing/test/serverproc"
)

var binary string

func TestMain(m *testing.M) { serverproc.Main(m, &binary) }

func TestZeroConfigServe(t *testing.T) {
	dir := t.TempDir()
	in := serverproc.Start(t, binary, dir)

	t.Run("ok/prints-roots-and-trust-instructions", func(t *testing.T) {
		out := in.Out.String()
		for _, want := range []string{"tongxing-data/pki/intl-root.crt", "tongxing-data/pki/gm-root.crt", "curl --cacert", "WARNING"} {
			if !strings.Contains(out, want) {
				t.Errorf("startup output lacks %q:\n%s", want, out)
			}
		}
		for _, f := range []string{"passphrase", "sysadmin-token", "ra-token", "auditor-token", "metrics-token"} {
			info, err := os.Stat(filepath.Join(dir, "tongxing-data", "secrets", f))
			if err != nil || info.Mode().Perm() != 0o600 {
				t.Errorf("%s: %v; want mode 0600", f, err)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "tongxing-data", "secrets", "admin-token")); !os.IsNotExist(err) {
			t.Errorf("an all-powerful admin token was written: %v", err)
		}
	})
	t.Run("ok/readyz-and-metrics", func(t *testing.T) {
		metricsToken, err := os.ReadFile(filepath.Join(dir, "tongxing-data", "secrets", "metrics-token"))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"/readyz", "/metrics"} {
			req, _ := http.NewRequest("GET", in.URL(p), nil)
			req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(metricsToken)))
			resp, err := in.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("%s: %d %s", p, resp.StatusCode, body)
			}
			if p == "/metrics" && !strings.Contains(string(body), "tongxing_http_requests_total") {
				t.Errorf("/metrics lacks tongxing_http_requests_total")
			}
		}
	})
	t.Run("fail/unknown-path-is-problem-json", func(t *testing.T) {
		resp, err := in.Client().Get(in.URL("/nope"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("got %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	})

	var serial string
	t.Run("ok/cli-enrol-code-and-request", func(t *testing.T) {
		out, err := in.CLI("ca", "enrol-code", "--profile", "enterprise-sign", "--organization", "示例科技有限公司", "--uscc", "91350100M000100Y43", "--json")
		if err != nil {
			t.Fatalf("enrol-code: %v\n%s", err, out)
		}
		var code struct{ Code string }
		if err := json.Unmarshal([]byte(out), &code); err != nil || code.Code == "" {
			t.Fatalf("enrol-code output %q: %v", out, err)
		}
		out, err = in.CLI("ca", "request", "--profile", "enterprise-sign", "--code", code.Code, "--out", "ecert")
		if err != nil {
			t.Fatalf("request: %v\n%s", err, out)
		}
		for _, f := range []string{"key.pem", "cert.pem", "chain.pem", "key.pass"} {
			if _, err := os.Stat(filepath.Join(dir, "ecert", f)); err != nil {
				t.Errorf("request did not write %s: %v", f, err)
			}
		}
		key, _ := os.ReadFile(filepath.Join(dir, "ecert", "key.pem"))
		if !bytes.Contains(key, []byte("ENCRYPTED PRIVATE KEY")) {
			t.Errorf("key.pem is not encrypted:\n%s", key)
		}
		sc := bufio.NewScanner(strings.NewReader(out))
		for sc.Scan() {
			if s, ok := strings.CutPrefix(sc.Text(), "issued enterprise-sign certificate, serial "); ok {
				serial = s
			}
		}
		if serial == "" {
			t.Fatalf("no serial in output:\n%s", out)
		}
		out, err = in.CLI("ca", "request", "--profile", "enterprise-sign", "--code", code.Code, "--out", "ecert2")
		if err == nil || !strings.Contains(out, "already been used") {
			t.Errorf("second use of the code: err=%v out=%s", err, out)
		}
		out, err = in.CLI("ca", "list", "--profile", "enterprise-sign")
		if err != nil || !strings.Contains(out, serial) {
			t.Errorf("list: %v\n%s", err, out)
		}
		out, err = in.CLI("ca", "show", serial)
		if err != nil || !strings.Contains(out, "BEGIN CERTIFICATE") {
			t.Errorf("show: %v\n%s", err, out)
		}
	})

	t.Run("ok/sigterm-graceful-then-restart-reuses-everything", func(t *testing.T) {
		rootBefore, _ := os.ReadFile(filepath.Join(dir, "tongxing-data", "pki", "gm-root.crt"))
		tlsBefore, _ := os.ReadFile(filepath.Join(dir, "tongxing-data", "tls", "server.crt"))
		if err := in.Stop(syscall.SIGTERM); err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, in.Out)
		}
		if !strings.Contains(in.Out.String(), "shutting down") {
			t.Errorf("no graceful shutdown logged:\n%s", in.Out)
		}
		if strings.Contains(in.Out.String(), "level=ERROR") {
			t.Errorf("errors logged by a fresh start (the audit log must not checkpoint before the TSA is open):\n%s", in.Out)
		}
		in2 := serverproc.Start(t, binary, dir)
		if strings.Contains(in2.Out.String(), "creating development CA") {
			t.Errorf("restart created a new PKI:\n%s", in2.Out)
		}
		rootAfter, _ := os.ReadFile(filepath.Join(dir, "tongxing-data", "pki", "gm-root.crt"))
		tlsAfter, _ := os.ReadFile(filepath.Join(dir, "tongxing-data", "tls", "server.crt"))
		if !bytes.Equal(rootBefore, rootAfter) || !bytes.Equal(tlsBefore, tlsAfter) {
			t.Error("restart replaced the root or the TLS certificate")
		}
		out, err := in2.CLI("ca", "show", serial)
		if err != nil || !strings.Contains(out, serial) {
			t.Errorf("certificate lost across restart: %v\n%s", err, out)
		}
		in2.Stop(syscall.SIGTERM)
	})
}

// TestCrashAfterIssuance kills the server with SIGKILL right after it
// answered an enrolment; the certificate must be in the inventory after
// restart.
func TestCrashAfterIssuance(t *testing.T) {
	dir := t.TempDir()
	in := serverproc.Start(t, binary, dir)
	var serials []string
	for i := range 5 {
		out, err := in.CLI("ca", "enrol-code", "--profile", "service", "--department", "tax", "--service", fmt.Sprintf("svc-%d", i), "--dns", fmt.Sprintf("svc%d.tax.example", i), "--json")
		if err != nil {
			t.Fatalf("enrol-code: %v\n%s", err, out)
		}
		var code struct{ Code string }
		json.Unmarshal([]byte(out), &code)
		out, err = in.CLI("ca", "request", "--profile", "service", "--code", code.Code, "--out", fmt.Sprintf("svc%d", i))
		if err != nil {
			t.Fatalf("request: %v\n%s", err, out)
		}
		f := strings.Fields(out)
		for j, w := range f {
			if w == "serial" && j+1 < len(f) {
				serials = append(serials, f[j+1])
			}
		}
	}
	in.Kill()
	in2 := serverproc.Start(t, binary, dir)
	for _, s := range serials {
		resp, err := in2.Client().Get(in2.URL("/ca/v1/certificates/" + s))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("certificate %s acknowledged before SIGKILL is missing after restart: %d", s, resp.StatusCode)
		}
	}
	if len(serials) != 5 {
		t.Fatalf("got %d serials, want 5", len(serials))
	}
	in2.Stop(syscall.SIGTERM)
}

func TestInitAndConfigPrint(t *testing.T) {
	dir := t.TempDir()
	run := func(env []string, args ...string) (string, error) {
		cmd := exec.Command(binary, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Run("fail/init-without-passphrase", func(t *testing.T) {
		out, err := run([]string{"TONGXING_KEY_PASSPHRASE="}, "init", "--data", "pki1")
		if err == nil || !strings.Contains(out, "TONGXING_KEY_PASSPHRASE") {
			t.Errorf("init without a passphrase: err=%v\n%s", err, out)
		}
	})
	for _, weak := range []struct{ pass, says string }{
		{"...", "3 characters, fewer than 12"},
		{"correct horse battery staple", "common password"},
		{"Password123456!", "common password"},
		{"aaaaaaaaaaaaaaaa", "different characters"},
	} {
		t.Run("fail/init-weak-passphrase-"+weak.pass, func(t *testing.T) {
			out, err := run([]string{"TONGXING_KEY_PASSPHRASE=" + weak.pass}, "init", "--data", "weak")
			if err == nil || !strings.Contains(out, weak.says) || !strings.Contains(out, "--allow-weak-passphrase") {
				t.Errorf("init with passphrase %q: err=%v\n%s", weak.pass, err, out)
			}
			if _, err := os.Stat(filepath.Join(dir, "weak", "pki")); err == nil {
				t.Error("a refused init made a PKI")
			}
		})
	}
	t.Run("ok/init-weak-passphrase-allowed-for-labs", func(t *testing.T) {
		out, err := run([]string{"TONGXING_KEY_PASSPHRASE=..."}, "init", "--data", "lab", "--suites", "intl", "--allow-weak-passphrase")
		if err != nil || !strings.Contains(out, "WARNING: weak CA key passphrase") {
			t.Errorf("init --allow-weak-passphrase: err=%v\n%s", err, out)
		}
	})
	t.Run("ok/init-with-env-passphrase", func(t *testing.T) {
		out, err := run([]string{"TONGXING_KEY_PASSPHRASE=plum orbit canvas ladder 42"}, "init", "--data", "pki2", "--org", "示例市大数据局", "--suites", "gm", "--ca-name", "gm-root=示例市 SM2 根 CA", "--root-validity", "10y", "--issuing-validity", "5y",
			"--public-url", "https://ca.example.gov.cn:8443")
		if err != nil {
			t.Fatalf("init: %v\n%s", err, out)
		}
		for _, want := range []string{"gm-root", "gm-issuing", "示例市大数据局", "txo_", "CN=示例市 SM2 根 CA", "sysadmin-1", "ra-1", "auditor-1"} {
			if !strings.Contains(out, want) {
				t.Errorf("init output lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "intl-root") || !strings.Contains(out, "distid") {
			t.Errorf("--suites gm created an intl hierarchy:\n%s", out)
		}
		key, _ := os.ReadFile(filepath.Join(dir, "pki2", "keys", "gm-root.key"))
		if !bytes.Contains(key, []byte("ENCRYPTED PRIVATE KEY")) {
			t.Errorf("CA key not encrypted at rest")
		}
		// What init chose is kept in DATA/config.yaml, which serve and the
		// client commands read with --data.
		conf, _ := os.ReadFile(filepath.Join(dir, "pki2", "config.yaml"))
		for _, want := range []string{"public_url: https://ca.example.gov.cn:8443", "organization: 示例市大数据局"} {
			if !strings.Contains(string(conf), want) {
				t.Errorf("config.yaml lacks %q:\n%s", want, conf)
			}
		}
		out, err = run(nil, "config", "print", "--data", "pki2")
		if err != nil || !strings.Contains(out, "public_url: https://ca.example.gov.cn:8443") || !strings.Contains(out, "organization: 示例市大数据局") {
			t.Errorf("config print --data pki2: err=%v\n%s", err, out)
		}
		out, err = run([]string{"TONGXING_KEY_PASSPHRASE=x"}, "init", "--data", "pki2")
		if err == nil || !strings.Contains(out, "already") {
			t.Errorf("second init: err=%v\n%s", err, out)
		}
	})
	t.Run("ok/config-print-shows-effective-values", func(t *testing.T) {
		cfgFile := filepath.Join(dir, "tongxing.yaml")
		os.WriteFile(cfgFile, []byte("public_url: https://ca.example.gov.cn\nca:\n  trust_domain: gov.example\n"), 0o600)
		out, err := run(nil, "config", "print", "--config", cfgFile, "--listen", ":9999")
		if err != nil {
			t.Fatalf("config print: %v\n%s", err, out)
		}
		for _, want := range []string{"public_url: https://ca.example.gov.cn", "trust_domain: gov.example", `listen: :9999`, "database: tongxing-data/tongxing.db"} {
			if !strings.Contains(out, want) {
				t.Errorf("config print lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("fail/config-unknown-key", func(t *testing.T) {
		cfgFile := filepath.Join(dir, "bad.yaml")
		os.WriteFile(cfgFile, []byte("listen_addr: :1\n"), 0o600)
		out, err := run(nil, "config", "print", "--config", cfgFile)
		if err == nil || !strings.Contains(out, "listen_addr") {
			t.Errorf("unknown key accepted: err=%v\n%s", err, out)
		}
	})
}
