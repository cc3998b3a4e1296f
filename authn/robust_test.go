package authn

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// TestBadInputNever5xx sends malformed and oversized requests to every
// endpoint: each gets a 4xx.
func TestBadInputNever5xx(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	big := strings.Repeat("a", 20<<10)
	reg := url.QueryEscape(redirectOf(portalA))
	for _, tc := range []struct {
		name, method, path, ctype, body string
		hdr                             map[string]string
		want                            int
	}{
		{"fail/authorize-huge-query", "GET", pathAuthorize + "?client_id=" + big, "", "", nil, 400},
		{"fail/authorize-bad-escape", "GET", pathAuthorize + "?client_id=%zz", "", "", nil, 400},
		{"fail/authorize-post-json", "POST", pathAuthorize, "application/json", "{}", nil, 400},
		{"fail/authorize-post-huge", "POST", pathAuthorize, "application/x-www-form-urlencoded", "client_id=" + big, nil, 400},
		{"fail/authorize-binary-client", "GET", pathAuthorize + "?client_id=%00%FF&redirect_uri=" + reg, "", "", nil, 400},
		{"fail/authorize-unknown-client", "GET", pathAuthorize + "?client_id=zz&redirect_uri=" + reg + "&response_type=code&scope=openid", "", "", nil, 400},
		{"fail/token-json", "POST", pathToken, "application/json", `{"grant_type":"authorization_code"}`, nil, 400},
		{"fail/token-huge", "POST", pathToken, "application/x-www-form-urlencoded", "code=" + big, nil, 400},
		{"fail/token-bad-basic", "POST", pathToken, "application/x-www-form-urlencoded", "grant_type=authorization_code", map[string]string{"Authorization": "Basic !!!"}, 401},
		{"fail/token-bad-basic-escape", "POST", pathToken, "application/x-www-form-urlencoded", "grant_type=authorization_code", map[string]string{"Authorization": "Basic JXp6OiV6eg=="}, 401},
		{"fail/token-long-code", "POST", pathToken, "application/x-www-form-urlencoded", "grant_type=authorization_code&redirect_uri=x&code=" + strings.Repeat("c", 5000), map[string]string{"Authorization": "Basic " + basic(portalA, e.secret[portalA])}, 400},
		{"fail/token-bad-verifier", "POST", pathToken, "application/x-www-form-urlencoded", "grant_type=authorization_code&redirect_uri=x&code=c&code_verifier=%00", map[string]string{"Authorization": "Basic " + basic(portalA, e.secret[portalA])}, 400},
		{"fail/token-get", "GET", pathToken, "", "", nil, 405},
		{"fail/userinfo-no-token", "GET", pathUserinfo, "", "", nil, 401},
		{"fail/userinfo-garbage", "GET", pathUserinfo, "", "", map[string]string{"Authorization": "Bearer a.b.c"}, 401},
		{"fail/userinfo-huge-bearer", "GET", pathUserinfo, "", "", map[string]string{"Authorization": "Bearer " + big}, 400},
		{"fail/userinfo-basic", "GET", pathUserinfo, "", "", map[string]string{"Authorization": "Basic eDp5"}, 400},
		{"fail/userinfo-two-tokens", "POST", pathUserinfo, "application/x-www-form-urlencoded", "access_token=a", map[string]string{"Authorization": "Bearer b"}, 400},
		{"fail/userinfo-huge-body", "POST", pathUserinfo, "application/x-www-form-urlencoded", "access_token=" + big, nil, 400},
		{"fail/userinfo-alg-none", "GET", pathUserinfo, "", "", map[string]string{"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."}, 401},
		{"fail/login-unknown", "GET", pathLogin + "?login=nope", "", "", nil, 400},
		{"fail/login-huge-query", "GET", pathLogin + "?login=" + big, "", "", nil, 400},
		{"fail/login-post-no-form", "POST", pathLogin, "text/plain", "x", nil, 400},
		{"fail/login-post-unknown", "POST", pathLogin, "application/x-www-form-urlencoded", "login=x&csrf_token=y&username=a&password=b", nil, 400},
		{"fail/consent-post-unknown", "POST", pathConsent, "application/x-www-form-urlencoded", "login=x&csrf_token=y&decision=allow", nil, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, e.issuer+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			for k, v := range tc.hdr {
				req.Header.Set(k, v)
			}
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want || resp.Header.Get("Location") != "" {
				t.Errorf("status %d (Location %q), want %d", resp.StatusCode, resp.Header.Get("Location"), tc.want)
			}
			if strings.Contains(resp.Header.Get("Content-Type"), "problem+json") {
				t.Errorf("OAuth endpoint answered problem+json")
			}
		})
	}
}

func basic(id, secret string) string {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}

// TestReplicas runs two providers on one database behind one address,
// alternating per request: a session made by one replica is honoured by
// the other, and codes and refresh tokens cross replicas.
func TestReplicas(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		muxes := []*http.ServeMux{http.NewServeMux(), http.NewServeMux()}
		e.p.Routes(muxes[0])
		second, err := New(t.Context(), db, WithIssuer(e.issuer), WithClients(mustClients(t, e)...), WithKeySealer(testSealer(t, testPassphrase)),
			WithClock(e.clk.Now), WithLogger(discardLogger()))
		if err != nil {
			t.Fatal(err)
		}
		second.Routes(muxes[1])
		var n atomic.Int64
		lb := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			muxes[n.Add(1)%2].ServeHTTP(w, r)
		}))
		lb.StartTLS()
		defer lb.Close()
		// Point the environment at the balancer but keep the issuer: the
		// issuer is only an identifier here, requests go to lb.
		e.srv = lb
		b := e.browser(t)
		pa := e.portal(portalA)
		f, u := pa.start()
		u = strings.Replace(u, e.issuer, lb.URL, 1)
		lp := b.get(u)
		lf := parseForm(t, lp.body)
		lf.action = lb.URL + lf.action
		q := callback(t, b.submit(lf, map[string]string{"username": testUser, "password": testPassword}), pa)
		if q.Get("code") == "" {
			t.Fatalf("no code: %v", q)
		}
		// The code and refresh token work on whichever replica gets them.
		pa.cfg.Endpoint.TokenURL = lb.URL + pathToken
		tk := pa.exchange(t, q.Get("code"), f.verifier, f.nonce)
		for i := 0; i < 2; i++ {
			old := *tk.tok
			old.Expiry = time.Now().Add(-time.Hour)
			nt, err := pa.cfg.TokenSource(e.ctx, &old).Token()
			if err != nil {
				t.Fatalf("refresh %d: %v", i, err)
			}
			tk = pa.verify(t, nt, "")
		}
		for i := 0; i < 4; i++ { // SSO on both replicas
			_, u := e.portal(portalB).start()
			if q := callback(t, b.get(strings.Replace(u, e.issuer, lb.URL, 1)), e.portal(portalB)); q.Get("code") == "" {
				t.Fatalf("replica %d: no SSO: %v", n.Load()%2, q)
			}
		}
	})
}

func mustClients(t *testing.T, e *env) []ClientConfig {
	t.Helper()
	var out []ClientConfig
	for _, id := range []string{portalA, portalB, portalSM2, portalSPA, portalPub} {
		c, err := e.p.Client(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c.ClientConfig)
	}
	return out
}
