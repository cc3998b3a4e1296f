package rp

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/tongxing/tongxing/web"
)

const issuer = "https://op.test"

// discovery serves a provider's discovery document only: enough for
// Begin and for the failures of Finish before the token endpoint.
func discovery() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"issuer":"` + issuer + `","authorization_endpoint":"` + issuer + `/oauth2/authorize","token_endpoint":"` + issuer +
			`/oauth2/token","jwks_uri":"` + issuer + `/jwks.json","id_token_signing_alg_values_supported":["RS256"]}`))
	})
	return mux
}

func newRP(t *testing.T) (*RP, *web.Signer) {
	t.Helper()
	signer, err := web.NewSigner([]byte("0123456789abcdef"), "rp-test")
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(issuer, "tongxing-console", issuer+"/console/callback", "tx_test", InProcess(discovery()), signer)
	if err != nil {
		t.Fatal(err)
	}
	return p, signer
}

func TestBegin(t *testing.T) {
	p, signer := newRP(t)
	for _, tc := range []struct{ name, ret, want string }{
		{"ok/local-path", "/console/audit?x=1", "/console/audit?x=1"},
		{"fail/other-host", "//evil.example/", "/"},
		{"fail/backslash-host", "/\\evil.example/", "/"},
		{"fail/absolute", "https://evil.example/", "/"},
		{"fail/header-injection", "/a\r\nSet-Cookie: x=1", "/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			if err := p.Begin(w, httptest.NewRequest("GET", "/console/signin", nil), Start{ACR: "urn:tongxing:loa:3", ReturnTo: tc.ret}); err != nil {
				t.Fatal(err)
			}
			loc, _ := url.Parse(w.Header().Get("Location"))
			q := loc.Query()
			if loc.Path != "/oauth2/authorize" || q.Get("code_challenge_method") != "S256" || q.Get("state") == "" || q.Get("nonce") == "" ||
				q.Get("acr_values") != "urn:tongxing:loa:3" || q.Get("client_id") != "tongxing-console" {
				t.Fatalf("redirect %s", loc)
			}
			var pd pending
			c := w.Result().Cookies()[0]
			if err := signer.Decode(c.Value, &pd); err != nil || pd.ReturnTo != tc.want || pd.State != q.Get("state") || !c.HttpOnly || !c.Secure || c.Path != "/console/callback" {
				t.Errorf("pending %+v (cookie %+v, err %v)", pd, c, err)
			}
		})
	}
}

// Start.Login asks for prompt=login; without it there is no prompt.
func TestBeginLogin(t *testing.T) {
	p, _ := newRP(t)
	for _, login := range []bool{true, false} {
		w := httptest.NewRecorder()
		if err := p.Begin(w, httptest.NewRequest("GET", "/console/signin", nil), Start{ReturnTo: "/console/", Login: login}); err != nil {
			t.Fatal(err)
		}
		loc, _ := url.Parse(w.Header().Get("Location"))
		if got, want := loc.Query().Get("prompt"), map[bool]string{true: "login"}[login]; got != want {
			t.Errorf("Login %v: prompt %q, want %q", login, got, want)
		}
	}
}

func TestFinishRefuses(t *testing.T) {
	p, _ := newRP(t)
	w := httptest.NewRecorder()
	if err := p.Begin(w, httptest.NewRequest("GET", "/", nil), Start{ReturnTo: "/console/"}); err != nil {
		t.Fatal(err)
	}
	cookie := w.Result().Cookies()[0]
	state := func() string { u, _ := url.Parse(w.Header().Get("Location")); return u.Query().Get("state") }()
	for _, tc := range []struct {
		name, query string
		cookie      *http.Cookie
		want        error
	}{
		{"fail/no-cookie", "state=" + state + "&code=x", nil, ErrState},
		{"fail/other-state", "state=guess&code=x", cookie, ErrState},
		{"fail/forged-cookie", "state=" + state + "&code=x", &http.Cookie{Name: "tx_test", Value: "e30.AAAA"}, ErrState},
		{"fail/provider-error", "state=" + state + "&error=access_denied", cookie, ErrLogin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/console/callback?"+tc.query, nil)
			if tc.cookie != nil {
				r.AddCookie(tc.cookie)
			}
			rec := httptest.NewRecorder()
			if _, err := p.Finish(rec, r); !errors.Is(err, tc.want) {
				t.Errorf("err %v, want %v", err, tc.want)
			}
			if c := rec.Result().Cookies(); len(c) != 1 || c[0].MaxAge >= 0 {
				t.Errorf("the pending sign-in is not cleared: %+v", c)
			}
		})
	}
}
