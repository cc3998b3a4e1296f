package web

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
)

//go:embed assets/layout.html assets/style.css
var assets embed.FS

// StaticPath is where [Site.Routes] serves the style sheet
// (StaticPath + "/style.css").
const StaticPath = "/web/static"

// NavItem is one link of a page's navigation.
type NavItem struct {
	Label, URL string
	Current    bool
}

// Page is what a page template sees. The handler fills Title, Nav, Who,
// Data and the rest; [Site.Render] fills Lang, T, Nonce, Brand and the
// language switch.
type Page struct {
	Title string
	Nav   []NavItem
	// Who names the signed-in person, shown in the header; SignOutAction,
	// if set, is where the sign-out form (with CSRF) posts.
	Who, SignOutAction string
	// CSRF is the token every form of the page carries (csrf_token).
	CSRF string
	// Flash and Error are shown under the title (role status / alert).
	Flash, Error string
	// RefreshURL, when set, makes the page go to it after RefreshSeconds:
	// a one-line script allowed by the page's CSP nonce, or without
	// scripts a meta refresh.
	RefreshURL     string
	RefreshSeconds int
	// Data is the page's own content.
	Data any

	Lang, Brand, Static, Nonce        string
	OtherLang, OtherLangName, LangURL string
	T                                 func(string, ...any) string
}

// RefreshMillis is RefreshSeconds in milliseconds.
func (p *Page) RefreshMillis() int { return p.RefreshSeconds * 1000 }

// Site renders the pages of one application (the console, a portal).
// It is safe for concurrent use.
type Site struct {
	tmpl  *template.Template
	msgs  Messages
	brand string
	log   *slog.Logger
}

// New parses the layout with the page templates matched by patterns in
// pages. Each page file defines a template named after the page that
// starts with {{template "head" .}} and ends with {{template "foot" .}}.
// brand is the message key of the site's name; msgs are the site's
// messages (the base's own are added). funcs are extra template functions.
func New(pages fs.FS, patterns []string, brand string, msgs Messages, funcs template.FuncMap, log *slog.Logger) (*Site, error) {
	all := Messages{}
	for k, v := range baseMessages {
		all[k] = v
	}
	for k, v := range msgs {
		all[k] = v
	}
	if _, ok := all[brand]; !ok {
		return nil, fmt.Errorf("web: brand message %q is missing", brand)
	}
	t, err := template.New("").Funcs(funcs).ParseFS(assets, "assets/layout.html")
	if err != nil {
		return nil, fmt.Errorf("web: layout: %w", err)
	}
	if len(patterns) > 0 {
		if t, err = t.ParseFS(pages, patterns...); err != nil {
			return nil, fmt.Errorf("web: pages: %w", err)
		}
	}
	if log == nil {
		log = slog.Default()
	}
	return &Site{tmpl: t, msgs: all, brand: brand, log: log}, nil
}

// Render sends page name with status. The response carries the security
// headers of [SetHeaders] with a fresh nonce; nothing is written if the
// template fails (a plain 500 instead, the cause logged).
func (s *Site) Render(w http.ResponseWriter, r *http.Request, status int, name string, p *Page) {
	lang := Locale(w, r)
	p.Lang, p.T = lang, s.msgs.Translator(lang)
	p.Brand, p.Static = p.T(s.brand), StaticPath
	p.Nonce = Nonce()
	p.OtherLang, p.OtherLangName = "en", "English"
	if lang == "en" {
		p.OtherLang, p.OtherLangName = "zh-CN", "中文"
	}
	u := *r.URL
	q := u.Query()
	q.Set("lang", p.OtherLang)
	u.RawQuery = q.Encode()
	if r.Method != http.MethodGet {
		u.RawQuery = url.Values{"lang": {p.OtherLang}}.Encode()
	}
	p.LangURL = u.RequestURI()
	// Title, navigation labels, Flash and Error are message keys; text
	// that is no key is shown as it is.
	p.Title, p.Flash, p.Error = p.T(p.Title), p.T(p.Flash), p.T(p.Error)
	for i := range p.Nav {
		p.Nav[i].Label = p.T(p.Nav[i].Label)
	}
	var buf bytes.Buffer
	if err := s.tmpl.ExecuteTemplate(&buf, name, p); err != nil {
		s.log.ErrorContext(r.Context(), "render page", "page", name, "err", err)
		SetHeaders(w, p.Nonce)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("internal error"))
		return
	}
	SetHeaders(w, p.Nonce)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// Nonce returns a fresh CSP nonce: 16 random bytes, base64url (which
// CSP's nonce grammar admits and HTML attributes need not escape).
func Nonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// SetHeaders sets the headers of every page: a Content-Security-Policy
// that loads nothing from another origin (styles and images from the page's
// own origin, images also inline as data: URLs, scripts only with nonce,
// forms only to the own origin, no framing, no <base>), no sniffing, no
// referrer, no caching.
func SetHeaders(w http.ResponseWriter, nonce string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'nonce-"+nonce+
		"'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

// Routes serves the style sheet at StaticPath/style.css.
func Routes(mux *http.ServeMux) {
	css, _ := assets.ReadFile("assets/style.css")
	mux.HandleFunc("GET "+StaticPath+"/style.css", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/css; charset=utf-8")
		h.Set("Cache-Control", "public, max-age=3600")
		h.Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(css)
	})
}

// Under returns a function that registers a handler on mux for a pattern
// ("METHOD /path") below prefix, as a site mounted at prefix declares its
// routes.
func Under(mux *http.ServeMux, prefix string) func(pattern string, f http.HandlerFunc) {
	return func(pattern string, f http.HandlerFunc) {
		method, path, _ := strings.Cut(pattern, " ")
		mux.HandleFunc(method+" "+prefix+path, f)
	}
}
