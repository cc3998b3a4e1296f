package authn

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/authn/certlogin"
)

// pathMTLSLogin is the TLS client-certificate login, relative to the
// issuer URL.
const pathMTLSLogin = "/login/mtls"

// serveMTLSLogin is GET /login/mtls?login=<login id>: certificate login
// with the client certificate of the TLS connection, for browsers holding
// an ECDSA P-256 (intl) certificate. It needs a listener that asks for
// client certificates (tls.VerifyClientCertIfGiven); without a verified
// client certificate it answers 401 with a page saying how to present
// one. The presented chain is verified again against the provider's
// certificate-login roots at the provider's clock, the leaf must be fit
// for clientAuth, map to an account as in POST /login/cert, and not be
// revoked; the login then completes the authorization request of the
// login transaction at urn:tongxing:loa:4 (amr hwk or swk, see
// [WithKeyStorage]). Failures count
// towards the client address's throttling and are audited. Answers 404
// when certificate login is not configured.
func (cl *certLogin) serveMTLSLogin(w http.ResponseWriter, r *http.Request) {
	if !cl.certEnabled() {
		http.NotFound(w, r)
		return
	}
	q, locale, ok := cl.pageQuery(w, r, "request too large")
	if !ok {
		return
	}
	tx, c, ok := cl.login.loginContext(w, r, q.Get("login"), locale)
	if !ok {
		return
	}
	locale = pageLocale(r, q.Get("ui_locales"), tx.State.Request)
	if tx.Stage != stageLogin {
		cl.errorPage(w, r, http.StatusBadRequest, locale, "error.expired", "")
		return
	}
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.PeerCertificates) == 0 {
		cl.noClientCertPage(w, locale)
		return
	}
	ctx := r.Context()
	ev := AuditEvent{Action: "authn.login.failure", Client: c.ID, SourceAddr: r.RemoteAddr, Outcome: "failure",
		CertSerial: r.TLS.PeerCertificates[0].SerialNumber.Text(16)}
	fail := func(status int, key, detail string) {
		ev.Reasons = []string{"method tls client certificate", detail}
		_ = cl.audit(ctx, ev)
		cl.errorPage(w, r, status, locale, key, detail)
	}
	addr := addressKey(r.RemoteAddr)
	err := cl.thr.check(ctx, "", addr)
	var locked *LockedError
	if errors.As(err, &locked) {
		w.Header().Set("Retry-After", strconv.Itoa(locked.RetryAfter(cl.now())))
		fail(http.StatusTooManyRequests, "cert.locked", "locked")
		return
	}
	if err != nil {
		cl.logError(r, "tls certificate login: check throttle", err)
		fail(http.StatusInternalServerError, "error.internal", "")
		return
	}
	raw := make([][]byte, 0, len(r.TLS.PeerCertificates))
	for _, pc := range r.TLS.PeerCertificates {
		raw = append(raw, pc.Raw)
	}
	id, err := cl.verifyClientCert(ctx, raw)
	if err != nil {
		status, _, key := certFailure(err)
		if status == http.StatusInternalServerError {
			cl.logError(r, "tls certificate login", err)
			fail(status, key, "")
			return
		}
		if _, e := cl.thr.fail(ctx, addr, cl.thr.address); e != nil {
			cl.logError(r, "tls certificate login: count failure", e)
		}
		fail(status, key, err.Error())
		return
	}
	ev.CertSerial = id.Serial
	u, err := cl.users.certAccount(ctx, id)
	if errors.Is(err, ErrCertAccount) {
		fail(http.StatusForbidden, "cert.account", err.Error())
		return
	}
	if err != nil {
		cl.logError(r, "tls certificate login: account", err)
		fail(http.StatusInternalServerError, "error.internal", "")
		return
	}
	cl.login.completeLogin(w, r, tx, c, locale, u, ACRCertificate, cl.certAMR(id.Certificate), id.Serial)
}

