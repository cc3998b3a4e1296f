package acmeca_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	xacme "golang.org/x/crypto/acme"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/acmeca"
	"github.com/tongxing/tongxing/ca/catest"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// responder answers http-01 challenges; the ACME server's challenge dialer
// sends every NAME:80 connection to it.
type responder struct {
	mu    sync.Mutex
	auths map[string]string // token -> key authorization
	srv   *httptest.Server
}

func newResponder(t testing.TB) *responder {
	r := &responder{auths: map[string]string{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		token, ok := strings.CutPrefix(req.URL.Path, "/.well-known/acme-challenge/")
		r.mu.Lock()
		auth, found := r.auths[token]
		r.mu.Unlock()
		if !ok || !found {
			http.NotFound(w, req)
			return
		}
		fmt.Fprint(w, auth)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *responder) set(token, auth string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.auths[token] = auth
}

// dial sends port 80 to the responder and refuses everything else.
func (r *responder) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if _, port, err := net.SplitHostPort(addr); err != nil || port != "80" {
		return nil, fmt.Errorf("test dialer: %s is not an http-01 address", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, r.srv.Listener.Addr().String())
}

// env is a CA, its ACME server on an httptest TLS server, and a responder.
type env struct {
	f    *fixture
	srv  *acmeca.Server
	ts   *httptest.Server
	resp *responder
}

func newEnv(t testing.TB, db *store.DB, opts ...acmeca.Option) *env {
	t.Helper()
	e := &env{f: newFixture(t, db), resp: newResponder(t)}
	opts = append([]acmeca.Option{acmeca.WithDepartments("tax", "health"), acmeca.WithChallengeDialer(e.resp.dial),
		acmeca.WithLogger(catest.Discard())}, opts...)
	srv, err := acmeca.New(context.Background(), e.f.ca, opts...)
	if err != nil {
		t.Fatalf("acmeca.New: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	e.srv = srv
	mux := http.NewServeMux()
	srv.Routes(mux)
	e.ts = httptest.NewTLSServer(mux)
	t.Cleanup(e.ts.Close)
	return e
}

// client returns an ACME client with a new account key for department.
func (e *env) client(t *testing.T, department string) *xacme.Client {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &xacme.Client{Key: key, HTTPClient: e.ts.Client(), DirectoryURL: acmeca.DirectoryURL(e.ts.URL, department), RetryBackoff: noRetry}
}

// noRetry makes the client report a failed request instead of retrying it.
func noRetry(int, *http.Request, *http.Response) time.Duration { return 0 }

func register(t *testing.T, c *xacme.Client, eab *xacme.ExternalAccountBinding) (*xacme.Account, error) {
	t.Helper()
	return c.Register(context.Background(), &xacme.Account{Contact: []string{"mailto:ops@tax.example"}, ExternalAccountBinding: eab}, xacme.AcceptTOS)
}

// obtain orders a certificate for names through http-01 and returns the
// leaf and the certificate key.
func (e *env) obtain(t *testing.T, c *xacme.Client, names ...string) (*x509.Certificate, crypto.Signer, error) {
	t.Helper()
	ctx := context.Background()
	order, err := c.AuthorizeOrder(ctx, xacme.DomainIDs(names...))
	if err != nil {
		return nil, nil, err
	}
	for _, u := range order.AuthzURLs {
		z, err := c.GetAuthorization(ctx, u)
		if err != nil {
			return nil, nil, err
		}
		var chal *xacme.Challenge
		for _, ch := range z.Challenges {
			if ch.Type == "http-01" {
				chal = ch
			}
		}
		if chal == nil {
			return nil, nil, errors.New("no http-01 challenge offered")
		}
		auth, err := c.HTTP01ChallengeResponse(chal.Token)
		if err != nil {
			return nil, nil, err
		}
		e.resp.set(chal.Token, auth)
		if _, err := c.Accept(ctx, chal); err != nil {
			return nil, nil, err
		}
		if _, err := c.WaitAuthorization(ctx, z.URI); err != nil {
			return nil, nil, err
		}
	}
	if _, err := c.WaitOrder(ctx, order.URI); err != nil {
		return nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: names[0]}, DNSNames: names}, key)
	if err != nil {
		return nil, nil, err
	}
	der, _, err := c.CreateOrderCert(ctx, order.FinalizeURL, csr, true)
	if err != nil {
		return nil, nil, err
	}
	if len(der) != 2 {
		return nil, nil, fmt.Errorf("got %d certificates, want leaf and issuing CA", len(der))
	}
	leaf, err := x509.ParseCertificate(der[0])
	return leaf, key, err
}

// recorder keeps the body of the last revoke-cert response: the x/crypto
// client reports alreadyRevoked as success.
type recorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	last string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err != nil || !strings.HasSuffix(req.URL.Path, "/revoke-cert") {
		return resp, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.last = string(b)
	r.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

func (r *recorder) lastRevocation() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// recordRevocations makes c record revoke-cert responses.
func recordRevocations(c *xacme.Client) *recorder {
	hc := *c.HTTPClient
	r := &recorder{next: hc.Transport}
	hc.Transport = r
	c.HTTPClient = &hc
	return r
}

func isProblem(err error, name string) bool {
	var ae *xacme.Error
	return errors.As(err, &ae) && ae.ProblemType == acmeURN(name)
}

func TestServerIssueAndRevoke(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var opts []acmeca.Option
		dsn := ""
		if db.Dialect() == store.Postgres {
			// The CA and the ACME state share one PostgreSQL database.
			dsn = storetest.PostgresDSN(t)
			var err error
			if db, err = store.Open(context.Background(), dsn); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			opts = append(opts, acmeca.WithPostgres(dsn))
		} else {
			opts = append(opts, acmeca.WithStateDir(t.TempDir()))
		}
		e := newEnv(t, db, opts...)
		ctx := context.Background()
		c := e.client(t, "tax")
		rec0 := recordRevocations(c)
		acct, err := register(t, c, nil)
		if err != nil {
			t.Fatalf("register: %v", err)
		}
		accountID := path.Base(acct.URI)

		leaf, _, err := e.obtain(t, c, "api.tax.example", "www.api.tax.example")
		if err != nil {
			t.Fatalf("obtain: %v", err)
		}
		e.f.verify(t, leaf, "www.api.tax.example")
		serial := ca.SerialHex(leaf.SerialNumber)
		rec, err := e.f.ca.Certificate(ctx, serial)
		if err != nil {
			t.Fatalf("inventory: %v", err)
		}
		if rec.Profile != "service" || rec.RequestedBy != "acme:tax:"+accountID || rec.Status != ca.StatusValid {
			t.Fatalf("record profile=%s requested_by=%s status=%s, want service, acme:tax:%s, valid", rec.Profile, rec.RequestedBy, rec.Status, accountID)
		}
		if got := leaf.URIs[0].String(); got != "spiffe://tongxing.internal/dept/tax/svc/api" {
			t.Fatalf("SPIFFE ID %s", got)
		}

		if err := c.RevokeCert(ctx, nil, leaf.Raw, xacme.CRLReasonKeyCompromise); err != nil {
			t.Fatalf("ACME revoke: %v", err)
		}
		rec, err = e.f.ca.Certificate(ctx, serial)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Status != ca.StatusRevoked || rec.Reason == nil || *rec.Reason != ca.ReasonKeyCompromise {
			t.Fatalf("after ACME revocation: status %s reason %v", rec.Status, rec.Reason)
		}
		if err := c.RevokeCert(ctx, nil, leaf.Raw, xacme.CRLReasonSuperseded); err != nil || !strings.Contains(rec0.lastRevocation(), acmeURN("alreadyRevoked")) {
			t.Fatalf("second revocation: %v, answer %s, want alreadyRevoked", err, rec0.lastRevocation())
		}

		// An officer's revocation is what ACME clients see too.
		leaf2, _, err := e.obtain(t, c, "b.tax.example")
		if err != nil {
			t.Fatalf("obtain: %v", err)
		}
		if _, err := e.f.ca.SetStatus(ctx, ca.StatusChange{Serial: ca.SerialHex(leaf2.SerialNumber), To: ca.StatusRevoked,
			Reason: ca.ReasonAffiliationChanged, Actor: "officer:li"}); err != nil {
			t.Fatal(err)
		}
		if err := c.RevokeCert(ctx, nil, leaf2.Raw, xacme.CRLReasonSuperseded); err != nil || !strings.Contains(rec0.lastRevocation(), acmeURN("alreadyRevoked")) {
			t.Fatalf("ACME revocation of an officer-revoked certificate: %v, answer %s, want alreadyRevoked", err, rec0.lastRevocation())
		}
		if rec, err := e.f.ca.Certificate(ctx, ca.SerialHex(leaf2.SerialNumber)); err != nil || *rec.Reason != ca.ReasonAffiliationChanged {
			t.Fatalf("officer's revocation reason changed: %v %v", rec, err)
		}

		if dsn != "" {
			// A second replica on the same database knows the account.
			srv2, err := acmeca.New(ctx, e.f.ca, acmeca.WithDepartments("tax", "health"), acmeca.WithPostgres(dsn), acmeca.WithLogger(catest.Discard()))
			if err != nil {
				t.Fatalf("second replica: %v", err)
			}
			defer srv2.Close()
			mux := http.NewServeMux()
			srv2.Routes(mux)
			ts2 := httptest.NewTLSServer(mux)
			defer ts2.Close()
			c2 := &xacme.Client{Key: c.Key, HTTPClient: ts2.Client(), DirectoryURL: acmeca.DirectoryURL(ts2.URL, "tax")}
			got, err := c2.GetReg(ctx, "")
			if err != nil || path.Base(got.URI) != accountID {
				t.Fatalf("account on the second replica: %v, %v", got, err)
			}
		}
	})
}

func TestServerExternalAccountBinding(t *testing.T) {
	e := newEnv(t, nil, acmeca.WithStateDir(t.TempDir()), acmeca.WithExternalAccountBinding())
	ctx := context.Background()
	key, err := e.srv.NewExternalAccountKey(ctx, "tax", "invoice-service")
	if err != nil {
		t.Fatalf("NewExternalAccountKey: %v", err)
	}
	if len(key.HMACKey) < 32 || key.KeyID == "" || key.HMACKeyBase64() == "" {
		t.Fatalf("weak or empty EAB key: id %q, %d bytes", key.KeyID, len(key.HMACKey))
	}
	otherDept, err := e.srv.NewExternalAccountKey(ctx, "health", "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		dept string
		eab  *xacme.ExternalAccountBinding
		want string // ACME error name for fail cases
	}{
		{"fail/no binding", "tax", nil, "externalAccountRequired"},
		// step-ca answers an unknown or used key with serverInternal.
		{"fail/unknown key ID", "tax", &xacme.ExternalAccountBinding{KID: "nope", Key: key.HMACKey}, "serverInternal"},
		{"fail/key of another department", "tax", &xacme.ExternalAccountBinding{KID: otherDept.KeyID, Key: otherDept.HMACKey}, "unauthorized"},
		{"ok/bound", "tax", &xacme.ExternalAccountBinding{KID: key.KeyID, Key: key.HMACKey}, ""},
		{"fail/key already bound", "tax", &xacme.ExternalAccountBinding{KID: key.KeyID, Key: key.HMACKey}, "serverInternal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.client(t, tt.dept)
			_, err := register(t, c, tt.eab)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("register: %v", err)
				}
				if _, _, err := e.obtain(t, c, "eab.tax.example"); err != nil {
					t.Fatalf("obtain after binding: %v", err)
				}
				return
			}
			if !isProblem(err, tt.want) {
				t.Fatalf("register: %v, want %s", err, tt.want)
			}
		})
	}
	if _, err := e.srv.NewExternalAccountKey(ctx, "police", ""); !errors.Is(err, acmeca.ErrUnknownDepartment) {
		t.Fatalf("EAB key for an unknown department: %v", err)
	}
}

