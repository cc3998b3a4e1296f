package authn

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/tongxing/tongxing/store"
)

// sqlStore keeps the provider's grants, tokens, SSO sessions, login
// transactions, certificate-login challenges and one-time code enrolments
// in the authn_* tables of a [store.DB]. Each concern is in its own file
// (sqlgrants.go, sqlsessions.go, sqllogins.go, sqlenrolments.go) and
// implements the small interfaces its consumers declare. Times are stored
// as unix nanoseconds.
type sqlStore struct {
	db *store.DB
	// tokenWrites group-commits the records of service tokens.
	tokenWrites *store.Group
}

// newSQLStore returns the store on db.
func newSQLStore(db *store.DB) sqlStore { return sqlStore{db: db, tokenWrites: store.NewGroup(db)} }

var (
	_ grantRedeemer   = sqlStore{}
	_ assertionLedger = sqlStore{}
	_ tokenRecords    = sqlStore{}
	_ tokenRevoker    = sqlStore{}
	_ codeIssuer      = sqlStore{}
	_ sessionStore    = sqlStore{}
	_ sessionLister   = sqlStore{}
	_ loginStore      = sqlStore{}
	_ challengeStore  = sqlStore{}
	_ enrolmentStore  = sqlStore{}
)

// affected returns the number of rows a statement changed, or the error
// of the statement or of RowsAffected.
func affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Errors of redemption, mapped to OAuth errors by the token endpoint.
var (
	// errUnknownSecret: no such authorization code or refresh token.
	errUnknownSecret = errors.New("authn: unknown code or refresh token")
	// errReused: the code or refresh token was used before; its grant is
	// now revoked.
	errReused = errors.New("authn: code or refresh token used again")
	// errAccountDisabled: the grant's account is disabled or gone.
	errAccountDisabled = errors.New("authn: account disabled")
)

// secretKind is what a token request redeems.
type secretKind int

const (
	secretCode    secretKind = iota // an authorization code (authn_codes)
	secretRefresh                   // a refresh token (authn_refresh_tokens)
)

// redeemed is what a code or refresh token stands for, as read for its
// redemption.
type redeemed struct {
	grant
	Expires time.Time
	Used    bool
	// RedirectURI and CodeChallenge are those of the authorization
	// request, for a code.
	RedirectURI, CodeChallenge string
}

// grantColumns are read by scanGrant, from authn_grants aliased g.
const grantColumns = `g.id, g.client_id, g.user_id, g.session_id, g.scope, g.nonce, g.auth_time, g.acr, g.amr, g.revoked_at, g.agent_name`

func scanGrant(dst *grant) []any {
	return []any{&dst.ID, &dst.ClientID, &dst.UserID, &dst.SessionID, new(string), &dst.Nonce, new(int64), &dst.ACR, new(string), new(sql.NullInt64), &dst.AgentName}
}

func finishGrant(dst *grant, cols []any) {
	dst.Scopes = splitScopes(*cols[4].(*string))
	dst.AuthTime = time.Unix(0, *cols[6].(*int64))
	dst.AMR = strings.Fields(*cols[8].(*string))
	dst.Revoked = cols[9].(*sql.NullInt64).Valid
}

// redemptionQueries read a code or a refresh token with its grant, and
// mark it used if no one did.
var redemptionQueries = map[secretKind]struct{ read, use string }{
	secretCode: {
		read: `SELECT c.redirect_uri, c.code_challenge, c.expires_at, c.used_at, ` + grantColumns + `
			FROM authn_codes c JOIN authn_grants g ON g.id = c.grant_id WHERE c.hash = ?`,
		use: "UPDATE authn_codes SET used_at = ? WHERE hash = ? AND used_at IS NULL",
	},
	secretRefresh: {
		read: `SELECT '', '', r.expires_at, r.used_at, ` + grantColumns + `
			FROM authn_refresh_tokens r JOIN authn_grants g ON g.id = r.grant_id WHERE r.hash = ?`,
		use: "UPDATE authn_refresh_tokens SET used_at = ? WHERE hash = ? AND used_at IS NULL",
	},
}

