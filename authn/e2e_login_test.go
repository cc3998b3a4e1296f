package authn

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
	"golang.org/x/oauth2"

	"github.com/tongxing/tongxing/authn/certlogin"
	"github.com/tongxing/tongxing/authn/totp"
	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/catest"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// Enterprise of the e-cert tests: the published GB 32100 example code.
const (
	testUSCC    = "91350100M000100Y43"
	testOrgName = "福州示例科技有限公司"
	testAgent   = "王五"
)

// memAuditor keeps audit events in memory.
type memAuditor struct {
	mu     sync.Mutex
	events []AuditEvent
}

func (m *memAuditor) Record(_ context.Context, ev AuditEvent) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, ev)
	return nil
}

// find returns the events with action, newest last.
func (m *memAuditor) find(action string) []AuditEvent {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []AuditEvent
	for _, ev := range m.events {
		if ev.Action == action {
			out = append(out, ev)
		}
	}
	return out
}

// actions returns action/outcome of every event, oldest first.
func (m *memAuditor) actions() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, ev := range m.events {
		out = append(out, ev.Action+"/"+ev.Outcome)
	}
	return out
}

// checkCertLogin checks a certificate login of a software-key certificate
// with serial to account userID: loa:4, amr swk (nobody vetted a hardware
// key), the account's subject for portalA, and the audited login naming
// the certificate.
func checkCertLogin(t *testing.T, e *env, audit *memAuditor, tk *tokens, serial, userID string) {
	t.Helper()
	c := idClaims(t, tk.id)
	if c.ACR != ACRCertificate || !slices.Equal(c.AMR, []string{"swk"}) {
		t.Fatalf("acr %s amr %v, want swk: nobody vetted a hardware key", c.ACR, c.AMR)
	}
	if tk.id.Subject != e.p.subject(mustClient(t, e, portalA), userID) {
		t.Fatal("the certificate did not log in to the account of the same ID number")
	}
	ev := audit.find("authn.login")
	if len(ev) == 0 || ev[len(ev)-1].CertSerial != serial || ev[len(ev)-1].Subject != userID {
		t.Fatalf("certificate login not audited with its serial: %+v", ev)
	}
}

// certEnv is an env with certificate login against a real Tongxing CA on
// the same database.
type certEnv struct {
	*env
	ca    *ca.Authority
	audit *memAuditor
}

func newCertEnv(t *testing.T, db *store.DB) *certEnv {
	t.Helper()
	var e *env
	clock := func() time.Time {
		if e == nil {
			return time.Now()
		}
		return e.clk.Now()
	}
	f := catest.New(t, catest.OnDB(db), catest.WithCA(ca.WithPseudonymKey(testPseudonymKey), ca.WithPublicURL("https://pki.tongxing.test"),
		ca.WithClock(clock)))
	a := f.CA
	roots := smx509.NewCertPool()
	for _, c := range f.CAs {
		if c.Root {
			roots.AddCert(c.Cert)
		}
	}
	au := &memAuditor{}
	e = newEnv(t, db, WithCertLogin(roots, a), WithAuditor(au), WithKeyStorage(ca.DefaultKeyStoragePolicies()))
	return &certEnv{env: e, ca: a, audit: au}
}

// loginCert is an issued certificate with its key and chain PEM.
type loginCert struct {
	key    crypto.Signer
	chain  []byte
	serial string
}

// issue has Tongxing's CA issue a certificate of profile for subj, with
// the software key-storage policy.
func (ce *certEnv) issue(t *testing.T, profile string, subj ca.Subject) *loginCert {
	return ce.issueKey(t, profile, subj, false)
}

// issueKey is issue with the hardware key-storage policy when hardware
// is set (the registration officer vetted a hardware key).
func (ce *certEnv) issueKey(t *testing.T, profile string, subj ca.Subject, hardware bool) *loginCert {
	t.Helper()
	key, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := ce.ca.Issue(t.Context(), ca.IssueRequest{PublicKey: key.Public(), Profile: profile, Subject: subj,
		RequestedBy: "officer:test", HardwareKey: hardware})
	if err != nil {
		t.Fatalf("Issue(%s): %v", profile, err)
	}
	chain := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: iss.Certificate.Raw})
	for _, c := range iss.Chain {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return &loginCert{key: key, chain: chain, serial: iss.Record.Serial}
}

func (ce *certEnv) citizenCert(t *testing.T) *loginCert {
	return ce.issue(t, "citizen", ca.Subject{Name: "张三", IDNumber: testCitizenID})
}

