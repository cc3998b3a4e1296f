package authn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/emmansun/gmsm/smx509"
	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tongxing/tongxing/authn/certlogin"
	"github.com/tongxing/tongxing/authn/sm2jws"
)

// clientAuth authenticates clients at the token, introspection and
// revocation endpoints (RFC 6749 §2.3, RFC 7523, RFC 8705).
type clientAuth struct {
	*base
	clients    *clientRegistry
	assertions assertionLedger
	// revocation, when set (WithCertLogin), is asked whether the TLS
	// client certificate of a tls_client_auth client is revoked.
	revocation certlogin.Revocation
}

// assertionLedger records the client assertions accepted, so that each is
// used once ([sqlStore]).
type assertionLedger interface {
	useAssertion(ctx context.Context, clientID, jti string, expires time.Time) error
}

// authenticateClient authenticates the client with the method it is
// registered for (RFC 6749 §2.3.1): HTTP Basic with the URL-encoded
// client_id and secret, the client_id and client_secret form parameters,
// a client assertion (private_key_jwt, RFC 7523), the TLS client
// certificate (tls_client_auth, RFC 8705) with client_id, or, for a public
// client, client_id alone. Using more than one method is an error.
func (cla *clientAuth) authenticateClient(r *http.Request, form url.Values) (*Client, error) {
	bodyID, bodySecret := form.Get("client_id"), form.Get("client_secret")
	assertion, assertionType := form.Get("client_assertion"), form.Get("client_assertion_type")
	user, pass, basic := r.BasicAuth()
	if r.Header.Get("Authorization") != "" && !basic {
		return nil, oauthErr(ErrInvalidClient, "unsupported Authorization header")
	}
	if assertion != "" || assertionType != "" {
		switch {
		case basic || bodySecret != "":
			return nil, oauthErr(ErrInvalidRequest, "more than one client authentication method")
		case assertionType != ClientAssertionType:
			return nil, oauthErr(ErrInvalidClient, "client_assertion_type must be %s", ClientAssertionType)
		case assertion == "":
			return nil, oauthErr(ErrInvalidClient, "client_assertion is required")
		}
		return cla.authenticateAssertion(r, bodyID, assertion)
	}
	var id, secret, method string
	switch {
	case basic:
		var e1, e2 error
		id, e1 = url.QueryUnescape(user)
		secret, e2 = url.QueryUnescape(pass)
		if e1 != nil || e2 != nil {
			return nil, oauthErr(ErrInvalidClient, "malformed Basic credentials")
		}
		if bodySecret != "" {
			return nil, oauthErr(ErrInvalidRequest, "more than one client authentication method")
		}
		if bodyID != "" && bodyID != id {
			return nil, oauthErr(ErrInvalidRequest, "client_id does not match the Basic credentials")
		}
		method = AuthClientSecretBasic
	case bodySecret != "":
		id, secret, method = bodyID, bodySecret, AuthClientSecretPost
	default:
		id, method = bodyID, AuthNone
	}
	if id == "" {
		return nil, oauthErr(ErrInvalidClient, "client authentication is required")
	}
	c, err := cla.clients.get(r.Context(), id)
	if errors.Is(err, ErrClientNotFound) {
		return nil, oauthErr(ErrInvalidClient, "client authentication failed")
	}
	if err != nil {
		return nil, &Error{Code: ErrServerError.Code, Status: ErrServerError.Status, Description: "temporarily unavailable", Err: err}
	}
	if method == AuthNone && c.TokenEndpointAuthMethod == AuthTLSClientAuth {
		if !checkTLSClient(r, c) {
			return nil, oauthErr(ErrInvalidClient, "no TLS client certificate matching the client's registration")
		}
		if err := cla.checkTLSRevocation(r); err != nil {
			return nil, oauthErr(ErrInvalidClient, "the TLS client certificate is revoked or its status is unknown")
		}
		return c, nil
	}
	if c.TokenEndpointAuthMethod != method {
		return nil, oauthErr(ErrInvalidClient, "client must authenticate with %s", c.TokenEndpointAuthMethod)
	}
	if method != AuthNone && !checkClientSecret(c.SecretHash, secret) {
		return nil, oauthErr(ErrInvalidClient, "client authentication failed")
	}
	return c, nil
}

// Further client authentication methods.
const (
	// AuthPrivateKeyJWT: a JWT client assertion signed with a key of the
	// client's registered JWKS (OpenID Connect Core 1.0 §9, RFC 7523 §2.2).
	AuthPrivateKeyJWT = "private_key_jwt"
	// AuthTLSClientAuth: the TLS client certificate of the connection,
	// chained to a trusted CA by the listener, whose subject DN or a
	// subject alternative name matches the registration (RFC 8705 §2.1).
	AuthTLSClientAuth = "tls_client_auth"
)

