// Package load is the gateway's load harness. It runs only as a benchmark:
//
//	go test ./test/load -bench GatewayLoad -benchtime 1x [-timeout 30m]
//
// One run starts the real binary (SQLite, or TONGXING_TEST_POSTGRES when
// TONGXING_LOAD_POSTGRES=1) with the gateway in front of one real HTTPS
// upstream, and then, interleaved in rounds, drives the same request
//
//	(a) straight to the upstream,
//	(b) through a plain tuned httputil.ReverseProxy (same transport as the
//	    gateway's, no policy, timestamp or audit) in the harness's process,
//	(b2) through the same proxy in a process of its own, as the gateway
//	    is, and
//	(c) through the full gateway (mTLS identity, policy, SM3 digest, TSA
//	    token, durable audit entry before forwarding, result entry after),
//
// checking every response's status and body. It reports requests per
// second and p50/p99 latency per mode. TONGXING_LOAD_SECONDS (default 6,
// split over 3 rounds per mode) and TONGXING_LOAD_CONCURRENCY (default 32)
// tune it; TONGXING_LOAD_BINARY runs a binary built before instead of
// building one, to compare versions in alternating runs. Run it on a
// quiet machine: figures from a shared one say little.
package load

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tongxing/tongxing/gateway"
	"github.com/tongxing/tongxing/store/storetest"
	"github.com/tongxing/tongxing/test/serverproc"
)

var binary string

// TestMain builds the binary only when a benchmark is asked for. Started
// with TONGXING_LOAD_PROXY_PROCESS set, the test binary is instead the
// plain proxy of mode (b2) in a process of its own (see [proxyProcess]).
func TestMain(m *testing.M) {
	if spec := os.Getenv(proxyProcessEnv); spec != "" {
		if err := serveProxyProcess(spec); err != nil {
			fmt.Fprintln(os.Stderr, "plain proxy process:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	flag.Parse()
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		os.Exit(m.Run())
	}
	if binary = os.Getenv("TONGXING_LOAD_BINARY"); binary != "" {
		// A binary built before, to compare versions in alternating runs.
		os.Exit(m.Run())
	}
	serverproc.Main(m, &binary)
}

const reply = `{"district":"示例区","year":2026,"registered_population":812345,"households":301234}`

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func listenTLS(b *testing.B, port string, h http.Handler, cert tls.Certificate, clientCAs *x509.CertPool, auth tls.ClientAuthType) {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, ClientCAs: clientCAs, ClientAuth: auth}}
	go srv.ServeTLS(ln, "", "")
	b.Cleanup(func() { srv.Close() })
}

// plainProxy is mode (b): a tuned httputil.ReverseProxy with the
// gateway's transport to up, and nothing else.
func plainProxy(up *url.URL, clientCert tls.Certificate, root *x509.CertPool) http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(up)
			pr.Out.URL.Path = strings.TrimPrefix(pr.In.URL.Path, "/gw/gongan")
			pr.Out.URL.RawPath = ""
		},
		Transport: gateway.NewTransport(clientCert, root, 30*time.Second),
	}
}

// proxyProcessEnv carries a [proxySpec] (JSON) to the test binary started
// as the plain proxy of mode (b2).
const proxyProcessEnv = "TONGXING_LOAD_PROXY_PROCESS"

// proxySpec is what the plain proxy process serves: its own certificate
// (a directory written by `tongxing ca request`), the upstream, the client
// certificate it presents there and the root that verifies both sides.
type proxySpec struct {
	Listen, Upstream, Cert, Client, Root string
}

// proxyProcess starts the test binary as the plain proxy in a process of
// its own, like the gateway, so that (b2) and (c) both cross a process
// boundary twice; (b) runs in the harness's process beside the clients and
// the upstream. It returns the proxy's port once it accepts connections.
func proxyProcess(b *testing.B, spec proxySpec) string {
	port := serverproc.FreePort(b)
	spec.Listen = "127.0.0.1:" + port
	raw, _ := json.Marshal(spec)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), proxyProcessEnv+"="+string(raw))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe() // closed when the harness ends: the proxy exits
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	// The proxy writes one line once it listens.
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "listening\n" {
		b.Fatalf("the plain proxy process did not start: %q %v", line, err)
	}
	return port
}

