package ca_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm3"
	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/catest"
	"github.com/tongxing/tongxing/ca/ident"
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/store/storetest"
)

var (
	oidEKU           = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidOCSPNoCheck   = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5}
	oidIdentityCode  = asn1.ObjectIdentifier{1, 2, 156, 10260, 4, 1, 1}
	oidUSCC          = asn1.ObjectIdentifier{1, 2, 156, 10260, 4, 4}
	oidSubjectKeyID  = asn1.ObjectIdentifier{2, 5, 29, 14}
	oidAuthorityKey  = asn1.ObjectIdentifier{2, 5, 29, 35}
	oidBasicConstr   = asn1.ObjectIdentifier{2, 5, 29, 19}
	oidCRLDistPoints = asn1.ObjectIdentifier{2, 5, 29, 31}
)

// extensions returns the indexes of cert's extensions with id.
func extensions(cert *smx509.Certificate, id asn1.ObjectIdentifier) []int {
	var idx []int
	for i, e := range cert.Extensions {
		if e.Id.Equal(id) {
			idx = append(idx, i)
		}
	}
	return idx
}

// pseudonymOf recomputes HMAC-SM3(key, id) without the ident package.
func pseudonymOf(key []byte, id string) string {
	m := hmac.New(sm3.New, key)
	m.Write([]byte(id))
	return hex.EncodeToString(m.Sum(nil))
}

