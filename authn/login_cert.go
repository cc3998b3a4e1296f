package authn

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/authn/certlogin"
	"github.com/tongxing/tongxing/ca"
)

// certLogin is certificate login: the SM2/ECDSA challenge signed with a
// citizen-card or e-cert key (POST /login/cert) and the TLS client
// certificate (GET /login/mtls). It is disabled without WithCertLogin.
type certLogin struct {
	*base
	challenges challengeStore
	users      *Users
	thr        *throttle
	login      *loginFlow

	certRoots *smx509.CertPool
	certRev   certlogin.Revocation
	used      certlogin.UsedChallenges
	// keyStorage tells hardware from software keys (WithKeyStorage).
	keyStorage KeyStorage
	qr         QRLogin // scan to sign in (WithQRLogin)
}

// Certificate-login endpoint paths, relative to the issuer URL.
const (
	pathCertChallenge = "/login/cert/challenge"
	pathCertLogin     = "/login/cert"
)

// maxCertFormSize bounds the certificate-login form body: the chain, the
// signature and the login fields, URL-encoded.
const maxCertFormSize = 3 * certlogin.MaxLoginRequestSize

// Errors of certificate login, in the "error" member of the JSON answers
// of POST /login/cert.
const (
	certErrRequest  = "invalid_request"
	certErrRevoked  = "certificate_revoked"
	certErrRefused  = "access_denied"
	certErrLocked   = "temporarily_locked"
	certErrInternal = "server_error"
)

// challengeStore keeps certificate-login challenges until they expire
// ([sqlStore]); certlogin.UsedChallenges marks them used.
type challengeStore interface {
	createChallenge(ctx context.Context, ch *certlogin.Challenge) error
	challenge(ctx context.Context, id string, nonce []byte) (*certlogin.Challenge, error)
}

// certView is the challenge shown on the login page.
type certView struct {
	ID, ToBeSigned string
}

// newCertChallenge makes and stores a challenge for this provider.
func (cl *certLogin) newCertChallenge(ctx context.Context) (*certlogin.Challenge, error) {
	ch, err := certlogin.NewChallenge(cl.issuer, cl.now())
	if err != nil {
		return nil, fmt.Errorf("authn: certificate-login challenge: %w", err)
	}
	if err := cl.challenges.createChallenge(ctx, ch); err != nil {
		return nil, fmt.Errorf("authn: store certificate-login challenge: %w", err)
	}
	return ch, nil
}

// loadCertChallenge returns the stored challenge id, or nil when there is
// none (unknown or purged).
func (cl *certLogin) loadCertChallenge(ctx context.Context, id string) (*certlogin.Challenge, error) {
	nonce, err := base64.RawURLEncoding.Strict().DecodeString(id)
	if err != nil || len(nonce) != certlogin.NonceSize {
		return nil, nil
	}
	ch, err := cl.challenges.challenge(ctx, id, nonce)
	if err != nil {
		return nil, fmt.Errorf("authn: read certificate-login challenge: %w", err)
	}
	return ch, nil
}

// offerCertLogin puts a fresh challenge on the login page when certificate
// login is enabled. On failure it has shown the error page and returns
// false.
func (cl *certLogin) offerCertLogin(w http.ResponseWriter, r *http.Request, d *pageData, locale string) bool {
	if !cl.certEnabled() {
		return true
	}
	ch, err := cl.newCertChallenge(r.Context())
	if err != nil {
		cl.logError(r, "login: certificate challenge", err)
		cl.errorPage(w, r, http.StatusInternalServerError, locale, "error.internal", "")
		return false
	}
	d.Cert, d.QR = &certView{ID: ch.ID(), ToBeSigned: string(ch.ToBeSigned())}, cl.qr != nil
	return true
}

// serveCertChallenge answers GET /login/cert/challenge with a new
// challenge as JSON (certlogin.Challenge.MarshalJSON), for card
// middleware. A locked client address is refused.
func (cl *certLogin) serveCertChallenge(w http.ResponseWriter, r *http.Request) {
	if !cl.certEnabled() {
		http.NotFound(w, r)
		return
	}
	ctx := r.Context()
	err := cl.thr.check(ctx, "", addressKey(r.RemoteAddr))
	var locked *LockedError
	if errors.As(err, &locked) {
		w.Header().Set("Retry-After", strconv.Itoa(locked.RetryAfter(cl.now())))
		certJSON(w, http.StatusTooManyRequests, certErrLocked, "too many failed logins from this address")
		return
	}
	var ch *certlogin.Challenge
	if err == nil {
		ch, err = cl.newCertChallenge(ctx)
	}
	if err != nil {
		cl.logError(r, "certificate challenge", err)
		certJSON(w, http.StatusInternalServerError, certErrInternal, "temporarily unavailable")
		return
	}
	cl.certReply(w, r, "certificate challenge", ch, nil)
}

// certJSON writes a JSON error (or, with code "", success) answer.
func certJSON(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	v := map[string]string{"error": code, "error_description": desc}
	_ = json.NewEncoder(w).Encode(v)
}

