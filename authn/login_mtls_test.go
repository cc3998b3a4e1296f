package authn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/catest"
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// mtlsEnv is an env whose TLS listener asks for client certificates
// (VerifyClientCertIfGiven) issued by Tongxing's intl CA.
type mtlsEnv struct {
	*env
	ca    *ca.Authority
	audit *memAuditor
	// rogue is a CA the listener trusts but the provider does not.
	rogue    *x509.Certificate
	rogueKey *ecdsa.PrivateKey
}

func newMTLSEnv(t *testing.T, db *store.DB) *mtlsEnv {
	t.Helper()
	e := &env{t: t, db: db, clk: newClock(), secret: map[string]string{}}
	f := catest.New(t, catest.OnDB(db), catest.WithCA(ca.WithPseudonymKey(testPseudonymKey),
		ca.WithPublicURL("https://pki.tongxing.test"), ca.WithClock(e.clk.Now)))
	roots, tlsRoots := smx509.NewCertPool(), x509.NewCertPool()
	for _, c := range f.CAs {
		if c.Root {
			roots.AddCert(c.Cert)
			if c.Suite == kms.Intl {
				xc, err := x509.ParseCertificate(c.Cert.Raw)
				if err != nil {
					t.Fatal(err)
				}
				tlsRoots.AddCert(xc)
			}
		}
	}
	me := &mtlsEnv{audit: &memAuditor{}, ca: f.CA}
	me.rogue, me.rogueKey = selfSignedCA(t)
	tlsRoots.AddCert(me.rogue)

	mux := http.NewServeMux()
	e.srv = httptest.NewUnstartedServer(mux)
	e.srv.TLS = &tls.Config{ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: tlsRoots}
	e.srv.StartTLS()
	t.Cleanup(e.srv.Close)
	e.issuer = e.srv.URL
	c := ClientConfig{ID: portalA, Name: "门户 " + portalA, RedirectURIs: []string{redirectOf(portalA)}}
	e.secret[portalA], c.SecretHash = GenerateClientSecret()
	var err error
	if e.p, err = New(t.Context(), db, WithIssuer(e.issuer), WithClients(c), WithKeySealer(testSealer(t, testPassphrase)),
		WithPseudonymKey(testPseudonymKey), WithClock(e.clk.Now), WithLogger(discardLogger()),
		WithCertLogin(roots, me.ca), WithAuditor(me.audit), WithKeyStorage(ca.DefaultKeyStoragePolicies())); err != nil {
		t.Fatalf("New: %v", err)
	}
	e.p.Routes(mux)
	if _, err := e.p.Users().AddUser(t.Context(), NewUser{Username: testUser, Password: testPassword, Name: "张三", CitizenID: testCitizenID}); err != nil {
		t.Fatalf("AddUser: %v", err)
	}
	e.ctx = oidc.ClientContext(t.Context(), e.srv.Client())
	if e.op, err = oidc.NewProvider(e.ctx, e.issuer); err != nil {
		t.Fatalf("discovery with go-oidc: %v", err)
	}
	me.env = e
	return me
}

// selfSignedCA makes an ECDSA P-256 CA outside Tongxing's PKI.
func selfSignedCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "Rogue CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

// clientCert is a TLS client certificate with its CA record serial.
type clientCert struct {
	tls    tls.Certificate
	serial string
}

// intlCitizenCert has Tongxing's CA issue an ECDSA P-256 citizen login
// certificate (profile citizen-login) for the test citizen.
func (me *mtlsEnv) intlCitizenCert(t *testing.T) *clientCert {
	return me.intlCitizenCertKey(t, false)
}

// intlCitizenCertKey is intlCitizenCert with the hardware key-storage
// policy when hardware is set.
func (me *mtlsEnv) intlCitizenCertKey(t *testing.T, hardware bool) *clientCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := me.ca.Issue(t.Context(), ca.IssueRequest{PublicKey: key.Public(), Profile: "citizen-login",
		Subject: ca.Subject{Name: "张三", IDNumber: testCitizenID}, RequestedBy: "officer:test", HardwareKey: hardware})
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	cc := &clientCert{serial: iss.Record.Serial, tls: tls.Certificate{Certificate: [][]byte{iss.Certificate.Raw}, PrivateKey: key}}
	for _, c := range iss.Chain {
		cc.tls.Certificate = append(cc.tls.Certificate, c.Raw)
	}
	return cc
}

// rogueCert is a clientAuth certificate of the rogue CA carrying the test
// citizen's pseudonym.
func (me *mtlsEnv) rogueCert(t *testing.T) *clientCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(99), Subject: pkix.Name{CommonName: "张三", SerialNumber: "forged"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, me.rogue, key.Public(), me.rogueKey)
	if err != nil {
		t.Fatal(err)
	}
	return &clientCert{serial: "63", tls: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}}
}

