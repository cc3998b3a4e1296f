package authn

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// boundTo is an OfficerBindings of fixed bindings (account ID -> officer).
type boundTo map[string]string

func (b boundTo) BoundOfficer(_ context.Context, userID string) (string, error) {
	return b[userID], nil
}

// TestAdminAPI drives the administration API as a sysadmin, and as
// officers of other roles, who are refused.
func TestAdminAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := newClock()
		au := &memAuditor{}
		p := newTestProvider(t, db, clk, WithAuditor(au))
		officers := access.New(db, access.WithLogger(discardLogger()))
		first, err := officers.Bootstrap(ctx, "system:init")
		if err != nil {
			t.Fatal(err)
		}
		tok := map[string]string{}
		for _, f := range first {
			tok[f.Role] = f.Token
		}
		bound := boundTo{}
		mux := http.NewServeMux()
		p.AdminRoutes(mux, officers.Require, bound)
		call := func(t *testing.T, method, path, role string, body any, want int) []byte {
			t.Helper()
			var rd io.Reader
			if body != nil {
				b, _ := json.Marshal(body)
				rd = bytes.NewReader(b)
			}
			req := httptest.NewRequest(method, path, rd)
			req.RemoteAddr = "203.0.113.5:999"
			if role != "" {
				req.Header.Set("Authorization", "Bearer "+tok[role])
			}
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			if rec.Code != want {
				t.Fatalf("%s %s as %s: %d %s, want %d", method, path, role, rec.Code, rec.Body, want)
			}
			if want >= 400 && rec.Header().Get("Content-Type") != "application/problem+json" {
				t.Fatalf("%s %s: %d without problem+json", method, path, rec.Code)
			}
			return rec.Body.Bytes()
		}
		pw := "correct horse battery staple"

		var acct AccountJSON
		t.Run("ok/add-user", func(t *testing.T) {
			json.Unmarshal(call(t, "POST", "/authn/v1/users", access.RoleSysadmin, NewUserJSON{Username: "zhangsan", Password: pw, Name: "张三", IDNumber: testCitizenID}, 201), &acct)
			if acct.Username != "zhangsan" || acct.CitizenIDLast4 != "002X" || acct.TOTP {
				t.Fatalf("account %+v", acct)
			}
			evs := au.find("authn.admin.user.add")
			if len(evs) != 1 || evs[0].Subject != "officer:sysadmin-1" || evs[0].SourceAddr != "203.0.113.5:999" || evs[0].Account != acct.ID {
				t.Fatalf("audit %+v", evs)
			}
		})
		t.Run("fail/not-a-sysadmin", func(t *testing.T) {
			for _, role := range []string{access.RoleRA, access.RoleAuditor} {
				call(t, "POST", "/authn/v1/users", role, NewUserJSON{Username: "x", Password: pw}, 403)
				call(t, "GET", "/authn/v1/users", role, nil, 403)
			}
			call(t, "GET", "/authn/v1/users", "", nil, 401)
		})
		t.Run("fail/bad-fields-are-named", func(t *testing.T) {
			for field, u := range map[string]NewUserJSON{
				"password":  {Username: "lisi", Password: "short"},
				"username":  {Username: "li si", Password: pw},
				"email":     {Username: "lisi", Password: pw, Email: "nope"},
				"id_number": {Username: "lisi", Password: pw, IDNumber: "110105194912310021"},
			} {
				var pr struct{ Field string }
				json.Unmarshal(call(t, "POST", "/authn/v1/users", access.RoleSysadmin, u, 400), &pr)
				if pr.Field != field {
					t.Errorf("field %q, want %q", pr.Field, field)
				}
			}
			call(t, "POST", "/authn/v1/users", access.RoleSysadmin, NewUserJSON{Username: "zhangsan", Password: pw}, 409)
			call(t, "POST", "/authn/v1/users", access.RoleSysadmin, map[string]any{"username": "a", "password": pw, "is_admin": true}, 400)
		})
		t.Run("ok/list-and-unlock", func(t *testing.T) {
			for range 6 {
				p.thr.fail(ctx, accountKey("zhangsan"), defaultAccountThrottle)
			}
			var got AccountJSON
			json.Unmarshal(call(t, "GET", "/authn/v1/users/zhangsan", access.RoleSysadmin, nil, 200), &got)
			if got.LockedUntil.IsZero() {
				t.Fatalf("account not locked after 6 failures: %+v", got)
			}
			var list struct{ Users []AccountJSON }
			json.Unmarshal(call(t, "GET", "/authn/v1/users?q=zhang&limit=10", access.RoleSysadmin, nil, 200), &list)
			if len(list.Users) != 1 || list.Users[0].Username != "zhangsan" || list.Users[0].LockedUntil.IsZero() {
				t.Fatalf("list %+v", list.Users)
			}
			var unlocked AccountJSON
			json.Unmarshal(call(t, "POST", "/authn/v1/users/zhangsan/unlock", access.RoleSysadmin, nil, 200), &unlocked)
			if !unlocked.LockedUntil.IsZero() {
				t.Fatalf("still locked: %+v", got)
			}
			if _, err := p.users.verifyPassword(ctx, "zhangsan", pw); err != nil {
				t.Fatal(err)
			}
			if len(au.find("authn.admin.user.unlock")) != 1 || len(au.find("authn.admin.user.list")) != 1 {
				t.Fatal("unlock or list not audited")
			}
			call(t, "GET", "/authn/v1/users?limit=0", access.RoleSysadmin, nil, 400)
			call(t, "POST", "/authn/v1/users/nobody/unlock", access.RoleSysadmin, nil, 404)
		})
		t.Run("ok/password-and-totp-reset", func(t *testing.T) {
			if _, err := p.users.EnrollTOTP(ctx, acct.ID, "test"); err != nil {
				t.Fatal(err)
			}
			var got AccountJSON
			json.Unmarshal(call(t, "POST", "/authn/v1/users/zhangsan/totp-reset", access.RoleSysadmin, nil, 200), &got)
			if got.TOTP {
				t.Fatal("TOTP still enrolled")
			}
			call(t, "POST", "/authn/v1/users/zhangsan/password", access.RoleSysadmin, PasswordJSON{Password: "another long passphrase"}, 200)
			if _, err := p.users.verifyPassword(ctx, "zhangsan", "another long passphrase"); err != nil {
				t.Fatalf("new password: %v", err)
			}
		})
		t.Run("fail/officer-bound-account", func(t *testing.T) {
			bound[acct.ID] = "ra-1"
			defer delete(bound, acct.ID)
			if _, err := p.users.EnrollTOTP(ctx, acct.ID, "test"); err != nil {
				t.Fatal(err)
			}
			body := call(t, "POST", "/authn/v1/users/zhangsan/totp-reset", access.RoleSysadmin, nil, 403)
			if !strings.Contains(string(body), "ra-1") {
				t.Errorf("refusal does not name the officer: %s", body)
			}
			call(t, "POST", "/authn/v1/users/zhangsan/password", access.RoleSysadmin, PasswordJSON{Password: "yet another passphrase"}, 403)
			if ok, _ := p.users.HasTOTP(ctx, acct.ID); !ok {
				t.Fatal("the one-time code of an officer's account was removed")
			}
			if _, err := p.users.verifyPassword(ctx, "zhangsan", "another long passphrase"); err != nil {
				t.Fatalf("the password of an officer's account changed: %v", err)
			}
			for _, a := range []string{"authn.admin.user.totp-reset", "authn.admin.user.password"} {
				evs := au.find(a)
				if last := evs[len(evs)-1]; !strings.HasPrefix(last.Outcome, "failure") {
					t.Errorf("%s refusal audited as %q", a, last.Outcome)
				}
			}
		})
		t.Run("ok/add-client-with-logout-uris-and-targets", func(t *testing.T) {
			var out ClientSecretJSON
			json.Unmarshal(call(t, "POST", "/authn/v1/clients", access.RoleSysadmin, ClientConfig{
				ID: "tax-portal", Name: "税务门户", Department: "tax", RedirectURIs: []string{"https://tax.example/callback"},
				PostLogoutRedirectURIs: []string{"https://tax.example/bye"}, BackchannelLogoutURI: "https://tax.example/bc",
				TargetDepartments: []string{"renshe"},
			}, 201), &out)
			if out.ClientID != "tax-portal" || out.ClientSecret == "" {
				t.Fatalf("client %+v", out)
			}
			c, err := p.Client(ctx, "tax-portal")
			if err != nil || c.BackchannelLogoutURI != "https://tax.example/bc" || len(c.PostLogoutRedirectURIs) != 1 || len(c.TargetDepartments) != 1 {
				t.Fatalf("stored client %+v, %v", c, err)
			}
			var pr struct{ Field string }
			json.Unmarshal(call(t, "POST", "/authn/v1/clients", access.RoleSysadmin, ClientConfig{ID: "x", Name: "X", RedirectURIs: []string{"http://evil.example/cb"}}, 400), &pr)
			if pr.Field != "redirect_uris" {
				t.Errorf("field %q", pr.Field)
			}
			call(t, "POST", "/authn/v1/clients", access.RoleSysadmin, ClientConfig{ID: "y", Name: "Y", RedirectURIs: []string{"https://y.example/cb"}, SecretHash: "sha256:x"}, 400)
			call(t, "POST", "/authn/v1/clients", access.RoleSysadmin, ClientConfig{ID: "tax-portal", Name: "again", RedirectURIs: []string{"https://tax.example/cb"}}, 409)
			call(t, "POST", "/authn/v1/clients", access.RoleRA, ClientConfig{ID: "z", Name: "Z", RedirectURIs: []string{"https://z.example/cb"}}, 403)
			var list struct{ Clients []ClientSummary }
			if err := json.Unmarshal(call(t, "GET", "/authn/v1/clients", access.RoleSysadmin, nil, 200), &list); err != nil {
				t.Fatal(err)
			}
			if n := len(list.Clients); n == 0 || list.Clients[n-1].ID != "tax-portal" || list.Clients[n-1].Kind != ClientService || list.Clients[n-1].Department != "tax" {
				t.Errorf("client list %+v", list.Clients)
			}
			if evs := au.find("authn.admin.client.list"); len(evs) == 0 || evs[len(evs)-1].Subject != "officer:sysadmin-1" {
				t.Errorf("listing audited as %+v", evs)
			}
			call(t, "GET", "/authn/v1/clients", access.RoleAuditor, nil, 403)
		})
	})
}

