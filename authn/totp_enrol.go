package authn

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tongxing/tongxing/authn/totp"
	"github.com/tongxing/tongxing/web"
)

// totpEnrolment is the self-service enrolment of a one-time code factor
// (GET and POST /me/totp).
type totpEnrolment struct {
	*base
	store enrolmentStore
	steps totp.UsedSteps
	users *Users
	thr   *throttle
	sess  *sessions
	login *loginFlow
}

// One-time code enrolment by the signed-in account holder.
const (
	// pathMeTOTP is the enrolment page, relative to the issuer URL.
	pathMeTOTP = "/me/totp"
	// totpEnrolTTL is how long a shown secret may be confirmed.
	totpEnrolTTL = 10 * time.Minute
	// totpIssuerLabel is the issuer name authenticator apps show.
	totpIssuerLabel = "Tongxing"
	// maxTOTPEnrolForm bounds the confirmation form body.
	maxTOTPEnrolForm = 4 << 10
)

// totpEnrolView is what the enrolment page shows.
type totpEnrolView struct {
	// QR is the otpauth:// URL as a QR code image (data: URL).
	QR any
	// Key is the secret in groups of four, to type in by hand.
	Key string
	// Account is the label the app will show.
	Account string
	// NeedPassword asks for the password again: the session was made
	// with the password alone.
	NeedPassword bool
	// Replacing says the account already has a factor, which the new one
	// replaces.
	Replacing bool
	// Done: the factor is enrolled.
	Done bool
}

// errEnrolGone means the pending enrolment expired, was replaced or
// belongs to another session.
var errEnrolGone = errors.New("authn: one-time code enrolment expired or started elsewhere")

// enrolContext is the signed-in account holder of an enrolment request.
type enrolContext struct {
	sess   *session
	csrf   string
	user   *User
	has    bool // the account already has a factor
	locale string
}

// enrolStart reads the session and account of an enrolment request. On
// failure it has answered with a page and returns nil: 401 without a live
// session, 403 when the account already has a factor and the session did
// not prove it (below urn:tongxing:loa:3), since a password alone must not
// replace a second factor.
func (te *totpEnrolment) enrolStart(w http.ResponseWriter, r *http.Request, locale string) *enrolContext {
	sess, err := te.sess.sessionFrom(r)
	if err != nil {
		te.logError(r, "one-time code enrolment: read session", err)
		te.errorPage(w, r, http.StatusInternalServerError, locale, "error.internal", "")
		return nil
	}
	if sess == nil {
		te.enrolMessage(w, r, http.StatusUnauthorized, locale, "enrol.signin")
		return nil
	}
	ctx := r.Context()
	u, err := te.users.User(ctx, sess.UserID)
	if err != nil || u.Disabled {
		te.enrolMessage(w, r, http.StatusForbidden, locale, "enrol.disabled")
		return nil
	}
	has, err := te.users.HasTOTP(ctx, u.ID)
	if err != nil {
		te.logError(r, "one-time code enrolment: read factor", err)
		te.errorPage(w, r, http.StatusInternalServerError, locale, "error.internal", "")
		return nil
	}
	if has && acrRank(sess.ACR) < acrRank(ACRTOTP) {
		te.enrolMessage(w, r, http.StatusForbidden, locale, "enrol.stepup")
		return nil
	}
	c, _ := r.Cookie(sessionCookieName) // present: sessionFrom found it
	return &enrolContext{sess: sess, csrf: meCSRF(c.Value), user: u, has: has, locale: locale}
}

// enrolMessage shows a page with one message and no form.
func (te *totpEnrolment) enrolMessage(w http.ResponseWriter, r *http.Request, status int, locale, key string) {
	d := &pageData{Message: translator(locale)(key)}
	d.Title = translator(locale)("enrol.title")
	if err := te.pages.render(w, status, "totp_enrol", locale, d); err != nil {
		te.logError(r, "one-time code enrolment page", err)
	}
}

