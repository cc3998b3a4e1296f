package authn

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/net/html"
	"golang.org/x/oauth2"

	"github.com/tongxing/tongxing/authn/sm2jws"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// env is a provider behind an httptest TLS server, with portals and a
// citizen account.
type env struct {
	t      *testing.T
	db     *store.DB
	clk    *testClock
	p      *Provider
	srv    *httptest.Server
	issuer string
	ctx    context.Context // carries the TLS client for oauth2 and go-oidc
	op     *oidc.Provider
	secret map[string]string
}

const (
	testUser     = "zhangsan"
	testPassword = "Wo-de-mi-ma-2026"
	otherUser    = "lisi"
)

// portal client IDs.
const (
	portalA   = "portal-a"   // client_secret_basic, RS256, pairwise
	portalB   = "portal-b"   // client_secret_post, ES256, pairwise, another host
	portalSM2 = "portal-sm2" // SM2 ID tokens
	portalSPA = "portal-spa" // public client (PKCE required)
	portalPub = "portal-pub" // public subject type
)

func redirectOf(id string) string { return "https://" + id + ".gov.test/callback" }

func newEnv(t *testing.T, db *store.DB, opts ...Option) *env {
	t.Helper()
	e := &env{t: t, db: db, clk: newClock(), secret: map[string]string{}}
	mux := http.NewServeMux()
	e.srv = httptest.NewUnstartedServer(mux)
	e.srv.StartTLS()
	t.Cleanup(e.srv.Close)
	e.issuer = e.srv.URL
	var clients []ClientConfig
	add := func(c ClientConfig) {
		c.Name = "门户 " + c.ID
		c.Department = "dept:civil-affairs"
		c.RedirectURIs = []string{redirectOf(c.ID)}
		if c.TokenEndpointAuthMethod != AuthNone {
			var h string
			e.secret[c.ID], h = GenerateClientSecret()
			c.SecretHash = h
		}
		clients = append(clients, c)
	}
	add(ClientConfig{ID: portalA})
	add(ClientConfig{ID: portalB, TokenEndpointAuthMethod: AuthClientSecretPost, IDTokenSignedResponseAlg: AlgES256})
	add(ClientConfig{ID: portalSM2, IDTokenSignedResponseAlg: AlgSM2})
	add(ClientConfig{ID: portalSPA, TokenEndpointAuthMethod: AuthNone})
	add(ClientConfig{ID: portalPub, SubjectType: SubjectPublic})
	base := []Option{
		WithIssuer(e.issuer), WithClients(clients...), WithKeySealer(testSealer(t, testPassphrase)),
		WithPseudonymKey(testPseudonymKey), WithClock(e.clk.Now), WithLogger(discardLogger()),
	}
	p, err := New(t.Context(), db, append(base, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.p = p
	p.Routes(mux)
	for _, u := range []NewUser{
		{Username: testUser, Password: testPassword, Name: "张三", Email: "zhangsan@example.cn", EmailVerified: true,
			Phone: "+86 138 0000 0000", Address: Address{Locality: "北京市", StreetAddress: "东城区1号", Country: "CN"}, CitizenID: testCitizenID},
		{Username: otherUser, Password: testPassword, Name: "李四"},
	} {
		if _, err := p.Users().AddUser(t.Context(), u); err != nil {
			t.Fatalf("AddUser: %v", err)
		}
	}
	e.ctx = oidc.ClientContext(t.Context(), e.srv.Client())
	if e.op, err = oidc.NewProvider(e.ctx, e.issuer); err != nil {
		t.Fatalf("discovery with go-oidc: %v", err)
	}
	return e
}

// portal is a relying party: golang.org/x/oauth2 plus a go-oidc verifier.
type portal struct {
	e        *env
	id       string
	cfg      oauth2.Config
	verifier *oidc.IDTokenVerifier
	alg      string
}

func (e *env) portal(id string) *portal {
	c, err := e.p.Client(e.t.Context(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	ep := e.op.Endpoint()
	switch c.TokenEndpointAuthMethod {
	case AuthClientSecretBasic:
		ep.AuthStyle = oauth2.AuthStyleInHeader
	default:
		ep.AuthStyle = oauth2.AuthStyleInParams
	}
	pt := &portal{e: e, id: id, alg: c.IDTokenSignedResponseAlg, cfg: oauth2.Config{
		ClientID: id, ClientSecret: e.secret[id], Endpoint: ep, RedirectURL: redirectOf(id),
		Scopes: []string{oidc.ScopeOpenID, "profile", "email", "address", "phone"},
	}}
	if pt.alg == AlgSM2 {
		keys, err := sm2jws.NewRemoteKeySetFromProvider(e.ctx, e.op)
		if err != nil {
			e.t.Fatal(err)
		}
		pt.verifier = oidc.NewVerifier(e.issuer, keys, &oidc.Config{ClientID: id, SupportedSigningAlgs: []string{sm2jws.Alg}, Now: e.clk.Now})
	} else {
		pt.verifier = e.op.Verifier(&oidc.Config{ClientID: id, Now: e.clk.Now})
	}
	return pt
}

// browser is a citizen's browser: a cookie jar, redirects followed only
// within the provider.
type browser struct {
	e *env
	t *testing.T
	c *http.Client
}

func (e *env) browser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	host := e.srv.Listener.Addr().String()
	return &browser{e: e, t: t, c: &http.Client{
		Jar: jar, Transport: e.srv.Client().Transport,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Host != host {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}}
}

// page is a response with its body read.
type page struct {
	status int
	header http.Header
	body   string
	url    *url.URL
}

// do sends req with Accept-Language (zh-CN unless given) and reads the
// response.
func (b *browser) do(req *http.Request, acceptLanguage ...string) *page {
	b.t.Helper()
	req.Header.Set("Accept-Language", "zh-CN,zh;q=0.9")
	if len(acceptLanguage) > 0 {
		req.Header.Set("Accept-Language", acceptLanguage[0])
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return &page{status: resp.StatusCode, header: resp.Header, body: string(body), url: resp.Request.URL}
}

func (b *browser) get(u string) *page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

func (b *browser) post(u string, form url.Values) *page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// form is an HTML form parsed from a page.
type form struct {
	action string
	fields url.Values
	inputs map[string]map[string]string // input name -> attributes
	labels map[string]string            // for= -> label text
}

// parseForm returns the first form of the page, with its hidden and text
// fields and their labels.
func parseForm(t *testing.T, body string) *form {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse HTML: %v", err)
	}
	var f *form
	labels := map[string]string{}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			attrs := map[string]string{}
			for _, a := range n.Attr {
				attrs[a.Key] = a.Val
			}
			switch n.Data {
			case "form":
				if f == nil {
					f = &form{action: attrs["action"], fields: url.Values{}, inputs: map[string]map[string]string{}}
				}
			case "input":
				if f != nil && attrs["name"] != "" {
					f.inputs[attrs["name"]] = attrs
					f.fields.Set(attrs["name"], attrs["value"])
				}
			case "label":
				var text strings.Builder
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					if c.Type == html.TextNode {
						text.WriteString(c.Data)
					}
				}
				labels[attrs["for"]] = text.String()
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if f == nil {
		t.Fatalf("no form in page:\n%s", body)
	}
	f.labels = labels
	return f
}

// submit posts f as the user filled it in.
func (b *browser) submit(f *form, fill map[string]string) *page {
	b.t.Helper()
	v := url.Values{}
	for k := range f.fields {
		v.Set(k, f.fields.Get(k))
	}
	for k, x := range fill {
		v.Set(k, x)
	}
	u, err := url.Parse(b.e.issuer)
	if err != nil {
		b.t.Fatal(err)
	}
	ref, err := url.Parse(f.action)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.post(u.ResolveReference(ref).String(), v)
}

// login types the password into the login page p.
func (b *browser) login(p *page, username, password string) *page {
	b.t.Helper()
	if p.status != http.StatusOK || !strings.Contains(p.body, `name="password"`) {
		b.t.Fatalf("expected the login page, got %d:\n%s", p.status, p.body)
	}
	return b.submit(parseForm(b.t, p.body), map[string]string{"username": username, "password": password})
}

// callback returns the query of a redirect to the portal.
func callback(t *testing.T, p *page, pt *portal) url.Values {
	t.Helper()
	if p.status != http.StatusFound && p.status != http.StatusSeeOther {
		t.Fatalf("expected a redirect to the portal, got %d:\n%.2000s", p.status, p.body)
	}
	loc, err := url.Parse(p.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != pt.cfg.RedirectURL {
		t.Fatalf("redirected to %s, want %s", got, pt.cfg.RedirectURL)
	}
	return loc.Query()
}

// flow is one authorization as a portal starts it.
type flow struct {
	pt       *portal
	state    string
	nonce    string
	verifier string
}

func (pt *portal) start(extra ...oauth2.AuthCodeOption) (*flow, string) {
	f := &flow{pt: pt, state: randomToken(12), nonce: randomToken(12), verifier: oauth2.GenerateVerifier()}
	opts := append([]oauth2.AuthCodeOption{oidc.Nonce(f.nonce), oauth2.S256ChallengeOption(f.verifier)}, extra...)
	return f, pt.cfg.AuthCodeURL(f.state, opts...)
}

// tokens are what a portal holds after an exchange.
type tokens struct {
	tok *oauth2.Token
	raw string
	id  *oidc.IDToken
}

// finish checks the callback and exchanges the code, verifying the ID
// token with go-oidc.
func (f *flow) finish(t *testing.T, p *page) *tokens {
	t.Helper()
	q := callback(t, p, f.pt)
	if q.Get("error") != "" {
		t.Fatalf("authorization error %s: %s", q.Get("error"), q.Get("error_description"))
	}
	if q.Get("state") != f.state {
		t.Fatalf("state %q, want %q", q.Get("state"), f.state)
	}
	if q.Get("iss") != f.pt.e.issuer {
		t.Fatalf("iss %q, want %q", q.Get("iss"), f.pt.e.issuer)
	}
	return f.pt.exchange(t, q.Get("code"), f.verifier, f.nonce)
}

func (pt *portal) exchange(t *testing.T, code, verifier, nonce string) *tokens {
	t.Helper()
	tok, err := pt.cfg.Exchange(pt.e.ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return pt.verify(t, tok, nonce)
}

func (pt *portal) verify(t *testing.T, tok *oauth2.Token, nonce string) *tokens {
	t.Helper()
	raw, ok := tok.Extra("id_token").(string)
	if !ok {
		t.Fatalf("no id_token in the token response")
	}
	id, err := pt.verifier.Verify(pt.e.ctx, raw)
	if err != nil {
		t.Fatalf("go-oidc Verify (%s): %v", pt.alg, err)
	}
	if id.Nonce != nonce {
		t.Fatalf("nonce %q, want %q", id.Nonce, nonce)
	}
	if pt.alg == AlgSM2 {
		err = sm2jws.VerifyAccessTokenHash(id, tok.AccessToken)
	} else {
		err = id.VerifyAccessToken(tok.AccessToken)
	}
	if err != nil {
		t.Fatalf("at_hash: %v", err)
	}
	return &tokens{tok: tok, raw: raw, id: id}
}

// idClaims decodes the extra ID token claims.
func idClaims(t *testing.T, id *oidc.IDToken) IDTokenClaims {
	t.Helper()
	var c IDTokenClaims
	if err := id.Claims(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

// signIn runs a full login for pt in b and returns the verified tokens.
func (b *browser) signIn(t *testing.T, pt *portal, extra ...oauth2.AuthCodeOption) *tokens {
	t.Helper()
	f, u := pt.start(extra...)
	return f.finish(t, b.login(b.get(u), testUser, testPassword))
}

// userinfo calls the userinfo endpoint in one of three ways.
func (e *env) userinfo(t *testing.T, how, token string) (int, map[string]any, http.Header) {
	t.Helper()
	u := e.issuer + pathUserinfo
	var req *http.Request
	var err error
	switch how {
	case "get":
		req, err = http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Authorization", "Bearer "+token)
	case "post-header":
		req, err = http.NewRequest(http.MethodPost, u, nil)
		req.Header.Set("Authorization", "Bearer "+token)
	case "post-body":
		req, err = http.NewRequest(http.MethodPost, u, strings.NewReader(url.Values{"access_token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("userinfo body: %v", err)
	}
	return resp.StatusCode, m, resp.Header
}

func oauthCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

// TestEndToEnd drives the provider the way a portal (golang.org/x/oauth2
// and go-oidc) and a citizen's browser do.
func TestEndToEnd(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		user, err := e.p.Users().ByUsername(t.Context(), testUser)
		if err != nil {
			t.Fatal(err)
		}

		t.Run("ok/code-pkce-rs256-userinfo-refresh", func(t *testing.T) {
			b, pt := e.browser(t), e.portal(portalA)
			tk := b.signIn(t, pt)
			c := idClaims(t, tk.id)
			if c.ACR != ACRPassword || !slices.Equal(c.AMR, []string{"pwd"}) || c.SID == "" || c.AuthTime == 0 || c.AZP != portalA {
				t.Errorf("ID token claims: %+v", c)
			}
			if tk.id.Subject == user.ID {
				t.Errorf("pairwise client got the account ID as sub")
			}
			info, err := e.op.UserInfo(e.ctx, oauth2.StaticTokenSource(tk.tok))
			if err != nil {
				t.Fatalf("go-oidc UserInfo: %v", err)
			}
			if info.Subject != tk.id.Subject || info.Email != "zhangsan@example.cn" || !info.EmailVerified {
				t.Errorf("userinfo: %+v", info)
			}
			// Refresh with rotation: a new refresh token, a new ID token.
			e.clk.Advance(time.Minute)
			old := *tk.tok
			old.Expiry = time.Now().Add(-time.Hour) // oauth2 uses the real clock
			nt, err := pt.cfg.TokenSource(e.ctx, &old).Token()
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			if nt.RefreshToken == "" || nt.RefreshToken == old.RefreshToken || nt.AccessToken == old.AccessToken {
				t.Fatalf("refresh did not rotate the tokens")
			}
			rt := pt.verify(t, nt, "")
			if rt.id.Subject != tk.id.Subject || !rt.id.IssuedAt.After(tk.id.IssuedAt) {
				t.Errorf("refreshed ID token: sub %s iat %v", rt.id.Subject, rt.id.IssuedAt)
			}
			if st, _, _ := e.userinfo(t, "get", nt.AccessToken); st != http.StatusOK {
				t.Errorf("userinfo with refreshed token: %d", st)
			}
			// Reuse of the rotated refresh token revokes the family.
			_, err = pt.cfg.TokenSource(e.ctx, &old).Token()
			if oauthCode(err) != "invalid_grant" {
				t.Fatalf("refresh token reuse: %v, want invalid_grant", err)
			}
			again := *nt
			again.Expiry = time.Now().Add(-time.Hour)
			if _, err := pt.cfg.TokenSource(e.ctx, &again).Token(); oauthCode(err) != "invalid_grant" {
				t.Errorf("newest refresh token after reuse: %v, want invalid_grant", err)
			}
			if st, _, h := e.userinfo(t, "get", nt.AccessToken); st != http.StatusUnauthorized || !strings.Contains(h.Get("WWW-Authenticate"), "invalid_token") {
				t.Errorf("access token of a revoked family: %d %q", st, h.Get("WWW-Authenticate"))
			}
		})

		t.Run("ok/sso-second-portal-es256-client-secret-post", func(t *testing.T) {
			b := e.browser(t)
			a := b.signIn(t, e.portal(portalA))
			pb := e.portal(portalB)
			f, u := pb.start()
			bt := f.finish(t, b.get(u)) // no login form
			if tokenAlg(t, bt.raw) != AlgES256 {
				t.Errorf("portal-b ID token alg %s", tokenAlg(t, bt.raw))
			}
			ca, cb := idClaims(t, a.id), idClaims(t, bt.id)
			if ca.SID != cb.SID || ca.AuthTime != cb.AuthTime {
				t.Errorf("second portal got another session: %+v vs %+v", ca, cb)
			}
			if a.id.Subject == bt.id.Subject {
				t.Errorf("pairwise subjects of two sectors are equal")
			}
		})

		t.Run("ok/sm2-id-token", func(t *testing.T) {
			b, pt := e.browser(t), e.portal(portalSM2)
			tk := b.signIn(t, pt)
			if tokenAlg(t, tk.raw) != AlgSM2 {
				t.Fatalf("alg %s, want SM2", tokenAlg(t, tk.raw))
			}
			// The RS256 verifier of the standard jwks_uri cannot verify it.
			if _, err := e.op.Verifier(&oidc.Config{ClientID: portalSM2, Now: e.clk.Now}).Verify(e.ctx, tk.raw); err == nil {
				t.Errorf("SM2 token verified with the standard key set")
			}
			if st, m, _ := e.userinfo(t, "get", tk.tok.AccessToken); st != http.StatusOK || m["sub"] != tk.id.Subject {
				t.Errorf("userinfo: %d %v", st, m)
			}
		})

		t.Run("ok/public-client-and-public-subject", func(t *testing.T) {
			b := e.browser(t)
			spa := e.portal(portalSPA)
			b.signIn(t, spa)
			pub := b.signIn(t, e.portal(portalPub), oauth2.SetAuthURLParam("prompt", "login"))
			if pub.id.Subject != user.ID {
				t.Errorf("public subject %s, want %s", pub.id.Subject, user.ID)
			}
		})

		t.Run("fail/public-client-without-pkce", func(t *testing.T) {
			b, spa := e.browser(t), e.portal(portalSPA)
			q := callback(t, b.get(spa.cfg.AuthCodeURL("st", oidc.Nonce("n"))), spa)
			if q.Get("error") != "invalid_request" || q.Get("state") != "st" {
				t.Errorf("got %v", q)
			}
		})

		t.Run("fail/code-reuse-revokes-tokens", func(t *testing.T) {
			b, pt := e.browser(t), e.portal(portalA)
			f, u := pt.start()
			q := callback(t, b.login(b.get(u), testUser, testPassword), pt)
			tk := pt.exchange(t, q.Get("code"), f.verifier, f.nonce)
			_, err := pt.cfg.Exchange(e.ctx, q.Get("code"), oauth2.VerifierOption(f.verifier))
			if oauthCode(err) != "invalid_grant" {
				t.Fatalf("second exchange: %v", err)
			}
			if st, _, _ := e.userinfo(t, "get", tk.tok.AccessToken); st != http.StatusUnauthorized {
				t.Errorf("access token after code reuse: %d", st)
			}
			old := *tk.tok
			old.Expiry = time.Now().Add(-time.Hour) // oauth2 uses the real clock
			if _, err := pt.cfg.TokenSource(e.ctx, &old).Token(); oauthCode(err) != "invalid_grant" {
				t.Errorf("refresh after code reuse: %v", err)
			}
		})

		t.Run("fail/pkce-verifier-mismatch", func(t *testing.T) {
			b, pt := e.browser(t), e.portal(portalA)
			_, u := pt.start()
			q := callback(t, b.login(b.get(u), testUser, testPassword), pt)
			_, err := pt.cfg.Exchange(e.ctx, q.Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier()))
			if oauthCode(err) != "invalid_grant" {
				t.Errorf("wrong verifier: %v", err)
			}
		})

		t.Run("ok/prompt-none", func(t *testing.T) {
			pt := e.portal(portalA)
			b := e.browser(t)
			f, u := pt.start(oauth2.SetAuthURLParam("prompt", "none"))
			q := callback(t, b.get(u), pt)
			if q.Get("error") != "login_required" || q.Get("state") != f.state {
				t.Fatalf("prompt=none without session: %v", q)
			}
			b.signIn(t, pt)
			f, u = pt.start(oauth2.SetAuthURLParam("prompt", "none"))
			f.finish(t, b.get(u))
		})

		t.Run("ok/prompt-login-forces-login", func(t *testing.T) {
			b, pt := e.browser(t), e.portal(portalA)
			first := b.signIn(t, pt)
			cookie := func() string {
				u, _ := url.Parse(e.issuer)
				for _, c := range b.c.Jar.Cookies(u) {
					if c.Name == sessionCookieName {
						return c.Value
					}
				}
				return ""
			}
			firstCookie := cookie()
			e.clk.Advance(5 * time.Second)
			_, u := pt.start(oauth2.SetAuthURLParam("prompt", "login"))
			p := b.get(u)
			if !strings.Contains(p.body, `name="password"`) {
				t.Fatalf("prompt=login did not show the login form")
			}
			f, u := pt.start(oauth2.SetAuthURLParam("prompt", "login"))
			second := f.finish(t, b.login(b.get(u), testUser, testPassword))
			if !second.id.Expiry.After(first.id.Expiry) || idClaims(t, second.id).AuthTime <= idClaims(t, first.id).AuthTime {
				t.Errorf("auth_time did not advance")
			}
			// The same person: the session goes on (its portals end with
			// it), under a new cookie secret.
			if idClaims(t, second.id).SID != idClaims(t, first.id).SID {
				t.Errorf("signing in again started another session")
			}
			if c := cookie(); c == "" || c == firstCookie {
				t.Errorf("signing in again kept the session cookie secret")
			}
		})

		t.Run("ok/max-age", func(t *testing.T) {
			b, pt := e.browser(t), e.portal(portalA)
			b.signIn(t, pt)
			f, u := pt.start(oauth2.SetAuthURLParam("max_age", "1"))
			f.finish(t, b.get(u)) // within a second: no login
			e.clk.Advance(2 * time.Second)
			f, u = pt.start(oauth2.SetAuthURLParam("max_age", "1"))
			p := b.get(u)
			tk := f.finish(t, b.login(p, testUser, testPassword))
			if got := idClaims(t, tk.id).AuthTime; got != e.clk.Now().Unix() {
				t.Errorf("auth_time %d, want %d", got, e.clk.Now().Unix())
			}
			// max_age=10000 a little later: the session is young enough.
			e.clk.Advance(2 * time.Second)
			f, u = pt.start(oauth2.SetAuthURLParam("max_age", "10000"))
			tk = f.finish(t, b.get(u))
			if got, want := idClaims(t, tk.id).AuthTime, e.clk.Now().Add(-2*time.Second).Unix(); got != want {
				t.Errorf("max_age=10000: auth_time %d, want the earlier login %d", got, want)
			}
		})

		t.Run("ok/unknown-parameter-ignored-and-no-nonce", func(t *testing.T) {
			b, pt := e.browser(t), e.portal(portalA)
			verifier := oauth2.GenerateVerifier()
			u := pt.cfg.AuthCodeURL("s1", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("frobnicate", "yes"),
				oauth2.SetAuthURLParam("display", "page"), oauth2.SetAuthURLParam("claims", `{"id_token":{}}`))
			q := callback(t, b.login(b.get(u), testUser, testPassword), pt)
			tk := pt.exchange(t, q.Get("code"), verifier, "")
			if strings.Contains(string(claimsJSON(t, tk.raw)), `"nonce"`) {
				t.Errorf("ID token has a nonce claim though the request had none")
			}
		})

		t.Run("fail/redirect-uri-not-registered", func(t *testing.T) {
			b, pt := e.browser(t), e.portal(portalA)
			cfg := pt.cfg
			cfg.RedirectURL = "https://evil.example/callback"
			p := b.get(cfg.AuthCodeURL("s"))
			if p.status != http.StatusBadRequest || p.header.Get("Location") != "" || !strings.Contains(p.header.Get("Content-Type"), "text/html") {
				t.Errorf("unregistered redirect_uri: %d Location=%q", p.status, p.header.Get("Location"))
			}
			for _, q := range []string{"client_id=nope&redirect_uri=" + url.QueryEscape(redirectOf(portalA)) + "&response_type=code&scope=openid",
				"client_id=" + portalA + "&response_type=code&scope=openid"} {
				p := b.get(e.issuer + pathAuthorize + "?" + q)
				if p.status != http.StatusBadRequest || p.header.Get("Location") != "" {
					t.Errorf("%s: %d Location=%q", q, p.status, p.header.Get("Location"))
				}
			}
		})

		t.Run("fail/missing-response-type", func(t *testing.T) {
			b, pt := e.browser(t), e.portal(portalA)
			v := url.Values{"client_id": {portalA}, "redirect_uri": {pt.cfg.RedirectURL}, "scope": {"openid"}, "state": {"xyz"}}
			q := callback(t, b.get(e.issuer+pathAuthorize+"?"+v.Encode()), pt)
			if q.Get("error") != "invalid_request" || q.Get("state") != "xyz" {
				t.Errorf("got %v", q)
			}
			v.Set("response_type", "token")
			if q := callback(t, b.get(e.issuer+pathAuthorize+"?"+v.Encode()), pt); q.Get("error") != "unsupported_response_type" {
				t.Errorf("response_type=token: %v", q)
			}
			v.Set("response_type", "code")
			v.Set("scope", "profile")
			if q := callback(t, b.get(e.issuer+pathAuthorize+"?"+v.Encode()), pt); q.Get("error") != "invalid_scope" {
				t.Errorf("no openid scope: %v", q)
			}
		})

		t.Run("ok/authorize-post", func(t *testing.T) {
			b, pt := e.browser(t), e.portal(portalA)
			f, u := pt.start()
			pu, _ := url.Parse(u)
			p := b.post(e.issuer+pathAuthorize, pu.Query())
			f.finish(t, b.login(p, testUser, testPassword))
		})

		t.Run("ok/scopes-and-userinfo-forms", func(t *testing.T) {
			b, pt := e.browser(t), e.portal(portalA)
			tk := b.signIn(t, pt)
			for _, how := range []string{"get", "post-header", "post-body"} {
				st, m, _ := e.userinfo(t, how, tk.tok.AccessToken)
				if st != http.StatusOK {
					t.Fatalf("%s: %d %v", how, st, m)
				}
				addr, _ := m["address"].(map[string]any)
				if m["name"] != "张三" || m["preferred_username"] != testUser || m["email"] != "zhangsan@example.cn" ||
					m["phone_number"] != "+86 138 0000 0000" || addr["locality"] != "北京市" || m["sub"] != tk.id.Subject {
					t.Errorf("%s: claims %v", how, m)
				}
			}
			cfg := pt.cfg
			cfg.Scopes = []string{"openid"}
			narrow := &portal{e: e, id: pt.id, cfg: cfg, verifier: pt.verifier, alg: pt.alg}
			tk = b.signIn(t, narrow, oauth2.SetAuthURLParam("prompt", "login"))
			_, m, _ := e.userinfo(t, "get", tk.tok.AccessToken)
			if len(m) != 1 || m["sub"] == nil {
				t.Errorf("openid only: claims %v", m)
			}
			if st, _, h := e.userinfo(t, "get", "not-a-token"); st != http.StatusUnauthorized || h.Get("WWW-Authenticate") == "" {
				t.Errorf("bad token: %d", st)
			}
		})

		t.Run("ok/login-hint-prefills", func(t *testing.T) {
			b, pt := e.browser(t), e.portal(portalA)
			_, u := pt.start(oauth2.SetAuthURLParam("login_hint", testUser))
			f := parseForm(t, b.get(u).body)
			if f.fields.Get("username") != testUser {
				t.Errorf("username field %q, want %q", f.fields.Get("username"), testUser)
			}
		})

		t.Run("ok/ui-locales", func(t *testing.T) {
			pt := e.portal(portalA)
			for _, tc := range []struct {
				name, param, accept, lang, submit, userLabel string
			}{
				{"ok/default-zh-CN", "", "", "zh-CN", "登录", "用户名"},
				{"ok/ui_locales=en", "en", "", "en", "Sign in", "User name"},
				{"ok/ui_locales-first-supported", "fr-FR en-GB", "", "en", "Sign in", "User name"},
				{"ok/accept-language-en", "", "en-US,en;q=0.9,zh;q=0.5", "en", "Sign in", "User name"},
				{"ok/ui_locales-beats-accept-language", "zh-CN", "en", "zh-CN", "登录", "用户名"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					b := e.browser(t)
					var opts []oauth2.AuthCodeOption
					if tc.param != "" {
						opts = append(opts, oauth2.SetAuthURLParam("ui_locales", tc.param))
					}
					_, u := pt.start(opts...)
					req, _ := http.NewRequest(http.MethodGet, u, nil)
					accept := tc.accept
					if accept == "" {
						accept = "*"
					}
					p := b.do(req, accept)
					if !strings.Contains(p.body, `<html lang="`+tc.lang+`">`) || !strings.Contains(p.body, tc.submit) {
						t.Errorf("page is not in %s:\n%.600s", tc.lang, p.body)
					}
					f := parseForm(t, p.body)
					if f.labels["username"] != tc.userLabel || f.labels["password"] == "" {
						t.Errorf("labels %v", f.labels)
					}
					if f.fields.Get("csrf_token") == "" {
						t.Errorf("form has no CSRF token")
					}
					if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
						t.Errorf("CSP %q", csp)
					}
				})
			}
		})

		t.Run("ok/acr-values", func(t *testing.T) {
			b, pt := e.browser(t), e.portal(portalA)
			tk := b.signIn(t, pt, oauth2.SetAuthURLParam("acr_values", "urn:example:unknown "+ACRPassword))
			if got := idClaims(t, tk.id).ACR; got != ACRPassword {
				t.Errorf("acr %q", got)
			}
		})

		t.Run("ok/id-token-hint", func(t *testing.T) {
			b, pt := e.browser(t), e.portal(portalA)
			tk := b.signIn(t, pt)
			f, u := pt.start(oauth2.SetAuthURLParam("prompt", "none"), oauth2.SetAuthURLParam("id_token_hint", tk.raw))
			f.finish(t, b.get(u))
			// Another citizen's ID token: not the signed-in user.
			other := e.browser(t)
			of, ou := pt.start()
			ot := of.finish(t, other.login(other.get(ou), otherUser, testPassword))
			_, u = pt.start(oauth2.SetAuthURLParam("prompt", "none"), oauth2.SetAuthURLParam("id_token_hint", ot.raw))
			if q := callback(t, b.get(u), pt); q.Get("error") != "login_required" {
				t.Errorf("hint of another user: %v", q)
			}
			// A hint for another client, or a forged one, is invalid.
			smf, smu := e.portal(portalSM2).start()
			sm := smf.finish(t, b.get(smu))
			for _, hint := range []string{sm.raw, tk.raw[:len(tk.raw)-4] + "AAAA"} {
				_, u = pt.start(oauth2.SetAuthURLParam("prompt", "none"), oauth2.SetAuthURLParam("id_token_hint", hint))
				if q := callback(t, b.get(u), pt); q.Get("error") != "invalid_request" {
					t.Errorf("bad hint: %v", q)
				}
			}
		})

		t.Run("ok/prompt-consent", func(t *testing.T) {
			b, pt := e.browser(t), e.portal(portalA)
			b.signIn(t, pt)
			for _, decision := range []string{"allow", "deny"} {
				f, u := pt.start(oauth2.SetAuthURLParam("prompt", "consent"))
				p := b.get(u)
				if !strings.Contains(p.body, `value="allow"`) || !strings.Contains(p.body, "电子邮箱") {
					t.Fatalf("no consent form:\n%s", p.body)
				}
				res := b.submit(parseForm(t, p.body), map[string]string{"decision": decision})
				if decision == "allow" {
					f.finish(t, res)
				} else if q := callback(t, res, pt); q.Get("error") != "access_denied" {
					t.Errorf("deny: %v", q)
				}
			}
		})

		t.Run("fail/login-form-csrf", func(t *testing.T) {
			b, pt := e.browser(t), e.portal(portalA)
			_, u := pt.start()
			p := b.get(u)
			f := parseForm(t, p.body)
			bad := b.submit(f, map[string]string{"username": testUser, "password": testPassword, "csrf_token": "forged"})
			if bad.status != http.StatusForbidden || bad.header.Get("Location") != "" {
				t.Errorf("forged CSRF token: %d", bad.status)
			}
			// Another browser cannot use this login request.
			thief := e.browser(t)
			if got := thief.submit(f, map[string]string{"username": testUser, "password": testPassword}); got.status != http.StatusBadRequest {
				t.Errorf("login request from another browser: %d", got.status)
			}
			// A completed login request cannot be replayed.
			ok := b.submit(f, map[string]string{"username": testUser, "password": testPassword})
			callback(t, ok, pt)
			if again := b.submit(f, map[string]string{"username": testUser, "password": testPassword}); again.status != http.StatusBadRequest {
				t.Errorf("replayed login form: %d", again.status)
			}
		})

		t.Run("fail/wrong-password", func(t *testing.T) {
			b, pt := e.browser(t), e.portal(portalA)
			_, u := pt.start()
			p := b.login(b.get(u), testUser, "wrong password!")
			if p.status != http.StatusOK || !strings.Contains(p.body, "用户名或密码错误") || !strings.Contains(p.body, `role="alert"`) {
				t.Errorf("wrong password page: %d\n%s", p.status, p.body)
			}
			f, u := pt.start()
			f.finish(t, b.login(b.get(u), testUser, testPassword))
		})

		t.Run("fail/token-endpoint", func(t *testing.T) {
			pt := e.portal(portalA)
			post := func(form url.Values, basic ...string) (int, map[string]string, http.Header) {
				req, _ := http.NewRequest(http.MethodPost, e.issuer+pathToken, strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if len(basic) == 2 {
					req.SetBasicAuth(basic[0], basic[1])
				}
				resp, err := e.srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var m map[string]string
				_ = json.NewDecoder(resp.Body).Decode(&m)
				return resp.StatusCode, m, resp.Header
			}
			for _, tc := range []struct {
				name   string
				form   url.Values
				basic  []string
				status int
				code   string
			}{
				{"fail/no-client-auth", url.Values{"grant_type": {"authorization_code"}, "code": {"x"}}, nil, 401, "invalid_client"},
				{"fail/wrong-secret", url.Values{"grant_type": {"authorization_code"}, "code": {"x"}}, []string{portalA, "nope"}, 401, "invalid_client"},
				{"fail/wrong-method", url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "client_id": {portalA}, "client_secret": {e.secret[portalA]}}, nil, 401, "invalid_client"},
				{"fail/two-methods", url.Values{"grant_type": {"authorization_code"}, "client_secret": {"x"}}, []string{portalA, e.secret[portalA]}, 400, "invalid_request"},
				{"fail/unknown-grant", url.Values{"grant_type": {"password"}}, []string{portalA, e.secret[portalA]}, 400, "unsupported_grant_type"},
				{"fail/no-grant-type", url.Values{}, []string{portalA, e.secret[portalA]}, 400, "invalid_request"},
				{"fail/unknown-code", url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "redirect_uri": {pt.cfg.RedirectURL}}, []string{portalA, e.secret[portalA]}, 400, "invalid_grant"},
				{"fail/repeated-parameter", url.Values{"grant_type": {"authorization_code", "authorization_code"}}, []string{portalA, e.secret[portalA]}, 400, "invalid_request"},
				{"fail/unknown-refresh-token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"txr_x"}}, []string{portalA, e.secret[portalA]}, 400, "invalid_grant"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					st, m, h := post(tc.form, tc.basic...)
					if st != tc.status || m["error"] != tc.code {
						t.Errorf("got %d %v, want %d %s", st, m, tc.status, tc.code)
					}
					if h.Get("Cache-Control") != "no-store" || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
						t.Errorf("headers %v", h)
					}
				})
			}
		})
	})
}

func tokenAlg(t *testing.T, raw string) string {
	t.Helper()
	var h jwtHeader
	seg, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil || json.Unmarshal(b, &h) != nil {
		t.Fatalf("token header: %v", err)
	}
	return h.Alg
}

func claimsJSON(t *testing.T, raw string) []byte {
	t.Helper()
	parts := strings.Split(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConsentKeepsMaxAge: a consent form shown for an existing session is
// judged again when answered, so max_age still holds however long the
// form stayed open; after a sign-in made for the request it is not asked
// again.
func TestConsentKeepsMaxAge(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		b, pt := e.browser(t), e.portal(portalA)
		b.signIn(t, pt)
		f, u := pt.start(oauth2.SetAuthURLParam("prompt", "consent"), oauth2.SetAuthURLParam("max_age", "60"))
		p := b.get(u)
		if !strings.Contains(p.body, `value="allow"`) {
			t.Fatalf("no consent form:\n%.1000s", p.body)
		}
		e.clk.Advance(25 * time.Minute) // the form stays open
		res := b.submit(parseForm(t, p.body), map[string]string{"decision": "allow"})
		if !strings.Contains(res.body, `name="password"`) {
			t.Fatalf("consent answered 25 minutes later for max_age=60 did not ask to sign in again: %d\n%.600s", res.status, res.body)
		}
		// Signed in again, the citizen answers the consent form once more.
		p = b.login(res, testUser, testPassword)
		if !strings.Contains(p.body, `value="allow"`) {
			t.Fatalf("no consent form after signing in again:\n%.1000s", p.body)
		}
		tk := f.finish(t, b.submit(parseForm(t, p.body), map[string]string{"decision": "allow"}))
		if age := e.clk.Now().Unix() - idClaims(t, tk.id).AuthTime; age > 60 {
			t.Errorf("auth_time %d s old for max_age=60", age)
		}
		// A sign-in made for the request, then consent: no second sign-in.
		f, u = pt.start(oauth2.SetAuthURLParam("prompt", "login consent"))
		p = b.login(b.get(u), testUser, testPassword)
		if !strings.Contains(p.body, `value="allow"`) {
			t.Fatalf("no consent form after signing in:\n%.1000s", p.body)
		}
		f.finish(t, b.submit(parseForm(t, p.body), map[string]string{"decision": "allow"}))
	})
}
