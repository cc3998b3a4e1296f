// Package portal is the citizen and enterprise portal at /me:
// server-rendered pages (package web) for the account signed in with
// Tongxing's own sign-on session: the profile, the account's certificates
// (a citizen's by the pseudonym of their ID number, an enterprise's
// e-certs by its organisation name and credit code), the sign-on sessions
// (end them), the one-time code enrolment (/me/totp, package authn), who accessed my data
// (the gateway's access ledger, /me/v1/access-log, read in-process with
// the browser's own cookie), and for enterprises the verification report
// of an uploaded signed filing.
//
// The portal is a relying party of Tongxing's provider (public client
// "tongxing-me", PKCE, package web/rp): a visitor without a session is
// sent to sign in there; afterwards the pages follow the sign-on session
// itself, so that ending it signs the portal out too.
package portal

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/authn"
	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/ident"
	"github.com/tongxing/tongxing/gateway"
	"github.com/tongxing/tongxing/signature"
	"github.com/tongxing/tongxing/web"
	"github.com/tongxing/tongxing/web/rp"
)

//go:embed templates/*.html
var templates embed.FS

// ClientID is the portal's client at the provider.
const ClientID = "tongxing-me"

// Accounts is the sign-on side; *authn.Provider is one.
type Accounts interface {
	SignedIn(r *http.Request) (*authn.SignedInCitizen, error)
	MySessions(ctx context.Context, userID string) ([]authn.MySession, error)
	EndSession(ctx context.Context, sid, remoteAddr string) error
}

// Users reads accounts; *authn.Users is one.
type Users interface {
	User(ctx context.Context, id string) (*authn.User, error)
}

// Inventory lists certificates; *ca.SQLStore is one.
type Inventory interface {
	Certificates(ctx context.Context, f ca.Filter) ([]*ca.Record, error)
}

// Deps are what the portal needs; all are required but Logger.
type Deps struct {
	Issuer    string
	Provider  http.RoundTripper // the server's handler, in-process (rp.InProcess)
	Key       []byte            // signs cookies and CSRF tokens
	Accounts  Accounts
	Users     Users
	Inventory Inventory
	// Verify checks a signed filing (signature.Verify with the server's
	// trust anchors).
	Verify func(ctx context.Context, p7s, content []byte) (*signature.Report, error)
	Logger *slog.Logger
}

// Portal serves /me.
type Portal struct {
	d      Deps
	prefix string
	site   *web.Site
	rp     *rp.RP
	csrf   *web.CSRF
	api    *http.Client
}

// New returns the portal.
func New(d Deps) (*Portal, error) {
	if d.Provider == nil || d.Accounts == nil || d.Users == nil || d.Inventory == nil || d.Verify == nil {
		return nil, errors.New("portal: missing dependency")
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	p := &Portal{d: d, prefix: strings.TrimRight(pathOf(d.Issuer), "/") + "/me", api: &http.Client{Transport: d.Provider, Timeout: 30 * time.Second}}
	signer, err := web.NewSigner(d.Key, "portal")
	if err != nil {
		return nil, err
	}
	if p.csrf, err = web.NewCSRF(append([]byte("portal\x00"), d.Key...)); err != nil {
		return nil, err
	}
	if p.rp, err = rp.New(d.Issuer, ClientID, strings.TrimRight(d.Issuer, "/")+"/me/callback", "tx_me_login", d.Provider, signer); err != nil {
		return nil, err
	}
	funcs := template.FuncMap{"me": func() string { return p.prefix }}
	if p.site, err = web.New(templates, []string{"templates/*.html"}, "me.brand", messages, funcs, d.Logger); err != nil {
		return nil, err
	}
	return p, nil
}

// Client is the portal's registration at the provider: a public client
// (PKCE) at level 2 or more, public subjects.
func Client(issuer string) (id, name, redirect, minACR string) {
	return ClientID, "通行 · 我的政务 Tongxing citizen portal", strings.TrimRight(issuer, "/") + "/me/callback", "urn:tongxing:loa:2"
}

// Routes registers the portal on mux.
func (p *Portal) Routes(mux *http.ServeMux) {
	h := web.Under(mux, p.prefix)
	h("GET /{$}", p.signedIn(p.profile))
	h("GET /callback", p.callback)
	h("GET /certificates", p.signedIn(p.certificates))
	h("GET /sessions", p.signedIn(p.sessions))
	h("POST /sessions/end", p.signedIn(p.endSession))
	h("GET /access", p.signedIn(p.access))
	h("GET /filing", p.signedIn(p.filingForm))
	h("POST /filing", p.signedIn(p.filing))
	mux.HandleFunc("GET "+p.prefix, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, p.prefix+"/", http.StatusSeeOther)
	})
}

