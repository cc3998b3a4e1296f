// Package rp is the OpenID Connect relying party of Tongxing's own pages
// (the officer console, the citizen portal): authorization code with PKCE
// (S256), state and nonce, against Tongxing's own provider reached
// in-process, the ID token verified with go-oidc. It follows OpenID
// Connect Core 1.0 (§3.1) and RFC 7636.
package rp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/tongxing/tongxing/web"
)

// Login is what a verified ID token said.
type Login struct {
	// Subject is the sub claim (the account's ID for a public client).
	Subject  string
	ACR      string
	AMR      []string
	AuthTime time.Time
	Name     string
	// ReturnTo is the local path the sign-in was started for.
	ReturnTo string
}

// Start are the options of one sign-in.
type Start struct {
	// ACR is asked for with acr_values (the client's min_acr holds anyway).
	ACR string
	// MaxAge, when positive, asks for an authentication at most that old
	// (max_age) and makes Finish check auth_time.
	MaxAge time.Duration
	// ReturnTo is a local path ("/console/…") to come back to.
	ReturnTo string
	// Login asks the provider to authenticate the user again
	// (prompt=login) even within a sign-on session.
	Login bool
}

// Errors of Finish.
var (
	ErrState = errors.New("rp: unknown or expired sign-in (state)")
	ErrLogin = errors.New("rp: sign-in refused")
)

// RP is one client of the provider. It is safe for concurrent use.
type RP struct {
	issuer, clientID, redirect, cookie, cookiePath string
	client                                         *http.Client
	signer                                         *web.Signer

	mu       sync.Mutex
	conf     *oauth2.Config
	verifier *oidc.IDTokenVerifier
}

// New returns a relying party for clientID (a public client with PKCE)
// whose callback is redirect (absolute, under issuer's origin). transport
// reaches the provider (the server's own handler, see [InProcess]).
// Pending sign-ins are kept in a cookie named cookie signed by signer.
func New(issuer, clientID, redirect, cookie string, transport http.RoundTripper, signer *web.Signer) (*RP, error) {
	u, err := url.Parse(redirect)
	if err != nil || !u.IsAbs() {
		return nil, fmt.Errorf("rp: redirect URL %q is not absolute", redirect)
	}
	return &RP{issuer: issuer, clientID: clientID, redirect: redirect, cookie: cookie, cookiePath: u.Path,
		client: &http.Client{Transport: transport, Timeout: 30 * time.Second}, signer: signer}, nil
}

// discover reads the provider's discovery document once.
func (p *RP) discover(ctx context.Context) (*oauth2.Config, *oidc.IDTokenVerifier, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conf != nil {
		return p.conf, p.verifier, nil
	}
	op, err := oidc.NewProvider(oidc.ClientContext(ctx, p.client), p.issuer)
	if err != nil {
		return nil, nil, fmt.Errorf("rp: discovery: %w", err)
	}
	p.conf = &oauth2.Config{ClientID: p.clientID, Endpoint: op.Endpoint(), RedirectURL: p.redirect,
		Scopes: []string{oidc.ScopeOpenID, "profile"}}
	p.verifier = op.Verifier(&oidc.Config{ClientID: p.clientID})
	return p.conf, p.verifier, nil
}

// pending is a started sign-in, kept in the signed cookie.
type pending struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	MaxAge   int64  `json:"m,omitempty"`
	ACR      string `json:"a,omitempty"`
	ReturnTo string `json:"r"`
	Expires  int64  `json:"e"`
}

// Begin redirects the browser to the provider's authorization endpoint.
func (p *RP) Begin(w http.ResponseWriter, r *http.Request, s Start) error {
	conf, _, err := p.discover(r.Context())
	if err != nil {
		return err
	}
	// Only a path on this origin: not "//host" nor "/\host", which
	// browsers read as another host.
	if !strings.HasPrefix(s.ReturnTo, "/") || strings.HasPrefix(s.ReturnTo, "//") || strings.ContainsAny(s.ReturnTo, "\\\r\n") {
		s.ReturnTo = "/"
	}
	pd := pending{State: random(), Nonce: random(), Verifier: oauth2.GenerateVerifier(), ACR: s.ACR,
		ReturnTo: s.ReturnTo, Expires: time.Now().Add(10 * time.Minute).Unix()}
	opts := []oauth2.AuthCodeOption{oidc.Nonce(pd.Nonce), oauth2.S256ChallengeOption(pd.Verifier)}
	if s.ACR != "" {
		opts = append(opts, oauth2.SetAuthURLParam("acr_values", s.ACR))
	}
	if s.Login {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "login"))
	}
	if s.MaxAge > 0 {
		pd.MaxAge = int64(s.MaxAge / time.Second)
		opts = append(opts, oauth2.SetAuthURLParam("max_age", strconv.FormatInt(pd.MaxAge, 10)))
	}
	v, err := p.signer.Encode(pd)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: p.cookie, Value: v, Path: p.cookiePath, MaxAge: 600,
		HttpOnly: true, Secure: strings.HasPrefix(p.redirect, "https:"), SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, conf.AuthCodeURL(pd.State, opts...), http.StatusSeeOther)
	return nil
}

