package timestamp_test

import (
	"context"
	"crypto/rand"
	"encoding/asn1"
	"sync"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/internal/testpki"
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/timestamp"
)

var (
	testPolicy  = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1, 1}
	otherPolicy = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1, 2}
	badPolicy   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1, 3}
)

// pkis returns chains made once per test binary: key generation is not
// what is tested.
func pkis(t testing.TB) map[kms.Suite]*testpki.TSA {
	t.Helper()
	pkiOnce.Do(func() {
		pkiMap = map[kms.Suite]*testpki.TSA{
			kms.GM:   testpki.NewTSA(t, kms.GM, testpki.TSAOptions{}),
			kms.Intl: testpki.NewTSA(t, kms.Intl, testpki.TSAOptions{}),
		}
	})
	if pkiMap == nil {
		t.Fatal("test PKI could not be made")
	}
	return pkiMap
}

var (
	pkiOnce sync.Once
	pkiMap  map[kms.Suite]*testpki.TSA
)

// newAuthority returns an Authority serving both suites with testPolicy and
// otherPolicy accepted.
func newAuthority(t testing.TB, opts ...timestamp.Option) *timestamp.Authority {
	t.Helper()
	p := pkis(t)
	gm, intl := p[kms.GM], p[kms.Intl]
	all := append([]timestamp.Option{
		timestamp.WithSigner(intl.LeafKey, intl.Chain()),
		timestamp.WithPolicy(testPolicy),
		timestamp.WithAcceptedPolicies(otherPolicy),
	}, opts...)
	a, err := timestamp.NewAuthority(gm.LeafKey, gm.Chain(), all...)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func roots(t testing.TB, suite kms.Suite) *smx509.CertPool { return pkis(t)[suite].Roots() }

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func mustTimestamp(t testing.TB, a *timestamp.Authority, data []byte, alg timestamp.HashAlgorithm, opts timestamp.TokenOptions) *timestamp.Token {
	t.Helper()
	tok, err := a.Timestamp(context.Background(), alg.Sum(data), alg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