// certAttempt is one POST /login/cert, from a script (JSON) or from the
// login page (a form that carries the login transaction).
type certAttempt struct {
	req    *certlogin.LoginRequest
	tx     *loginTx // nil for JSON
	client *Client
	locale string
}

// serveCertLogin is POST /login/cert: a JSON certlogin.LoginRequest from
// card middleware, answered with JSON and the session cookie; or the
// login page's form (login, csrf_token, challenge_id, chain, signature in
// standard base64), which continues the authorization request.
func (cl *certLogin) serveCertLogin(w http.ResponseWriter, r *http.Request) {
	if !cl.certEnabled() {
		http.NotFound(w, r)
		return
	}
	a, ok := cl.readCertAttempt(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	clientID := ""
	if a.client != nil {
		clientID = a.client.ID
	}
	ev := AuditEvent{Action: "authn.login.failure", Client: clientID, SourceAddr: r.RemoteAddr, Outcome: "failure",
		CertSerial: leafSerial(a.req.ChainPEM)}
	fail := func(status int, code, msgKey, detail string) { cl.refuse(w, r, a, &ev, status, code, msgKey, detail) }
	addr := addressKey(r.RemoteAddr)
	err := cl.thr.check(ctx, "", addr)
	var locked *LockedError
	if errors.As(err, &locked) {
		w.Header().Set("Retry-After", strconv.Itoa(locked.RetryAfter(cl.now())))
		fail(http.StatusTooManyRequests, certErrLocked, "cert.locked", "locked")
		return
	}
	if err != nil {
		cl.logError(r, "certificate login: check throttle", err)
		fail(http.StatusInternalServerError, certErrInternal, "error.internal", "")
		return
	}
	id, err := cl.verifyAttempt(ctx, a)
	if err != nil {
		status, code, key := certFailure(err)
		if status == http.StatusInternalServerError {
			cl.logError(r, "certificate login", err)
			fail(status, code, key, "")
			return
		}
		if _, e := cl.thr.fail(ctx, addr, cl.thr.address); e != nil {
			cl.logError(r, "certificate login: count failure", e)
		}
		fail(status, code, key, err.Error())
		return
	}
	ev.CertSerial = id.Serial
	u, err := cl.users.certAccount(ctx, id)
	if errors.Is(err, ErrCertAccount) {
		fail(http.StatusForbidden, certErrRefused, "cert.account", err.Error())
		return
	}
	if err != nil {
		cl.logError(r, "certificate login: account", err)
		fail(http.StatusInternalServerError, certErrInternal, "error.internal", "")
		return
	}
	ev.Subject = u.ID
	amr := cl.certAMR(id.Certificate)
	if a.tx != nil {
		cl.login.completeLogin(w, r, a.tx, a.client, a.locale, u, ACRCertificate, amr, id.Serial)
		return
	}
	sess, err := cl.login.loginSession(ctx, w, r, u, ACRCertificate, amr, "", id.Serial)
	if err != nil {
		cl.certReply(w, r, "certificate login: start session", nil, err)
		return
	}
	cl.certReply(w, r, "certificate login", map[string]any{"acr": sess.ACR, "amr": sess.AMR, "auth_time": sess.AuthTime.Unix()}, nil)
}

// refuse audits a failed certificate login (ev, with detail) and answers
// it: JSON for a script, the login page again for a form.
func (cl *certLogin) refuse(w http.ResponseWriter, r *http.Request, a *certAttempt, ev *AuditEvent, status int, code, msgKey, detail string) {
	t := translator(a.locale)
	ev.Reasons = append([]string{"method certificate"}, detail)
	_ = cl.audit(r.Context(), *ev)
	if a.tx == nil {
		desc := t(msgKey)
		if detail != "" {
			desc += " " + detail
		}
		certJSON(w, status, code, desc)
		return
	}
	d := cl.login.pageFor(a.tx, a.client, a.locale)
	d.Error = t(msgKey)
	d.CertDetail = detail
	if !cl.offerCertLogin(w, r, d, a.locale) {
		return
	}
	if err := cl.pages.render(w, status, "login", a.locale, d); err != nil {
		cl.logError(r, "login page", err)
	}
}

// verifyAttempt verifies the signed challenge of a: the challenge must be
// stored and unused, the chain must lead to the login roots and not be
// revoked. Errors are those of certlogin.Verify.
func (cl *certLogin) verifyAttempt(ctx context.Context, a *certAttempt) (*certlogin.Identity, error) {
	ch, err := cl.loadCertChallenge(ctx, a.req.ChallengeID)
	if err != nil {
		return nil, err
	}
	if ch == nil {
		return nil, fmt.Errorf("%w: challenge %s is unknown", certlogin.ErrChallengeExpired, a.req.ChallengeID)
	}
	return certlogin.Verify(ctx, ch, a.req.ChainPEM, a.req.Signature, certlogin.VerifyOptions{
		Roots: cl.certRoots, Now: cl.now(), Revocation: cl.certRev, Used: cl.used,
	})
}

// certReply answers a script's certificate-login call with v as JSON, not
// to be cached, or, if err (or encoding v) fails, with a hidden server
// error logged under what.
func (cl *certLogin) certReply(w http.ResponseWriter, r *http.Request, what string, v any, err error) {
	var body []byte
	if err == nil {
		body, err = json.Marshal(v)
	}
	if err != nil {
		cl.logError(r, what, err)
		certJSON(w, http.StatusInternalServerError, certErrInternal, "temporarily unavailable")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(append(body, '\n'))
}

// certFailure maps a certlogin error to a status, an error code and a
// message key.
func certFailure(err error) (int, string, string) {
	switch {
	case errors.Is(err, ca.ErrRevoked):
		return http.StatusForbidden, certErrRevoked, "cert.revoked"
	case errors.Is(err, certlogin.ErrRevocation):
		return http.StatusForbidden, certErrRefused, "cert.revocation"
	case errors.Is(err, certlogin.ErrChallengeExpired), errors.Is(err, certlogin.ErrChallengeReused):
		return http.StatusBadRequest, certErrRequest, "cert.challenge"
	case errors.Is(err, certlogin.ErrRequest), errors.Is(err, certlogin.ErrChain), errors.Is(err, certlogin.ErrChallenge):
		return http.StatusBadRequest, certErrRequest, "cert.malformed"
	case errors.Is(err, certlogin.ErrUntrusted), errors.Is(err, certlogin.ErrCertificate),
		errors.Is(err, certlogin.ErrSignature), errors.Is(err, certlogin.ErrIdentity):
		return http.StatusForbidden, certErrRefused, "cert.refused"
	}
	return http.StatusInternalServerError, certErrInternal, "error.internal"
}

// readCertAttempt reads a JSON or form certificate login. On failure it
// has answered.
func (cl *certLogin) readCertAttempt(w http.ResponseWriter, r *http.Request) (*certAttempt, bool) {
	locale := pickLocale(nil, r.Header.Get("Accept-Language"))
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "application/json" {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, certlogin.MaxLoginRequestSize+1))
		if err != nil {
			certJSON(w, http.StatusRequestEntityTooLarge, certErrRequest, fmt.Sprintf("request body exceeds %d bytes", certlogin.MaxLoginRequestSize))
			return nil, false
		}
		req, err := certlogin.ParseLoginRequest(body)
		if err != nil {
			certJSON(w, http.StatusBadRequest, certErrRequest, err.Error())
			return nil, false
		}
		return &certAttempt{req: req, locale: locale}, true
	}
	form, err := readForm(w, r, maxCertFormSize)
	if err != nil {
		cl.errorPage(w, r, http.StatusBadRequest, locale, "error.request", err.Error())
		return nil, false
	}
	locale = pageLocale(r, form.Get("ui_locales"), nil)
	tx, c, ok := cl.login.loginContext(w, r, form.Get("login"), locale)
	if !ok {
		return nil, false
	}
	csrf := form.Get("csrf_token")
	if len(form["csrf_token"]) != 1 || subtle.ConstantTimeCompare([]byte(csrf), []byte(tx.CSRF)) != 1 || tx.Stage != stageLogin {
		cl.errorPage(w, r, http.StatusForbidden, locale, "error.expired", "")
		return nil, false
	}
	locale = pageLocale(r, form.Get("ui_locales"), tx.State.Request)
	// The form fields are checked exactly as the JSON body is.
	body, err := json.Marshal(map[string]string{
		"challenge_id": form.Get("challenge_id"),
		"chain":        strings.ReplaceAll(form.Get("chain"), "\r\n", "\n"),
		"signature":    strings.TrimSpace(form.Get("signature")),
	})
	var req *certlogin.LoginRequest
	if err == nil {
		req, err = certlogin.ParseLoginRequest(body)
	}
	if err != nil {
		d := cl.login.pageFor(tx, c, locale)
		d.Error = translator(locale)("cert.malformed")
		d.CertDetail = err.Error()
		if cl.offerCertLogin(w, r, d, locale) {
			if err := cl.pages.render(w, http.StatusBadRequest, "login", locale, d); err != nil {
				cl.logError(r, "login page", err)
			}
		}
		return nil, false
	}
	return &certAttempt{req: req, tx: tx, client: c, locale: locale}, true
}

// leafSerial returns the serial (lower-case hex) of the first certificate
// of chainPEM, or "" when it does not parse; for the audit log of failed
// attempts.
func leafSerial(chainPEM []byte) string {
	b, _ := pem.Decode(chainPEM)
	if b == nil || b.Type != "CERTIFICATE" {
		return ""
	}
	c, err := smx509.ParseCertificate(b.Bytes)
	if err != nil {
		return ""
	}
	return c.SerialNumber.Text(16)
}

// ErrCertAccount means a verified login certificate cannot be mapped to an
// account: it names neither a citizen (pseudonym or identity code) nor an
// enterprise (unified social credit code), or the account is disabled.
var ErrCertAccount = errors.New("authn: certificate does not map to an enabled account")

// certEnabled reports whether certificate login is configured.
func (cl *certLogin) certEnabled() bool { return cl.certRoots != nil && cl.certRev != nil }
