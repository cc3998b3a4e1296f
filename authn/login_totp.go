package authn

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/authn/certlogin"
	"github.com/tongxing/tongxing/authn/totp"
	"github.com/tongxing/tongxing/store"
)

// stageTOTP is the login transaction stage between a correct password and
// the one-time code.
const stageTOTP = "totp"

// loginMethods holds what the login methods beyond the password need.
type loginMethods struct {
	totp      *totp.Verifier
	certRoots *smx509.CertPool
	certRev   certlogin.Revocation
	used      certlogin.UsedChallenges
	// keyStorage tells hardware from software keys (WithKeyStorage).
	keyStorage KeyStorage
	qr         QRLogin // scan to sign in (WithQRLogin)
}

func (m *loginMethods) init(p *Provider, roots *smx509.CertPool, rev certlogin.Revocation) error {
	v, err := totp.NewVerifier(dbUsedSteps{db: p.db})
	if err != nil {
		return err
	}
	m.totp = v
	if (roots == nil) != (rev == nil) {
		return fmt.Errorf("%w: WithCertLogin needs both the roots and the revocation checker", ErrConfig)
	}
	m.certRoots, m.certRev = roots, rev
	m.used = dbUsedChallenges{db: p.db, now: p.now}
	return nil
}

// certEnabled reports whether certificate login is configured.
func (m *loginMethods) certEnabled() bool { return m.certRoots != nil && m.certRev != nil }

// loginRoutes registers the endpoints of certificate login.
func (p *Provider) loginRoutes(h func(method, path string, f http.HandlerFunc)) {
	h("GET", pathCertChallenge, p.serveCertChallenge)
	h("POST", pathCertLogin, p.serveCertLogin)
	h("GET", pathQRLogin, p.serveQRLogin)
}

// dbUsedSteps is totp.UsedSteps on the authn_totp table: a time step is
// accepted only if it is later than the last one accepted for the account
// (the user ID), by one conditional UPDATE, so replicas agree.
type dbUsedSteps struct{ db *store.DB }

func (s dbUsedSteps) MarkUsed(ctx context.Context, account string, step int64) (bool, error) {
	res, err := s.db.Exec(ctx, "UPDATE authn_totp SET last_step = ? WHERE user_id = ? AND last_step < ?", step, account, step)
	if err != nil {
		return false, fmt.Errorf("authn: record one-time code step: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("authn: record one-time code step: %w", err)
	}
	return n == 1, nil
}

// EnrollTOTP gives account id a new RFC 6238 secret (160 random bits),
// replacing any earlier one, and returns it with the otpauth:// URL to show
// as a QR code, labelled with issuer and the user name. From then on a
// password login of the account asks for a one-time code and reaches
// urn:tongxing:loa:3. It does not ask for a code of the new secret first:
// account holders enrol at GET /me/totp, which does. The secret is stored
// encrypted (see the package documentation). An unknown id gives an error
// wrapping ErrUserNotFound.
func (u *Users) EnrollTOTP(ctx context.Context, id, issuer string) (*totp.Key, error) {
	if u.totp == nil {
		return nil, fmt.Errorf("%w: no sealer for one-time code secrets", ErrConfig)
	}
	usr, err := u.User(ctx, id)
	if err != nil {
		return nil, err
	}
	k, err := totp.GenerateSecret(issuer, usr.Username)
	if err != nil {
		return nil, fmt.Errorf("authn: one-time code secret of user %s: %w", quote(id), err)
	}
	sealed, err := u.totp.seal(id, k.Secret)
	if err != nil {
		return nil, err
	}
	if err := u.db.InTx(ctx, func(tx *store.Tx) error { return setTOTP(ctx, tx, id, sealed, -1, u.now()) }); err != nil {
		return nil, fmt.Errorf("authn: store one-time code secret of user %s: %w", quote(id), err)
	}
	return k, nil
}

// setTOTP makes sealed (with the last used time step lastStep) the
// one-time code secret of account id, replacing any earlier one.
func setTOTP(ctx context.Context, tx *store.Tx, id string, sealed []byte, lastStep int64, now time.Time) error {
	if _, err := tx.Exec(ctx, "DELETE FROM authn_totp WHERE user_id = ?", id); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, "INSERT INTO authn_totp (user_id, secret, sealed, last_step, created_at) VALUES (?, '', ?, ?, ?)",
		id, sealed, lastStep, now.UnixNano())
	return err
}

