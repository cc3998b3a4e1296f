// Package oidcnode checks Tongxing's OpenID Connect provider with the npm
// openid-client package, an OpenID-certified relying party.
package oidcnode

import (
	"context"
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
	"testing"
	"time"

	"github.com/tongxing/tongxing/test/serverproc"
)

func TestOpenIDClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		serverproc.Missing(t, "node is not installed on this machine (CI installs it)")
	}
	if _, err := os.Stat("node_modules/openid-client"); err != nil {
		serverproc.Missing(t, "openid-client is not installed: run `npm ci` in test/oidcnode (.ci/run does)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "tongxing")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/tongxing/tongxing/cmd/tongxing").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	issuer := "https://localhost:" + port
	run := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append(args, "--public-url", issuer)...)
		cmd.Dir = dir
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("tongxing %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	srv := exec.Command(bin, "serve", "--listen", addr, "--http-listen", "", "--public-url", issuer)
	srv.Dir = dir
	logs, _ := os.Create(filepath.Join(dir, "serve.log"))
	srv.Stdout, srv.Stderr = logs, logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		srv.Process.Signal(os.Interrupt)
		srv.Wait()
	}()
	rootFile := filepath.Join(dir, "tongxing-data", "pki", "intl-root.crt")
	waitHealthy(t, issuer, rootFile, filepath.Join(dir, "serve.log"))

	const redirect = "http://127.0.0.1:9/callback"
	var client struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	out := run("", "clients", "add", "node-portal", "--name", "Node portal", "--redirect-uri", redirect, "--json")
	if err := json.Unmarshal([]byte(out), &client); err != nil {
		t.Fatalf("clients add output %q: %v", out, err)
	}
	run("correct horse battery staple", "users", "add", "zhangsan", "--password-stdin", "--name", "张三", "--email", "zhangsan@example.cn")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rp := exec.CommandContext(ctx, node, "rp.mjs")
	rp.Env = append(os.Environ(),
		"ISSUER="+issuer, "CLIENT_ID="+client.ID, "CLIENT_SECRET="+client.Secret, "REDIRECT_URI="+redirect,
		"USERNAME=zhangsan", "PASSWORD=correct horse battery staple", "NODE_EXTRA_CA_CERTS="+rootFile)
	res, err := rp.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		serveLog, _ := os.ReadFile(filepath.Join(dir, "serve.log"))
		t.Fatalf("openid-client RP failed: %v\n%s\nserver log:\n%s", err, stderr, tail(string(serveLog), 3000))
	}
	var got struct {
		Issuer         string `json:"issuer"`
		Sub            string `json:"sub"`
		ACR            string `json:"acr"`
		NonceOK        bool   `json:"nonce_ok"`
		UserinfoSub    string `json:"userinfo_sub"`
		Name           string `json:"name"`
		Refreshed      bool   `json:"refreshed"`
		RefreshRotated bool   `json:"refresh_rotated"`
	}
	if err := json.Unmarshal(res, &got); err != nil {
		t.Fatalf("RP output %q: %v", res, err)
	}
	if got.Issuer != issuer || got.Sub == "" || got.Sub != got.UserinfoSub || !got.NonceOK || got.Name != "张三" ||
		got.ACR != "urn:tongxing:loa:2" || !got.Refreshed || !got.RefreshRotated {
		t.Errorf("openid-client saw %+v", got)
	}
}

func waitHealthy(t *testing.T, issuer, rootFile, logFile string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(rootFile); err == nil {
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(b)
			hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
			if resp, err := hc.Get(issuer + "/healthz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := os.ReadFile(logFile)
	t.Fatalf("server not healthy:\n%s", b)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return fmt.Sprint("...", s[len(s)-n:])
}