// ClientAssertionType is the client_assertion_type of private_key_jwt
// (RFC 7523 §2.2).
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Limits of private_key_jwt.
const (
	// MaxClientAssertionSize bounds a client assertion.
	MaxClientAssertionSize = 8 << 10
	// MaxClientAssertionLifetime is the longest exp - now accepted, so
	// that used jti values need only be kept that long.
	MaxClientAssertionLifetime = time.Hour
	maxClientJWKSLen           = 16 << 10
	maxClientKeys              = 10
	maxJTILen                  = 256
	assertionLeeway            = time.Minute
)

// clientKey is a verification key from a client's JWKS.
type clientKey struct {
	kid, alg string
	pub      any // *rsa.PublicKey or *ecdsa.PublicKey (P-256 or SM2)
}

// parseClientJWKS parses a client's inline JWK Set: RSA keys (at least
// 2048 bits; RS256, or PS256 when the key says so), P-256 keys (ES256)
// and SM2 keys (sm2jws). Keys whose use is not "sig" are skipped.
func parseClientJWKS(s string) ([]clientKey, error) {
	if len(s) > maxClientJWKSLen {
		return nil, fmt.Errorf("JWKS is %d bytes, limit %d", len(s), maxClientJWKSLen)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal([]byte(s), &set); err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	if len(set.Keys) == 0 || len(set.Keys) > maxClientKeys {
		return nil, fmt.Errorf("JWKS has %d keys, want 1 to %d", len(set.Keys), maxClientKeys)
	}
	var out []clientKey
	for i, raw := range set.Keys {
		var peek struct{ Kty, Crv, Alg, Use, Kid string }
		if err := json.Unmarshal(raw, &peek); err != nil {
			return nil, fmt.Errorf("JWKS key %d: %w", i, err)
		}
		if peek.Use != "" && peek.Use != "sig" {
			continue
		}
		if peek.Crv == sm2jws.Alg {
			var k sm2jws.JWK
			if err := json.Unmarshal(raw, &k); err != nil {
				return nil, fmt.Errorf("JWKS key %d: %w", i, err)
			}
			pub, err := k.PublicKey()
			if err != nil {
				return nil, fmt.Errorf("JWKS key %d: %w", i, err)
			}
			if k.Kid == "" {
				return nil, fmt.Errorf("JWKS key %d: an SM2 key needs a kid", i)
			}
			out = append(out, clientKey{kid: k.Kid, alg: AlgSM2, pub: pub})
			continue
		}
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			return nil, fmt.Errorf("JWKS key %d: %w", i, err)
		}
		if !k.IsPublic() {
			return nil, fmt.Errorf("JWKS key %d is a private key", i)
		}
		ck := clientKey{kid: k.KeyID, pub: k.Key}
		switch pub := k.Key.(type) {
		case *rsa.PublicKey:
			if pub.N.BitLen() < 2048 {
				return nil, fmt.Errorf("JWKS key %d: RSA key of %d bits, want at least 2048", i, pub.N.BitLen())
			}
			ck.alg = AlgRS256
			if k.Algorithm == "PS256" {
				ck.alg = "PS256"
			} else if k.Algorithm != "" && k.Algorithm != AlgRS256 {
				return nil, fmt.Errorf("JWKS key %d: alg %s (want RS256 or PS256)", i, quote(k.Algorithm))
			}
		case *ecdsa.PublicKey:
			if pub.Curve != elliptic.P256() || (k.Algorithm != "" && k.Algorithm != AlgES256) {
				return nil, fmt.Errorf("JWKS key %d: EC keys must be P-256 (ES256)", i)
			}
			ck.alg = AlgES256
		default:
			return nil, fmt.Errorf("JWKS key %d: key type %s is not supported", i, quote(peek.Kty))
		}
		out = append(out, ck)
	}
	if len(out) == 0 {
		return nil, errors.New("JWKS has no signing key")
	}
	return out, nil
}

// assertionClaims are the claims of a client assertion (RFC 7523 §3).
type assertionClaims struct {
	jwt.RegisteredClaims
}

// errAssertion marks a refused client assertion.
var errAssertion = errors.New("client assertion refused")

