package authn

import (
	"context"
	"time"
)

// AuditEvent is something the provider did, for the audit log.
type AuditEvent struct {
	Action      string // e.g. "authn.login", "authn.login.failure", "authn.token.issue", "authn.refresh.reuse", "authn.logout"
	Subject     string // the account, client or officer ("officer:<name>") acting (never a password or token)
	Account     string // the account an officer acted on, if any (its ID)
	Client      string // OAuth client ID, if any
	CertSerial  string // client or login certificate serial, if any
	SourceAddr  string // remote address
	Resource    string // e.g. "authn:session:<sid>"
	Outcome     string // "success" or "failure"
	Reasons     []string
	CitizenHash string // set by the auditor from Account, or else Subject, when the event concerns a citizen
	Latency     time.Duration
}

// Auditor records provider events durably; Record returns once the event
// is stored.
type Auditor interface {
	Record(ctx context.Context, ev AuditEvent) error
}

// WithAuditor makes the provider record logins, failed logins, token
// issuance, refresh-token reuse and logouts with au. Default: nothing is
// recorded.
func WithAuditor(au Auditor) Option { return func(o *options) { o.auditor = au } }

// audit records ev if an auditor is configured. Failures are logged and
// returned so that callers on a security path can refuse to continue.
func (b *base) audit(ctx context.Context, ev AuditEvent) error {
	if b.auditor == nil {
		return nil
	}
	if err := b.auditor.Record(context.WithoutCancel(ctx), ev); err != nil {
		b.log.ErrorContext(ctx, "audit: cannot record provider event", "action", ev.Action, "err", err)
		return err
	}
	return nil
}