// serveTOTPEnrolPage is GET /me/totp: for the account signed in with the
// request's SSO cookie, a new RFC 6238 secret as a QR code and as text,
// and a form to confirm it with a code. The secret waits, sealed, in
// authn_totp_enrolments for totpEnrolTTL; showing the page again from the
// same session shows the same secret. It becomes the account's factor
// only when POST /me/totp confirms it.
func (te *totpEnrolment) serveTOTPEnrolPage(w http.ResponseWriter, r *http.Request) {
	_, locale, ok := te.pageQuery(w, r, "")
	if !ok {
		return
	}
	ec := te.enrolStart(w, r, locale)
	if ec == nil {
		return
	}
	key, err := te.pendingTOTP(r.Context(), ec)
	if err != nil {
		te.logError(r, "one-time code enrolment: new secret", err)
		te.errorPage(w, r, http.StatusInternalServerError, locale, "error.internal", "")
		return
	}
	te.renderEnrol(w, r, http.StatusOK, ec, key, "")
}

// renderEnrol shows the enrolment form for key with an error message
// (msg, optional).
func (te *totpEnrolment) renderEnrol(w http.ResponseWriter, r *http.Request, status int, ec *enrolContext, key *totp.Key, msg string) {
	qr, err := web.QR(key.URL)
	if err != nil {
		te.logError(r, "one-time code enrolment: QR code", err)
		te.errorPage(w, r, http.StatusInternalServerError, ec.locale, "error.internal", "")
		return
	}
	d := &pageData{CSRF: ec.csrf, Username: ec.user.Username, Error: msg,
		OtherLangURL: te.prefix + pathMeTOTP + "?" + url.Values{"ui_locales": {translator(ec.locale)("lang.other.code")}}.Encode()}
	d.Title = translator(ec.locale)("enrol.title")
	d.Enrol = &totpEnrolView{QR: qr, Key: groupKey(key.Secret), Account: key.Account,
		NeedPassword: acrRank(ec.sess.ACR) < acrRank(ACRTOTP), Replacing: ec.has}
	if err := te.pages.render(w, status, "totp_enrol", ec.locale, d); err != nil {
		te.logError(r, "one-time code enrolment page", err)
	}
}

