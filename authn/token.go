package authn

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tongxing/tongxing/authn/sm2jws"
)

// tokenEndpoint is the token endpoint with its four grants: authorization
// code, refresh token, client credentials and token exchange. Clients
// authenticate through [clientAuth]; token exchange checks the citizen's
// token through [tokenChecks].
type tokenEndpoint struct {
	*base
	auth      *clientAuth
	checks    *tokenChecks
	grants    grantRedeemer
	users     *Users
	keys      *keyStore
	accessAlg string
}

// maxTokenRequestSize bounds token endpoint request bodies.
const maxTokenRequestSize = 16 << 10

// accessTokenType is the "typ" header of access tokens (RFC 9068 §2.1).
const accessTokenType = "at+jwt"

// tokenResponse is the successful token endpoint response (RFC 6749 §5.1,
// OpenID Connect Core 1.0 §3.1.3.3).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	Scope        string `json:"scope"`
	// IssuedTokenType is set by token exchange (RFC 8693 §2.2.1).
	IssuedTokenType string `json:"issued_token_type,omitempty"`
}

// IDTokenClaims are the claims of an ID token (OpenID Connect Core 1.0
// §2): iss, sub, aud, exp, iat, auth_time, nonce (when the request had
// one), acr, amr, at_hash, sid and azp.
type IDTokenClaims struct {
	jwt.RegisteredClaims
	AuthTime int64    `json:"auth_time"`
	Nonce    string   `json:"nonce,omitempty"`
	ACR      string   `json:"acr"`
	AMR      []string `json:"amr"`
	AtHash   string   `json:"at_hash,omitempty"`
	SID      string   `json:"sid"`
	AZP      string   `json:"azp"`
	// A legal person signed in with an e-cert (with scope profile): the
	// enterprise, its unified social credit code and the agent acting.
	OrgName   string `json:"org_name,omitempty"`
	USCC      string `json:"uscc,omitempty"`
	AgentName string `json:"agent_name,omitempty"`
}

// AccessTokenClaims are the claims of a JWT access token (RFC 9068 §2.2).
// aud is the issuer: the provider's own userinfo endpoint is the resource.
type AccessTokenClaims struct {
	jwt.RegisteredClaims
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope"`
	AuthTime int64    `json:"auth_time"`
	ACR      string   `json:"acr"`
	AMR      []string `json:"amr,omitempty"`
	SID      string   `json:"sid"`
}

// grant is what an authorization code or refresh token stands for.
type grant struct {
	ID, ClientID, UserID, SessionID string
	Scopes                          []string
	Nonce                           string
	AuthTime                        time.Time
	ACR                             string
	AMR                             []string
	// AgentName is the agent of the enterprise login the grant came from.
	AgentName string
	Revoked   bool
}

