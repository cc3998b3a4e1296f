package main

import (
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/cobra"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/problem"
)

// testCommand returns globals and a command whose --data is dir, as the
// root command's persistent flags would set them.
func testCommand(t *testing.T, dir string) (*globals, *cobra.Command) {
	t.Helper()
	g := &globals{stdout: io.Discard, stderr: io.Discard}
	cmd := &cobra.Command{Use: "test"}
	f := cmd.Flags()
	f.StringVar(&g.configFile, "config", "", "")
	f.StringVar(&g.data, "data", "tongxing-data", "")
	f.StringVar(&g.publicURL, "public-url", "https://localhost:8443", "")
	f.StringVar(&g.database, "database", "", "")
	if err := f.Set("data", dir); err != nil {
		t.Fatal(err)
	}
	cmd.SetContext(t.Context())
	return g, cmd
}

// writeToken keeps token as the officer token of role in dir.
func writeToken(t *testing.T, dir, role, token string) string {
	t.Helper()
	path := filepath.Join(dir, "secrets", role+"-token")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestClientToken(t *testing.T) {
	for _, tt := range []struct {
		name      string
		role      string
		flag, env string
		files     map[string]string // role -> token kept in DATA/secrets
		want      string            // the token sent
		fromFile  bool
		fail      string // error substring
	}{
		{name: "ok/flag-first", role: access.RoleRA, flag: "txo_flag", env: "txo_env", files: map[string]string{access.RoleRA: "txo_file"}, want: "txo_flag"},
		{name: "ok/environment-second", role: access.RoleRA, env: "txo_env", files: map[string]string{access.RoleRA: "txo_file"}, want: "txo_env"},
		{name: "ok/file-of-the-role", role: access.RoleAuditor, files: map[string]string{access.RoleRA: "txo_ra", access.RoleAuditor: "txo_auditor"}, want: "txo_auditor", fromFile: true},
		{name: "ok/sysadmin-file", role: access.RoleSysadmin, files: map[string]string{access.RoleSysadmin: "txo_sys"}, want: "txo_sys", fromFile: true},
		{name: "ok/no-role-no-token", role: "", flag: "txo_flag", env: "txo_env", files: map[string]string{access.RoleRA: "txo_file"}, want: ""},
		{name: "fail/only-another-role", role: access.RoleAuditor, files: map[string]string{access.RoleRA: "txo_ra"}, fail: "no auditor officer token"},
		{name: "fail/none", role: access.RoleSysadmin, fail: filepath.Join("secrets", "sysadmin-token")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Setenv(EnvToken, tt.env)
			for role, tok := range tt.files {
				writeToken(t, dir, role, tok)
			}
			g, cmd := testCommand(t, dir)
			c, err := g.client(cmd, &clientFlags{token: tt.flag}, tt.role)
			if tt.fail != "" {
				if err == nil || !strings.Contains(err.Error(), tt.fail) {
					t.Fatalf("err %v, want it to say %q", err, tt.fail)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.token != tt.want {
				t.Errorf("token %q, want %q", c.token, tt.want)
			}
			if fromFile := c.tokenFile != ""; fromFile != tt.fromFile {
				t.Errorf("token file %q, want one: %v", c.tokenFile, tt.fromFile)
			}
		})
	}
}

// seen is what the test server saw of a request.
type seen struct {
	method, auth, contentType, body string
}

// apiServer is a test server with clients of it: one holding the ra
// officer's token, one holding none.
type apiServer struct {
	cmd      *cobra.Command
	g        *globals
	dir      string
	url      string
	cacert   string
	ra, anon *client

	mu   sync.Mutex
	last seen // what the server saw of the latest request
}

// seen returns what the server saw of the latest request.
func (s *apiServer) seen() seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

func newAPIServer(t *testing.T) *apiServer {
	t.Helper()
	s := &apiServer{}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.last = seen{r.Method, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), string(b)}
		s.mu.Unlock()
		switch r.URL.Path {
		case "/ok":
			problem.WriteJSON(w, http.StatusCreated, map[string]string{"id": "enr_1"})
		case "/conflict":
			p := problem.New(http.StatusConflict, "the code was used")
			p.Field = "enrolment_code"
			problem.Write(w, p)
		case "/plain":
			http.Error(w, "upstream down", http.StatusBadGateway)
		case "/stream":
			io.WriteString(w, "line 1\nline 2\n")
		}
	}))
	t.Cleanup(srv.Close)
	s.dir, s.url = t.TempDir(), srv.URL
	s.cacert = filepath.Join(s.dir, "server.pem")
	if err := os.WriteFile(s.cacert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	writeToken(t, s.dir, access.RoleRA, "txo_ra")
	s.g, s.cmd = testCommand(t, s.dir)
	t.Setenv(EnvToken, "")
	var err error
	if s.ra, err = s.g.client(s.cmd, &clientFlags{server: srv.URL + "/", cacert: s.cacert}, access.RoleRA); err != nil {
		t.Fatal(err)
	}
	if s.anon, err = s.g.client(s.cmd, &clientFlags{server: srv.URL, cacert: s.cacert}, ""); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestClientRequests(t *testing.T) {
	s := newAPIServer(t)
	cmd := s.cmd
	t.Run("ok/json-both-ways", func(t *testing.T) {
		var out struct{ ID string }
		if err := s.ra.do(cmd, "POST", "/ok", map[string]string{"profile": "citizen"}, &out); err != nil || out.ID != "enr_1" {
			t.Fatalf("%+v, %v", out, err)
		}
		if got := s.seen(); got != (seen{"POST", "Bearer txo_ra", "application/json", `{"profile":"citizen"}`}) {
			t.Errorf("the server saw %+v", got)
		}
	})
	t.Run("ok/no-token-no-authorization", func(t *testing.T) {
		var out map[string]string
		if err := s.anon.do(cmd, "GET", "/ok", nil, &out); err != nil {
			t.Fatal(err)
		}
		if got := s.seen(); got.auth != "" || got.contentType != "" {
			t.Errorf("the server saw %+v", got)
		}
	})
	t.Run("ok/raw-body", func(t *testing.T) {
		var out map[string]string
		if err := s.ra.send(cmd, "PUT", "/ok", "application/gzip", strings.NewReader("\x1f\x8b"), &out); err != nil {
			t.Fatal(err)
		}
		if got := s.seen(); got != (seen{"PUT", "Bearer txo_ra", "application/gzip", "\x1f\x8b"}) {
			t.Errorf("the server saw %+v", got)
		}
	})
	t.Run("ok/stream", func(t *testing.T) {
		body, err := s.ra.stream(cmd, "/stream")
		if err != nil {
			t.Fatal(err)
		}
		defer body.Close()
		if b, _ := io.ReadAll(body); string(b) != "line 1\nline 2\n" {
			t.Errorf("streamed %q", b)
		}
	})
}

func TestClientErrors(t *testing.T) {
	s := newAPIServer(t)
	cmd := s.cmd
	t.Run("fail/problem-is-the-error", func(t *testing.T) {
		err := s.ra.do(cmd, "POST", "/conflict", struct{}{}, &struct{}{})
		var p *problem.Details
		if !errors.As(err, &p) || p.Status != http.StatusConflict || p.Field != "enrolment_code" || p.Detail != "the code was used" {
			t.Fatalf("err %#v", err)
		}
		if _, err := s.ra.stream(cmd, "/conflict"); !errors.As(err, &p) || p.Status != http.StatusConflict {
			t.Fatalf("stream: err %v", err)
		}
	})
	t.Run("fail/other-answers-described", func(t *testing.T) {
		err := s.ra.do(cmd, "GET", "/plain", nil, &struct{}{})
		if err == nil || !strings.Contains(err.Error(), "HTTP 502") || !strings.Contains(err.Error(), "upstream down") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("fail/untrusted-server", func(t *testing.T) {
		other, err := s.g.client(cmd, &clientFlags{server: s.url}, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := other.do(cmd, "GET", "/ok", nil, &struct{}{}); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("a server the client does not trust answered: %v", err)
		}
	})
	t.Run("fail/cacert-missing", func(t *testing.T) {
		if _, err := s.g.client(cmd, &clientFlags{server: s.url, cacert: filepath.Join(s.dir, "none.pem")}, ""); err == nil || !strings.Contains(err.Error(), "--cacert") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("fail/cacert-without-certificate", func(t *testing.T) {
		empty := filepath.Join(s.dir, "empty.pem")
		if err := os.WriteFile(empty, []byte("no PEM here"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := s.g.client(cmd, &clientFlags{server: s.url, cacert: empty}, ""); err == nil || !strings.Contains(err.Error(), "holds no PEM certificate") {
			t.Fatalf("err %v", err)
		}
	})
}
