package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tongxing/tongxing/auditlog"
	"github.com/tongxing/tongxing/store/storetest"
	"github.com/tongxing/tongxing/timestamp"
)

// logBuffer collects log output from several goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestStartup runs the zero-configuration first start, opens and serves,
// and stops: the audit log's first checkpoint carries a timestamp token
// (the TSA was open before checkpoints started) and nothing is logged at
// ERROR. Run it with -race: the start-up wiring must not share a field
// between goroutines before it is set.
func TestStartup(t *testing.T) {
	backends := map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "" },
		"postgres": func(t *testing.T) string { return storetest.PostgresDSN(t) },
	}
	for name, dsn := range backends {
		t.Run(name, func(t *testing.T) {
			t.Setenv(EnvPassphrase, "")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cfg := DefaultConfig()
			cfg.Data = filepath.Join(t.TempDir(), "data")
			cfg.Database = dsn(t)
			// No plain-HTTP listener: its default :8080 may be taken by a
			// test of another package running at the same time.
			cfg.Listen, cfg.HTTPListen = "127.0.0.1:0", ""
			cfg.Audit.CheckpointInterval = 50 * time.Millisecond
			if err := cfg.Resolve(); err != nil {
				t.Fatal(err)
			}
			var notes bytes.Buffer
			if _, err := DevBootstrap(ctx, &cfg, &notes); err != nil {
				t.Fatal(err)
			}
			var logs logBuffer
			s, err := Open(ctx, cfg, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
			if err != nil {
				t.Fatal(err)
			}
			ready := make(chan net.Addr, 1)
			served := make(chan error, 1)
			go func() { served <- s.Serve(ctx, nil, ready) }()
			var addr net.Addr
			select {
			case addr = <-ready:
			case err := <-served:
				t.Fatalf("Serve ended before it was ready: %v\n%s", err, logs.String())
			}

			pool := x509.NewCertPool()
			root, err := os.ReadFile(cfg.RootCertFile("intl"))
			if err != nil {
				t.Fatal(err)
			}
			pool.AppendCertsFromPEM(root)
			hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
			resp, err := hc.Get("https://" + addr.String() + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("/healthz: %d", resp.StatusCode)
			}
			if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=63072000" {
				t.Errorf("Strict-Transport-Security = %q", got)
			}
			metricsToken, err := os.ReadFile(cfg.MetricsTokenFile())
			if err != nil {
				t.Fatal(err)
			}
			raToken, err := os.ReadFile(cfg.OfficerTokenFile("ra"))
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				name, token string
				want        int
			}{
				{"none", "", 401}, {"wrong", "txm_wrong", 401}, {"metrics-token", string(metricsToken), 200}, {"officer", string(raToken), 200},
			} {
				req, _ := http.NewRequest("GET", "https://"+addr.String()+"/metrics", nil)
				if c.token != "" {
					req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(c.token))
				}
				resp, err := hc.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != c.want || resp.Header.Get("Strict-Transport-Security") == "" {
					t.Errorf("/metrics with %s: %d (HSTS %q), want %d", c.name, resp.StatusCode, resp.Header.Get("Strict-Transport-Security"), c.want)
				}
			}

			// The start issued certificates (TLS, OCSP, TSA), all audited; a
			// checkpoint covers them, and every checkpoint is timestamped.
			var cp *auditlog.Checkpoint
			for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
				if cp, err = s.audit.LatestCheckpoint(ctx); err == nil && cp.Size > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no checkpoint published: %v\n%s", err, logs.String())
				}
			}
			if _, err := timestamp.ParseToken(cp.Timestamp); err != nil {
				t.Fatalf("checkpoint timestamp token: %v", err)
			}
			var untimed int
			if err := s.db.QueryRow(ctx, "SELECT COUNT(*) FROM audit_checkpoints WHERE tst IS NULL").Scan(&untimed); err != nil {
				t.Fatal(err)
			}
			if untimed != 0 {
				t.Errorf("%d checkpoints published without a timestamp token\n%s", untimed, logs.String())
			}

			cancel()
			if err := <-served; err != nil {
				t.Fatalf("Serve: %v", err)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if out := logs.String(); strings.Contains(out, "level=ERROR") {
				t.Errorf("errors logged during a fresh start:\n%s", out)
			}
		})
	}
}
