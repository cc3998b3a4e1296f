package ca_test

import (
	"context"
	"crypto"
	"crypto/elliptic"
	"encoding/asn1"
	"slices"
	"testing"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/catest"
)

func oid(t testing.TB, s string) asn1.ObjectIdentifier {
	t.Helper()
	o, err := ca.ParseOID(s)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func policies(c *smx509.Certificate) []string {
	var out []string
	for _, p := range c.Policies {
		out = append(out, p.String())
	}
	return out
}

// TestCertificatePolicies is finding 10 of issue 9 (policies): every CA
// certificate and every leaf carries certificatePolicies; leaves of
// profiles with key_storage say how the key is held.
func TestCertificatePolicies(t *testing.T) {
	f := catest.New(t)
	ctx := context.Background()
	for _, c := range f.CAs {
		if got := policies(c.Cert); !slices.Equal(got, []string{"2.5.29.32.0"}) {
			t.Errorf("%s policies %v, want anyPolicy", c.Name, got)
		}
	}
	tests := []struct {
		profile  string
		subject  ca.Subject
		key      func(testing.TB) crypto.Signer
		hardware bool
		want     []string
		amr      string
	}{
		{"citizen", ca.Subject{Name: catest.CitizenName, IDNumber: catest.CitizenID}, func(t testing.TB) crypto.Signer { return catest.SM2Key(t) }, false,
			[]string{"1.3.6.1.4.1.32473.2.1", "1.3.6.1.4.1.32473.3.1"}, "swk"},
		{"citizen", ca.Subject{Name: catest.CitizenName, IDNumber: catest.CitizenID}, func(t testing.TB) crypto.Signer { return catest.SM2Key(t) }, true,
			[]string{"1.3.6.1.4.1.32473.2.1", "1.3.6.1.4.1.32473.3.2"}, "hwk"},
		{"enterprise-sign", ca.Subject{Organization: catest.OrgName, USCC: catest.USCC}, func(t testing.TB) crypto.Signer { return catest.SM2Key(t) }, true,
			[]string{"1.3.6.1.4.1.32473.2.3", "1.3.6.1.4.1.32473.3.2"}, "hwk"},
		{"citizen-login", ca.Subject{Name: catest.CitizenName, IDNumber: catest.CitizenID}, func(t testing.TB) crypto.Signer { return catest.ECKey(t, elliptic.P256()) }, false,
			[]string{"1.3.6.1.4.1.32473.2.2", "1.3.6.1.4.1.32473.3.1"}, "swk"},
		{"service", ca.Subject{Department: "tax", Service: "api"}, func(t testing.TB) crypto.Signer { return catest.ECKey(t, elliptic.P256()) }, false,
			[]string{"1.3.6.1.4.1.32473.2.6"}, ""},
	}
	ks := ca.DefaultKeyStoragePolicies()
	for _, tt := range tests {
		t.Run("ok/"+tt.profile+"/"+tt.amr, func(t *testing.T) {
			code, _, err := f.CA.CreateCode(ctx, ca.NewCodeRequest{Profile: tt.profile, Subject: tt.subject, HardwareKey: tt.hardware})
			if err != nil {
				t.Fatal(err)
			}
			iss, err := f.CA.Enrol(ctx, ca.EnrolRequest{CSR: catest.PEMCSR(catest.CSR(t, tt.key(t))), Code: code})
			if err != nil {
				t.Fatal(err)
			}
			if got := policies(iss.Certificate); !slices.Equal(got, tt.want) {
				t.Errorf("policies %v, want %v", got, tt.want)
			}
			if got := ks.AMR(iss.Certificate); got != tt.amr {
				t.Errorf("AMR %q, want %q", got, tt.amr)
			}
		})
	}
	t.Run("ok/hardware-code-software-login-certificate", func(t *testing.T) {
		code, _, err := f.CA.CreateCode(ctx, ca.NewCodeRequest{Profile: "citizen", Subject: ca.Subject{Name: catest.CitizenName, IDNumber: catest.CitizenID}, HardwareKey: true})
		if err != nil {
			t.Fatal(err)
		}
		iss, err := f.CA.Enrol(ctx, ca.EnrolRequest{CSR: catest.PEMCSR(catest.CSR(t, catest.SM2Key(t))), LoginCSR: catest.PEMCSR(catest.CSR(t, catest.ECKey(t, elliptic.P256()))), Code: code})
		if err != nil {
			t.Fatal(err)
		}
		// The officer's statement covers the citizen card's key, not the
		// login key the subscriber's software made in the same request.
		if ks.AMR(iss.Certificate) != "hwk" || ks.AMR(iss.Login.Certificate) != "swk" {
			t.Errorf("hardware-key code: card certificate %v, login certificate %v; want hardware, software",
				policies(iss.Certificate), policies(iss.Login.Certificate))
		}
	})
	t.Run("fail/hardware-key-for-service", func(t *testing.T) {
		_, _, err := f.CA.CreateCode(ctx, ca.NewCodeRequest{Profile: "service", Subject: ca.Subject{Department: "tax", Service: "api"}, HardwareKey: true})
		requestError(t, err, "hardware_key", 400)
	})

	t.Run("ok/configured-oids", func(t *testing.T) {
		profiles, err := ca.LoadProfiles(ca.BuiltinProfiles())
		if err != nil {
			t.Fatal(err)
		}
		if err := profiles["citizen"].SetPolicies([]string{"1.2.156.999.1.1", "1.2.156.999.1.2"}); err != nil {
			t.Fatal(err)
		}
		g := catest.New(t,
			catest.WithPKI(ca.PKIOptions{Policies: []asn1.ObjectIdentifier{oid(t, "1.2.156.999.1")}}),
			catest.WithCA(ca.WithProfiles(profiles), ca.WithKeyStoragePolicies(ca.KeyStoragePolicies{Software: oid(t, "1.2.156.999.2.1"), Hardware: oid(t, "1.2.156.999.2.2")})))
		if got := policies(g.Issuer(t, "gm-issuing").Cert); !slices.Equal(got, []string{"1.2.156.999.1"}) {
			t.Errorf("CA policies %v", got)
		}
		iss, err := g.CA.Enrol(ctx, ca.EnrolRequest{CSR: catest.PEMCSR(catest.CSR(t, catest.SM2Key(t))), Code: g.Code(t, "citizen", ca.Subject{Name: catest.CitizenName, IDNumber: catest.CitizenID})})
		if err != nil {
			t.Fatal(err)
		}
		if got := policies(iss.Certificate); !slices.Equal(got, []string{"1.2.156.999.1.1", "1.2.156.999.1.2", "1.2.156.999.2.1"}) {
			t.Errorf("leaf policies %v", got)
		}
	})
	t.Run("fail/bad-oids", func(t *testing.T) {
		profiles, _ := ca.LoadProfiles(ca.BuiltinProfiles())
		for _, bad := range [][]string{{"1"}, {"x.y"}, {"3.1.2"}, {"1.40.1"}, {"1.2.3", "1.2.3"}} {
			if err := profiles["citizen"].SetPolicies(bad); err == nil {
				t.Errorf("SetPolicies(%q) accepted", bad)
			}
		}
		if _, err := ca.New(f.CAs, f.Store, f.Store, ca.WithPseudonymKey(catest.PseudonymKey),
			ca.WithKeyStoragePolicies(ca.KeyStoragePolicies{Software: oid(t, "1.2.3"), Hardware: oid(t, "1.2.3")})); err == nil {
			t.Error("equal key-storage OIDs accepted")
		}
	})
}

// TestRepositoryURLs: with a plain-HTTP repository URL, certificates name
// it first and the https URL second, for the CRL, OCSP and the issuer.
func TestRepositoryURLs(t *testing.T) {
	f := catest.New(t, catest.WithCA(ca.WithPublicHTTPURL("http://pki.example.gov.cn:8080/")))
	iss, err := f.CA.Enrol(context.Background(), ca.EnrolRequest{CSR: catest.PEMCSR(catest.CSR(t, catest.SM2Key(t))),
		Code: f.Code(t, "citizen", ca.Subject{Name: catest.CitizenName, IDNumber: catest.CitizenID})})
	if err != nil {
		t.Fatal(err)
	}
	c := iss.Certificate
	for _, tt := range []struct {
		name string
		got  []string
		path string
	}{
		{"CRL distribution points", c.CRLDistributionPoints, "/ca/v1/crl/gm-issuing.crl"},
		{"OCSP", c.OCSPServer, "/ocsp"},
		{"caIssuers", c.IssuingCertificateURL, "/ca/v1/cas/gm-issuing.crt"},
	} {
		want := []string{"http://pki.example.gov.cn:8080" + tt.path, catest.PublicURL + tt.path}
		if !slices.Equal(tt.got, want) {
			t.Errorf("%s %v, want %v", tt.name, tt.got, want)
		}
	}
	for _, bad := range []string{"https://pki.example", "ftp://x", "http://"} {
		if _, err := ca.New(f.CAs, f.Store, f.Store, ca.WithPseudonymKey(catest.PseudonymKey), ca.WithPublicHTTPURL(bad)); err == nil {
			t.Errorf("public HTTP URL %q accepted", bad)
		}
	}
}

// TestParseOID is the one OID parser's table (with the cases of the
// server's former parser of tsa.policy).
func TestParseOID(t *testing.T) {
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{"1.3.6.1.4.1.32473.1.1", true},
		{"2.5.29.32.0", true},
		{"2.999", true},
		{"1", false},
		{"1.a.3", false},
		{"", false},
		{"1.-2", false},
		{"3.1", false},
		{"1.40", false},
		{"1.2.4294967296", false},
	} {
		if _, err := ca.ParseOID(tt.in); (err == nil) != tt.ok {
			t.Errorf("ParseOID(%q) err = %v, want ok=%v", tt.in, err, tt.ok)
		}
	}
}
