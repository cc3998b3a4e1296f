package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tongxing/tongxing/test/serverproc"
)

// TestServiceKeyInNginx is finding 2 of issue 13: the key `ca request`
// writes for a service loads in OpenSSL and nginx as it is (with its
// passphrase file), and `key export` writes PKCS#8, SEC 1 and PKCS#12 that
// OpenSSL and nginx read. nginx -t checks a generated configuration that
// uses the Tongxing-issued certificate with both keys.
func TestServiceKeyInNginx(t *testing.T) {
	needOpenSSL(t)
	dir := t.TempDir()
	in := serverproc.Start(t, binary, dir)
	defer in.Stop(syscall.SIGTERM)
	svc, _ := enrol(t, in, "invoice-api", "--profile", "service", "--department", "tax", "--service", "invoice-api", "--dns", "invoice.tax.example")
	key, pass := filepath.Join(svc, "key.pem"), filepath.Join(svc, "key.pass")

	t.Run("ok/openssl-reads-the-service-key", func(t *testing.T) {
		serverproc.OpenSSL(t, dir, "pkey", "-in", key, "-passin", "file:"+pass, "-noout")
		out := serverproc.OpenSSL(t, dir, "asn1parse", "-in", key)
		for _, want := range []string{"PBES2", "hmacWithSHA256", "aes-256-cbc"} {
			if !strings.Contains(out, want) {
				t.Errorf("service key is not %s:\n%s", want, out)
			}
		}
	})
	for _, f := range []struct{ format, check string }{{"pkcs8", "pkey"}, {"sec1", "ec"}} {
		t.Run("ok/export-"+f.format, func(t *testing.T) {
			out := filepath.Join(dir, "key."+f.format+".pem")
			if o, err := in.Run("key", "export", key, "--format", f.format, "-o", out); err != nil {
				t.Fatalf("key export: %v\n%s", err, o)
			}
			if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("exported key: %v %v", fi, err)
			}
			serverproc.OpenSSL(t, dir, f.check, "-in", out, "-noout")
			if o, err := in.Run("key", "export", key, "--format", f.format, "-o", out); err == nil || !strings.Contains(o, "exists") {
				t.Errorf("export over an existing file: err=%v\n%s", err, o)
			}
		})
	}
	t.Run("ok/export-pkcs12", func(t *testing.T) {
		p12 := filepath.Join(dir, "invoice-api.p12")
		if o, err := in.Run("key", "export", key, "--format", "pkcs12", "--cert", filepath.Join(svc, "cert.pem"), "--chain", filepath.Join(svc, "chain.pem"), "-o", p12); err != nil {
			t.Fatalf("key export pkcs12: %v\n%s", err, o)
		}
		out := serverproc.OpenSSL(t, dir, "pkcs12", "-in", p12, "-passin", "file:"+pass, "-nodes")
		if strings.Count(out, "BEGIN CERTIFICATE") != 2 || !strings.Contains(out, "BEGIN PRIVATE KEY") || !strings.Contains(out, "invoice.tax.example") {
			t.Errorf("openssl pkcs12 did not find the key, certificate and chain:\n%s", out)
		}
	})
	t.Run("fail/export-wrong-passphrase", func(t *testing.T) {
		wrong := filepath.Join(dir, "wrong.pass")
		os.WriteFile(wrong, []byte("not the passphrase of this key"), 0o600)
		o, err := in.Run("key", "export", key, "--passphrase-file", wrong, "-o", filepath.Join(dir, "never.pem"))
		if err == nil || !strings.Contains(o, "passphrase") {
			t.Errorf("export with a wrong passphrase: err=%v\n%s", err, o)
		}
		if _, err := os.Stat(filepath.Join(dir, "never.pem")); err == nil {
			t.Error("a file was written")
		}
	})
	t.Run("ok/nginx-t", func(t *testing.T) {
		nginx := serverproc.Nginx(t)
		full := filepath.Join(dir, "fullchain.pem")
		cert, _ := os.ReadFile(filepath.Join(svc, "cert.pem"))
		chain, _ := os.ReadFile(filepath.Join(svc, "chain.pem"))
		os.WriteFile(full, append(cert, chain...), 0o644)
		prefix := filepath.Join(dir, "nginx")
		os.MkdirAll(filepath.Join(prefix, "logs"), 0o755)
		conf := filepath.Join(prefix, "nginx.conf")
		os.WriteFile(conf, []byte(`pid `+prefix+`/nginx.pid;
error_log `+prefix+`/logs/error.log;
events {}
http {
  access_log off;
  # the encrypted key as ca request wrote it, with its passphrase file
  server {
    listen 127.0.0.1:`+serverproc.FreePort(t)+` ssl;
    server_name invoice.tax.example;
    ssl_certificate `+full+`;
    ssl_certificate_key `+key+`;
    ssl_password_file `+pass+`;
  }
  # the key exported as unencrypted PKCS#8
  server {
    listen 127.0.0.1:`+serverproc.FreePort(t)+` ssl;
    server_name invoice.tax.example;
    ssl_certificate `+full+`;
    ssl_certificate_key `+filepath.Join(dir, "key.pkcs8.pem")+`;
  }
}
`), 0o644)
		out, err := exec.Command(nginx, "-t", "-p", prefix, "-c", conf).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "test is successful") {
			t.Fatalf("nginx -t: %v\n%s\n%s", err, out, mustRead(conf))
		}
	})
}

