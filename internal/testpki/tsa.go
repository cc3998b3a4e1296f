package testpki

import (
	"crypto"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/kms"
)

// OIDTimeStamping is id-kp-timeStamping.
var OIDTimeStamping = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}

// TSA is a root CA and a timestamping leaf below it.
type TSA struct {
	Root    *smx509.Certificate
	RootKey crypto.Signer
	Leaf    *smx509.Certificate
	LeafKey crypto.Signer
}

// TSAOptions change the leaf. The zero value gives a leaf valid from an
// hour ago for a year with only id-kp-timeStamping, critical, as RFC 3161
// §2.3 requires.
type TSAOptions struct {
	// EKU replaces the leaf's extended key usages.
	EKU []asn1.ObjectIdentifier
	// NonCriticalEKU marks the EKU extension non-critical.
	NonCriticalEKU bool
	// NotBefore and NotAfter override the leaf validity.
	NotBefore, NotAfter time.Time
	// Policies are certificate policy OIDs put in the leaf.
	Policies []asn1.ObjectIdentifier
	// Name is the leaf common name (default "Test SM2 TSA" or "Test ECDSA
	// TSA").
	Name string
}

// NewTSA makes a root ("Test SM2 Root" or "Test ECDSA Root", serial 1) and
// a timestamping leaf of suite s.
func NewTSA(tb testing.TB, s kms.Suite, opts TSAOptions) *TSA {
	tb.Helper()
	label := map[kms.Suite]string{kms.GM: "SM2", kms.Intl: "ECDSA"}[s]
	root := NewRoot(tb, s, "Test "+label+" Root", Serial(big.NewInt(1)))
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
		name = "Test " + label + " TSA"
	}
	leaf := root.Issue(tb, name, func(c *smx509.Certificate) {
		c.NotAfter = time.Now().Add(365 * 24 * time.Hour)
		if !opts.NotBefore.IsZero() {
			c.NotBefore = opts.NotBefore
		}
		if !opts.NotAfter.IsZero() {
			c.NotAfter = opts.NotAfter
		}
		c.KeyUsage = smx509.KeyUsageDigitalSignature | smx509.KeyUsageContentCommitment
		c.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: !opts.NonCriticalEKU, Value: ekuDER}}
		for _, p := range opts.Policies {
			arcs := make([]uint64, len(p))
			for i, a := range p {
				arcs[i] = uint64(a)
			}
			oid, err := smx509.OIDFromInts(arcs)
			if err != nil {
				tb.Fatal(err)
			}
			c.Policies = append(c.Policies, oid)
		}
	})
	return &TSA{Root: root.Cert, RootKey: root.Key, Leaf: leaf.Cert, LeafKey: leaf.Key}
}

// Roots returns a pool holding the root.
func (p *TSA) Roots() *smx509.CertPool { return Pool(p.Root) }

// Chain returns leaf and root.
func (p *TSA) Chain() []*smx509.Certificate { return []*smx509.Certificate{p.Leaf, p.Root} }