// RemoveTOTP removes the one-time code factor of account id; password
// logins then reach urn:tongxing:loa:2 only. Removing a factor the account
// does not have is not an error.
func (u *Users) RemoveTOTP(ctx context.Context, id string) error {
	if _, err := u.db.Exec(ctx, "DELETE FROM authn_totp WHERE user_id = ?", id); err != nil {
		return fmt.Errorf("authn: remove one-time code secret of user %s: %w", quote(id), err)
	}
	return nil
}

// HasTOTP reports whether account id has a one-time code factor.
func (u *Users) HasTOTP(ctx context.Context, id string) (bool, error) {
	_, ok, err := u.totpSecret(ctx, id)
	return ok, err
}

// totpSecret returns the base32 secret of account id, opened, and whether
// the account has one. A secret still in clear (from an earlier version)
// is returned as it is.
func (u *Users) totpSecret(ctx context.Context, id string) (string, bool, error) {
	var (
		s      string
		sealed []byte
	)
	err := u.db.QueryRow(ctx, "SELECT secret, sealed FROM authn_totp WHERE user_id = ?", id).Scan(&s, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("authn: read one-time code secret of user %s: %w", quote(id), err)
	}
	if sealed == nil {
		return s, true, nil
	}
	if u.totp == nil {
		return "", true, fmt.Errorf("%w: no sealer for one-time code secrets", ErrConfig)
	}
	s, err = u.totp.open(id, sealed)
	return s, true, err
}

// maxTOTPCodeLen bounds the code field.
const maxTOTPCodeLen = 16

// beginTOTP moves tx to the one-time code stage for user u and shows the
// code form.
func (p *Provider) beginTOTP(w http.ResponseWriter, r *http.Request, tx *loginTx, c *Client, locale string, u *User) {
	tx.State.UserID = u.ID
	if err := p.updateLogin(r.Context(), tx, stageLogin, stageTOTP); err != nil {
		p.loginGone(w, r, locale, err)
		return
	}
	p.renderTOTP(w, r, http.StatusOK, tx, c, locale, "")
}

func (p *Provider) renderTOTP(w http.ResponseWriter, r *http.Request, status int, tx *loginTx, c *Client, locale, msg string) {
	d := p.pageFor(tx, c, locale)
	d.ACR = ACRTOTP
	d.Error = msg
	if err := p.pages.render(w, status, "totp", locale, d); err != nil {
		p.logError(r, "one-time code page", err)
	}
}