func mustRead(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// TestFailingCleanly is findings 3, 6 and 8 of issue 13: a failed `ca
// request` leaves no file behind and the same command works once the
// cause is gone; errors reaching the server name the cause and the next
// step; mistyped commands and flags fail with a suggestion.
func TestFailingCleanly(t *testing.T) {
	dir := t.TempDir()
	in := serverproc.Start(t, binary, dir)
	defer in.Stop(syscall.SIGTERM)

	t.Run("ok/failed-request-leaves-nothing-and-retry-works", func(t *testing.T) {
		o, err := in.CLI("ca", "request", "--profile", "service", "--code", "nosuchcodenosuchcodenosuchcode12", "-o", "svc")
		if err == nil || !strings.Contains(o, "nothing was written") {
			t.Fatalf("request with a bad code: err=%v\n%s", err, o)
		}
		if _, err := os.Stat(filepath.Join(dir, "svc")); err == nil {
			t.Fatalf("a failed request left %s behind", filepath.Join(dir, "svc"))
		}
		o, err = in.Run("ca", "request", "--profile", "service", "--code", "nosuchcodenosuchcodenosuchcode12", "-o", "svc", "--server", "https://localhost:"+serverproc.FreePort(t))
		if err == nil || !strings.Contains(o, "not reachable at https://localhost:") || !strings.Contains(o, "is `tongxing serve` running") {
			t.Fatalf("request to no server: err=%v\n%s", err, o)
		}
		if _, err := os.Stat(filepath.Join(dir, "svc")); err == nil {
			t.Fatal("a request to no server left files behind")
		}
		if d, serial := enrol(t, in, "svc", "--profile", "service", "--department", "tax", "--service", "api", "--dns", "api.tax.example"); serial == "" || mustRead(filepath.Join(d, "key.pass")) == "" {
			t.Fatal("the retry wrote no key.pass")
		}
	})
	t.Run("fail/sm2-root-as-cacert", func(t *testing.T) {
		o, err := in.CLI("ca", "list", "--cacert", serverproc.PKI("gm-root.crt"))
		if err == nil || !strings.Contains(o, "SM2 roots cannot secure HTTPS") || !strings.Contains(o, "intl-root.crt") {
			t.Errorf("--cacert gm-root.crt: err=%v\n%s", err, o)
		}
	})
	t.Run("fail/untrusted-server", func(t *testing.T) {
		o, err := in.CLI("ca", "list", "--cacert", "/dev/null")
		if err == nil || !strings.Contains(o, "holds no PEM certificate") {
			t.Errorf("--cacert /dev/null: err=%v\n%s", err, o)
		}
		o, err = in.Run("ca", "list", "--server", in.URL(""), "--cacert", "/etc/ssl/certs/ca-certificates.crt")
		if _, statErr := os.Stat("/etc/ssl/certs/ca-certificates.crt"); statErr == nil && (err == nil || !strings.Contains(o, "--cacert DATA/pki/intl-root.crt")) {
			t.Errorf("server not trusted: err=%v\n%s", err, o)
		}
	})
	for _, tc := range []struct {
		name string
		args []string
		says []string
	}{
		{"unknown-subcommand", []string{"ca", "lsit"}, []string{`unknown command "lsit" for "tongxing ca"`, "Did you mean this?", "list"}},
		{"unknown-top-command", []string{"lgin"}, []string{`unknown command "lgin"`, "login"}},
		{"unknown-flag", []string{"ca", "enrol-code", "--profle", "citizen"}, []string{"unknown flag: --profle", "did you mean --profile?"}},
		{"missing-argument", []string{"ca", "show"}, []string{"tongxing ca show takes SERIAL, got 0"}},
		{"enterprise-without-dual", []string{"ca", "request", "--profile", "enterprise", "--code", "x"}, []string{"--dual"}},
		{"bad-duration", []string{"audit", "tail", "--since", "3x"}, []string{"--since", "3x"}},
	} {
		t.Run("fail/"+tc.name, func(t *testing.T) {
			o, err := in.Run(tc.args...)
			if err == nil {
				t.Fatalf("%v succeeded:\n%s", tc.args, o)
			}
			for _, s := range tc.says {
				if !strings.Contains(o, s) {
					t.Errorf("%v: output lacks %q:\n%s", tc.args, s, o)
				}
			}
		})
	}
}

// TestInitOrgAndURLReachEverything is findings 7 and 10 of issue 13: what
// `init` chose (the organisation, the public URL) is kept in
// DATA/config.yaml, so the server's TLS and TSA certificates name the
// organisation, and client commands given only --data reach the server
// with the token `init --save-tokens` kept.
func TestInitOrgAndURLReachEverything(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "tongxing-data")
	os.MkdirAll(filepath.Join(data, "secrets"), 0o700)
	passFile := filepath.Join(data, "secrets", "passphrase")
	os.WriteFile(passFile, []byte("plum orbit canvas ladder 42"), 0o600)
	port := serverproc.FreePort(t)
	cmd := exec.Command(binary, "init", "--data", data, "--org", "示例市大数据局", "--key-passphrase-file", passFile,
		"--public-url", "https://localhost:"+port, "--save-tokens")
	cmd.Env = append(os.Environ(), "TONGXING_KEY_PASSPHRASE=")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "config.yaml") {
		t.Fatalf("init: %v\n%s", err, out)
	}
	in := serverproc.Start(t, binary, dir)
	defer in.Stop(syscall.SIGTERM)
	for _, f := range []string{"tls/server.crt", "pki/tsa-intl.crt", "pki/tsa-gm.crt"} {
		c := readCert(t, filepath.Join(data, f))
		if len(c.Subject.Organization) != 1 || c.Subject.Organization[0] != "示例市大数据局" {
			t.Errorf("%s: subject %s, want O=示例市大数据局", f, c.Subject)
		}
	}
	// Elsewhere, with --data only: the commands find the URL init wrote.
	// (serverproc started serve on another port, so stop it and serve on
	// the one init chose.)
	in.Stop(syscall.SIGTERM)
	serve := exec.Command(binary, "serve", "--data", data, "--listen", "127.0.0.1:"+port, "--http-listen", "")
	serve.Env = append(os.Environ(), "TONGXING_KEY_PASSPHRASE=")
	var log serverproc.Buffer
	serve.Stdout, serve.Stderr = &log, &log
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { serve.Process.Signal(syscall.SIGTERM); serve.Wait() }()
	other := t.TempDir()
	var out []byte
	var err error
	for range 100 {
		c := exec.Command(binary, "ca", "list", "--profile", "tsa", "--data", data)
		c.Dir = other
		if out, err = c.CombinedOutput(); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil || !strings.Contains(string(out), "示例市大数据局 Timestamp Authority") {
		t.Fatalf("ca list --data %s (the token init saved, the URL it wrote): %v\n%s\nserver:\n%s", data, err, out, log.String())
	}
}
