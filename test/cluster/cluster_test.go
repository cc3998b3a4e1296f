// Package cluster runs three `tongxing serve` replicas on one PostgreSQL
// database and one data directory behind Debian's nginx, configured from
// deploy/nginx, under a bounded mixed load of timestamps, issuances and
// logins, and kills one replica and stops another in the middle of it.
package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/store/storetest"
	"github.com/tongxing/tongxing/test/serverproc"
)

var binary string

func TestMain(m *testing.M) { serverproc.Main(m, &binary) }

// Phases of the load, from its start.
const (
	killAt  = 12 * time.Second // SIGKILL the audit sequencer
	termAt  = 24 * time.Second // SIGTERM another replica
	loadFor = 36 * time.Second
	// Two issuance clients, one certificate each per issuePace (plus the
	// issuance itself): the codes last the whole run.
	issuePace = 90 * time.Millisecond
	codeCount = 600
)

// Client source addresses: each class of client dials nginx from its own
// loopback address, so the replicas can tell them apart only through the
// PROXY protocol header nginx sends.
const (
	addrAttacker = "127.0.0.2"
	addrCitizen  = "127.0.0.3"
	addrTSA      = "127.0.0.4"
	addrIssuer   = "127.0.0.5"
)

// cluster is what the load and the checks need to know.
type cluster struct {
	public  string // https://localhost:PORT of nginx
	rootPEM []byte // the intl root, for TLS
	roots   *smx509.CertPool
	inter   *smx509.CertPool
}

// TestClusterBehindNginx: three replicas behind nginx from deploy/, a
// bounded mixed load, the audit sequencer SIGKILLed and another replica
// SIGTERMed mid-run. No timestamp is refused, every acknowledged
// certificate is in the inventory with its audit entry, every granted
// timestamp has a unique serial and a valid signature, the audit log
// verifies with a token on every checkpoint, and login throttling and the
// audit log see each client's own address.
func TestClusterBehindNginx(t *testing.T) {
	nginxBin := nginxOrSkip(t)
	began := time.Now()
	dsn := storetest.PostgresDSN(t)
	dir := t.TempDir()
	ports := map[string]string{"tls": serverproc.FreePort(t), "gateway": serverproc.FreePort(t), "http": serverproc.FreePort(t)}
	c := &cluster{public: "https://localhost:" + ports["tls"]}

	// The first start makes the data directory; then every replica trusts
	// the balancer and names the balancer's plain-HTTP port in certificates.
	first := serverproc.Start(t, binary, dir, "--database", dsn, "--public-url", c.public)
	if err := first.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("first start: %v\n%s", err, first.Out)
	}
	appendConfig(t, filepath.Join(dir, "tongxing-data", "config.yaml"),
		"trusted_proxies: [127.0.0.1]\npublic_http_url: http://localhost:"+ports["http"]+"\naudit:\n  checkpoint_interval: 500ms\n")
	var replicas []*serverproc.Instance
	for i := 0; i < 3; i++ {
		replicas = append(replicas, serverproc.Start(t, binary, dir, "--database", dsn, "--public-url", c.public))
	}
	startNginx(t, nginxBin, ports, replicas)
	c.load(t, dir)
	t.Logf("%s: three replicas behind nginx", time.Since(began).Round(time.Second))

	codes := makeCodes(t, c, replicas[0].Token(t, "ra"), codeCount)
	if out, err := replicas[0].RunStdin("correct horse battery staple\n", "users", "add", "zhangsan", "--password-stdin", "--name", "张三", "--server", c.public); err != nil {
		t.Fatalf("users add: %v\n%s", err, out)
	}
	if out, err := replicas[0].Run("clients", "add", "portal", "--name", "门户", "--redirect-uri", "https://portal.example/cb", "--server", c.public); err != nil {
		t.Fatalf("clients add: %v\n%s", err, out)
	}

	t.Logf("%s: load begins", time.Since(began).Round(time.Second))
	ctx, stop := context.WithTimeout(context.Background(), loadFor)
	defer stop()
	st := newStats()
	var wg sync.WaitGroup
	run := func(f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	for w := 0; w < 3; w++ {
		run(func() { c.tsaLoad(ctx, t, st) })
	}
	var next atomic.Int64
	for w := 0; w < 2; w++ {
		run(func() { c.issueLoad(ctx, t, codes, &next, st) })
	}
	run(func() { c.loginLoad(ctx, t, st) })

	// Kill the audit sequencer, then stop another replica gracefully.
	time.Sleep(killAt)
	killed := sequencer(t, replicas)
	st.event("SIGKILL")
	replicas[killed].Kill()
	t.Logf("%s: SIGKILL replica %d (the audit sequencer)", killAt, killed)
	time.Sleep(termAt - killAt)
	termed := (killed + 1) % 3
	st.event("SIGTERM")
	termErr := make(chan error, 1)
	go func() { termErr <- replicas[termed].Stop(syscall.SIGTERM) }()
	t.Logf("%s: SIGTERM replica %d", termAt, termed)
	wg.Wait()
	t.Logf("%s: load ended", time.Since(began).Round(time.Second))
	if err := <-termErr; err != nil {
		t.Errorf("replica %d after SIGTERM: %v\n%s", termed, err, replicas[termed].Out)
	}
	survivor := replicas[3-killed-termed]

	c.checkThrottle(t)
	t.Logf("%s: throttling checked", time.Since(began).Round(time.Second))

	if err := survivor.Stop(syscall.SIGTERM); err != nil {
		t.Errorf("survivor after SIGTERM: %v", err)
	}
	st.report(t)
	if st.refused != 0 {
		t.Errorf("%d timestamp requests were refused inside HTTP 200 (want none): %v", st.refused, st.refusals)
	}
	if len(st.tokens) < 100 || len(st.certs) < 50 || st.logins < 10 {
		t.Errorf("too little load went through: %d tokens, %d certificates, %d logins", len(st.tokens), len(st.certs), st.logins)
	}
	c.verifyTokens(t, st)
	checkDatabase(t, dsn, st)
	if out, err := survivor.Run("audit", "verify", "--database", dsn); err != nil || !strings.Contains(out, "audit log OK") {
		t.Errorf("tongxing audit verify: %v\n%s", err, out)
	}
}

