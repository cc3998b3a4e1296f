package authn

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// tokenChecks are the endpoints and calls that check tokens the provider
// issued: introspection, revocation, userinfo and the in-process check of
// department services' tokens.
type tokenChecks struct {
	*base
	auth    *clientAuth
	records tokenRecords
	revoker tokenRevoker
	clients *clientRegistry
	users   *Users
	keys    *keyStore
}

// ErrTokenRejected is wrapped by [Provider.VerifyServiceToken] for a token
// that must not be accepted: malformed, not signed by this provider,
// expired, revoked, not a department service's token, or of a client that
// no longer is one. Other errors are failures to check (the database).
var ErrTokenRejected = errors.New("authn: access token rejected")

// ServiceToken is a verified access token of a department service, as the
// gateway sees its caller.
type ServiceToken struct {
	// JTI is the token's id.
	JTI string
	// Client is the department service's client id (client_id).
	Client string
	// Department is the client's registered department.
	Department string
	// Subject is sub: the client id (client credentials) or the citizen's
	// subject as the service's sector sees it (token exchange).
	Subject string
	// Act is act.sub for token exchange (the acting service), else "".
	Act string
	// Audience are the target departments (aud).
	Audience []string
	// Scopes are the scope values.
	Scopes []string
	// UserID is the citizen account a token-exchange token acts for, else
	// "". It is the provider's internal account id (what audit entries of
	// the citizen are keyed by), not sub.
	UserID string
	// CitizenIDPseudonym is the pseudonym (ident.Pseudonym) of that
	// account's personal ID number, or "" when none is recorded.
	CitizenIDPseudonym string
	// ExpiresAt is exp.
	ExpiresAt time.Time
}

// VerifyServiceToken checks, in-process, a bearer access token issued to a
// department service by the client credentials grant or token exchange:
// its signature against the provider's keys (any published key), typ
// at+jwt, issuer and expiry; then, in the database, that it was issued as
// a service token and is not revoked, that the citizen's grant and account
// of a token-exchange token are live, and that the client still exists and
// is a department service. Rejections wrap ErrTokenRejected. Tokens a
// portal got for a citizen (authorization code) are rejected: they are not
// for calling departments. It does NOT check the audience; the caller
// compares Audience with the department it serves.
func (p *Provider) VerifyServiceToken(ctx context.Context, token string) (*ServiceToken, error) {
	return p.checks.verifyServiceToken(ctx, token)
}

// verifyServiceToken implements [Provider.VerifyServiceToken].
func (chk *tokenChecks) verifyServiceToken(ctx context.Context, token string) (*ServiceToken, error) {
	if len(token) > 8<<10 {
		return nil, fmt.Errorf("%w: longer than 8 KiB", ErrTokenRejected)
	}
	c, err := chk.parseAccessToken(ctx, token, false)
	if errors.Is(err, errBadToken) {
		return nil, fmt.Errorf("%w: %v", ErrTokenRejected, err)
	}
	if err != nil {
		return nil, err
	}
	t, err := chk.liveRecord(ctx, c.ID, chk.records.serviceToken, ErrTokenRejected, "a department service's token")
	if err != nil {
		return nil, err
	}
	if t.ClientID != c.ClientID {
		return nil, fmt.Errorf("%w: client_id does not match the issued token", ErrTokenRejected)
	}
	cl, err := chk.clients.get(ctx, c.ClientID)
	if errors.Is(err, ErrClientNotFound) {
		return nil, fmt.Errorf("%w: client %s no longer exists", ErrTokenRejected, quote(c.ClientID))
	}
	if err != nil {
		return nil, err
	}
	if !cl.Service() || cl.Department == "" {
		return nil, fmt.Errorf("%w: client %s is not a department service", ErrTokenRejected, quote(c.ClientID))
	}
	st := &ServiceToken{
		JTI: c.ID, Client: c.ClientID, Department: cl.Department, Subject: c.Subject,
		Audience: []string(c.Audience), Scopes: splitScopes(c.Scope), ExpiresAt: c.ExpiresAt.Time,
		UserID: t.UserID, CitizenIDPseudonym: t.CitizenIDHash,
	}
	if c.Act != nil {
		st.Act = c.Act.Subject
	}
	if (st.UserID == "") != (st.Act == "") {
		return nil, fmt.Errorf("%w: act claim and recorded citizen disagree", ErrTokenRejected)
	}
	return st, nil
}

// SignedInCitizen is the account signed in with a request's SSO cookie.
type SignedInCitizen struct {
	// UserID is the internal account id.
	UserID string
	// SessionID is the SSO session.
	SessionID string
	// CitizenIDPseudonym is the pseudonym of the account's personal ID
	// number, or "" when none is recorded.
	CitizenIDPseudonym string
}

// SignedIn returns the account signed in with r's SSO session cookie, or
// nil when the request has no live session. It is for self-service pages
// served outside this package (such as the citizen's access log); it does
// NOT check a CSRF token, so use it only for reads.
func (p *Provider) SignedIn(r *http.Request) (*SignedInCitizen, error) {
	return p.sess.signedIn(r)
}

// signedIn implements [Provider.SignedIn].
func (ss *sessions) signedIn(r *http.Request) (*SignedInCitizen, error) {
	sess, err := ss.sessionFrom(r)
	if err != nil || sess == nil {
		return nil, err
	}
	idHash, err := ss.users.citizenIDHash(r.Context(), sess.UserID)
	if err != nil {
		return nil, fmt.Errorf("authn: read account: %w", err)
	}
	return &SignedInCitizen{UserID: sess.UserID, SessionID: sess.ID, CitizenIDPseudonym: strings.TrimSpace(idHash)}, nil
}
