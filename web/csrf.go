package web

import (
	"crypto/hmac"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"

	"github.com/emmansun/gmsm/sm3"
)

// MaxFormSize bounds the body of a form post (file uploads have their own
// limits).
const MaxFormSize = 64 << 10

// ErrCSRF is returned by [CSRF.Check] for a post without the session's
// token or from another site.
var ErrCSRF = errors.New("web: missing or wrong CSRF token, or a cross-site post")

// CSRF makes and checks the tokens that bind forms to a session: the
// HMAC-SM3, under a server key, of the session's identifier. A token is
// good for every form of the session and for nothing else.
type CSRF struct{ key []byte }

// NewCSRF returns tokens under key (at least 16 bytes, kept secret).
func NewCSRF(key []byte) (*CSRF, error) {
	if len(key) < 16 {
		return nil, errors.New("web: CSRF key shorter than 16 bytes")
	}
	return &CSRF{key: append([]byte(nil), key...)}, nil
}

// Token returns the token of session.
func (c *CSRF) Token(session string) string {
	m := hmac.New(sm3.New, c.key)
	m.Write([]byte("tongxing web csrf\x00"))
	m.Write([]byte(session))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Check reads r's form (at most MaxFormSize; a multipart form's fields
// must already be parsed) and returns it if its csrf_token is session's
// and the browser does not say the post came from another site
// (Sec-Fetch-Site); else ErrCSRF.
func (c *CSRF) Check(w http.ResponseWriter, r *http.Request, session string) (url.Values, error) {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return nil, ErrCSRF
	}
	if r.PostForm == nil {
		r.Body = http.MaxBytesReader(w, r.Body, MaxFormSize)
		if err := r.ParseForm(); err != nil {
			return nil, err
		}
	}
	got := r.PostForm.Get("csrf_token")
	if session == "" || subtle.ConstantTimeCompare([]byte(got), []byte(c.Token(session))) != 1 {
		return nil, ErrCSRF
	}
	return r.PostForm, nil
}