// serveProxyProcess runs the plain proxy described by spec (JSON) until
// its standard input closes.
func serveProxyProcess(spec string) error {
	var s proxySpec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		return err
	}
	up, err := url.Parse(s.Upstream)
	if err != nil {
		return err
	}
	cert, err := serverproc.LoadServiceCert(s.Cert)
	if err != nil {
		return err
	}
	client, err := serverproc.LoadServiceCert(s.Client)
	if err != nil {
		return err
	}
	rb, err := os.ReadFile(s.Root)
	if err != nil {
		return err
	}
	root := x509.NewCertPool()
	root.AppendCertsFromPEM(rb)
	ln, err := net.Listen("tcp", s.Listen)
	if err != nil {
		return err
	}
	fmt.Println("listening")
	srv := &http.Server{Handler: plainProxy(up, client, root), ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, ClientCAs: root, ClientAuth: tls.VerifyClientCertIfGiven}}
	go func() {
		io.Copy(io.Discard, os.Stdin)
		srv.Close()
	}()
	if err := srv.ServeTLS(ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

type result struct {
	mode string
	n    int
	errs int
	dur  time.Duration
	lat  []time.Duration
}

func BenchmarkGatewayLoad(b *testing.B) {
	seconds, conc := envInt("TONGXING_LOAD_SECONDS", 6), envInt("TONGXING_LOAD_CONCURRENCY", 32)
	dir := b.TempDir()
	upPort, proxyPort, gwPort := serverproc.FreePort(b), serverproc.FreePort(b), serverproc.FreePort(b)
	cfg := map[string]any{
		"departments": []map[string]any{
			{"id": "gongan", "name": "公安局", "domains": []string{"gongan.example"}, "ip_ranges": []string{"127.0.0.0/8"}, "upstream": "https://127.0.0.1:" + upPort},
			{"id": "tax", "name": "税务局", "domains": []string{"tax.example"}},
		},
		"gateway": map[string]any{"listen": "127.0.0.1:" + gwPort},
		"log":     map[string]any{"level": "warn"},
	}
	if addr := os.Getenv("TONGXING_LOAD_PPROF"); addr != "" {
		// The server's profiler, for a CPU profile taken while the
		// rounds run (the server idles in modes a and b).
		cfg["pprof_listen"] = addr
	}
	if os.Getenv("TONGXING_LOAD_POSTGRES") == "1" {
		cfg["database"] = storetest.PostgresDSN(b)
	}
	raw, _ := json.Marshal(cfg)
	os.WriteFile(filepath.Join(dir, "tongxing.yaml"), raw, 0o644)
	in := serverproc.Start(b, binary, dir, "--config", filepath.Join(dir, "tongxing.yaml"))
	defer in.Stop(syscall.SIGTERM)
	in.Enrol(b, "upstream", "--profile", "service", "--department", "gongan", "--service", "stats", "--ip", "127.0.0.1")
	in.Enrol(b, "proxy", "--profile", "service", "--department", "gongan", "--service", "plain-proxy", "--ip", "127.0.0.1", "--dns", "proxy.gongan.example")
	in.Enrol(b, "caller", "--profile", "service", "--department", "tax", "--service", "load", "--dns", "load.tax.example")
	root := x509.NewCertPool()
	rb, _ := os.ReadFile(filepath.Join(dir, serverproc.PKI("intl-root.crt")))
	root.AppendCertsFromPEM(rb)
	callerCert := serverproc.ServiceCert(b, filepath.Join(dir, "caller"))

	var upstreamCalls atomic.Int64
	listenTLS(b, upPort, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstreamCalls.Add(1)
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, reply)
	}), serverproc.ServiceCert(b, filepath.Join(dir, "upstream")), root, tls.RequireAndVerifyClientCert)

	// (b) the plain proxy: the gateway's tuned transport, nothing else;
	// (b2) the same in a process of its own, as the gateway is.
	upURL, _ := url.Parse("https://127.0.0.1:" + upPort)
	listenTLS(b, proxyPort, plainProxy(upURL, callerCert, root), serverproc.ServiceCert(b, filepath.Join(dir, "proxy")), root, tls.VerifyClientCertIfGiven)
	procPort := proxyProcess(b, proxySpec{Upstream: upURL.String(), Cert: filepath.Join(dir, "proxy"),
		Client: filepath.Join(dir, "caller"), Root: filepath.Join(dir, serverproc.PKI("intl-root.crt"))})

	client := func() *http.Client {
		return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: root, Certificates: []tls.Certificate{callerCert}},
			MaxIdleConnsPerHost: conc, MaxIdleConns: conc,
		}}
	}
	modes := []struct{ name, url string }{
		{"a-direct", "https://127.0.0.1:" + upPort + "/v1/statistics/population"},
		{"b-plain-proxy", "https://127.0.0.1:" + proxyPort + "/gw/gongan/v1/statistics/population"},
		{"b2-proxy-proc", "https://127.0.0.1:" + procPort + "/gw/gongan/v1/statistics/population"},
		{"c-gateway", "https://localhost:" + gwPort + "/gw/gongan/v1/statistics/population"},
	}
	clients := map[string]*http.Client{}
	for _, m := range modes {
		clients[m.name] = client()
		if r, err := clients[m.name].Get(m.url); err != nil || r.StatusCode != 200 {
			b.Fatalf("%s warm-up: %v %v", m.name, err, r)
		} else {
			r.Body.Close()
		}
	}
	results := map[string]*result{}
	rounds := 3
	per := time.Duration(seconds) * time.Second / time.Duration(rounds)
	b.ResetTimer()
	for round := 0; round < rounds; round++ {
		for _, m := range modes {
			r := results[m.name]
			if r == nil {
				r = &result{mode: m.name}
				results[m.name] = r
			}
			drive(b, clients[m.name], m.url, conc, per, r)
		}
	}
	b.StopTimer()
	fmt.Fprintf(os.Stderr, "\nmode           requests  errors  req/s     p50       p99      (concurrency %d, %d rounds of %s each)\n", conc, rounds, per)
	for _, m := range modes {
		r := results[m.name]
		sort.Slice(r.lat, func(i, j int) bool { return r.lat[i] < r.lat[j] })
		rps := float64(r.n) / r.dur.Seconds()
		p50, p99 := r.lat[len(r.lat)/2], r.lat[len(r.lat)*99/100]
		fmt.Fprintf(os.Stderr, "%-14s %8d  %6d  %8.0f  %-9s %-9s\n", m.name, r.n, r.errs, rps, p50.Round(time.Microsecond), p99.Round(time.Microsecond))
		b.ReportMetric(rps, m.name+"-req/s")
		b.ReportMetric(float64(p50.Microseconds()), m.name+"-p50-µs")
		b.ReportMetric(float64(p99.Microseconds()), m.name+"-p99-µs")
		if r.errs > 0 {
			b.Errorf("%s: %d responses failed the check", m.name, r.errs)
		}
	}
	steps(b, in)
}

