package authn

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/tongxing/tongxing/authn/certlogin"
)

// pathQRLogin is the browser's page of scan to sign in.
const pathQRLogin = "/login/qr"

// QRLogin is scan to sign in (扫码登录); package authn/qrlogin implements
// it. The provider asks it for the challenge of a login transaction,
// whether the card holder's device has signed it, to show the waiting
// page, and to mark a challenge used.
type QRLogin interface {
	Challenge(ctx context.Context, loginID, portal string) (*certlogin.Challenge, error)
	Signed(ctx context.Context, id string) (chainPEM, signature []byte, err error)
	Wait(w http.ResponseWriter, r *http.Request, ch *certlogin.Challenge, portal, self, detail string)
	certlogin.UsedChallenges
}

// WithQRLogin turns scan to sign in on (it needs certificate login,
// [WithCertLogin]): the login page links to /login/qr, which shows the QR
// code of a challenge bound to the login transaction (and so to the
// browser) and completes the login, at urn:tongxing:loa:4, once the
// device has signed it.
func WithQRLogin(q QRLogin) Option { return func(o *options) { o.qr = q } }

// serveQRLogin is GET /login/qr?login=ID: the waiting page while the
// challenge is unsigned, the login's next step once it is signed and
// verified (chain, revocation, signature, used once).
func (cl *certLogin) serveQRLogin(w http.ResponseWriter, r *http.Request) {
	q, locale, ok := cl.pageQuery(w, r, "")
	if !ok {
		return
	}
	if cl.qr == nil || !cl.certEnabled() {
		http.NotFound(w, r)
		return
	}
	tx, c, ok := cl.login.loginContext(w, r, q.Get("login"), locale)
	if !ok {
		return
	}
	locale = pageLocale(r, q.Get("ui_locales"), tx.State.Request)
	ctx := r.Context()
	ch, err := cl.qr.Challenge(ctx, tx.ID, c.Name)
	var chain, sig []byte
	if err == nil {
		chain, sig, err = cl.qr.Signed(ctx, ch.ID())
	}
	if err != nil {
		cl.logError(r, "scan to sign in", err)
		cl.errorPage(w, r, http.StatusInternalServerError, locale, "error.internal", "")
		return
	}
	self := cl.prefix + pathQRLogin + "?" + url.Values{"login": {tx.ID}}.Encode()
	if sig == nil {
		cl.qr.Wait(w, r, ch, c.Name, self, "")
		return
	}
	id, err := certlogin.Verify(ctx, ch, chain, sig, certlogin.VerifyOptions{
		Roots: cl.certRoots, Now: cl.now(), Revocation: cl.certRev, Used: cl.qr,
	})
	var u *User
	if err == nil {
		u, err = cl.users.certAccount(ctx, id)
	}
	if err != nil {
		ev := AuditEvent{Action: "authn.login.failure", Client: c.ID, SourceAddr: r.RemoteAddr, Outcome: "failure",
			CertSerial: leafSerial(chain), Reasons: []string{"method certificate (scan)", err.Error()}}
		_ = cl.audit(ctx, ev)
		if status, _, _ := certFailure(err); status == http.StatusInternalServerError && !errors.Is(err, ErrCertAccount) {
			cl.logError(r, "scan to sign in", err)
		}
		cl.qr.Wait(w, r, ch, c.Name, self, translator(locale)("cert.failed")+" "+err.Error())
		return
	}
	cl.login.completeLogin(w, r, tx, c, locale, u, ACRCertificate, cl.certAMR(id.Certificate), id.Serial)
}
