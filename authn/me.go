package authn

import (
	"context"
	"crypto/hmac"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/emmansun/gmsm/sm3"

	"github.com/tongxing/tongxing/problem"
)

// mePages is the self-service API of the signed-in account: its sessions.
type mePages struct {
	*base
	store   sessionLister
	clients *clientRegistry
	sess    *sessions
}

// Self-service endpoint paths, relative to the issuer URL.
const (
	pathMeSessions = "/me/v1/sessions"
	// maxMeFormSize bounds the body of POST /me/v1/sessions/{id}/end.
	maxMeFormSize = 4 << 10
	// maxSessionIDLen bounds a session id in a path.
	maxSessionIDLen = 64
)

// MySession is one SSO session of the signed-in account, as GET
// /me/v1/sessions lists it.
type MySession struct {
	// ID is the session id (the sid claim of its ID tokens).
	ID string `json:"id"`
	// Current is true for the session of the request's own cookie.
	Current bool `json:"current"`
	// CreatedAt is when the login that started the session happened.
	CreatedAt time.Time `json:"created_at"`
	// AuthTime is the auth_time of the session.
	AuthTime time.Time `json:"auth_time"`
	// LastUsedAt is when a portal last received an authorization under
	// the session, omitted when none has.
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	// ExpiresAt is the end of the session's absolute lifetime.
	ExpiresAt time.Time `json:"expires_at"`
	// ACR and AMR say how the citizen logged in.
	ACR string   `json:"acr"`
	AMR []string `json:"amr"`
	// Clients are the portals that got tokens under the session, by
	// client id.
	Clients []MySessionClient `json:"clients"`
}

// MySessionClient is a portal that received an authorization under a
// session.
type MySessionClient struct {
	ClientID   string `json:"client_id"`
	Name       string `json:"name,omitempty"`
	Department string `json:"department,omitempty"`
	// LastAuthorizedAt is the latest authorization of the portal under the
	// session.
	LastAuthorizedAt time.Time `json:"last_authorized_at"`
}

// mySessions is the body of GET /me/v1/sessions.
type mySessions struct {
	Sessions []MySession `json:"sessions"`
	// CSRFToken must accompany POST /me/v1/sessions/{id}/end.
	CSRFToken string `json:"csrf_token"`
}

