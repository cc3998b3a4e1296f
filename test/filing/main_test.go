// Package filing runs the enterprise filing flow with the tongxing binary:
// an e-cert is enrolled, a filing is signed and time-stamped, and the
// receiving department verifies it (CLI and HTTP API), also across a
// revocation of the e-cert; time-stamps are requested and verified alone
// and checked with OpenSSL.
package filing

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
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
	dir, err := os.MkdirTemp("", "tongxing-filing")
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

// instance is a running `tongxing serve` whose public URL is its own
// address, so that the OCSP and CRL URLs in its certificates reach it.
type instance struct {
	t    *testing.T
	dir  string
	port string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
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

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// start runs `tongxing serve` in dir and waits until /healthz answers.
func start(t *testing.T, dir string) *instance {
	t.Helper()
	in := &instance{t: t, dir: dir, port: freePort(t), out: &syncBuffer{}, done: make(chan error, 1)}
	in.cmd = exec.Command(binary, "serve", "--listen", "127.0.0.1:"+in.port, "--public-url", in.url(""))
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

func (in *instance) url(path string) string { return "https://localhost:" + in.port + path }

// pki is the path of a file in the server's PKI directory, relative to dir.
func pki(name string) string { return filepath.Join("tongxing-data", "pki", name) }

// client trusts only the intl root the server created.
func (in *instance) client() *http.Client {
	pool := x509.NewCertPool()
	if b, err := os.ReadFile(filepath.Join(in.dir, pki("intl-root.crt"))); err == nil {
		pool.AppendCertsFromPEM(b)
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// run runs tongxing with args in the instance's directory.
func (in *instance) run(args ...string) (string, error) {
	cmd := exec.Command(binary, args...)
	cmd.Dir = in.dir
	cmd.Env = append(os.Environ(), "TONGXING_KEY_PASSPHRASE=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// cli runs a client command against the instance (with --server).
func (in *instance) cli(args ...string) (string, error) {
	return in.run(append(args, "--server", in.url(""))...)
}

func (in *instance) stop() {
	in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-in.done:
	case <-time.After(2 * time.Minute):
		in.cmd.Process.Kill()
	}
}

// enrol has an RA create an enrolment code and requests the certificate
// through the CLI; it returns the output directory (relative) and serial.
func (in *instance) enrol(t *testing.T, out string, codeArgs ...string) (string, string) {
	t.Helper()
	o, err := in.cli(append([]string{"ca", "enrol-code", "--json"}, codeArgs...)...)
	if err != nil {
		t.Fatalf("enrol-code: %v\n%s", err, o)
	}
	var code struct{ Code, Profile string }
	if err := json.Unmarshal([]byte(o), &code); err != nil {
		t.Fatalf("enrol-code output %q: %v", o, err)
	}
	o, err = in.cli("ca", "request", "--profile", code.Profile, "--code", code.Code, "--out", out)
	if err != nil {
		t.Fatalf("request: %v\n%s", err, o)
	}
	f := strings.Fields(o)
	for i, w := range f {
		if w == "serial" && i+1 < len(f) {
			return out, f[i+1]
		}
	}
	t.Fatalf("no serial in %s", o)
	return "", ""
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