func TestIssueProfiles(t *testing.T) {
	// A short-lived issuing CA: every profile's validity is longer, so every
	// certificate must end when the issuing CA does.
	def := catest.New(t, catest.WithPKI(ca.PKIOptions{IssuingValidity: 30 * 24 * time.Hour}))
	idc := catest.New(t, catest.WithPKI(ca.PKIOptions{IssuingValidity: 30 * 24 * time.Hour}), catest.WithCA(ca.WithProfiles(profilesWithIdentityCode(t))))

	tests := []struct {
		name        string
		f           *catest.Fixture
		profile     string
		key         func(t testing.TB) crypto.Signer
		subject     ca.Subject
		issuer      string
		keyUsage    smx509.KeyUsage
		extKeyUsage []smx509.ExtKeyUsage
		ekuCritical bool
		commonName  string
		check       func(t *testing.T, cert *smx509.Certificate)
		// direct issues through Authority.Issue on channel via instead of
		// an enrolment code (profiles no code can name).
		direct bool
		via    ca.Channel
	}{
		{
			name: "ok/citizen-pseudonym", f: def, profile: "citizen",
			key:     func(t testing.TB) crypto.Signer { return catest.SM2Key(t) },
			subject: ca.Subject{Name: catest.CitizenName, IDNumber: strings.ToLower(catest.CitizenID)},
			issuer:  "gm-issuing", keyUsage: smx509.KeyUsageDigitalSignature | smx509.KeyUsageContentCommitment,
			extKeyUsage: []smx509.ExtKeyUsage{smx509.ExtKeyUsageClientAuth}, commonName: catest.CitizenName,
			check: func(t *testing.T, cert *smx509.Certificate) {
				if want := pseudonymOf(catest.PseudonymKey, catest.CitizenID); cert.Subject.SerialNumber != want {
					t.Errorf("subject serialNumber %q, want pseudonym %q", cert.Subject.SerialNumber, want)
				}
				if !slices.Equal(cert.Subject.Country, []string{"CN"}) {
					t.Errorf("country %v", cert.Subject.Country)
				}
				if _, ok, err := ident.IdentityCodeFrom(cert.Extensions); ok || err != nil {
					t.Errorf("identity code extension present (ok=%v err=%v) with pseudonyms", ok, err)
				}
				for _, id := range []string{catest.CitizenID, strings.ToLower(catest.CitizenID), catest.CitizenID[:17]} {
					if bytes.Contains(cert.Raw, []byte(id)) {
						t.Errorf("certificate DER contains the ID number %q", id)
					}
				}
			},
		},
		{
			name: "ok/citizen-identity-code-extension", f: idc, profile: "citizen",
			key:     func(t testing.TB) crypto.Signer { return catest.SM2Key(t) },
			subject: ca.Subject{Name: catest.CitizenName, IDNumber: catest.CitizenID},
			issuer:  "gm-issuing", keyUsage: smx509.KeyUsageDigitalSignature | smx509.KeyUsageContentCommitment,
			extKeyUsage: []smx509.ExtKeyUsage{smx509.ExtKeyUsageClientAuth}, commonName: catest.CitizenName,
			check: func(t *testing.T, cert *smx509.Certificate) {
				id, ok, err := ident.IdentityCodeFrom(cert.Extensions)
				if !ok || err != nil || id != catest.CitizenID {
					t.Errorf("IdentityCodeFrom = %q, %v, %v; want %q", id, ok, err, catest.CitizenID)
				}
				if i := extensions(cert, oidIdentityCode); len(i) != 1 || cert.Extensions[i[0]].Critical {
					t.Errorf("identity code extension must appear once, non-critical")
				}
				if cert.Subject.SerialNumber != "" {
					t.Errorf("subject serialNumber %q, want none", cert.Subject.SerialNumber)
				}
			},
		},
		{
			name: "ok/enterprise-sign-agent", f: def, profile: "enterprise-sign",
			key:     func(t testing.TB) crypto.Signer { return catest.SM2Key(t) },
			subject: ca.Subject{Organization: catest.OrgName, USCC: strings.ToLower(catest.USCC), Name: "李四"},
			issuer:  "gm-issuing", keyUsage: smx509.KeyUsageDigitalSignature | smx509.KeyUsageContentCommitment,
			extKeyUsage: []smx509.ExtKeyUsage{smx509.ExtKeyUsageClientAuth}, commonName: "李四",
			check: func(t *testing.T, cert *smx509.Certificate) {
				checkUSCC(t, cert)
				if !slices.Equal(cert.Subject.Organization, []string{catest.OrgName}) {
					t.Errorf("organization %v", cert.Subject.Organization)
				}
			},
		},
		{
			name: "ok/enterprise-sign-organisation", f: def, profile: "enterprise-sign",
			key:     func(t testing.TB) crypto.Signer { return catest.SM2Key(t) },
			subject: ca.Subject{Organization: catest.OrgName, USCC: catest.USCC},
			issuer:  "gm-issuing", keyUsage: smx509.KeyUsageDigitalSignature | smx509.KeyUsageContentCommitment,
			extKeyUsage: []smx509.ExtKeyUsage{smx509.ExtKeyUsageClientAuth}, commonName: catest.OrgName,
			check: checkUSCC,
		},
		{
			name: "ok/enterprise-enc", f: def, direct: true, via: ca.ViaKMC, profile: "enterprise-enc",
			key:     func(t testing.TB) crypto.Signer { return catest.SM2Key(t) },
			subject: ca.Subject{Organization: catest.OrgName, USCC: catest.USCC},
			issuer:  "gm-issuing", keyUsage: smx509.KeyUsageKeyEncipherment | smx509.KeyUsageDataEncipherment | smx509.KeyUsageKeyAgreement,
			commonName: catest.OrgName,
			check: func(t *testing.T, cert *smx509.Certificate) {
				checkUSCC(t, cert)
				if len(extensions(cert, oidEKU)) != 0 {
					t.Error("encryption certificate has an EKU extension")
				}
			},
		},
		{
			name: "ok/service-intl", f: def, profile: "service",
			key: func(t testing.TB) crypto.Signer { return catest.ECKey(t, elliptic.P256()) },
			subject: ca.Subject{Department: "tax", Service: "invoice-api", DNSNames: []string{"Invoice.Tax.Gov.Example.", "api.tax.gov.example"},
				IPAddresses: []string{"10.1.2.3", "2001:db8::7"}},
			issuer: "intl-issuing", keyUsage: smx509.KeyUsageDigitalSignature,
			extKeyUsage: []smx509.ExtKeyUsage{smx509.ExtKeyUsageServerAuth, smx509.ExtKeyUsageClientAuth},
			commonName:  "invoice.tax.gov.example",
			check: func(t *testing.T, cert *smx509.Certificate) {
				if !slices.Equal(cert.DNSNames, []string{"invoice.tax.gov.example", "api.tax.gov.example"}) {
					t.Errorf("DNS names %v", cert.DNSNames)
				}
				if len(cert.IPAddresses) != 2 || !cert.IPAddresses[0].Equal(net.ParseIP("10.1.2.3")) || !cert.IPAddresses[1].Equal(net.ParseIP("2001:db8::7")) {
					t.Errorf("IP addresses %v", cert.IPAddresses)
				}
				if len(cert.URIs) != 1 || cert.URIs[0].String() != "spiffe://tongxing.internal/dept/tax/svc/invoice-api" {
					t.Errorf("URIs %v, want the SPIFFE ID", cert.URIs)
				}
				if !slices.Equal(cert.Subject.OrganizationalUnit, []string{"tax"}) {
					t.Errorf("OU %v", cert.Subject.OrganizationalUnit)
				}
			},
		},
		{
			name: "ok/service-gm-no-dns", f: def, profile: "service",
			key:     func(t testing.TB) crypto.Signer { return catest.SM2Key(t) },
			subject: ca.Subject{Department: "social-security", Service: "pension"},
			issuer:  "gm-issuing", keyUsage: smx509.KeyUsageDigitalSignature,
			extKeyUsage: []smx509.ExtKeyUsage{smx509.ExtKeyUsageServerAuth, smx509.ExtKeyUsageClientAuth},
			commonName:  "pension",
			check: func(t *testing.T, cert *smx509.Certificate) {
				if len(cert.DNSNames) != 0 || len(cert.IPAddresses) != 0 {
					t.Errorf("unexpected SANs %v %v", cert.DNSNames, cert.IPAddresses)
				}
				if len(cert.URIs) != 1 || cert.URIs[0].String() != "spiffe://tongxing.internal/dept/social-security/svc/pension" {
					t.Errorf("URIs %v", cert.URIs)
				}
			},
		},
		{
			name: "ok/tsa-gm", f: def, direct: true, via: ca.ViaInternal, profile: "tsa",
			key:     func(t testing.TB) crypto.Signer { return catest.SM2Key(t) },
			subject: ca.Subject{Name: "Tongxing TSA", Organization: "Tongxing"},
			issuer:  "gm-issuing", keyUsage: smx509.KeyUsageDigitalSignature | smx509.KeyUsageContentCommitment,
			extKeyUsage: []smx509.ExtKeyUsage{smx509.ExtKeyUsageTimeStamping}, ekuCritical: true, commonName: "Tongxing TSA",
		},
		{
			name: "ok/tsa-intl", f: def, direct: true, via: ca.ViaInternal, profile: "tsa",
			key:     func(t testing.TB) crypto.Signer { return catest.ECKey(t, elliptic.P256()) },
			subject: ca.Subject{Name: "Tongxing TSA"},
			issuer:  "intl-issuing", keyUsage: smx509.KeyUsageDigitalSignature | smx509.KeyUsageContentCommitment,
			extKeyUsage: []smx509.ExtKeyUsage{smx509.ExtKeyUsageTimeStamping}, ekuCritical: true, commonName: "Tongxing TSA",
		},
		{
			name: "ok/ocsp", f: def, direct: true, via: ca.ViaInternal, profile: "ocsp",
			key:     func(t testing.TB) crypto.Signer { return catest.SM2Key(t) },
			subject: ca.Subject{Name: "Tongxing OCSP"},
			issuer:  "gm-issuing", keyUsage: smx509.KeyUsageDigitalSignature,
			extKeyUsage: []smx509.ExtKeyUsage{smx509.ExtKeyUsageOCSPSigning}, commonName: "Tongxing OCSP",
			check: func(t *testing.T, cert *smx509.Certificate) {
				i := extensions(cert, oidOCSPNoCheck)
				if len(i) != 1 {
					t.Fatalf("%d id-pkix-ocsp-nocheck extensions, want 1", len(i))
				}
				if e := cert.Extensions[i[0]]; e.Critical || !bytes.Equal(e.Value, []byte{0x05, 0x00}) {
					t.Errorf("ocsp-nocheck critical=%v value=%x, want non-critical NULL", e.Critical, e.Value)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			f := tt.f
			key := tt.key(t)
			var (
				issued *ca.Issued
				err    error
			)
			if tt.direct {
				issued, err = f.CA.Issue(ctx, ca.IssueRequest{PublicKey: key.Public(), Profile: tt.profile, Subject: tt.subject, RequestedBy: "system:test", Via: tt.via})
			} else {
				code := f.Code(t, tt.profile, tt.subject)
				issued, err = f.CA.Enrol(ctx, ca.EnrolRequest{CSR: catest.PEMCSR(catest.CSR(t, key)), Code: code})
			}
			if err != nil {
				t.Fatalf("issue: %v", err)
			}
			cert := issued.Certificate
			issuer := f.Issuer(t, tt.issuer)
			root := f.Issuer(t, issuer.Parent)

			// Signature, chain, key.
			if err := cert.CheckSignatureFrom(issuer.Cert); err != nil {
				t.Fatalf("not signed by %s: %v", tt.issuer, err)
			}
			if cert.SignatureAlgorithm != issuer.Suite.SignatureAlgorithm() {
				t.Errorf("signature algorithm %v, want %v", cert.SignatureAlgorithm, issuer.Suite.SignatureAlgorithm())
			}
			if len(issued.Chain) != 1 || !issued.Chain[0].Equal(issuer.Cert) {
				t.Errorf("chain is not [%s]", tt.issuer)
			}
			roots, inter := smx509.NewCertPool(), smx509.NewCertPool()
			roots.AddCert(root.Cert)
			inter.AddCert(issuer.Cert)
			if _, err := cert.Verify(smx509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: f.Clock.Now(), KeyUsages: []smx509.ExtKeyUsage{smx509.ExtKeyUsageAny}}); err != nil {
				t.Errorf("Verify: %v", err)
			}
			if !publicKeyEqual(cert.PublicKey, key.Public()) {
				t.Error("certificate key is not the CSR key")
			}

			// Serial: positive, at least 128 bits, at most 20 octets.
			if cert.SerialNumber.Sign() <= 0 || cert.SerialNumber.BitLen() < 128 || len(cert.SerialNumber.Bytes()) > 20 {
				t.Errorf("serial %x has %d bits", cert.SerialNumber, cert.SerialNumber.BitLen())
			}
			if issued.Record.Serial != ca.SerialHex(cert.SerialNumber) {
				t.Errorf("record serial %s, want %s", issued.Record.Serial, ca.SerialHex(cert.SerialNumber))
			}

			// Key identifiers.
			if !bytes.Equal(cert.SubjectKeyId, ski(t, cert.RawSubjectPublicKeyInfo)) {
				t.Errorf("SKI %x is not SHA-1 of the key", cert.SubjectKeyId)
			}
			if !bytes.Equal(cert.AuthorityKeyId, issuer.Cert.SubjectKeyId) || len(cert.AuthorityKeyId) == 0 {
				t.Errorf("AKI %x, want issuer SKI %x", cert.AuthorityKeyId, issuer.Cert.SubjectKeyId)
			}

			// Basic constraints: an end entity.
			if !cert.BasicConstraintsValid || cert.IsCA {
				t.Errorf("basic constraints valid=%v CA=%v", cert.BasicConstraintsValid, cert.IsCA)
			}

			// URLs.
			if want := []string{catest.PublicURL + "/ca/v1/crl/" + tt.issuer + ".crl"}; !slices.Equal(cert.CRLDistributionPoints, want) {
				t.Errorf("CRL DP %v, want %v", cert.CRLDistributionPoints, want)
			}
			if want := []string{catest.PublicURL + "/ocsp"}; !slices.Equal(cert.OCSPServer, want) {
				t.Errorf("OCSP %v, want %v", cert.OCSPServer, want)
			}
			if want := []string{catest.PublicURL + "/ca/v1/cas/" + tt.issuer + ".crt"}; !slices.Equal(cert.IssuingCertificateURL, want) {
				t.Errorf("caIssuers %v, want %v", cert.IssuingCertificateURL, want)
			}

			// Validity: backdated a minute, capped by the issuing CA.
			now := f.Clock.Now()
			if !cert.NotBefore.Equal(now.Add(-time.Minute)) {
				t.Errorf("notBefore %v, want %v", cert.NotBefore, now.Add(-time.Minute))
			}
			if !cert.NotAfter.Equal(issuer.Cert.NotAfter) {
				t.Errorf("notAfter %v, want the issuing CA's %v", cert.NotAfter, issuer.Cert.NotAfter)
			}

			// Usages.
			if cert.KeyUsage != tt.keyUsage {
				t.Errorf("key usage %b, want %b", cert.KeyUsage, tt.keyUsage)
			}
			if !slices.Equal(cert.ExtKeyUsage, tt.extKeyUsage) {
				t.Errorf("EKU %v, want %v", cert.ExtKeyUsage, tt.extKeyUsage)
			}
			if len(tt.extKeyUsage) > 0 {
				i := extensions(cert, oidEKU)
				if len(i) != 1 {
					t.Fatalf("%d EKU extensions, want 1", len(i))
				}
				if c := cert.Extensions[i[0]].Critical; c != tt.ekuCritical {
					t.Errorf("EKU critical = %v, want %v", c, tt.ekuCritical)
				}
			}
			for _, oid := range []asn1.ObjectIdentifier{oidSubjectKeyID, oidAuthorityKey, oidBasicConstr, oidCRLDistPoints} {
				if n := len(extensions(cert, oid)); n != 1 {
					t.Errorf("extension %v appears %d times", oid, n)
				}
			}

			// Names come from the vetted subject, never from the CSR.
			if cert.Subject.CommonName != tt.commonName {
				t.Errorf("CN %q, want %q", cert.Subject.CommonName, tt.commonName)
			}
			if bytes.Contains(cert.Raw, []byte("requested name is ignored")) {
				t.Error("the CSR's subject leaked into the certificate")
			}

			// Inventory.
			rec, err := f.Store.Certificate(ctx, issued.Record.Serial)
			if err != nil {
				t.Fatalf("inventory: %v", err)
			}
			if !bytes.Equal(rec.DER, cert.Raw) || rec.Profile != tt.profile || rec.Issuer != tt.issuer || rec.Status != ca.StatusValid ||
				rec.Subject != cert.Subject.String() || (!tt.direct && !strings.HasPrefix(rec.RequestedBy, "code:enr_")) || rec.Suite != issuer.Suite {
				t.Errorf("inventory record %+v", rec)
			}
			if strings.Contains(rec.Subject, catest.CitizenID) && tt.profile == "citizen" && tt.f == def {
				t.Error("inventory subject contains the ID number")
			}
			if tt.check != nil {
				tt.check(t, cert)
			}
		})
	}
}