// checkClientAssertion verifies raw, a client assertion of client c: a
// signature by a key of c's JWKS (by kid, or the only key of the header's
// alg), iss = sub = c.ID, aud naming one of audiences, exp in the future
// but at most MaxClientAssertionLifetime ahead, nbf and iat (if present)
// not in the future (one minute of leeway), and a jti of at most 256
// bytes. It does NOT check that the jti is unused. Errors wrap
// errAssertion.
func checkClientAssertion(c *Client, keys []clientKey, raw string, audiences []string, now time.Time) (*assertionClaims, error) {
	bad := func(format string, args ...any) (*assertionClaims, error) {
		return nil, fmt.Errorf("%w: %s", errAssertion, fmt.Sprintf(format, args...))
	}
	if len(raw) > MaxClientAssertionSize {
		return bad("%d bytes, limit %d", len(raw), MaxClientAssertionSize)
	}
	h64, _, ok := strings.Cut(raw, ".")
	if !ok {
		return bad("not a compact JWS")
	}
	hb, err := base64.RawURLEncoding.DecodeString(h64)
	if err != nil {
		return bad("header: %v", err)
	}
	var h jwtHeader
	if err := json.Unmarshal(hb, &h); err != nil {
		return bad("header: %v", err)
	}
	var key *clientKey
	for i := range keys {
		k := &keys[i]
		if k.alg != h.Alg || (h.Kid != "" && k.kid != h.Kid) {
			continue
		}
		if key != nil {
			return bad("more than one key for alg %s; name one with kid", quote(h.Alg))
		}
		key = k
	}
	if key == nil {
		return bad("no registered key for alg %s kid %s", quote(h.Alg), quote(h.Kid))
	}
	var claims assertionClaims
	if key.alg == AlgSM2 {
		j, err := sm2jws.NewJWK(key.pub.(*ecdsa.PublicKey), key.kid)
		if err != nil {
			return bad("%v", err)
		}
		set, err := sm2jws.NewStaticKeySet(j)
		if err != nil {
			return bad("%v", err)
		}
		payload, err := set.VerifySignature(context.Background(), raw)
		if err != nil {
			return bad("signature: %v", err)
		}
		if err := json.Unmarshal(payload, &claims); err != nil {
			return bad("claims: %v", err)
		}
	} else {
		p := jwt.NewParser(jwt.WithValidMethods([]string{key.alg}), jwt.WithoutClaimsValidation())
		if _, err := p.ParseWithClaims(raw, &claims, func(*jwt.Token) (any, error) { return key.pub, nil }); err != nil {
			return bad("signature: %v", err)
		}
	}
	switch {
	case claims.Issuer != c.ID || claims.Subject != c.ID:
		return bad("iss and sub must be the client_id")
	case !slices.ContainsFunc(audiences, func(a string) bool { return slices.Contains([]string(claims.Audience), a) }):
		return bad("aud must name the token endpoint or the issuer")
	case claims.ExpiresAt == nil || !now.Before(claims.ExpiresAt.Time):
		return bad("expired or without exp")
	case claims.ExpiresAt.Sub(now) > MaxClientAssertionLifetime:
		return bad("exp is more than %s ahead", MaxClientAssertionLifetime)
	case claims.NotBefore != nil && claims.NotBefore.After(now.Add(assertionLeeway)):
		return bad("not yet valid")
	case claims.IssuedAt != nil && claims.IssuedAt.After(now.Add(assertionLeeway)):
		return bad("issued in the future")
	case claims.ID == "" || len(claims.ID) > maxJTILen:
		return bad("jti must be 1 to %d bytes", maxJTILen)
	}
	return &claims, nil
}

// assertionAudiences are the aud values a client assertion may name: the
// issuer, the token endpoint and the endpoint called.
func (cla *clientAuth) assertionAudiences(r *http.Request) []string {
	out := []string{cla.issuer, cla.issuer + pathToken}
	if path, ok := strings.CutPrefix(r.URL.Path, cla.prefix); ok && path != pathToken {
		out = append(out, cla.issuer+path)
	}
	return out
}

// authenticateAssertion authenticates a client by private_key_jwt and
// records the assertion's jti, refusing one used before.
func (cla *clientAuth) authenticateAssertion(r *http.Request, id, assertion string) (*Client, error) {
	if len(assertion) > MaxClientAssertionSize {
		return nil, oauthErr(ErrInvalidClient, "client_assertion exceeds %d bytes", MaxClientAssertionSize)
	}
	if id == "" {
		// The client is the assertion's sub, read before verification
		// only to find the key.
		if id = unverifiedSubject(assertion); id == "" {
			return nil, oauthErr(ErrInvalidClient, "client_assertion is malformed")
		}
	}
	ctx := r.Context()
	c, err := cla.clients.get(ctx, id)
	if errors.Is(err, ErrClientNotFound) {
		return nil, oauthErr(ErrInvalidClient, "client authentication failed")
	}
	if err != nil {
		return nil, &Error{Code: ErrServerError.Code, Status: ErrServerError.Status, Description: "temporarily unavailable", Err: err}
	}
	if c.TokenEndpointAuthMethod != AuthPrivateKeyJWT {
		return nil, oauthErr(ErrInvalidClient, "client must authenticate with %s", c.TokenEndpointAuthMethod)
	}
	keys, err := parseClientJWKS(c.JWKS)
	if err != nil { // validated at registration
		return nil, &Error{Code: ErrServerError.Code, Status: ErrServerError.Status, Description: "temporarily unavailable", Err: err}
	}
	now := cla.now()
	claims, err := checkClientAssertion(c, keys, assertion, cla.assertionAudiences(r), now)
	if err != nil {
		return nil, oauthErr(ErrInvalidClient, "%v", err)
	}
	err = cla.assertions.useAssertion(ctx, c.ID, claims.ID, claims.ExpiresAt.Time)
	if errors.Is(err, errAssertionReplayed) {
		return nil, oauthErr(ErrInvalidClient, "client_assertion was already used (jti)")
	}
	if err != nil {
		return nil, &Error{Code: ErrServerError.Code, Status: ErrServerError.Status, Description: "temporarily unavailable", Err: err}
	}
	return c, nil
}

