// Package serverproc runs the real tongxing binary for end-to-end tests: it
// builds it once, starts `tongxing serve` in a directory on a free loopback
// port (public URL = its own address, so the OCSP and CRL URLs in its
// certificates reach it), and runs CLI commands against it.
package serverproc

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

// Build compiles cmd/tongxing into a temporary directory and returns the
// binary's path and a function that removes it. Call it from TestMain.
func Build() (string, func(), error) {
	dir, err := os.MkdirTemp("", "tongxing-bin")
	if err != nil {
		return "", nil, err
	}
	bin := filepath.Join(dir, "tongxing")
	build := exec.Command("go", "build", "-o", bin, "github.com/tongxing/tongxing/cmd/tongxing")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("build tongxing: %w", err)
	}
	return bin, func() { os.RemoveAll(dir) }, nil
}

// Buffer is an io.Writer safe for concurrent use, holding a process's output.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Instance is a running `tongxing serve`.
type Instance struct {
	Binary string
	Dir    string // working directory; the data directory is Dir/tongxing-data
	Port   string
	// HTTPPort is the port of the plain-HTTP repository listener (CRLs,
	// OCSP, CA certificates).
	HTTPPort string
	Out      *Buffer // the server's standard output and error
	cmd      *exec.Cmd
	done     chan error

	stopped bool
	exitErr error
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// Start runs `tongxing serve --listen 127.0.0.1:PORT --http-listen
// 127.0.0.1:HTTPPORT --public-url https://localhost:PORT ARGS...` in dir and
// waits until /healthz answers over TLS. The process is killed when the test
// ends if still running.
func Start(t testing.TB, binary, dir string, args ...string) *Instance {
	t.Helper()
	in := &Instance{Binary: binary, Dir: dir, Port: FreePort(t), HTTPPort: FreePort(t), Out: &Buffer{}, done: make(chan error, 1)}
	full := append([]string{"serve", "--listen", "127.0.0.1:" + in.Port, "--http-listen", "127.0.0.1:" + in.HTTPPort, "--public-url", in.URL("")}, args...)
	in.cmd = exec.Command(binary, full...)
	in.cmd.Dir = dir
	in.cmd.Env = append(os.Environ(), "TONGXING_KEY_PASSPHRASE=")
	in.cmd.Stdout, in.cmd.Stderr = in.Out, in.Out
	if err := in.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { in.done <- in.cmd.Wait() }()
	t.Cleanup(func() {
		if !in.stopped {
			in.cmd.Process.Kill()
			<-in.done
		}
	})
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if resp, err := in.Client().Get(in.URL("/healthz")); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return in
			}
		}
		select {
		case err := <-in.done:
			in.stopped = true
			t.Fatalf("tongxing serve exited: %v\n%s", err, in.Out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("tongxing serve did not become healthy:\n%s", in.Out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// URL is the server's public URL for path.
func (in *Instance) URL(path string) string { return "https://localhost:" + in.Port + path }

// HTTPURL is the plain-HTTP repository URL for path.
func (in *Instance) HTTPURL(path string) string { return "http://localhost:" + in.HTTPPort + path }

// PKI is the path of a file in the server's PKI directory, relative to Dir.
func PKI(name string) string { return filepath.Join("tongxing-data", "pki", name) }

// Client is an HTTP client that trusts only the intl root the server made.
func (in *Instance) Client() *http.Client {
	pool := x509.NewCertPool()
	if b, err := os.ReadFile(filepath.Join(in.Dir, PKI("intl-root.crt"))); err == nil {
		pool.AppendCertsFromPEM(b)
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// Run runs tongxing with args in Dir, talking to no particular server.
func (in *Instance) Run(args ...string) (string, error) {
	cmd := exec.Command(in.Binary, args...)
	cmd.Dir = in.Dir
	cmd.Env = append(os.Environ(), "TONGXING_KEY_PASSPHRASE=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// RunStdin is Run with stdin as the command's standard input.
func (in *Instance) RunStdin(stdin string, args ...string) (string, error) {
	cmd := exec.Command(in.Binary, args...)
	cmd.Dir = in.Dir
	cmd.Env = append(os.Environ(), "TONGXING_KEY_PASSPHRASE=")
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// CLI runs a client command against the instance (adds --server).
func (in *Instance) CLI(args ...string) (string, error) {
	return in.Run(append(args, "--server", in.URL(""))...)
}

// MustCLI runs a client command (as [Instance.CLI]) and fails t, with the
// command's output, when it does not succeed.
func (in *Instance) MustCLI(t testing.TB, args ...string) string {
	t.Helper()
	out, err := in.CLI(args...)
	if err != nil {
		t.Fatalf("tongxing %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// Kill stops the server with SIGKILL, as a crash would.
func (in *Instance) Kill() {
	if in.stopped {
		return
	}
	in.cmd.Process.Signal(syscall.SIGKILL)
	in.exitErr = <-in.done
	in.stopped = true
}

// Stop sends sig and waits (at most two minutes) for the exit; calling it
// again returns the first result.
func (in *Instance) Stop(sig syscall.Signal) error {
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

// Enrol has the first registration officer create an enrolment code with codeArgs and
// requests the certificate into out (relative to Dir) with `tongxing ca
// request`; it returns out and the serial.
func (in *Instance) Enrol(t testing.TB, out string, codeArgs ...string) (string, string) {
	t.Helper()
	o, err := in.CLI(append([]string{"ca", "enrol-code", "--json"}, codeArgs...)...)
	if err != nil {
		t.Fatalf("enrol-code: %v\n%s", err, o)
	}
	var code struct{ Code, Profile string }
	if err := json.Unmarshal([]byte(o), &code); err != nil {
		t.Fatalf("enrol-code output %q: %v", o, err)
	}
	o, err = in.CLI("ca", "request", "--profile", code.Profile, "--code", code.Code, "--out", out)
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

// Token returns the token of the first officer of role, from the data
// directory (DATA/secrets/ROLE-token).
func (in *Instance) Token(t testing.TB, role string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(in.Dir, "tongxing-data", "secrets", role+"-token"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// Admit has the first sysadmin propose officer name of role, the first
// officer of role approve it, and claims its token with both codes, all
// through the CLI; it returns the token.
func (in *Instance) Admit(t testing.TB, name, role string) string {
	t.Helper()
	cli := func(args ...string) []byte { return []byte(in.MustCLI(t, args...)) }
	var prop struct {
		Proposal     struct{ ID string }
		ProposerCode string `json:"proposer_code"`
	}
	if err := json.Unmarshal(cli("officers", "add", name, "--role", role, "--json"), &prop); err != nil || prop.ProposerCode == "" {
		t.Fatalf("officers add: %v", err)
	}
	var appr struct {
		ApproverCode string `json:"approver_code"`
	}
	if err := json.Unmarshal(cli("officers", "approve", prop.Proposal.ID, "--role", role, "--json"), &appr); err != nil || appr.ApproverCode == "" {
		t.Fatalf("officers approve: %v", err)
	}
	var tok struct{ Token, Officer, Role string }
	out := cli("officers", "claim", prop.Proposal.ID, "--proposer-code", prop.ProposerCode, "--approver-code", appr.ApproverCode, "--json")
	if err := json.Unmarshal(out, &tok); err != nil || tok.Officer != name || tok.Role != role {
		t.Fatalf("officers claim: %v %s", err, out)
	}
	return tok.Token
}

// Main builds the binary into *binary, runs the tests and removes the
// binary; call it as TestMain's body.
func Main(m *testing.M, binary *string) {
	bin, cleanup, err := Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*binary = bin
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// Missing reports that something a test needs from the machine is absent:
// on a developer machine the test is skipped with the message; in CI
// (CI=true, where .ci/run installs everything) it fails, so that a missing
// dependency never passes silently.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("missing in CI: "+format, args...)
	}
	t.Skipf(format, args...)
}

// Nginx returns the path of Debian's nginx (on PATH or /usr/sbin, which
// root's PATH may leave out), or reports it [Missing].
func Nginx(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("nginx")
	if err != nil {
		p = "/usr/sbin/nginx"
	}
	if _, err := os.Stat(p); err != nil {
		Missing(t, "nginx is not installed on this machine (apt-get install nginx; CI installs it)")
	}
	return p
}
