package signature_test

import (
	"context"
	"crypto/x509/pkix"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/internal/testpki"
	"github.com/tongxing/tongxing/signature"
	"github.com/tongxing/tongxing/timestamp"
)

// A time-stamp token is itself a CMS SignedData with signed attributes,
// signed by the TSA's key, whose certificate has digitalSignature and
// contentCommitment. Anyone can ask the public TSA for one; submitted as
// a "filing" (attached content: the TSTInfo) it must not verify as a
// filing signed by the TSA.
func TestTimestampTokenIsNotAFiling(t *testing.T) {
	ctx := context.Background()
	for _, gm := range []bool{true, false} {
		f := newFixture(t, gm, time.Now())
		alg := timestamp.HashOf(suiteOf(gm))
		tok, err := f.tsa.Timestamp(ctx, alg.Sum([]byte("anything the attacker likes")), alg, timestamp.TokenOptions{CertReq: true})
		if err != nil {
			t.Fatal(err)
		}
		// The server trusts one set of roots for signers and TSAs.
		rep, err := signature.Verify(ctx, tok.Raw, nil, signature.VerifyOptions{Roots: f.tsaPKI.pool()})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Valid {
			t.Errorf("gm=%v: a bare time-stamp token verifies as a filing signed by %q:\n%s", gm, rep.Signer.Subject, rep.Text())
		}
	}
}

// A department's TLS service certificate (profile "service": KU
// digitalSignature, EKU serverAuth + clientAuth, organisation allowed)
// is not an e-cert for signing filings.
func TestServiceCertificateCannotSignFiling(t *testing.T) {
	ctx := context.Background()
	for _, gm := range []bool{true, false} {
		f := newFixture(t, gm, time.Now())
		leaf := f.pki.root.Issue(t, "", testpki.Valid(time.Now().Add(-time.Hour), time.Now().Add(time.Hour)), func(c *smx509.Certificate) {
			c.Subject = pkix.Name{CommonName: "api.tax.example", OrganizationalUnit: []string{"tax"}, Organization: []string{"某某科技有限公司"}}
			c.DNSNames = []string{"api.tax.example"}
			c.KeyUsage = smx509.KeyUsageDigitalSignature
			c.ExtKeyUsage = []smx509.ExtKeyUsage{smx509.ExtKeyUsageServerAuth, smx509.ExtKeyUsageClientAuth}
		})
		s, err := signature.NewSigner(leaf.Key, []*smx509.Certificate{leaf.Cert, f.pki.root.Cert}, signature.WithAttached())
		if err != nil {
			t.Fatal(err)
		}
		p7s, err := s.Sign(ctx, []byte("申报材料"))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := signature.Verify(ctx, p7s, nil, signature.VerifyOptions{Roots: f.pki.pool()})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Valid {
			t.Errorf("gm=%v: a TLS service certificate signs a valid filing as %q:\n%s", gm, rep.Signer.Subject, rep.Text())
		}
	}
}
