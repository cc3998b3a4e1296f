package authn

import (
	"context"
	"crypto/subtle"
	"database/sql"
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
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/authn/certlogin"
	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/ident"
	"github.com/tongxing/tongxing/store"
)

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

// certView is the challenge shown on the login page.
type certView struct {
	ID, ToBeSigned string
}

// newCertChallenge makes and stores a challenge for this provider.
func (p *Provider) newCertChallenge(ctx context.Context) (*certlogin.Challenge, error) {
	ch, err := certlogin.NewChallenge(p.issuer, p.now())
	if err != nil {
		return nil, fmt.Errorf("authn: certificate-login challenge: %w", err)
	}
	if _, err := p.db.Exec(ctx, "INSERT INTO authn_cert_challenges (id, audience, issued_at, expires_at) VALUES (?, ?, ?, ?)",
		ch.ID(), ch.Audience, ch.IssuedAt.UnixNano(), ch.ExpiresAt.UnixNano()); err != nil {
		return nil, fmt.Errorf("authn: store certificate-login challenge: %w", err)
	}
	return ch, nil
}

// loadCertChallenge returns the stored challenge id, or nil when there is
// none (unknown or purged).
func (p *Provider) loadCertChallenge(ctx context.Context, id string) (*certlogin.Challenge, error) {
	nonce, err := base64.RawURLEncoding.Strict().DecodeString(id)
	if err != nil || len(nonce) != certlogin.NonceSize {
		return nil, nil
	}
	var iat, exp int64
	ch := &certlogin.Challenge{Nonce: nonce}
	err = p.db.QueryRow(ctx, "SELECT audience, issued_at, expires_at FROM authn_cert_challenges WHERE id = ?", id).
		Scan(&ch.Audience, &iat, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("authn: read certificate-login challenge: %w", err)
	}
	ch.IssuedAt, ch.ExpiresAt = time.Unix(0, iat).UTC(), time.Unix(0, exp).UTC()
	return ch, nil
}

// dbUsedChallenges is certlogin.UsedChallenges on authn_cert_challenges:
// marking a challenge used is one conditional UPDATE, so only one login
// can use it, across replicas.
type dbUsedChallenges struct {
	db  *store.DB
	now func() time.Time
}