// steps prints the gateway's mean time per step of a call over the run,
// from its tongxing_gateway_step_duration_seconds and
// tongxing_gateway_upstream_duration_seconds histograms, and reports them
// as metrics.
func steps(b *testing.B, in *serverproc.Instance) {
	tok, err := os.ReadFile(filepath.Join(in.Dir, "tongxing-data", "secrets", "metrics-token"))
	if err != nil {
		b.Fatal(err)
	}
	req, _ := http.NewRequest("GET", in.URL("/metrics"), nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := in.Client().Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("metrics: %s", resp.Status)
	}
	sum, count := map[string]float64{}, map[string]float64{}
	buckets := map[string][]bucket{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		for _, h := range []struct{ prefix, label string }{
			{"tongxing_gateway_step_duration_seconds", "step"},
			{"tongxing_gateway_upstream_duration_seconds", "department"},
		} {
			base, labels, ok := strings.Cut(name, "{")
			if !ok || !strings.HasPrefix(base, h.prefix) {
				continue
			}
			_, step, _ := strings.Cut(labels, h.label+`="`)
			step, _, _ = strings.Cut(step, `"`)
			if h.label == "department" {
				step = "upstream"
			}
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				continue
			}
			switch strings.TrimPrefix(base, h.prefix) {
			case "_sum":
				sum[step] += v
			case "_count":
				count[step] += v
			case "_bucket":
				_, le, _ := strings.Cut(labels, `le="`)
				le, _, _ = strings.Cut(le, `"`)
				if bound, err := strconv.ParseFloat(le, 64); err == nil {
					buckets[step] = append(buckets[step], bucket{le: bound, n: v})
				}
			}
		}
	}
	fmt.Fprintf(os.Stderr, "\ngateway step   mean     p50 (from the histogram's buckets; every call, warm-up included)\n")
	for _, step := range []string{"identify", "decide", "timestamp", "audit", "caller_token", "upstream"} {
		if count[step] == 0 {
			b.Fatalf("the gateway's metrics time no %s step", step)
		}
		mean := time.Duration(sum[step] / count[step] * float64(time.Second))
		p50 := median(buckets[step], count[step])
		fmt.Fprintf(os.Stderr, "%-14s %-8s %s\n", step, mean.Round(time.Microsecond), p50.Round(time.Microsecond))
		b.ReportMetric(float64(mean.Microseconds()), "step-"+step+"-µs")
		b.ReportMetric(float64(p50.Microseconds()), "step-"+step+"-p50-µs")
	}
}