// redeem implements [grantRedeemer]. In one transaction it reads the
// secret of kind, lets decide judge it (decide returns the scopes of the
// new tokens, errReused for a used secret, or another error, which rolls
// back), marks the secret used, checks the account and records is: the
// access token's jti and a new refresh token of the grant. A secret used
// before, or used by a concurrent request first, revokes its grant: that
// commits, and redeem returns errReused.
func (s sqlStore) redeem(ctx context.Context, kind secretKind, secret string, now time.Time, is *issued, decide func(*redeemed) ([]string, error)) (*redeemed, error) {
	q := redemptionQueries[kind]
	var rd redeemed
	reused := false
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var (
			expires int64
			used    sql.NullInt64
		)
		cols := scanGrant(&rd.grant)
		err := tx.QueryRow(ctx, q.read, hashSecret(secret)).
			Scan(append([]any{&rd.RedirectURI, &rd.CodeChallenge, &expires, &used}, cols...)...)
		if errors.Is(err, sql.ErrNoRows) {
			return errUnknownSecret
		}
		if err != nil {
			return err
		}
		finishGrant(&rd.grant, cols)
		rd.Expires, rd.Used = time.Unix(0, expires), used.Valid
		scopes, err := decide(&rd)
		if errors.Is(err, errReused) {
			reused = true
			return revokeGrant(ctx, tx, rd.ID, now)
		}
		if err != nil {
			return err
		}
		n, err := affected(tx.Exec(ctx, q.use, now.UnixNano(), hashSecret(secret)))
		if err != nil {
			return err
		}
		if n != 1 {
			reused = true
			return revokeGrant(ctx, tx, rd.ID, now)
		}
		if ok, err := userActive(ctx, tx, rd.UserID); err != nil || !ok {
			if err == nil {
				err = errAccountDisabled
			}
			return err
		}
		is.scopes = scopes
		return recordTokens(ctx, tx, &rd.grant, is, now)
	})
	if err == nil && reused {
		err = errReused
	}
	return &rd, err
}

// revokeGrant revokes every token issued under grant id.
func revokeGrant(ctx context.Context, tx *store.Tx, id string, now time.Time) error {
	_, err := tx.Exec(ctx, "UPDATE authn_grants SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", now.UnixNano(), id)
	return err
}

// recordTokens inserts the access token jti and the new refresh token of
// is for g. The refresh token keeps the grant's scope.
func recordTokens(ctx context.Context, tx *store.Tx, g *grant, is *issued, now time.Time) error {
	if _, err := tx.Exec(ctx, "INSERT INTO authn_access_tokens (jti, grant_id, expires_at) VALUES (?, ?, ?)",
		is.jti, g.ID, is.accessExpires.UnixNano()); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, "INSERT INTO authn_refresh_tokens (hash, grant_id, scope, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
		hashSecret(is.refresh), g.ID, joinScopes(g.Scopes), now.UnixNano(), is.refreshExpires.UnixNano())
	return err
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