// groupKey writes a base32 secret in groups of four letters.
func groupKey(s string) string {
	var b strings.Builder
	for i, c := range strings.TrimRight(s, "=") {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// totpAccountLabel is the account name of the otpauth:// URL: the user
// name, without the colon the URL format reserves.
func totpAccountLabel(u *User) string { return strings.ReplaceAll(u.Username, ":", "_") }

// pendingTOTP returns the secret waiting for confirmation by ec's session,
// or makes a new one (replacing a pending one of another session or an
// expired one).
func (te *totpEnrolment) pendingTOTP(ctx context.Context, ec *enrolContext) (*totp.Key, error) {
	now := te.now()
	pe, err := te.store.pendingEnrolment(ctx, ec.user.ID)
	if err != nil {
		return nil, fmt.Errorf("authn: read pending one-time code enrolment: %w", err)
	}
	if pe != nil && pe.SessionID == ec.sess.ID && now.Before(pe.Expires) {
		secret, err := te.users.totp.open(ec.user.ID, pe.Sealed)
		if err != nil {
			return nil, err
		}
		return totp.KeyFor(totpIssuerLabel, totpAccountLabel(ec.user), secret)
	}
	key, err := totp.GenerateSecret(totpIssuerLabel, totpAccountLabel(ec.user))
	if err != nil {
		return nil, err
	}
	sealed, err := te.users.totp.seal(ec.user.ID, key.Secret)
	if err != nil {
		return nil, err
	}
	err = te.store.putEnrolment(ctx, ec.user.ID, &pendingEnrolment{SessionID: ec.sess.ID, Sealed: sealed, Expires: now.Add(totpEnrolTTL)}, now)
	if err != nil {
		return nil, fmt.Errorf("authn: store pending one-time code enrolment: %w", err)
	}
	return key, nil
}

// pendingOf returns the secret pending for userID from session sid, or
// errEnrolGone.
func (te *totpEnrolment) pendingOf(ctx context.Context, u *User, sid string) (*totp.Key, error) {
	pe, err := te.store.pendingEnrolment(ctx, u.ID)
	if err != nil {
		return nil, fmt.Errorf("authn: read pending one-time code enrolment: %w", err)
	}
	if pe == nil || pe.SessionID != sid || !te.now().Before(pe.Expires) {
		return nil, errEnrolGone
	}
	sealed := pe.Sealed
	secret, err := te.users.totp.open(u.ID, sealed)
	if err != nil {
		return nil, err
	}
	return totp.KeyFor(totpIssuerLabel, totpAccountLabel(u), secret)
}

// serveTOTPEnrolSubmit is POST /me/totp with csrf_token (the CSRF token of
// the self-service forms), code (a code of the pending secret) and, when
// the session was made with the password alone, password. A valid code
// makes the pending secret the account's one-time code factor (replacing
// an earlier one, which needs a session at urn:tongxing:loa:3 or above),
// from the next password login on: portals asking for
// urn:tongxing:loa:3 then get it. Wrong codes and passwords count towards
// the throttling of the account and the client address, as at login;
// enrolments and failures are audited (authn.totp.enrol,
// authn.totp.enrol.failure), never with a secret, code or password. The
// current session keeps its level.
func (te *totpEnrolment) serveTOTPEnrolSubmit(w http.ResponseWriter, r *http.Request) {
	locale := pickLocale(nil, r.Header.Get("Accept-Language"))
	form, err := readForm(w, r, maxTOTPEnrolForm)
	if err != nil {
		te.errorPage(w, r, http.StatusBadRequest, locale, "error.request", err.Error())
		return
	}
	locale = pageLocale(r, form.Get("ui_locales"), nil)
	ec := te.enrolStart(w, r, locale)
	if ec == nil {
		return
	}
	if tok := form.Get("csrf_token"); len(form["csrf_token"]) != 1 || subtle.ConstantTimeCompare([]byte(tok), []byte(ec.csrf)) != 1 {
		te.enrolMessage(w, r, http.StatusForbidden, locale, "enrol.expired")
		return
	}
	ctx := r.Context()
	t := translator(locale)
	key, err := te.pendingOf(ctx, ec.user, ec.sess.ID)
	if errors.Is(err, errEnrolGone) {
		te.enrolMessage(w, r, http.StatusBadRequest, locale, "enrol.expired")
		return
	}
	if err != nil {
		te.logError(r, "one-time code enrolment: read pending secret", err)
		te.errorPage(w, r, http.StatusInternalServerError, locale, "error.internal", "")
		return
	}
	ev := AuditEvent{Action: "authn.totp.enrol.failure", Subject: ec.user.ID, SourceAddr: r.RemoteAddr,
		Resource: "authn:user:" + ec.user.ID, Outcome: "failure"}
	refuse := func(status int, reason, msg string) {
		ev.Reasons = []string{"session " + ec.sess.ID, reason}
		_ = te.audit(ctx, ev)
		te.renderEnrol(w, r, status, ec, key, msg)
	}
	acct, addr := accountKey(ec.user.Username), addressKey(r.RemoteAddr)
	err = te.thr.check(ctx, acct, addr)
	var locked *LockedError
	if errors.As(err, &locked) {
		w.Header().Set("Retry-After", strconv.Itoa(locked.RetryAfter(te.now())))
		refuse(http.StatusTooManyRequests, "locked", lockedMessage(t, locked))
		return
	}
	if err != nil {
		te.logError(r, "one-time code enrolment: check throttle", err)
		te.errorPage(w, r, http.StatusInternalServerError, locale, "error.internal", "")
		return
	}
	code := strings.TrimSpace(form.Get("code"))
	if code == "" || len(code) > maxTOTPCodeLen {
		te.renderEnrol(w, r, http.StatusBadRequest, ec, key, t("totp.required"))
		return
	}
	if acrRank(ec.sess.ACR) < acrRank(ACRTOTP) && !te.recheckPassword(w, r, ec, key, form.Get("password"), refuse) {
		return
	}
	v, err := totp.NewVerifier(te.steps)
	if err == nil {
		err = v.Verify(ctx, ec.user.ID, key.Secret, code, te.now())
	}
	if errors.Is(err, totp.ErrInvalidCode) || errors.Is(err, totp.ErrReplayed) {
		_, e1 := te.thr.fail(ctx, acct, te.thr.account)
		_, e2 := te.thr.fail(ctx, addr, te.thr.address)
		if e := errors.Join(e1, e2); e != nil {
			te.logError(r, "one-time code enrolment: count failure", e)
		}
		reason := "bad code"
		if errors.Is(err, totp.ErrReplayed) {
			reason = "code replayed"
		}
		refuse(http.StatusOK, reason, t("totp.bad"))
		return
	}
	if err != nil {
		te.logError(r, "one-time code enrolment: check code", err)
		te.errorPage(w, r, http.StatusInternalServerError, locale, "error.internal", "")
		return
	}
	if err := te.confirmTOTP(ctx, ec); errors.Is(err, errEnrolGone) {
		te.enrolMessage(w, r, http.StatusBadRequest, locale, "enrol.expired")
		return
	} else if err != nil {
		te.logError(r, "one-time code enrolment: store factor", err)
		te.errorPage(w, r, http.StatusInternalServerError, locale, "error.internal", "")
		return
	}
	if err := te.thr.reset(ctx, acct); err != nil {
		te.logError(r, "one-time code enrolment: reset throttle", err)
	}
	te.enrolled(w, r, ec, locale)
}

// recheckPassword checks the password of a session made with the password
// alone, which enrolment asks for again. It reports whether enrolment may
// go on; if not, it has answered.
func (te *totpEnrolment) recheckPassword(w http.ResponseWriter, r *http.Request, ec *enrolContext, key *totp.Key, pw string, refuse func(status int, reason, msg string)) bool {
	ctx := r.Context()
	t := translator(ec.locale)
	if pw == "" {
		te.renderEnrol(w, r, http.StatusBadRequest, ec, key, t("enrol.password.required"))
		return false
	}
	_, err := te.login.checkPassword(ctx, ec.user.Username, pw, r.RemoteAddr)
	var locked *LockedError
	if errors.As(err, &locked) {
		w.Header().Set("Retry-After", strconv.Itoa(locked.RetryAfter(te.now())))
		refuse(http.StatusTooManyRequests, "locked", lockedMessage(t, locked))
		return false
	}
	if errors.Is(err, ErrBadCredentials) {
		refuse(http.StatusOK, "bad password", t("enrol.password.bad"))
		return false
	}
	if err != nil {
		te.logError(r, "one-time code enrolment: check password", err)
		te.errorPage(w, r, http.StatusInternalServerError, ec.locale, "error.internal", "")
		return false
	}
	return true
}

// enrolled audits a confirmed enrolment and shows that it is done.
func (te *totpEnrolment) enrolled(w http.ResponseWriter, r *http.Request, ec *enrolContext, locale string) {
	ctx := r.Context()
	t := translator(locale)
	reasons := []string{"session " + ec.sess.ID, "acr " + ec.sess.ACR}
	if ec.has {
		reasons = append(reasons, "replaced the earlier factor")
	}
	if err := te.audit(ctx, AuditEvent{Action: "authn.totp.enrol", Subject: ec.user.ID, SourceAddr: r.RemoteAddr,
		Resource: "authn:user:" + ec.user.ID, Outcome: "success", Reasons: reasons}); err != nil {
		te.logError(r, "one-time code enrolment: audit", err)
	}
	te.log.InfoContext(ctx, "one-time code enrolled", "user", ec.user.ID, "sid", ec.sess.ID)
	d := &pageData{Username: ec.user.Username, Enrol: &totpEnrolView{Done: true, Replacing: ec.has}}
	d.Title = t("enrol.title")
	if err := te.pages.render(w, http.StatusOK, "totp_enrol", locale, d); err != nil {
		te.logError(r, "one-time code enrolment page", err)
	}
}

// confirmTOTP makes the secret pending for ec's session the account's
// factor, keeping the time step that confirmed it as used, in one
// transaction; errEnrolGone if it is no longer pending.
func (te *totpEnrolment) confirmTOTP(ctx context.Context, ec *enrolContext) error {
	return te.store.confirmEnrolment(ctx, ec.user.ID, ec.sess.ID, te.now())
}

// enrolmentStore keeps one-time code secrets pending confirmation
// ([sqlStore]).
type enrolmentStore interface {
	pendingEnrolment(ctx context.Context, userID string) (*pendingEnrolment, error)
	putEnrolment(ctx context.Context, userID string, pe *pendingEnrolment, now time.Time) error
	confirmEnrolment(ctx context.Context, userID, sid string, now time.Time) error
}
