package authn

import (
	"fmt"
	"golang.org/x/oauth2"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

func TestTokenExchange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newGrantsEnv(t, db)
		pt := e.portal(portalA)
		tk := e.browser(t).signIn(t, pt)
		_, m := e.clientCredentials(t, svcCivil, url.Values{"audience": {deptSocial}})
		svcTok, _ := m["access_token"].(string)
		exchange := func(client string, extra url.Values) (int, map[string]any) {
			form := url.Values{"grant_type": {GrantTokenExchange}, "subject_token": {tk.tok.AccessToken},
				"subject_token_type": {TokenTypeAccessToken}, "audience": {deptSocial}}
			for k, v := range extra {
				form[k] = v
			}
			return e.post(t, pathToken, client, form)
		}
		t.Run("ok/act-claim", func(t *testing.T) {
			st, m := exchange(svcCivil, nil)
			if st != 200 {
				t.Fatalf("exchange: %d %v", st, m)
			}
			if m["issued_token_type"] != TokenTypeAccessToken || m["token_type"] != "Bearer" || m["refresh_token"] != nil {
				t.Errorf("response %v", m)
			}
			raw, _ := m["access_token"].(string)
			c := e.verifyFor(t, deptSocial, raw)
			if c.Act == nil || c.Act.Subject != svcCivil {
				t.Fatalf("act %+v, want sub %s", c.Act, svcCivil)
			}
			if c.Subject != tk.id.Subject || c.ClientID != svcCivil || c.ACR != ACRPassword || c.AuthTime == 0 {
				t.Errorf("claims %+v", c)
			}
			if !c.ExpiresAt.After(e.clk.Now()) || c.ExpiresAt.After(tk.id.Expiry.Add(time.Second)) {
				t.Errorf("exp %v outlives the subject token", c.ExpiresAt)
			}
			if _, err := e.op.Verifier(&oidc.Config{ClientID: deptHousing, Now: e.clk.Now}).Verify(e.ctx, raw); err == nil {
				t.Errorf("exchanged token verified for another department")
			}
			// Revoking the citizen's grant revokes the delegated token.
			_, in := e.post(t, pathIntrospect, svcSocial, url.Values{"token": {raw}})
			if in["active"] != true {
				t.Fatalf("introspection by the audience department: %v", in)
			}
			act, _ := in["act"].(map[string]any)
			if act["sub"] != svcCivil {
				t.Errorf("introspected act %v", in["act"])
			}
		})
		for _, tc := range []struct {
			name   string
			client string
			extra  url.Values
			code   string
			desc   string // in error_description, if set
		}{
			{"fail/portal-not-a-service", portalA, nil, "unauthorized_client", ""},
			{"fail/unregistered-audience", svcSocial, nil, "invalid_target", ""},
			{"fail/no-audience", svcCivil, url.Values{"audience": nil}, "invalid_target", ""},
			{"fail/forged-subject-token", svcCivil, url.Values{"subject_token": {tk.tok.AccessToken[:len(tk.tok.AccessToken)-4] + "AAAA"}}, "invalid_grant", ""},
			{"fail/id-token-as-subject", svcCivil, url.Values{"subject_token": {tk.raw}}, "invalid_grant", ""},
			{"fail/service-token-as-subject", svcCivil, url.Values{"subject_token": {svcTok}}, "invalid_grant", ""},
			{"fail/no-subject-token", svcCivil, url.Values{"subject_token": nil}, "invalid_request", ""},
			{"fail/wrong-subject-token-type", svcCivil, url.Values{"subject_token_type": {"urn:ietf:params:oauth:token-type:id_token"}}, "invalid_request", ""},
			{"fail/actor-token", svcCivil, url.Values{"actor_token": {svcTok}, "actor_token_type": {TokenTypeAccessToken}}, "invalid_request", ""},
			{"fail/requested-refresh-token", svcCivil, url.Values{"requested_token_type": {"urn:ietf:params:oauth:token-type:refresh_token"}}, "invalid_request", ""},
			// The citizen signed in to a portal of dept:civil-affairs; the
			// social-security service may not act for them with its token.
			{"fail/portal-of-another-department", svcSocial, url.Values{"audience": {deptHousing}}, "invalid_grant", "own department"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				st, m := exchange(tc.client, tc.extra)
				if st != 400 || m["error"] != tc.code {
					t.Errorf("got %d %v, want 400 %s", st, m, tc.code)
				}
				if d, _ := m["error_description"].(string); !strings.Contains(d, tc.desc) {
					t.Errorf("error_description %q lacks %q", d, tc.desc)
				}
			})
		}
		t.Run("fail/revoked-subject-grant", func(t *testing.T) {
			st, m := exchange(svcCivil, nil)
			if st != 200 {
				t.Fatalf("exchange: %d %v", st, m)
			}
			delegated, _ := m["access_token"].(string)
			if st, _ := e.post(t, pathRevoke, portalA, url.Values{"token": {tk.tok.RefreshToken}}); st != 200 {
				t.Fatalf("revoke: %d", st)
			}
			if st, m := exchange(svcCivil, nil); st != 400 || m["error"] != "invalid_grant" {
				t.Errorf("exchange of a revoked token: %d %v", st, m)
			}
			if _, in := e.post(t, pathIntrospect, svcCivil, url.Values{"token": {delegated}}); in["active"] != false {
				t.Errorf("delegated token active after the citizen's grant was revoked: %v", in)
			}
		})
	})
}