func TestServerDepartments(t *testing.T) {
	e := newEnv(t, nil, acmeca.WithStateDir(t.TempDir()))
	tests := []struct {
		name  string
		dept  string
		names []string
		want  string // ACME error name for fail cases
	}{
		{"ok/name in tax's domain", "tax", []string{"records.tax.example"}, ""},
		{"ok/two labels below health's domain", "health", []string{"a.b.health.example"}, ""},
		{"fail/name outside health's domain", "health", []string{"records.tax.example"}, "rejectedIdentifier"},
		{"fail/name outside tax's domain", "tax", []string{"anything.example.org"}, "rejectedIdentifier"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.client(t, tt.dept)
			if _, err := register(t, c, nil); err != nil {
				t.Fatal(err)
			}
			leaf, _, err := e.obtain(t, c, tt.names...)
			if tt.want != "" {
				if err == nil {
					t.Fatalf("obtained a certificate for %v, want %s", tt.names, tt.want)
				}
				if !isProblem(err, tt.want) {
					t.Fatalf("error %v, want %s", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("obtain: %v", err)
			}
			if leaf.Subject.OrganizationalUnit[0] != tt.dept {
				t.Fatalf("OU %v, want %s", leaf.Subject.OrganizationalUnit, tt.dept)
			}
		})
	}
	t.Run("fail/unknown department directory", func(t *testing.T) {
		resp, err := e.ts.Client().Get(acmeca.DirectoryURL(e.ts.URL, "police"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 4 {
			t.Fatalf("directory of an unknown department: status %d, want 4xx", resp.StatusCode)
		}
	})
	t.Run("fail/oversized body", func(t *testing.T) {
		body := strings.NewReader(strings.Repeat("x", acmeca.MaxRequestBody+1))
		resp, err := e.ts.Client().Post(e.ts.URL+"/acme/tax/new-account", "application/jose+json", body)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("oversized request: status %d, want 413", resp.StatusCode)
		}
	})
}

func TestNewOptions(t *testing.T) {
	f := newFixture(t, nil)
	dir := t.TempDir()
	tests := []struct {
		name string
		opts []acmeca.Option
	}{
		{"ok/one department", []acmeca.Option{acmeca.WithDepartments("tax"), acmeca.WithStateDir(dir)}},
		{"fail/no department", []acmeca.Option{acmeca.WithStateDir(dir)}},
		{"fail/department not a slug", []acmeca.Option{acmeca.WithDepartments("Tax Bureau"), acmeca.WithStateDir(dir)}},
		{"fail/department twice", []acmeca.Option{acmeca.WithDepartments("tax", "tax"), acmeca.WithStateDir(dir)}},
		{"fail/department not in the registry", []acmeca.Option{acmeca.WithDepartments("tax", "police"), acmeca.WithStateDir(dir)}},
		{"fail/tongxing department", []acmeca.Option{acmeca.WithDepartments("tongxing"), acmeca.WithStateDir(dir)}},
		{"fail/no state store", []acmeca.Option{acmeca.WithDepartments("tax")}},
		{"fail/two state stores", []acmeca.Option{acmeca.WithDepartments("tax"), acmeca.WithStateDir(dir), acmeca.WithPostgres("postgres://localhost/x")}},
		{"fail/unknown profile", []acmeca.Option{acmeca.WithDepartments("tax"), acmeca.WithStateDir(dir), acmeca.WithProfile("nope")}},
		{"fail/profile without the intl suite", []acmeca.Option{acmeca.WithDepartments("tax"), acmeca.WithStateDir(dir), acmeca.WithProfile("citizen")}},
		{"fail/internal ocsp profile", []acmeca.Option{acmeca.WithDepartments("tax"), acmeca.WithStateDir(dir), acmeca.WithProfile("ocsp")}},
		{"fail/internal tsa profile", []acmeca.Option{acmeca.WithDepartments("tax"), acmeca.WithStateDir(dir), acmeca.WithProfile("tsa")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := acmeca.New(context.Background(), f.ca, append(tt.opts, acmeca.WithLogger(catest.Discard()))...)
			if strings.HasPrefix(tt.name, "ok/") {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if err := srv.Close(); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				srv.Close()
				t.Fatal("New succeeded, want an error")
			}
		})
	}
}

// TestServerNamePolicy orders, for department tax, the names a subscriber
// got from the CA before issue 9 (finding 5): every order is refused at
// new-order with rejectedIdentifier, naming the department's name policy,
// before any challenge.
func TestServerNamePolicy(t *testing.T) {
	e := newEnv(t, nil, acmeca.WithStateDir(t.TempDir()))
	c := e.client(t, "tax")
	if _, err := register(t, c, nil); err != nil {
		t.Fatal(err)
	}
	for _, ids := range [][]xacme.AuthzID{
		xacme.DomainIDs("*.gov.cn"),
		xacme.DomainIDs("www.gov.cn"),
		xacme.DomainIDs("*.cn"),
		xacme.IPIDs("0.0.0.0"),
		xacme.DomainIDs("invoice.tax.example", "www.gov.cn"),
		xacme.DomainIDs("*.tax.example"),
		xacme.IPIDs("10.30.0.1"),
	} {
		t.Run("fail/"+ids[len(ids)-1].Value, func(t *testing.T) {
			order, err := c.AuthorizeOrder(context.Background(), ids)
			if err == nil {
				t.Fatalf("order %v accepted: %+v", ids, order)
			}
			var ae *xacme.Error
			if !errors.As(err, &ae) || ae.ProblemType != acmeURN("rejectedIdentifier") || !strings.Contains(ae.Detail, "name policy of department tax") {
				t.Fatalf("error %v, want rejectedIdentifier naming the name policy of department tax", err)
			}
		})
	}
	t.Run("ok/nonce-still-usable", func(t *testing.T) {
		if _, _, err := e.obtain(t, c, "invoice.tax.example"); err != nil {
			t.Fatalf("a permitted order after refusals: %v", err)
		}
	})
}

// FuzzNewOrderPolicy sends arbitrary new-order bodies to the name-policy
// check that runs before step-ca: it never panics, and when it answers, the
// answer is a rejectedIdentifier problem.
func FuzzNewOrderPolicy(f *testing.F) {
	e := newEnv(f, nil, acmeca.WithStateDir(f.TempDir()))
	payload := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, seed := range []string{
		`{"protected":"e30","payload":"` + payload(`{"identifiers":[{"type":"dns","value":"www.gov.cn"}]}`) + `","signature":""}`,
		`{"protected":"e30","payload":"` + payload(`{"identifiers":[{"type":"ip","value":"0.0.0.0"}]}`) + `","signature":""}`,
		`{"protected":"e30","payload":"` + payload(`{"identifiers":[{"type":"dns","value":"a.tax.example"}]}`) + `","signature":""}`,
		`{"payload":"!!!"}`, `[]`, `{`, ``, `{"payload":"` + payload(`{"identifiers":null}`) + `"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/acme/tax/new-order", bytes.NewReader(body))
		w := httptest.NewRecorder()
		if !e.srv.RefuseNewOrder(w, req) {
			rest, _ := io.ReadAll(req.Body)
			if !bytes.Equal(rest, body) {
				t.Fatalf("the body passed on to step-ca differs from the one received")
			}
			return
		}
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "rejectedIdentifier") {
			t.Fatalf("refusal %d %s", w.Code, w.Body)
		}
	})
}