// FuzzAdminAPI posts arbitrary bodies to the administration API as a
// sysadmin: never a 5xx, always problem+json on failure.
func FuzzAdminAPI(f *testing.F) {
	f.Add([]byte(`{"username":"zhangsan","password":"correct horse battery staple","id_number":"11010519491231002X"}`))
	f.Add([]byte(`{"id":"p","name":"P","redirect_uris":["https://p.example/cb"],"backchannel_logout_uri":"https://p.example/bc"}`))
	f.Add([]byte(`{"password":"x"}`))
	db := storetest.SQLite(f)
	p := newTestProvider(f, db, newClock())
	officers := access.New(db, access.WithLogger(discardLogger()))
	first, err := officers.Bootstrap(context.Background(), "system:init")
	if err != nil {
		f.Fatal(err)
	}
	if _, err := p.users.AddUser(context.Background(), NewUser{Username: "li", Password: "correct horse battery staple"}); err != nil {
		f.Fatal(err)
	}
	mux := http.NewServeMux()
	p.AdminRoutes(mux, officers.Require, boundTo{})
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, path := range []string{"/authn/v1/users", "/authn/v1/clients", "/authn/v1/users/li/password"} {
			req := httptest.NewRequest("POST", path, bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+first[0].Token)
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("POST %s %q: %d %s", path, body, rec.Code, rec.Body)
			}
			if rec.Code >= 400 && rec.Header().Get("Content-Type") != "application/problem+json" {
				t.Fatalf("POST %s: %d without problem+json", path, rec.Code)
			}
		}
	})
}
