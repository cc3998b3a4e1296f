// Package testpki makes throw-away certificate chains for tests: a root CA
// and a timestamping leaf (EKU id-kp-timeStamping, critical, as RFC 3161
// §2.3 requires), either SM2/SM3 or ECDSA P-256/SHA-256.
package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
)

// PKI is a root CA and one leaf.
type PKI struct {
	Root    *smx509.Certificate
	RootKey crypto.Signer
	Leaf    *smx509.Certificate
	LeafKey crypto.Signer
}

// Options change the leaf. The zero value gives a leaf valid from an hour
// ago for a year with only id-kp-timeStamping, critical.
type Options struct {
	// EKU replaces the leaf's extended key usages.
	EKU []asn1.ObjectIdentifier
	// NonCriticalEKU marks the EKU extension non-critical.
	NonCriticalEKU bool
	// NotBefore and NotAfter override the leaf validity.
	NotBefore, NotAfter time.Time
	// Policies are certificate policy OIDs put in the leaf.
	Policies []asn1.ObjectIdentifier
	// Name is the leaf common name (default "Test TSA").
	Name string
}

// OIDTimeStamping is id-kp-timeStamping.
var OIDTimeStamping = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}

// NewKey returns a fresh SM2 (gm) or ECDSA P-256 key.
func NewKey(tb testing.TB, gm bool) crypto.Signer {
	tb.Helper()
	if gm {
		k, err := sm2.GenerateKey(rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		return k
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// New makes a root and a leaf; gm selects SM2 keys, otherwise ECDSA P-256.
func New(tb testing.TB, gm bool, opts Options) *PKI {
	tb.Helper()
	p := &PKI{RootKey: NewKey(tb, gm), LeafKey: NewKey(tb, gm)}
	now := time.Now()
	suite := "ECDSA"
	if gm {
		suite = "SM2"
	}
	rootTmpl := &smx509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Test " + suite + " Root", Organization: []string{"Tongxing Test"}},
		NotBefore:             now.Add(-30 * 24 * time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              smx509.KeyUsageCertSign | smx509.KeyUsageCRLSign,
	}
	der, err := smx509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, p.RootKey.Public(), p.RootKey)
	if err != nil {
		tb.Fatal(err)
	}
	if p.Root, err = smx509.ParseCertificate(der); err != nil {
		tb.Fatal(err)
	}
	eku := opts.EKU
	if eku == nil {
		eku = []asn1.ObjectIdentifier{OIDTimeStamping}
	}
	ekuDER, err := asn1.Marshal(eku)
	if err != nil {
		tb.Fatal(err)
	}
	name := opts.Name
	if name == "" {
		name = "Test " + suite + " TSA"
	}
	leafTmpl := &smx509.Certificate{
		SerialNumber:    big.NewInt(now.UnixNano()),
		Subject:         pkix.Name{CommonName: name, Organization: []string{"Tongxing Test"}},
		NotBefore:       now.Add(-time.Hour),
		NotAfter:        now.Add(365 * 24 * time.Hour),
		KeyUsage:        smx509.KeyUsageDigitalSignature | smx509.KeyUsageContentCommitment,
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: !opts.NonCriticalEKU, Value: ekuDER}},
	}
	if !opts.NotBefore.IsZero() {
		leafTmpl.NotBefore = opts.NotBefore
	}
	if !opts.NotAfter.IsZero() {
		leafTmpl.NotAfter = opts.NotAfter
	}
	for _, p := range opts.Policies {
		arcs := make([]uint64, len(p))
		for i, a := range p {
			arcs[i] = uint64(a)
		}
		oid, err := smx509.OIDFromInts(arcs)
		if err != nil {
			tb.Fatal(err)
		}
		leafTmpl.Policies = append(leafTmpl.Policies, oid)
	}
	der, err = smx509.CreateCertificate(rand.Reader, leafTmpl, p.Root, p.LeafKey.Public(), p.RootKey)
	if err != nil {
		tb.Fatal(err)
	}
	if p.Leaf, err = smx509.ParseCertificate(der); err != nil {
		tb.Fatal(err)
	}
	return p
}

// Roots returns a pool holding the root.
func (p *PKI) Roots() *smx509.CertPool {
	pool := smx509.NewCertPool()
	pool.AddCert(p.Root)
	return pool
}

// Chain returns leaf and root.
func (p *PKI) Chain() []*smx509.Certificate { return []*smx509.Certificate{p.Leaf, p.Root} }

// WritePEM writes certs as PEM into dir/name and returns the path.
func WritePEM(tb testing.TB, dir, name string, certs ...*smx509.Certificate) string {
	tb.Helper()
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, out, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}