// serveToken is the token endpoint (RFC 6749 §3.2, OpenID Connect Core 1.0
// §3.1.3). Errors are OAuth error JSON (RFC 6749 §5.2).
func (tk *tokenEndpoint) serveToken(w http.ResponseWriter, r *http.Request) {
	noStoreCORS(w)
	resp, err := tk.token(w, r)
	if err != nil {
		tk.writeOAuthError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (tk *tokenEndpoint) token(w http.ResponseWriter, r *http.Request) (*tokenResponse, error) {
	form, err := readForm(w, r, maxTokenRequestSize)
	if err != nil {
		return nil, oauthErr(ErrInvalidRequest, "%v", err)
	}
	for _, k := range []string{"grant_type", "code", "redirect_uri", "code_verifier", "refresh_token", "scope", "client_id", "client_secret",
		"subject_token", "subject_token_type", "actor_token", "actor_token_type", "requested_token_type", "client_assertion", "client_assertion_type"} {
		if len(form[k]) > 1 {
			return nil, oauthErr(ErrInvalidRequest, "parameter %s is repeated", k)
		}
	}
	c, err := tk.auth.authenticateClient(r, form)
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	gt := form.Get("grant_type")
	ev := &AuditEvent{Action: "authn.token.issue", Subject: c.ID, Client: c.ID, SourceAddr: r.RemoteAddr, Reasons: []string{"grant_type=" + gt}}
	var resp *tokenResponse
	switch gt {
	case "authorization_code":
		resp, err = tk.exchangeCode(ctx, c, form, ev)
	case "refresh_token":
		resp, err = tk.refresh(ctx, c, form, ev)
	case GrantClientCredentials:
		resp, err = tk.clientCredentials(ctx, c, form, ev)
	case GrantTokenExchange:
		resp, err = tk.tokenExchange(ctx, c, form, ev)
	case "":
		return nil, oauthErr(ErrInvalidRequest, "grant_type is required")
	default:
		return nil, oauthErr(ErrUnsupportedGrantType, "grant types supported: %s", strings.Join(grantTypes, ", "))
	}
	if err != nil {
		if ev.Outcome == "failure" { // reuse detected
			_ = tk.audit(ctx, *ev)
		}
		return nil, err
	}
	ev.Outcome = "success"
	if err := tk.audit(ctx, *ev); err != nil {
		return nil, &Error{Code: ErrServerError.Code, Status: ErrServerError.Status, Description: "temporarily unavailable", Err: err}
	}
	return resp, nil
}

// grantTypes are the grant types of the token endpoint, for discovery.
var grantTypes = []string{"authorization_code", "refresh_token", GrantClientCredentials, GrantTokenExchange}

// writeOAuthError sends an RFC 6749 §5.2 error. invalid_client carries
// WWW-Authenticate: Basic; server errors are logged and hidden.
func (b *base) writeOAuthError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Code: ErrServerError.Code, Status: ErrServerError.Status, Description: "temporarily unavailable", Err: err}
	}
	if e.HTTPStatus() >= 500 {
		b.logError(r, "token endpoint", err)
	}
	if e.Code == ErrInvalidClient.Code {
		w.Header().Set("WWW-Authenticate", `Basic realm="tongxing", charset="UTF-8"`)
	}
	body := map[string]string{"error": e.Code}
	if e.Description != "" {
		body["error_description"] = errorText(e.Description)
	}
	writeJSON(w, e.HTTPStatus(), body)
}

