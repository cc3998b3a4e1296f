package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/test/serverproc"
)

// clientFrom is an HTTPS client of in whose connections come from the
// loopback address local (Linux routes all of 127.0.0.0/8 to lo), so that
// one test can be two sources.
func clientFrom(t *testing.T, in *serverproc.Instance, local string) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	b, err := os.ReadFile(filepath.Join(in.Dir, serverproc.PKI("intl-root.crt")))
	if err != nil || !pool.AppendCertsFromPEM(b) {
		t.Fatalf("intl root: %v", err)
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 10 * time.Second}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, DialContext: d.DialContext, MaxIdleConnsPerHost: 16,
	}}
}

// TestJunkEnrolmentFlood is finding 7 of issue 9 through the real server:
// 20,000 junk enrolment requests (bad CSRs and guessed codes) from one
// address are answered 429 with Retry-After after a short burst and add a
// handful of audit entries naming the address, while enrolments from
// another address go on.
func TestJunkEnrolmentFlood(t *testing.T) {
	dir := t.TempDir()
	in := serverproc.Start(t, binary, dir)
	defer in.Stop(syscall.SIGTERM)
	attacker := clientFrom(t, in, "127.0.0.2")
	if _, err := attacker.Get(in.URL("/healthz")); err != nil {
		t.Skipf("cannot connect from 127.0.0.2 on this machine: %v", err)
	}
	countEntries := func() (total, refusals int) {
		db, err := store.Open(context.Background(), filepath.Join(dir, "tongxing-data", "tongxing.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		db.QueryRow(context.Background(), "SELECT COUNT(*) FROM audit_entries").Scan(&total)
		db.QueryRow(context.Background(), "SELECT COUNT(*) FROM audit_entries WHERE action = 'ca.certificate.enrol'").Scan(&refusals)
		return total, refusals
	}
	before, _ := countEntries()

	key, _ := sm2.GenerateKey(rand.Reader)
	der, _ := smx509.CreateCertificateRequest(rand.Reader, &smx509.CertificateRequest{SignatureAlgorithm: smx509.SM2WithSM3}, key)
	csr := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	const n, workers = 20000, 8
	var (
		next                      atomic.Int64
		tooMany, refused, other   atomic.Int64
		retryAfterSeen, problemOK atomic.Bool
		wg                        sync.WaitGroup
	)
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > n {
					return
				}
				body := ca.EnrolRequestJSON{CSR: csr, EnrolmentCode: fmt.Sprintf("guessedcode%021d", i)}
				if i%2 == 0 {
					body = ca.EnrolRequestJSON{CSR: "junk", EnrolmentCode: "x"}
				}
				b, _ := json.Marshal(body)
				resp, err := attacker.Post(in.URL("/ca/v1/certificates"), "application/json", bytes.NewReader(b))
				if err != nil {
					other.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch {
				case resp.StatusCode == http.StatusTooManyRequests:
					tooMany.Add(1)
					if resp.Header.Get("Retry-After") != "" {
						retryAfterSeen.Store(true)
					}
					if resp.Header.Get("Content-Type") == "application/problem+json" {
						problemOK.Store(true)
					}
				case resp.StatusCode >= 400 && resp.StatusCode < 500:
					refused.Add(1)
				default:
					other.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d requests in %s: %d refused, %d answered 429, %d other", n, time.Since(start).Round(time.Millisecond), refused.Load(), tooMany.Load(), other.Load())
	if other.Load() != 0 || tooMany.Load() < n-100 || !retryAfterSeen.Load() || !problemOK.Load() {
		t.Fatalf("refused %d, 429 %d (Retry-After %v, problem+json %v), other %d", refused.Load(), tooMany.Load(), retryAfterSeen.Load(), problemOK.Load(), other.Load())
	}

	// Another address is not slowed down.
	_, serial := in.Enrol(t, "svc", "--profile", "service", "--department", "tax", "--service", "api", "--dns", "api.tax.example")
	if serial == "" {
		t.Fatal("no enrolment from another address")
	}

	if err := in.Stop(syscall.SIGTERM); err != nil { // flushes the counted refusals
		t.Fatal(err)
	}
	after, refusalEntries := countEntries()
	if added := after - before; added > 300 {
		t.Fatalf("%d audit entries added by %d junk requests, want at most a few hundred", added, n)
	}
	if refusalEntries < 1 || refusalEntries > 10 {
		t.Errorf("%d refusal entries, want the first and a count", refusalEntries)
	}
	out, err := in.Run("audit", "verify")
	if err != nil || !strings.Contains(out, "audit log OK") {
		t.Errorf("audit verify: %v\n%s", err, out)
	}
	db, err := store.Open(context.Background(), filepath.Join(dir, "tongxing-data", "tongxing.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var bodies []string
	rows, err := db.Query(context.Background(), "SELECT body FROM audit_entries WHERE action = 'ca.certificate.enrol' ORDER BY idx")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var b []byte
		rows.Scan(&b)
		bodies = append(bodies, string(b))
	}
	rows.Close()
	all := strings.Join(bodies, "\n")
	if !strings.Contains(all, "127.0.0.2") || !strings.Contains(all, "more refused enrolment requests") {
		t.Errorf("refusal entries do not name the source and the count:\n%s", all)
	}
}
