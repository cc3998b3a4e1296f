package gateway_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/authn"
	"github.com/tongxing/tongxing/gateway"
	"github.com/tongxing/tongxing/test/serverproc"
)

const (
	idNumber   = "11010519491231002X"
	gatewaySID = "spiffe://tongxing.internal/dept/tongxing/svc/gateway"
)

// deployment is the configuration of one test deployment.
type deployment struct {
	dir                  string
	gwPort               string
	gonganPort, rensheGP string
	portalSecret         string
	serviceSecret        string
}

// writeConfig writes a configuration with four departments, two of them
// with upstreams on loopback ports, the gateway on its own port, a portal
// and a department service client of tax.
func newDeployment(t *testing.T, dir string) *deployment {
	t.Helper()
	d := &deployment{dir: dir, gwPort: serverproc.FreePort(t), gonganPort: serverproc.FreePort(t), rensheGP: serverproc.FreePort(t)}
	var portalHash, svcHash string
	d.portalSecret, portalHash = authn.GenerateClientSecret()
	d.serviceSecret, svcHash = authn.GenerateClientSecret()
	cfg := map[string]any{
		"departments": []map[string]any{
			{"id": "gongan", "name": "公安局", "domains": []string{"gongan.example"}, "ip_ranges": []string{"127.0.0.0/8"}, "upstream": "https://127.0.0.1:" + d.gonganPort},
			{"id": "renshe", "name": "人力资源和社会保障局", "domains": []string{"renshe.example"}, "ip_ranges": []string{"127.0.0.0/8"}, "upstream": "https://127.0.0.1:" + d.rensheGP + "/api"},
			{"id": "tax", "name": "税务局", "domains": []string{"tax.example"}},
			{"id": "scjg", "name": "市场监督管理局", "domains": []string{"scjg.example"}},
		},
		"gateway": map[string]any{"listen": "127.0.0.1:" + d.gwPort, "policy_poll": "200ms"},
		"oidc": map[string]any{"clients": []map[string]any{
			{"id": "tax-portal", "name": "税务门户", "department": "tax", "redirect_uris": []string{"https://portal.tax.example/cb"}, "secret_hash": portalHash},
			{"id": "tax-svc", "name": "税务核验服务", "department": "tax", "target_departments": []string{"renshe", "gongan"}, "sector_identifier": "tax.example", "secret_hash": svcHash},
		}},
	}
	d.write(t, "tongxing.yaml", cfg)
	return d
}

func (d *deployment) write(t *testing.T, name string, cfg map[string]any) string {
	t.Helper()
	b, err := json.Marshal(cfg) // JSON is YAML
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(d.dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func pemPool(t *testing.T, files ...string) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p.AppendCertsFromPEM(b)
	}
	return p
}

func smPool(t *testing.T, files ...string) *smx509.CertPool {
	t.Helper()
	p := smx509.NewCertPool()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p.AppendCertsFromPEM(b)
	}
	return p
}

// received is a call an upstream accepted or refused.
type received struct {
	method, path, query string
	header              http.Header
	body                []byte
	evidence            *gateway.Evidence
	err                 error
}

// upstream is a department's real HTTPS API: it requires a client
// certificate from Tongxing's intl root, checks that it is the gateway's,
// and checks Tongxing-Caller and Tongxing-Timestamp with the published keys
// only, refusing replays.
type upstream struct {
	dept     string
	srv      *http.Server
	verifier *gateway.Verifier
	mu       sync.Mutex
	calls    []received
	reply    map[string]string // path -> JSON body
}

func startUpstream(t *testing.T, in *serverproc.Instance, dept, port, prefix string, cert tls.Certificate, reply map[string]string) *upstream {
	t.Helper()
	pki := func(n string) string { return filepath.Join(in.Dir, serverproc.PKI(n)) }
	keys, err := gateway.FetchKeys(context.Background(), in.Client(), in.URL("/gateway/v1/keys"))
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{dept: dept, reply: reply, verifier: &gateway.Verifier{
		Keys: keys, Audience: dept, TSARoots: smPool(t, pki("gm-root.crt")), TSAIntermediates: smPool(t, pki("gm-issuing.crt")),
		Replay: gateway.NewMemoryReplayCache(nil), PathPrefix: prefix,
	}}
	u.srv = &http.Server{
		Handler: http.HandlerFunc(u.serve),
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert},
			ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pemPool(t, pki("intl-root.crt"))},
		ReadHeaderTimeout: 10 * time.Second,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	go u.srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { u.srv.Close() })
	return u
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	ev, err := u.verifier.VerifyRequest(r, 1<<20)
	body, _ := io.ReadAll(r.Body)
	if err == nil {
		peer := r.TLS.PeerCertificates[0]
		if len(peer.URIs) != 1 || peer.URIs[0].String() != gatewaySID {
			err = fmt.Errorf("client certificate is not the gateway's: %v", peer.URIs)
		}
	}
	u.mu.Lock()
	u.calls = append(u.calls, received{method: r.Method, path: r.URL.EscapedPath(), query: r.URL.RawQuery, header: r.Header.Clone(), body: body, evidence: ev, err: err})
	u.mu.Unlock()
	if err != nil {
		http.Error(w, "refused: "+err.Error(), http.StatusUnauthorized)
		return
	}
	key := strings.TrimPrefix(r.URL.Path, u.verifier.PathPrefix)
	for p, b := range u.reply {
		if strings.HasPrefix(key, p) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, b)
			return
		}
	}
	http.NotFound(w, r)
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.calls)
}

