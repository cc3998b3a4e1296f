package authn

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// Grant types of the token endpoint beyond authorization_code and
// refresh_token.
const (
	// GrantClientCredentials is the client credentials grant (RFC 6749
	// §4.4), for department services.
	GrantClientCredentials = "client_credentials"
	// GrantTokenExchange is token exchange (RFC 8693 §2.1).
	GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
)

// Limits on target departments.
const (
	maxTargets     = 32
	maxTargetLen   = 256
	maxTargetsText = 4 << 10
)

// ServiceTokenClaims are the claims of an access token issued to a
// department service (RFC 9068 §2.2): by the client credentials grant
// (sub is the service's client ID) or by token exchange (sub is the
// citizen, act names the service, and auth_time and acr are those of the
// citizen's login). aud is the target departments.
type ServiceTokenClaims struct {
	jwt.RegisteredClaims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope,omitempty"`
	AuthTime int64  `json:"auth_time,omitempty"`
	ACR      string `json:"acr,omitempty"`
	Act      *Actor `json:"act,omitempty"`
}

// Actor is the "act" claim (RFC 8693 §4.1): who acts for the subject.
type Actor struct {
	Subject string `json:"sub"`
}

// checkTargets validates the target departments of a registration.
func (c *Client) checkTargets() error {
	if !c.Service() {
		return nil
	}
	if c.Public() {
		return errors.New("a public client cannot be a department service")
	}
	if c.Department == "" {
		return errors.New("a department service needs a department")
	}
	if len(c.TargetDepartments) > maxTargets {
		return fmt.Errorf("at most %d", maxTargets)
	}
	for _, t := range c.TargetDepartments {
		if !validTarget(t) {
			return fmt.Errorf("%s: want 1 to %d printable characters without spaces", quote(t), maxTargetLen)
		}
	}
	c.TargetDepartments = dedupe(c.TargetDepartments)
	return nil
}

func validTarget(t string) bool {
	return t != "" && len(t) <= maxTargetLen && utf8.ValidString(t) && !hasControl(t) && !strings.ContainsAny(t, " \t")
}

// targets returns the target departments a service's token request asks
// for, from the audience (RFC 8693) and resource (RFC 8707) parameters and
// the scope values, and the scope values among them. Each must be one of
// the client's target departments, and at least one must be named.
func targets(c *Client, form url.Values) (aud, scope []string, err error) {
	n := 0
	for _, k := range []string{"audience", "resource", "scope"} {
		for _, v := range form[k] {
			n += len(v)
		}
	}
	if n > maxTargetsText {
		return nil, nil, oauthErr(ErrInvalidTarget, "audience, resource and scope exceed %d bytes", maxTargetsText)
	}
	if len(form["scope"]) > 1 {
		return nil, nil, oauthErr(ErrInvalidRequest, "parameter scope is repeated")
	}
	for _, s := range splitScopes(form.Get("scope")) {
		if !slices.Contains(c.TargetDepartments, s) {
			return nil, nil, oauthErr(ErrInvalidScope, "scope %s is not a target department of the client", quote(s))
		}
		scope = append(scope, s)
	}
	aud = slices.Clone(scope)
	for _, k := range []string{"audience", "resource"} {
		for _, v := range form[k] {
			if !slices.Contains(c.TargetDepartments, v) {
				return nil, nil, oauthErr(ErrInvalidTarget, "%s %s is not a target department of the client", k, quote(v))
			}
			aud = append(aud, v)
		}
	}
	aud, scope = dedupe(aud), dedupe(scope)
	if len(aud) == 0 {
		return nil, nil, oauthErr(ErrInvalidTarget, "name the target department with audience, resource or scope")
	}
	if len(aud) > maxTargets {
		return nil, nil, oauthErr(ErrInvalidTarget, "at most %d target departments", maxTargets)
	}
	return aud, scope, nil
}

// serviceToken is an access token of a department service to be recorded
// and signed.
type serviceToken struct {
	client   *Client
	userID   string // citizen of a token exchange, else ""
	grantID  string // grant of the exchanged subject token, else ""
	claims   ServiceTokenClaims
	lifetime time.Duration
}

// issueServiceToken records the token's jti and signs it.
func (tk *tokenEndpoint) issueServiceToken(ctx context.Context, st *serviceToken, now time.Time) (*tokenResponse, error) {
	st.claims.Issuer = tk.issuer
	st.claims.IssuedAt = jwt.NewNumericDate(now)
	st.claims.ExpiresAt = jwt.NewNumericDate(now.Add(st.lifetime))
	st.claims.ID = newID()
	st.claims.ClientID = st.client.ID
	err := tk.grants.recordServiceToken(ctx, st.claims.ID, st.client.ID, st.userID, st.grantID, st.claims.Audience, st.claims.Scope,
		now, now.Add(st.lifetime))
	if err != nil {
		return nil, fmt.Errorf("authn: record service token: %w", err)
	}
	access, err := tk.keys.sign(ctx, tk.accessAlg, accessTokenType, st.claims)
	if err != nil {
		return nil, err
	}
	return &tokenResponse{
		AccessToken: access, TokenType: "Bearer", ExpiresIn: int64((st.lifetime + time.Second - 1) / time.Second),
		Scope: st.claims.Scope,
	}, nil
}

// clientCredentials is the client credentials grant (RFC 6749 §4.4) for
// department services. The access token's sub is the client ID and its
// aud the requested target departments; no refresh token is issued.
func (tk *tokenEndpoint) clientCredentials(ctx context.Context, c *Client, form url.Values, ev *AuditEvent) (*tokenResponse, error) {
	if !c.Service() {
		return nil, oauthErr(ErrUnauthorizedClient, "the client is not a department service")
	}
	aud, scope, err := targets(c, form)
	if err != nil {
		return nil, err
	}
	ev.Resource = "authn:service:" + c.ID
	ev.Reasons = append(ev.Reasons, "aud="+strings.Join(aud, " "))
	return tk.issueServiceToken(ctx, &serviceToken{
		client:   c,
		lifetime: tk.life.AccessToken,
		claims: ServiceTokenClaims{
			RegisteredClaims: jwt.RegisteredClaims{Subject: c.ID, Audience: aud},
			Scope:            joinScopes(scope),
		},
	}, tk.now())
}