// visitor is the signed-in account of a request.
type visitor struct {
	*authn.SignedInCitizen
	User *authn.User
}

type page func(w http.ResponseWriter, r *http.Request, v *visitor)

// signedIn serves f to a visitor with a sign-on session; others are sent
// to sign in.
func (p *Portal) signedIn(f page) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := p.d.Accounts.SignedIn(r)
		if err != nil {
			p.fail(w, r, nil, http.StatusInternalServerError, "me.err.internal", err)
			return
		}
		if c == nil {
			ret := p.prefix + "/"
			if r.Method == http.MethodGet {
				ret = r.URL.RequestURI()
			}
			if err := p.rp.Begin(w, r, rp.Start{ReturnTo: ret}); err != nil {
				p.fail(w, r, nil, http.StatusBadGateway, "me.err.internal", err)
			}
			return
		}
		u, err := p.d.Users.User(r.Context(), c.UserID)
		if err != nil {
			p.fail(w, r, nil, http.StatusInternalServerError, "me.err.internal", err)
			return
		}
		f(w, r, &visitor{SignedInCitizen: c, User: u})
	}
}

// callback finishes the portal's sign-in and returns to the page asked for.
func (p *Portal) callback(w http.ResponseWriter, r *http.Request) {
	l, err := p.rp.Finish(w, r)
	if err != nil {
		status := http.StatusForbidden
		if errors.Is(err, rp.ErrState) {
			status = http.StatusBadRequest
		}
		p.d.Logger.InfoContext(r.Context(), "portal sign-in refused", "err", err)
		p.fail(w, r, nil, status, "me.err.login", nil)
		return
	}
	http.Redirect(w, r, l.ReturnTo, http.StatusSeeOther)
}

// page returns the page of v with the portal's navigation.
func (p *Portal) page(v *visitor, title, current string) *web.Page {
	pg := &web.Page{Title: title}
	if v == nil {
		return pg
	}
	pg.CSRF = p.csrf.Token(v.SessionID)
	pg.Who = v.User.Name
	if pg.Who == "" {
		pg.Who = v.User.Username
	}
	if v.User.OrgName != "" {
		pg.Who = v.User.OrgName
	}
	nav := [][2]string{{"me.nav.profile", "/"}, {"me.nav.certs", "/certificates"}, {"me.nav.sessions", "/sessions"}, {"me.nav.access", "/access"},
		{"me.nav.filing", "/filing"}}
	for _, n := range nav {
		pg.Nav = append(pg.Nav, web.NavItem{Label: n[0], URL: p.prefix + n[1], Current: n[1] == current})
	}
	return pg
}

func (p *Portal) fail(w http.ResponseWriter, r *http.Request, v *visitor, status int, msg string, err error) {
	if err != nil {
		p.d.Logger.ErrorContext(r.Context(), "portal", "path", r.URL.Path, "status", status, "err", err)
	}
	pg := p.page(v, "me.error.title", "")
	pg.Error, pg.Data = msg, p.prefix+"/"
	p.site.Render(w, r, status, "error", pg)
}

