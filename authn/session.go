package authn

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"time"
)

// sessions are the SSO sessions: the cookie, their start and end, and
// the end_session_endpoint with back-channel logout.
type sessions struct {
	*base
	store   sessionStore
	users   *Users
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
	// AgentName is the agent of an enterprise login (see User.AgentName).
	AgentName string
}

// sessionFrom returns the live session of the request's cookie, or nil.
func (ss *sessions) sessionFrom(r *http.Request) (*session, error) {
	c, err := r.Cookie(sessionCookieName)
	if err != nil || c.Value == "" || len(c.Value) > 64 {
		return nil, nil
	}
	s, err := ss.store.sessionByCookie(r.Context(), hashSecret(c.Value), ss.now())
	if err != nil {
		return nil, fmt.Errorf("authn: read session: %w", err)
	}
	return s, nil
}

// sessionStore keeps SSO sessions ([sqlStore]).
type sessionStore interface {
	sessionByCookie(ctx context.Context, secretHash []byte, now time.Time) (*session, error)
	createSession(ctx context.Context, s *session, secretHash []byte, now, expires time.Time) error
	renewSession(ctx context.Context, s *session, secretHash []byte, now, expires time.Time) (bool, error)
	endSession(ctx context.Context, sid string, now time.Time) (userID string, clients []string, err error)
}

// startSession records the sign-in of user and sets the session cookie:
// HttpOnly, Secure, SameSite=Lax, Path=/, Max-Age the session lifetime.
// When the browser already has a live session of the same person (signing
// in again for prompt=login, max_age or a higher assurance level), that
// session goes on under its id with this sign-in's time, level and
// methods, and a new cookie secret: the portals signed in under it stay
// in it, so signing out ends them all. A live session of another person
// (another account, or another agent of the same enterprise account) is
// ended first as at sign-out (its grants revoked, its portals told).
func (ss *sessions) startSession(ctx context.Context, w http.ResponseWriter, r *http.Request, u *User, acr string, amr []string) (*session, error) {
	now := ss.now()
	s := &session{ID: newID(), UserID: u.ID, AuthTime: now, ACR: acr, AMR: amr, AgentName: u.AgentName}
	secret := newSecret()
	expires := now.Add(ss.life.Session)
	var prev *session
	if old, err := r.Cookie(sessionCookieName); err == nil && old.Value != "" && len(old.Value) <= 64 {
		if prev, err = ss.store.sessionByCookie(ctx, hashSecret(old.Value), now); err != nil {
			return nil, fmt.Errorf("authn: read the current session: %w", err)
		}
	}
	renewed := false
	switch {
	// The same person is the same account and, for an enterprise (legal
	// person) account, the same agent: another agent of the enterprise is
	// another person.
	case prev != nil && prev.UserID == u.ID && prev.AgentName == u.AgentName:
		s.ID = prev.ID
		var err error
		if renewed, err = ss.store.renewSession(ctx, s, hashSecret(secret), now, expires); err != nil {
			return nil, fmt.Errorf("authn: %w", err)
		}
		if !renewed {
			s.ID = newID() // ended meanwhile: a new session
		}
	case prev != nil:
		if err := ss.endSession(ctx, prev.ID, r.RemoteAddr); err != nil {
			return nil, err
		}
	}
	if !renewed {
		if err := ss.store.createSession(ctx, s, hashSecret(secret), now, expires); err != nil {
			return nil, fmt.Errorf("authn: %w", err)
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