// bucket is one cumulative bucket of a Prometheus histogram.
type bucket struct{ le, n float64 }

// median estimates the median of a histogram from its cumulative buckets
// as Prometheus's histogram_quantile does: linearly within the bucket
// that holds it (the buckets of one series, summed over its labels).
func median(bs []bucket, count float64) time.Duration {
	sum := map[float64]float64{}
	for _, b := range bs {
		sum[b.le] += b.n
	}
	les := make([]float64, 0, len(sum))
	for le := range sum {
		les = append(les, le)
	}
	sort.Float64s(les)
	half, lower, below := count/2, 0.0, 0.0
	for _, le := range les {
		n := sum[le]
		if n < half {
			lower, below = le, n
			continue
		}
		if math.IsInf(le, 1) || n == below {
			return time.Duration(lower * float64(time.Second))
		}
		return time.Duration((lower + (le-lower)*(half-below)/(n-below)) * float64(time.Second))
	}
	return 0
}

// drive sends requests from conc workers for d, checking each response.
func drive(b *testing.B, c *http.Client, u string, conc int, d time.Duration, r *result) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	want := []byte(reply)
	stop := time.Now().Add(d)
	start := time.Now()
	var firstErr atomic.Value
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 4096)
			errs := 0
			for time.Now().Before(stop) {
				t0 := time.Now()
				resp, err := c.Get(u)
				if err != nil {
					errs++
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				lat = append(lat, time.Since(t0))
				if err != nil || resp.StatusCode != 200 || !bytes.Equal(body, want) {
					errs++
					firstErr.CompareAndSwap(nil, fmt.Sprintf("HTTP %d %q", resp.StatusCode, body))
				}
			}
			mu.Lock()
			r.lat = append(r.lat, lat...)
			r.n += len(lat)
			r.errs += errs
			mu.Unlock()
		}()
	}
	wg.Wait()
	r.dur += time.Since(start)
	if e := firstErr.Load(); e != nil {
		b.Logf("%s: first failure: %v", r.mode, e)
	}
}
