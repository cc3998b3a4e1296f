package kmc

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/hex"
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
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/kms/softkms"
	"github.com/tongxing/tongxing/problem"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

const (
	// usccCode is the published GB 32100 example code.
	usccCode = "91350100M000100Y43"
	// orgName is the enterprise's registered name.
	orgName = "福州示例科技有限公司"
	// agentName is the enterprise's agent.
	agentName = "王五"
	// passphrase encrypts the test CA keys.
	passphrase = "correct horse battery staple"
)

// Officers of the tests.
const (
	alice = "officer:alice"
	bob   = "officer:bob"
	carol = "officer:carol"
)

var enterprise = ca.Subject{Organization: orgName, USCC: usccCode}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t.IsZero() {
		return time.Now()
	}
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// fixture is a KMC over a fresh GM PKI (softkms keys in a temp dir) and a
// migrated database, with its HTTP API and officer tokens.
type fixture struct {
	db     *store.DB
	store  *ca.SQLStore
	ca     *ca.Authority
	kmc    *Centre
	master []byte
	clock  *clock
	cas    []*ca.Issuer

	mux     *http.ServeMux
	tokens  map[string]string // officer actor -> token
	auditor string            // token of an auditor
}

type fixtureOption func(*fixtureConfig)

type fixtureConfig struct {
	kmcOpts []Option
}

func withKMC(o ...Option) fixtureOption {
	return func(c *fixtureConfig) { c.kmcOpts = append(c.kmcOpts, o...) }
}

func newFixture(t testing.TB, db *store.DB, opts ...fixtureOption) *fixture {
	t.Helper()
	var cfg fixtureConfig
	for _, o := range opts {
		o(&cfg)
	}
	ctx := context.Background()
	dir := t.TempDir()
	km, err := softkms.New(filepath.Join(dir, "keys"), []byte(passphrase))
	if err != nil {
		t.Fatalf("softkms.New: %v", err)
	}
	t.Cleanup(func() { km.Close() })
	cas, err := ca.InitPKI(ctx, km, dir, ca.PKIOptions{Suites: []kms.Suite{kms.GM, kms.Intl}})
	if err != nil {
		t.Fatalf("InitPKI: %v", err)
	}
	f := &fixture{db: db, clock: &clock{}, cas: cas}
	f.store = ca.NewSQLStore(db)
	t.Cleanup(func() { f.store.Close() })
	f.ca, err = ca.New(cas, f.store, f.store,
		ca.WithPseudonymKey([]byte("0123456789abcdef0123456789abcdef")),
		ca.WithPublicURL("https://pki.example.gov.cn"),
		ca.WithLogger(discardLogger()))
	if err != nil {
		t.Fatalf("ca.New: %v", err)
	}
	f.master = make([]byte, MasterKeySize)
	if _, err := rand.Read(f.master); err != nil {
		t.Fatal(err)
	}
	kopts := append([]Option{WithLogger(discardLogger()), WithClock(f.clock.Now)}, cfg.kmcOpts...)
	f.kmc, err = New(f.ca, db, f.master, kopts...)
	if err != nil {
		t.Fatalf("kmc.New: %v", err)
	}
	tokens := access.NewTokens(db)
	f.tokens = map[string]string{}
	for _, name := range []string{"alice", "bob", "carol"} {
		tok, err := tokens.Create(ctx, name, access.RoleRA)
		if err != nil {
			t.Fatal(err)
		}
		f.tokens["officer:"+name] = tok
	}
	if f.auditor, err = tokens.Create(ctx, "arthur", access.RoleAuditor); err != nil {
		t.Fatal(err)
	}
	f.mux = http.NewServeMux()
	NewAPI(f.kmc, tokens.Require).Routes(f.mux)
	return f
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

// legacyCode stores an enrolment code for profile directly, as a version
// before profiles were restricted would have, and returns the code.
func (f *fixture) legacyCode(t testing.TB, profile string, subj ca.Subject) string {
	t.Helper()
	var b [8]byte
	rand.Read(b[:])
	code := "legacy" + hex.EncodeToString(b[:]) + "aaaaaaaaaa"
	h := sha256.Sum256([]byte(code))
	now := time.Now().UTC().Truncate(time.Second)
	if err := f.store.CreateCode(context.Background(), &ca.Code{ID: "enr_" + hex.EncodeToString(b[:6]), Hash: h[:], Profile: profile, Subject: subj,
		CreatedBy: "officer:old", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	return code
}

// enrolled is a dual enrolment done by a test subscriber.
type enrolled struct {
	res     *DualResult
	signKey *sm2.PrivateKey
	encKey  *sm2.PrivateKey
}

// enrol does a dual enrolment for subj and opens the CSRResponse.
func (f *fixture) enrol(t testing.TB, subj ca.Subject) *enrolled {
	t.Helper()
	signKey := sm2Key(t)
	res, err := f.kmc.EnrolDual(context.Background(), pemCSR(newCSR(t, signKey)), f.code(t, SignProfile, subj))
	if err != nil {
		t.Fatalf("EnrolDual: %v", err)
	}
	cr, err := smx509.ParseCSRResponse(signKey, res.CSRResponse)
	if err != nil {
		t.Fatalf("ParseCSRResponse: %v", err)
	}
	if cr.EncryptPrivateKey == nil {
		t.Fatal("CSRResponse holds no encryption key")
	}
	return &enrolled{res: res, signKey: signKey, encKey: cr.EncryptPrivateKey}
}

// count returns the number of rows of a query.
func (f *fixture) count(t testing.TB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := f.db.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// do sends a request to the API; body is sent as is if it is []byte or a
// string, and as JSON otherwise.
func (f *fixture) do(t testing.TB, method, path, token string, body any) *httptest.ResponseRecorder {
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

func sm2Key(t testing.TB) *sm2.PrivateKey {
	t.Helper()
	k, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ecKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newCSR returns a DER certificate request signed by key; its subject is
// ignored by the CA.
func newCSR(t testing.TB, key crypto.Signer) []byte {
	t.Helper()
	tmpl := &smx509.CertificateRequest{Subject: pkix.Name{CommonName: "requested name is ignored"}}
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

// pemPublicKey returns the PEM SubjectPublicKeyInfo of pub.
func pemPublicKey(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := smx509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// wantError asserts that err wraps sentinel (when not nil) and is an HTTP
// error with status and, when field is not empty, that field.
func wantError(t testing.TB, err error, sentinel error, status int, field string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v (%d)", sentinel, status)
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Fatalf("error %v does not wrap %v", err, sentinel)
	}
	var he problem.HTTPError
	if !errors.As(err, &he) {
		t.Fatalf("error %T %v has no HTTP status", err, err)
	}
	if he.HTTPStatus() != status {
		t.Fatalf("error %v has status %d, want %d", err, he.HTTPStatus(), status)
	}
	if field != "" {
		var fe problem.FieldError
		if !errors.As(err, &fe) || fe.FieldName() != field {
			t.Fatalf("error %v does not name field %q", err, field)
		}
	}
}

// problemOf decodes a problem+json response and checks its status, content
// type and field.
func problemOf(t testing.TB, w *httptest.ResponseRecorder, status int, field string) problem.Details {
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
	if field != "" && p.Field != field {
		t.Fatalf("problem field %q, want %q: %s", p.Field, field, w.Body)
	}
	return p
}

// eachDB runs fn on every backend with a fresh fixture.
func eachDB(t *testing.T, fn func(t *testing.T, f *fixture), opts ...fixtureOption) {
	storetest.Each(t, func(t *testing.T, db *store.DB) { fn(t, newFixture(t, db, opts...)) })
}
