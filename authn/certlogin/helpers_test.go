package certlogin_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/authn/certlogin"
	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/ident"
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
		gm:        newCA(t, "Tongxing Test SM2", sm2Key(t)),
		ec:        newCA(t, "Tongxing Test ECDSA", ecKey(t)),
		untrusted: newCA(t, "Elsewhere SM2", sm2Key(t)),
	}
	p.roots = smx509.NewCertPool()
	p.roots.AddCert(p.gm.root)
	p.roots.AddCert(p.ec.root)
	return p
}

func sm2Key(t *testing.T) crypto.Signer {
	t.Helper()
	k, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ecKey(t *testing.T) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func serial(t *testing.T) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatal(err)
	}
	return n.Add(n, big.NewInt(1))
}

func create(t *testing.T, tmpl, parent *smx509.Certificate, pub crypto.PublicKey, parentKey crypto.Signer) *smx509.Certificate {
	t.Helper()
	der, err := smx509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := smx509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newCA makes a root and an issuing CA, both with keys like rootKey's.
func newCA(t *testing.T, name string, rootKey crypto.Signer) *ca2 {
	t.Helper()
	caTmpl := func(cn string) *smx509.Certificate {
		return &smx509.Certificate{
			SerialNumber:          serial(t),
			Subject:               pkix.Name{CommonName: cn, Organization: []string{"Tongxing Test"}, Country: []string{"CN"}},
			NotBefore:             testNow.Add(-24 * time.Hour),
			NotAfter:              testNow.Add(10 * 365 * 24 * time.Hour),
			KeyUsage:              smx509.KeyUsageCertSign | smx509.KeyUsageCRLSign,
			BasicConstraintsValid: true,
			IsCA:                  true,
		}
	}
	rt := caTmpl(name + " Root")
	root := create(t, rt, rt, rootKey.Public(), rootKey)
	var issKey crypto.Signer
	if _, ok := rootKey.(*sm2.PrivateKey); ok {
		issKey = sm2Key(t)
	} else {
		issKey = ecKey(t)
	}
	it := caTmpl(name + " Issuing CA")
	it.MaxPathLenZero = true
	return &ca2{root: root, issuing: create(t, it, root, issKey.Public(), rootKey), key: issKey}
}

// leaf issues an end-entity certificate from c for key (a fresh key of the
// CA's kind when nil) with the citizen-card defaults, changed by edit.
func (c *ca2) leaf(t *testing.T, key crypto.Signer, pub crypto.PublicKey, edit func(*smx509.Certificate)) *leafCert {
	t.Helper()
	if key == nil && pub == nil {
		if _, ok := c.key.(*sm2.PrivateKey); ok {
			key = sm2Key(t)
		} else {
			key = ecKey(t)
		}
	}
	if pub == nil {
		pub = key.Public()
	}
	tmpl := &smx509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: citizenName, Country: []string{"CN"}},
		NotBefore:    testNow.Add(-time.Hour),
		NotAfter:     testNow.Add(365 * 24 * time.Hour),
		KeyUsage:     smx509.KeyUsageDigitalSignature | smx509.KeyUsageContentCommitment,
		ExtKeyUsage:  []smx509.ExtKeyUsage{smx509.ExtKeyUsageClientAuth},
	}
	if edit != nil {
		edit(tmpl)
	}
	cert := create(t, tmpl, c.issuing, pub, c.key)
	return &leafCert{cert: cert, key: key, chain: chainPEM(cert, c.issuing)}
}

func chainPEM(certs ...*smx509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

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
