package authn

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// pathLogout is the end_session_endpoint, relative to the issuer URL.
const pathLogout = "/oauth2/logout"

// Back-channel logout parameters.
const (
	// BackchannelLogoutEvent is the member of a logout token's events
	// claim (OpenID Connect Back-Channel Logout 1.0 §2.4).
	BackchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"
	// logoutTokenType is the typ header of logout tokens (§2.4).
	logoutTokenType = "logout+jwt"
	// backchannelTimeout bounds the delivery of all logout tokens of one
	// logout, which is synchronous.
	backchannelTimeout = 5 * time.Second
	// logoutTokenLifetime is the exp of a logout token, after its iat.
	logoutTokenLifetime  = 2 * time.Minute
	maxLogoutRequestSize = 16 << 10
)

// LogoutTokenClaims are the claims of a logout token (OpenID Connect
// Back-Channel Logout 1.0 §2.4): iss, aud, iat, exp, jti, events, sid and
// sub (the subject identifier of the receiving client). It never has a
// nonce.
type LogoutTokenClaims struct {
	jwt.RegisteredClaims
	Events map[string]struct{} `json:"events"`
	SID    string              `json:"sid"`
}

// serveLogout is the end_session_endpoint (OpenID Connect RP-Initiated
// Logout 1.0), GET or POST, with id_token_hint, client_id,
// post_logout_redirect_uri, state and ui_locales. It ends the browser's
// SSO session when id_token_hint (an ID token of this provider, expired or
// not) names that session by its sid, or on a POST the browser does not
// mark as coming from another origin (Sec-Fetch-Site); a GET or such a
// POST without a matching hint is refused rather than confirmed, as the
// provider has no confirmation page. A portal's cross-site POST carries no
// cookie (SameSite=Lax): it ends the session its id_token_hint names, and
// the answer to a POST that sent no cookie does not delete one. Ending a
// session revokes the grants issued under it and sends logout tokens to
// every client of the session that registered a back-channel logout URI.
// post_logout_redirect_uri must exactly match one registered by the
// client named by id_token_hint or client_id; the
// browser is then sent there with state; otherwise a signed-out page is
// shown. Errors show a page and never redirect.
func (ss *sessions) serveLogout(w http.ResponseWriter, r *http.Request) {
	var q url.Values
	if r.Method == http.MethodPost {
		var err error
		if q, err = readForm(w, r, maxLogoutRequestSize); err != nil {
			ss.errorPage(w, r, http.StatusBadRequest, pageLocale(r, "", nil), "error.request", err.Error())
			return
		}
	} else {
		if len(r.URL.RawQuery) > maxLogoutRequestSize {
			ss.errorPage(w, r, http.StatusBadRequest, pageLocale(r, "", nil), "error.request", "request too large")
			return
		}
		q = r.URL.Query()
	}
	locale := pageLocale(r, "", nil)
	if ui := q.Get("ui_locales"); ui != "" {
		locale = pickLocale(strings.Fields(ui), r.Header.Get("Accept-Language"))
	}
	fail := func(detail string) { ss.errorPage(w, r, http.StatusBadRequest, locale, "error.request", detail) }
	for _, k := range []string{"id_token_hint", "client_id", "post_logout_redirect_uri", "state", "ui_locales"} {
		if len(q[k]) > 1 {
			fail("parameter " + k + " is repeated")
			return
		}
	}
	ctx := r.Context()
	var (
		c       *Client
		hintSID string
	)
	if hint := q.Get("id_token_hint"); hint != "" {
		var claims IDTokenClaims
		h, err := ss.keys.verify(ctx, hint, &claims)
		if err != nil || strings.EqualFold(h.Typ, accessTokenType) || strings.EqualFold(h.Typ, logoutTokenType) ||
			claims.Issuer != ss.issuer || len(claims.Audience) == 0 || claims.Subject == "" {
			fail("id_token_hint is not an ID token of this provider")
			return
		}
		if id := q.Get("client_id"); id != "" && !slices.Contains([]string(claims.Audience), id) {
			fail("client_id is not the audience of id_token_hint")
			return
		}
		if c, err = ss.clients.get(ctx, claims.Audience[0]); err != nil {
			fail("id_token_hint was issued to an unknown client")
			return
		}
		hintSID = claims.SID
	} else if id := q.Get("client_id"); id != "" {
		var err error
		if c, err = ss.clients.get(ctx, id); err != nil {
			ss.errorPage(w, r, http.StatusBadRequest, locale, "error.client", "unknown client_id")
			return
		}
	}
	back := q.Get("post_logout_redirect_uri")
	if back != "" && (c == nil || !slices.Contains(c.PostLogoutRedirectURIs, back)) {
		ss.errorPage(w, r, http.StatusBadRequest, locale, "error.client", "post_logout_redirect_uri is not registered for the client")
		return
	}
	sess, err := ss.sessionFrom(r)
	if err != nil {
		ss.logError(r, "logout", err)
		ss.errorPage(w, r, http.StatusInternalServerError, locale, "error.internal", "")
		return
	}
	// A post the browser marks as coming from another origin (a sibling
	// host of the same site sends the Lax cookie) is taken only with the
	// session's id_token_hint, like a GET.
	site := r.Header.Get("Sec-Fetch-Site")
	ownPost := r.Method == http.MethodPost && (site == "" || site == "same-origin" || site == "none")
	switch {
	case sess != nil:
		if !ownPost && (hintSID == "" || hintSID != sess.ID) {
			fail("id_token_hint of the current session is required to sign out")
			return
		}
		if err := ss.endSession(ctx, sess.ID, r.RemoteAddr); err != nil {
			ss.logError(r, "logout", err)
			ss.errorPage(w, r, http.StatusInternalServerError, locale, "error.internal", "")
			return
		}
	case r.Method == http.MethodPost && hintSID != "":
		// A portal's cross-site POST: the browser kept its Lax cookie
		// home, so the session is the one the portal's ID token names.
		if err := ss.endSession(ctx, hintSID, r.RemoteAddr); err != nil && !errors.Is(err, ErrSessionNotFound) {
			ss.logError(r, "logout", err)
			ss.errorPage(w, r, http.StatusInternalServerError, locale, "error.internal", "")
			return
		}
	}
	// The cookie is cleared only when it was sent (its session ended) or
	// the request is the provider's own: the answer to another site's
	// post must not delete a cookie the browser did not send.
	if sess != nil || ownPost || r.Method == http.MethodGet {
		http.SetCookie(w, &http.Cookie{Name: sessionCookieName, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
	if back != "" {
		u, _ := url.Parse(back) // checked at registration
		if st := q.Get("state"); st != "" {
			v := u.Query()
			v.Set("state", st)
			u.RawQuery = v.Encode()
		}
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, u.String(), http.StatusSeeOther)
		return
	}
	htmlHeaders(w)
	w.WriteHeader(http.StatusOK)
	msg := "您已退出登录。"
	if locale == localeEN {
		msg = "You have signed out."
	}
	_, _ = io.WriteString(w, `<!DOCTYPE html><html lang="`+locale+`"><head><meta charset="utf-8"><title>`+html.EscapeString(msg)+
		`</title></head><body><main><p>`+html.EscapeString(msg)+`</p></main></body></html>`)
}

// EndSession ends the SSO session sid (the "sid" claim): it is revoked,
// and so are the grants issued under it (with their refresh and access
// tokens). Then every client of the session with a back-channel logout
// URI gets a logout token, in parallel, within a few seconds; failures are
// logged and recorded in the audit event, not returned. Ending an already
// ended session sends the logout tokens again; an unknown sid gives an
// error wrapping ErrSessionNotFound. remoteAddr is for the audit log.
func (p *Provider) EndSession(ctx context.Context, sid, remoteAddr string) error {
	return p.sess.endSession(ctx, sid, remoteAddr)
}

// endSession implements [Provider.EndSession].
func (ss *sessions) endSession(ctx context.Context, sid, remoteAddr string) error {
	now := ss.now()
	userID, clients, err := ss.store.endSession(ctx, sid, now)
	if errors.Is(err, ErrSessionNotFound) {
		return err
	}
	if err != nil {
		return fmt.Errorf("authn: end session: %w", err)
	}
	failed := ss.backchannelLogout(ctx, sid, userID, clients, now)
	ev := AuditEvent{Action: "authn.logout", Subject: userID, SourceAddr: remoteAddr, Resource: "authn:session:" + sid, Outcome: "success"}
	for _, id := range failed {
		ev.Reasons = append(ev.Reasons, "back-channel logout failed: "+id)
	}
	_ = ss.audit(ctx, ev)
	return nil
}

// backchannelLogout posts a logout token to each client in ids that has a
// back-channel logout URI, and returns the IDs of those it failed for.
func (ss *sessions) backchannelLogout(ctx context.Context, sid, userID string, ids []string, now time.Time) []string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), backchannelTimeout)
	defer cancel()
	hc := &http.Client{
		Timeout:       backchannelTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	var (
		mu     sync.Mutex
		failed []string
		wg     sync.WaitGroup
	)
	for _, id := range ids {
		c, err := ss.clients.get(ctx, id)
		if err != nil || c.BackchannelLogoutURI == "" {
			continue
		}
		wg.Go(func() {
			if err := ss.sendLogoutToken(ctx, hc, c, sid, userID, now); err != nil {
				ss.log.WarnContext(ctx, "back-channel logout failed", "client", c.ID, "err", err)
				mu.Lock()
				failed = append(failed, c.ID)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(failed)
	return failed
}

// sendLogoutToken signs a logout token for c with its ID token algorithm
// and POSTs it (OpenID Connect Back-Channel Logout 1.0 §2.5).
func (ss *sessions) sendLogoutToken(ctx context.Context, hc *http.Client, c *Client, sid, userID string, now time.Time) error {
	claims := LogoutTokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: ss.issuer, Subject: ss.subject(c, userID), Audience: jwt.ClaimStrings{c.ID},
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(logoutTokenLifetime)), ID: newID(),
		},
		Events: map[string]struct{}{BackchannelLogoutEvent: {}},
		SID:    sid,
	}
	tok, err := ss.keys.sign(ctx, c.IDTokenSignedResponseAlg, logoutTokenType, claims)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BackchannelLogoutURI, strings.NewReader(url.Values{"logout_token": {tok}}.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is in the log already as the client
		}
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("back-channel logout URI answered %d", resp.StatusCode)
	}
	return nil
}