func checkUSCC(t *testing.T, cert *smx509.Certificate) {
	t.Helper()
	code, ok, err := ident.USCCFrom(cert.Extensions)
	if !ok || err != nil || code != catest.USCC {
		t.Errorf("USCCFrom = %q, %v, %v; want %q", code, ok, err, catest.USCC)
	}
	if i := extensions(cert, oidUSCC); len(i) != 1 || cert.Extensions[i[0]].Critical {
		t.Error("USCC extension must appear once, non-critical")
	}
}

func publicKeyEqual(a, b crypto.PublicKey) bool {
	x, err1 := smx509.MarshalPKIXPublicKey(a)
	y, err2 := smx509.MarshalPKIXPublicKey(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

func TestIssueValidity(t *testing.T) {
	ctx := context.Background()
	f := catest.New(t) // default: 10-year issuing CAs
	short := catest.New(t, catest.WithPKI(ca.PKIOptions{IssuingValidity: 48 * time.Hour}))
	svc := ca.Subject{Department: "tax", Service: "invoice-api"}
	tests := []struct {
		name string
		f    *catest.Fixture
		want func(f *catest.Fixture) time.Time
	}{
		{"ok/profile-validity", f, func(f *catest.Fixture) time.Time { return f.Clock.Now().Add(2160 * time.Hour) }},
		{"ok/capped-by-issuer", short, func(f *catest.Fixture) time.Time { return f.Issuer(t, "intl-issuing").Cert.NotAfter }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iss, err := tt.f.CA.Issue(ctx, ca.IssueRequest{PublicKey: catest.ECKey(t, elliptic.P256()).Public(), Profile: "service", Subject: svc, RequestedBy: "officer:test"})
			if err != nil {
				t.Fatal(err)
			}
			if got := iss.Certificate.NotAfter; !got.Equal(tt.want(tt.f)) {
				t.Errorf("notAfter %v, want %v", got, tt.want(tt.f))
			}
			if iss.Record.RequestedBy != "officer:test" || iss.Record.NotAfter.Unix() != iss.Certificate.NotAfter.Unix() {
				t.Errorf("record %+v", iss.Record)
			}
		})
	}
	t.Run("fail/issuer-expired", func(t *testing.T) {
		// Past the issuing CA's notAfter nothing valid can be issued; the
		// CA must refuse rather than sign a certificate whose notAfter
		// precedes its notBefore.
		short.Clock.Set(short.Issuer(t, "intl-issuing").Cert.NotAfter.Add(time.Hour))
		defer short.Clock.Set(time.Now().UTC().Truncate(time.Second))
		iss, err := short.CA.Issue(ctx, ca.IssueRequest{PublicKey: catest.ECKey(t, elliptic.P256()).Public(), Profile: "service", Subject: svc})
		if err == nil {
			t.Fatalf("issued a certificate valid %v to %v from an expired issuing CA", iss.Certificate.NotBefore, iss.Certificate.NotAfter)
		}
	})
}

// TestCitizenOptionFromText sets the identity-code option the way a
// configuration file or environment variable would deliver it, as text. The
// citizen's ID number must not end up in the certificate: SetOption must
// refuse the string, or the string "false" must mean false.
func TestCitizenOptionFromText(t *testing.T) {
	profiles, err := ca.LoadProfiles(ca.BuiltinProfiles())
	if err != nil {
		t.Fatal(err)
	}
	if err := profiles["citizen"].SetOption("identity_code_extension", "false"); err != nil {
		return // refused: nothing can leak
	}
	f := catest.New(t, catest.WithCA(ca.WithProfiles(profiles)))
	iss, err := f.CA.Issue(context.Background(), ca.IssueRequest{PublicKey: catest.SM2Key(t).Public(), Profile: "citizen", Subject: ca.Subject{Name: catest.CitizenName, IDNumber: catest.CitizenID}})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(iss.Certificate.Raw, []byte(catest.CitizenID)) {
		t.Fatal(`identity_code_extension set to the string "false" wrote the ID number into the certificate`)
	}
}

func TestIssueErrors(t *testing.T) {
	ctx := context.Background()
	f := catest.New(t)
	gmOnly := catest.New(t, catest.WithPKI(ca.PKIOptions{Suites: []kms.Suite{kms.GM}}))
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	citizen := ca.Subject{Name: catest.CitizenName, IDNumber: catest.CitizenID}
	tests := []struct {
		name    string
		f       *catest.Fixture
		req     ca.IssueRequest
		field   string
		is      error
		errKind ident.Kind
	}{
		{name: "fail/unknown-profile", req: ca.IssueRequest{PublicKey: catest.SM2Key(t).Public(), Profile: "diplomat", Subject: citizen}, field: "profile", is: ca.ErrUnknownProfile},
		{name: "fail/no-key", req: ca.IssueRequest{Profile: "citizen", Subject: citizen}, field: "csr"},
		{name: "fail/ed25519-key", req: ca.IssueRequest{PublicKey: edKey.Public(), Profile: "tsa", Subject: ca.Subject{Name: "x"}}, field: "csr"},
		{name: "fail/p384-key", req: ca.IssueRequest{PublicKey: catest.ECKey(t, elliptic.P384()).Public(), Profile: "service", Subject: ca.Subject{Department: "a", Service: "b"}}, field: "csr"},
		{name: "fail/ecdsa-key-for-citizen", req: ca.IssueRequest{PublicKey: catest.ECKey(t, elliptic.P256()).Public(), Profile: "citizen", Subject: citizen}, field: "csr"},
		{name: "fail/no-intl-issuing-ca", f: gmOnly, req: ca.IssueRequest{PublicKey: catest.ECKey(t, elliptic.P256()).Public(), Profile: "service", Subject: ca.Subject{Department: "a", Service: "b"}}, field: "csr"},
		{name: "fail/missing-id-number", req: ca.IssueRequest{PublicKey: catest.SM2Key(t).Public(), Profile: "citizen", Subject: ca.Subject{Name: catest.CitizenName}}, field: "subject.id_number"},
		{name: "fail/id-number-checksum", req: ca.IssueRequest{PublicKey: catest.SM2Key(t).Public(), Profile: "citizen", Subject: ca.Subject{Name: catest.CitizenName, IDNumber: "110105194912310021"}}, field: "subject.id_number", errKind: ident.ErrChecksum},
		{name: "fail/id-number-length", req: ca.IssueRequest{PublicKey: catest.SM2Key(t).Public(), Profile: "citizen", Subject: ca.Subject{Name: catest.CitizenName, IDNumber: "1101051949123100"}}, field: "subject.id_number", errKind: ident.ErrLength},
		{name: "fail/field-not-allowed", req: ca.IssueRequest{PublicKey: catest.SM2Key(t).Public(), Profile: "citizen", Subject: ca.Subject{Name: catest.CitizenName, IDNumber: catest.CitizenID, USCC: catest.USCC}}, field: "subject.uscc"},
		{name: "fail/uscc-checksum", req: ca.IssueRequest{PublicKey: catest.SM2Key(t).Public(), Profile: "enterprise-sign", Subject: ca.Subject{Organization: catest.OrgName, USCC: "91350100M000100Y44"}}, field: "subject.uscc", errKind: ident.ErrChecksum},
		{name: "fail/missing-organization", req: ca.IssueRequest{PublicKey: catest.SM2Key(t).Public(), Profile: "enterprise-sign", Subject: ca.Subject{USCC: catest.USCC}}, field: "subject.organization"},
		{name: "fail/name-control-character", req: ca.IssueRequest{PublicKey: catest.SM2Key(t).Public(), Profile: "tsa", Subject: ca.Subject{Name: "TSA\nCN=evil"}}, field: "subject.name"},
		{name: "fail/name-too-long", req: ca.IssueRequest{PublicKey: catest.SM2Key(t).Public(), Profile: "tsa", Subject: ca.Subject{Name: strings.Repeat("名", 65)}}, field: "subject.name"},
		{name: "fail/department-not-slug", req: ca.IssueRequest{PublicKey: catest.SM2Key(t).Public(), Profile: "service", Subject: ca.Subject{Department: "Tax Bureau", Service: "api"}}, field: "subject.department"},
		{name: "fail/bad-dns-name", req: ca.IssueRequest{PublicKey: catest.SM2Key(t).Public(), Profile: "service", Subject: ca.Subject{Department: "tax", Service: "api", DNSNames: []string{"a..b"}}}, field: "subject.dns_names"},
		{name: "fail/bad-ip", req: ca.IssueRequest{PublicKey: catest.SM2Key(t).Public(), Profile: "service", Subject: ca.Subject{Department: "tax", Service: "api", IPAddresses: []string{"10.0.0.256"}}}, field: "subject.ip_addresses"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ff := f
			if tt.f != nil {
				ff = tt.f
			}
			_, err := ff.CA.Issue(ctx, tt.req)
			requestError(t, err, tt.field, 400)
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			if tt.errKind != 0 && !errors.Is(err, tt.errKind) {
				t.Errorf("error %v is not ident.%v", err, tt.errKind)
			}
			if strings.Contains(err.Error(), "110105194912310021") {
				t.Error("error message contains the full ID number")
			}
		})
	}
	recs, err := f.Store.Certificates(ctx, ca.Filter{})
	if err != nil || len(recs) != 0 {
		t.Errorf("failed requests recorded %d certificates (%v)", len(recs), err)
	}
}

