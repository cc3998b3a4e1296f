package authn

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// loginFlow is what every login method shares: the login transaction of an
// authorization request (loaded, advanced, finished once), the page data
// of its client, the password check with its throttling, and the end of a
// successful login (a session, an audit entry, and back to the
// [authorizer]). [loginPages] (password, one-time code, consent) and
// [certLogin] (certificate, mTLS) are built on it; a further method, such
// as a QR-code sign-in, is too, and offers itself on the login page with a
// [loginOffer].
type loginFlow struct {
	*base
	logins loginStore
	// revoker ends a session whose login could not be audited.
	revoker sessionRevoker
	clients *clientRegistry
	users   *Users
	thr     *throttle
	authz   *authorizer
	sess    *sessions
}

// loginOffer adds a login method to the data d of the login page (for
// certificate login, a fresh challenge). If it fails it has shown the
// error page and returns false.
type loginOffer func(w http.ResponseWriter, r *http.Request, d *pageData, locale string) bool

// sessionRevoker ends a session and its grants ([sqlStore]).
type sessionRevoker interface {
	revokeSession(ctx context.Context, id string, now time.Time) error
}

// loginStore keeps login transactions for the login pages ([sqlStore]).
type loginStore interface {
	login(ctx context.Context, id string) (*storedLogin, error)
	advanceLogin(ctx context.Context, tx *loginTx, from, to string) (bool, error)
	finishLogin(ctx context.Context, id string, now time.Time) (bool, error)
}

// loadLogin returns the pending login transaction id, if it exists, has
// not expired or completed, and belongs to this browser.
func (fl *loginFlow) loadLogin(ctx context.Context, r *http.Request, id string) (*loginTx, error) {
	if id == "" || len(id) > 64 {
		return nil, errLoginGone
	}
	sl, err := fl.logins.login(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("authn: read login request: %w", err)
	}
	if sl == nil || sl.Done || !fl.now().Before(sl.Expires) || !sameBrowser(r, sl.BrowserHash) {
		return nil, errLoginGone
	}
	tx := &sl.loginTx
	return tx, nil
}

// finishLogin marks tx completed; only one caller succeeds.
func (fl *loginFlow) finishLogin(ctx context.Context, tx *loginTx) error {
	ok, err := fl.logins.finishLogin(ctx, tx.ID, fl.now())
	if err != nil {
		return fmt.Errorf("authn: complete login request: %w", err)
	}
	if !ok {
		return errLoginGone
	}
	return nil
}

// pageFor fills the data shared by the login and consent pages.
func (fl *loginFlow) pageFor(tx *loginTx, c *Client, locale string) *pageData {
	other := translator(locale)("lang.other.code")
	acr := ACRPassword
	if wantedRank(c, tx.State.Request) >= acrRank(ACRCertificate) {
		acr = ACRCertificate
	}
	return &pageData{
		Client: c, LoginID: tx.ID, CSRF: tx.CSRF, ACR: acr,
		OtherLangURL: fl.prefix + pathLogin + "?" + url.Values{"login": {tx.ID}, "ui_locales": {other}}.Encode(),
	}
}

// loginContext loads the transaction and its client, or shows the error
// page and returns false.
func (fl *loginFlow) loginContext(w http.ResponseWriter, r *http.Request, id, locale string) (*loginTx, *Client, bool) {
	tx, err := fl.loadLogin(r.Context(), r, id)
	if errors.Is(err, errLoginGone) {
		fl.errorPage(w, r, http.StatusBadRequest, locale, "error.expired", "")
		return nil, nil, false
	}
	if err != nil {
		fl.logError(r, "login: load request", err)
		fl.errorPage(w, r, http.StatusInternalServerError, locale, "error.internal", "")
		return nil, nil, false
	}
	c, err := fl.clients.get(r.Context(), tx.State.Request.ClientID)
	if err != nil {
		// The client was removed while the user was logging in.
		fl.errorPage(w, r, http.StatusBadRequest, locale, "error.client", "")
		return nil, nil, false
	}
	return tx, c, true
}

