package cluster

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tongxing/tongxing/timestamp"
)

// stats collects what the load saw. Failures are counted by kind; an
// acknowledged certificate or a granted token is one the client received.
type stats struct {
	mu        sync.Mutex
	start     time.Time
	events    map[string]time.Time
	fails     map[string]int
	refused   int
	refusals  map[string]int
	tokens    []tsaResult
	serials   map[string]bool
	dupes     int
	certs     []string
	certTimes []time.Time
	logins    int
	requests  int
	latencies []time.Duration
	successes []time.Time
}

type tsaResult struct {
	token, data []byte
}

func newStats() *stats {
	return &stats{start: time.Now(), events: map[string]time.Time{}, fails: map[string]int{}, refusals: map[string]int{},
		serials: map[string]bool{}}
}

func (s *stats) event(name string) {
	s.mu.Lock()
	s.events[name] = time.Now()
	s.mu.Unlock()
}

func (s *stats) fail(kind string) {
	s.mu.Lock()
	s.fails[kind]++
	s.requests++
	s.mu.Unlock()
}

// ok counts a success that took d.
func (s *stats) ok(d time.Duration) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	s.latencies = append(s.latencies, d)
	s.successes = append(s.successes, now)
}

// gapAround is the longest time without any successful answer in the five
// seconds after event (from the event on): how long the clients as a
// whole went unserved while the balancer routed around the replica.
func (s *stats) gapAround(event string) time.Duration {
	at, ok := s.events[event]
	if !ok {
		return 0
	}
	sort.Slice(s.successes, func(i, j int) bool { return s.successes[i].Before(s.successes[j]) })
	prev, gap := at, time.Duration(0)
	for _, t := range s.successes {
		if t.Before(at) {
			continue
		}
		if t.After(at.Add(5 * time.Second)) {
			break
		}
		gap = max(gap, t.Sub(prev))
		prev = t
	}
	return gap
}

