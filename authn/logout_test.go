package authn

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// Portals with back-channel logout.
const (
	portalC = "portal-c"
	portalD = "portal-d"
)

func byeOf(id string) string { return "https://" + id + ".gov.test/bye" }

// logoutReceiver is a portal's back-channel logout URI.
type logoutReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	tokens []string
}

func newLogoutReceiver(t *testing.T, status int) *logoutReceiver {
	lr := &logoutReceiver{}
	lr.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err == nil && r.Method == http.MethodPost {
			lr.mu.Lock()
			lr.tokens = append(lr.tokens, r.PostForm.Get("logout_token"))
			lr.mu.Unlock()
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(lr.srv.Close)
	return lr
}

func (lr *logoutReceiver) received() []string {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	return append([]string(nil), lr.tokens...)
}

func newLogoutEnv(t *testing.T, db *store.DB, opts ...Option) (*grantsEnv, map[string]*logoutReceiver) {
	t.Helper()
	recv := map[string]*logoutReceiver{portalC: newLogoutReceiver(t, http.StatusOK), portalD: newLogoutReceiver(t, http.StatusNoContent)}
	secrets := map[string]string{}
	var cfgs []ClientConfig
	for _, id := range []string{portalC, portalD} {
		var h string
		secrets[id], h = GenerateClientSecret()
		cfgs = append(cfgs, ClientConfig{ID: id, Name: "门户 " + id, RedirectURIs: []string{redirectOf(id)}, SecretHash: h,
			PostLogoutRedirectURIs: []string{byeOf(id)}, BackchannelLogoutURI: recv[id].srv.URL + "/backchannel"})
	}
	e := newEnv(t, db, append([]Option{WithClients(cfgs...)}, opts...)...)
	for k, v := range secrets {
		e.secret[k] = v
	}
	mux := e.srv.Config.Handler.(*http.ServeMux)
	if _, pat := mux.Handler(httptestRequest(e.issuer + pathLogout)); pat == "" {
		t.Fatalf("Routes did not register %s", pathLogout)
	}
	return &grantsEnv{e}, recv
}

func TestLogout(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		rec := &memAuditor{}
		e, recv := newLogoutEnv(t, db, WithAuditor(rec))
		logout := func(b *browser, v url.Values) *page {
			return b.get(e.issuer + pathLogout + "?" + v.Encode())
		}
		t.Run("ok/rp-initiated-and-backchannel-to-two-portals", func(t *testing.T) {
			b := e.browser(t)
			pc, pd := e.portal(portalC), e.portal(portalD)
			tc := b.signIn(t, pc)
			f, u := pd.start()
			td := f.finish(t, b.get(u)) // single sign-on, same session
			sid := idClaims(t, tc.id).SID
			if idClaims(t, td.id).SID != sid {
				t.Fatalf("two sessions")
			}
			p := logout(b, url.Values{"id_token_hint": {tc.raw}, "post_logout_redirect_uri": {byeOf(portalC)}, "state": {"st-1"}})
			if p.status != http.StatusSeeOther || p.header.Get("Location") != byeOf(portalC)+"?state=st-1" {
				t.Fatalf("logout: %d Location %q\n%s", p.status, p.header.Get("Location"), p.body)
			}
			for id, tk := range map[string]*tokens{portalC: tc, portalD: td} {
				got := recv[id].received()
				if len(got) != 1 {
					t.Fatalf("%s received %d logout tokens", id, len(got))
				}
				// A portal verifies the logout token against jwks_uri.
				lt, err := e.op.Verifier(&oidc.Config{ClientID: id, Now: e.clk.Now}).Verify(e.ctx, got[0])
				if err != nil {
					t.Fatalf("%s: verify logout token: %v", id, err)
				}
				var c struct {
					Events map[string]any `json:"events"`
					SID    string         `json:"sid"`
					Nonce  *string        `json:"nonce"`
					JTI    string         `json:"jti"`
				}
				if err := lt.Claims(&c); err != nil {
					t.Fatal(err)
				}
				if _, ok := c.Events[BackchannelLogoutEvent]; !ok || c.SID != sid || c.Nonce != nil || c.JTI == "" || lt.Subject != tk.id.Subject {
					t.Errorf("%s: logout token claims %+v sub %s", id, c, lt.Subject)
				}
				if tokenAlg(t, got[0]) != AlgRS256 || !strings.Contains(string(headerJSON(t, got[0])), `"typ":"logout+jwt"`) {
					t.Errorf("%s: header %s", id, headerJSON(t, got[0]))
				}
			}
			// The session is over: the next authorization needs a login,
			// and the tokens of the session are revoked.
			_, u = pc.start()
			if p := b.get(u); !strings.Contains(p.body, `name="password"`) {
				t.Errorf("authorize after logout did not ask for a login: %d", p.status)
			}
			if st, _, _ := e.userinfo(t, "get", td.tok.AccessToken); st != http.StatusUnauthorized {
				t.Errorf("access token of the ended session: %d", st)
			}
			found := false
			for _, ev := range rec.events {
				if ev.Action == "authn.logout" && ev.Resource == "authn:session:"+sid && ev.Outcome == "success" && len(ev.Reasons) == 0 {
					found = true
				}
			}
			if !found {
				t.Errorf("no audit event for the logout: %v", rec.actions())
			}
		})
		t.Run("ok/no-redirect-shows-page", func(t *testing.T) {
			b := e.browser(t)
			tc := b.signIn(t, e.portal(portalC))
			p := logout(b, url.Values{"id_token_hint": {tc.raw}})
			if p.status != http.StatusOK || p.header.Get("Location") != "" || !strings.Contains(p.body, "退出登录") {
				t.Errorf("logout page: %d %q", p.status, p.body)
			}
		})
		for _, tc := range []struct {
			name string
			v    func(tk *tokens) url.Values
			msg  string
		}{
			{"fail/unregistered-post-logout-redirect", func(tk *tokens) url.Values {
				return url.Values{"id_token_hint": {tk.raw}, "post_logout_redirect_uri": {"https://evil.example/bye"}}
			}, "post_logout_redirect_uri"},
			{"fail/redirect-of-another-client", func(tk *tokens) url.Values {
				return url.Values{"id_token_hint": {tk.raw}, "post_logout_redirect_uri": {byeOf(portalD)}}
			}, "post_logout_redirect_uri"},
			{"fail/redirect-without-client", func(tk *tokens) url.Values {
				return url.Values{"post_logout_redirect_uri": {byeOf(portalC)}}
			}, "post_logout_redirect_uri"},
			{"fail/forged-hint", func(tk *tokens) url.Values {
				return url.Values{"id_token_hint": {tk.raw[:len(tk.raw)-4] + "AAAA"}}
			}, "id_token_hint"},
			{"fail/access-token-as-hint", func(tk *tokens) url.Values {
				return url.Values{"id_token_hint": {tk.tok.AccessToken}}
			}, "id_token_hint"},
			{"fail/get-without-hint", func(tk *tokens) url.Values {
				return url.Values{"client_id": {portalC}}
			}, "id_token_hint"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				b := e.browser(t)
				pt := e.portal(portalC)
				tk := b.signIn(t, pt)
				p := logout(b, tc.v(tk))
				if p.status != http.StatusBadRequest || p.header.Get("Location") != "" || !strings.Contains(p.body, tc.msg) {
					t.Errorf("got %d Location %q\n%.500s", p.status, p.header.Get("Location"), p.body)
				}
				// The session is still there.
				f, u := pt.start(oauth2.SetAuthURLParam("prompt", "none"))
				f.finish(t, b.get(u))
			})
		}
		t.Run("ok/post-without-hint", func(t *testing.T) {
			b := e.browser(t)
			pt := e.portal(portalC)
			b.signIn(t, pt)
			p := b.post(e.issuer+pathLogout, url.Values{"client_id": {portalC}, "post_logout_redirect_uri": {byeOf(portalC)}, "state": {"s"}})
			if p.status != http.StatusSeeOther || p.header.Get("Location") != byeOf(portalC)+"?state=s" {
				t.Fatalf("POST logout: %d %q", p.status, p.header.Get("Location"))
			}
			_, u := pt.start(oauth2.SetAuthURLParam("prompt", "none"))
			if q := callback(t, b.get(u), pt); q.Get("error") != "login_required" {
				t.Errorf("session survived the logout: %v", q)
			}
		})
		t.Run("ok/backchannel-failure-logged", func(t *testing.T) {
			recv[portalD].srv.Close()
			b := e.browser(t)
			b.signIn(t, e.portal(portalD))
			f, u := e.portal(portalC).start()
			tk := f.finish(t, b.get(u))
			sid := idClaims(t, tk.id).SID
			p := logout(b, url.Values{"id_token_hint": {tk.raw}, "post_logout_redirect_uri": {byeOf(portalC)}})
			if p.status != http.StatusSeeOther {
				t.Fatalf("logout with an unreachable portal: %d", p.status)
			}
			var reasons []string
			for _, ev := range rec.events {
				if ev.Action == "authn.logout" && ev.Resource == "authn:session:"+sid {
					reasons = ev.Reasons
				}
			}
			if len(reasons) != 1 || !strings.Contains(reasons[0], portalD) {
				t.Errorf("audit reasons %v", reasons)
			}
		})
		t.Run("fail/end-unknown-session", func(t *testing.T) {
			if err := e.p.EndSession(t.Context(), "nope", ""); !errors.Is(err, ErrSessionNotFound) {
				t.Errorf("got %v", err)
			}
		})
	})
}

