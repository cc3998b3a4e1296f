package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		file    string
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{name: "ok/defaults", check: func(t *testing.T, c Config) {
			if c.Database != filepath.Join("tongxing-data", "tongxing.db") || c.Audit.Origin != "localhost:8443/audit" ||
				c.TSA.Policy != DefaultTSAPolicy || c.Audit.CheckpointInterval != time.Second {
				t.Errorf("defaults: %+v", c)
			}
		}},
		{name: "ok/file-overrides", file: write("ok.yaml", "public_url: https://ca.example.gov.cn\ndata: /srv/tx\ntsa:\n  accuracy: 500ms\n"), check: func(t *testing.T, c Config) {
			if c.Database != "/srv/tx/tongxing.db" || c.Audit.Origin != "ca.example.gov.cn/audit" || c.TSA.Accuracy != 500*time.Millisecond {
				t.Errorf("resolved: %+v", c)
			}
		}},
		{name: "fail/unknown-key", file: write("unknown.yaml", "listen_addr: :1\n"), wantErr: "listen_addr"},
		{name: "fail/bad-url", file: write("url.yaml", "public_url: localhost\n"), wantErr: "public_url"},
		{name: "fail/bad-suite", file: write("suite.yaml", "pki:\n  suites: [rsa]\n"), wantErr: "suites"},
		{name: "fail/bad-log-format", file: write("log.yaml", "log:\n  format: xml\n"), wantErr: "log.format"},
		{name: "ok/access-token-alg", file: write("alg.yaml", "oidc:\n  access_token_alg: ES256\n"), check: func(t *testing.T, c Config) {
			if c.OIDC.AccessTokenAlg != "ES256" {
				t.Errorf("oidc.access_token_alg = %q", c.OIDC.AccessTokenAlg)
			}
		}},
		{name: "fail/bad-access-token-alg", file: write("badalg.yaml", "oidc:\n  access_token_alg: HS256\n"), wantErr: "oidc.access_token_alg"},
		{name: "fail/missing-file", file: filepath.Join(dir, "none.yaml"), wantErr: "none.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadConfig(tt.file)
			if err == nil {
				err = c.Resolve()
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
			if _, err := c.YAML(); err != nil {
				t.Errorf("YAML: %v", err)
			}
		})
	}
}

// TestDeployExample keeps deploy/tongxing.yaml.example loadable.
func TestDeployExample(t *testing.T) {
	cfg, err := LoadConfig("../deploy/tongxing.yaml.example")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Resolve(); err != nil {
		t.Fatal(err)
	}
	if cfg.ReplicaID != "a" || len(cfg.TrustedProxies) != 1 || !cfg.gatewayListens() || cfg.PublicHTTPURL != "http://tongxing.example.gov.cn" {
		t.Fatalf("example configuration read as %+v", cfg)
	}
}
