package certlogin_test

import (
	"context"
	"crypto"
	"crypto/x509/pkix"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/authn/certlogin"
	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/ident"
	"github.com/tongxing/tongxing/internal/testpki"
	"github.com/tongxing/tongxing/kms"
)

// Test identities: the GB 11643 example identity number and the published
// GB 32100 example credit code.
const (
	citizenID    = "11010519491231002X"
	usccExample  = "91350100M000100Y43"
	orgName      = "示例科技有限公司"
	agentName    = "李四"
	citizenName  = "张三"
	issuerURL    = "https://tongxing.example.gov.cn"
	pseudonymKey = "test pseudonym key, 32 bytes ..."
)

// testNow is the verification time of every test.
var testNow = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// ca2 is a two-level CA: a self-signed root and an issuing CA under it.
type ca2 struct {
	root, issuing *smx509.Certificate
	key           crypto.Signer // the issuing CA's key
	ca            *testpki.Cert // the issuing CA
}

// leafCert is an end-entity certificate with its key and chain PEM (leaf,
// then the issuing CA).
type leafCert struct {
	cert  *smx509.Certificate
	key   crypto.Signer
	chain []byte
}

type testPKI struct {
	gm, ec, untrusted *ca2
	roots             *smx509.CertPool // gm and ec roots, not untrusted
}

func newPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{
		gm:        newCA(t, "Tongxing Test SM2", kms.GM),
		ec:        newCA(t, "Tongxing Test ECDSA", kms.Intl),
		untrusted: newCA(t, "Elsewhere SM2", kms.GM),
	}
	p.roots = testpki.Pool(p.gm.root, p.ec.root)
	return p
}

func sm2Key(t *testing.T) crypto.Signer { return testpki.Key(t, kms.GM) }

func ecKey(t *testing.T) crypto.Signer { return testpki.Key(t, kms.Intl) }

// newCA makes a root and an issuing CA of suite s, valid at testNow.
func newCA(t *testing.T, name string, s kms.Suite) *ca2 {
	t.Helper()
	valid := testpki.Valid(testNow.Add(-24*time.Hour), testNow.Add(10*365*24*time.Hour))
	subject := func(cn string) testpki.Option {
		return testpki.Subject(pkix.Name{CommonName: cn, Organization: []string{"Tongxing Test"}, Country: []string{"CN"}})
	}
	root := testpki.NewRoot(t, s, name+" Root", valid, subject(name+" Root"))
	issuing := root.NewCA(t, name+" Issuing CA", valid, subject(name+" Issuing CA"))
	return &ca2{root: root.Cert, issuing: issuing.Cert, key: issuing.Key, ca: issuing}
}

// leaf issues an end-entity certificate from c for key (a fresh key of the
// CA's kind when nil) with the citizen-card defaults, changed by edit.
func (c *ca2) leaf(t *testing.T, key crypto.Signer, pub crypto.PublicKey, edit func(*smx509.Certificate)) *leafCert {
	t.Helper()
	if key == nil && pub == nil {
		key = testpki.Key(t, c.ca.Suite)
	}
	if pub == nil {
		pub = key.Public()
	}
	opts := []testpki.Option{
		testpki.Valid(testNow.Add(-time.Hour), testNow.Add(365*24*time.Hour)),
		testpki.Subject(pkix.Name{CommonName: citizenName, Country: []string{"CN"}}),
		testpki.KeyUsage(smx509.KeyUsageDigitalSignature | smx509.KeyUsageContentCommitment),
		testpki.EKU(smx509.ExtKeyUsageClientAuth),
	}
	if edit != nil {
		opts = append(opts, edit)
	}
	cert := c.ca.IssueTo(t, pub, citizenName, opts...)
	return &leafCert{cert: cert, key: key, chain: chainPEM(cert, c.issuing)}
}

func chainPEM(certs ...*smx509.Certificate) []byte { return testpki.PEM(certs...) }

// citizen issues a gm citizen-card certificate with a pseudonym subject
// serialNumber, as Tongxing's citizen profile does.
func (p *testPKI) citizen(t *testing.T) *leafCert {
	return p.gm.leaf(t, nil, nil, func(c *smx509.Certificate) {
		c.Subject.SerialNumber = ident.Pseudonym([]byte(pseudonymKey), citizenID)
	})
}

// ecert issues a gm enterprise e-cert with O, the agent's CN and the USCC
// extension, as Tongxing's enterprise-sign profile does.
func (p *testPKI) ecert(t *testing.T) *leafCert {
	ext, err := ident.USCCExtension(usccExample)
	if err != nil {
		t.Fatal(err)
	}
	return p.gm.leaf(t, nil, nil, func(c *smx509.Certificate) {
		c.Subject = pkix.Name{CommonName: agentName, Organization: []string{orgName}, Country: []string{"CN"}}
		c.ExtraExtensions = []pkix.Extension{ext}
	})
}

// revocationCall is one call of a fake Revocation.
type revocationCall struct {
	cert, issuer *smx509.Certificate
	at           time.Time
}

// fakeRevocation answers from a table: revoked serials (lower-case hex)
// give their *ca.RevokedError, err (when set) is returned for every other
// certificate. It records its calls.
type fakeRevocation struct {
	mu      sync.Mutex
	revoked map[string]*ca.RevokedError
	err     error
	calls   []revocationCall
}

func (f *fakeRevocation) CheckRevocation(_ context.Context, cert, issuer *smx509.Certificate, at time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, revocationCall{cert, issuer, at})
	if re, ok := f.revoked[cert.SerialNumber.Text(16)]; ok {
		return re
	}
	return f.err
}

var _ certlogin.Revocation = (*fakeRevocation)(nil)
var _ certlogin.Revocation = (*ca.Authority)(nil)

func (p *testPKI) opts(rev certlogin.Revocation) certlogin.VerifyOptions {
	if rev == nil {
		rev = &fakeRevocation{}
	}
	return certlogin.VerifyOptions{
		Roots:      p.roots,
		Now:        testNow,
		Revocation: rev,
		Used:       &certlogin.MemoryUsedChallenges{Now: func() time.Time { return testNow }},
	}
}

func newChallenge(t *testing.T) *certlogin.Challenge {
	t.Helper()
	ch, err := certlogin.NewChallenge(issuerURL, testNow.Add(-10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func sign(t *testing.T, ch *certlogin.Challenge, key crypto.Signer) []byte {
	t.Helper()
	sig, err := certlogin.Sign(ch, key)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// wantError fails t unless err is want (errors.Is; nil wants no error) and
// reports whether an error was wanted, which ends the case.
func wantError(t *testing.T, err, want error) bool {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	return want != nil
}