func (u dbUsedChallenges) MarkUsed(ctx context.Context, id string, _ time.Time) (bool, error) {
	res, err := u.db.Exec(ctx, "UPDATE authn_cert_challenges SET used_at = ? WHERE id = ? AND used_at IS NULL", u.now().UnixNano(), id)
	if err != nil {
		return false, fmt.Errorf("authn: mark certificate-login challenge used: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("authn: mark certificate-login challenge used: %w", err)
	}
	return n == 1, nil
}

// offerCertLogin puts a fresh challenge on the login page when certificate
// login is enabled. On failure it has shown the error page and returns
// false.
func (p *Provider) offerCertLogin(w http.ResponseWriter, r *http.Request, d *pageData, locale string) bool {
	if !p.login.certEnabled() {
		return true
	}
	ch, err := p.newCertChallenge(r.Context())
	if err != nil {
		p.logError(r, "login: certificate challenge", err)
		p.errorPage(w, r, http.StatusInternalServerError, locale, "error.internal", "")
		return false
	}
	d.Cert, d.QR = &certView{ID: ch.ID(), ToBeSigned: string(ch.ToBeSigned())}, p.login.qr != nil
	return true
}

// serveCertChallenge answers GET /login/cert/challenge with a new
// challenge as JSON (certlogin.Challenge.MarshalJSON), for card
// middleware. A locked client address is refused.
func (p *Provider) serveCertChallenge(w http.ResponseWriter, r *http.Request) {
	if !p.login.certEnabled() {
		http.NotFound(w, r)
		return
	}
	ctx := r.Context()
	err := p.thr.check(ctx, "", addressKey(r.RemoteAddr))
	var locked *LockedError
	if errors.As(err, &locked) {
		w.Header().Set("Retry-After", strconv.Itoa(locked.RetryAfter(p.now())))
		certJSON(w, http.StatusTooManyRequests, certErrLocked, "too many failed logins from this address")
		return
	}
	var ch *certlogin.Challenge
	if err == nil {
		ch, err = p.newCertChallenge(ctx)
	}
	if err != nil {
		p.logError(r, "certificate challenge", err)
		certJSON(w, http.StatusInternalServerError, certErrInternal, "temporarily unavailable")
		return
	}
	body, err := json.Marshal(ch)
	if err != nil {
		p.logError(r, "certificate challenge", err)
		certJSON(w, http.StatusInternalServerError, certErrInternal, "temporarily unavailable")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(body)
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
func (p *Provider) serveCertLogin(w http.ResponseWriter, r *http.Request) {
	if !p.login.certEnabled() {
		http.NotFound(w, r)
		return
	}
	a, ok := p.readCertAttempt(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	t := translator(a.locale)
	clientID := ""
	if a.client != nil {
		clientID = a.client.ID
	}
	ev := AuditEvent{Action: "authn.login.failure", Client: clientID, SourceAddr: r.RemoteAddr, Outcome: "failure",
		CertSerial: leafSerial(a.req.ChainPEM)}
	fail := func(status int, code, msgKey, detail string) {
		ev.Reasons = append([]string{"method certificate"}, detail)
		_ = p.audit(ctx, ev)
		if a.tx == nil {
			desc := t(msgKey)
			if detail != "" {
				desc += " " + detail
			}
			certJSON(w, status, code, desc)
			return
		}
		d := p.pageFor(a.tx, a.client, a.locale)
		d.Error = t(msgKey)
		d.CertDetail = detail
		if !p.offerCertLogin(w, r, d, a.locale) {
			return
		}
		if err := p.pages.render(w, status, "login", a.locale, d); err != nil {
			p.logError(r, "login page", err)
		}
	}
	addr := addressKey(r.RemoteAddr)
	err := p.thr.check(ctx, "", addr)
	var locked *LockedError
	if errors.As(err, &locked) {
		w.Header().Set("Retry-After", strconv.Itoa(locked.RetryAfter(p.now())))
		fail(http.StatusTooManyRequests, certErrLocked, "cert.locked", "locked")
		return
	}
	if err != nil {
		p.logError(r, "certificate login: check throttle", err)
		fail(http.StatusInternalServerError, certErrInternal, "error.internal", "")
		return
	}
	ch, err := p.loadCertChallenge(ctx, a.req.ChallengeID)
	if err != nil {
		p.logError(r, "certificate login: load challenge", err)
		fail(http.StatusInternalServerError, certErrInternal, "error.internal", "")
		return
	}
	var id *certlogin.Identity
	if ch == nil {
		err = fmt.Errorf("%w: challenge %s is unknown", certlogin.ErrChallengeExpired, a.req.ChallengeID)
	} else {
		id, err = certlogin.Verify(ctx, ch, a.req.ChainPEM, a.req.Signature, certlogin.VerifyOptions{
			Roots: p.login.certRoots, Now: p.now(), Revocation: p.login.certRev, Used: p.login.used,
		})
	}
	if err != nil {
		status, code, key := certFailure(err)
		if status == http.StatusInternalServerError {
			p.logError(r, "certificate login", err)
			fail(status, code, key, "")
			return
		}
		if _, e := p.thr.fail(ctx, addr, p.thr.address); e != nil {
			p.logError(r, "certificate login: count failure", e)
		}
		fail(status, code, key, err.Error())
		return
	}
	ev.CertSerial = id.Serial
	u, err := p.users.certAccount(ctx, id)
	if errors.Is(err, ErrCertAccount) {
		fail(http.StatusForbidden, certErrRefused, "cert.account", err.Error())
		return
	}
	if err != nil {
		p.logError(r, "certificate login: account", err)
		fail(http.StatusInternalServerError, certErrInternal, "error.internal", "")
		return
	}
	ev.Subject = u.ID
	amr := p.login.certAMR(id.Certificate)
	if a.tx != nil {
		p.completeLogin(w, r, a.tx, a.client, a.locale, u, ACRCertificate, amr, id.Serial)
		return
	}
	sess, err := p.loginSession(ctx, w, r, u, ACRCertificate, amr, "", id.Serial)
	if err != nil {
		p.logError(r, "certificate login: start session", err)
		certJSON(w, http.StatusInternalServerError, certErrInternal, "temporarily unavailable")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{"acr": sess.ACR, "amr": sess.AMR, "auth_time": sess.AuthTime.Unix()})
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
func (p *Provider) readCertAttempt(w http.ResponseWriter, r *http.Request) (*certAttempt, bool) {
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
		p.errorPage(w, r, http.StatusBadRequest, locale, "error.request", err.Error())
		return nil, false
	}
	locale = pageLocale(r, form.Get("ui_locales"), nil)
	tx, c, ok := p.loginContext(w, r, form.Get("login"), locale)
	if !ok {
		return nil, false
	}
	csrf := form.Get("csrf_token")
	if len(form["csrf_token"]) != 1 || subtle.ConstantTimeCompare([]byte(csrf), []byte(tx.CSRF)) != 1 || tx.Stage != stageLogin {
		p.errorPage(w, r, http.StatusForbidden, locale, "error.expired", "")
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
		d := p.pageFor(tx, c, locale)
		d.Error = translator(locale)("cert.malformed")
		d.CertDetail = err.Error()
		if p.offerCertLogin(w, r, d, locale) {
			if err := p.pages.render(w, http.StatusBadRequest, "login", locale, d); err != nil {
				p.logError(r, "login page", err)
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

// certAccount returns the account a verified certificate logs in to,
// creating it on first login: a citizen is found by the pseudonym of the
// identity number (the certificate's subject serialNumber, which
// Tongxing's CA computes with the same pseudonym key, or the pseudonym of
// its GM/T 0015 identity code), so a citizen who registered with an ID
// number gets the same account; an enterprise (legal person) is keyed by
// its unified social credit code, and its name and the agent's name are
// updated on every login.
func (u *Users) certAccount(ctx context.Context, id *certlogin.Identity) (*User, error) {
	switch id.Kind {
	case certlogin.KindCitizen:
		pseudo := id.Pseudonym
		if pseudo == "" && id.IdentityCode != "" && len(u.pseudonymKey) > 0 {
			pseudo = ident.Pseudonym(u.pseudonymKey, ident.NormalizeCitizenID(id.IdentityCode))
		}
		if pseudo == "" || len(pseudo) > 256 {
			return nil, fmt.Errorf("%w: citizen certificate %s carries no usable pseudonym", ErrCertAccount, id.Serial)
		}
		return u.findOrCreate(ctx, "citizen_id_hash", pseudo, func() (*User, []any) {
			usr := &User{Username: "c-" + strings.ToLower(newID()), Name: truncateText(id.CommonName, maxNameLen)}
			return usr, []any{pseudo, nil}
		})
	case certlogin.KindEnterprise:
		if id.USCC == "" {
			return nil, fmt.Errorf("%w: enterprise certificate %s has no credit code", ErrCertAccount, id.Serial)
		}
		org, agent := truncateText(id.OrgName, maxNameLen), truncateText(id.AgentName, maxNameLen)
		usr, err := u.findOrCreate(ctx, "uscc", id.USCC, func() (*User, []any) {
			n := &User{Username: "e-" + strings.ToLower(id.USCC), Name: org, OrgName: org, AgentName: agent, USCC: id.USCC}
			return n, []any{nil, id.USCC}
		})
		if err != nil {
			return nil, err
		}
		if usr.OrgName != org || usr.AgentName != agent {
			now := u.now()
			if _, err := u.db.Exec(ctx, "UPDATE authn_users SET org_name = ?, agent_name = ?, updated_at = ? WHERE id = ?",
				org, agent, now.UnixNano(), usr.ID); err != nil {
				return nil, fmt.Errorf("authn: update enterprise account %s: %w", quote(usr.ID), err)
			}
			usr.OrgName, usr.AgentName, usr.UpdatedAt = org, agent, time.Unix(0, now.UnixNano())
		}
		return usr, nil
	}
	return nil, fmt.Errorf("%w: certificate %s identifies neither a citizen nor an enterprise", ErrCertAccount, id.Serial)
}

// findOrCreate returns the account whose column col is val, creating the
// one made by mk (with citizen_id_hash and uscc values) if there is none.
// The new account's password is a random secret nobody knows.
func (u *Users) findOrCreate(ctx context.Context, col, val string, mk func() (*User, []any)) (*User, error) {
	for range 2 {
		usr, err := u.one(ctx, col, col, val)
		if err == nil {
			if usr.Disabled {
				return nil, fmt.Errorf("%w: account %s is disabled", ErrCertAccount, quote(usr.ID))
			}
			return usr, nil
		}
		if !errors.Is(err, ErrUserNotFound) {
			return nil, err
		}
		n, keys := mk()
		hash, err := hashPassword(newSecret())
		if err != nil {
			return nil, err
		}
		now := u.now()
		n.ID, n.CreatedAt, n.UpdatedAt = newID(), time.Unix(0, now.UnixNano()), time.Unix(0, now.UnixNano())
		_, err = u.db.Exec(ctx, `INSERT INTO authn_users (id, username, password_hash, name, email, email_verified,
			phone, phone_verified, address, citizen_id_hash, citizen_id_last4, created_at, updated_at, uscc, org_name, agent_name)
			VALUES (?, ?, ?, ?, '', 0, '', 0, '{}', ?, '', ?, ?, ?, ?, ?)`,
			n.ID, n.Username, hash, n.Name, keys[0], now.UnixNano(), now.UnixNano(), keys[1], n.OrgName, n.AgentName)
		if store.IsUniqueViolation(err) {
			continue // created meanwhile by a concurrent first login
		}
		if err != nil {
			return nil, fmt.Errorf("authn: create account for certificate login: %w", err)
		}
		return n, nil
	}
	return nil, fmt.Errorf("authn: account for certificate login: concurrent creation did not settle")
}

// truncateText shortens s to at most n bytes on a rune boundary and drops
// control characters.
func truncateText(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	for len(s) > n {
		_, size := lastRune(s)
		s = s[:len(s)-size]
	}
	return s
}

func lastRune(s string) (rune, int) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i]&0xC0 != 0x80 {
			return rune(s[i]), len(s) - i
		}
	}
	return 0, 1
}