func (p *Portal) profile(w http.ResponseWriter, r *http.Request, v *visitor) {
	pg := p.page(v, "me.profile.title", "/")
	var acr string
	if ss, err := p.d.Accounts.MySessions(r.Context(), v.UserID); err == nil {
		for _, s := range ss {
			if s.ID == v.SessionID {
				acr = s.ACR
			}
		}
	}
	pg.Data = map[string]any{"U": v.User, "ACR": acr, "TOTP": strings.TrimSuffix(p.prefix, "/me") + "/me/totp"}
	p.site.Render(w, r, http.StatusOK, "profile", pg)
}

// certificates lists the account's certificates: a citizen's by the
// pseudonym of the ID number (the subject serialNumber), an enterprise's
// by its organisation name and credit code.
func (p *Portal) certificates(w http.ResponseWriter, r *http.Request, v *visitor) {
	pg := p.page(v, "me.certs.title", "/certificates")
	var recs []*ca.Record
	var key, org string
	switch {
	case v.CitizenIDPseudonym != "":
		key = v.CitizenIDPseudonym
	case v.User.OrgName != "":
		org = v.User.OrgName
		key = "O=" + org
	}
	if key != "" {
		var err error
		if recs, err = p.d.Inventory.Certificates(r.Context(), ca.Filter{Subject: key, Limit: maxCertSearch}); err != nil {
			p.fail(w, r, v, http.StatusInternalServerError, "me.err.internal", err)
			return
		}
	}
	if org != "" {
		// The inventory matches subjects by substring: keep only the
		// certificates whose organisation is this one, not one whose name
		// merely contains it.
		recs = ofEnterprise(recs, org, v.User.USCC)
	}
	if len(recs) > maxCertsShown {
		recs = recs[:maxCertsShown]
	}
	pg.Data = recs
	p.site.Render(w, r, http.StatusOK, "certificates", pg)
}

// maxCertSearch bounds the certificates read for the page, maxCertsShown
// those shown.
const (
	maxCertSearch = 1000
	maxCertsShown = 100
)

// ofEnterprise returns the records whose certificate names org exactly as
// its organisation (O) and carries the credit code uscc: enterprises of
// the same name (in different cities, say) are different accounts. An
// account without a credit code matches on the name only.
func ofEnterprise(recs []*ca.Record, org, uscc string) []*ca.Record {
	var out []*ca.Record
	for _, rec := range recs {
		cert, err := smx509.ParseCertificate(rec.DER)
		if err != nil || !slices.Contains(cert.Subject.Organization, org) {
			continue
		}
		if uscc != "" {
			if code, ok, err := ident.USCCFrom(cert.Extensions); err != nil || !ok || ident.NormalizeUSCC(code) != ident.NormalizeUSCC(uscc) {
				continue
			}
		}
		out = append(out, rec)
	}
	return out
}

func (p *Portal) sessions(w http.ResponseWriter, r *http.Request, v *visitor) {
	ss, err := p.d.Accounts.MySessions(r.Context(), v.UserID)
	if err != nil {
		p.fail(w, r, v, http.StatusInternalServerError, "me.err.internal", err)
		return
	}
	pg := p.page(v, "me.sessions.title", "/sessions")
	if r.URL.Query().Get("ended") != "" {
		pg.Flash = "me.sessions.ended"
	}
	pg.Data = ss
	p.site.Render(w, r, http.StatusOK, "sessions", pg)
}