// nginxOrSkip returns the nginx binary, or skips on a machine without
// nginx and its stream module (CI installs both).
func nginxOrSkip(t *testing.T) string {
	p := serverproc.Nginx(t)
	if _, err := os.Stat("/usr/lib/nginx/modules/ngx_stream_module.so"); err != nil {
		serverproc.Missing(t, "nginx's stream module is not installed on this machine (apt-get install libnginx-mod-stream; CI installs it)")
	}
	return p
}

func appendConfig(t *testing.T, path, yaml string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(yaml); err != nil {
		t.Fatal(err)
	}
}

// startNginx copies deploy/nginx into a prefix of its own, points its
// listeners, logs and replica lists at this test, checks it with nginx -t
// and runs it.
func startNginx(t *testing.T, bin string, ports map[string]string, replicas []*serverproc.Instance) {
	t.Helper()
	prefix := t.TempDir()
	src := filepath.Join("..", "..", "deploy", "nginx")
	rewrite := strings.NewReplacer(
		"listen 443;", "listen 127.0.0.1:"+ports["tls"]+";",
		"listen 9443;", "listen 127.0.0.1:"+ports["gateway"]+";",
		"listen 80;", "listen 127.0.0.1:"+ports["http"]+";",
		"/var/log/nginx/", prefix+"/",
		"/run/nginx-tongxing.pid", prefix+"/nginx.pid",
		// Temporary files go to the prefix too (Debian's are root's).
		"\nhttp {\n", "\nhttp {\n    client_body_temp_path "+prefix+"/tmp-body;\n    proxy_temp_path "+prefix+"/tmp-proxy;\n",
	)
	lists := map[string]func(*serverproc.Instance) string{
		"replicas-tls.conf":  func(in *serverproc.Instance) string { return in.Port },
		"replicas-http.conf": func(in *serverproc.Instance) string { return in.HTTPPort },
		// The replicas open no gateway listener here (no department has
		// an upstream): nginx refuses those connections by itself.
		"replicas-gateway.conf": func(*serverproc.Instance) string { return serverproc.FreePort(t) },
	}
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		dst := filepath.Join(prefix, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		out := rewrite.Replace(string(b))
		if port, ok := lists[d.Name()]; ok {
			var lines []string
			for _, in := range replicas {
				lines = append(lines, "server 127.0.0.1:"+port(in)+" max_fails=1 fail_timeout=5s;")
			}
			out = strings.Join(lines, "\n") + "\n"
		}
		return os.WriteFile(dst, []byte(out), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(prefix, "nginx.conf")
	errLog := filepath.Join(prefix, "startup-error.log")
	if out, err := exec.Command(bin, "-t", "-p", prefix, "-c", conf, "-e", errLog).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t on the deploy/ configuration: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-p", prefix, "-c", conf, "-e", errLog, "-g", "daemon off;")
	out := &serverproc.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGQUIT)
		cmd.Wait()
	})
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", "127.0.0.1:"+ports["tls"]); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			logs, _ := os.ReadFile(filepath.Join(prefix, "tongxing-error.log"))
			t.Fatalf("nginx did not listen:\n%s\n%s", out, logs)
		}
	}
}

// load reads the CA certificates of the data directory.
func (c *cluster) load(t *testing.T, dir string) {
	t.Helper()
	c.roots, c.inter = smx509.NewCertPool(), smx509.NewCertPool()
	for name, pool := range map[string]*smx509.CertPool{"intl-root.crt": c.roots, "gm-root.crt": c.roots, "intl-issuing.crt": c.inter, "gm-issuing.crt": c.inter} {
		b, err := os.ReadFile(filepath.Join(dir, serverproc.PKI(name)))
		if err != nil {
			t.Fatal(err)
		}
		pool.AppendCertsFromPEM(b)
		if name == "intl-root.crt" {
			c.rootPEM = b
		}
	}
}

// client is an HTTPS client that dials nginx from source address src,
// trusts the intl root and does not follow redirects.
func (c *cluster) client(src string, jar http.CookieJar) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.rootPEM)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 4,
			TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
}

// sequencer returns the index of the replica that holds the audit
// sequencer, from each replica's tongxing_audit_sequencer gauge.
func sequencer(t *testing.T, replicas []*serverproc.Instance) int {
	t.Helper()
	for i, in := range replicas {
		req, _ := http.NewRequest("GET", in.URL("/metrics"), nil)
		req.Header.Set("Authorization", "Bearer "+in.Token(t, "metrics"))
		resp, err := in.Client().Do(req)
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		resp.Body.Close()
		if strings.Contains(string(b), "\ntongxing_audit_sequencer 1\n") {
			return i
		}
	}
	t.Fatal("no replica reports itself the audit sequencer")
	return -1
}