func (ce *certEnv) enterpriseCert(t *testing.T) *loginCert {
	return ce.issue(t, "enterprise-sign", ca.Subject{Name: testAgent, Organization: testOrgName, USCC: testUSCC})
}

func (ce *certEnv) revoke(t *testing.T, lc *loginCert) {
	t.Helper()
	if _, err := ce.ca.SetStatus(t.Context(), ca.StatusChange{Serial: lc.serial, To: ca.StatusRevoked, Reason: ca.ReasonKeyCompromise, Actor: "officer:test"}); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	ce.clk.Advance(time.Second)
}

var (
	challengeRE = regexp.MustCompile(`name="challenge_id" value="([A-Za-z0-9_-]{43})"`)
	hiddenRE    = func(name string) *regexp.Regexp {
		return regexp.MustCompile(`name="` + name + `" value="([^"]*)"`)
	}
)

// certForm returns the certificate-login form fields of a login page,
// signed with lc (or with the fields of challenge id when reuse is set).
func (ce *certEnv) certForm(t *testing.T, p *page, lc *loginCert) url.Values {
	t.Helper()
	m := challengeRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no certificate login on the page (%d):\n%.3000s", p.status, p.body)
	}
	ch, err := ce.p.cert.loadCertChallenge(t.Context(), m[1])
	if err != nil || ch == nil {
		t.Fatalf("challenge %s not stored: %v", m[1], err)
	}
	sig, err := certlogin.Sign(ch, lc.key)
	if err != nil {
		t.Fatal(err)
	}
	v := url.Values{"challenge_id": {m[1]}, "chain": {string(lc.chain)}, "signature": {base64.StdEncoding.EncodeToString(sig)}}
	for _, f := range []string{"login", "csrf_token", "ui_locales"} {
		if mm := hiddenRE(f).FindStringSubmatch(p.body); mm != nil {
			v.Set(f, mm[1])
		}
	}
	return v
}

// certSignIn logs in by certificate on login page p.
func (ce *certEnv) certSignIn(t *testing.T, b *browser, p *page, lc *loginCert) *page {
	t.Helper()
	return b.post(ce.issuer+pathCertLogin, ce.certForm(t, p, lc))
}

// totpCode is the current code of secret at the env's clock.
func (e *env) totpCode(t *testing.T, secret string) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, e.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// typeCode submits code on the one-time code page p.
func (b *browser) typeCode(p *page, code string) *page {
	b.t.Helper()
	if p.status != http.StatusOK || !strings.Contains(p.body, `name="code"`) {
		b.t.Fatalf("expected the one-time code page, got %d:\n%.3000s", p.status, p.body)
	}
	return b.submit(parseForm(b.t, p.body), map[string]string{"code": code})
}

