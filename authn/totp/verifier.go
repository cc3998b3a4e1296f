package totp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// UsedSteps records which time steps have been used to log in, per
// account, so that a code is accepted at most once (RFC 6238 §5.2).
//
// MarkUsed atomically records that step was used for account and reports
// whether it was fresh: false when that step (or, for stricter stores, any
// later one) was already recorded. It must be safe for concurrent use; two
// concurrent calls with the same account and step must not both return
// true.
//
// The provider backs it with its database, keeping the last used step per
// account, e.g.
//
//	UPDATE totp_secrets SET last_step = $2 WHERE account = $1 AND last_step < $2
//
// with fresh meaning one row was changed, so that it also holds across
// replicas sharing one database. [MemoryUsedSteps] does the same in memory.
type UsedSteps interface {
	MarkUsed(ctx context.Context, account string, step int64) (fresh bool, err error)
}

// Verifier checks login codes and refuses replays. Create it with
// [NewVerifier]; it is safe for concurrent use when its [UsedSteps] is.
type Verifier struct {
	used UsedSteps
}

// NewVerifier returns a Verifier that records used time steps in used.
// used must not be nil.
func NewVerifier(used UsedSteps) (*Verifier, error) {
	if used == nil {
		return nil, errors.New("totp: NewVerifier: nil UsedSteps")
	}
	return &Verifier{used: used}, nil
}

// Verify checks that code is the code of secret, the account's stored
// base32 secret, at time at (±1 time step, see [Validate]) and that the
// matching time step has not been used for account before; it then records
// that step as used. It returns nil on success, an error wrapping
// [ErrInvalidCode] for a malformed or wrong code, [ErrReplayed] for a code
// whose time step was already used, [ErrSecret] for a malformed secret, or
// the store's error. A wrong code does not consume a time step.
//
// Verify does NOT throttle attempts; the caller must limit failures per
// account.
func (v *Verifier) Verify(ctx context.Context, account, secret, code string, at time.Time) error {
	step, err := match(secret, code, at)
	if err != nil {
		return fmt.Errorf("totp: account %q: %w", account, err)
	}
	fresh, err := v.used.MarkUsed(ctx, account, step)
	if err != nil {
		return fmt.Errorf("totp: account %q: recording used time step: %w", account, err)
	}
	if !fresh {
		return fmt.Errorf("%w: account %q, time step %d", ErrReplayed, account, step)
	}
	return nil
}

// MemoryUsedSteps is an in-memory [UsedSteps] that keeps the highest used
// step per account and refuses that step and every earlier one. It is safe
// for concurrent use. Its zero value is ready to use. Its memory grows with
// the number of accounts and it is lost on restart, so it serves tests and
// single-process deployments only.
type MemoryUsedSteps struct {
	mu   sync.Mutex
	last map[string]int64
}

var _ UsedSteps = (*MemoryUsedSteps)(nil)

// MarkUsed implements [UsedSteps].
func (m *MemoryUsedSteps) MarkUsed(ctx context.Context, account string, step int64) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if last, ok := m.last[account]; ok && step <= last {
		return false, nil
	}
	if m.last == nil {
		m.last = make(map[string]int64)
	}
	m.last[account] = step
	return true, nil
}
