package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/web"
	"github.com/tongxing/tongxing/web/rp"
)

// sessionCookie is the console's own session cookie.
const sessionCookie = "tx_console"

// session is the signed state of a console sign-in, held by the browser.
type session struct {
	ID       string `json:"i"` // random; CSRF tokens are bound to it
	UserID   string `json:"u"`
	Officer  string `json:"o"`
	Role     string `json:"r"`
	ACR      string `json:"a"`
	AuthTime int64  `json:"t"`
	Started  int64  `json:"s"`
	Seen     int64  `json:"l"`
}

// principal is the officer of s as package access names them; SourceAddr
// is the request's.
func (s *session) principal(r *http.Request) *access.Principal {
	return &access.Principal{Name: s.Officer, Role: s.Role, SourceAddr: r.RemoteAddr}
}

// current returns the request's live session, refreshed: nil when there is
// none, it is idle or too old, or its officer is no longer the active
// officer bound to the account in the same role.
func (c *Console) current(w http.ResponseWriter, r *http.Request) (*session, error) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, nil
	}
	var s session
	if c.cookies.Decode(ck.Value, &s) != nil {
		return nil, nil
	}
	now := c.now().Unix()
	if now-s.Seen > int64(c.idle.Seconds()) || now-s.Started > int64(c.lifetime.Seconds()) {
		c.clear(w)
		return nil, nil
	}
	o, err := c.boundOfficer(r.Context(), s.UserID)
	if err != nil {
		return nil, err
	}
	if o == nil || o.Name != s.Officer || o.Role != s.Role || s.Started <= o.ConsoleSignedOutAt.Unix() {
		c.clear(w)
		return nil, nil
	}
	if now-s.Seen >= 30 {
		s.Seen = now
		if err := c.setSession(w, &s); err != nil {
			return nil, err
		}
	}
	return &s, nil
}

// boundOfficer returns the active officer bound to account userID, or nil.
func (c *Console) boundOfficer(ctx context.Context, userID string) (*access.Officer, error) {
	if userID == "" {
		return nil, nil
	}
	all, err := c.d.Officers.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("console: officers: %w", err)
	}
	for _, o := range all {
		if o.Status == access.StatusActive && o.UserID == userID {
			return o, nil
		}
	}
	return nil, nil
}

func (c *Console) setSession(w http.ResponseWriter, s *session) error {
	v, err := c.cookies.Encode(s)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: v, Path: c.prefix, HttpOnly: true,
		Secure: strings.HasPrefix(c.d.Issuer, "https:"), SameSite: http.SameSiteStrictMode, MaxAge: int(c.lifetime.Seconds())})
	return nil
}

func (c *Console) clear(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Path: c.prefix, MaxAge: -1, HttpOnly: true,
		Secure: strings.HasPrefix(c.d.Issuer, "https:"), SameSite: http.SameSiteStrictMode})
}

// signin starts the OpenID Connect sign-in; ?return= is a console path.
func (c *Console) signin(w http.ResponseWriter, r *http.Request) {
	ret := r.URL.Query().Get("return")
	if !strings.HasPrefix(ret, c.prefix+"/") {
		ret = c.prefix + "/"
	}
	// Every console sign-in authenticates the officer again: the console
	// session is a cookie that signing out clears, but the provider's
	// sign-on session outlives it, and the next person at a shared
	// terminal must not inherit it.
	st := rp.Start{ACR: "urn:tongxing:loa:3", ReturnTo: ret, Login: true}
	if r.URL.Query().Get("fresh") == "1" {
		st.MaxAge = c.fresh
	}
	if err := c.rp.Begin(w, r, st); err != nil {
		c.fail(w, r, nil, http.StatusBadGateway, "console.err.provider", err)
	}
}

// callback finishes the sign-in: the ID token must say level 3 (password
// and one-time code), and its account must be bound to an active officer.
// A certificate login (level 4) is refused: it reaches the account of the
// identity a certificate names, and any registration officer can have one
// issued for an officer's ID number with a key of their own (an enrolment
// code), which would make them that officer (another role, or the second
// and third registration officer of the KMC's dual control).
func (c *Console) callback(w http.ResponseWriter, r *http.Request) {
	l, err := c.rp.Finish(w, r)
	if errors.Is(err, rp.ErrState) {
		c.fail(w, r, nil, http.StatusBadRequest, "console.err.state", nil)
		return
	}
	if err != nil {
		c.record(r, nil, "access.deny", "failure: sign-in refused", err.Error())
		c.fail(w, r, nil, http.StatusForbidden, "console.err.login", nil)
		return
	}
	if l.ACR != "urn:tongxing:loa:3" {
		c.record(r, nil, "access.deny", "failure: assurance too low", "acr "+l.ACR)
		c.fail(w, r, nil, http.StatusForbidden, "console.err.acr", nil)
		return
	}
	o, err := c.boundOfficer(r.Context(), l.Subject)
	if err != nil {
		c.fail(w, r, nil, http.StatusInternalServerError, "console.err.internal", err)
		return
	}
	if o == nil {
		c.record(r, nil, "access.deny", "failure: account bound to no officer", "account "+l.Subject)
		c.fail(w, r, nil, http.StatusForbidden, "console.err.unbound", nil)
		return
	}
	now := c.now().Unix()
	s := &session{ID: web.Nonce(), UserID: l.Subject, Officer: o.Name, Role: o.Role, ACR: l.ACR,
		AuthTime: l.AuthTime.Unix(), Started: now, Seen: now}
	if err := c.setSession(w, s); err != nil {
		c.fail(w, r, nil, http.StatusInternalServerError, "console.err.internal", err)
		return
	}
	c.record(r, s, "console.signin", "success", "acr "+l.ACR)
	http.Redirect(w, r, l.ReturnTo, http.StatusSeeOther)
}

