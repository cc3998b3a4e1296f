package authn

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
)

//go:embed templates/*.html templates/login.css
var templateFS embed.FS

// pages renders the login, consent and error pages: html/template, no
// JavaScript, labelled form controls, errors announced with role="alert".
type pages struct {
	tmpl   *template.Template
	css    []byte
	prefix string
}

func newPages(prefix string) (*pages, error) {
	t, err := template.ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("authn: login templates: %w", err)
	}
	css, err := templateFS.ReadFile("templates/login.css")
	if err != nil {
		return nil, fmt.Errorf("authn: login style sheet: %w", err)
	}
	return &pages{tmpl: t, css: css, prefix: prefix}, nil
}

// pageData is what the templates see.
type pageData struct {
	Lang, Title, Prefix string
	T                   func(string, ...any) string
	OtherLangURL        string

	Client          *Client
	LoginID, CSRF   string
	Username, Error string
	ACR             string
	// Cert is the certificate-login challenge, when certificate login is
	// enabled; CertDetail explains a refused certificate.
	Cert       *certView
	CertDetail string
	// QR: scan to sign in replaces the paste form (WithQRLogin).
	QR     bool
	Scopes []string
	// Enrol is the one-time code enrolment page (totp_enrol.go).
	Enrol *totpEnrolView

	Message, Detail string
}

// htmlHeaders are set on every page: no scripts, no framing, no caching,
// no referrer (page URLs carry login IDs).
func htmlHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

// render executes the template name with d into a buffer and sends it.
func (pg *pages) render(w http.ResponseWriter, status int, name, locale string, d *pageData) error {
	d.Lang, d.Prefix, d.T = locale, pg.prefix, translator(locale)
	if d.Title == "" {
		d.Title = d.T(name + ".title")
	}
	var buf bytes.Buffer
	if err := pg.tmpl.ExecuteTemplate(&buf, name+".html", d); err != nil {
		htmlHeaders(w)
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("internal error"))
		return fmt.Errorf("authn: render %s page: %w", name, err)
	}
	htmlHeaders(w)
	if d.Enrol != nil && d.Enrol.QR != nil {
		// The QR code is an inline data: image; nothing else changes.
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'")
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
	return nil
}

// errorPage shows an error that must not be sent to a redirect URI. msgKey
// is a message key; detail (optional) is a protocol error description.
func (b *base) errorPage(w http.ResponseWriter, r *http.Request, status int, locale, msgKey, detail string) {
	d := &pageData{Detail: detail}
	d.Message = translator(locale)(msgKey)
	if err := b.pages.render(w, status, "error", locale, d); err != nil {
		b.logError(r, "error page", err)
	}
}

// maxPageQuery bounds the query of a page request.
const maxPageQuery = 1024

// pageQuery reads the query of a page request and the locale it asks for
// (ui_locales, else Accept-Language). A query over maxPageQuery bytes gets
// the error page (with detail) and false.
func (b *base) pageQuery(w http.ResponseWriter, r *http.Request, detail string) (url.Values, string, bool) {
	q := r.URL.Query()
	locale := pageLocale(r, q.Get("ui_locales"), nil)
	if len(r.URL.RawQuery) > maxPageQuery {
		b.errorPage(w, r, http.StatusBadRequest, locale, "error.request", detail)
		return nil, "", false
	}
	return q, locale, true
}

func (lp *loginPages) serveCSS(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/css; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=86400")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(lp.pages.css)
}
