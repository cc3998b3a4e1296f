// Package access authenticates officers on Tongxing's administrative APIs.
//
// An officer presents a bearer token (Authorization: Bearer <token>). Tokens are
// 32 random bytes, shown once when they are created and stored only as their
// SHA-256 hash, each with a name and a set of roles: admin (everything), ra
// (registration officer: enrolment codes, certificate inventory) and auditor
// (security officer: audit log). The first admin token is made by
// `tongxing init`. Client-certificate (mTLS) login for officers is not offered.
package access

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tongxing/tongxing/problem"
	"github.com/tongxing/tongxing/store"
)

// Roles an officer token may carry.
const (
	RoleAdmin    = "admin"
	RoleSysadmin = "sysadmin"
	RoleRA       = "ra"
	RoleAuditor  = "auditor"
)

// tokenPrefix marks Tongxing officer tokens so they are recognisable in
// secret scanners.
const tokenPrefix = "txo_"

// Principal is an authenticated officer.
type Principal struct {
	TokenID string
	Name    string
	Roles   []string
}

// Has reports whether p holds role, or admin, which holds every role.
func (p *Principal) Has(role string) bool {
	return p != nil && (slices.Contains(p.Roles, role) || slices.Contains(p.Roles, RoleAdmin))
}

// Actor is the name recorded for p in inventories and audit entries.
func (p *Principal) Actor() string {
	if p == nil {
		return ""
	}
	return "officer:" + p.Name
}

type ctxKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// PrincipalFrom returns the officer authenticated for ctx, if any.
func PrincipalFrom(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(*Principal)
	return p, ok && p != nil
}

// ErrUnknownToken is returned for a token that does not exist or was revoked.
var ErrUnknownToken = errors.New("access: unknown or revoked token")

// Tokens stores officer tokens. It is safe for concurrent use.
type Tokens struct {
	db  *store.DB
	now func() time.Time
}

// NewTokens returns a token store on db.
func NewTokens(db *store.DB) *Tokens { return &Tokens{db: db, now: time.Now} }

// Create makes a token for name with roles and returns the secret token,
// which is not stored and cannot be recovered.
func (t *Tokens) Create(ctx context.Context, name string, roles ...string) (string, error) {
	if name == "" {
		return "", errors.New("access: token name is empty")
	}
	if len(roles) == 0 {
		return "", errors.New("access: a token needs at least one role")
	}
	for _, r := range roles {
		if r != RoleAdmin && r != RoleRA && r != RoleAuditor {
			return "", fmt.Errorf("access: unknown role %q (want admin, ra or auditor)", r)
		}
	}
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return "", err
	}
	token := tokenPrefix + base64.RawURLEncoding.EncodeToString(secret[:])
	h := sha256.Sum256([]byte(token))
	id := hex.EncodeToString(h[:6])
	_, err := t.db.Exec(ctx, "INSERT INTO access_tokens (id, token_hash, name, roles, created_at) VALUES (?, ?, ?, ?, ?)",
		id, h[:], name, strings.Join(roles, ","), t.now().Unix())
	if err != nil {
		return "", fmt.Errorf("access: store token for %s: %w", name, err)
	}
	return token, nil
}

// Authenticate returns the principal for token.
func (t *Tokens) Authenticate(ctx context.Context, token string) (*Principal, error) {
	if !strings.HasPrefix(token, tokenPrefix) || len(token) > 128 {
		return nil, ErrUnknownToken
	}
	h := sha256.Sum256([]byte(token))
	var (
		id, name, roles string
		stored          []byte
		revoked         sql.NullInt64
	)
	err := t.db.QueryRow(ctx, "SELECT id, token_hash, name, roles, revoked_at FROM access_tokens WHERE token_hash = ?", h[:]).
		Scan(&id, &stored, &name, &roles, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrUnknownToken
	}
	if err != nil {
		return nil, fmt.Errorf("access: look up token: %w", err)
	}
	if subtle.ConstantTimeCompare(stored, h[:]) != 1 || revoked.Valid {
		return nil, ErrUnknownToken
	}
	return &Principal{TokenID: id, Name: name, Roles: strings.Split(roles, ",")}, nil
}

// Require wraps next so that only an officer holding role reaches it. Missing
// or unknown tokens get 401, a token without the role 403, both as
// problem+json.
func (t *Tokens) Require(role string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		token, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || token == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tongxing"`)
			problem.Write(w, problem.New(http.StatusUnauthorized, "an officer token is required (Authorization: Bearer ...)"))
			return
		}
		p, err := t.Authenticate(r.Context(), strings.TrimSpace(token))
		if errors.Is(err, ErrUnknownToken) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tongxing", error="invalid_token"`)
			problem.Write(w, problem.New(http.StatusUnauthorized, "unknown or revoked officer token"))
			return
		}
		if err != nil {
			problem.WriteError(w, r, nil, err)
			return
		}
		if !p.Has(role) {
			problem.Write(w, problem.New(http.StatusForbidden, fmt.Sprintf("officer %q lacks role %q", p.Name, role)))
			return
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}