// verifyClientCert checks a TLS client certificate chain (DER, leaf
// first) as certificate login does, without a challenge (the TLS
// handshake proved possession of the key): the leaf is valid at the
// provider's clock, has key usage digitalSignature, extended key usage
// clientAuth and an ECDSA P-256 or SM2 key, chains to the certificate-login
// roots, and is not revoked. Errors wrap the certlogin sentinels.
func (cl *certLogin) verifyClientCert(ctx context.Context, raw [][]byte) (*certlogin.Identity, error) {
	if len(raw) == 0 || len(raw) > certlogin.MaxChainCerts {
		return nil, fmt.Errorf("%w: %d client certificates, want 1 to %d", certlogin.ErrChain, len(raw), certlogin.MaxChainCerts)
	}
	certs := make([]*smx509.Certificate, 0, len(raw))
	for i, b := range raw {
		c, err := smx509.ParseCertificate(b)
		if err != nil {
			return nil, fmt.Errorf("%w: client certificate %d: %w", certlogin.ErrChain, i+1, err)
		}
		certs = append(certs, c)
	}
	leaf, now := certs[0], cl.now()
	serial := leaf.SerialNumber.Text(16)
	switch {
	case now.Before(leaf.NotBefore):
		return nil, fmt.Errorf("%w: certificate %s is not valid before %s", certlogin.ErrCertificate, serial, leaf.NotBefore.UTC().Format(time.RFC3339))
	case now.After(leaf.NotAfter):
		return nil, fmt.Errorf("%w: certificate %s expired at %s", certlogin.ErrCertificate, serial, leaf.NotAfter.UTC().Format(time.RFC3339))
	case leaf.KeyUsage&smx509.KeyUsageDigitalSignature == 0:
		return nil, fmt.Errorf("%w: certificate %s lacks key usage digitalSignature", certlogin.ErrCertificate, serial)
	case !slices.Contains(leaf.ExtKeyUsage, smx509.ExtKeyUsageClientAuth):
		return nil, fmt.Errorf("%w: certificate %s lacks extended key usage clientAuth", certlogin.ErrCertificate, serial)
	}
	if _, err := certlogin.SuiteOf(leaf); err != nil {
		return nil, err
	}
	inter := smx509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(smx509.VerifyOptions{
		Roots: cl.certRoots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []smx509.ExtKeyUsage{smx509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: certificate %s issued by %q: %w", certlogin.ErrUntrusted, serial, leaf.Issuer.String(), err)
	}
	chain := chains[0]
	if len(chain) < 2 {
		return nil, fmt.Errorf("%w: certificate %s is itself a trust anchor", certlogin.ErrUntrusted, serial)
	}
	id, err := certlogin.IdentityOf(leaf, chain)
	if err != nil {
		return nil, err
	}
	if err := cl.certRev.CheckRevocation(ctx, leaf, chain[1], now); err != nil {
		return nil, fmt.Errorf("%w: certificate %s: %w", certlogin.ErrRevocation, serial, err)
	}
	return id, nil
}

// noClientCertPage answers 401 with a page explaining how to present a
// client certificate.
func (cl *certLogin) noClientCertPage(w http.ResponseWriter, locale string) {
	title := "未收到客户端证书"
	body := "浏览器没有出示证书。请先在浏览器或操作系统的证书管理中导入市民卡或企业证书（含私钥），" +
		"然后返回原网站重新发起登录；浏览器询问时请选择该证书。若已取消选择，请关闭浏览器后重试。"
	if locale == localeEN {
		title = "No client certificate received"
		body = "Your browser presented no certificate. Import your citizen or enterprise certificate with its private key " +
			"into the browser or the operating system's certificate store, then start the sign-in again from the website; " +
			"choose the certificate when the browser asks. If you dismissed the prompt, restart the browser and try again."
	}
	htmlHeaders(w)
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = io.WriteString(w, `<!DOCTYPE html><html lang="`+locale+`"><head><meta charset="utf-8"><title>`+html.EscapeString(title)+
		`</title></head><body><main><h1>`+html.EscapeString(title)+`</h1><p>`+html.EscapeString(body)+`</p></main></body></html>`)
}
