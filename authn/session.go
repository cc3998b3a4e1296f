package authn

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"github.com/tongxing/tongxing/store"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// sessions are the SSO sessions: the cookie, their start and end, and
// the end_session_endpoint with back-channel logout.
type sessions struct {
	*base
	db      *store.DB
	clients *clientRegistry
	keys    *keyStore
}

// Cookie names. The __Host- prefix makes browsers insist on Secure, Path=/
// and no Domain, so no other host can set or read them.
const (
	sessionCookieName = "__Host-tongxing_sso"
	browserCookieName = "__Host-tongxing_login"
)

// session is a single sign-on session.
type session struct {
	ID       string // public; the sid claim
	UserID   string
	AuthTime time.Time
	ACR      string
	AMR      []string
}

// sessionFrom returns the live session of the request's cookie, or nil.
func (ss *sessions) sessionFrom(r *http.Request) (*session, error) {
	c, err := r.Cookie(sessionCookieName)
	if err != nil || c.Value == "" || len(c.Value) > 64 {
		return nil, nil
	}
	var (
		s        session
		authTime int64
		amr      string
	)
	err = ss.db.QueryRow(r.Context(), `SELECT s.id, s.user_id, s.auth_time, s.acr, s.amr
		FROM authn_sessions s JOIN authn_users u ON u.id = s.user_id
		WHERE s.secret_hash = ? AND s.revoked_at IS NULL AND s.expires_at > ? AND u.disabled_at IS NULL`,
		hashSecret(c.Value), ss.now().UnixNano()).Scan(&s.ID, &s.UserID, &authTime, &s.ACR, &amr)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("authn: read session: %w", err)
	}
	s.AuthTime = time.Unix(0, authTime)
	s.AMR = strings.Split(amr, " ")
	return &s, nil
}

// startSession records a new session for user, revokes the one the request
// carried (if any) and sets the session cookie: HttpOnly, Secure,
// SameSite=Lax, Path=/, Max-Age the session lifetime.
func (ss *sessions) startSession(ctx context.Context, w http.ResponseWriter, r *http.Request, u *User, acr string, amr []string) (*session, error) {
	now := ss.now()
	s := &session{ID: newID(), UserID: u.ID, AuthTime: now, ACR: acr, AMR: amr}
	secret := newSecret()
	if _, err := ss.db.Exec(ctx, `INSERT INTO authn_sessions (id, secret_hash, user_id, auth_time, acr, amr, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, s.ID, hashSecret(secret), u.ID, now.UnixNano(), acr, strings.Join(amr, " "),
		now.UnixNano(), now.Add(ss.life.Session).UnixNano()); err != nil {
		return nil, fmt.Errorf("authn: store session: %w", err)
	}
	if old, err := r.Cookie(sessionCookieName); err == nil && old.Value != "" && len(old.Value) <= 64 {
		if _, err := ss.db.Exec(ctx, "UPDATE authn_sessions SET revoked_at = ? WHERE secret_hash = ? AND revoked_at IS NULL",
			now.UnixNano(), hashSecret(old.Value)); err != nil {
			return nil, fmt.Errorf("authn: end previous session: %w", err)
		}
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookieName, Value: secret, Path: "/",
		MaxAge: int(ss.life.Session / time.Second), Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
	return s, nil
}

// browserID returns the value of the browser-binding cookie, setting a new
// one when the request has none.
func browserID(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(browserCookieName); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	v := newSecret()
	http.SetCookie(w, &http.Cookie{
		Name: browserCookieName, Value: v, Path: "/",
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
	return v
}

// sameBrowser reports whether the request carries the browser cookie whose
// hash is want.
func sameBrowser(r *http.Request, want []byte) bool {
	c, err := r.Cookie(browserCookieName)
	if err != nil || len(c.Value) != 43 {
		return false
	}
	return subtle.ConstantTimeCompare(hashSecret(c.Value), want) == 1
}

// errFormContentType and readForm read an application/x-www-form-urlencoded
// body of at most limit bytes, without the URL query.
var errFormContentType = errors.New("content type must be application/x-www-form-urlencoded")

func readForm(w http.ResponseWriter, r *http.Request, limit int64) (url.Values, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, errFormContentType
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, fmt.Errorf("request body exceeds %d bytes", limit)
		}
		return nil, fmt.Errorf("reading request body: %w", err)
	}
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errors.New("malformed form body")
	}
	return v, nil
}
