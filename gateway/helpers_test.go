package gateway

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/auditlog"
	"github.com/tongxing/tongxing/authz"
	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/department"
	"github.com/tongxing/tongxing/internal/testpki"
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/policies"
	"github.com/tongxing/tongxing/timestamp"
)

const trustDomain = "tongxing.internal"

var citizenKey = []byte("0123456789abcdef0123456789abcdef")

// memLog is an in-memory Recorder and EvidenceReader whose appends can be
// made to fail.
type memLog struct {
	mu        sync.Mutex
	entries   []auditlog.Entry
	fail      error
	tokens    map[string][]byte
	tokenFail error
}

func (m *memLog) AppendWithToken(ctx context.Context, e auditlog.Entry, der []byte) (uint64, error) {
	m.mu.Lock()
	fail := m.tokenFail
	m.mu.Unlock()
	if fail != nil {
		return 0, fail
	}
	idx, err := m.Append(ctx, e)
	if err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tokens == nil {
		m.tokens = map[string][]byte{}
	}
	m.tokens[e.TimestampToken] = der
	return idx, nil
}

func (m *memLog) token(ref string) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tokens[ref]
}

func (m *memLog) Append(_ context.Context, e auditlog.Entry) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return 0, m.fail
	}
	if _, err := e.MarshalCanonical(); err != nil {
		return 0, err
	}
	e.Index = uint64(len(m.entries))
	m.entries = append(m.entries, e)
	return e.Index, nil
}

func (m *memLog) all() []auditlog.Entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]auditlog.Entry(nil), m.entries...)
}

func (m *memLog) Entry(_ context.Context, i uint64) (auditlog.Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if i >= uint64(len(m.entries)) {
		return auditlog.Entry{}, auditlog.ErrNotFound
	}
	return m.entries[i], nil
}

func (m *memLog) LatestCheckpoint(context.Context) (*auditlog.Checkpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return &auditlog.Checkpoint{Size: uint64(len(m.entries)), Note: []byte("test checkpoint\n")}, nil
}

func (m *memLog) InclusionProof(context.Context, uint64, uint64) ([][]byte, error) {
	return [][]byte{{1, 2, 3}}, nil
}

// failingStamper stands for a TSA that cannot issue.
type failingStamper struct{}

func (failingStamper) Stamp(context.Context, []byte) (*Stamp, error) {
	return nil, errors.New("injected: timestamp authority down")
}

// noRevocation answers from a set of revoked serials.
type revocations struct{ revoked map[string]bool }

func (r *revocations) CheckRevocation(_ context.Context, cert, _ *smx509.Certificate, _ time.Time) error {
	if r.revoked[ca.SerialHex(cert.SerialNumber)] {
		return &ca.RevokedError{Serial: ca.SerialHex(cert.SerialNumber), Status: ca.StatusRevoked}
	}
	return nil
}

// testTSA is a real timestamp authority on a throw-away SM2 chain.
type testTSA struct {
	tsa  *timestamp.Authority
	root *smx509.Certificate
}

func newTestTSA(t testing.TB) *testTSA {
	t.Helper()
	p := testpki.NewTSA(t, kms.GM, testpki.TSAOptions{Name: "Test TSA", NotAfter: time.Now().Add(24 * time.Hour)})
	tsa, err := timestamp.NewAuthority(p.LeafKey, p.Chain(), timestamp.WithPolicy(asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 32473, 1, 1}))
	if err != nil {
		t.Fatal(err)
	}
	return &testTSA{tsa: tsa, root: p.Root}
}

func (s *testTSA) roots() *smx509.CertPool { return testpki.Pool(s.root) }

// servicePKI issues ECDSA service certificates with SPIFFE IDs.
type servicePKI struct {
	ca   *testpki.Cert
	root *x509.Certificate
}

func newServicePKI(t testing.TB) *servicePKI {
	t.Helper()
	ca := testpki.NewRoot(t, kms.Intl, "Test intl root", testpki.KeyUsage(smx509.KeyUsageCertSign))
	root, err := x509.ParseCertificate(ca.Cert.Raw)
	if err != nil {
		t.Fatal(err)
	}
	return &servicePKI{ca: ca, root: root}
}

