package authn

import (
	"bytes"
	"context"
	"encoding/base64"
	"html"
	"image/png"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tongxing/tongxing/authn/totp"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

var (
	enrolKeyRE = regexp.MustCompile(`id="totp-key"[^>]*>([A-Z2-7 ]+)<`)
	enrolQRRE  = regexp.MustCompile(`id="totp-qr" src="data:image/png;base64,([^"]+)"`)
)

// enrolPage is the enrolment page with its secret (spaces removed).
type enrolPage struct {
	*page
	secret string
}

func (b *browser) enrolPage(t *testing.T) *enrolPage {
	t.Helper()
	p := b.get(b.e.issuer + pathMeTOTP)
	m := enrolKeyRE.FindStringSubmatch(p.body)
	if p.status != http.StatusOK || m == nil {
		t.Fatalf("expected the enrolment page, got %d:\n%.3000s", p.status, p.body)
	}
	return &enrolPage{page: p, secret: strings.ReplaceAll(m[1], " ", "")}
}

// confirm submits the enrolment form of ep with fill.
func (b *browser) confirm(ep *page, fill map[string]string) *page {
	b.t.Helper()
	return b.submit(parseForm(b.t, ep.body), fill)
}

func TestTOTPEnrolment(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		au := &memAuditor{}
		e := newEnv(t, db, WithAuditor(au))
		ctx := t.Context()
		pt := e.portal(portalA)
		li, err := e.p.Users().ByUsername(ctx, otherUser)
		if err != nil {
			t.Fatal(err)
		}
		has := func() bool {
			ok, err := e.p.Users().HasTOTP(ctx, li.ID)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		lastAudit := func(action string) AuditEvent {
			ev := au.find(action)
			if len(ev) == 0 {
				t.Fatalf("no %s audit entry", action)
			}
			return ev[len(ev)-1]
		}
		// A password session (urn:tongxing:loa:2) of the account without a
		// factor.
		b := e.browser(t)
		f, u := pt.start()
		if c := idClaims(t, f.finish(t, b.login(b.get(u), otherUser, testPassword)).id); c.ACR != ACRPassword {
			t.Fatalf("acr %s", c.ACR)
		}
		var secret string

		tests := []struct {
			name string
			run  func(t *testing.T)
		}{
			{"fail/no-session-401", func(t *testing.T) {
				p := e.browser(t).get(e.issuer + pathMeTOTP)
				if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "请先登录") || strings.Contains(p.body, "totp-key") {
					t.Fatalf("got %d:\n%.2000s", p.status, p.body)
				}
				if p := e.browser(t).post(e.issuer+pathMeTOTP, nil); p.status != http.StatusUnauthorized {
					t.Fatalf("POST without a session: %d", p.status)
				}
			}},
			{"ok/page-shows-qr-and-key", func(t *testing.T) {
				ep := b.enrolPage(t)
				secret = ep.secret
				csp := ep.header.Get("Content-Security-Policy")
				if !strings.Contains(csp, "img-src 'self' data:") || !strings.Contains(csp, "default-src 'none'") || ep.header.Get("X-Frame-Options") != "DENY" ||
					ep.header.Get("Cache-Control") != "no-store" {
					t.Fatalf("headers %v", ep.header)
				}
				m := enrolQRRE.FindStringSubmatch(ep.body)
				if m == nil {
					t.Fatalf("no inline QR image:\n%.3000s", ep.body)
				}
				raw, err := base64.StdEncoding.DecodeString(html.UnescapeString(m[1]))
				if err != nil {
					t.Fatal(err)
				}
				if img, err := png.Decode(bytes.NewReader(raw)); err != nil || img.Bounds().Dx() < 21*4 { // at least version 1 at 4 pixels a module
					t.Fatalf("QR image: %v", err)
				}
				f := parseForm(t, ep.body)
				if f.fields.Get("csrf_token") == "" || f.inputs["password"] == nil || f.inputs["code"] == nil || f.labels["password"] == "" {
					t.Fatalf("form %+v", f)
				}
				if strings.Contains(ep.body, "http://") || strings.Contains(ep.body, "https://") {
					t.Fatalf("the page loads something from elsewhere:\n%.3000s", ep.body)
				}
				if again := b.enrolPage(t); again.secret != secret {
					t.Fatal("showing the page again from the same session changed the secret")
				}
				if en := b.do(mustRequest(t, e.issuer+pathMeTOTP), "en"); !strings.Contains(en.body, "Turn on one-time codes") {
					t.Fatalf("English page:\n%.2000s", en.body)
				}
				if has() {
					t.Fatal("showing the page enrolled the factor")
				}
			}},
			{"fail/wrong-code", func(t *testing.T) {
				ep := b.enrolPage(t)
				p := b.confirm(ep.page, map[string]string{"password": testPassword, "code": wrongCode(t, secret, e.clk.Now())})
				if p.status != http.StatusOK || !strings.Contains(p.body, "动态验证码错误或已使用") || has() {
					t.Fatalf("wrong code: %d %v\n%.2000s", p.status, has(), p.body)
				}
				if ev := lastAudit("authn.totp.enrol.failure"); ev.Subject != li.ID || !slices.Contains(ev.Reasons, "bad code") {
					t.Fatalf("failure audit %+v", ev)
				}
			}},
			{"fail/password-missing-or-wrong", func(t *testing.T) {
				ep := b.enrolPage(t)
				p := b.confirm(ep.page, map[string]string{"code": e.totpCode(t, secret)})
				if p.status != http.StatusBadRequest || !strings.Contains(p.body, "请填写当前密码") || has() {
					t.Fatalf("no password: %d\n%.2000s", p.status, p.body)
				}
				p = b.confirm(ep.page, map[string]string{"password": "not the password", "code": e.totpCode(t, secret)})
				if !strings.Contains(p.body, "密码错误") || has() {
					t.Fatalf("wrong password: %d\n%.2000s", p.status, p.body)
				}
				if ev := lastAudit("authn.totp.enrol.failure"); !slices.Contains(ev.Reasons, "bad password") {
					t.Fatalf("failure audit %+v", ev)
				}
			}},
			{"fail/wrong-csrf-token", func(t *testing.T) {
				ep := b.enrolPage(t)
				f := parseForm(t, ep.body)
				f.fields.Set("csrf_token", "forged")
				if p := b.submit(f, map[string]string{"password": testPassword, "code": e.totpCode(t, secret)}); p.status != http.StatusForbidden || has() {
					t.Fatalf("forged CSRF token: %d", p.status)
				}
			}},
			{"ok/confirm-enrols", func(t *testing.T) {
				ep := b.enrolPage(t)
				code := e.totpCode(t, secret)
				p := b.confirm(ep.page, map[string]string{"password": testPassword, "code": code})
				if p.status != http.StatusOK || !strings.Contains(p.body, "动态验证码已启用") || !has() {
					t.Fatalf("confirm: %d %v\n%.2000s", p.status, has(), p.body)
				}
				if ev := lastAudit("authn.totp.enrol"); ev.Subject != li.ID || ev.Outcome != "success" || strings.Contains(strings.Join(ev.Reasons, " "), code) {
					t.Fatalf("enrolment audit %+v", ev)
				}
				// The code that confirmed the factor cannot log in.
				b2 := e.browser(t)
				_, u := pt.start()
				if again := b2.typeCode(b2.login(b2.get(u), otherUser, testPassword), code); !strings.Contains(again.body, "动态验证码错误或已使用") {
					t.Fatalf("the enrolment code logged in: %d\n%.2000s", again.status, again.body)
				}
			}},
			{"ok/password-login-now-reaches-loa3", func(t *testing.T) {
				e.clk.Advance(time.Minute)
				b3 := e.browser(t)
				f, u := pt.start(oauth2.SetAuthURLParam("acr_values", ACRTOTP))
				c := idClaims(t, f.finish(t, b3.typeCode(b3.login(b3.get(u), otherUser, testPassword), e.totpCode(t, secret))).id)
				if c.ACR != ACRTOTP || !slices.Equal(c.AMR, []string{"pwd", "otp", "mfa"}) {
					t.Fatalf("acr %s amr %v", c.ACR, c.AMR)
				}
			}},
			{"fail/password-session-cannot-replace", func(t *testing.T) {
				p := b.get(e.issuer + pathMeTOTP)
				if p.status != http.StatusForbidden || !strings.Contains(p.body, "您已启用动态验证码") || strings.Contains(p.body, "totp-key") {
					t.Fatalf("loa:2 session replacing the factor: %d\n%.2000s", p.status, p.body)
				}
			}},
			{"ok/loa3-session-replaces-without-password", func(t *testing.T) {
				e.clk.Advance(time.Minute)
				b4 := e.browser(t)
				f, u := pt.start()
				f.finish(t, b4.typeCode(b4.login(b4.get(u), otherUser, testPassword), e.totpCode(t, secret)))
				ep := b4.enrolPage(t)
				if ep.secret == secret || !strings.Contains(ep.body, "新的密钥将取代原有密钥") || strings.Contains(ep.body, `name="password"`) {
					t.Fatalf("replacement page:\n%.3000s", ep.body)
				}
				if p := b4.confirm(ep.page, map[string]string{"code": e.totpCode(t, ep.secret)}); !strings.Contains(p.body, "动态验证码已启用") {
					t.Fatalf("replace: %d\n%.2000s", p.status, p.body)
				}
				if ev := lastAudit("authn.totp.enrol"); !slices.Contains(ev.Reasons, "replaced the earlier factor") {
					t.Fatalf("audit %+v", ev)
				}
				e.clk.Advance(time.Minute)
				b5 := e.browser(t)
				_, u = pt.start()
				if p := b5.typeCode(b5.login(b5.get(u), otherUser, testPassword), e.totpCode(t, secret)); !strings.Contains(p.body, "动态验证码错误或已使用") {
					t.Fatalf("the replaced secret still logs in: %d", p.status)
				}
				secret = ep.secret
			}},
			{"fail/secret-shown-to-another-session", func(t *testing.T) {
				zhang := e.browser(t)
				zhang.signIn(t, pt)
				first := zhang.enrolPage(t)
				other := e.browser(t)
				other.signIn(t, pt)
				second := other.enrolPage(t)
				if first.secret == second.secret {
					t.Fatal("two sessions were shown the same secret")
				}
				p := zhang.confirm(first.page, map[string]string{"password": testPassword, "code": e.totpCode(t, first.secret)})
				if p.status != http.StatusBadRequest || !strings.Contains(p.body, "已失效") {
					t.Fatalf("confirming a secret replaced by another session: %d\n%.2000s", p.status, p.body)
				}
			}},
			{"fail/expired", func(t *testing.T) {
				zhang := e.browser(t)
				zhang.signIn(t, pt)
				ep := zhang.enrolPage(t)
				e.clk.Advance(totpEnrolTTL + time.Second)
				p := zhang.confirm(ep.page, map[string]string{"password": testPassword, "code": e.totpCode(t, ep.secret)})
				if p.status != http.StatusBadRequest || !strings.Contains(p.body, "已失效") {
					t.Fatalf("expired enrolment: %d\n%.2000s", p.status, p.body)
				}
				if _, err := e.p.Purge(ctx); err != nil {
					t.Fatal(err)
				}
				var n int
				if err := db.QueryRow(ctx, "SELECT COUNT(*) FROM authn_totp_enrolments").Scan(&n); err != nil || n != 0 {
					t.Fatalf("expired enrolments left after Purge: %d %v", n, err)
				}
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, tt.run)
		}
	})
}

