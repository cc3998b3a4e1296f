package authn

import (
	"context"
	"fmt"
	"time"
)

// codeRetention is how long a code is kept after it expires, so that a
// late replay is still recognised and revokes its grant.
const codeRetention = 24 * time.Hour

// Purge deletes records that can no longer be used: expired login
// transactions and sessions (and revoked ones), refresh and access token
// records past their expiry, codes a day past theirs, grants left with no
// code or token, and throttle counters whose lock has ended and whose
// failures would be forgotten anyway, certificate-login challenges and
// one-time code enrolments past their expiry. It returns the number of rows
// deleted. Call it periodically from one replica or several; it is safe
// to run concurrently with everything else. It keeps unexpired rotated
// refresh tokens and used codes, which reuse detection needs.
func (p *Provider) Purge(ctx context.Context) (int64, error) {
	now := p.now()
	forget := max(p.thr.account.Reset, p.thr.address.Reset)
	total, err := p.store.purge(ctx, now, now.Add(-p.life.Code), now.Add(-forget))
	if err != nil {
		return 0, fmt.Errorf("authn: purge: %w", err)
	}
	return total, nil
}
