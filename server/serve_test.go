package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestListenRefusesSecondServer: a second server on the same SQLite
// database, or on a port in use, fails in Listen, before it writes
// anything, and says what to do.
func TestListenRefusesSecondServer(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Data = filepath.Join(t.TempDir(), "data")
	cfg.Listen, cfg.HTTPListen = "127.0.0.1:0", ""
	if err := cfg.Resolve(); err != nil {
		t.Fatal(err)
	}
	first, err := Listen(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()

	again := cfg
	again.Listen = "127.0.0.1:0"
	if _, err := Listen(&again); err == nil || !strings.Contains(err.Error(), "another tongxing serve is using the SQLite database") {
		t.Fatalf("second Listen on the same SQLite database: %v", err)
	}
	prefixed := again
	prefixed.Database = "sqlite:" + cfg.Database // the same file
	if _, err := Listen(&prefixed); err == nil || !strings.Contains(err.Error(), "another tongxing serve is using the SQLite database") {
		t.Fatalf("second Listen on the same SQLite database named %s: %v", prefixed.Database, err)
	}

	other := cfg
	other.Data = filepath.Join(t.TempDir(), "other")
	other.Database = filepath.Join(other.Data, "tongxing.db")
	other.Listen = first.Main.Addr().String()
	if _, err := Listen(&other); err == nil || !strings.Contains(err.Error(), "is in use") || !strings.Contains(err.Error(), "--listen") {
		t.Fatalf("Listen on a port in use: %v", err)
	}
	if entries, _ := os.ReadDir(other.Data); len(entries) > 1 { // only the lock file
		t.Fatalf("a refused Listen wrote into %s: %v", other.Data, entries)
	}

	first.Close()
	third, err := Listen(&again)
	if err != nil {
		t.Fatalf("Listen after the first closed: %v", err)
	}
	third.Close()
}

// TestDrain: told to stop, the server reports unready on /readyz while it
// still answers for DrainDelay, then stops accepting.
func TestDrain(t *testing.T) {
	t.Setenv(EnvPassphrase, "")
	cfg := DefaultConfig()
	cfg.Data = filepath.Join(t.TempDir(), "data")
	cfg.Listen, cfg.HTTPListen = "127.0.0.1:0", ""
	cfg.DrainDelay = 1500 * time.Millisecond
	if err := cfg.Resolve(); err != nil {
		t.Fatal(err)
	}
	if _, err := DevBootstrap(context.Background(), &cfg, io.Discard); err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), cfg, slog.New(slog.NewTextHandler(&logBuffer{}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, nil, ready) }()
	addr := (<-ready).String()

	pool := x509.NewCertPool()
	root, err := os.ReadFile(cfg.RootCertFile("intl"))
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(root)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
	status := func(path string) (int, string) {
		resp, err := hc.Get("https://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := status("/readyz"); code != 200 {
		t.Fatalf("/readyz before stopping: %d %s", code, body)
	}
	cancel()
	var code int
	var body string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if code, body = status("/readyz"); code == 503 {
			break
		}
	}
	if code != 503 || !strings.Contains(body, "draining") {
		t.Fatalf("/readyz while draining: %d %s", code, body)
	}
	if code, _ := status("/healthz"); code != 200 {
		t.Fatalf("/healthz while draining: %d (requests must still be served during the drain delay)", code)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if code, _ := status("/healthz"); code != 0 {
		t.Fatalf("/healthz after the drain: %d, want a refused connection", code)
	}
}
