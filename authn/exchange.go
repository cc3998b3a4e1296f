package authn

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// TokenTypeAccessToken is the token type URI of access tokens (RFC 8693
// §3), the only subject and issued token type of token exchange.
const TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"

// errBadToken marks a token that is malformed, not signed by the
// provider, expired, revoked or unknown, as opposed to a database error.
var errBadToken = errors.New("authn: invalid token")

// accessClaims are the claims of any access token the provider issues,
// as read back by token exchange and introspection.
type accessClaims struct {
	jwt.RegisteredClaims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
	AuthTime int64  `json:"auth_time"`
	ACR      string `json:"acr"`
	SID      string `json:"sid"`
	Act      *Actor `json:"act"`
}

// parseAccessToken checks an access token's signature (any published key),
// typ (at+jwt), issuer and, unless expired is true, its expiry. It does
// NOT check revocation.
func (chk *tokenChecks) parseAccessToken(ctx context.Context, token string, expired bool) (*accessClaims, error) {
	var c accessClaims
	h, err := chk.keys.verify(ctx, token, &c)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBadToken, err)
	}
	if !strings.EqualFold(h.Typ, accessTokenType) && !strings.EqualFold(h.Typ, "application/"+accessTokenType) {
		return nil, fmt.Errorf("%w: typ %s", errBadToken, quote(h.Typ))
	}
	if c.Issuer != chk.issuer || c.ID == "" || c.ExpiresAt == nil {
		return nil, fmt.Errorf("%w: not an access token of this provider", errBadToken)
	}
	if !expired && !chk.now().Before(c.ExpiresAt.Time) {
		return nil, fmt.Errorf("%w: expired", errBadToken)
	}
	return &c, nil
}

// citizenToken is a live access token issued to a portal for a citizen.
type citizenToken struct {
	claims  *accessClaims
	grantID string
	userID  string
}

// liveCitizenToken verifies a citizen's access token and checks, in the
// database, that neither it nor its grant is revoked and that the account
// is enabled.
func (tk *tokenEndpoint) liveCitizenToken(ctx context.Context, token string) (*citizenToken, error) {
	c, err := tk.checks.parseAccessToken(ctx, token, false)
	if err != nil {
		return nil, err
	}
	t, err := tk.checks.liveRecord(ctx, c.ID, tk.checks.records.accessToken, errBadToken, "a citizen's access token")
	if err != nil {
		return nil, err
	}
	return &citizenToken{claims: c, grantID: t.GrantID, userID: t.UserID}, nil
}

// liveRecord returns the record of token jti that lookup finds, if it is
// live: an unknown token is "not <what>", a revoked or expired one
// "revoked or expired", both wrapping rejected.
func (chk *tokenChecks) liveRecord(ctx context.Context, jti string, lookup func(context.Context, string) (*tokenRecord, error), rejected error, what string) (*tokenRecord, error) {
	t, err := lookup(ctx, jti)
	if err != nil {
		return nil, fmt.Errorf("authn: read %s: %w", what, err)
	}
	if t == nil {
		return nil, fmt.Errorf("%w: not %s", rejected, what)
	}
	if !t.live(chk.now()) {
		return nil, fmt.Errorf("%w: revoked or expired", rejected)
	}
	return t, nil
}

// tokenExchange is token exchange (RFC 8693) for a department service
// acting for a signed-in citizen: subject_token is the citizen's access
// token issued by this provider to a portal of the service's own
// department (the citizen signed in to that department, not to another
// one whose token the service came by), the actor is the calling service,
// authenticated as a client; actor_token is not accepted. The
// new access token keeps the citizen's sub, auth_time and acr, has act
// {sub: service client ID}, is for the requested target departments
// (which the service must be registered for), lives no longer than the
// subject token, and comes without a refresh token. Revoking the
// citizen's grant revokes it.
func (tk *tokenEndpoint) tokenExchange(ctx context.Context, c *Client, form url.Values, ev *AuditEvent) (*tokenResponse, error) {
	if !c.Service() {
		return nil, oauthErr(ErrUnauthorizedClient, "the client is not a department service")
	}
	subject, typ := form.Get("subject_token"), form.Get("subject_token_type")
	switch {
	case subject == "":
		return nil, oauthErr(ErrInvalidRequest, "subject_token is required")
	case typ == "":
		return nil, oauthErr(ErrInvalidRequest, "subject_token_type is required")
	case typ != TokenTypeAccessToken:
		return nil, oauthErr(ErrInvalidRequest, "subject_token_type must be %s", TokenTypeAccessToken)
	case form.Get("actor_token") != "" || form.Get("actor_token_type") != "":
		return nil, oauthErr(ErrInvalidRequest, "actor_token is not supported: the authenticated client is the actor")
	}
	if rt := form.Get("requested_token_type"); rt != "" && rt != TokenTypeAccessToken {
		return nil, oauthErr(ErrInvalidRequest, "requested_token_type must be %s", TokenTypeAccessToken)
	}
	aud, scope, err := targets(c, form)
	if err != nil {
		return nil, err
	}
	ct, err := tk.liveCitizenToken(ctx, subject)
	if errors.Is(err, errBadToken) {
		return nil, oauthErr(ErrInvalidGrant, "subject_token is invalid, expired or revoked")
	}
	if err != nil {
		return nil, err
	}
	if err := tk.sameDepartment(ctx, c, ct.claims.ClientID); err != nil {
		return nil, err
	}
	now := tk.now()
	life := min(tk.life.AccessToken, ct.claims.ExpiresAt.Sub(now))
	ev.Subject, ev.Resource = ct.userID, "authn:grant:"+ct.grantID
	ev.Reasons = append(ev.Reasons, "aud="+strings.Join(aud, " "), "act="+c.ID)
	resp, err := tk.issueServiceToken(ctx, &serviceToken{
		client: c, userID: ct.userID, grantID: ct.grantID, lifetime: life,
		claims: ServiceTokenClaims{
			RegisteredClaims: jwt.RegisteredClaims{Subject: ct.claims.Subject, Audience: aud},
			Scope:            joinScopes(scope),
			AuthTime:         ct.claims.AuthTime,
			ACR:              ct.claims.ACR,
			Act:              &Actor{Subject: c.ID},
		},
	}, now)
	if err != nil {
		return nil, err
	}
	resp.IssuedTokenType = TokenTypeAccessToken
	return resp, nil
}

// sameDepartment refuses a subject token issued to portal unless the
// portal is registered and runs in the acting service's department.
func (tk *tokenEndpoint) sameDepartment(ctx context.Context, service *Client, portal string) error {
	p, err := tk.auth.clients.get(ctx, portal)
	if errors.Is(err, ErrClientNotFound) {
		return oauthErr(ErrInvalidGrant, "subject_token was issued to client %s, which is no longer registered", quote(portal))
	}
	if err != nil {
		return err
	}
	if p.Department == "" || p.Department != service.Department {
		of := "of no department"
		if p.Department != "" {
			of = "of department " + quote(p.Department)
		}
		return oauthErr(ErrInvalidGrant, "subject_token was issued to portal %s %s; a service may act only for citizens signed in to a portal of its own department (%s)",
			quote(portal), of, quote(service.Department))
	}
	return nil
}
