package ca_test

import (
	"context"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/catest"
	"github.com/tongxing/tongxing/kms"
)

// TestNameConstraints: an intl issuing CA made with name constraints
// carries them critical; the CA refuses to issue outside them, and a
// certificate made outside them anyway does not verify.
func TestNameConstraints(t *testing.T) {
	_, tax, _ := net.ParseCIDR("10.1.0.0/16")
	nc := &ca.NameConstraints{DNSDomains: []string{"tax.example", "tax.gov.example", "localhost"}, IPRanges: []*net.IPNet{tax}, URIDomains: []string{"tongxing.internal"}}
	f := catest.New(t, catest.WithPKI(ca.PKIOptions{NameConstraints: map[kms.Suite]*ca.NameConstraints{kms.Intl: nc}}))
	ctx := context.Background()
	issuing := f.Issuer(t, "intl-issuing")
	var ext *pkix.Extension
	for i, e := range issuing.Cert.Extensions {
		if e.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 30}) {
			ext = &issuing.Cert.Extensions[i]
		}
	}
	if ext == nil || !ext.Critical {
		t.Fatalf("name constraints extension %+v, want critical", ext)
	}
	if len(f.Issuer(t, "gm-issuing").Cert.PermittedDNSDomains) != 0 || len(f.Issuer(t, "intl-root").Cert.PermittedDNSDomains) != 0 {
		t.Error("name constraints on another CA")
	}
	roots, inter := smx509.NewCertPool(), smx509.NewCertPool()
	roots.AddCert(f.Issuer(t, "intl-root").Cert)
	inter.AddCert(issuing.Cert)
	verify := func(c *smx509.Certificate) error {
		_, err := c.Verify(smx509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: f.Clock.Now(), KeyUsages: []smx509.ExtKeyUsage{smx509.ExtKeyUsageAny}})
		return err
	}

	t.Run("ok/inside", func(t *testing.T) {
		iss, err := f.CA.Enrol(ctx, ca.EnrolRequest{CSR: catest.PEMCSR(catest.CSR(t, catest.ECKey(t, elliptic.P256()))),
			Code: f.Code(t, "service", ca.Subject{Department: "tax", Service: "api", DNSNames: []string{"api.tax.gov.example"}, IPAddresses: []string{"10.1.2.3"}})})
		if err != nil {
			t.Fatal(err)
		}
		if err := verify(iss.Certificate); err != nil {
			t.Errorf("a certificate inside the constraints: %v", err)
		}
	})
	t.Run("ok/tongxing-tls-inside", func(t *testing.T) {
		if _, err := f.CA.Issue(ctx, ca.IssueRequest{PublicKey: catest.ECKey(t, elliptic.P256()).Public(), Profile: "service", RequestedBy: "system:serve",
			Subject: ca.Subject{Department: "tongxing", Service: "server", DNSNames: []string{"localhost"}}}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("fail/ca-refuses-outside", func(t *testing.T) {
		_, err := f.CA.Issue(ctx, ca.IssueRequest{PublicKey: catest.ECKey(t, elliptic.P256()).Public(), Profile: "service", RequestedBy: "system:serve",
			Subject: ca.Subject{Department: "tongxing", Service: "server", DNSNames: []string{"www.gov.cn"}}})
		re := requestError(t, err, "subject", 403)
		if !strings.Contains(re.Msg, "name constraints of issuing CA intl-issuing") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("fail/forged-outside-does-not-verify", func(t *testing.T) {
		key := catest.ECKey(t, elliptic.P256())
		tmpl := &smx509.Certificate{SerialNumber: big.NewInt(99), Subject: pkix.Name{CommonName: "www.gov.cn"}, DNSNames: []string{"www.gov.cn"},
			NotBefore: f.Clock.Now().Add(-time.Hour), NotAfter: f.Clock.Now().Add(time.Hour), ExtKeyUsage: []smx509.ExtKeyUsage{smx509.ExtKeyUsageServerAuth}}
		der, err := smx509.CreateCertificate(rand.Reader, tmpl, issuing.Cert, key.Public(), issuing.Signer)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := smx509.ParseCertificate(der)
		if err := verify(c); err == nil || !strings.Contains(err.Error(), "constraint") {
			t.Errorf("a certificate outside the constraints verified: %v", err)
		}
	})
	t.Run("ok/empty-lists-admit-nothing", func(t *testing.T) {
		g := catest.New(t, catest.WithPKI(ca.PKIOptions{Suites: []kms.Suite{kms.Intl}, NameConstraints: map[kms.Suite]*ca.NameConstraints{kms.Intl: {DNSDomains: []string{"tax.example"}}}}))
		c := g.Issuer(t, "intl-issuing").Cert
		if len(c.PermittedIPRanges) != 2 || len(c.PermittedURIDomains) != 1 || c.PermittedURIDomains[0] != "invalid" {
			t.Errorf("IP %v URI %v", c.PermittedIPRanges, c.PermittedURIDomains)
		}
	})
}