// serveTOTPSubmit checks the one-time code of a login transaction at the
// code stage, with the same throttling as passwords.
func (p *Provider) serveTOTPSubmit(w http.ResponseWriter, r *http.Request, code string, tx *loginTx, c *Client, locale string) {
	ctx := r.Context()
	t := translator(locale)
	u, err := p.users.User(ctx, tx.State.UserID)
	if err != nil || u.Disabled {
		p.errorPage(w, r, http.StatusBadRequest, locale, "error.expired", "")
		return
	}
	ev := AuditEvent{Action: "authn.login.failure", Subject: u.ID, Client: c.ID, SourceAddr: r.RemoteAddr, Outcome: "failure"}
	acct, addr := accountKey(u.Username), addressKey(r.RemoteAddr)
	err = p.thr.check(ctx, acct, addr)
	var locked *LockedError
	if errors.As(err, &locked) {
		ev.Reasons = []string{"method totp", "locked"}
		_ = p.audit(ctx, ev)
		w.Header().Set("Retry-After", strconv.Itoa(locked.RetryAfter(p.now())))
		p.renderTOTP(w, r, http.StatusTooManyRequests, tx, c, locale, t("login.locked", locked.Until.In(time.FixedZone("CST", 8*3600)).Format("2006-01-02 15:04:05")))
		return
	}
	if err != nil {
		p.logError(r, "login: check throttle", err)
		p.errorPage(w, r, http.StatusInternalServerError, locale, "error.internal", "")
		return
	}
	if code == "" || len(code) > maxTOTPCodeLen {
		p.renderTOTP(w, r, http.StatusBadRequest, tx, c, locale, t("totp.required"))
		return
	}
	secret, ok, err := p.users.totpSecret(ctx, u.ID)
	if err == nil && !ok {
		err = fmt.Errorf("authn: user %s has no one-time code secret any more", quote(u.ID))
	}
	if err == nil {
		err = p.login.totp.Verify(ctx, u.ID, secret, code, p.now())
	}
	if errors.Is(err, totp.ErrInvalidCode) || errors.Is(err, totp.ErrReplayed) {
		_, e1 := p.thr.fail(ctx, acct, p.thr.account)
		_, e2 := p.thr.fail(ctx, addr, p.thr.address)
		if e := errors.Join(e1, e2); e != nil {
			p.logError(r, "login: count failure", e)
		}
		ev.Reasons = []string{"method totp", "bad code"}
		if errors.Is(err, totp.ErrReplayed) {
			ev.Reasons[1] = "code replayed"
		}
		_ = p.audit(ctx, ev)
		p.renderTOTP(w, r, http.StatusOK, tx, c, locale, t("totp.bad"))
		return
	}
	if err != nil {
		p.logError(r, "login: check one-time code", err)
		p.errorPage(w, r, http.StatusInternalServerError, locale, "error.internal", "")
		return
	}
	if err := p.thr.reset(ctx, acct); err != nil {
		p.logError(r, "login: reset throttle", err)
	}
	p.completeLogin(w, r, tx, c, locale, u, ACRTOTP, []string{amrPassword, amrOTP, amrMFA}, "")
}

// completeLogin finishes tx, starts a session at acr, records the login
// in the audit log and continues the authorization request.
func (p *Provider) completeLogin(w http.ResponseWriter, r *http.Request, tx *loginTx, c *Client, locale string, u *User, acr string, amr []string, certSerial string) {
	ctx := r.Context()
	if err := p.finishLogin(ctx, tx); err != nil {
		p.loginGone(w, r, locale, err)
		return
	}
	sess, err := p.loginSession(ctx, w, r, u, acr, amr, c.ID, certSerial)
	if err != nil {
		p.logError(r, "login: start session", err)
		p.errorPage(w, r, http.StatusInternalServerError, locale, "error.internal", "")
		return
	}
	p.proceed(w, r, c, tx.State.Request, sess, true, false)
}

// loginSession starts the session of a successful login and audits it;
// a login that cannot be audited is refused.
func (p *Provider) loginSession(ctx context.Context, w http.ResponseWriter, r *http.Request, u *User, acr string, amr []string, clientID, certSerial string) (*session, error) {
	sess, err := p.startSession(ctx, w, r, u, acr, amr)
	if err != nil {
		return nil, err
	}
	if err := p.audit(ctx, AuditEvent{
		Action: "authn.login", Subject: u.ID, Client: clientID, CertSerial: certSerial, SourceAddr: r.RemoteAddr,
		Resource: "authn:session:" + sess.ID, Outcome: "success", Reasons: []string{"acr " + acr, "amr " + joinScopes(amr)},
	}); err != nil {
		_, _ = p.db.Exec(context.WithoutCancel(ctx), "UPDATE authn_sessions SET revoked_at = ? WHERE id = ?", p.now().UnixNano(), sess.ID)
		return nil, fmt.Errorf("authn: login not audited: %w", err)
	}
	p.log.InfoContext(ctx, "signed in", "user", u.ID, "client", clientID, "acr", acr, "sid", sess.ID)
	return sess, nil
}

// updateLogin stores tx's state and moves it from stage from to stage to;
// only one caller succeeds.
func (p *Provider) updateLogin(ctx context.Context, tx *loginTx, from, to string) error {
	state, err := json.Marshal(tx.State)
	if err != nil {
		return fmt.Errorf("authn: encode login request: %w", err)
	}
	res, err := p.db.Exec(ctx, "UPDATE authn_logins SET stage = ?, request = ? WHERE id = ? AND stage = ? AND done_at IS NULL",
		to, string(state), tx.ID, from)
	if err != nil {
		return fmt.Errorf("authn: update login request: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errLoginGone
	}
	tx.Stage = to
	return nil
}
