package authn

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

func TestVerifyServiceToken(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newGrantsEnv(t, db)
		pt := e.portal(portalA)
		b := e.browser(t)
		tk := b.signIn(t, pt)
		_, m := e.clientCredentials(t, svcCivil, url.Values{"audience": {deptSocial}, "scope": {deptHousing}})
		cc, _ := m["access_token"].(string)
		_, m = e.post(t, pathToken, svcCivil, url.Values{"grant_type": {GrantTokenExchange}, "subject_token": {tk.tok.AccessToken},
			"subject_token_type": {TokenTypeAccessToken}, "audience": {deptSocial}})
		ex, _ := m["access_token"].(string)
		if cc == "" || ex == "" {
			t.Fatalf("no tokens: %v", m)
		}

		t.Run("ok/client-credentials", func(t *testing.T) {
			st, err := e.p.VerifyServiceToken(e.ctx, cc)
			if err != nil {
				t.Fatal(err)
			}
			if st.Client != svcCivil || st.Department != "dept:civil-affairs" || st.Subject != svcCivil || st.Act != "" || st.UserID != "" ||
				!slices.Contains(st.Audience, deptSocial) || !slices.Contains(st.Scopes, deptHousing) || st.JTI == "" {
				t.Fatalf("%+v", st)
			}
		})
		t.Run("ok/token-exchange", func(t *testing.T) {
			st, err := e.p.VerifyServiceToken(e.ctx, ex)
			if err != nil {
				t.Fatal(err)
			}
			if st.Act != svcCivil || st.UserID == "" || st.Subject != tk.id.Subject || st.Department != "dept:civil-affairs" {
				t.Fatalf("%+v", st)
			}
		})
		for _, tc := range []struct{ name, token string }{
			{"fail/portal-token", tk.tok.AccessToken},
			{"fail/garbage", "x.y.z"},
			{"fail/tampered", cc[:len(cc)-4] + "AAAA"},
			{"fail/huge", string(make([]byte, 9<<10))},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if _, err := e.p.VerifyServiceToken(e.ctx, tc.token); !errors.Is(err, ErrTokenRejected) {
					t.Fatalf("err = %v, want ErrTokenRejected", err)
				}
			})
		}
		t.Run("fail/revoked", func(t *testing.T) {
			if st, _ := e.post(t, pathRevoke, svcCivil, url.Values{"token": {cc}}); st != http.StatusOK {
				t.Fatalf("revoke: %d", st)
			}
			if _, err := e.p.VerifyServiceToken(e.ctx, cc); !errors.Is(err, ErrTokenRejected) {
				t.Fatalf("err = %v, want ErrTokenRejected", err)
			}
		})
		t.Run("fail/expired", func(t *testing.T) {
			e.clk.Advance(24 * time.Hour)
			if _, err := e.p.VerifyServiceToken(e.ctx, ex); !errors.Is(err, ErrTokenRejected) {
				t.Fatalf("err = %v, want ErrTokenRejected", err)
			}
		})
	})
}

func TestSignedIn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newGrantsEnv(t, db)
		b := e.browser(t)
		b.signIn(t, e.portal(portalA))
		u, _ := url.Parse(e.issuer + "/me/v1/access-log")
		req, _ := http.NewRequest(http.MethodGet, u.String(), nil)
		for _, c := range b.c.Jar.Cookies(u) {
			req.AddCookie(c)
		}
		who, err := e.p.SignedIn(req)
		if err != nil || who == nil || who.UserID == "" || who.SessionID == "" {
			t.Fatalf("signed in: %+v %v", who, err)
		}
		anon, _ := http.NewRequest(http.MethodGet, u.String(), nil)
		if who, err := e.p.SignedIn(anon); err != nil || who != nil {
			t.Fatalf("no cookie: %+v %v", who, err)
		}
	})
}