func TestLoginTOTP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		au := &memAuditor{}
		e := newEnv(t, db, WithAuditor(au))
		u, err := e.p.Users().ByUsername(t.Context(), testUser)
		if err != nil {
			t.Fatal(err)
		}
		key, err := e.p.Users().EnrollTOTP(t.Context(), u.ID, "Tongxing")
		if err != nil {
			t.Fatal(err)
		}
		pt := e.portal(portalA)
		tests := []struct {
			name string
			run  func(t *testing.T)
		}{
			{"ok/password-and-code-give-loa3", func(t *testing.T) {
				e.clk.Advance(time.Minute)
				b := e.browser(t)
				f, au2 := pt.start()
				p := b.login(b.get(au2), testUser, testPassword)
				tk := f.finish(t, b.typeCode(p, e.totpCode(t, key.Secret)))
				c := idClaims(t, tk.id)
				if c.ACR != ACRTOTP || !slices.Equal(c.AMR, []string{"pwd", "otp", "mfa"}) {
					t.Fatalf("acr %s amr %v, want %s [pwd otp mfa]", c.ACR, c.AMR, ACRTOTP)
				}
				ev := au.find("authn.login")
				if len(ev) == 0 || ev[len(ev)-1].Subject != u.ID || !slices.Contains(ev[len(ev)-1].Reasons, "acr "+ACRTOTP) {
					t.Fatalf("login not audited: %+v", ev)
				}
			}},
			{"fail/wrong-code-then-right", func(t *testing.T) {
				e.clk.Advance(time.Minute)
				b := e.browser(t)
				f, au2 := pt.start()
				p := b.login(b.get(au2), testUser, testPassword)
				wrong := wrongCode(t, key.Secret, e.clk.Now())
				bad := b.typeCode(p, wrong)
				if bad.status != http.StatusOK || !strings.Contains(bad.body, "动态验证码错误或已使用") {
					t.Fatalf("wrong code: %d\n%.2000s", bad.status, bad.body)
				}
				fails := au.find("authn.login.failure")
				if len(fails) == 0 || !slices.Contains(fails[len(fails)-1].Reasons, "bad code") || strings.Contains(strings.Join(fails[len(fails)-1].Reasons, " "), wrong) {
					t.Fatalf("failure audit: %+v", fails)
				}
				if c := idClaims(t, f.finish(t, b.typeCode(bad, e.totpCode(t, key.Secret))).id); c.ACR != ACRTOTP {
					t.Fatalf("acr %s", c.ACR)
				}
			}},
			{"fail/replayed-code", func(t *testing.T) {
				e.clk.Advance(time.Minute)
				code := e.totpCode(t, key.Secret)
				b := e.browser(t)
				f, au2 := pt.start()
				f.finish(t, b.typeCode(b.login(b.get(au2), testUser, testPassword), code))
				b2 := e.browser(t)
				_, au3 := pt.start()
				again := b2.typeCode(b2.login(b2.get(au3), testUser, testPassword), code)
				if again.status != http.StatusOK || !strings.Contains(again.body, "动态验证码错误或已使用") {
					t.Fatalf("replayed code accepted: %d\n%.2000s", again.status, again.body)
				}
			}},
			{"ok/step-up-loa2-to-loa3", func(t *testing.T) {
				e.clk.Advance(time.Minute)
				other, err := e.p.Users().ByUsername(t.Context(), otherUser)
				if err != nil {
					t.Fatal(err)
				}
				if err := e.p.Users().RemoveTOTP(t.Context(), other.ID); err != nil {
					t.Fatal(err)
				}
				b := e.browser(t)
				f, au2 := pt.start()
				tk := f.finish(t, b.login(b.get(au2), otherUser, testPassword))
				if c := idClaims(t, tk.id); c.ACR != ACRPassword {
					t.Fatalf("first login acr %s", c.ACR)
				}
				k2, err := e.p.Users().EnrollTOTP(t.Context(), other.ID, "Tongxing")
				if err != nil {
					t.Fatal(err)
				}
				f2, au3 := pt.start(oauth2.SetAuthURLParam("acr_values", ACRTOTP))
				p := b.get(au3)
				if !strings.Contains(p.body, `name="password"`) {
					t.Fatalf("loa:3 asked of a loa:2 session did not show the login page: %d", p.status)
				}
				p = b.typeCode(b.login(p, otherUser, testPassword), e.totpCode(t, k2.Secret))
				if c := idClaims(t, f2.finish(t, p).id); c.ACR != ACRTOTP {
					t.Fatalf("step-up acr %s, want %s", c.ACR, ACRTOTP)
				}
			}},
		}
		for _, tc := range tests {
			t.Run(tc.name, tc.run)
		}
	})
}

