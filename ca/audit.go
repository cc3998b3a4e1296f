package ca

import (
	"context"
	"time"
)

// AuditEvent is something the CA did, for the audit log.
type AuditEvent struct {
	Action   string // e.g. "ca.certificate.issue"
	Actor    string // who asked: "officer:li", "code:enr_…", "system:serve"
	Resource string // e.g. "ca:certificate:1f2e…"
	Outcome  string // "success" or "failure: <reason>"
	Reasons  []string
	Latency  time.Duration
	// Source is the client's network address, for subscriber requests.
	Source string
}

// Auditor records CA events durably. Record must return only once the event
// is stored; the CA answers after it.
type Auditor interface {
	Record(ctx context.Context, ev AuditEvent) error
}

// WithAuditor makes the authority record issuance, status changes,
// enrolment codes and refused enrolments with au. Without it nothing is
// recorded.
func WithAuditor(au Auditor) Option { return func(a *Authority) { a.auditor = au } }

// audit records ev; a failure to record is returned so the caller can refuse
// to answer as if the action were unrecorded.
func (a *Authority) audit(ctx context.Context, ev AuditEvent) error {
	if a.auditor == nil {
		return nil
	}
	return a.auditor.Record(context.WithoutCancel(ctx), ev)
}
