package authn

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// TestLogoutCSRF: a page on another site cannot sign the citizen out.
//
//   - cross-site: evil.example auto-submits <form method=post
//     action=ISSUER/oauth2/logout>. The browser does not send the
//     SameSite=Lax SSO cookie with it, but it does apply the Set-Cookie of
//     the answer to a top-level navigation: the provider's answer must not
//     delete the citizen's cookie (which leaves the session itself alive).
//   - same-site: a sibling host (another department's portal on the same
//     registrable domain) posts the same form; the Lax cookie is sent, and
//     a post without an id_token_hint of the session must not end it.
//
// A portal's own RP-initiated logout by POST with its id_token_hint still
// ends the session, even though the cross-site POST carries no cookie.
func TestLogoutCSRF(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, _ := newLogoutEnv(t, db)
		signedIn := func(b *browser, pt *portal) bool {
			_, u := pt.start(oauth2.SetAuthURLParam("prompt", "none"))
			return callback(t, b.get(u), pt).Get("code") != ""
		}
		post := func(site string, form url.Values) *http.Response {
			req, _ := http.NewRequest(http.MethodPost, e.issuer+pathLogout, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", site)
			req.Header.Set("Origin", "https://evil.example")
			resp, err := e.srv.Client().Do(req) // no cookie: SameSite=Lax keeps it home
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp
		}
		t.Run("fail/cross-site-post-drops-cookie", func(t *testing.T) {
			b := e.browser(t)
			pt := e.portal(portalC)
			b.signIn(t, pt)
			resp := post("cross-site", url.Values{})
			for _, c := range resp.Cookies() {
				if c.Name == sessionCookieName {
					// What the browser does with it on a top-level navigation.
					u, _ := url.Parse(e.issuer)
					b.c.Jar.SetCookies(u, []*http.Cookie{c})
				}
			}
			if !signedIn(b, pt) {
				t.Errorf("a cross-site POST to %s signed the citizen's browser out (Set-Cookie %q)", pathLogout, resp.Header.Values("Set-Cookie"))
			}
		})
		t.Run("fail/same-site-post-ends-session", func(t *testing.T) {
			b := e.browser(t)
			pt := e.portal(portalC)
			b.signIn(t, pt)
			req, _ := http.NewRequest(http.MethodPost, e.issuer+pathLogout, strings.NewReader(""))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "same-site")
			b.do(req)
			if !signedIn(b, pt) {
				t.Errorf("a same-site POST without id_token_hint ended the session")
			}
		})
		t.Run("ok/portal-post-with-hint", func(t *testing.T) {
			b := e.browser(t)
			pt := e.portal(portalC)
			tk := b.signIn(t, pt)
			resp := post("cross-site", url.Values{"id_token_hint": {tk.raw}})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("RP-initiated POST logout: %d", resp.StatusCode)
			}
			if st, _, _ := e.userinfo(t, "get", tk.tok.AccessToken); st != http.StatusUnauthorized {
				t.Errorf("access token after the portal's POST logout: %d", st)
			}
			if signedIn(b, pt) {
				t.Errorf("session survived the portal's POST logout")
			}
		})
	})
}