func (s *stats) report(t *testing.T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sort.Slice(s.latencies, func(i, j int) bool { return s.latencies[i] < s.latencies[j] })
	p := func(q float64) time.Duration {
		if len(s.latencies) == 0 {
			return 0
		}
		return s.latencies[int(q*float64(len(s.latencies)-1))]
	}
	var fails []string
	for k, n := range s.fails {
		fails = append(fails, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(fails)
	var issuedAfterKill int
	for _, at := range s.certTimes {
		if at.After(s.events["SIGKILL"]) {
			issuedAfterKill++
		}
	}
	t.Logf("load: %d requests in %s; %d timestamps granted, %d refused; %d certificates acknowledged (%d after the SIGKILL); %d logins; failures: %s",
		s.requests, loadFor, len(s.tokens), s.refused, len(s.certs), issuedAfterKill, s.logins, strings.Join(fails, " "))
	t.Logf("latency of successful requests: p50 %s, p99 %s; longest time without a successful answer in the 5 s after SIGKILL %s, after SIGTERM %s",
		p(0.5).Round(time.Millisecond), p(0.99).Round(time.Millisecond), s.gapAround("SIGKILL").Round(time.Millisecond), s.gapAround("SIGTERM").Round(time.Millisecond))
}

type code struct {
	Code string `json:"code"`
	ID   string `json:"id"`
	dns  string
}

// makeCodes has the registration officer create n service enrolment codes
// through the balancer.
func makeCodes(t *testing.T, c *cluster, raToken string, n int) []code {
	t.Helper()
	hc := c.client(addrIssuer, nil)
	var out []code
	for i := 0; i < n; i++ {
		dns := fmt.Sprintf("svc-%d.tax.example", i)
		body, _ := json.Marshal(map[string]any{"profile": "service", "subject": map[string]any{"department": "tax", "service": fmt.Sprintf("svc-%d", i), "dns_names": []string{dns}}})
		req, _ := http.NewRequest("POST", c.public+"/ca/v1/enrolment-codes", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+raToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var cd code
		if resp.StatusCode != 201 || json.Unmarshal(b, &cd) != nil || cd.Code == "" {
			t.Fatalf("enrolment code %d: %d %s", i, resp.StatusCode, b)
		}
		cd.dns = dns
		out = append(out, cd)
	}
	return out
}

// tsaLoad asks for timestamps until ctx ends and parses every answer: a
// refusal comes back inside HTTP 200. Connections are dropped every few
// requests so that nginx spreads them over the replicas.
func (c *cluster) tsaLoad(ctx context.Context, t *testing.T, st *stats) {
	hc := c.client(addrTSA, nil)
	for i := 0; ctx.Err() == nil; i++ {
		if i%10 == 0 {
			hc.Transport.(*http.Transport).CloseIdleConnections()
		}
		data := make([]byte, 32)
		rand.Read(data)
		d := sha256.Sum256(data)
		nonce, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
		req := &timestamp.TimeStampReq{Version: 1, CertReq: true, Nonce: nonce,
			MessageImprint: timestamp.MessageImprint{HashAlgorithm: timestamp.SHA256.OID(), HashedMessage: d[:]}}
		der, err := req.Marshal()
		if err != nil {
			t.Error(err)
			return
		}
		start := time.Now()
		resp, err := hc.Post(c.public+"/tsa", "application/timestamp-query", bytes.NewReader(der))
		if err != nil {
			if ctx.Err() == nil {
				st.fail("tsa: " + errKind(err))
			}
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			st.fail(fmt.Sprintf("tsa: HTTP %d %s", resp.StatusCode, errKind(err)))
			continue
		}
		tr, err := timestamp.ParseResponse(body)
		if err != nil {
			st.fail("tsa: unparsable response")
			continue
		}
		if tr.Status != timestamp.StatusGranted && tr.Status != timestamp.StatusGrantedWithMods {
			st.mu.Lock()
			st.refused++
			st.refusals[fmt.Sprintf("%v %v %s", tr.Status, tr.FailInfo, strings.Join(tr.StatusString, "; "))]++
			st.mu.Unlock()
			continue
		}
		st.ok(time.Since(start))
		st.mu.Lock()
		st.tokens = append(st.tokens, tsaResult{token: tr.Token, data: data})
		st.mu.Unlock()
	}
}

// issueLoad redeems enrolment codes until ctx ends. A request whose answer
// is lost (the replica died) is sent again with the same code and key: the
// CA answers the same certificate.
func (c *cluster) issueLoad(ctx context.Context, t *testing.T, codes []code, next *atomic.Int64, st *stats) {
	hc := c.client(addrIssuer, nil)
	for ctx.Err() == nil {
		i := int(next.Add(1)) - 1
		if i >= len(codes) {
			return
		}
		if i%5 == 0 {
			hc.Transport.(*http.Transport).CloseIdleConnections()
		}
		time.Sleep(issuePace) // spread the codes over the whole run, kill and drain included
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: codes[i].dns}}, key)
		body, _ := json.Marshal(map[string]string{"csr": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr})), "enrolment_code": codes[i].Code})
		for attempt := 0; attempt < 5; attempt++ {
			start := time.Now()
			resp, err := hc.Post(c.public+"/ca/v1/certificates", "application/json", bytes.NewReader(body))
			if err != nil {
				st.fail("issue: " + errKind(err))
				continue // the same code and key again
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var out struct{ Serial string }
			if (resp.StatusCode == 201 || resp.StatusCode == 200) && json.Unmarshal(b, &out) == nil && out.Serial != "" {
				st.ok(time.Since(start))
				st.mu.Lock()
				st.certs = append(st.certs, out.Serial)
				st.certTimes = append(st.certTimes, time.Now())
				st.mu.Unlock()
				break
			}
			st.fail(fmt.Sprintf("issue: HTTP %d", resp.StatusCode))
			if resp.StatusCode < 500 {
				t.Errorf("enrolment %d refused: %d %s", i, resp.StatusCode, b)
				break
			}
		}
	}
}