func TestCertLogin(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ce := newCertEnv(t, db)
		citizen := ce.citizenCert(t)
		ecert := ce.enterpriseCert(t)
		revoked := ce.citizenCert(t)
		ce.revoke(t, revoked)
		pt := ce.portal(portalA)
		zhang, err := ce.p.Users().ByUsername(t.Context(), testUser)
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name string
			run  func(t *testing.T)
		}{
			{"ok/citizen-card-gives-loa4", func(t *testing.T) {
				b := ce.browser(t)
				f, u := pt.start()
				tk := f.finish(t, ce.certSignIn(t, b, b.get(u), citizen))
				checkCertLogin(t, ce.env, ce.audit, tk, citizen.serial, zhang.ID)
			}},
			{"ok/hardware-key-citizen-card-gives-hwk", func(t *testing.T) {
				hw := ce.issueKey(t, "citizen", ca.Subject{Name: "张三", IDNumber: testCitizenID}, true)
				b := ce.browser(t)
				f, u := pt.start()
				tk := f.finish(t, ce.certSignIn(t, b, b.get(u), hw))
				if c := idClaims(t, tk.id); c.ACR != ACRCertificate || !slices.Equal(c.AMR, []string{"hwk"}) {
					t.Fatalf("acr %s amr %v, want hwk from the hardware key-storage policy", c.ACR, c.AMR)
				}
				ev := ce.audit.find("authn.login")
				if len(ev) == 0 || !slices.Contains(ev[len(ev)-1].Reasons, "amr hwk") {
					t.Fatalf("login audit does not record amr hwk: %+v", ev)
				}
			}},
			{"ok/enterprise-ecert-claims", func(t *testing.T) {
				b := ce.browser(t)
				f, u := pt.start()
				tk := f.finish(t, ce.certSignIn(t, b, b.get(u), ecert))
				c := idClaims(t, tk.id)
				if c.ACR != ACRCertificate {
					t.Fatalf("acr %s", c.ACR)
				}
				if c.OrgName != testOrgName || c.USCC != testUSCC || c.AgentName != testAgent {
					t.Fatalf("ID token legal-person claims: org_name %q uscc %q agent_name %q", c.OrgName, c.USCC, c.AgentName)
				}
				status, info, _ := ce.userinfo(t, "get", tk.tok.AccessToken)
				if status != http.StatusOK || info["org_name"] != testOrgName || info["uscc"] != testUSCC || info["agent_name"] != testAgent {
					t.Fatalf("userinfo %d %v", status, info)
				}
				// The second login finds the same legal-person account.
				b2 := ce.browser(t)
				f2, u2 := pt.start()
				if tk2 := f2.finish(t, ce.certSignIn(t, b2, b2.get(u2), ecert)); tk2.id.Subject != tk.id.Subject {
					t.Fatal("a second e-cert login made another account")
				}
			}},
			{"fail/revoked-certificate", func(t *testing.T) {
				b := ce.browser(t)
				_, u := pt.start()
				p := ce.certSignIn(t, b, b.get(u), revoked)
				if p.status != http.StatusForbidden || !strings.Contains(p.body, "证书已被吊销") || !strings.Contains(p.body, "revoked") {
					t.Fatalf("revoked certificate: %d\n%.3000s", p.status, p.body)
				}
				fails := ce.audit.find("authn.login.failure")
				if len(fails) == 0 || fails[len(fails)-1].CertSerial != revoked.serial {
					t.Fatalf("refusal not audited: %+v", fails)
				}
			}},
			{"fail/challenge-reuse", func(t *testing.T) {
				b := ce.browser(t)
				f, u := pt.start()
				page := b.get(u)
				form := ce.certForm(t, page, citizen)
				f.finish(t, b.post(ce.issuer+pathCertLogin, form))
				b2 := ce.browser(t)
				_, u2 := pt.start()
				page2 := b2.get(u2)
				form2 := ce.certForm(t, page2, citizen)
				for _, k := range []string{"challenge_id", "signature"} {
					form2.Set(k, form.Get(k))
				}
				p := b2.post(ce.issuer+pathCertLogin, form2)
				if p.status != http.StatusBadRequest || !strings.Contains(p.body, "签名内容已过期或已使用") {
					t.Fatalf("reused challenge: %d\n%.3000s", p.status, p.body)
				}
			}},
			{"ok/step-up-loa3-to-loa4", func(t *testing.T) {
				key, err := ce.p.Users().EnrollTOTP(t.Context(), zhang.ID, "Tongxing")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = ce.p.Users().RemoveTOTP(context.Background(), zhang.ID) })
				ce.clk.Advance(time.Minute)
				b := ce.browser(t)
				f, u := pt.start()
				tk := f.finish(t, b.typeCode(b.login(b.get(u), testUser, testPassword), ce.totpCode(t, key.Secret)))
				if c := idClaims(t, tk.id); c.ACR != ACRTOTP {
					t.Fatalf("acr %s", c.ACR)
				}
				f2, u2 := pt.start(oauth2.SetAuthURLParam("acr_values", ACRCertificate))
				p := b.get(u2)
				if p.status != http.StatusOK || !challengeRE.MatchString(p.body) || !strings.Contains(p.body, "该应用要求证书登录") {
					t.Fatalf("loa:4 asked of a loa:3 session did not force certificate login: %d\n%.2000s", p.status, p.body)
				}
				tk2 := f2.finish(t, ce.certSignIn(t, b, p, citizen))
				if c := idClaims(t, tk2.id); c.ACR != ACRCertificate || tk2.id.Subject != tk.id.Subject {
					t.Fatalf("step-up acr %s", c.ACR)
				}
			}},
			{"ok/certlogin-library", func(t *testing.T) {
				jar, err := cookiejar.New(nil)
				if err != nil {
					t.Fatal(err)
				}
				hc := &http.Client{Jar: jar, Transport: ce.srv.Client().Transport}
				if err := CertLogin(t.Context(), hc, ce.issuer+pathCertLogin, citizen.chain, citizen.key); err != nil {
					t.Fatalf("CertLogin: %v", err)
				}
				// The session in the jar satisfies a loa:4 request at once.
				b := ce.browser(t)
				b.c.Jar = jar
				f, u := pt.start(oauth2.SetAuthURLParam("acr_values", ACRCertificate))
				if c := idClaims(t, f.finish(t, b.get(u)).id); c.ACR != ACRCertificate {
					t.Fatalf("acr %s", c.ACR)
				}
			}},
			{"fail/certlogin-library-revoked", func(t *testing.T) {
				jar, _ := cookiejar.New(nil)
				hc := &http.Client{Jar: jar, Transport: ce.srv.Client().Transport}
				err := CertLogin(t.Context(), hc, ce.issuer, revoked.chain, revoked.key)
				var cle *CertLoginError
				if !errors.As(err, &cle) || cle.Code != "certificate_revoked" || cle.Status != http.StatusForbidden || !errors.Is(err, ErrCertLoginRefused) {
					t.Fatalf("CertLogin with a revoked certificate: %v", err)
				}
			}},
			{"fail/certlogin-library-wrong-key", func(t *testing.T) {
				jar, _ := cookiejar.New(nil)
				hc := &http.Client{Jar: jar, Transport: ce.srv.Client().Transport}
				err := CertLogin(t.Context(), hc, ce.issuer, citizen.chain, ecert.key)
				var cle *CertLoginError
				if !errors.As(err, &cle) || cle.Code != "access_denied" {
					t.Fatalf("CertLogin with another key: %v", err)
				}
			}},
			{"fail/certlogin-library-no-jar", func(t *testing.T) {
				if err := CertLogin(t.Context(), ce.srv.Client(), ce.issuer, citizen.chain, citizen.key); err == nil {
					t.Fatal("CertLogin without a cookie jar succeeded")
				}
			}},
		}
		for _, tc := range tests {
			t.Run(tc.name, tc.run)
		}
	})
}

