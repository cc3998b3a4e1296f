package authn

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/tongxing/tongxing/store"
)

// ThrottlePolicy is the exponential backoff applied to failed logins of one
// account or from one client address. After Free failures, failure number
// Free+k locks logins for Base·2^(k-1), at most Max. While locked, logins
// are refused without checking the password, even a correct one, and
// refused attempts do not count as failures. Failures are forgotten after
// Reset without one; a successful login forgets an account's failures (not
// an address's).
type ThrottlePolicy struct {
	Free  int
	Base  time.Duration
	Max   time.Duration
	Reset time.Duration
}

// Default throttling: an account locks after its 5th failure for 1 minute,
// doubling up to 1 hour, forgotten after 24 hours; an address (IPv4, or the
// /64 of IPv6) locks after its 21st failure for 10 seconds, doubling up to
// 15 minutes, forgotten after 1 hour. The address allowance is larger
// because many citizens can share one address (NAT).
var (
	defaultAccountThrottle = ThrottlePolicy{Free: 4, Base: time.Minute, Max: time.Hour, Reset: 24 * time.Hour}
	defaultAddressThrottle = ThrottlePolicy{Free: 20, Base: 10 * time.Second, Max: 15 * time.Minute, Reset: time.Hour}
)

func (p ThrottlePolicy) valid() error {
	if p.Free < 0 || p.Base <= 0 || p.Max < p.Base || p.Reset <= 0 {
		return fmt.Errorf("%w: throttle policy %+v: want Free >= 0, 0 < Base <= Max, Reset > 0", ErrConfig, p)
	}
	return nil
}

// lockFor returns how long logins lock after the failures-th failure.
func (p ThrottlePolicy) lockFor(failures int64) time.Duration {
	k := failures - int64(p.Free)
	if k <= 0 {
		return 0
	}
	if k > 40 {
		return p.Max
	}
	d := p.Base << (k - 1)
	if d <= 0 || d > p.Max {
		return p.Max
	}
	return d
}

// throttle keeps failure counters in the authn_throttle table, so every
// replica sees the same counts.
type throttle struct {
	db      *store.DB
	now     func() time.Time
	account ThrottlePolicy
	address ThrottlePolicy
}

func accountKey(username string) string { return "acct:" + NormalizeUsername(username) }

// addressKey returns the throttle key of a client address (host:port or
// host): the IPv4 address, or the /64 prefix of an IPv6 address.
func addressKey(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return "addr:" + host
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return "addr:" + p.String()
	}
	return "addr:" + a.String()
}

// check returns a *LockedError if the account or the address is locked.
func (t *throttle) check(ctx context.Context, acct, addr string) error {
	now := t.now().UnixNano()
	for _, k := range []struct {
		key     string
		account bool
	}{{acct, true}, {addr, false}} {
		var until int64
		err := t.db.QueryRow(ctx, "SELECT locked_until FROM authn_throttle WHERE key = ?", k.key).Scan(&until)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return fmt.Errorf("authn: read login throttle: %w", err)
		}
		if until > now {
			return &LockedError{Until: time.Unix(0, until), Account: k.account}
		}
	}
	return nil
}

// fail records a failure for key under p and returns the lock end (zero if
// the failure does not lock).
func (t *throttle) fail(ctx context.Context, key string, p ThrottlePolicy) (time.Time, error) {
	now := t.now()
	var until time.Time
	err := t.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO authn_throttle (key, failures, last_failure, locked_until)
			VALUES (?, 0, 0, 0) ON CONFLICT (key) DO NOTHING`, key); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE authn_throttle
			SET failures = CASE WHEN last_failure < ? THEN 1 ELSE failures + 1 END, last_failure = ?
			WHERE key = ?`, now.Add(-p.Reset).UnixNano(), now.UnixNano(), key); err != nil {
			return err
		}
		var failures int64
		if err := tx.QueryRow(ctx, "SELECT failures FROM authn_throttle WHERE key = ?", key).Scan(&failures); err != nil {
			return err
		}
		if d := p.lockFor(failures); d > 0 {
			until = now.Add(d)
			if _, err := tx.Exec(ctx, "UPDATE authn_throttle SET locked_until = ? WHERE key = ?", until.UnixNano(), key); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("authn: record failed login: %w", err)
	}
	return until, nil
}

// reset forgets the failures of key.
func (t *throttle) reset(ctx context.Context, key string) error {
	if _, err := t.db.Exec(ctx, "DELETE FROM authn_throttle WHERE key = ?", key); err != nil {
		return fmt.Errorf("authn: reset login throttle: %w", err)
	}
	return nil
}

// lockedMessage is the page text of a lockout, with its end in China
// Standard Time.
func lockedMessage(t func(string, ...any) string, locked *LockedError) string {
	return t("login.locked", locked.Until.In(time.FixedZone("CST", 8*3600)).Format("2006-01-02 15:04:05"))
}
