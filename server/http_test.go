package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigHTTPListener(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, yaml, want, wantErr string
	}{
		{"ok/default", "", "http://localhost:8080", ""},
		{"ok/derived-from-public-url", "public_url: https://ca.example.gov.cn\nhttp_listen: \":80\"\n", "http://ca.example.gov.cn", ""},
		{"ok/derived-port", "public_url: https://ca.example.gov.cn:8443\nhttp_listen: 10.0.0.1:8081\n", "http://ca.example.gov.cn:8081", ""},
		{"ok/explicit", "public_http_url: http://crl.example.gov.cn/\n", "http://crl.example.gov.cn", ""},
		{"ok/off", "http_listen: \"\"\n", "", ""},
		{"fail/https-public-http-url", "public_http_url: https://crl.example.gov.cn\n", "", "public_http_url"},
		{"fail/url-without-listener", "http_listen: \"\"\npublic_http_url: http://crl.example.gov.cn\n", "", "http_listen is empty"},
		{"fail/bad-listen", "http_listen: nope\n", "", "http_listen"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tt.name, "/", "_")+".yaml")
			if err := os.WriteFile(p, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				p = ""
			}
			c, err := LoadConfig(p)
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
			if c.PublicHTTPURL != tt.want {
				t.Errorf("public_http_url %q, want %q", c.PublicHTTPURL, tt.want)
			}
		})
	}
}