// certBrowser is a browser presenting cc (none when cc is nil).
func (me *mtlsEnv) certBrowser(t *testing.T, cc *clientCert) *browser {
	b := me.browser(t)
	if cc != nil {
		tr := me.srv.Client().Transport.(*http.Transport).Clone()
		tr.TLSClientConfig.Certificates = []tls.Certificate{cc.tls}
		b.c.Transport = tr
	}
	return b
}

// mtlsLogin opens the login page of an authorization for pt in b and
// follows it to GET /login/mtls.
func (me *mtlsEnv) mtlsLogin(t *testing.T, b *browser, u string) *page {
	t.Helper()
	lp := b.get(u)
	id := lp.url.Query().Get("login")
	if lp.status != http.StatusOK || id == "" {
		t.Fatalf("expected the login page, got %d %s", lp.status, lp.url)
	}
	return b.get(me.issuer + pathMTLSLogin + "?" + url.Values{"login": {id}}.Encode())
}

func TestMTLSLogin(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		me := newMTLSEnv(t, db)
		pt := me.portal(portalA)
		good := me.intlCitizenCert(t)
		revoked := me.intlCitizenCert(t)
		if _, err := me.ca.SetStatus(t.Context(), ca.StatusChange{Serial: revoked.serial, To: ca.StatusRevoked,
			Reason: ca.ReasonKeyCompromise, Actor: "officer:test"}); err != nil {
			t.Fatalf("revoke: %v", err)
		}
		me.clk.Advance(time.Second)
		zhang, err := me.p.Users().ByUsername(t.Context(), testUser)
		if err != nil {
			t.Fatal(err)
		}
		failures := func() int { return len(me.audit.find("authn.login.failure")) }

		tests := []struct {
			name string
			run  func(t *testing.T)
		}{
			{"ok/intl-citizen-cert-gives-loa4", func(t *testing.T) {
				b := me.certBrowser(t, good)
				f, u := pt.start()
				tk := f.finish(t, me.mtlsLogin(t, b, u))
				checkCertLogin(t, me.env, me.audit, tk, good.serial, zhang.ID)
				// The session is reused: the next authorization needs no login.
				f, u = pt.start()
				f.finish(t, b.get(u))
			}},
			{"ok/hardware-login-cert-gives-hwk", func(t *testing.T) {
				b := me.certBrowser(t, me.intlCitizenCertKey(t, true))
				f, u := pt.start()
				tk := f.finish(t, me.mtlsLogin(t, b, u))
				if c := idClaims(t, tk.id); c.ACR != ACRCertificate || !slices.Equal(c.AMR, []string{"hwk"}) {
					t.Fatalf("acr %s amr %v, want hwk", c.ACR, c.AMR)
				}
			}},
			{"fail/no-client-cert-401", func(t *testing.T) {
				b := me.certBrowser(t, nil)
				_, u := pt.start()
				p := me.mtlsLogin(t, b, u)
				if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "证书") {
					t.Fatalf("got %d:\n%s", p.status, p.body)
				}
			}},
			{"fail/revoked-cert-refused", func(t *testing.T) {
				n := failures()
				b := me.certBrowser(t, revoked)
				_, u := pt.start()
				p := me.mtlsLogin(t, b, u)
				if p.status != http.StatusForbidden || !strings.Contains(p.body, "吊销") {
					t.Fatalf("got %d:\n%.2000s", p.status, p.body)
				}
				ev := me.audit.find("authn.login.failure")
				if failures() != n+1 || ev[len(ev)-1].CertSerial != revoked.serial {
					t.Fatalf("refusal not audited: %+v", ev)
				}
				if _, u := pt.start(); b.get(u).status != http.StatusOK {
					t.Fatal("a refused login must not start a session")
				}
			}},
			{"fail/cert-trusted-by-listener-not-by-provider", func(t *testing.T) {
				b := me.certBrowser(t, me.rogueCert(t))
				_, u := pt.start()
				p := me.mtlsLogin(t, b, u)
				if p.status != http.StatusForbidden || !strings.Contains(p.body, "不受信任") {
					t.Fatalf("got %d:\n%.2000s", p.status, p.body)
				}
			}},
			{"fail/login-of-another-browser", func(t *testing.T) {
				_, u := pt.start()
				id := me.certBrowser(t, nil).get(u).url.Query().Get("login")
				p := me.certBrowser(t, good).get(me.issuer + pathMTLSLogin + "?login=" + url.QueryEscape(id))
				if p.status != http.StatusBadRequest {
					t.Fatalf("got %d:\n%.2000s", p.status, p.body)
				}
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, tt.run)
		}
	})
}
