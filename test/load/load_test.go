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
//	    gateway's, no policy, timestamp or audit), and
//	(c) through the full gateway (mTLS identity, policy, SM3 digest, TSA
//	    token, durable audit entry before forwarding, result entry after),
//
// checking every response's status and body. It reports requests per
// second and p50/p99 latency per mode. TONGXING_LOAD_SECONDS (default 6,
// split over 3 rounds per mode) and TONGXING_LOAD_CONCURRENCY (default 32)
// tune it. Run it on a quiet machine: figures from a shared one say little.
package load

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
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

// TestMain builds the binary only when a benchmark is asked for.
func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
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

	// (b) the plain proxy: the gateway's tuned transport, nothing else.
	upURL, _ := url.Parse("https://127.0.0.1:" + upPort)
	plain := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upURL)
			pr.Out.URL.Path = strings.TrimPrefix(pr.In.URL.Path, "/gw/gongan")
			pr.Out.URL.RawPath = ""
		},
		Transport: gateway.NewTransport(callerCert, root, 30*time.Second),
	}
	listenTLS(b, proxyPort, plain, serverproc.ServiceCert(b, filepath.Join(dir, "proxy")), root, tls.VerifyClientCertIfGiven)

	client := func() *http.Client {
		return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: root, Certificates: []tls.Certificate{callerCert}},
			MaxIdleConnsPerHost: conc, MaxIdleConns: conc,
		}}
	}
	modes := []struct{ name, url string }{
		{"a-direct", "https://127.0.0.1:" + upPort + "/v1/statistics/population"},
		{"b-plain-proxy", "https://127.0.0.1:" + proxyPort + "/gw/gongan/v1/statistics/population"},
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
			}
		}
	}
	fmt.Fprintf(os.Stderr, "\ngateway step   mean over the run (every call, warm-up included)\n")
	for _, step := range []string{"identify", "decide", "timestamp", "audit", "caller_token", "upstream"} {
		if count[step] == 0 {
			b.Fatalf("the gateway's metrics time no %s step", step)
		}
		mean := time.Duration(sum[step] / count[step] * float64(time.Second))
		fmt.Fprintf(os.Stderr, "%-14s %s\n", step, mean.Round(time.Microsecond))
		b.ReportMetric(float64(mean.Microseconds()), "step-"+step+"-µs")
	}
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
