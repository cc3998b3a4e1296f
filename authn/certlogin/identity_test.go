package certlogin_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509/pkix"
	"encoding/asn1"
	"net/url"
	"testing"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/authn/certlogin"
	"github.com/tongxing/tongxing/ca/ident"
	"github.com/tongxing/tongxing/kms"
)

// TestIdentityOf is the one certificate-to-identity rule, for the
// certificates Tongxing's profiles make in both suites: the SM2 citizen
// card and e-cert (challenge login) and the ECDSA login certificates
// (browser TLS login) must give the same identity.
func TestIdentityOf(t *testing.T) {
	p := newPKI(t)
	pseudo := ident.Pseudonym([]byte(pseudonymKey), citizenID)
	usccExt, err := ident.USCCExtension(usccExample)
	if err != nil {
		t.Fatal(err)
	}
	idCodeExt, err := ident.IdentityCodeExtension(citizenID)
	if err != nil {
		t.Fatal(err)
	}
	badIDCode, _ := asn1.MarshalWithParams("11010519491231002Y", "printable") // wrong check character
	badUSCC, _ := asn1.MarshalWithParams("91350100M000100Y44", "printable")
	spiffe, _ := url.Parse("spiffe://tongxing.example/dept/tax/svc/filing")

	// Subjects as the profiles write them.
	citizen := func(c *smx509.Certificate) {
		c.Subject = pkix.Name{CommonName: citizenName, Country: []string{"CN"}, SerialNumber: pseudo}
	}
	enterprise := func(agent string) func(*smx509.Certificate) {
		return func(c *smx509.Certificate) {
			c.Subject = pkix.Name{CommonName: agent, Organization: []string{orgName}, Country: []string{"CN"}}
			c.ExtraExtensions = []pkix.Extension{usccExt}
		}
	}
	loginKU := func(edit func(*smx509.Certificate)) func(*smx509.Certificate) {
		return func(c *smx509.Certificate) {
			edit(c)
			c.KeyUsage = smx509.KeyUsageDigitalSignature
		}
	}

	type want struct {
		suite                          kms.Suite
		kind                           certlogin.Kind
		pseudonym, code, uscc, org, ag string
	}
	tests := []struct {
		name    string
		leaf    *leafCert
		want    want
		wantErr error
	}{
		{"ok/citizen-card-sm2", p.gm.leaf(t, nil, nil, citizen),
			want{suite: kms.GM, kind: certlogin.KindCitizen, pseudonym: pseudo}, nil},
		{"ok/citizen-login-ecdsa", p.ec.leaf(t, nil, nil, loginKU(citizen)),
			want{suite: kms.Intl, kind: certlogin.KindCitizen, pseudonym: pseudo}, nil},
		{"ok/citizen-identity-code-sm2", p.gm.leaf(t, nil, nil, func(c *smx509.Certificate) { c.ExtraExtensions = []pkix.Extension{idCodeExt} }),
			want{suite: kms.GM, kind: certlogin.KindCitizen, code: citizenID}, nil},
		{"ok/citizen-identity-code-ecdsa", p.ec.leaf(t, nil, nil, func(c *smx509.Certificate) { c.ExtraExtensions = []pkix.Extension{idCodeExt} }),
			want{suite: kms.Intl, kind: certlogin.KindCitizen, code: citizenID}, nil},
		{"ok/e-cert-sm2-agent", p.gm.leaf(t, nil, nil, enterprise(agentName)),
			want{suite: kms.GM, kind: certlogin.KindEnterprise, uscc: usccExample, org: orgName, ag: agentName}, nil},
		{"ok/enterprise-login-ecdsa-agent", p.ec.leaf(t, nil, nil, loginKU(enterprise(agentName))),
			want{suite: kms.Intl, kind: certlogin.KindEnterprise, uscc: usccExample, org: orgName, ag: agentName}, nil},
		{"ok/enterprise-login-ecdsa-no-agent", p.ec.leaf(t, nil, nil, loginKU(enterprise(orgName))),
			want{suite: kms.Intl, kind: certlogin.KindEnterprise, uscc: usccExample, org: orgName}, nil},
		{"ok/credit-code-wins-over-serial-number", p.ec.leaf(t, nil, nil, func(c *smx509.Certificate) {
			enterprise(agentName)(c)
			c.Subject.SerialNumber = pseudo
		}), want{suite: kms.Intl, kind: certlogin.KindEnterprise, uscc: usccExample, org: orgName, ag: agentName}, nil},
		{"ok/no-identity-is-other", p.ec.leaf(t, nil, nil, func(c *smx509.Certificate) {
			c.Subject = pkix.Name{CommonName: "someone"}
		}), want{suite: kms.Intl, kind: certlogin.KindOther}, nil},
		{"ok/service-with-spiffe-id-is-other", p.ec.leaf(t, nil, nil, func(c *smx509.Certificate) {
			citizen(c)
			c.URIs = []*url.URL{spiffe}
		}), want{suite: kms.Intl, kind: certlogin.KindOther}, nil},
		{"ok/server-certificate-is-other", p.gm.leaf(t, nil, nil, func(c *smx509.Certificate) {
			enterprise(agentName)(c)
			c.ExtKeyUsage = []smx509.ExtKeyUsage{smx509.ExtKeyUsageServerAuth, smx509.ExtKeyUsageClientAuth}
		}), want{suite: kms.GM, kind: certlogin.KindOther}, nil},
		{"fail/malformed-identity-code", p.ec.leaf(t, nil, nil, func(c *smx509.Certificate) {
			c.ExtraExtensions = []pkix.Extension{{Id: ident.OIDIdentityCode(), Value: badIDCode}}
		}), want{}, certlogin.ErrIdentity},
		{"fail/malformed-credit-code", p.gm.leaf(t, nil, nil, func(c *smx509.Certificate) {
			c.ExtraExtensions = []pkix.Extension{{Id: ident.OIDUSCC(), Value: badUSCC}}
		}), want{}, certlogin.ErrIdentity},
		{"fail/rsa-key", p.ec.leaf(t, nil, rsaKey(t).Public(), citizen), want{}, certlogin.ErrCertificate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chain := []*smx509.Certificate{tt.leaf.cert}
			id, err := certlogin.IdentityOf(tt.leaf.cert, chain)
			if wantError(t, err, tt.wantErr) {
				return
			}
			got := want{suite: id.Suite, kind: id.Kind, pseudonym: id.Pseudonym, code: id.IdentityCode, uscc: id.USCC, org: id.OrgName, ag: id.AgentName}
			if got != tt.want {
				t.Fatalf("identity %+v, want %+v", got, tt.want)
			}
			if id.Serial != tt.leaf.cert.SerialNumber.Text(16) || id.CommonName != tt.leaf.cert.Subject.CommonName ||
				id.Certificate != tt.leaf.cert || len(id.Chain) != 1 {
				t.Fatalf("identity names: %+v", id)
			}
		})
	}
}

func rsaKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