// meCSRF returns the CSRF token of the self-service forms of the browser
// holding the SSO cookie secret: HMAC-SM3 keyed with the secret, so only
// that browser can know it and it changes with every login.
func meCSRF(cookieSecret string) string {
	mac := hmac.New(sm3.New, []byte(cookieSecret))
	mac.Write([]byte("tongxing me/v1 csrf"))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// meSession returns the caller's session (from the SSO cookie) and the
// cookie secret; on failure it has answered with a problem and returns
// nil.
func (mp *mePages) meSession(w http.ResponseWriter, r *http.Request) (*session, string) {
	w.Header().Set("Cache-Control", "no-store")
	sess, err := mp.sess.sessionFrom(r)
	if err != nil {
		mp.logError(r, "self-service: read session", err)
		meProblem(w, r, http.StatusInternalServerError, "temporarily unavailable")
		return nil, ""
	}
	if sess == nil {
		meProblem(w, r, http.StatusUnauthorized, "no signed-in session: sign in first")
		return nil, ""
	}
	c, _ := r.Cookie(sessionCookieName) // present: sessionFrom found it
	return sess, c.Value
}

// meProblem answers a problem+json error.
func meProblem(w http.ResponseWriter, r *http.Request, status int, detail string) {
	d := problem.New(status, detail)
	d.Instance = r.URL.Path
	problem.Write(w, d)
}

// serveMySessions is GET /me/v1/sessions: the live SSO sessions of the
// account signed in with the request's cookie, oldest first, with the
// portals that got tokens under each, and the CSRF token of the form
// endpoint. Without a live session it answers 401.
func (mp *mePages) serveMySessions(w http.ResponseWriter, r *http.Request) {
	sess, secret := mp.meSession(w, r)
	if sess == nil {
		return
	}
	list, err := mp.mySessions(r.Context(), sess.UserID)
	if err != nil {
		mp.logError(r, "self-service: list sessions", err)
		meProblem(w, r, http.StatusInternalServerError, "temporarily unavailable")
		return
	}
	for i := range list {
		list[i].Current = list[i].ID == sess.ID
	}
	problem.WriteJSON(w, http.StatusOK, mySessions{Sessions: list, CSRFToken: meCSRF(secret)})
}

// MySessions returns the live (not ended, not expired) SSO sessions of
// account userID, oldest first, each with the portals that got an
// authorization under it. Current is never set. The user agent and
// address of a session are not recorded, so they are not returned.
func (p *Provider) MySessions(ctx context.Context, userID string) ([]MySession, error) {
	return p.me.mySessions(ctx, userID)
}

// mySessions implements [Provider.MySessions].
func (mp *mePages) mySessions(ctx context.Context, userID string) ([]MySession, error) {
	list, err := mp.store.liveSessions(ctx, userID, mp.now())
	if err != nil {
		return nil, fmt.Errorf("authn: list sessions of %s: %w", quote(userID), err)
	}
	if len(list) == 0 {
		return list, nil
	}
	grants, err := mp.store.sessionGrants(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("authn: list portals of the sessions of %s: %w", quote(userID), err)
	}
	index := map[string]int{}
	for i, s := range list {
		index[s.ID] = i
	}
	for _, sg := range grants {
		i, ok := index[sg.SessionID]
		if !ok {
			continue
		}
		mc := MySessionClient{ClientID: sg.ClientID, LastAuthorizedAt: sg.At}
		if c, err := mp.clients.get(ctx, sg.ClientID); err == nil {
			mc.Name, mc.Department = c.Name, c.Department
		}
		list[i].Clients = append(list[i].Clients, mc)
		if last := list[i].LastUsedAt; last == nil || mc.LastAuthorizedAt.After(*last) {
			t := mc.LastAuthorizedAt
			list[i].LastUsedAt = &t
		}
	}
	return list, nil
}

// sessionLister reads the sessions of an account ([sqlStore]).
type sessionLister interface {
	liveSessions(ctx context.Context, userID string, now time.Time) ([]MySession, error)
	sessionGrants(ctx context.Context, userID string) ([]sessionGrant, error)
	sessionOwner(ctx context.Context, sid string, now time.Time) (string, error)
}

// errNotMySession means a session id names no live session of the caller.
var errNotMySession = errors.New("authn: no such session of this account")

// serveEndMySession is DELETE /me/v1/sessions/{id} and, for HTML forms,
// POST /me/v1/sessions/{id}/end with the csrf_token of the list: it ends
// one live session of the caller's own account with [Provider.EndSession]
// (grants revoked, back-channel logout sent) and records
// authn.session.end. A session of another account, an ended or unknown
// one gives 404; no signed-in session 401; a missing or wrong CSRF token
// 403. Ending the caller's current session also clears its cookie.
// DELETE answers 204; POST answers 200 with JSON.
func (mp *mePages) serveEndMySession(w http.ResponseWriter, r *http.Request) {
	sess, secret := mp.meSession(w, r)
	if sess == nil {
		return
	}
	if r.Method == http.MethodPost {
		form, err := readForm(w, r, maxMeFormSize)
		if err != nil {
			meProblem(w, r, http.StatusBadRequest, err.Error())
			return
		}
		tok := form.Get("csrf_token")
		if len(form["csrf_token"]) != 1 || subtle.ConstantTimeCompare([]byte(tok), []byte(meCSRF(secret))) != 1 {
			meProblem(w, r, http.StatusForbidden, "missing or wrong csrf_token")
			return
		}
	}
	ctx := r.Context()
	sid := r.PathValue("id")
	err := mp.checkMySession(ctx, sess.UserID, sid)
	if errors.Is(err, errNotMySession) {
		meProblem(w, r, http.StatusNotFound, "no such session")
		return
	}
	if err == nil {
		err = mp.sess.endSession(ctx, sid, r.RemoteAddr)
	}
	if err != nil {
		mp.logError(r, "self-service: end session", err)
		meProblem(w, r, http.StatusInternalServerError, "temporarily unavailable")
		return
	}
	_ = mp.audit(ctx, AuditEvent{Action: "authn.session.end", Subject: sess.UserID, SourceAddr: r.RemoteAddr,
		Resource: "authn:session:" + sid, Outcome: "success", Reasons: []string{"ended by the account holder from session " + sess.ID}})
	current := sid == sess.ID
	if current {
		http.SetCookie(w, &http.Cookie{Name: sessionCookieName, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
	if r.Method == http.MethodDelete {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	problem.WriteJSON(w, http.StatusOK, map[string]any{"id": sid, "ended": true, "current": current})
}

// checkMySession returns errNotMySession unless sid is a live session of
// account userID.
func (mp *mePages) checkMySession(ctx context.Context, userID, sid string) error {
	if sid == "" || len(sid) > maxSessionIDLen {
		return errNotMySession
	}
	owner, err := mp.store.sessionOwner(ctx, sid, mp.now())
	if err != nil {
		return fmt.Errorf("authn: read session %s: %w", quote(sid), err)
	}
	if subtle.ConstantTimeCompare([]byte(owner), []byte(userID)) != 1 {
		return errNotMySession
	}
	return nil
}