func mustRequest(t *testing.T, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// FuzzTOTPEnrolForm posts arbitrary form bodies to POST /me/totp with a
// live password session and a pending secret ("CSRF" in the body stands
// for the session's real CSRF token): never a 5xx, always an HTML page,
// and no factor unless a code of the pending secret was sent.
func FuzzTOTPEnrolForm(f *testing.F) {
	f.Add("csrf_token=CSRF&password=correct+horse+battery+staple&code=123456")
	f.Add("csrf_token=CSRF&code=000000&code=111111")
	f.Add("csrf_token=CSRF&csrf_token=CSRF&password=x&code=%00%01")
	f.Add("csrf_token=CSRF&password=" + strings.Repeat("p", 2000) + "&code=" + strings.Repeat("9", 40))
	f.Add("%zz=1&ui_locales=en")
	db := storetest.SQLite(f)
	clk := newClock()
	lax := ThrottlePolicy{Free: 1 << 30, Base: time.Second, Max: time.Second, Reset: time.Hour}
	p := newTestProvider(f, db, clk, WithThrottle(lax, lax))
	ctx := context.Background()
	u, err := p.users.AddUser(ctx, NewUser{Username: "li", Password: "correct horse battery staple"})
	if err != nil {
		f.Fatal(err)
	}
	rec := httptest.NewRecorder()
	if _, err := p.sess.startSession(ctx, rec, httptest.NewRequest("GET", "/", nil), u, ACRPassword, []string{amrPassword}); err != nil {
		f.Fatal(err)
	}
	cookie := rec.Result().Cookies()[0]
	mux := http.NewServeMux()
	p.Routes(mux)
	get := httptest.NewRequest("GET", pathMeTOTP, nil)
	get.AddCookie(cookie)
	page := httptest.NewRecorder()
	mux.ServeHTTP(page, get)
	m := enrolKeyRE.FindStringSubmatch(page.Body.String())
	if page.Code != http.StatusOK || m == nil {
		f.Fatalf("enrolment page: %d", page.Code)
	}
	secret := strings.ReplaceAll(m[1], " ", "")
	csrf := meCSRF(cookie.Value)
	f.Fuzz(func(t *testing.T, body string) {
		body = strings.ReplaceAll(body, "CSRF", csrf)
		req := httptest.NewRequest("POST", pathMeTOTP, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(cookie)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code >= 500 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
			t.Fatalf("POST %q: %d %s", body, rec.Code, rec.Header().Get("Content-Type"))
		}
		if ok, _ := p.users.HasTOTP(ctx, u.ID); ok {
			code, _ := totp.GenerateCode(secret, clk.Now())
			if !strings.Contains(body, code) {
				t.Fatalf("POST %q enrolled the factor without its code", body)
			}
			_ = p.users.RemoveTOTP(ctx, u.ID)
			mux.ServeHTTP(httptest.NewRecorder(), get)
		}
	})
}