func (fl *loginFlow) loginGone(w http.ResponseWriter, r *http.Request, locale string, err error) {
	if errors.Is(err, errLoginGone) {
		fl.errorPage(w, r, http.StatusBadRequest, locale, "error.expired", "")
		return
	}
	fl.logError(r, "login: complete request", err)
	fl.errorPage(w, r, http.StatusInternalServerError, locale, "error.internal", "")
}

// checkPassword implements [Provider.CheckPassword].
func (fl *loginFlow) checkPassword(ctx context.Context, username, password, remoteAddr string) (*User, error) {
	acct, addr := accountKey(username), addressKey(remoteAddr)
	if len(username) > MaxUsernameLength {
		acct = accountKey(username[:MaxUsernameLength])
	}
	if err := fl.thr.check(ctx, acct, addr); err != nil {
		return nil, err
	}
	u, err := fl.users.verifyPassword(ctx, username, password)
	if errors.Is(err, ErrBadCredentials) {
		_, e1 := fl.thr.fail(ctx, acct, fl.thr.account)
		_, e2 := fl.thr.fail(ctx, addr, fl.thr.address)
		if e := errors.Join(e1, e2); e != nil {
			return nil, e
		}
		return nil, ErrBadCredentials
	}
	if err != nil {
		return nil, err
	}
	if err := fl.thr.reset(ctx, acct); err != nil {
		return nil, err
	}
	return u, nil
}

// completeLogin finishes tx, starts a session at acr, records the login
// in the audit log and continues the authorization request.
func (fl *loginFlow) completeLogin(w http.ResponseWriter, r *http.Request, tx *loginTx, c *Client, locale string, u *User, acr string, amr []string, certSerial string) {
	ctx := r.Context()
	if err := fl.finishLogin(ctx, tx); err != nil {
		fl.loginGone(w, r, locale, err)
		return
	}
	sess, err := fl.loginSession(ctx, w, r, u, acr, amr, c.ID, certSerial)
	if err != nil {
		fl.logError(r, "login: start session", err)
		fl.errorPage(w, r, http.StatusInternalServerError, locale, "error.internal", "")
		return
	}
	fl.authz.proceed(w, r, c, tx.State.Request, sess, true, false)
}

// loginSession starts the session of a successful login and audits it;
// a login that cannot be audited is refused.
func (fl *loginFlow) loginSession(ctx context.Context, w http.ResponseWriter, r *http.Request, u *User, acr string, amr []string, clientID, certSerial string) (*session, error) {
	sess, err := fl.sess.startSession(ctx, w, r, u, acr, amr)
	if err != nil {
		return nil, err
	}
	if err := fl.audit(ctx, AuditEvent{
		Action: "authn.login", Subject: u.ID, Client: clientID, CertSerial: certSerial, SourceAddr: r.RemoteAddr,
		Resource: "authn:session:" + sess.ID, Outcome: "success", Reasons: []string{"acr " + acr, "amr " + joinScopes(amr)},
	}); err != nil {
		if rerr := fl.revoker.revokeSession(context.WithoutCancel(ctx), sess.ID, fl.now()); rerr != nil {
			fl.log.ErrorContext(ctx, "login not audited, and its session not ended", "sid", sess.ID, "err", rerr)
		}
		return nil, fmt.Errorf("authn: login not audited: %w", err)
	}
	fl.log.InfoContext(ctx, "signed in", "user", u.ID, "client", clientID, "acr", acr, "sid", sess.ID)
	return sess, nil
}

// updateLogin stores tx's state and moves it from stage from to stage to;
// only one caller succeeds.
func (fl *loginFlow) updateLogin(ctx context.Context, tx *loginTx, from, to string) error {
	ok, err := fl.logins.advanceLogin(ctx, tx, from, to)
	if err != nil {
		return fmt.Errorf("authn: update login request: %w", err)
	}
	if !ok {
		return errLoginGone
	}
	tx.Stage = to
	return nil
}
