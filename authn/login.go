package authn

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/tongxing/tongxing/authn/totp"
)

// loginPages are the login and consent forms: password, one-time code and
// consent. The other login methods (certificate and mTLS login in
// [certLogin]) offer themselves on the login page through offers.
type loginPages struct {
	*loginFlow
	totp *totp.Verifier
	// offers put the other login methods on the login page.
	offers []loginOffer
}

// Login transaction stages.
const (
	stageLogin   = "login"
	stageConsent = "consent"
)

// maxLoginFormSize bounds the login and consent form bodies.
const maxLoginFormSize = 8 << 10

// loginState is the JSON kept with a login transaction.
type loginState struct {
	Request *AuthorizeRequest `json:"request"`
	// SessionID is the session authenticated for this request, when the
	// login form is done and the consent form is next.
	SessionID string `json:"session_id,omitempty"`
	// Fresh is set when that session's sign-in was made for this request,
	// so that answering the consent form does not ask for it again; a
	// consent form for an existing session is checked against max_age and
	// the levels again when answered.
	Fresh bool `json:"fresh,omitempty"`
	// UserID is the account whose password was right, at the one-time
	// code stage.
	UserID string `json:"user_id,omitempty"`
}

// loginTx is a pending login or consent form.
type loginTx struct {
	ID, CSRF, Stage string
	State           loginState
}

var errLoginGone = errors.New("authn: login request expired, completed or from another browser")

// beginLogin stores the authorization request as a login transaction bound
// to this browser and redirects to the login page.
func (az *authorizer) beginLogin(w http.ResponseWriter, r *http.Request, req *AuthorizeRequest, stage, sessionID string, fresh bool) {
	browser := browserID(w, r)
	tx := &loginTx{ID: newID(), CSRF: newSecret(), Stage: stage, State: loginState{Request: req, SessionID: sessionID, Fresh: fresh}}
	now := az.now()
	if err := az.logins.createLogin(r.Context(), tx, hashSecret(browser), now, now.Add(az.life.Login)); err != nil {
		az.logError(r, "authorize: store login request", err)
		az.redirectError(w, r, req, oauthErr(ErrServerError, "temporarily unavailable"))
		return
	}
	status := http.StatusFound
	if r.Method == http.MethodPost {
		status = http.StatusSeeOther
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, az.prefix+pathLogin+"?"+url.Values{"login": {tx.ID}}.Encode(), status)
}

// pageLocale picks the locale of a login page: an explicit ui_locales
// parameter of the page request, else the authorization request's
// ui_locales, else Accept-Language.
func pageLocale(r *http.Request, explicit string, req *AuthorizeRequest) string {
	if l := localeOf(explicit); l != "" && isLanguageTag(explicit) {
		return l
	}
	var tags []string
	if req != nil {
		tags = req.UILocales
	}
	return pickLocale(tags, r.Header.Get("Accept-Language"))
}

// serveLoginPage shows the login or consent form of a login transaction.
func (lp *loginPages) serveLoginPage(w http.ResponseWriter, r *http.Request) {
	q, locale, ok := lp.pageQuery(w, r, "")
	if !ok {
		return
	}
	tx, c, ok := lp.loginContext(w, r, q.Get("login"), locale)
	if !ok {
		return
	}
	locale = pageLocale(r, q.Get("ui_locales"), tx.State.Request)
	d := lp.pageFor(tx, c, locale)
	switch tx.Stage {
	case stageConsent:
		lp.showConsent(w, r, tx, c, d, locale)
		return
	case stageTOTP:
		lp.renderTOTP(w, r, http.StatusOK, tx, c, locale, "")
		return
	}
	if h := tx.State.Request.LoginHint; checkUsername(h) == nil {
		d.Username = h
	}
	if !lp.offer(w, r, d, locale) {
		return
	}
	if err := lp.pages.render(w, http.StatusOK, "login", locale, d); err != nil {
		lp.logError(r, "login page", err)
	}
}

func (lp *loginPages) showConsent(w http.ResponseWriter, r *http.Request, tx *loginTx, c *Client, d *pageData, locale string) {
	sess, err := lp.sess.sessionFrom(r)
	if err != nil {
		lp.logError(r, "consent: read session", err)
		lp.errorPage(w, r, http.StatusInternalServerError, locale, "error.internal", "")
		return
	}
	if sess == nil {
		lp.errorPage(w, r, http.StatusBadRequest, locale, "error.expired", "")
		return
	}
	u, err := lp.users.User(r.Context(), sess.UserID)
	if err != nil {
		lp.logError(r, "consent: load user", err)
		lp.errorPage(w, r, http.StatusInternalServerError, locale, "error.internal", "")
		return
	}
	d.Username = u.Username
	d.Scopes = grantedScopes(c, tx.State.Request.Scopes)
	if err := lp.pages.render(w, http.StatusOK, "consent", locale, d); err != nil {
		lp.logError(r, "consent page", err)
	}
}

// postedLogin reads a login or consent form and its transaction, checking
// the CSRF token; on failure it has shown the error page.
func (lp *loginPages) postedLogin(w http.ResponseWriter, r *http.Request, stages ...string) (url.Values, *loginTx, *Client, string, bool) {
	locale := pickLocale(nil, r.Header.Get("Accept-Language"))
	form, err := readForm(w, r, maxLoginFormSize)
	if err != nil {
		lp.errorPage(w, r, http.StatusBadRequest, locale, "error.request", err.Error())
		return nil, nil, nil, "", false
	}
	locale = pageLocale(r, form.Get("ui_locales"), nil)
	tx, c, ok := lp.loginContext(w, r, form.Get("login"), locale)
	if !ok {
		return nil, nil, nil, "", false
	}
	csrf := form.Get("csrf_token")
	if len(form["csrf_token"]) != 1 || subtle.ConstantTimeCompare([]byte(csrf), []byte(tx.CSRF)) != 1 || !slices.Contains(stages, tx.Stage) {
		lp.errorPage(w, r, http.StatusForbidden, locale, "error.expired", "")
		return nil, nil, nil, "", false
	}
	return form, tx, c, pageLocale(r, form.Get("ui_locales"), tx.State.Request), true
}