// issueCode implements [codeIssuer]: it records grant g and its
// authorization code, expiring at expires.
func (s sqlStore) issueCode(ctx context.Context, g *grant, code, redirectURI, challenge string, now, expires time.Time) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO authn_grants (id, client_id, user_id, session_id, scope, nonce, auth_time, acr, amr, agent_name, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, g.ID, g.ClientID, g.UserID, g.SessionID, joinScopes(g.Scopes),
			g.Nonce, g.AuthTime.UnixNano(), g.ACR, strings.Join(g.AMR, " "), g.AgentName, now.UnixNano()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO authn_codes (hash, grant_id, redirect_uri, code_challenge, expires_at)
			VALUES (?, ?, ?, ?, ?)`, hashSecret(code), g.ID, redirectURI, challenge, expires.UnixNano())
		return err
	})
}

// recordServiceToken implements [grantRedeemer]: it records the jti of a
// department service's access token, with the citizen and grant of a
// token exchange ("" for none), group-committed with concurrent ones.
func (s sqlStore) recordServiceToken(ctx context.Context, jti, clientID, userID, grantID string, aud []string, scope string, now, expires time.Time) error {
	// Concurrent grants share one commit; the record is durable before
	// the token is signed and returned.
	return s.tokenWrites.Do(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO authn_service_tokens (jti, client_id, user_id, grant_id, audience, scope, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, jti, clientID, nullString(userID), nullString(grantID),
			strings.Join(aud, " "), scope, now.UnixNano(), expires.UnixNano())
		return err
	})
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// errAssertionReplayed: a client assertion's jti was seen before.
var errAssertionReplayed = errors.New("authn: client assertion replayed")

// useAssertion implements [grantRedeemer]: it records the jti of client
// clientID's assertion until it expires, or returns errAssertionReplayed
// if it is recorded already.
func (s sqlStore) useAssertion(ctx context.Context, clientID, jti string, expires time.Time) error {
	_, err := s.db.Exec(ctx, "INSERT INTO authn_client_assertions (client_id, jti, expires_at) VALUES (?, ?, ?)",
		clientID, jti, expires.UnixNano())
	if store.IsUniqueViolation(err) {
		return errAssertionReplayed
	}
	return err
}

// tokenRecord is what the database says of an issued access token: of a
// portal (with its grant and account) or of a department service (with
// the grant and account of a token exchange, if any).
type tokenRecord struct {
	GrantID, UserID, ClientID string
	// CitizenIDHash is the account's personal ID number pseudonym
	// (service tokens of a token exchange).
	CitizenIDHash string
	// AgentName is the agent of the enterprise login of the token's grant.
	AgentName string
	Expires   time.Time
	// Revoked is true if the token or its grant is revoked.
	Revoked bool
	// Disabled is true if the account is disabled.
	Disabled bool
}

// live reports whether the token is unrevoked and unexpired at now, and
// its account (if any) enabled.
func (t *tokenRecord) live(now time.Time) bool {
	return !t.Revoked && !t.Disabled && now.Before(t.Expires)
}

// accessToken implements [tokenRecords]: the access token jti issued to a
// portal, or nil.
func (s sqlStore) accessToken(ctx context.Context, jti string) (*tokenRecord, error) {
	var (
		t                           tokenRecord
		expires                     int64
		revoked, grevoked, disabled sql.NullInt64
	)
	err := s.db.QueryRow(ctx, `SELECT g.id, g.user_id, g.client_id, g.agent_name, a.expires_at, a.revoked_at, g.revoked_at, u.disabled_at
		FROM authn_access_tokens a JOIN authn_grants g ON g.id = a.grant_id JOIN authn_users u ON u.id = g.user_id
		WHERE a.jti = ?`, jti).Scan(&t.GrantID, &t.UserID, &t.ClientID, &t.AgentName, &expires, &revoked, &grevoked, &disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	t.Expires, t.Revoked, t.Disabled = time.Unix(0, expires), revoked.Valid || grevoked.Valid, disabled.Valid
	return &t, nil
}

// serviceToken implements [tokenRecords]: the access token jti issued to
// a department service, or nil.
func (s sqlStore) serviceToken(ctx context.Context, jti string) (*tokenRecord, error) {
	var (
		t                           tokenRecord
		client, userID, grantID     sql.NullString
		idHash                      sql.NullString
		expires                     int64
		revoked, grevoked, disabled sql.NullInt64
	)
	err := s.db.QueryRow(ctx, `SELECT s.client_id, s.user_id, s.grant_id, s.expires_at, s.revoked_at, g.revoked_at, u.disabled_at, u.citizen_id_hash
		FROM authn_service_tokens s LEFT JOIN authn_grants g ON g.id = s.grant_id LEFT JOIN authn_users u ON u.id = s.user_id
		WHERE s.jti = ?`, jti).Scan(&client, &userID, &grantID, &expires, &revoked, &grevoked, &disabled, &idHash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	t.ClientID, t.UserID, t.GrantID, t.CitizenIDHash = client.String, userID.String, grantID.String, idHash.String
	t.Expires, t.Revoked, t.Disabled = time.Unix(0, expires), revoked.Valid || grevoked.Valid, disabled.Valid
	return &t, nil
}

// refreshRecord is what the database says of a refresh token.
type refreshRecord struct {
	grant
	Scope            string
	Created, Expires time.Time
	Used, Disabled   bool
}

// refreshToken implements [tokenRecords]: the refresh token with its
// grant, or nil.
func (s sqlStore) refreshToken(ctx context.Context, token string) (*refreshRecord, error) {
	var (
		rr               refreshRecord
		created, expires int64
		used, disabled   sql.NullInt64
	)
	cols := scanGrant(&rr.grant)
	err := s.db.QueryRow(ctx, `SELECT r.scope, r.created_at, r.expires_at, r.used_at, u.disabled_at, `+grantColumns+`
		FROM authn_refresh_tokens r JOIN authn_grants g ON g.id = r.grant_id JOIN authn_users u ON u.id = g.user_id
		WHERE r.hash = ?`, hashSecret(token)).Scan(append([]any{&rr.Scope, &created, &expires, &used, &disabled}, cols...)...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	finishGrant(&rr.grant, cols)
	rr.Created, rr.Expires, rr.Used, rr.Disabled = time.Unix(0, created), time.Unix(0, expires), used.Valid, disabled.Valid
	return &rr, nil
}

// revokeRefresh implements [tokenRevoker]: if refresh token token was
// issued to clientID, it revokes its grant and returns the grant's id;
// else "".
func (s sqlStore) revokeRefresh(ctx context.Context, token, clientID string, now time.Time) (string, error) {
	var grantID, owner string
	err := s.db.QueryRow(ctx, `SELECT g.id, g.client_id FROM authn_refresh_tokens r JOIN authn_grants g ON g.id = r.grant_id
		WHERE r.hash = ?`, hashSecret(token)).Scan(&grantID, &owner)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && owner != clientID) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if err := s.db.InTx(ctx, func(tx *store.Tx) error { return revokeGrant(ctx, tx, grantID, now) }); err != nil {
		return "", err
	}
	return grantID, nil
}

// revokeAccess implements [tokenRevoker]: it revokes the access token jti
// if it was issued to clientID (as a portal or as a department service)
// and is not revoked yet, and reports whether it did.
func (s sqlStore) revokeAccess(ctx context.Context, jti, clientID string, now time.Time) (bool, error) {
	n, err := affected(s.db.Exec(ctx, `UPDATE authn_access_tokens SET revoked_at = ? WHERE jti = ? AND revoked_at IS NULL
		AND grant_id IN (SELECT id FROM authn_grants WHERE client_id = ?)`, now.UnixNano(), jti, clientID))
	if err != nil || n > 0 {
		return n > 0, err
	}
	n, err = affected(s.db.Exec(ctx, `UPDATE authn_service_tokens SET revoked_at = ? WHERE jti = ? AND client_id = ? AND revoked_at IS NULL`,
		now.UnixNano(), jti, clientID))
	return n > 0, err
}
