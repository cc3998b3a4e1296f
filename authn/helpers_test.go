package authn

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/kms/softkms"
	"github.com/tongxing/tongxing/store"
)

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *testClock { return &testClock{t: time.Now().Truncate(time.Second)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var testPassphrase = []byte("correct horse battery staple")

// testSealer seals signing keys under passphrase, as the server's key
// manager does.
func testSealer(t testing.TB, passphrase []byte) kms.KeySealer {
	t.Helper()
	m, err := softkms.New(filepath.Join(t.TempDir(), "keys"), passphrase)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

var testPseudonymKey = []byte("0123456789abcdef0123456789abcdef")

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newTestProvider returns a provider on db with the test clock, passphrase
// and pseudonym key.
func newTestProvider(t testing.TB, db *store.DB, clk *testClock, opts ...Option) *Provider {
	t.Helper()
	base := []Option{
		WithIssuer("https://sso.tongxing.test"),
		WithKeySealer(testSealer(t, testPassphrase)),
		WithPseudonymKey(testPseudonymKey),
		WithClock(clk.Now),
		WithLogger(discardLogger()),
	}
	p, err := New(context.Background(), db, append(base, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// A valid GB 11643 number (the standard's example).
const testCitizenID = "11010519491231002X"