func mustClient(t *testing.T, e *env, id string) *Client {
	t.Helper()
	c, err := e.p.Client(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wrongCode returns a well-formed code that is not the code of secret at
// any step the verifier accepts at.
func wrongCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	near := map[string]bool{}
	for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
		c, err := totp.GenerateCode(secret, at.Add(d))
		if err != nil {
			t.Fatal(err)
		}
		near[c] = true
	}
	for _, c := range []string{"000000", "111111", "222222", "333333"} {
		if !near[c] {
			return c
		}
	}
	t.Fatal("no wrong code found")
	return ""
}

func TestLoginAudit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		au := &memAuditor{}
		e := newEnv(t, db, WithAuditor(au),
			WithThrottle(ThrottlePolicy{Free: 1, Base: time.Minute, Max: time.Hour, Reset: time.Hour}, defaultAddressThrottle))
		pt := e.portal(portalA)
		u, err := e.p.Users().ByUsername(t.Context(), testUser)
		if err != nil {
			t.Fatal(err)
		}
		b := e.browser(t)
		_, start := pt.start()
		p := b.get(start)
		const wrong = "Not-the-password-1"
		tests := []struct {
			name, password string
			status         int
			action, reason string
		}{
			{"fail/bad-password", wrong, http.StatusOK, "authn.login.failure", "bad credentials"},
			{"fail/second-bad-password-locks", wrong, http.StatusOK, "authn.login.failure", "bad credentials"},
			{"fail/locked-even-with-right-password", testPassword, http.StatusTooManyRequests, "authn.login.failure", "locked"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				p = b.login(p, testUser, tc.password)
				if p.status != tc.status {
					t.Fatalf("status %d, want %d", p.status, tc.status)
				}
				ev := au.find(tc.action)
				last := ev[len(ev)-1]
				if last.Subject != u.ID || !slices.Contains(last.Reasons, tc.reason) || last.Outcome != "failure" || last.SourceAddr == "" {
					t.Fatalf("audit event %+v", last)
				}
				for _, ev := range au.events {
					if strings.Contains(strings.Join(ev.Reasons, " ")+ev.Subject, tc.password) {
						t.Fatalf("password in the audit log: %+v", ev)
					}
				}
			})
		}
		t.Run("ok/login-audited", func(t *testing.T) {
			e.clk.Advance(2 * time.Hour)
			b2 := e.browser(t)
			f, start := pt.start()
			f.finish(t, b2.login(b2.get(start), testUser, testPassword))
			ev := au.find("authn.login")
			if len(ev) != 1 || ev[0].Subject != u.ID || ev[0].Outcome != "success" || ev[0].Client != portalA ||
				!slices.Contains(ev[0].Reasons, "acr "+ACRPassword) || !strings.HasPrefix(ev[0].Resource, "authn:session:") {
				t.Fatalf("login audit %+v", ev)
			}
		})
	})
}

