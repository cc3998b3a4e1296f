package kmc

import (
	"context"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/catest"
	"github.com/tongxing/tongxing/problem"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// agentName is the enterprise's agent.
const agentName = "王五"

// Officers of the tests.
const (
	alice = "officer:alice"
	bob   = "officer:bob"
	carol = "officer:carol"
)

var enterprise = ca.Subject{Organization: catest.OrgName, USCC: catest.USCC}

// fixture is a KMC over the CA fixture (both suites, a migrated database),
// with its HTTP API and officer tokens.
type fixture struct {
	*catest.Fixture // the CA
	kmc             *Centre
	master          []byte
	clock           *catest.Clock // the KMC's: time.Now until Set

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
	f := &fixture{Fixture: catest.New(t, catest.OnDB(db), catest.WithCA(ca.WithClock(time.Now))), clock: &catest.Clock{}}
	f.master = make([]byte, MasterKeySize)
	if _, err := rand.Read(f.master); err != nil {
		t.Fatal(err)
	}
	kopts := append([]Option{WithLogger(catest.Discard()), WithClock(f.clock.Now)}, cfg.kmcOpts...)
	var err error
	f.kmc, err = New(f.CA, db, f.master, kopts...)
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

// enrolled is a dual enrolment done by a test subscriber.
type enrolled struct {
	res     *DualResult
	signKey *sm2.PrivateKey
	encKey  *sm2.PrivateKey
}

// enrol does a dual enrolment for subj and opens the CSRResponse.
func (f *fixture) enrol(t testing.TB, subj ca.Subject) *enrolled {
	t.Helper()
	signKey := catest.SM2Key(t)
	res, err := f.kmc.EnrolDual(context.Background(), catest.PEMCSR(catest.CSR(t, signKey)), f.Code(t, SignProfile, subj))
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
	if err := f.DB.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// do sends a request to the API (see catest.Do).
func (f *fixture) do(t testing.TB, method, path, token string, body any) *httptest.ResponseRecorder {
	t.Helper()
	return catest.Do(t, f.mux, method, path, token, body)
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

// eachDB runs fn on every backend with a fresh fixture.
func eachDB(t *testing.T, fn func(t *testing.T, f *fixture), opts ...fixtureOption) {
	storetest.Each(t, func(t *testing.T, db *store.DB) { fn(t, newFixture(t, db, opts...)) })
}
