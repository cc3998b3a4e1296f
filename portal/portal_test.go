package portal

import (
	"bytes"
	"context"
	"errors"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/tongxing/tongxing/authn"
	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/signature"
	"github.com/tongxing/tongxing/web/rp"
)

// accounts has one signed-in account with two sessions of its own; the
// session "theirs" is another account's.
type accounts struct{ ended []string }

func (a *accounts) SignedIn(r *http.Request) (*authn.SignedInCitizen, error) {
	if c, err := r.Cookie("sso"); err == nil && c.Value == "s1" {
		return &authn.SignedInCitizen{UserID: "u1", SessionID: "s1", CitizenIDPseudonym: "ab12"}, nil
	}
	return nil, nil
}

func (a *accounts) MySessions(_ context.Context, userID string) ([]authn.MySession, error) {
	if userID != "u1" {
		return nil, nil
	}
	return []authn.MySession{{ID: "s1", Current: true, ACR: "urn:tongxing:loa:4"}, {ID: "s2", ACR: "urn:tongxing:loa:2"}}, nil
}

func (a *accounts) EndSession(_ context.Context, sid, _ string) error {
	a.ended = append(a.ended, sid)
	return nil
}

type users struct{}

func (users) User(_ context.Context, id string) (*authn.User, error) {
	return &authn.User{ID: id, Username: "zhangsan", Name: "张三", CitizenIDLast4: "002X"}, nil
}

// inventory answers certificates whose subject holds the filter.
type inventory struct{ asked []ca.Filter }

func (i *inventory) Certificates(_ context.Context, f ca.Filter) ([]*ca.Record, error) {
	i.asked = append(i.asked, f)
	return []*ca.Record{{Serial: "0a1b", Profile: "citizen", Status: ca.StatusValid, Subject: "CN=张三,SERIALNUMBER=ab12"}}, nil
}

func newPortal(t *testing.T) (*Portal, *http.ServeMux, *accounts, *inventory) {
	t.Helper()
	acc, inv := &accounts{}, &inventory{}
	op := http.NewServeMux()
	op.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"issuer":"https://tongxing.example","authorization_endpoint":"https://tongxing.example/oauth2/authorize",` +
			`"token_endpoint":"https://tongxing.example/oauth2/token","jwks_uri":"https://tongxing.example/jwks"}`))
	})
	p, err := New(Deps{Issuer: "https://tongxing.example", Provider: rp.InProcess(op), Key: []byte("0123456789abcdef0123"),
		Accounts: acc, Users: users{}, Inventory: inv,
		Verify: func(context.Context, []byte, []byte) (*signature.Report, error) {
			return nil, errors.New("not a CMS signature")
		}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	p.Routes(mux)
	return p, mux, acc, inv
}

func do(mux *http.ServeMux, r *http.Request, signedIn bool) *httptest.ResponseRecorder {
	if signedIn {
		r.AddCookie(&http.Cookie{Name: "sso", Value: "s1"})
	}
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	return w
}

func TestPages(t *testing.T) {
	_, mux, _, inv := newPortal(t)
	w := do(mux, httptest.NewRequest("GET", "/me/certificates", nil), true)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "0a1b") || !strings.Contains(w.Body.String(), "市民证书") {
		t.Errorf("certificates: %d\n%s", w.Code, w.Body)
	}
	if len(inv.asked) != 1 || inv.asked[0].Subject != "ab12" {
		t.Errorf("inventory asked %+v, want the account's pseudonym", inv.asked)
	}
	w = do(mux, httptest.NewRequest("GET", "/me/", nil), true)
	if !strings.Contains(w.Body.String(), "四级：数字证书") || !strings.Contains(w.Body.String(), "尾号 002X") {
		t.Errorf("profile:\n%s", w.Body)
	}
}

func TestEndSession(t *testing.T) {
	p, mux, acc, _ := newPortal(t)
	token := p.csrf.Token("s1")
	for _, tc := range []struct {
		name, session, csrf string
		signedIn            bool
		status              int
		ended               string
	}{
		{"fail/no-csrf", "s2", "", true, http.StatusForbidden, ""},
		{"fail/other-accounts-session", "theirs", token, true, http.StatusNotFound, ""},
		{"fail/not-signed-in", "s2", token, false, http.StatusSeeOther, ""},
		{"ok/other-session", "s2", token, true, http.StatusSeeOther, "s2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acc.ended = nil
			r := httptest.NewRequest("POST", "/me/sessions/end", strings.NewReader(url.Values{"session": {tc.session}, "csrf_token": {tc.csrf}}.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			w := do(mux, r, tc.signedIn)
			if tc.status == http.StatusSeeOther && !tc.signedIn && !strings.HasPrefix(w.Header().Get("Location"), "https://tongxing.example/oauth2/authorize?") {
				t.Errorf("not sent to sign in: %q", w.Header().Get("Location"))
			}
			if w.Code != tc.status || strings.Join(acc.ended, ",") != tc.ended {
				t.Errorf("%d, ended %v; want %d, %q", w.Code, acc.ended, tc.status, tc.ended)
			}
		})
	}
}

func TestFiling(t *testing.T) {
	p, mux, _, _ := newPortal(t)
	upload := func(csrf string, sig []byte) *httptest.ResponseRecorder {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		mw.WriteField("csrf_token", csrf)
		if sig != nil {
			fw, _ := mw.CreateFormFile("signature", "filing.p7s")
			fw.Write(sig)
		}
		mw.Close()
		r := httptest.NewRequest("POST", "/me/filing", &b)
		r.Header.Set("Content-Type", mw.FormDataContentType())
		return do(mux, r, true)
	}
	if w := upload("", []byte("x")); w.Code != http.StatusForbidden {
		t.Errorf("without CSRF: %d", w.Code)
	}
	if w := upload(p.csrf.Token("s1"), nil); w.Code != http.StatusBadRequest {
		t.Errorf("without a signature: %d", w.Code)
	}
	if w := upload(p.csrf.Token("s1"), []byte("not CMS")); w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), "not a CMS signature") {
		t.Errorf("bad signature: %d %s", w.Code, w.Body)
	}
	big := upload(p.csrf.Token("s1"), bytes.Repeat([]byte("a"), maxFiling+1))
	if big.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized upload: %d", big.Code)
	}
}