// TestEnterpriseAgentOfTheLogin: two agents of one enterprise sign in with
// their e-certs in their own browsers; each one's later ID tokens and
// userinfo name that agent, not whoever of the enterprise signed in last.
func TestEnterpriseAgentOfTheLogin(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ce := newCertEnv(t, db)
		wang := ce.enterpriseCert(t) // agent testAgent
		zhao := ce.issue(t, "enterprise-sign", ca.Subject{Name: "赵六", Organization: testOrgName, USCC: testUSCC})
		pa, pb := ce.portal(portalA), ce.portal(portalB)
		bw := ce.browser(t)
		f, u := pa.start()
		tw := f.finish(t, ce.certSignIn(t, bw, bw.get(u), wang))
		if a := idClaims(t, tw.id).AgentName; a != testAgent {
			t.Fatalf("first login: agent_name %q", a)
		}
		bz := ce.browser(t)
		f, u = pa.start()
		tz := f.finish(t, ce.certSignIn(t, bz, bz.get(u), zhao))
		if a := idClaims(t, tz.id).AgentName; a != "赵六" {
			t.Fatalf("second agent's login: agent_name %q", a)
		}
		// The first agent, in his own session, signs in to another portal.
		f, u = pb.start()
		tb := f.finish(t, bw.get(u))
		if c := idClaims(t, tb.id); c.SID != idClaims(t, tw.id).SID || c.AgentName != testAgent {
			t.Errorf("ID token of %s's session: sid %s (first %s), agent_name %q", testAgent, c.SID, idClaims(t, tw.id).SID, c.AgentName)
		}
		if _, info, _ := ce.userinfo(t, "get", tb.tok.AccessToken); info["agent_name"] != testAgent {
			t.Errorf("userinfo of %s's token names agent_name %v", testAgent, info["agent_name"])
		}
		if _, info, _ := ce.userinfo(t, "get", tz.tok.AccessToken); info["agent_name"] != "赵六" {
			t.Errorf("userinfo of 赵六's token names agent_name %v", info["agent_name"])
		}
	})
}

// A registration officer who knows an officer's ID number makes an
// enrolment code for the citizen profile with it (any name), redeems it
// with a key of their own, and signs in with the certificate: the login
// reaches the password account registered with that ID number, at
// urn:tongxing:loa:4, which the officer console accepts (see console's
// TestConsoleRefusesCertificateSignIn). This test records that half of the
// attack; it is what the console must not trust for officers.
func TestRACertificateReachesAccountOfIDNumber(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ce := newCertEnv(t, db)
		officerAccount, err := ce.p.Users().ByUsername(t.Context(), testUser) // registered with testCitizenID and a password
		if err != nil {
			t.Fatal(err)
		}
		code, _, err := ce.ca.CreateCode(t.Context(), ca.NewCodeRequest{Profile: "citizen",
			Subject: ca.Subject{Name: "Mallory", IDNumber: testCitizenID}, CreatedBy: "officer:ra-1"})
		if err != nil {
			t.Fatal(err)
		}
		key := catest.SM2Key(t)
		iss, err := ce.ca.Enrol(t.Context(), ca.EnrolRequest{CSR: catest.PEMCSR(catest.CSR(t, key)), Code: code})
		if err != nil {
			t.Fatal(err)
		}
		chain := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: iss.Certificate.Raw})
		for _, c := range iss.Chain {
			chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
		}
		lc := &loginCert{key: key, chain: chain, serial: iss.Record.Serial}
		b := ce.browser(t)
		f, u := ce.portal(portalA).start()
		tk := f.finish(t, ce.certSignIn(t, b, b.get(u), lc))
		if idClaims(t, tk.id).ACR != ACRCertificate || tk.id.Subject != ce.p.subject(mustClient(t, ce.env, portalA), officerAccount.ID) {
			t.Fatal("the registration officer's certificate did not reach the account of the ID number")
		}
	})
}