// serveLoginSubmit checks the login form: CSRF token, throttling, password.
// A successful login starts a session and continues the authorization
// request.
func (lp *loginPages) serveLoginSubmit(w http.ResponseWriter, r *http.Request) {
	form, tx, c, locale, ok := lp.postedLogin(w, r, stageLogin, stageTOTP)
	if !ok {
		return
	}
	if tx.Stage == stageTOTP {
		lp.serveTOTPSubmit(w, r, form.Get("code"), tx, c, locale)
		return
	}
	ctx := r.Context()
	username, password := form.Get("username"), form.Get("password")
	d := lp.pageFor(tx, c, locale)
	d.Username = username
	if len(username) > MaxUsernameLength {
		d.Username = ""
	}
	t := translator(locale)
	fail := func(status int, msg string) {
		d.Error = msg
		if !lp.offer(w, r, d, locale) {
			return
		}
		if err := lp.pages.render(w, status, "login", locale, d); err != nil {
			lp.logError(r, "login page", err)
		}
	}
	if username == "" || password == "" {
		fail(http.StatusBadRequest, t("login.required"))
		return
	}
	u, err := lp.checkPassword(ctx, username, password, r.RemoteAddr)
	var locked *LockedError
	if errors.As(err, &locked) || errors.Is(err, ErrBadCredentials) {
		reason := "bad credentials"
		if locked != nil {
			reason = "locked"
		}
		subject := NormalizeUsername(d.Username)
		if known, e := lp.users.ByUsername(ctx, username); e == nil {
			subject = known.ID
		}
		_ = lp.audit(ctx, AuditEvent{Action: "authn.login.failure", Subject: subject, Client: c.ID,
			SourceAddr: r.RemoteAddr, Outcome: "failure", Reasons: []string{"method password", reason}})
	}
	switch {
	case errors.As(err, &locked):
		w.Header().Set("Retry-After", strconv.Itoa(locked.RetryAfter(lp.now())))
		fail(http.StatusTooManyRequests, lockedMessage(t, locked))
		return
	case errors.Is(err, ErrBadCredentials):
		fail(http.StatusOK, t("login.bad"))
		return
	case err != nil:
		lp.logError(r, "login: check password", err)
		lp.errorPage(w, r, http.StatusInternalServerError, locale, "error.internal", "")
		return
	}
	hasTOTP, err := lp.users.HasTOTP(ctx, u.ID)
	if err != nil {
		lp.logError(r, "login: read one-time code factor", err)
		lp.errorPage(w, r, http.StatusInternalServerError, locale, "error.internal", "")
		return
	}
	if hasTOTP {
		// The one-time code is asked whenever the account has the factor,
		// and so whenever urn:tongxing:loa:3 is requested of such an
		// account; an account without it can reach level 2 only.
		lp.beginTOTP(w, r, tx, c, locale, u)
		return
	}
	lp.completeLogin(w, r, tx, c, locale, u, ACRPassword, []string{amrPassword}, "")
}

// serveConsentSubmit takes the consent form's decision.
func (lp *loginPages) serveConsentSubmit(w http.ResponseWriter, r *http.Request) {
	form, tx, c, locale, ok := lp.postedLogin(w, r, stageConsent)
	if !ok {
		return
	}
	ctx := r.Context()
	if err := lp.finishLogin(ctx, tx); err != nil {
		lp.loginGone(w, r, locale, err)
		return
	}
	req := tx.State.Request
	if form.Get("decision") != "allow" {
		lp.authz.redirectError(w, r, req, oauthErr(ErrAccessDenied, "the user denied the request"))
		return
	}
	sess, err := lp.sess.sessionFrom(r)
	if err != nil {
		lp.logError(r, "consent: read session", err)
		lp.authz.redirectError(w, r, req, oauthErr(ErrServerError, "temporarily unavailable"))
		return
	}
	if sess == nil {
		// The session ended while the form was open: log in again.
		lp.authz.proceed(w, r, c, req, nil, false, false)
		return
	}
	lp.authz.proceed(w, r, c, req, sess, tx.State.Fresh && sess.ID == tx.State.SessionID, true)
}

// CheckPassword authenticates a password login for username from the
// client address remoteAddr ("host:port" or "host"), with brute-force
// throttling: while the account or the address is locked it returns a
// *LockedError (matching ErrLocked) without checking the password, even a
// correct one; a wrong password (or unknown or disabled account) returns
// ErrBadCredentials and counts a failure for both the account and the
// address; success forgets the account's failures. The address is taken
// as given: behind a reverse proxy the caller must pass the real client
// address.
func (p *Provider) CheckPassword(ctx context.Context, username, password, remoteAddr string) (*User, error) {
	return p.login.checkPassword(ctx, username, password, remoteAddr)
}

// offer puts every other login method on the login page data d; false
// means one failed and has answered.
func (lp *loginPages) offer(w http.ResponseWriter, r *http.Request, d *pageData, locale string) bool {
	for _, o := range lp.offers {
		if !o(w, r, d, locale) {
			return false
		}
	}
	return true
}
