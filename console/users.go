package console

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/tongxing/tongxing/access"
)

// The system administrator's account and client pages call the sign-on
// administration API (authn's /authn/v1, Deps.Accounts) in this process,
// with the officer of the console session as the request's principal, so
// that its checks (no one-time code reset of an officer's account) and
// its audit entries are the API's own.

func (c *Console) userRoutes(h func(string, http.HandlerFunc)) {
	sys := func(f guarded) http.HandlerFunc { return c.need(access.RoleSysadmin, f) }
	h("GET /admin/users", sys(c.adminUsers))
	h("POST /admin/users/{username}/{action}", sys(c.adminUserAction))
	h("GET /admin/clients", sys(c.adminClients))
	h("POST /admin/clients", sys(c.adminAddClient))
}

// callAccounts runs one request of the administration API as s's officer
// and returns its status and body.
func (c *Console) callAccounts(r *http.Request, s *session, method, path string, body any) (int, []byte) {
	var rd io.Reader = http.NoBody
	ctype := ""
	if body != nil {
		b, _ := json.Marshal(body)
		rd, ctype = bytes.NewReader(b), "application/json"
	}
	return c.callAPI(c.d.Accounts, r, s, method, c.issuerPath+path, rd, ctype)
}

// callAPI runs one request of an in-process API h as s's officer (the
// principal in the request's context, the browser's address as its
// source) and returns its status and body.
func (c *Console) callAPI(h http.Handler, r *http.Request, s *session, method, path string, body io.Reader, ctype string) (int, []byte) {
	req := httptest.NewRequestWithContext(access.WithPrincipal(r.Context(), s.principal(r)), method, path, body)
	req.RemoteAddr = r.RemoteAddr
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Code, w.Body.Bytes()
}

// problemDetail is the detail of a problem+json body, or the status text.
func problemDetail(status int, body []byte) string {
	var p struct {
		Detail string `json:"detail"`
	}
	if json.Unmarshal(body, &p) == nil && p.Detail != "" {
		return p.Detail
	}
	return http.StatusText(status)
}

// account is one row of the account list (authn.AccountJSON).
type account struct {
	Username       string `json:"username"`
	Name           string `json:"name"`
	CitizenIDLast4 string `json:"id_number_last4"`
	OrgName        string `json:"org_name"`
	TOTP           bool   `json:"totp"`
	LockedUntil    string `json:"locked_until"`
	Officer        string `json:"officer"`
	Disabled       bool   `json:"disabled"`
}

// adminUsers lists sign-on accounts (by user name prefix q).
func (c *Console) adminUsers(w http.ResponseWriter, r *http.Request, s *session) {
	q := truncate(strings.TrimSpace(r.URL.Query().Get("q")), 64)
	status, body := c.callAccounts(r, s, "GET", "/authn/v1/users?"+url.Values{"q": {q}, "limit": {"100"}}.Encode(), nil)
	p := c.page(s, "console.users.title", "/admin/users")
	var list struct {
		Users []account `json:"users"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &list) != nil {
		c.fail(w, r, s, status, problemDetail(status, body), nil)
		return
	}
	switch r.URL.Query().Get("done") {
	case "unlock":
		p.Flash = "console.users.unlocked"
	case "totp-reset":
		p.Flash = "console.users.reset"
	}
	p.Data = map[string]any{"Q": q, "Users": list.Users}
	c.render(w, r, http.StatusOK, "users", p)
}

// adminUserAction unlocks an account or removes its one-time-code factor
// (refused by the API for an officer's account).
func (c *Console) adminUserAction(w http.ResponseWriter, r *http.Request, s *session) {
	if _, err := c.csrf.Check(w, r, s.ID); err != nil {
		c.fail(w, r, s, http.StatusForbidden, "web.csrf", nil)
		return
	}
	action := r.PathValue("action")
	if action != "unlock" && action != "totp-reset" {
		c.fail(w, r, s, http.StatusNotFound, "console.err.notfound", nil)
		return
	}
	status, body := c.callAccounts(r, s, "POST", "/authn/v1/users/"+url.PathEscape(r.PathValue("username"))+"/"+action, nil)
	if status != http.StatusOK {
		c.fail(w, r, s, status, problemDetail(status, body), nil)
		return
	}
	http.Redirect(w, r, c.prefix+"/admin/users?done="+action, http.StatusSeeOther)
}

// client is one row of the client list (authn.ClientSummary).
type client struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	Department   string   `json:"department"`
	Kind         string   `json:"kind"`
	RedirectURIs []string `json:"redirect_uris"`
	MinACR       string   `json:"min_acr"`
	Configured   bool     `json:"configured"`
}

// clientsData is the clients page's data: the registered clients (from
// the administration API, which records the listing) and the departments
// for the form. On failure it returns the API's status and detail.
func (c *Console) clientsData(r *http.Request, s *session) (map[string]any, int, string) {
	status, body := c.callAccounts(r, s, "GET", "/authn/v1/clients", nil)
	var list struct {
		Clients []client `json:"clients"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &list) != nil {
		if status < 400 {
			status = http.StatusBadGateway
		}
		return nil, status, problemDetail(status, body)
	}
	return map[string]any{"Departments": c.departments(langOf(r)), "Clients": list.Clients}, 0, ""
}

// adminClients lists the registered clients, with the form to register
// a portal.
func (c *Console) adminClients(w http.ResponseWriter, r *http.Request, s *session) {
	p := c.page(s, "console.clients.title", "/admin/clients")
	data, status, detail := c.clientsData(r, s)
	if data == nil {
		c.fail(w, r, s, status, detail, nil)
		return
	}
	p.Data = data
	c.render(w, r, http.StatusOK, "clients", p)
}

// adminAddClient registers a portal; its secret is shown once.
func (c *Console) adminAddClient(w http.ResponseWriter, r *http.Request, s *session) {
	form, err := c.csrf.Check(w, r, s.ID)
	if err != nil {
		c.fail(w, r, s, http.StatusForbidden, "web.csrf", nil)
		return
	}
	get := func(k string) string { return truncate(strings.TrimSpace(form.Get(k)), 2048) }
	req := map[string]any{"id": get("id"), "name": get("name"), "redirect_uris": strings.Fields(get("redirect_uris"))}
	if d := get("department"); d != "" {
		req["department"] = d
	}
	status, body := c.callAccounts(r, s, "POST", "/authn/v1/clients", req)
	p := c.page(s, "console.clients.title", "/admin/clients")
	data, lstatus, detail := c.clientsData(r, s)
	if data == nil {
		c.fail(w, r, s, lstatus, detail, nil)
		return
	}
	p.Data = data
	var out struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	if status/100 != 2 || json.Unmarshal(body, &out) != nil {
		p.Error = problemDetail(status, body)
		c.render(w, r, max(status, http.StatusBadRequest), "clients", p)
		return
	}
	data["ID"], data["Secret"] = out.ID, out.Secret
	p.Flash = "console.clients.added"
	c.render(w, r, http.StatusCreated, "clients", p)
}
