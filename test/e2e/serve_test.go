// Package e2e runs the tongxing binary as an operator would: zero-config
// start, CLI enrolment, graceful shutdown, restart, and a crash after
// issuance.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tongxing-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "tongxing")
	build := exec.Command("go", "build", "-o", binary, "github.com/tongxing/tongxing/cmd/tongxing")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build tongxing:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// instance is a running `tongxing serve`.
type instance struct {
	t    *testing.T
	dir  string
	addr string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error

	stopped bool
	exitErr error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs `tongxing serve` in dir (as its working directory, no flags
// but the listen address) and waits until /healthz answers over TLS.
func start(t *testing.T, dir string, extra ...string) *instance {
	t.Helper()
	in := &instance{t: t, dir: dir, addr: freeAddr(t), out: &syncBuffer{}, done: make(chan error, 1)}
	args := append([]string{"serve", "--listen", in.addr}, extra...)
	in.cmd = exec.Command(binary, args...)
	in.cmd.Dir = dir
	in.cmd.Env = append(os.Environ(), "TONGXING_KEY_PASSPHRASE=")
	in.cmd.Stdout, in.cmd.Stderr = in.out, in.out
	if err := in.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { in.done <- in.cmd.Wait() }()
	t.Cleanup(func() {
		if in.cmd.ProcessState == nil {
			in.cmd.Process.Kill()
			<-in.done
		}
	})
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if resp, err := in.client().Get(in.url("/healthz")); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return in
			}
		}
		select {
		case err := <-in.done:
			t.Fatalf("tongxing serve exited: %v\n%s", err, in.out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("tongxing serve did not become healthy:\n%s", in.out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (in *instance) url(path string) string {
	_, port, _ := net.SplitHostPort(in.addr)
	return "https://localhost:" + port + path
}

// client trusts only the intl root the server created.
func (in *instance) client() *http.Client {
	pool := x509.NewCertPool()
	b, err := os.ReadFile(filepath.Join(in.dir, "tongxing-data", "pki", "intl-root.crt"))
	if err == nil {
		pool.AppendCertsFromPEM(b)
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// cli runs a tongxing client command against the instance.
func (in *instance) cli(args ...string) (string, error) {
	full := append(args, "--server", in.url(""))
	cmd := exec.Command(binary, full...)
	cmd.Dir = in.dir
	cmd.Env = append(os.Environ(), "TONGXING_KEY_PASSPHRASE=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// local runs a tongxing command that talks to no server.
func (in *instance) local(args ...string) (string, error) {
	cmd := exec.Command(binary, args...)
	cmd.Dir = in.dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (in *instance) stop(sig syscall.Signal) error {
	if in.stopped {
		return in.exitErr
	}
	in.cmd.Process.Signal(sig)
	select {
	case in.exitErr = <-in.done:
	case <-time.After(2 * time.Minute):
		in.cmd.Process.Kill()
		in.exitErr = fmt.Errorf("no exit after %v", sig)
	}
	in.stopped = true
	return in.exitErr
}

func TestZeroConfigServe(t *testing.T) {
	dir := t.TempDir()
	in := start(t, dir)

	t.Run("ok/prints-roots-and-trust-instructions", func(t *testing.T) {
		out := in.out.String()
		for _, want := range []string{"tongxing-data/pki/intl-root.crt", "tongxing-data/pki/gm-root.crt", "curl --cacert", "WARNING"} {
			if !strings.Contains(out, want) {
				t.Errorf("startup output lacks %q:\n%s", want, out)
			}
		}
		info, err := os.Stat(filepath.Join(dir, "tongxing-data", "secrets", "passphrase"))
		if err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("passphrase file: %v, mode %v; want 0600", err, info.Mode())
		}
	})
	t.Run("ok/readyz-and-metrics", func(t *testing.T) {
		for _, p := range []string{"/readyz", "/metrics"} {
			resp, err := in.client().Get(in.url(p))
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
		resp, err := in.client().Get(in.url("/nope"))
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
		out, err := in.cli("ca", "enrol-code", "--profile", "enterprise-sign", "--organization", "示例科技有限公司", "--uscc", "91350100M000100Y43", "--json")
		if err != nil {
			t.Fatalf("enrol-code: %v\n%s", err, out)
		}
		var code struct{ Code string }
		if err := json.Unmarshal([]byte(out), &code); err != nil || code.Code == "" {
			t.Fatalf("enrol-code output %q: %v", out, err)
		}
		out, err = in.cli("ca", "request", "--profile", "enterprise-sign", "--code", code.Code, "--out", "ecert")
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
		out, err = in.cli("ca", "request", "--profile", "enterprise-sign", "--code", code.Code, "--out", "ecert2")
		if err == nil || !strings.Contains(out, "already been used") {
			t.Errorf("second use of the code: err=%v out=%s", err, out)
		}
		out, err = in.cli("ca", "list", "--profile", "enterprise-sign")
		if err != nil || !strings.Contains(out, serial) {
			t.Errorf("list: %v\n%s", err, out)
		}
		out, err = in.cli("ca", "show", serial)
		if err != nil || !strings.Contains(out, "BEGIN CERTIFICATE") {
			t.Errorf("show: %v\n%s", err, out)
		}
	})

	t.Run("ok/sigterm-graceful-then-restart-reuses-everything", func(t *testing.T) {
		rootBefore, _ := os.ReadFile(filepath.Join(dir, "tongxing-data", "pki", "gm-root.crt"))
		tlsBefore, _ := os.ReadFile(filepath.Join(dir, "tongxing-data", "tls", "server.crt"))
		if err := in.stop(syscall.SIGTERM); err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, in.out)
		}
		if !strings.Contains(in.out.String(), "shutting down") {
			t.Errorf("no graceful shutdown logged:\n%s", in.out)
		}
		in2 := start(t, dir)
		if strings.Contains(in2.out.String(), "creating development CA") {
			t.Errorf("restart created a new PKI:\n%s", in2.out)
		}
		rootAfter, _ := os.ReadFile(filepath.Join(dir, "tongxing-data", "pki", "gm-root.crt"))
		tlsAfter, _ := os.ReadFile(filepath.Join(dir, "tongxing-data", "tls", "server.crt"))
		if !bytes.Equal(rootBefore, rootAfter) || !bytes.Equal(tlsBefore, tlsAfter) {
			t.Error("restart replaced the root or the TLS certificate")
		}
		out, err := in2.cli("ca", "show", serial)
		if err != nil || !strings.Contains(out, serial) {
			t.Errorf("certificate lost across restart: %v\n%s", err, out)
		}
		in2.stop(syscall.SIGTERM)
	})
}

// TestCrashAfterIssuance kills the server with SIGKILL right after it
// answered an enrolment; the certificate must be in the inventory after
// restart.
func TestCrashAfterIssuance(t *testing.T) {
	dir := t.TempDir()
	in := start(t, dir)
	var serials []string
	for i := range 5 {
		out, err := in.cli("ca", "enrol-code", "--profile", "service", "--department", "tax", "--service", fmt.Sprintf("svc-%d", i), "--dns", fmt.Sprintf("svc%d.tax.example", i), "--json")
		if err != nil {
			t.Fatalf("enrol-code: %v\n%s", err, out)
		}
		var code struct{ Code string }
		json.Unmarshal([]byte(out), &code)
		out, err = in.cli("ca", "request", "--profile", "service", "--code", code.Code, "--out", fmt.Sprintf("svc%d", i))
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
	in.cmd.Process.Signal(syscall.SIGKILL)
	<-in.done
	in2 := start(t, dir)
	for _, s := range serials {
		resp, err := in2.client().Get(in2.url("/ca/v1/certificates/" + s))
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
	in2.stop(syscall.SIGTERM)
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
	t.Run("ok/init-with-env-passphrase", func(t *testing.T) {
		out, err := run([]string{"TONGXING_KEY_PASSPHRASE=correct horse battery staple"}, "init", "--data", "pki2", "--org", "示例市大数据局", "--suites", "gm", "--ca-name", "gm-root=示例市 SM2 根 CA", "--root-validity", "10y", "--issuing-validity", "5y")
		if err != nil {
			t.Fatalf("init: %v\n%s", err, out)
		}
		for _, want := range []string{"gm-root", "gm-issuing", "示例市大数据局", "txo_", "CN=示例市 SM2 根 CA"} {
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

var _ = context.Background
