package web

import (
	"embed"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

//go:embed testdata/hello.html
var testPages embed.FS

func newTestSite(t *testing.T) *Site {
	t.Helper()
	s, err := New(testPages, []string{"testdata/*.html"}, "brand", Messages{"brand": {"通行", "Tongxing"}, "hello": {"你好", "Hello"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRender(t *testing.T) {
	s := newTestSite(t)
	for _, tc := range []struct {
		name, lang, accept string
		want               []string
	}{
		{"ok/default-zh", "", "", []string{`<html lang="zh-CN">`, "<title>你好 · 通行</title>", "三级：密码和动态口令", `href="/hello?lang=en"`, `&lt;script&gt;`}},
		{"ok/accept-en", "", "en-GB,en;q=0.9", []string{`<html lang="en">`, "Level 3: password and one-time code", "Skip to content"}},
		{"ok/accept-zh-first", "", "zh-CN,en;q=0.5", []string{`<html lang="zh-CN">`}},
		{"ok/query-en", "en", "zh-CN", []string{`<html lang="en">`, `<main id="main">`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := "/hello"
			if tc.lang != "" {
				target += "?lang=" + tc.lang
			}
			r := httptest.NewRequest("GET", target, nil)
			r.Header.Set("Accept-Language", tc.accept)
			w := httptest.NewRecorder()
			s.Render(w, r, 200, "hello", &Page{Title: "hello", Data: "<script>"})
			body := w.Body.String()
			for _, want := range tc.want {
				if !strings.Contains(body, want) {
					t.Errorf("page lacks %q:\n%s", want, body)
				}
			}
			csp := w.Header().Get("Content-Security-Policy")
			if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'nonce-") || !strings.Contains(csp, "form-action 'self'") {
				t.Errorf("CSP %q", csp)
			}
			if strings.Contains(body, "http://") || strings.Contains(body, "https://") {
				t.Errorf("page names another origin:\n%s", body)
			}
		})
	}
}

func TestRenderFailsClosed(t *testing.T) {
	s := newTestSite(t)
	w := httptest.NewRecorder()
	s.Render(w, httptest.NewRequest("GET", "/", nil), 200, "no-such-page", &Page{})
	if w.Code != 500 || strings.Contains(w.Body.String(), "<html") {
		t.Errorf("unknown page: %d %q", w.Code, w.Body.String())
	}
}

func TestNonceFresh(t *testing.T) {
	if a, b := Nonce(), Nonce(); a == b || len(a) != 22 {
		t.Errorf("nonces %q %q", a, b)
	}
}

func TestCSRF(t *testing.T) {
	c, err := NewCSRF([]byte("0123456789abcdef0123"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewCSRF([]byte("short")); err == nil {
		t.Error("short key accepted")
	}
	good := c.Token("session-1")
	for _, tc := range []struct {
		name, session, token, site string
		ok                         bool
	}{
		{"ok/same-origin", "session-1", good, "same-origin", true},
		{"ok/no-fetch-metadata", "session-1", good, "", true},
		{"fail/cross-site", "session-1", good, "cross-site", false},
		{"fail/same-site", "session-1", good, "same-site", false},
		{"fail/other-session", "session-2", good, "same-origin", false},
		{"fail/empty-token", "session-1", "", "same-origin", false},
		{"fail/no-session", "", c.Token(""), "same-origin", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/x", strings.NewReader(url.Values{"csrf_token": {tc.token}, "a": {"b"}}.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.site != "" {
				r.Header.Set("Sec-Fetch-Site", tc.site)
			}
			form, err := c.Check(httptest.NewRecorder(), r, tc.session)
			if tc.ok && (err != nil || form.Get("a") != "b") {
				t.Errorf("refused: %v", err)
			}
			if !tc.ok && !errors.Is(err, ErrCSRF) {
				t.Errorf("accepted (err %v)", err)
			}
		})
	}
	big := httptest.NewRequest("POST", "/x", strings.NewReader("a="+strings.Repeat("x", MaxFormSize+1)))
	big.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if _, err := c.Check(httptest.NewRecorder(), big, "session-1"); err == nil {
		t.Error("oversized form accepted")
	}
}

func TestStyleSheet(t *testing.T) {
	mux := http.NewServeMux()
	Routes(mux)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", StaticPath+"/style.css", nil))
	if w.Code != 200 || !strings.Contains(w.Body.String(), "Noto Sans CJK SC") || strings.Contains(w.Body.String(), "url(") {
		t.Errorf("style sheet: %d", w.Code)
	}
}

func TestSigner(t *testing.T) {
	key := []byte("0123456789abcdef")
	a, _ := NewSigner(key, "console")
	b, _ := NewSigner(key, "portal")
	type v struct{ N string }
	enc, err := a.Encode(v{"officer"})
	if err != nil {
		t.Fatal(err)
	}
	var got v
	if err := a.Decode(enc, &got); err != nil || got.N != "officer" {
		t.Fatalf("round trip: %v %v", got, err)
	}
	body, mac, _ := strings.Cut(enc, ".")
	for name, bad := range map[string]string{
		"fail/other-purpose": "", "fail/no-mac": body, "fail/changed-body": "e30." + mac,
		"fail/empty": "", "fail/huge": strings.Repeat("a", MaxCookieSize+1),
	} {
		t.Run(name, func(t *testing.T) {
			s := a
			if bad == "" && name == "fail/other-purpose" {
				s, bad = b, enc
			}
			if err := s.Decode(bad, &got); !errors.Is(err, ErrCookie) {
				t.Errorf("accepted: %v", err)
			}
		})
	}
}

func FuzzSignerDecode(f *testing.F) {
	s, _ := NewSigner([]byte("0123456789abcdef"), "fuzz")
	good, _ := s.Encode(map[string]string{"a": "b"})
	f.Add(good)
	f.Add("x.y")
	f.Fuzz(func(t *testing.T, in string) {
		var v map[string]any
		if err := s.Decode(in, &v); err == nil && in != good {
			// Only values this signer made may decode.
			again, _ := s.Encode(v)
			if again == "" {
				t.Fatalf("decoded %q into %v that does not re-encode", in, v)
			}
		}
	})
}

func TestRefresh(t *testing.T) {
	s := newTestSite(t)
	w := httptest.NewRecorder()
	s.Render(w, httptest.NewRequest("GET", "/hello", nil), 200, "hello", &Page{RefreshURL: "/login/qr?login=a&b=\"c", RefreshSeconds: 2})
	body := w.Body.String()
	csp := w.Header().Get("Content-Security-Policy")
	i := strings.Index(csp, "'nonce-")
	nonce := csp[i+7 : strings.Index(csp[i:], "'; ")+i]
	if !strings.Contains(body, `<script nonce="`+nonce+`">`) || !strings.Contains(body, " 2000 )") {
		t.Errorf("no script with the CSP nonce %q:\n%s", nonce, body)
	}
	if !strings.Contains(body, `<noscript><meta http-equiv="refresh" content="2;url=/login/qr?login=a&amp;b=&#34;c">`) {
		t.Errorf("no meta refresh fallback:\n%s", body)
	}
	if strings.Contains(body, `b="c`) {
		t.Errorf("refresh URL not escaped:\n%s", body)
	}
}

func TestUnder(t *testing.T) {
	mux := http.NewServeMux()
	h := Under(mux, "/me")
	h("GET /{$}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "home") })
	h("POST /signout", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "out") })
	for _, tc := range []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/me/", 200, "home"},
		{"POST", "/me/signout", 200, "out"},
		{"GET", "/me/signout", 405, ""},
		{"GET", "/signout", 404, ""},
	} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if rec.Code != tc.status || (tc.body != "" && rec.Body.String() != tc.body) {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, rec.Code, rec.Body.String(), tc.status, tc.body)
		}
	}
}
