// Package catest is the test fixture of Tongxing's certificate authority:
// an [ca.Authority] over a fresh PKI made by [ca.InitPKI] (keys in softkms,
// in a temporary directory) and a migrated database, with the test
// identities, keys, CSRs and HTTP helpers the tests of ca, ca/kmc,
// ca/acmeca, authn and test/... share. It is for tests only.
package catest

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

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/department"
	"github.com/tongxing/tongxing/kms/softkms"
	"github.com/tongxing/tongxing/problem"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// Identities and settings of the test CA.
const (
	// CitizenID is the GB 11643 worked example (check character X).
	CitizenID = "11010519491231002X"
	// CitizenName is the citizen's name.
	CitizenName = "张三"
	// USCC is the published GB 32100 example code.
	USCC = "91350100M000100Y43"
	// OrgName is the enterprise's registered name.
	OrgName = "福州示例科技有限公司"
	// PublicURL is the base of the URLs written into certificates.
	PublicURL = "https://pki.example.gov.cn"
	// Passphrase encrypts the test CA keys.
	Passphrase = "correct horse battery staple"
)

// PseudonymKey is the per-deployment pseudonym secret of the test CA.
var PseudonymKey = []byte("0123456789abcdef0123456789abcdef")

// Clock is a settable time source for ca.WithClock (and the KMC's). The
// zero Clock follows time.Now until it is Set.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock standing at the current second.
func NewClock() *Clock { return &Clock{t: time.Now().UTC().Truncate(time.Second)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t.IsZero() {
		return time.Now()
	}
	return c.t
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Fixture is an Authority over a fresh PKI and a migrated database.
type Fixture struct {
	Dir   string // PKI directory: NAME.crt files and keys/
	KM    *softkms.Manager
	CAs   []*ca.Issuer
	DB    *store.DB
	Store *ca.SQLStore
	CA    *ca.Authority
	Clock *Clock
}

type config struct {
	db   *store.DB
	pki  ca.PKIOptions
	opts []ca.Option
}

// Option changes what [New] makes.
type Option func(*config)

// OnDB uses db instead of a new SQLite database.
func OnDB(db *store.DB) Option { return func(c *config) { c.db = db } }

// WithPKI sets the options of ca.InitPKI (default: both suites).
func WithPKI(o ca.PKIOptions) Option { return func(c *config) { c.pki = o } }

// WithCA adds options of ca.New, after (and so over) the defaults.
func WithCA(o ...ca.Option) Option {
	return func(c *config) { c.opts = append(c.opts, o...) }
}

// NewPKI creates the CA hierarchies in a temporary directory with a
// softkms manager, closed when the test ends.
func NewPKI(tb testing.TB, o ca.PKIOptions) (dir string, km *softkms.Manager, cas []*ca.Issuer) {
	tb.Helper()
	dir = tb.TempDir()
	km, err := softkms.New(filepath.Join(dir, "keys"), []byte(Passphrase))
	if err != nil {
		tb.Fatalf("softkms.New: %v", err)
	}
	tb.Cleanup(func() { km.Close() })
	cas, err = ca.InitPKI(context.Background(), km, dir, o)
	if err != nil {
		tb.Fatalf("InitPKI: %v", err)
	}
	return dir, km, cas
}

// New builds an Authority: NewPKI, a SQLStore and ca.New with the
// departments of [Departments], [PseudonymKey], [PublicURL], a [Clock]
// standing at the start of the test and a logger that discards.
func New(tb testing.TB, opts ...Option) *Fixture {
	tb.Helper()
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	f := &Fixture{Clock: NewClock()}
	f.Dir, f.KM, f.CAs = NewPKI(tb, cfg.pki)
	f.DB = cfg.db
	if f.DB == nil {
		f.DB = storetest.SQLite(tb)
	}
	f.Store = ca.NewSQLStore(f.DB)
	tb.Cleanup(func() { f.Store.Close() })
	caOpts := append([]ca.Option{
		ca.WithDepartments(Departments(tb)),
		ca.WithPseudonymKey(PseudonymKey),
		ca.WithPublicURL(PublicURL),
		ca.WithClock(f.Clock.Now),
		ca.WithLogger(Discard()),
	}, cfg.opts...)
	a, err := ca.New(f.CAs, f.Store, f.Store, caOpts...)
	if err != nil {
		tb.Fatalf("ca.New: %v", err)
	}
	f.CA = a
	return f
}

// Departments is the department registry of the test CA: tax (its
// .example and .gov.example domains, two IP ranges, no wildcards),
// social-security (no names at all) and health (wildcards allowed).
func Departments(tb testing.TB) *department.Registry {
	tb.Helper()
	r, err := department.New(
		department.Department{ID: "tax", Name: "税务局", Domains: []string{"tax.example", "tax.gov.example"}, IPRanges: []string{"10.1.0.0/16", "2001:db8::/32"}},
		department.Department{ID: "social-security", Name: "社保局"},
		department.Department{ID: "health", Name: "卫生健康委", Domains: []string{"health.example"}, Wildcards: true},
	)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// Issuer returns the fixture's CA named name.
func (f *Fixture) Issuer(tb testing.TB, name string) *ca.Issuer {
	tb.Helper()
	c, err := f.CA.CA(name)
	if err != nil {
		tb.Fatalf("CA(%s): %v", name, err)
	}
	return c
}

// Code creates an enrolment code for profile and subj, made by
// officer:test.
func (f *Fixture) Code(tb testing.TB, profile string, subj ca.Subject) string {
	tb.Helper()
	code, _, err := f.CA.CreateCode(context.Background(), ca.NewCodeRequest{Profile: profile, Subject: subj, CreatedBy: "officer:test"})
	if err != nil {
		tb.Fatalf("CreateCode(%s): %v", profile, err)
	}
	return code
}

// LegacyCode stores an enrolment code for profile and subj directly, as a
// version before profiles were restricted would have (no check of the
// profile), with ID "enr_"+id (id empty: a random one), valid for an hour
// from the fixture's clock, and returns the code.
func (f *Fixture) LegacyCode(tb testing.TB, id, profile string, subj ca.Subject) string {
	tb.Helper()
	if id == "" {
		var b [6]byte
		rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	code := "legacy" + strings.Repeat("a", 26) + id
	h := sha256.Sum256([]byte(code))
	now := f.Clock.Now().UTC().Truncate(time.Second)
	if err := f.Store.CreateCode(context.Background(), &ca.Code{ID: "enr_" + id, Hash: h[:], Profile: profile, Subject: subj,
		CreatedBy: "officer:old", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		tb.Fatal(err)
	}
	return code
}

// Discard is a logger that keeps test output free of issuance logs.
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// SM2Key returns a fresh SM2 key.
func SM2Key(tb testing.TB) *sm2.PrivateKey {
	tb.Helper()
	k, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// ECKey returns a fresh ECDSA key on curve c.
func ECKey(tb testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// CSR returns a DER certificate request signed by key, with subject
// (default: a name unrelated to any vetted subject, which the CA must
// ignore).
func CSR(tb testing.TB, key crypto.Signer, subject ...pkix.Name) []byte {
	tb.Helper()
	tmpl := &smx509.CertificateRequest{Subject: pkix.Name{CommonName: "requested name is ignored", SerialNumber: "999"}}
	if len(subject) > 0 {
		tmpl.Subject = subject[0]
	}
	if _, ok := key.(*sm2.PrivateKey); ok {
		tmpl.SignatureAlgorithm = smx509.SM2WithSM3
	}
	der, err := smx509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		tb.Fatalf("CreateCertificateRequest: %v", err)
	}
	return der
}

// PEMCSR returns a DER CSR as PEM.
func PEMCSR(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// Do sends a request to h; body is sent as is if it is []byte or a string,
// and as JSON otherwise. A token goes in Authorization: Bearer.
func Do(tb testing.TB, h http.Handler, method, path, token string, body any) *httptest.ResponseRecorder {
	tb.Helper()
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
			tb.Fatal(err)
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
	h.ServeHTTP(w, req)
	return w
}

// Problem decodes a problem+json response and checks its status, content
// type and, when field is given, its field.
func Problem(tb testing.TB, w *httptest.ResponseRecorder, status int, field ...string) problem.Details {
	tb.Helper()
	if w.Code != status {
		tb.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != problem.ContentType {
		tb.Fatalf("Content-Type %q, want %q", ct, problem.ContentType)
	}
	var p problem.Details
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		tb.Fatalf("problem body is not JSON: %v: %s", err, w.Body)
	}
	if p.Status != status {
		tb.Fatalf("problem status %d, want %d", p.Status, status)
	}
	if len(field) > 0 && field[0] != "" && p.Field != field[0] {
		tb.Fatalf("problem field %q, want %q: %s", p.Field, field[0], w.Body)
	}
	return p
}
