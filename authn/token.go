package authn

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
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
	"github.com/tongxing/tongxing/store"
)

// oauthServer is the OAuth side of the provider, the endpoints a client
// calls without a browser: token (authorization code, refresh, client
// credentials, token exchange), introspection, revocation and userinfo,
// and the in-process check of service tokens.
type oauthServer struct {
	*base
	db        *store.DB
	clients   *clientRegistry
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
	Revoked                         bool
}

// serveToken is the token endpoint (RFC 6749 §3.2, OpenID Connect Core 1.0
// §3.1.3). Errors are OAuth error JSON (RFC 6749 §5.2).
func (o *oauthServer) serveToken(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Access-Control-Allow-Origin", "*")
	resp, err := o.token(w, r)
	if err != nil {
		o.writeOAuthError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (o *oauthServer) token(w http.ResponseWriter, r *http.Request) (*tokenResponse, error) {
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
	c, err := o.authenticateClient(r, form)
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	gt := form.Get("grant_type")
	ev := &AuditEvent{Action: "authn.token.issue", Subject: c.ID, Client: c.ID, SourceAddr: r.RemoteAddr, Reasons: []string{"grant_type=" + gt}}
	var resp *tokenResponse
	switch gt {
	case "authorization_code":
		resp, err = o.exchangeCode(ctx, c, form, ev)
	case "refresh_token":
		resp, err = o.refresh(ctx, c, form, ev)
	case GrantClientCredentials:
		resp, err = o.clientCredentials(ctx, c, form, ev)
	case GrantTokenExchange:
		resp, err = o.tokenExchange(ctx, c, form, ev)
	case "":
		return nil, oauthErr(ErrInvalidRequest, "grant_type is required")
	default:
		return nil, oauthErr(ErrUnsupportedGrantType, "grant types supported: %s", strings.Join(grantTypes, ", "))
	}
	if err != nil {
		if ev.Outcome == "failure" { // reuse detected
			_ = o.audit(ctx, *ev)
		}
		return nil, err
	}
	ev.Outcome = "success"
	if err := o.audit(ctx, *ev); err != nil {
		return nil, &Error{Code: ErrServerError.Code, Status: ErrServerError.Status, Description: "temporarily unavailable", Err: err}
	}
	return resp, nil
}

// grantTypes are the grant types of the token endpoint, for discovery.
var grantTypes = []string{"authorization_code", "refresh_token", GrantClientCredentials, GrantTokenExchange}

// authenticateClient authenticates the client with the method it is
// registered for (RFC 6749 §2.3.1): HTTP Basic with the URL-encoded
// client_id and secret, the client_id and client_secret form parameters,
// a client assertion (private_key_jwt, RFC 7523), the TLS client
// certificate (tls_client_auth, RFC 8705) with client_id, or, for a public
// client, client_id alone. Using more than one method is an error.
func (o *oauthServer) authenticateClient(r *http.Request, form url.Values) (*Client, error) {
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
		return o.authenticateAssertion(r, bodyID, assertion)
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
	c, err := o.clients.get(r.Context(), id)
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

// writeOAuthError sends an RFC 6749 §5.2 error. invalid_client carries
// WWW-Authenticate: Basic; server errors are logged and hidden.
func (o *oauthServer) writeOAuthError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Code: ErrServerError.Code, Status: ErrServerError.Status, Description: "temporarily unavailable", Err: err}
	}
	if e.HTTPStatus() >= 500 {
		o.logError(r, "token endpoint", err)
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

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// grantColumns are read by scanGrant, from authn_grants aliased g.
const grantColumns = `g.id, g.client_id, g.user_id, g.session_id, g.scope, g.nonce, g.auth_time, g.acr, g.amr, g.revoked_at`

func scanGrant(dst *grant) []any {
	return []any{&dst.ID, &dst.ClientID, &dst.UserID, &dst.SessionID, new(string), &dst.Nonce, new(int64), &dst.ACR, new(string), new(sql.NullInt64)}
}

func finishGrant(dst *grant, cols []any) {
	dst.Scopes = splitScopes(*cols[4].(*string))
	dst.AuthTime = time.Unix(0, *cols[6].(*int64))
	dst.AMR = strings.Fields(*cols[8].(*string))
	dst.Revoked = cols[9].(*sql.NullInt64).Valid
}

// revokeGrant revokes every token issued under grant id.
func revokeGrant(ctx context.Context, tx *store.Tx, id string, now int64) error {
	_, err := tx.Exec(ctx, "UPDATE authn_grants SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", now, id)
	return err
}

// issued is what a token request creates in the database, to be signed
// after the transaction commits.
type issued struct {
	jti     string
	refresh string
	scopes  []string
	nonce   bool
}

// record inserts the access token jti and a new refresh token for g.
func (o *oauthServer) record(ctx context.Context, tx *store.Tx, g *grant, scopes []string, now time.Time) (*issued, error) {
	is := &issued{jti: newID(), refresh: refreshTokenPrefix + newSecret(), scopes: scopes}
	if _, err := tx.Exec(ctx, "INSERT INTO authn_access_tokens (jti, grant_id, expires_at) VALUES (?, ?, ?)",
		is.jti, g.ID, now.Add(o.life.AccessToken).UnixNano()); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, "INSERT INTO authn_refresh_tokens (hash, grant_id, scope, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
		hashSecret(is.refresh), g.ID, joinScopes(g.Scopes), now.UnixNano(), now.Add(o.life.RefreshToken).UnixNano()); err != nil {
		return nil, err
	}
	return is, nil
}

// userActive reports whether the grant's user exists and is not disabled.
func userActive(ctx context.Context, tx *store.Tx, userID string) (bool, error) {
	var disabled sql.NullInt64
	err := tx.QueryRow(ctx, "SELECT disabled_at FROM authn_users WHERE id = ?", userID).Scan(&disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil && !disabled.Valid, err
}

// exchangeCode redeems an authorization code (RFC 6749 §4.1.3, RFC 7636
// §4.6). A code is single-use: presenting it again revokes the grant, and
// with it every token it issued (RFC 6749 §4.1.2).
func (o *oauthServer) exchangeCode(ctx context.Context, c *Client, form url.Values, ev *AuditEvent) (*tokenResponse, error) {
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
	now := o.now()
	var (
		g      grant
		reused bool
		is     *issued
	)
	err := o.db.InTx(ctx, func(tx *store.Tx) error {
		var (
			codeRedirect, challenge string
			expires                 int64
			used                    sql.NullInt64
		)
		cols := scanGrant(&g)
		err := tx.QueryRow(ctx, `SELECT c.redirect_uri, c.code_challenge, c.expires_at, c.used_at, `+grantColumns+`
			FROM authn_codes c JOIN authn_grants g ON g.id = c.grant_id WHERE c.hash = ?`, hashSecret(code)).
			Scan(append([]any{&codeRedirect, &challenge, &expires, &used}, cols...)...)
		if errors.Is(err, sql.ErrNoRows) {
			return oauthErr(ErrInvalidGrant, "unknown authorization code")
		}
		if err != nil {
			return err
		}
		finishGrant(&g, cols)
		if g.ClientID != c.ID {
			return oauthErr(ErrInvalidGrant, "the authorization code was issued to another client")
		}
		if used.Valid {
			reused = true
			return revokeGrant(ctx, tx, g.ID, now.UnixNano())
		}
		if now.UnixNano() >= expires {
			return oauthErr(ErrInvalidGrant, "the authorization code has expired")
		}
		if redirect != codeRedirect {
			return oauthErr(ErrInvalidGrant, "redirect_uri does not match the authorization request")
		}
		switch {
		case challenge == "" && verifier != "":
			return oauthErr(ErrInvalidGrant, "code_verifier given but the authorization request had no code_challenge")
		case challenge != "" && verifier == "":
			return oauthErr(ErrInvalidGrant, "code_verifier is required")
		case challenge != "" && subtle.ConstantTimeCompare([]byte(s256(verifier)), []byte(challenge)) != 1:
			return oauthErr(ErrInvalidGrant, "code_verifier does not match the code_challenge")
		}
		if g.Revoked {
			return oauthErr(ErrInvalidGrant, "the grant has been revoked")
		}
		res, err := tx.Exec(ctx, "UPDATE authn_codes SET used_at = ? WHERE hash = ? AND used_at IS NULL", now.UnixNano(), hashSecret(code))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			reused = true
			return revokeGrant(ctx, tx, g.ID, now.UnixNano())
		}
		if ok, err := userActive(ctx, tx, g.UserID); err != nil || !ok {
			if err == nil {
				err = oauthErr(ErrInvalidGrant, "the account is disabled")
			}
			return err
		}
		if is, err = o.record(ctx, tx, &g, g.Scopes, now); err != nil {
			return err
		}
		is.nonce = true
		return nil
	})
	if reused {
		ev.Action, ev.Outcome, ev.Subject, ev.Resource = "authn.code.reuse", "failure", g.UserID, "authn:grant:"+g.ID
		ev.Reasons = append(ev.Reasons, "authorization code replayed; grant revoked")
		return nil, oauthErr(ErrInvalidGrant, "the authorization code was already used; the tokens it issued are revoked")
	}
	if err != nil {
		return nil, err
	}
	ev.Subject, ev.Resource = g.UserID, "authn:session:"+g.SessionID
	return o.mint(ctx, c, &g, is, now)
}

// refresh redeems a refresh token (RFC 6749 §6) and rotates it. Presenting
// a refresh token that was already rotated revokes its whole family (the
// grant), as that means it was copied.
func (o *oauthServer) refresh(ctx context.Context, c *Client, form url.Values, ev *AuditEvent) (*tokenResponse, error) {
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
	now := o.now()
	var (
		g      grant
		reused bool
		is     *issued
	)
	err := o.db.InTx(ctx, func(tx *store.Tx) error {
		var (
			expires int64
			used    sql.NullInt64
		)
		cols := scanGrant(&g)
		err := tx.QueryRow(ctx, `SELECT r.expires_at, r.used_at, `+grantColumns+`
			FROM authn_refresh_tokens r JOIN authn_grants g ON g.id = r.grant_id WHERE r.hash = ?`, hashSecret(rt)).
			Scan(append([]any{&expires, &used}, cols...)...)
		if errors.Is(err, sql.ErrNoRows) {
			return oauthErr(ErrInvalidGrant, "unknown refresh token")
		}
		if err != nil {
			return err
		}
		finishGrant(&g, cols)
		if g.ClientID != c.ID {
			return oauthErr(ErrInvalidGrant, "the refresh token was issued to another client")
		}
		if used.Valid {
			reused = true
			return revokeGrant(ctx, tx, g.ID, now.UnixNano())
		}
		if g.Revoked {
			return oauthErr(ErrInvalidGrant, "the grant has been revoked")
		}
		if now.UnixNano() >= expires {
			return oauthErr(ErrInvalidGrant, "the refresh token has expired")
		}
		scopes := g.Scopes
		if narrowed != nil {
			for _, s := range narrowed {
				if !slices.Contains(g.Scopes, s) {
					return oauthErr(ErrInvalidScope, "scope exceeds the original grant")
				}
			}
			scopes = narrowed
		}
		res, err := tx.Exec(ctx, "UPDATE authn_refresh_tokens SET used_at = ? WHERE hash = ? AND used_at IS NULL", now.UnixNano(), hashSecret(rt))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			reused = true
			return revokeGrant(ctx, tx, g.ID, now.UnixNano())
		}
		if ok, err := userActive(ctx, tx, g.UserID); err != nil || !ok {
			if err == nil {
				err = oauthErr(ErrInvalidGrant, "the account is disabled")
			}
			return err
		}
		is, err = o.record(ctx, tx, &g, scopes, now)
		return err
	})
	if reused {
		ev.Action, ev.Outcome, ev.Subject, ev.Resource = "authn.refresh.reuse", "failure", g.UserID, "authn:grant:"+g.ID
		ev.Reasons = append(ev.Reasons, "refresh token replayed; token family revoked")
		return nil, oauthErr(ErrInvalidGrant, "the refresh token was already used; its token family is revoked")
	}
	if err != nil {
		return nil, err
	}
	ev.Subject, ev.Resource = g.UserID, "authn:session:"+g.SessionID
	return o.mint(ctx, c, &g, is, now)
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
func (o *oauthServer) mint(ctx context.Context, c *Client, g *grant, is *issued, now time.Time) (*tokenResponse, error) {
	sub := o.subject(c, g.UserID)
	iat := jwt.NewNumericDate(now)
	at := AccessTokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: o.issuer, Subject: sub, Audience: jwt.ClaimStrings{o.issuer},
			ExpiresAt: jwt.NewNumericDate(now.Add(o.life.AccessToken)), IssuedAt: iat, ID: is.jti,
		},
		ClientID: c.ID, Scope: joinScopes(is.scopes), AuthTime: g.AuthTime.Unix(), ACR: g.ACR, AMR: g.AMR, SID: g.SessionID,
	}
	access, err := o.keys.sign(ctx, o.accessAlg, accessTokenType, at)
	if err != nil {
		return nil, err
	}
	resp := &tokenResponse{
		AccessToken: access, TokenType: "Bearer", ExpiresIn: int64(o.life.AccessToken / time.Second),
		RefreshToken: is.refresh, Scope: joinScopes(is.scopes),
	}
	if slices.Contains(is.scopes, ScopeOpenID) {
		alg := c.IDTokenSignedResponseAlg
		id := IDTokenClaims{
			RegisteredClaims: jwt.RegisteredClaims{
				Issuer: o.issuer, Subject: sub, Audience: jwt.ClaimStrings{c.ID},
				ExpiresAt: jwt.NewNumericDate(now.Add(o.life.IDToken)), IssuedAt: iat,
			},
			AuthTime: g.AuthTime.Unix(), ACR: g.ACR, AMR: g.AMR, AtHash: atHash(alg, access), SID: g.SessionID, AZP: c.ID,
		}
		if is.nonce {
			id.Nonce = g.Nonce
		}
		if slices.Contains(is.scopes, ScopeProfile) {
			u, err := o.users.User(ctx, g.UserID)
			if err != nil {
				return nil, err
			}
			id.OrgName, id.USCC, id.AgentName = u.OrgName, u.USCC, u.AgentName
		}
		if resp.IDToken, err = o.keys.sign(ctx, alg, "JWT", id); err != nil {
			return nil, err
		}
	}
	return resp, nil
}