// noStoreCORS sets the headers of the endpoints browsers call from other
// origins with tokens: no caching, any origin.
func noStoreCORS(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Access-Control-Allow-Origin", "*")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// issued is what a token request records, to be signed after the
// transaction commits.
type issued struct {
	jti            string
	refresh        string
	scopes         []string
	nonce          bool
	accessExpires  time.Time
	refreshExpires time.Time
}

// grantRedeemer is where the token endpoint redeems codes and refresh
// tokens and records the tokens it issues ([sqlStore]).
type grantRedeemer interface {
	redeem(ctx context.Context, kind secretKind, secret string, now time.Time, is *issued, decide func(*redeemed) ([]string, error)) (*redeemed, error)
	recordServiceToken(ctx context.Context, jti, clientID, userID, grantID string, aud []string, scope string, now, expires time.Time) error
}

// exchangeCode redeems an authorization code (RFC 6749 §4.1.3, RFC 7636
// §4.6). A code is single-use: presenting it again revokes the grant, and
// with it every token it issued (RFC 6749 §4.1.2).
func (tk *tokenEndpoint) exchangeCode(ctx context.Context, c *Client, form url.Values, ev *AuditEvent) (*tokenResponse, error) {
	code, redirect, verifier := form.Get("code"), form.Get("redirect_uri"), form.Get("code_verifier")
	if code == "" {
		return nil, oauthErr(ErrInvalidRequest, "code is required")
	}
	if len(code) > 128 {
		return nil, oauthErr(ErrInvalidGrant, "unknown authorization code")
	}
	if redirect == "" {
		return nil, oauthErr(ErrInvalidRequest, "redirect_uri is required")
	}
	if verifier != "" && !isPKCEValue(verifier) {
		return nil, oauthErr(ErrInvalidGrant, "code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~]")
	}
	return tk.redeem(ctx, c, ev, secretCode, code, func(rd *redeemed, now time.Time) ([]string, error) {
		if rd.ClientID != c.ID {
			return nil, oauthErr(ErrInvalidGrant, "the authorization code was issued to another client")
		}
		if rd.Used {
			return nil, errReused
		}
		if !now.Before(rd.Expires) {
			return nil, oauthErr(ErrInvalidGrant, "the authorization code has expired")
		}
		if redirect != rd.RedirectURI {
			return nil, oauthErr(ErrInvalidGrant, "redirect_uri does not match the authorization request")
		}
		challenge := rd.CodeChallenge
		switch {
		case challenge == "" && verifier != "":
			return nil, oauthErr(ErrInvalidGrant, "code_verifier given but the authorization request had no code_challenge")
		case challenge != "" && verifier == "":
			return nil, oauthErr(ErrInvalidGrant, "code_verifier is required")
		case challenge != "" && subtle.ConstantTimeCompare([]byte(s256(verifier)), []byte(challenge)) != 1:
			return nil, oauthErr(ErrInvalidGrant, "code_verifier does not match the code_challenge")
		}
		if rd.Revoked {
			return nil, oauthErr(ErrInvalidGrant, "the grant has been revoked")
		}
		return rd.Scopes, nil
	})
}

// refresh redeems a refresh token (RFC 6749 §6) and rotates it. Presenting
// a refresh token that was already rotated revokes its whole family (the
// grant), as that means it was copied. A grant is refreshed only within
// the session lifetime from the sign-in it came from (its auth_time); then
// the portal sends the citizen to sign in again.
func (tk *tokenEndpoint) refresh(ctx context.Context, c *Client, form url.Values, ev *AuditEvent) (*tokenResponse, error) {
	rt := form.Get("refresh_token")
	if rt == "" {
		return nil, oauthErr(ErrInvalidRequest, "refresh_token is required")
	}
	if len(rt) > 128 {
		return nil, oauthErr(ErrInvalidGrant, "unknown refresh token")
	}
	var narrowed []string
	if s := form.Get("scope"); s != "" {
		if len(s) > maxScopeLen {
			return nil, oauthErr(ErrInvalidScope, "scope is too long")
		}
		narrowed = dedupe(splitList(s))
	}
	return tk.redeem(ctx, c, ev, secretRefresh, rt, func(rd *redeemed, now time.Time) ([]string, error) {
		if rd.ClientID != c.ID {
			return nil, oauthErr(ErrInvalidGrant, "the refresh token was issued to another client")
		}
		if rd.Used {
			return nil, errReused
		}
		if rd.Revoked {
			return nil, oauthErr(ErrInvalidGrant, "the grant has been revoked")
		}
		if !now.Before(rd.Expires) {
			return nil, oauthErr(ErrInvalidGrant, "the refresh token has expired")
		}
		if end := rd.AuthTime.Add(tk.life.Session); !now.Before(end) {
			return nil, oauthErr(ErrInvalidGrant, "the sign-in this refresh token comes from is older than the session lifetime (%s); sign in again", tk.life.Session)
		}
		if narrowed == nil {
			return rd.Scopes, nil
		}
		for _, s := range narrowed {
			if !slices.Contains(rd.Scopes, s) {
				return nil, oauthErr(ErrInvalidScope, "scope exceeds the original grant")
			}
		}
		return narrowed, nil
	})
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// redemptionTexts are what the token endpoint says and audits of a code
// or refresh token that is unknown or used again.
var redemptionTexts = map[secretKind]struct{ unknown, reuseAction, reuseReason, reused string }{
	secretCode: {
		unknown:     "unknown authorization code",
		reuseAction: "authn.code.reuse", reuseReason: "authorization code replayed; grant revoked",
		reused: "the authorization code was already used; the tokens it issued are revoked",
	},
	secretRefresh: {
		unknown:     "unknown refresh token",
		reuseAction: "authn.refresh.reuse", reuseReason: "refresh token replayed; token family revoked",
		reused: "the refresh token was already used; its token family is revoked",
	},
}

// redeem is what the code and refresh grants share: redeem the secret
// (decide judges what it stands for, at now, and returns the scopes of
// the new tokens), then sign the tokens. A replay is recorded in ev as a
// failure, which the token endpoint audits.
func (tk *tokenEndpoint) redeem(ctx context.Context, c *Client, ev *AuditEvent, kind secretKind, secret string, decide func(*redeemed, time.Time) ([]string, error)) (*tokenResponse, error) {
	now := tk.now()
	is := &issued{
		jti: newID(), refresh: refreshTokenPrefix + newSecret(), nonce: kind == secretCode,
		accessExpires: now.Add(tk.life.AccessToken), refreshExpires: now.Add(tk.life.RefreshToken),
	}
	texts := redemptionTexts[kind]
	rd, err := tk.grants.redeem(ctx, kind, secret, now, is, func(rd *redeemed) ([]string, error) {
		// A grant lives no longer than a session from the sign-in it came
		// from (see refresh): rotation cannot keep a portal signed in for
		// ever.
		is.refreshExpires = minTime(is.refreshExpires, rd.AuthTime.Add(tk.life.Session))
		return decide(rd, now)
	})
	switch {
	case errors.Is(err, errReused):
		ev.Action, ev.Outcome, ev.Subject, ev.Resource = texts.reuseAction, "failure", rd.UserID, "authn:grant:"+rd.ID
		ev.Reasons = append(ev.Reasons, texts.reuseReason)
		return nil, oauthErr(ErrInvalidGrant, "%s", texts.reused)
	case errors.Is(err, errUnknownSecret):
		return nil, oauthErr(ErrInvalidGrant, "%s", texts.unknown)
	case errors.Is(err, errAccountDisabled):
		return nil, oauthErr(ErrInvalidGrant, "the account is disabled")
	case err != nil:
		return nil, err
	}
	ev.Subject, ev.Resource = rd.UserID, "authn:session:"+rd.SessionID
	return tk.mint(ctx, c, &rd.grant, is, now)
}

// s256 is the PKCE S256 transform: BASE64URL(SHA256(ASCII(verifier))).
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// atHash returns the at_hash of an access token for an ID token signed
// with alg: the left half of SHA-256 for RS256 and ES256, of SM3 for SM2.
func atHash(alg, accessToken string) string {
	if alg == AlgSM2 {
		return sm2jws.AccessTokenHash(accessToken)
	}
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// mint signs the access token and the ID token recorded in is.
func (tk *tokenEndpoint) mint(ctx context.Context, c *Client, g *grant, is *issued, now time.Time) (*tokenResponse, error) {
	sub := tk.subject(c, g.UserID)
	iat := jwt.NewNumericDate(now)
	at := AccessTokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: tk.issuer, Subject: sub, Audience: jwt.ClaimStrings{tk.issuer},
			ExpiresAt: jwt.NewNumericDate(now.Add(tk.life.AccessToken)), IssuedAt: iat, ID: is.jti,
		},
		ClientID: c.ID, Scope: joinScopes(is.scopes), AuthTime: g.AuthTime.Unix(), ACR: g.ACR, AMR: g.AMR, SID: g.SessionID,
	}
	access, err := tk.keys.sign(ctx, tk.accessAlg, accessTokenType, at)
	if err != nil {
		return nil, err
	}
	resp := &tokenResponse{
		AccessToken: access, TokenType: "Bearer", ExpiresIn: int64(tk.life.AccessToken / time.Second),
		RefreshToken: is.refresh, Scope: joinScopes(is.scopes),
	}
	if slices.Contains(is.scopes, ScopeOpenID) {
		alg := c.IDTokenSignedResponseAlg
		id := IDTokenClaims{
			RegisteredClaims: jwt.RegisteredClaims{
				Issuer: tk.issuer, Subject: sub, Audience: jwt.ClaimStrings{c.ID},
				ExpiresAt: jwt.NewNumericDate(now.Add(tk.life.IDToken)), IssuedAt: iat,
			},
			AuthTime: g.AuthTime.Unix(), ACR: g.ACR, AMR: g.AMR, AtHash: atHash(alg, access), SID: g.SessionID, AZP: c.ID,
		}
		if is.nonce {
			id.Nonce = g.Nonce
		}
		if slices.Contains(is.scopes, ScopeProfile) {
			u, err := tk.users.User(ctx, g.UserID)
			if err != nil {
				return nil, err
			}
			id.OrgName, id.USCC = u.OrgName, u.USCC
			if u.USCC != "" {
				id.AgentName = g.AgentName // the agent of this grant's login, not the account's latest
			}
		}
		if resp.IDToken, err = tk.keys.sign(ctx, alg, "JWT", id); err != nil {
			return nil, err
		}
	}
	return resp, nil
}