func (u *upstream) last() received {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls[len(u.calls)-1]
}

// gatewayClient calls the gateway listener with an optional client
// certificate, trusting only the intl root.
func gatewayClient(t *testing.T, in *serverproc.Instance, cert *tls.Certificate) *http.Client {
	t.Helper()
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pemPool(t, filepath.Join(in.Dir, serverproc.PKI("intl-root.crt")))}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

type response struct {
	status int
	header http.Header
	body   string
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	m := map[string]any{}
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

func do(t *testing.T, c *http.Client, method, u string, hdr map[string]string, body io.Reader) response {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// browserLogin signs a citizen in to the portal with a password through
// the real login pages and returns the browser (holding the SSO cookie)
// and the portal's access token.
func browserLogin(t *testing.T, in *serverproc.Instance, username, password, portalSecret string) (*http.Client, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	host := "localhost:" + in.Port
	b := &http.Client{Jar: jar, Transport: in.Client().Transport, Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Host != host {
				return http.ErrUseLastResponse
			}
			return nil
		}}
	q := url.Values{"response_type": {"code"}, "client_id": {"tax-portal"}, "redirect_uri": {"https://portal.tax.example/cb"},
		"scope": {"openid"}, "state": {"s1"}, "nonce": {"n1"}}
	resp, err := b.Get(in.URL("/oauth2/authorize?" + q.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode == http.StatusFound || resp.StatusCode == http.StatusSeeOther {
			u, _ := url.Parse(loc)
			code := u.Query().Get("code")
			if code == "" {
				t.Fatalf("redirect without a code: %s", loc)
			}
			return b, portalToken(t, in, code, portalSecret)
		}
		action, form := parseForm(t, string(page))
		if strings.HasSuffix(action, "/login") {
			form.Set("username", username)
			form.Set("password", password)
		} else {
			form.Set("decision", "allow")
		}
		resp, err = b.PostForm(in.URL(action), form)
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("the login did not end in a redirect to the portal")
	return nil, ""
}

var (
	formRE   = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
	hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

func parseForm(t *testing.T, page string) (string, url.Values) {
	t.Helper()
	m := formRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no form in page:\n%.2000s", page)
	}
	v := url.Values{}
	end := strings.Index(page[strings.Index(page, m[0]):], "</form>")
	for _, h := range hiddenRE.FindAllStringSubmatch(page[strings.Index(page, m[0]):][:end], -1) {
		v.Set(h[1], strings.ReplaceAll(h[2], "&amp;", "&"))
	}
	return strings.ReplaceAll(m[1], "&amp;", "&"), v
}

func portalToken(t *testing.T, in *serverproc.Instance, code, secret string) string {
	t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"https://portal.tax.example/cb"}}
	m := tokenRequest(t, in, "tax-portal", secret, form)
	tok, _ := m["access_token"].(string)
	if tok == "" {
		t.Fatalf("no access token: %v", m)
	}
	return tok
}

func tokenRequest(t *testing.T, in *serverproc.Instance, client, secret string, form url.Values) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, in.URL("/oauth2/token"), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client, secret)
	resp, err := in.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m := map[string]any{}
	json.NewDecoder(resp.Body).Decode(&m)
	if resp.StatusCode != 200 {
		t.Fatalf("token endpoint: %d %v", resp.StatusCode, m)
	}
	return m
}

// tamper returns a copy of a .tar.gz bundle whose data.json was changed
// after signing.
func tamper(t *testing.T, tgz []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	tw := tar.NewWriter(zw)
	changed := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		if strings.HasSuffix(h.Name, "data.json") {
			nb := bytes.Replace(body, []byte(`"P-IIT-VERIFY"`), []byte(`"P-SI-ELIG"`), 1)
			changed = !bytes.Equal(nb, body)
			body = nb
		}
		h.Size = int64(len(body))
		tw.WriteHeader(h)
		tw.Write(body)
	}
	tw.Close()
	zw.Close()
	if !changed {
		t.Fatal("tamper: nothing changed")
	}
	return out.Bytes()
}
