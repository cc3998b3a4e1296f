package authn

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tongxing/tongxing/store"
)

// sessionByCookie implements [sessionStore]: the live session whose
// cookie secret hashes to secretHash, of an enabled account, or nil.
func (s sqlStore) sessionByCookie(ctx context.Context, secretHash []byte, now time.Time) (*session, error) {
	var (
		sess     session
		authTime int64
		amr      string
	)
	err := s.db.QueryRow(ctx, `SELECT s.id, s.user_id, s.auth_time, s.acr, s.amr, s.agent_name
		FROM authn_sessions s JOIN authn_users u ON u.id = s.user_id
		WHERE s.secret_hash = ? AND s.revoked_at IS NULL AND s.expires_at > ? AND u.disabled_at IS NULL`,
		secretHash, now.UnixNano()).Scan(&sess.ID, &sess.UserID, &authTime, &sess.ACR, &amr, &sess.AgentName)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	sess.AuthTime = time.Unix(0, authTime)
	sess.AMR = strings.Split(amr, " ")
	return &sess, nil
}

// createSession implements [sessionStore]: it records sess, whose cookie
// secret hashes to secretHash, until expires.
func (s sqlStore) createSession(ctx context.Context, sess *session, secretHash []byte, now, expires time.Time) error {
	if _, err := s.db.Exec(ctx, `INSERT INTO authn_sessions (id, secret_hash, user_id, auth_time, acr, amr, agent_name, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, sess.ID, secretHash, sess.UserID, sess.AuthTime.UnixNano(), sess.ACR, strings.Join(sess.AMR, " "),
		sess.AgentName, now.UnixNano(), expires.UnixNano()); err != nil {
		return fmt.Errorf("store session: %w", err)
	}
	return nil
}

// renewSession implements [sessionStore]: session sess.ID, if it is still
// live, takes sess's sign-in (auth_time, acr, amr, agent), the cookie secret
// hashing to secretHash and the new expiry. It reports whether the
// session was live.
func (s sqlStore) renewSession(ctx context.Context, sess *session, secretHash []byte, now, expires time.Time) (bool, error) {
	n, err := affected(s.db.Exec(ctx, `UPDATE authn_sessions SET secret_hash = ?, auth_time = ?, acr = ?, amr = ?, agent_name = ?, expires_at = ?
		WHERE id = ? AND user_id = ? AND revoked_at IS NULL AND expires_at > ?`,
		secretHash, sess.AuthTime.UnixNano(), sess.ACR, strings.Join(sess.AMR, " "), sess.AgentName, expires.UnixNano(), sess.ID, sess.UserID, now.UnixNano()))
	if err != nil {
		return false, fmt.Errorf("renew session: %w", err)
	}
	return n == 1, nil
}

// revokeSession implements [sessionRevoker]: session id ends with the
// grants issued under it, as in endSession. A session carried on from an
// earlier sign-in may have some.
func (s sqlStore) revokeSession(ctx context.Context, id string, now time.Time) error {
	_, _, err := s.endSession(ctx, id, now)
	return err
}

// endSession implements [sessionStore]: in one transaction it revokes
// session sid and the grants issued under it, and returns the session's
// account and the clients of those grants (sorted). An unknown sid gives
// an error wrapping ErrSessionNotFound; an ended one is ended again.
func (s sqlStore) endSession(ctx context.Context, sid string, now time.Time) (userID string, clients []string, err error) {
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		clients = nil
		err := tx.QueryRow(ctx, "SELECT user_id FROM authn_sessions WHERE id = ?", sid).Scan(&userID)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: %s", ErrSessionNotFound, quote(sid))
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE authn_sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", now.UnixNano(), sid); err != nil {
			return err
		}
		if clients, err = queryStrings(ctx, tx, "SELECT DISTINCT client_id FROM authn_grants WHERE session_id = ? ORDER BY client_id", sid); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE authn_grants SET revoked_at = ? WHERE session_id = ? AND revoked_at IS NULL", now.UnixNano(), sid)
		return err
	})
	return userID, clients, err
}

// queryStrings returns the one-column rows of query.
func queryStrings(ctx context.Context, tx *store.Tx, query string, args ...any) ([]string, error) {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// liveSessions implements [sessionLister]: the sessions of account userID
// not ended and not expired at now, oldest first, without their clients.
func (s sqlStore) liveSessions(ctx context.Context, userID string, now time.Time) ([]MySession, error) {
	rows, err := s.db.Query(ctx, `SELECT id, created_at, auth_time, expires_at, acr, amr FROM authn_sessions
		WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? ORDER BY created_at, id`, userID, now.UnixNano())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	list := []MySession{}
	for rows.Next() {
		var (
			ms                         MySession
			created, authTime, expires int64
			amr                        string
		)
		if err := rows.Scan(&ms.ID, &created, &authTime, &expires, &ms.ACR, &amr); err != nil {
			return nil, err
		}
		ms.CreatedAt, ms.AuthTime, ms.ExpiresAt = time.Unix(0, created).UTC(), time.Unix(0, authTime).UTC(), time.Unix(0, expires).UTC()
		ms.AMR = strings.Fields(amr)
		ms.Clients = []MySessionClient{}
		list = append(list, ms)
	}
	return list, rows.Err()
}

// sessionGrant is the latest authorization of a client under a session.
type sessionGrant struct {
	SessionID, ClientID string
	At                  time.Time
}

// sessionGrants implements [sessionLister]: per session and client of
// account userID, the latest grant.
func (s sqlStore) sessionGrants(ctx context.Context, userID string) ([]sessionGrant, error) {
	rows, err := s.db.Query(ctx, `SELECT session_id, client_id, MAX(created_at) FROM authn_grants
		WHERE user_id = ? GROUP BY session_id, client_id ORDER BY session_id, client_id`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []sessionGrant
	for rows.Next() {
		var (
			sg sessionGrant
			at int64
		)
		if err := rows.Scan(&sg.SessionID, &sg.ClientID, &at); err != nil {
			return nil, err
		}
		sg.At = time.Unix(0, at).UTC()
		out = append(out, sg)
	}
	return out, rows.Err()
}

// sessionOwner implements [sessionLister]: the account of session sid if
// it is live at now, else "".
func (s sqlStore) sessionOwner(ctx context.Context, sid string, now time.Time) (string, error) {
	var owner string
	err := s.db.QueryRow(ctx, "SELECT user_id FROM authn_sessions WHERE id = ? AND revoked_at IS NULL AND expires_at > ?",
		sid, now.UnixNano()).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return owner, err
}
