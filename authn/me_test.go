package authn

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/tongxing/tongxing/problem"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// mySessionsOf lists b's sessions; it fails unless the answer is 200.
func mySessionsOf(t *testing.T, e *env, b *browser) mySessions {
	t.Helper()
	p := b.get(e.issuer + pathMeSessions)
	if p.status != http.StatusOK || !strings.HasPrefix(p.header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET %s: %d %s\n%s", pathMeSessions, p.status, p.header.Get("Content-Type"), p.body)
	}
	var out mySessions
	if err := json.Unmarshal([]byte(p.body), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// endMySession sends DELETE /me/v1/sessions/{sid} from b.
func endMySession(t *testing.T, e *env, b *browser, sid string) *page {
	t.Helper()
	req, err := http.NewRequest(http.MethodDelete, e.issuer+pathMeSessions+"/"+url.PathEscape(sid), nil)
	if err != nil {
		t.Fatal(err)
	}
	return b.do(req)
}

// wantProblem checks a problem+json answer of status.
func wantProblem(t *testing.T, p *page, status int) {
	t.Helper()
	if p.status != status || p.header.Get("Content-Type") != problem.ContentType {
		t.Fatalf("got %d %s, want %d problem+json:\n%s", p.status, p.header.Get("Content-Type"), status, p.body)
	}
	var d problem.Details
	if err := json.Unmarshal([]byte(p.body), &d); err != nil || d.Status != status {
		t.Fatalf("problem body %q: %v", p.body, err)
	}
}

func TestMySessions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		au := &memAuditor{}
		e := newEnv(t, db, WithAuditor(au))
		ptA, ptB := e.portal(portalA), e.portal(portalB)

		// Two browsers of zhangsan, one of lisi.
		home, office, other := e.browser(t), e.browser(t), e.browser(t)
		sidHome := idClaims(t, home.signIn(t, ptA).id).SID
		e.clk.Advance(1e9)
		sidOffice := idClaims(t, office.signIn(t, ptA).id).SID
		e.clk.Advance(1e9)
		// SSO: the office browser gets portal B without a login page.
		f, u := ptB.start()
		f.finish(t, office.get(u))
		fo, uo := ptA.start()
		sidOther := idClaims(t, fo.finish(t, other.login(other.get(uo), otherUser, testPassword)).id).SID
		if sidHome == "" || sidOffice == "" || sidHome == sidOffice {
			t.Fatalf("session ids %q %q", sidHome, sidOffice)
		}

		tests := []struct {
			name string
			run  func(t *testing.T)
		}{
			{"ok/list-two-sessions-of-one-account", func(t *testing.T) {
				got := mySessionsOf(t, e, home)
				ids := []string{}
				for _, s := range got.Sessions {
					ids = append(ids, s.ID)
				}
				if !slices.Equal(ids, []string{sidHome, sidOffice}) {
					t.Fatalf("sessions %v, want [%s %s]", ids, sidHome, sidOffice)
				}
				h, o := got.Sessions[0], got.Sessions[1]
				if !h.Current || o.Current {
					t.Fatalf("current flags %v %v, want true false", h.Current, o.Current)
				}
				if h.ACR != ACRPassword || !slices.Equal(h.AMR, []string{"pwd"}) || h.CreatedAt.IsZero() || !h.ExpiresAt.After(h.CreatedAt) {
					t.Fatalf("home session %+v", h)
				}
				var clients []string
				for _, c := range o.Clients {
					clients = append(clients, c.ClientID)
					if c.Name != "门户 "+c.ClientID || c.LastAuthorizedAt.IsZero() {
						t.Fatalf("client %+v", c)
					}
				}
				if !slices.Equal(clients, []string{portalA, portalB}) || o.LastUsedAt == nil {
					t.Fatalf("office session portals %v last used %v", clients, o.LastUsedAt)
				}
				if len(h.Clients) != 1 || h.Clients[0].ClientID != portalA {
					t.Fatalf("home session portals %+v", h.Clients)
				}
				if got.CSRFToken == "" {
					t.Fatal("no csrf_token")
				}
			}},
			{"ok/other-account-sees-only-its-own", func(t *testing.T) {
				got := mySessionsOf(t, e, other)
				if len(got.Sessions) != 1 || got.Sessions[0].ID != sidOther || !got.Sessions[0].Current {
					t.Fatalf("lisi sees %+v", got.Sessions)
				}
			}},
			{"fail/no-cookie-401", func(t *testing.T) {
				wantProblem(t, e.browser(t).get(e.issuer+pathMeSessions), http.StatusUnauthorized)
				wantProblem(t, endMySession(t, e, e.browser(t), sidOffice), http.StatusUnauthorized)
			}},
			{"fail/other-account-cannot-end-404", func(t *testing.T) {
				wantProblem(t, endMySession(t, e, other, sidOffice), http.StatusNotFound)
				wantProblem(t, other.post(e.issuer+pathMeSessions+"/"+sidOffice+"/end",
					url.Values{"csrf_token": {mySessionsOf(t, e, other).CSRFToken}}), http.StatusNotFound)
				wantProblem(t, endMySession(t, e, other, "no-such-session"), http.StatusNotFound)
				if n := len(mySessionsOf(t, e, office).Sessions); n != 2 {
					t.Fatalf("zhangsan has %d sessions after lisi's attempts, want 2", n)
				}
			}},
			{"fail/form-without-or-with-wrong-csrf-403", func(t *testing.T) {
				end := e.issuer + pathMeSessions + "/" + sidOffice + "/end"
				wantProblem(t, home.post(end, url.Values{}), http.StatusForbidden)
				wantProblem(t, home.post(end, url.Values{"csrf_token": {mySessionsOf(t, e, other).CSRFToken}}), http.StatusForbidden)
			}},
			{"ok/end-office-session-logs-that-browser-out", func(t *testing.T) {
				if p := endMySession(t, e, home, sidOffice); p.status != http.StatusNoContent {
					t.Fatalf("DELETE: %d %s", p.status, p.body)
				}
				// The office browser must log in again.
				_, u := ptA.start()
				if p := office.get(u); p.status != http.StatusOK || !strings.Contains(p.body, `name="password"`) {
					t.Fatalf("office browser not logged out: %d %.500s", p.status, p.body)
				}
				// The home browser keeps its session.
				f, u := ptA.start()
				f.finish(t, home.get(u))
				got := mySessionsOf(t, e, home)
				if len(got.Sessions) != 1 || got.Sessions[0].ID != sidHome {
					t.Fatalf("after ending: %+v", got.Sessions)
				}
				ev := au.find("authn.session.end")
				if len(ev) != 1 || ev[0].Resource != "authn:session:"+sidOffice || ev[0].Outcome != "success" || ev[0].Subject == "" {
					t.Fatalf("audit %+v", ev)
				}
				wantProblem(t, endMySession(t, e, home, sidOffice), http.StatusNotFound)
			}},
			{"ok/form-ends-own-current-session", func(t *testing.T) {
				tok := mySessionsOf(t, e, home).CSRFToken
				p := home.post(e.issuer+pathMeSessions+"/"+sidHome+"/end", url.Values{"csrf_token": {tok}})
				var res struct {
					ID      string `json:"id"`
					Ended   bool   `json:"ended"`
					Current bool   `json:"current"`
				}
				if p.status != http.StatusOK || json.Unmarshal([]byte(p.body), &res) != nil || res.ID != sidHome || !res.Ended || !res.Current {
					t.Fatalf("POST end: %d %s", p.status, p.body)
				}
				wantProblem(t, home.get(e.issuer+pathMeSessions), http.StatusUnauthorized)
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, tt.run)
		}
	})
}