var (
	formRE   = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
	hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// loginForm starts an authorization request and returns the login form's
// action and hidden fields.
func (c *cluster) loginForm(hc *http.Client) (string, url.Values, error) {
	q := url.Values{"response_type": {"code"}, "client_id": {"portal"}, "redirect_uri": {"https://portal.example/cb"},
		"scope": {"openid"}, "state": {"s"}, "nonce": {"n"}}
	resp, err := hc.Get(c.public + "/oauth2/authorize?" + q.Encode())
	for hops := 0; err == nil && hops < 3 && (resp.StatusCode == http.StatusFound || resp.StatusCode == http.StatusSeeOther); hops++ {
		loc := resp.Header.Get("Location")
		resp.Body.Close()
		if !strings.HasPrefix(loc, "/") {
			return "", nil, fmt.Errorf("authorize redirected away: %s", loc)
		}
		resp, err = hc.Get(c.public + loc)
	}
	if err != nil {
		return "", nil, err
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return parseForm(string(page))
}

func parseForm(page string) (string, url.Values, error) {
	m := formRE.FindStringSubmatch(page)
	if m == nil {
		return "", nil, fmt.Errorf("no login form in %.300q", page)
	}
	rest := page[strings.Index(page, m[0]):]
	rest = rest[:strings.Index(rest, "</form>")]
	v := url.Values{}
	for _, h := range hiddenRE.FindAllStringSubmatch(rest, -1) {
		v.Set(h[1], strings.ReplaceAll(h[2], "&amp;", "&"))
	}
	return strings.ReplaceAll(m[1], "&amp;", "&"), v, nil
}

// login signs in as username with password from the client's address and
// returns the final status: 302/303 with a code is success.
func (c *cluster) login(hc *http.Client, username, password string) (int, error) {
	action, form, err := c.loginForm(hc)
	if err != nil {
		return 0, err
	}
	form.Set("username", username)
	form.Set("password", password)
	resp, err := hc.PostForm(c.public+action, form)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusFound || resp.StatusCode == http.StatusSeeOther {
		if u, _ := url.Parse(resp.Header.Get("Location")); u == nil || u.Query().Get("code") == "" && !strings.Contains(resp.Header.Get("Location"), "/login") {
			return resp.StatusCode, fmt.Errorf("redirect without a code: %s", resp.Header.Get("Location"))
		}
	}
	return resp.StatusCode, nil
}

// loginLoad signs a citizen in again and again, each time with a new
// browser (cookie jar).
func (c *cluster) loginLoad(ctx context.Context, t *testing.T, st *stats) {
	for ctx.Err() == nil {
		jar, _ := cookiejar.New(nil)
		hc := c.client(addrCitizen, jar)
		start := time.Now()
		status, err := c.login(hc, "zhangsan", "correct horse battery staple")
		switch {
		case err != nil && ctx.Err() == nil:
			st.fail("login: " + errKind(err))
		case status == http.StatusFound || status == http.StatusSeeOther:
			st.ok(time.Since(start))
			st.mu.Lock()
			st.logins++
			st.mu.Unlock()
		case err == nil:
			st.fail(fmt.Sprintf("login: HTTP %d", status))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkThrottle fails logins from the attacker's address until the
// address is locked, then shows that the right password is refused from
// it (429) but accepted from the citizen's address: the replicas throttle
// the clients' own addresses, not the balancer's.
func (c *cluster) checkThrottle(t *testing.T) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	attacker := c.client(addrAttacker, jar)
	locked := false
	for i := 0; i < 40 && !locked; i++ {
		status, err := c.login(attacker, fmt.Sprintf("nobody-%d", i), "wrong password")
		if err != nil {
			t.Fatalf("failed login %d: %v", i, err)
		}
		locked = status == http.StatusTooManyRequests
	}
	if !locked {
		t.Fatal("40 failed logins from one address did not lock it")
	}
	if status, err := c.login(attacker, "zhangsan", "correct horse battery staple"); err != nil || status != http.StatusTooManyRequests {
		t.Fatalf("right password from the locked address: %d %v, want 429", status, err)
	}
	jar2, _ := cookiejar.New(nil)
	if status, err := c.login(c.client(addrCitizen, jar2), "zhangsan", "correct horse battery staple"); err != nil || (status != http.StatusFound && status != http.StatusSeeOther) {
		t.Fatalf("right password from another address: %d %v (the lock must be the attacker's address, not the balancer's)", status, err)
	}
}

// errKind names a transport error briefly.
func errKind(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	for _, k := range []string{"connection reset", "EOF", "connection refused", "timeout", "broken pipe"} {
		if strings.Contains(s, k) {
			return k
		}
	}
	return s
}