// leaf returns a client certificate for dept/svc, verified chain included.
func (p *servicePKI) leaf(t testing.TB, dept, svc string) *tls.ConnectionState {
	t.Helper()
	u, _ := url.Parse(department.SPIFFEID(trustDomain, dept, svc))
	l := p.ca.Issue(t, svc, testpki.Subject(pkix.Name{CommonName: svc}), testpki.EKU(smx509.ExtKeyUsageClientAuth),
		func(c *smx509.Certificate) { c.URIs = []*url.URL{u} })
	c, err := x509.ParseCertificate(l.Cert.Raw)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}, VerifiedChains: [][]*x509.Certificate{{c, p.root}}}
}

// env is a gateway in front of one test upstream for renshe and one for
// gongan, with the example policy.
type env struct {
	g        *Gateway
	h        http.Handler
	log      *memLog
	tsa      *testTSA
	pki      *servicePKI
	rev      *revocations
	signer   *CallerSigner
	upstream *httptest.Server
	hits     chan *http.Request
	bodies   chan []byte
	respond  func(w http.ResponseWriter, r *http.Request)
	engine   *authz.Engine
}

func newEnv(t testing.TB, mod ...func(*Config)) *env {
	t.Helper()
	e := &env{log: &memLog{}, tsa: newTestTSA(t), pki: newServicePKI(t), rev: &revocations{revoked: map[string]bool{}},
		hits: make(chan *http.Request, 100), bodies: make(chan []byte, 100)}
	e.respond = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id_number":"11010519491231002X","name":"张三","employer":"示例公司","months_paid":36,"medical_history":"secret","contribution_base":8000}`))
	}
	e.upstream = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := make([]byte, r.ContentLength)
		if r.ContentLength > 0 {
			r.Body.Read(body)
		}
		e.hits <- r
		e.bodies <- body
		e.respond(w, r)
	}))
	t.Cleanup(e.upstream.Close)
	reg, err := department.New(
		department.Department{ID: "renshe", Name: "人社局", Upstream: e.upstream.URL + "/api"},
		department.Department{ID: "gongan", Name: "公安局", Upstream: e.upstream.URL},
		department.Department{ID: "tax", Name: "税务局"},
		department.Department{ID: "scjg", Name: "市场监督管理局"},
	)
	if err != nil {
		t.Fatal(err)
	}
	b, err := authz.Build(policies.FS, "r-test")
	if err != nil {
		t.Fatal(err)
	}
	p, err := authz.Load(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	e.engine = authz.NewEngine()
	e.engine.Swap(p)
	sk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	e.signer, err = NewCallerSigner(sk, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Registry: reg, TrustDomain: trustDomain, Policy: e.engine, Stamper: AuthorityStamper{e.tsa.tsa}, Recorder: e.log,
		Evidence: e.log, Stamps: e.log, Revocation: e.rev, Signer: e.signer, Issuer: "https://tongxing.test/gateway",
		Transport: e.upstream.Client().Transport, CitizenKey: citizenKey,
	}
	for _, m := range mod {
		m(&cfg)
	}
	e.g, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.h = e.g.Handler()
	return e
}

// call sends a request as dept/svc (mTLS) and returns the recorder.
func (e *env) call(t *testing.T, dept, method, path string, hdr map[string]string, body string) *httptest.ResponseRecorder {
	t.Helper()
	var r *http.Request
	if body != "" {
		r = httptest.NewRequest(method, path, stringsReader(body))
	} else {
		r = httptest.NewRequest(method, path, nil)
	}
	if dept != "" {
		r.TLS = e.pki.leaf(t, dept, "api")
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	e.serve(w, r)
	return w
}

// serve handles r and waits for the result entries appended in the
// background.
func (e *env) serve(w http.ResponseWriter, r *http.Request) {
	e.h.ServeHTTP(w, r)
	e.g.Wait(context.Background())
}

// verifier is what an upstream of dept would use.
func (e *env) verifier(dept, prefix string) *Verifier {
	return &Verifier{Keys: e.signer.KeySet(), Audience: dept, TSARoots: e.tsa.roots(), Replay: NewMemoryReplayCache(nil), PathPrefix: prefix}
}
