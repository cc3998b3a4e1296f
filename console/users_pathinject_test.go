package console

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tongxing/tongxing/access"
)

// approveSpy records the proposals the console approves.
type approveSpy struct {
	*officers
	approved []string
}

func (a *approveSpy) Approve(_ context.Context, _ *access.Principal, id string) (*access.Proposal, string, error) {
	a.approved = append(a.approved, id)
	return &access.Proposal{ID: id}, "", nil
}

// A user name is free text (no "/", "?" or ".." check): the unlock and
// one-time-code reset forms must post to that account's own URL, not to a
// path the name makes up. Here a sysadmin-chosen user name turns another
// sysadmin's "Unlock" click into the approval of a pending officer
// proposal (dual control bypassed).
func TestUserActionFormsStayOnTheirAccount(t *testing.T) {
	f := newFixture(t)
	spy := &approveSpy{officers: f.offs}
	f.c.d.Officers = spy
	evil := "x/../../../proposals/prp_0011223344556677/approve?"
	var posted []string
	f.c.d.Accounts = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" {
			posted = append(posted, r.URL.EscapedPath())
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"users":[{"username":"x\/..\/..\/..\/proposals\/prp_0011223344556677\/approve?","name":"n","totp":true,"locked_until":"2030-01-01T00:00:00Z"}]}`))
	})
	ck := f.cookie(t, "u-sys", "sys", access.RoleSysadmin, time.Minute, time.Minute)
	w := f.do("GET", "/console/admin/users", ck, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("%d\n%s", w.Code, w.Body)
	}
	page, _ := url.Parse("https://tongxing.example/console/admin/users")
	actions := regexp.MustCompile(`<form class="inline" method="post" action="(/console/admin/users/[^"]*)"`).FindAllStringSubmatch(w.Body.String(), -1)
	if len(actions) != 2 {
		t.Fatalf("want the unlock and reset forms, got %q", actions)
	}
	for i, want := range []string{"unlock", "totp-reset"} {
		ref, err := url.Parse(html.UnescapeString(actions[i][1]))
		if err != nil {
			t.Fatal(err)
		}
		// What a browser posts to: dot segments resolved, query split off.
		u := page.ResolveReference(ref)
		wantPath := "/console/admin/users/" + url.PathEscape(evil) + "/" + want
		if u.EscapedPath() != wantPath || u.RawQuery != "" {
			t.Errorf("%s form posts to %q (query %q), want %q", want, u.EscapedPath(), u.RawQuery, wantPath)
		}
		// Submit it as the browser would, with the page's CSRF token.
		target := u.RequestURI()
		f.do("POST", target, ck, url.Values{"csrf_token": {f.c.csrf.Token("sid-sys")}})
	}
	if len(spy.approved) > 0 {
		t.Errorf("clicking Unlock approved officer proposal(s) %q", spy.approved)
	}
	wantPosted := []string{
		"/authn/v1/users/" + url.PathEscape(evil) + "/unlock",
		"/authn/v1/users/" + url.PathEscape(evil) + "/totp-reset",
	}
	if strings.Join(posted, " ") != strings.Join(wantPosted, " ") {
		t.Errorf("the API got %q, want %q", posted, wantPosted)
	}
}
