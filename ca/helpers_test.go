package ca_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/department"
	"github.com/tongxing/tongxing/kms/softkms"
	"github.com/tongxing/tongxing/problem"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// Identity numbers used throughout the tests.
const (
	// citizenID is the GB 11643 worked example (check character X).
	citizenID = "11010519491231002X"
	// citizenName is the citizen's name.
	citizenName = "张三"
	// usccCode is the published GB 32100 example code.
	usccCode = "91350100M000100Y43"
	// orgName is the enterprise's registered name.
	orgName = "福州示例科技有限公司"
	// publicURL is the base of the URLs written into certificates.
	publicURL = "https://pki.example.gov.cn"
	// passphrase encrypts the test CA keys.
	passphrase = "correct horse battery staple"
)

// pseudonymKey is the per-deployment pseudonym secret of the test CA.
var pseudonymKey = []byte("0123456789abcdef0123456789abcdef")

// clock is a settable time source for ca.WithClock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().UTC().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// fixture is an Authority over a fresh PKI (softkms keys in a temp dir) and a
// migrated database.
type fixture struct {
	dir   string // PKI directory: NAME.crt files and keys/
	km    *softkms.Manager
	cas   []*ca.Issuer
	db    *store.DB
	store *ca.SQLStore
	ca    *ca.Authority
	clock *clock
}

type fixtureConfig struct {
	db   *store.DB
	pki  ca.PKIOptions
	opts []ca.Option
}

type fixtureOption func(*fixtureConfig)

// onDB uses db instead of a new SQLite file.
func onDB(db *store.DB) fixtureOption { return func(c *fixtureConfig) { c.db = db } }

// withPKI sets the options of InitPKI.
func withPKI(o ca.PKIOptions) fixtureOption { return func(c *fixtureConfig) { c.pki = o } }

// withCA adds options of ca.New.
func withCA(o ...ca.Option) fixtureOption {
	return func(c *fixtureConfig) { c.opts = append(c.opts, o...) }
}

// newPKI creates the CA hierarchies in a temp dir with a softkms manager.
func newPKI(t testing.TB, o ca.PKIOptions) (dir string, km *softkms.Manager, cas []*ca.Issuer) {
	t.Helper()
	dir = t.TempDir()
	km, err := softkms.New(filepath.Join(dir, "keys"), []byte(passphrase))
	if err != nil {
		t.Fatalf("softkms.New: %v", err)
	}
	t.Cleanup(func() { km.Close() })
	cas, err = ca.InitPKI(context.Background(), km, dir, o)
	if err != nil {
		t.Fatalf("InitPKI: %v", err)
	}
	return dir, km, cas
}

// newFixture builds an Authority: softkms manager, InitPKI, SQLStore, New
// with the pseudonym key, the public URL and a fixed clock.
func newFixture(t testing.TB, opts ...fixtureOption) *fixture {
	t.Helper()
	var cfg fixtureConfig
	for _, o := range opts {
		o(&cfg)
	}
	f := &fixture{clock: newClock()}
	f.dir, f.km, f.cas = newPKI(t, cfg.pki)
	f.db = cfg.db
	if f.db == nil {
		f.db = storetest.SQLite(t)
	}
	f.store = ca.NewSQLStore(f.db)
	t.Cleanup(func() { f.store.Close() })
	caOpts := append([]ca.Option{
		ca.WithDepartments(testDepartments(t)),
		ca.WithPseudonymKey(pseudonymKey),
		ca.WithPublicURL(publicURL),
		ca.WithClock(f.clock.Now),
		ca.WithLogger(discardLogger()),
	}, cfg.opts...)
	a, err := ca.New(f.cas, f.store, f.store, caOpts...)
	if err != nil {
		t.Fatalf("ca.New: %v", err)
	}
	f.ca = a
	return f
}