// endSession ends one of the account's own sign-on sessions.
func (p *Portal) endSession(w http.ResponseWriter, r *http.Request, v *visitor) {
	form, err := p.csrf.Check(w, r, v.SessionID)
	if err != nil {
		p.fail(w, r, v, http.StatusForbidden, "web.csrf", nil)
		return
	}
	sid := form.Get("session")
	ss, err := p.d.Accounts.MySessions(r.Context(), v.UserID)
	if err != nil {
		p.fail(w, r, v, http.StatusInternalServerError, "me.err.internal", err)
		return
	}
	mine := false
	for _, s := range ss {
		mine = mine || s.ID == sid
	}
	if !mine {
		p.fail(w, r, v, http.StatusNotFound, "me.err.session", nil)
		return
	}
	if err := p.d.Accounts.EndSession(r.Context(), sid, r.RemoteAddr); err != nil {
		p.fail(w, r, v, http.StatusInternalServerError, "me.err.internal", err)
		return
	}
	if sid == v.SessionID {
		http.Redirect(w, r, p.prefix+"/", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, p.prefix+"/sessions?ended=1", http.StatusSeeOther)
}

// accessPage is one page of the access ledger and the cursor of the next.
type accessPage struct {
	Accesses []gateway.Access
	Next     string
}

// access shows the access ledger a page at a time: GET /me/v1/access-log
// in-process with the browser's own cookies, so the ledger's checks hold
// unchanged, and a link to the next page while there is one.
func (p *Portal) access(w http.ResponseWriter, r *http.Request, v *visitor) {
	q := url.Values{"limit": {"200"}}
	if c := r.URL.Query().Get("cursor"); c != "" {
		q.Set("cursor", c)
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, strings.TrimRight(p.d.Issuer, "/")+"/me/v1/access-log?"+q.Encode(), nil)
	if err != nil {
		p.fail(w, r, v, http.StatusInternalServerError, "me.err.internal", err)
		return
	}
	for _, c := range r.Cookies() {
		req.AddCookie(c)
	}
	resp, err := p.api.Do(req)
	if err != nil {
		p.fail(w, r, v, http.StatusInternalServerError, "me.err.internal", err)
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	var log gateway.AccessLog
	if err == nil && resp.StatusCode == http.StatusBadRequest {
		p.fail(w, r, v, http.StatusBadRequest, "me.err.cursor", fmt.Errorf("access log: %s", body))
		return
	}
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("access log: %s", resp.Status)
	}
	if err == nil {
		err = json.Unmarshal(body, &log)
	}
	if err != nil {
		p.fail(w, r, v, http.StatusInternalServerError, "me.err.internal", err)
		return
	}
	pg := p.page(v, "me.access.title", "/access")
	pg.Data = accessPage{Accesses: log.Accesses, Next: log.NextCursor}
	p.site.Render(w, r, http.StatusOK, "access", pg)
}

func (p *Portal) filingForm(w http.ResponseWriter, r *http.Request, v *visitor) {
	pg := p.page(v, "me.filing.title", "/filing")
	p.site.Render(w, r, http.StatusOK, "filing", pg)
}

// maxFiling bounds an uploaded filing (signature and content).
const maxFiling = 16 << 20

// filing verifies an uploaded signed filing and shows the report.
func (p *Portal) filing(w http.ResponseWriter, r *http.Request, v *visitor) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFiling)
	if err := r.ParseMultipartForm(1 << 20); err != nil {
		p.fail(w, r, v, http.StatusRequestEntityTooLarge, "me.filing.toolarge", nil)
		return
	}
	defer r.MultipartForm.RemoveAll()
	if _, err := p.csrf.Check(w, r, v.SessionID); err != nil {
		p.fail(w, r, v, http.StatusForbidden, "web.csrf", nil)
		return
	}
	read := func(name string) []byte {
		f, _, err := r.FormFile(name)
		if err != nil {
			return nil
		}
		defer f.Close()
		b, _ := io.ReadAll(io.LimitReader(f, maxFiling))
		return b
	}
	sig, content := read("signature"), read("content")
	pg := p.page(v, "me.filing.title", "/filing")
	if len(sig) == 0 {
		pg.Error = "me.filing.nosig"
		p.site.Render(w, r, http.StatusBadRequest, "filing", pg)
		return
	}
	rep, err := p.d.Verify(r.Context(), sig, content)
	if err != nil {
		pg.Error = err.Error()
		p.site.Render(w, r, http.StatusUnprocessableEntity, "filing", pg)
		return
	}
	pg.Data = rep
	p.site.Render(w, r, http.StatusOK, "filing", pg)
}

func pathOf(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
		if j := strings.IndexByte(u, '/'); j >= 0 {
			return u[j:]
		}
		return ""
	}
	return u
}