func headerJSON(t *testing.T, raw string) []byte {
	t.Helper()
	seg, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSignInAgainKeepsSession: signing in again in the same browser
// (prompt=login, a step-up) carries the session on, so signing out then
// ends every portal signed in under it; another person signing in on the
// browser ends the previous person's session as at sign-out.
func TestSignInAgainKeepsSession(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, recv := newLogoutEnv(t, db)
		t.Run("same-person", func(t *testing.T) {
			b := e.browser(t)
			pc, pd := e.portal(portalC), e.portal(portalD)
			tc := b.signIn(t, pc)
			e.clk.Advance(time.Minute)
			f, u := pd.start(oauth2.SetAuthURLParam("prompt", "login"))
			td := f.finish(t, b.login(b.get(u), testUser, testPassword))
			if sc, sd := idClaims(t, tc.id).SID, idClaims(t, td.id).SID; sc != sd {
				t.Fatalf("signing in again started session %s beside %s", sd, sc)
			}
			if first, again := idClaims(t, tc.id).AuthTime, idClaims(t, td.id).AuthTime; again != first+60 {
				t.Errorf("auth_time %d after signing in again a minute later, first %d", again, first)
			}
			var clients []string
			for _, s := range mySessionsOf(t, e.env, b).Sessions {
				for _, c := range s.Clients {
					clients = append(clients, c.ClientID)
				}
			}
			if !slices.Contains(clients, portalC) || !slices.Contains(clients, portalD) {
				t.Errorf("the citizen's sessions list %v, want both portals", clients)
			}
			before := len(recv[portalC].received())
			if p := b.get(e.issuer + pathLogout + "?" + url.Values{"id_token_hint": {td.raw}}.Encode()); p.status != http.StatusOK {
				t.Fatalf("logout: %d", p.status)
			}
			if len(recv[portalC].received()) == before {
				t.Errorf("%s got no logout token", portalC)
			}
			if st, _, _ := e.userinfo(t, "get", tc.tok.AccessToken); st != http.StatusUnauthorized {
				t.Errorf("%s's access token after sign-out: %d", portalC, st)
			}
		})
		t.Run("another-person", func(t *testing.T) {
			b := e.browser(t)
			pc, pd := e.portal(portalC), e.portal(portalD)
			tc := b.signIn(t, pc)
			before := len(recv[portalC].received())
			f, u := pd.start(oauth2.SetAuthURLParam("prompt", "login"))
			td := f.finish(t, b.login(b.get(u), otherUser, testPassword))
			if idClaims(t, tc.id).SID == idClaims(t, td.id).SID || tc.id.Subject == td.id.Subject {
				t.Fatal("the second person took over the first one's session")
			}
			if len(recv[portalC].received()) == before {
				t.Errorf("%s got no logout token when another person signed in", portalC)
			}
			if st, _, _ := e.userinfo(t, "get", tc.tok.AccessToken); st != http.StatusUnauthorized {
				t.Errorf("the first person's access token after another signed in: %d", st)
			}
		})
	})
}

// failLogins is an auditor that refuses login events while failing is set.
type failLogins struct{ failing atomic.Bool }

func (f *failLogins) Record(_ context.Context, ev AuditEvent) error {
	if f.failing.Load() && ev.Action == "authn.login" {
		return errors.New("audit log unavailable")
	}
	return nil
}

// TestUnauditedSignInEndsSession: a sign-in that cannot be audited is
// refused and its session ended with the grants under it, also when the
// session was carried on from an earlier sign-in.
func TestUnauditedSignInEndsSession(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		aud := &failLogins{}
		e := newEnv(t, db, WithAuditor(aud))
		b, pt := e.browser(t), e.portal(portalA)
		first := b.signIn(t, pt)
		aud.failing.Store(true)
		_, u := pt.start(oauth2.SetAuthURLParam("prompt", "login"))
		p := b.login(b.get(u), testUser, testPassword)
		if p.status != http.StatusInternalServerError {
			t.Fatalf("unaudited sign-in: %d", p.status)
		}
		if st, _, _ := e.userinfo(t, "get", first.tok.AccessToken); st != http.StatusUnauthorized {
			t.Errorf("the earlier grant of the ended session still answers userinfo: %d", st)
		}
	})
}
