package console

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tongxing/tongxing/access"
)

func TestClientList(t *testing.T) {
	f := newFixture(t)
	var asked *access.Principal
	f.c.d.Accounts = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked, _ = access.PrincipalFrom(r.Context())
		if r.Method != "GET" || r.URL.Path != "/authn/v1/clients" {
			http.NotFound(w, r)
			return
		}
		if asked.Name == "refused" {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"status":403,"detail":"role sysadmin required"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"clients":[{"id":"tongxing-console","name":"控制台","kind":"public","redirect_uris":["https://tongxing.example/console/callback"],"min_acr":"urn:tongxing:loa:3","configured":true},
{"id":"tax-portal","name":"<b>税务门户</b>","department":"tax","kind":"confidential","redirect_uris":["https://tax.example/cb"],"min_acr":"urn:tongxing:loa:2"}]}`))
	})
	w := f.do("GET", "/console/admin/clients", f.cookie(t, "u-sys", "sys", access.RoleSysadmin, time.Minute, time.Minute), nil)
	body := w.Body.String()
	if w.Code != http.StatusOK || asked == nil || asked.Name != "sys" || asked.Role != access.RoleSysadmin {
		t.Fatalf("%d, asked as %+v\n%s", w.Code, asked, body)
	}
	for _, want := range []string{"tongxing-console", "https://tax.example/cb", "税务局", "&lt;b&gt;税务门户", "公开客户端", `id="clients"`} {
		if !strings.Contains(body, want) {
			t.Errorf("clients page lacks %q", want)
		}
	}
	if strings.Contains(body, "<b>税务门户") {
		t.Error("client name not escaped")
	}
	f.offs.list = append(f.offs.list, &access.Officer{Name: "refused", Role: access.RoleSysadmin, Status: access.StatusActive, UserID: "u-refused"})
	if w := f.do("GET", "/console/admin/clients", f.cookie(t, "u-refused", "refused", access.RoleSysadmin, time.Minute, time.Minute), nil); w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "role sysadmin required") {
		t.Errorf("refused listing: %d\n%s", w.Code, w.Body)
	}
}