func TestTokenAudit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		rec := &memAuditor{}
		e := &grantsEnv{newEnv(t, db, WithAuditor(rec))}
		pt := e.portal(portalA)
		tk := e.browser(t).signIn(t, pt)
		old := *tk.tok
		old.Expiry = time.Now().Add(-time.Hour)
		if _, err := pt.cfg.TokenSource(e.ctx, &old).Token(); err != nil {
			t.Fatal(err)
		}
		if _, err := pt.cfg.TokenSource(e.ctx, &old).Token(); oauthCode(err) != "invalid_grant" {
			t.Fatalf("reuse: %v", err)
		}
		got := strings.Join(rec.actions(), " ")
		for _, want := range []string{"authn.token.issue/success authn.token.issue/success authn.refresh.reuse/failure"} {
			if !strings.Contains(got, want) {
				t.Errorf("audit events %q, want %q", got, want)
			}
		}
		user, err := e.p.Users().ByUsername(t.Context(), testUser)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range rec.events {
			s := fmt.Sprintf("%+v", ev)
			for _, secret := range []string{tk.tok.AccessToken, tk.tok.RefreshToken, tk.raw, e.secret[portalA]} {
				if strings.Contains(s, secret) {
					t.Errorf("audit event %s contains a token or secret", ev.Action)
				}
			}
			if strings.HasPrefix(ev.Action, "authn.token") || strings.HasPrefix(ev.Action, "authn.refresh") {
				if ev.Subject != user.ID || ev.Client != portalA || ev.SourceAddr == "" {
					t.Errorf("event %+v", ev)
				}
			}
		}
	})
}

// TestRefreshBoundedBySignIn: rotating refresh tokens keeps a grant alive
// only within the session lifetime from the sign-in it came from; after
// that the portal must send the citizen to sign in again.
func TestRefreshBoundedBySignIn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newGrantsEnv(t, db)
		pa := e.portal(portalA)
		tk := e.browser(t).signIn(t, pa)
		login := e.clk.Now()
		tok := tk.tok
		refresh := func() (*oauth2.Token, error) {
			old := *tok
			old.Expiry = time.Now().Add(-time.Hour) // oauth2 compares with the real clock
			return pa.cfg.TokenSource(e.ctx, &old).Token()
		}
		for e.clk.Now().Sub(login) < defaultLifetimes.Session-3*time.Hour {
			e.clk.Advance(3 * time.Hour)
			nt, err := refresh()
			if err != nil {
				t.Fatalf("refresh %s after the sign-in: %v", e.clk.Now().Sub(login), err)
			}
			tok = nt
		}
		e.clk.Advance(3 * time.Hour)
		if _, err := refresh(); oauthCode(err) != "invalid_grant" {
			t.Fatalf("refresh %s after the sign-in (session lifetime %s): %v, want invalid_grant", e.clk.Now().Sub(login), defaultLifetimes.Session, err)
		}
	})
}