// Finish completes the sign-in at the callback: the state must be the
// pending one of this browser; the code is exchanged with the PKCE
// verifier; the ID token is verified (signature, issuer, audience, expiry,
// nonce), and auth_time checked against the asked max_age.
func (p *RP) Finish(w http.ResponseWriter, r *http.Request) (*Login, error) {
	ctx := r.Context()
	conf, verifier, err := p.discover(ctx)
	if err != nil {
		return nil, err
	}
	c, err := r.Cookie(p.cookie)
	http.SetCookie(w, &http.Cookie{Name: p.cookie, Path: p.cookiePath, MaxAge: -1, HttpOnly: true,
		Secure: strings.HasPrefix(p.redirect, "https:"), SameSite: http.SameSiteLaxMode})
	var pd pending
	if err != nil || p.signer.Decode(c.Value, &pd) != nil || pd.Expires < time.Now().Unix() {
		return nil, ErrState
	}
	q := r.URL.Query()
	if q.Get("state") != pd.State {
		return nil, ErrState
	}
	if e := q.Get("error"); e != "" {
		return nil, fmt.Errorf("%w: %.64s: %.200s", ErrLogin, e, q.Get("error_description"))
	}
	octx := oidc.ClientContext(ctx, p.client)
	tok, err := conf.Exchange(octx, q.Get("code"), oauth2.VerifierOption(pd.Verifier))
	if err != nil {
		return nil, fmt.Errorf("%w: token exchange: %v", ErrLogin, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := verifier.Verify(octx, raw)
	if err != nil {
		return nil, fmt.Errorf("%w: ID token: %v", ErrLogin, err)
	}
	var cl struct {
		Nonce    string   `json:"nonce"`
		ACR      string   `json:"acr"`
		AMR      []string `json:"amr"`
		AuthTime int64    `json:"auth_time"`
		Name     string   `json:"name"`
		Username string   `json:"preferred_username"`
	}
	if err := idt.Claims(&cl); err != nil || cl.Nonce != pd.Nonce {
		return nil, fmt.Errorf("%w: ID token nonce", ErrLogin)
	}
	l := &Login{Subject: idt.Subject, ACR: cl.ACR, AMR: cl.AMR, AuthTime: time.Unix(cl.AuthTime, 0), Name: cl.Name, ReturnTo: pd.ReturnTo}
	if l.Name == "" {
		l.Name = cl.Username
	}
	if pd.MaxAge > 0 && (cl.AuthTime == 0 || time.Since(l.AuthTime) > time.Duration(pd.MaxAge+30)*time.Second) {
		return nil, fmt.Errorf("%w: authentication older than max_age", ErrLogin)
	}
	return l, nil
}

func random() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// InProcess returns a transport that serves requests with h in this
// process (the server's own handler), so that Tongxing's pages reach its
// provider without a network round trip, a DNS name that resolves inside
// the deployment or a trusted TLS certificate. Requests appear to come from
// the loopback address.
func InProcess(h http.Handler) http.RoundTripper { return inProcess{h} }

type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.RemoteAddr = "127.0.0.1:0"
	r.RequestURI = req.URL.RequestURI()
	if r.Body == nil {
		r.Body = http.NoBody
	}
	if r.Host == "" {
		r.Host = req.URL.Host
	}
	rec := &recorder{header: http.Header{}}
	t.h.ServeHTTP(rec, r)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return &http.Response{StatusCode: rec.status, Status: http.StatusText(rec.status), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: rec.header, Body: io.NopCloser(bytes.NewReader(rec.body.Bytes())), ContentLength: int64(rec.body.Len()), Request: req}, nil
}

// recorder collects an in-process response (bounded: provider answers are
// small).
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(s int) {
	if r.status == 0 {
		r.status = s
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if r.body.Len()+len(b) > 1<<20 {
		return 0, errors.New("rp: in-process response over 1 MiB")
	}
	return r.body.Write(b)
}
