package authn

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/tongxing/tongxing/authn/certlogin"
)

// ErrCertLoginRefused means the provider answered a certificate login
// with an error; the *CertLoginError says which.
var ErrCertLoginRefused = errors.New("authn: certificate login refused")

// CertLoginError is the provider's answer to a refused certificate login:
// the HTTP status and the JSON error ("certificate_revoked",
// "access_denied", "invalid_request", "temporarily_locked",
// "server_error") with its description. It matches ErrCertLoginRefused.
type CertLoginError struct {
	Status      int
	Code        string
	Description string
}

func (e *CertLoginError) Error() string {
	return fmt.Sprintf("authn: certificate login refused (HTTP %d, %s): %s", e.Status, e.Code, e.Description)
}

// Unwrap returns ErrCertLoginRefused.
func (e *CertLoginError) Unwrap() error { return ErrCertLoginRefused }

// maxCertAnswer bounds the provider's answers read by CertLogin.
const maxCertAnswer = 16 << 10

// CertLogin logs in to the provider at issuer by certificate, as card
// middleware for scripts does: it fetches a challenge (GET
// <issuer>/login/cert/challenge), checks that the challenge's audience is
// issuer, signs it with key (certlogin.Sign: SM2 or ECDSA P-256), and
// posts the certlogin.LoginRequest with chainPEM (leaf first) to
// <issuer>/login/cert. On success the session cookie (urn:tongxing:loa:4)
// is in hc's cookie jar, which must be set. issuer may also be given as
// the login URL (<issuer>/login/cert). A refusal returns a
// *CertLoginError (for a revoked certificate its Code is
// "certificate_revoked"). CertLogin does NOT check the chain or the
// certificate's validity itself; the provider does.
func CertLogin(ctx context.Context, hc *http.Client, issuer string, chainPEM []byte, key crypto.Signer) error {
	if hc == nil || hc.Jar == nil {
		return errors.New("authn: CertLogin needs an HTTP client with a cookie jar to keep the session")
	}
	if key == nil {
		return fmt.Errorf("%w: nil key", certlogin.ErrUnsupportedKey)
	}
	issuer = strings.TrimSuffix(strings.TrimSuffix(issuer, "/"), pathCertLogin)
	if _, _, err := checkIssuer(issuer); err != nil {
		return fmt.Errorf("authn: CertLogin: %w", err)
	}
	issuer = strings.TrimSuffix(issuer, "/")
	body, err := certRoundTrip(ctx, hc, http.MethodGet, issuer+pathCertChallenge, nil)
	if err != nil {
		return err
	}
	ch, err := certlogin.ParseChallenge(body)
	if err != nil {
		return fmt.Errorf("authn: challenge from %s: %w", issuer, err)
	}
	if ch.Audience != issuer {
		return fmt.Errorf("authn: challenge from %s names audience %q; refusing to sign it", issuer, ch.Audience)
	}
	sig, err := certlogin.Sign(ch, key)
	if err != nil {
		return err
	}
	req, err := json.Marshal(&certlogin.LoginRequest{ChallengeID: ch.ID(), ChainPEM: chainPEM, Signature: sig})
	if err != nil {
		return fmt.Errorf("authn: encode certificate login: %w", err)
	}
	_, err = certRoundTrip(ctx, hc, http.MethodPost, issuer+pathCertLogin, req)
	return err
}

// certRoundTrip sends a request of CertLogin and returns the body of a
// 200 answer, or a *CertLoginError.
func certRoundTrip(ctx context.Context, hc *http.Client, method, u string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("authn: certificate login request %s: %w", u, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("authn: certificate login %s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxCertAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("authn: certificate login %s %s: reading answer: %w", method, u, err)
	}
	if len(b) > maxCertAnswer {
		return nil, fmt.Errorf("authn: certificate login %s %s: answer exceeds %d bytes", method, u, maxCertAnswer)
	}
	if resp.StatusCode == http.StatusOK {
		return b, nil
	}
	e := &CertLoginError{Status: resp.StatusCode}
	var j struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(b, &j) == nil && j.Error != "" {
		e.Code, e.Description = j.Error, j.Description
	} else {
		e.Code, e.Description = "http_error", http.StatusText(resp.StatusCode)
	}
	return nil, e
}
