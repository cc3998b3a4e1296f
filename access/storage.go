package access

import (
	"context"
	"time"
)

// Storage persists officers, their tokens and proposals. [SQLStore] is the
// implementation on SQLite and PostgreSQL. Implementations are safe for
// concurrent use.
type Storage interface {
	// Token returns the stored token with the given SHA-256 hash and its
	// officer, or an error wrapping ErrUnknownToken. It is the one read on
	// every officer request.
	Token(ctx context.Context, hash []byte) (*Token, *Officer, error)
	// Officers returns every officer, by name, with TokenExpiresAt set.
	Officers(ctx context.Context) ([]*Officer, error)
	// Proposals returns the proposals of status ("" for all), newest first.
	Proposals(ctx context.Context, status string) ([]*Proposal, error)
	// Update runs fn in one transaction, serialised with every other Update,
	// and commits the Change it returns. fn may return a Change together
	// with an error (a refusal worth keeping, such as a counted wrong claim
	// code): the Change is committed and the error returned. A nil Change
	// writes nothing.
	Update(ctx context.Context, fn func(tx Tx) (*Change, error)) error
}

// Tx reads, inside [Storage.Update], the rows a change is decided on.
type Tx interface {
	// Officer returns the officer named name, or an error wrapping
	// ErrNotFound.
	Officer(ctx context.Context, name string) (*Officer, error)
	// Proposal returns proposal id, or an error wrapping ErrNotFound.
	Proposal(ctx context.Context, id string) (*Proposal, error)
	// Usable counts the active officers of role, other than the officer
	// with ID except (may be empty), holding a token that is neither revoked
	// nor expired at now.
	Usable(ctx context.Context, role string, now time.Time, except string) (int, error)
	// TokenLive reports whether token id of officer officerID is neither
	// revoked nor expired at now.
	TokenLive(ctx context.Context, id, officerID string, now time.Time) (bool, error)
	// BoundTo returns the active officer bound to the sign-on account
	// userID, or an error wrapping ErrNotFound.
	BoundTo(ctx context.Context, userID string) (*Officer, error)
}

// Change is what an [Storage.Update] writes: officers and proposals are
// inserted or replaced by ID, tokens inserted, and the tokens of officers
// revoked.
type Change struct {
	Officers  []*Officer
	Proposals []*Proposal
	Tokens    []*Token
	// Revoke revokes, at RevokedAt, every unrevoked token of each officer
	// named by ID, except the token ExceptToken (may be empty).
	Revoke      []string
	RevokedAt   time.Time
	ExceptToken string
	// SignedOut records, for each officer named by ID, a console sign-out
	// at SignedOutAt.
	SignedOut   []string
	SignedOutAt time.Time
}