// testDepartments is the department registry of the test CA: tax (its
// .example and .gov.example domains, two IP ranges, no wildcards),
// social-security (no names at all) and health (wildcards allowed).
func testDepartments(t testing.TB) *department.Registry {
	t.Helper()
	r, err := department.New(
		department.Department{ID: "tax", Name: "税务局", Domains: []string{"tax.example", "tax.gov.example"}, IPRanges: []string{"10.1.0.0/16", "2001:db8::/32"}},
		department.Department{ID: "social-security", Name: "社保局"},
		department.Department{ID: "health", Name: "卫生健康委", Domains: []string{"health.example"}, Wildcards: true},
	)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// caCert returns the fixture's CA named name.
func (f *fixture) caCert(t testing.TB, name string) *ca.Issuer {
	t.Helper()
	c, err := f.ca.CA(name)
	if err != nil {
		t.Fatalf("CA(%s): %v", name, err)
	}
	return c
}

// code creates an enrolment code for profile and subj.
func (f *fixture) code(t testing.TB, profile string, subj ca.Subject) string {
	t.Helper()
	code, _, err := f.ca.CreateCode(context.Background(), ca.NewCodeRequest{Profile: profile, Subject: subj, CreatedBy: "officer:test"})
	if err != nil {
		t.Fatalf("CreateCode(%s): %v", profile, err)
	}
	return code
}

// profilesWithIdentityCode returns the built-in profiles with the citizen
// profile writing the GM/T 0015 identity code extension.
func profilesWithIdentityCode(t testing.TB) map[string]*ca.Profile {
	t.Helper()
	p, err := ca.LoadProfiles(ca.BuiltinProfiles())
	if err != nil {
		t.Fatal(err)
	}
	if err := p["citizen"].SetOption("identity_code_extension", true); err != nil {
		t.Fatal(err)
	}
	return p
}

func sm2Key(t testing.TB) *sm2.PrivateKey {
	t.Helper()
	k, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ecKey(t testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newCSR returns a DER certificate request signed by key. Its subject is
// deliberately unrelated to any vetted subject: the CA must ignore it.
func newCSR(t testing.TB, key crypto.Signer) []byte {
	t.Helper()
	tmpl := &smx509.CertificateRequest{Subject: pkix.Name{CommonName: "requested name is ignored", SerialNumber: "999"}}
	if _, ok := key.(*sm2.PrivateKey); ok {
		tmpl.SignatureAlgorithm = smx509.SM2WithSM3
	}
	der, err := smx509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatalf("CreateCertificateRequest: %v", err)
	}
	return der
}

func pemCSR(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// breakSignature returns a copy of a DER CSR or certificate with the last
// byte of its signature changed; the structure still parses.
func breakSignature(der []byte) []byte {
	out := bytes.Clone(der)
	out[len(out)-1] ^= 0x01
	return out
}

// ski computes RFC 5280 §4.2.1.2 method (1) for a certificate's key,
// independently of the code under test.
func ski(t testing.TB, spki []byte) []byte {
	t.Helper()
	var s struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(spki, &s); err != nil {
		t.Fatalf("parse SubjectPublicKeyInfo: %v", err)
	}
	h := sha1.Sum(s.PublicKey.Bytes)
	return h[:]
}

// requestError asserts that err is a *ca.RequestError on field with status.
func requestError(t testing.TB, err error, field string, status int) *ca.RequestError {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want a RequestError on %s (%d)", field, status)
	}
	var re *ca.RequestError
	if !errors.As(err, &re) {
		t.Fatalf("error %T %v is not a *ca.RequestError", err, err)
	}
	if re.FieldName() != field || re.HTTPStatus() != status {
		t.Fatalf("RequestError field %q status %d (%v), want field %q status %d", re.FieldName(), re.HTTPStatus(), err, field, status)
	}
	return re
}

// discardLogger keeps test output free of issuance logs.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// apiFixture serves the CA API of a fixture with officer tokens.
type apiFixture struct {
	*fixture
	mux          *http.ServeMux
	raToken      string
	auditorToken string
}

func newAPIFixture(t testing.TB, opts ...fixtureOption) *apiFixture {
	t.Helper()
	f := newFixture(t, opts...)
	tokens := access.NewTokens(f.db)
	ctx := context.Background()
	ra, err := tokens.Create(ctx, "rita", access.RoleRA)
	if err != nil {
		t.Fatal(err)
	}
	aud, err := tokens.Create(ctx, "arthur", access.RoleAuditor)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	ca.NewAPI(f.ca, tokens.Require, discardLogger()).Routes(mux)
	return &apiFixture{fixture: f, mux: mux, raToken: ra, auditorToken: aud}
}

// do sends a request to the API; body is sent as is if it is []byte or a
// string, and as JSON otherwise.
func (f *apiFixture) do(t testing.TB, method, path, token string, body any) *httptest.ResponseRecorder {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	case string:
		r = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	f.mux.ServeHTTP(w, req)
	return w
}

// createCode asks the API for an enrolment code as the RA officer.
func (f *apiFixture) createCode(t testing.TB, profile string, subj ca.Subject) ca.CodeJSON {
	t.Helper()
	w := f.do(t, "POST", "/ca/v1/enrolment-codes", f.raToken, ca.CodeRequestJSON{Profile: profile, Subject: subj})
	if w.Code != http.StatusCreated {
		t.Fatalf("POST /ca/v1/enrolment-codes: %d %s", w.Code, w.Body)
	}
	var c ca.CodeJSON
	if err := json.Unmarshal(w.Body.Bytes(), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// problemOf decodes a problem+json response and checks its status and
// content type.
func problemOf(t testing.TB, w *httptest.ResponseRecorder, status int) problem.Details {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != problem.ContentType {
		t.Fatalf("Content-Type %q, want %q", ct, problem.ContentType)
	}
	var p problem.Details
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem body is not JSON: %v: %s", err, w.Body)
	}
	if p.Status != status {
		t.Fatalf("problem status %d, want %d", p.Status, status)
	}
	return p
}
