package access

import (
	"context"
	"fmt"
	"regexp"
	"time"
)

// Roles an officer may hold; each officer holds exactly one.
const (
	RoleSysadmin = "sysadmin"
	RoleRA       = "ra"
	RoleAuditor  = "auditor"
)

// Roles lists every role.
var Roles = []string{RoleSysadmin, RoleRA, RoleAuditor}

// ValidRole returns nil if role is one of [Roles].
func ValidRole(role string) error {
	switch role {
	case RoleSysadmin, RoleRA, RoleAuditor:
		return nil
	}
	return badRequest("role", nil, "%q is not a role (want sysadmin, ra or auditor)", truncate(role, 32))
}

// Token lifetimes.
const (
	// DefaultTokenTTL is how long a new token is valid unless asked
	// otherwise.
	DefaultTokenTTL = 90 * 24 * time.Hour
	// MaxTokenTTL is the longest life a token may be given.
	MaxTokenTTL = 366 * 24 * time.Hour
	// MinTokenTTL is the shortest.
	MinTokenTTL = time.Hour
	// ProposalTTL is how long a proposal may wait for its decision, and an
	// approved one for its claim.
	ProposalTTL = 72 * time.Hour
	// MaxClaimFailures is how many wrong claim codes a proposal takes
	// before it fails for good.
	MaxClaimFailures = 5
)

// Officer statuses.
const (
	StatusActive  = "active"
	StatusRevoked = "revoked"
)

// nameRE is the form of a new officer's name.
var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// ValidName returns nil if name may name a new officer: 1 to 64 characters
// from [a-z0-9._-], starting with a letter or digit.
func ValidName(name string) error {
	if !nameRE.MatchString(name) {
		return badRequest("name", nil, "%q is not an officer name (1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit)", truncate(name, 80))
	}
	return nil
}

// Officer is an officer account.
type Officer struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Role   string `json:"role"`
	Status string `json:"status"`
	// UserID and Username name the sign-on account bound to the officer,
	// if any.
	UserID     string    `json:"user_id,omitempty"`
	Username   string    `json:"username,omitempty"`
	ProposedBy string    `json:"proposed_by"`
	ApprovedBy string    `json:"approved_by"`
	CreatedAt  time.Time `json:"created_at"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
	RevokedBy  string    `json:"revoked_by,omitempty"`
	// ConsoleSignedOutAt is when the officer last signed out of the
	// console: console sessions started no later are over.
	ConsoleSignedOutAt time.Time `json:"console_signed_out_at,omitzero"`
	// TokenExpiresAt is when the officer's newest usable token expires
	// (zero: none). Filled in by listings; not stored.
	TokenExpiresAt time.Time `json:"token_expires_at,omitzero"`
}

// Actor is the name recorded for o in inventories and audit entries.
func (o *Officer) Actor() string { return "officer:" + o.Name }

// Token is a stored officer token: never the token itself, only its hash.
type Token struct {
	ID        string
	OfficerID string
	Hash      []byte // SHA-256 of the token
	CreatedAt time.Time
	ExpiresAt time.Time // zero only for tokens of earlier versions not yet upgraded
	RevokedAt time.Time
}

// Proposal kinds.
const (
	// KindAdd proposes a new officer.
	KindAdd = "add"
	// KindBind proposes binding a sign-on account to an officer.
	KindBind = "bind"
	// KindToken proposes a new token for an officer (who lost theirs).
	KindToken = "token"
)

// Proposal statuses.
const (
	ProposalPending  = "pending"
	ProposalApproved = "approved" // add and token: waiting to be claimed
	ProposalRejected = "rejected"
	ProposalClaimed  = "claimed"
	ProposalApplied  = "applied" // bind
	ProposalExpired  = "expired"
	ProposalFailed   = "failed" // too many wrong claim codes
)

// Proposal is a proposed officer change.
type Proposal struct {
	ID         string    `json:"id"`
	Kind       string    `json:"kind"`
	Officer    string    `json:"officer"` // the officer's name
	Role       string    `json:"role"`    // whose officers decide
	UserID     string    `json:"user_id,omitempty"`
	Username   string    `json:"username,omitempty"`
	Status     string    `json:"status"`
	ProposedBy string    `json:"proposed_by"`
	ProposedAt time.Time `json:"proposed_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	DecidedBy  string    `json:"decided_by,omitempty"`
	DecidedAt  time.Time `json:"decided_at,omitzero"`
	Comment    string    `json:"comment,omitempty"`
	ClaimedAt  time.Time `json:"claimed_at,omitzero"`

	ProposerCodeHash []byte `json:"-"`
	ApproverCodeHash []byte `json:"-"`
	ClaimFailures    int    `json:"-"`
}

// open reports whether p waits for a decision or a claim.
func (p *Proposal) open() bool { return p.Status == ProposalPending || p.Status == ProposalApproved }

// Principal is an authenticated officer.
type Principal struct {
	OfficerID string
	Name      string
	Role      string
	TokenID   string
	// TokenExpiresAt is when the presented token expires.
	TokenExpiresAt time.Time
	// SourceAddr is the client address of the request (host:port).
	SourceAddr string
}

// Has reports whether p holds role. No role implies another.
func (p *Principal) Has(role string) bool { return p != nil && p.Role == role }

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

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("%s...", s[:n])
}