func (c *Console) signout(w http.ResponseWriter, r *http.Request) {
	s, err := c.current(w, r)
	if err == nil && s != nil {
		if _, err := c.csrf.Check(w, r, s.ID); err != nil {
			c.fail(w, r, s, http.StatusForbidden, "web.csrf", nil)
			return
		}
		// The cookie is signed, not stored: sign-out is recorded with the
		// officer, so that no copy of it is accepted again.
		if err := c.d.Officers.SignOutConsole(r.Context(), s.principal(r), c.now()); err != nil {
			c.fail(w, r, s, http.StatusInternalServerError, "console.err.internal", err)
			return
		}
		c.record(r, s, "console.signout", "success")
	}
	c.clear(w)
	http.Redirect(w, r, c.prefix+"/", http.StatusSeeOther)
}

// guarded is a console handler for a signed-in officer.
type guarded func(w http.ResponseWriter, r *http.Request, s *session)

// need serves f to an officer of role (any role for ""): without a
// session the browser is sent to sign in; another role gets 403. Each
// decision is written to the audit log first; one that cannot be is
// refused (503).
func (c *Console) need(role string, f guarded) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := c.current(w, r)
		if err != nil {
			c.fail(w, r, nil, http.StatusInternalServerError, "console.err.internal", err)
			return
		}
		if s == nil {
			ret := r.URL.Path
			if r.Method != http.MethodGet {
				ret = c.prefix + "/"
			} else if r.URL.RawQuery != "" {
				ret += "?" + r.URL.RawQuery
			}
			http.Redirect(w, r, c.prefix+"/signin?return="+url.QueryEscape(ret), http.StatusSeeOther)
			return
		}
		if role != "" && s.Role != role {
			if err := c.record(r, s, "access.deny", "failure: role "+role+" required", "officer "+s.Officer+" holds role "+s.Role); err != nil {
				c.fail(w, r, s, http.StatusServiceUnavailable, "console.err.audit", err)
				return
			}
			c.fail(w, r, s, http.StatusForbidden, "console.err.role", nil)
			return
		}
		if err := c.record(r, s, "access.allow", "success"); err != nil {
			c.fail(w, r, s, http.StatusServiceUnavailable, "console.err.audit", err)
			return
		}
		f(w, r, s)
	}
}

// isFresh reports whether s signed in recently enough for a sensitive
// action; if not, it sends the browser to sign in again (max_age) and
// come back to back.
func (c *Console) isFresh(w http.ResponseWriter, r *http.Request, s *session, back string) bool {
	if c.now().Unix()-s.AuthTime <= int64(c.fresh.Seconds()) {
		return true
	}
	http.Redirect(w, r, c.prefix+"/signin?fresh=1&return="+url.QueryEscape(back), http.StatusSeeOther)
	return false
}

// record writes a console decision or action to the audit log.
func (c *Console) record(r *http.Request, s *session, action, outcome string, reasons ...string) error {
	ev := access.Event{Action: action, Outcome: outcome, SourceAddr: r.RemoteAddr, Reasons: reasons,
		Resource: truncate("console:"+r.Method+" "+r.URL.RequestURI(), 512)}
	if s != nil {
		ev.Actor, ev.Role = "officer:"+s.Officer, s.Role
	}
	return c.d.Recorder.Record(context.WithoutCancel(r.Context()), ev)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// page returns a page for s with the navigation of its role.
func (c *Console) page(s *session, title, current string) *web.Page {
	p := &web.Page{Title: title}
	if s == nil {
		return p
	}
	p.CSRF = c.csrf.Token(s.ID)
	p.Who, p.SignOutAction = s.Officer, c.prefix+"/signout"
	for _, n := range navOf[s.Role] {
		p.Nav = append(p.Nav, web.NavItem{Label: n[0], URL: c.prefix + n[1], Current: n[1] == current})
	}
	return p
}

// navOf is each role's navigation: message key, path.
var navOf = map[string][][2]string{
	access.RoleAuditor: {{"console.nav.audit", "/audit"}, {"console.nav.checkpoints", "/audit/checkpoints"}, {"console.nav.charts", "/audit/charts"}, {"console.nav.proposals", "/proposals"}},
	access.RoleRA:      {{"console.nav.ra", "/ra"}, {"console.nav.codes", "/ra/codes"}, {"console.nav.recoveries", "/ra/recoveries"}, {"console.nav.proposals", "/proposals"}},
	access.RoleSysadmin: {{"console.nav.officers", "/admin/officers"}, {"console.nav.users", "/admin/users"}, {"console.nav.clients", "/admin/clients"},
		{"console.nav.departments", "/admin/departments"}, {"console.nav.policies", "/admin/policies"}, {"console.nav.proposals", "/proposals"}},
}

// fail shows an error page; err (a cause, not shown) is logged.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, status int, msg string, err error) {
	if err != nil {
		c.d.Logger.ErrorContext(r.Context(), "console", "path", r.URL.Path, "status", status, "err", err)
	}
	p := c.page(s, "console.error.title", "")
	p.Error, p.Data = msg, c.prefix+"/"
	c.render(w, r, status, "error", p)
}

// render sends the page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, p *web.Page) {
	c.site.Render(w, r, status, name, p)
}