// unverifiedSubject returns the sub claim of a compact JWS without
// verifying it, or "".
func unverifiedSubject(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var claims struct {
		Sub string `json:"sub"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return ""
	}
	return claims.Sub
}

// checkTLSClient reports whether the request's TLS client certificate,
// verified by the listener (a verified chain must exist), matches c's
// registration (RFC 8705 §2.1.2): the subject DN, compared with the RFC
// 4514 form of the certificate's subject as Go renders it, or a DNS name,
// URI, IP address or e-mail address among its subject alternative names,
// compared exactly (IP addresses as addresses).
func checkTLSClient(r *http.Request, c *Client) bool {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 || len(r.TLS.VerifiedChains) == 0 {
		return false
	}
	return matchTLSClient(r.TLS.PeerCertificates[0], c)
}

// checkTLSRevocation asks the revocation checker, if there is one, about
// the leaf of the request's verified client certificate chain, as
// certificate login does: a revoked certificate, or one whose issuer the
// checker does not know, is refused.
func (cla *clientAuth) checkTLSRevocation(r *http.Request) error {
	if cla.revocation == nil {
		return nil
	}
	for _, chain := range r.TLS.VerifiedChains {
		if len(chain) < 2 {
			continue
		}
		leaf, err := smx509.ParseCertificate(chain[0].Raw)
		if err != nil {
			return err
		}
		issuer, err := smx509.ParseCertificate(chain[1].Raw)
		if err != nil {
			return err
		}
		return cla.revocation.CheckRevocation(r.Context(), leaf, issuer, cla.now())
	}
	return errors.New("no verified chain with an issuer")
}

func matchTLSClient(cert *x509.Certificate, c *Client) bool {
	switch {
	case c.TLSClientAuthSubjectDN != "":
		return cert.Subject.String() == c.TLSClientAuthSubjectDN
	case c.TLSClientAuthSANDNS != "":
		return slices.Contains(cert.DNSNames, c.TLSClientAuthSANDNS)
	case c.TLSClientAuthSANURI != "":
		return slices.ContainsFunc(cert.URIs, func(u *url.URL) bool { return u.String() == c.TLSClientAuthSANURI })
	case c.TLSClientAuthSANIP != "":
		want := net.ParseIP(c.TLSClientAuthSANIP)
		return want != nil && slices.ContainsFunc(cert.IPAddresses, want.Equal)
	case c.TLSClientAuthSANEmail != "":
		return slices.Contains(cert.EmailAddresses, c.TLSClientAuthSANEmail)
	}
	return false
}

// checkClientAuthConfig validates the registration of the private_key_jwt
// and tls_client_auth methods.
func (c *Client) checkClientAuthConfig() (field string, err error) {
	tlsFields := 0
	for _, v := range []string{c.TLSClientAuthSubjectDN, c.TLSClientAuthSANDNS, c.TLSClientAuthSANURI, c.TLSClientAuthSANIP, c.TLSClientAuthSANEmail} {
		if v != "" {
			tlsFields++
			if len(v) > maxRedirectURILen || hasControl(v) {
				return "tls_client_auth_*", errors.New("too long or contains control characters")
			}
		}
	}
	switch c.TokenEndpointAuthMethod {
	case AuthPrivateKeyJWT:
		if _, err := parseClientJWKS(c.JWKS); err != nil {
			return "jwks", err
		}
	case AuthTLSClientAuth:
		if tlsFields != 1 {
			return "tls_client_auth_*", fmt.Errorf("exactly one of tls_client_auth_subject_dn, _san_dns, _san_uri, _san_ip, _san_email is required, got %d", tlsFields)
		}
		if c.TLSClientAuthSANIP != "" && net.ParseIP(c.TLSClientAuthSANIP) == nil {
			return "tls_client_auth_san_ip", errors.New("not an IP address")
		}
		return "", nil
	default:
		if c.JWKS != "" {
			return "jwks", errors.New("only for private_key_jwt")
		}
	}
	if tlsFields != 0 {
		return "tls_client_auth_*", errors.New("only for tls_client_auth")
	}
	return "", nil
}