func TestNew(t *testing.T) {
	_, _, cas := catest.NewPKI(t, ca.PKIOptions{Suites: []kms.Suite{kms.GM}})
	s := ca.NewSQLStore(storetest.SQLite(t))
	t.Cleanup(func() { s.Close() })
	var roots []*ca.Issuer
	for _, c := range cas {
		if c.Root {
			roots = append(roots, c)
		}
	}
	noSigner := []*ca.Issuer{cas[0], {Name: cas[1].Name, Suite: cas[1].Suite, Parent: cas[1].Parent, Cert: cas[1].Cert}}
	tests := []struct {
		name string
		cas  []*ca.Issuer
		inv  bool
		opts []ca.Option
		ok   bool
	}{
		{"ok/defaults", cas, true, []ca.Option{ca.WithPseudonymKey(catest.PseudonymKey)}, true},
		// Codes keep pseudonyms, and login certificates carry them, whatever
		// the citizen profile writes.
		{"fail/identity-code-still-needs-a-pseudonym-key", cas, true, []ca.Option{ca.WithProfiles(profilesWithIdentityCode(t))}, false},
		{"fail/no-pseudonym-key", cas, true, nil, false},
		{"fail/short-pseudonym-key", cas, true, []ca.Option{ca.WithPseudonymKey([]byte("short"))}, false},
		{"fail/no-issuing-ca", roots, true, []ca.Option{ca.WithPseudonymKey(catest.PseudonymKey)}, false},
		{"fail/issuing-ca-without-signer", noSigner, true, []ca.Option{ca.WithPseudonymKey(catest.PseudonymKey)}, false},
		{"fail/no-store", cas, false, []ca.Option{ca.WithPseudonymKey(catest.PseudonymKey)}, false},
		{"fail/public-url-not-http", cas, true, []ca.Option{ca.WithPseudonymKey(catest.PseudonymKey), ca.WithPublicURL("ldap://pki")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a *ca.Authority
			var err error
			if tt.inv {
				a, err = ca.New(tt.cas, s, s, tt.opts...)
			} else {
				a, err = ca.New(tt.cas, nil, nil, tt.opts...)
			}
			if tt.ok != (err == nil) {
				t.Fatalf("New: err = %v, want ok=%v", err, tt.ok)
			}
			if tt.ok {
				if got := a.CAs(); len(got) != 2 || !got[0].Root || got[1].Root {
					t.Errorf("CAs() = %v, want root then issuing", got)
				}
				if _, err := a.CA("nope"); !errors.Is(err, ca.ErrNotFound) {
					t.Errorf("CA(nope) = %v, want ErrNotFound", err)
				}
			}
		})
	}
}

func TestParseSerial(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"ok/lower", "1a2b", "1a2b"},
		{"ok/upper-colons", "1A:2B", "1a2b"},
		{"ok/leading-zeros", "00:0f", "f"},
		{"ok/odd-length", "abc", "abc"},
		{"fail/empty", "", ""},
		{"fail/not-hex", "xyz", ""},
		{"fail/too-long", strings.Repeat("a", 43), ""},
		{"fail/sign", "-1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ca.ParseSerial(tt.in)
			if tt.want == "" {
				requestError(t, err, "serial", 400)
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseSerial(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}
