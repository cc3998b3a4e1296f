package authn

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/tongxing/tongxing/authn/totp"
)

// stageTOTP is the login transaction stage between a correct password and
// the one-time code.
const stageTOTP = "totp"

// maxTOTPCodeLen bounds the code field.
const maxTOTPCodeLen = 16

// beginTOTP moves tx to the one-time code stage for user u and shows the
// code form.
func (lp *loginPages) beginTOTP(w http.ResponseWriter, r *http.Request, tx *loginTx, c *Client, locale string, u *User) {
	tx.State.UserID = u.ID
	if err := lp.updateLogin(r.Context(), tx, stageLogin, stageTOTP); err != nil {
		lp.loginGone(w, r, locale, err)
		return
	}
	lp.renderTOTP(w, r, http.StatusOK, tx, c, locale, "")
}

func (lp *loginPages) renderTOTP(w http.ResponseWriter, r *http.Request, status int, tx *loginTx, c *Client, locale, msg string) {
	d := lp.pageFor(tx, c, locale)
	d.ACR = ACRTOTP
	d.Error = msg
	if err := lp.pages.render(w, status, "totp", locale, d); err != nil {
		lp.logError(r, "one-time code page", err)
	}
}

// serveTOTPSubmit checks the one-time code of a login transaction at the
// code stage, with the same throttling as passwords.
func (lp *loginPages) serveTOTPSubmit(w http.ResponseWriter, r *http.Request, code string, tx *loginTx, c *Client, locale string) {
	ctx := r.Context()
	t := translator(locale)
	u, err := lp.users.User(ctx, tx.State.UserID)
	if err != nil || u.Disabled {
		lp.errorPage(w, r, http.StatusBadRequest, locale, "error.expired", "")
		return
	}
	ev := AuditEvent{Action: "authn.login.failure", Subject: u.ID, Client: c.ID, SourceAddr: r.RemoteAddr, Outcome: "failure"}
	acct, addr := accountKey(u.Username), addressKey(r.RemoteAddr)
	err = lp.thr.check(ctx, acct, addr)
	var locked *LockedError
	if errors.As(err, &locked) {
		ev.Reasons = []string{"method totp", "locked"}
		_ = lp.audit(ctx, ev)
		w.Header().Set("Retry-After", strconv.Itoa(locked.RetryAfter(lp.now())))
		lp.renderTOTP(w, r, http.StatusTooManyRequests, tx, c, locale, lockedMessage(t, locked))
		return
	}
	if err != nil {
		lp.logError(r, "login: check throttle", err)
		lp.errorPage(w, r, http.StatusInternalServerError, locale, "error.internal", "")
		return
	}
	if code == "" || len(code) > maxTOTPCodeLen {
		lp.renderTOTP(w, r, http.StatusBadRequest, tx, c, locale, t("totp.required"))
		return
	}
	secret, ok, err := lp.users.totpSecret(ctx, u.ID)
	if err == nil && !ok {
		err = fmt.Errorf("authn: user %s has no one-time code secret any more", quote(u.ID))
	}
	if err == nil {
		err = lp.totp.Verify(ctx, u.ID, secret, code, lp.now())
	}
	if errors.Is(err, totp.ErrInvalidCode) || errors.Is(err, totp.ErrReplayed) {
		_, e1 := lp.thr.fail(ctx, acct, lp.thr.account)
		_, e2 := lp.thr.fail(ctx, addr, lp.thr.address)
		if e := errors.Join(e1, e2); e != nil {
			lp.logError(r, "login: count failure", e)
		}
		ev.Reasons = []string{"method totp", "bad code"}
		if errors.Is(err, totp.ErrReplayed) {
			ev.Reasons[1] = "code replayed"
		}
		_ = lp.audit(ctx, ev)
		lp.renderTOTP(w, r, http.StatusOK, tx, c, locale, t("totp.bad"))
		return
	}
	if err != nil {
		lp.logError(r, "login: check one-time code", err)
		lp.errorPage(w, r, http.StatusInternalServerError, locale, "error.internal", "")
		return
	}
	if err := lp.thr.reset(ctx, acct); err != nil {
		lp.logError(r, "login: reset throttle", err)
	}
	lp.completeLogin(w, r, tx, c, locale, u, ACRTOTP, []string{amrPassword, amrOTP, amrMFA}, "")
}
