package ca

import (
	"context"
	"time"

	"github.com/tongxing/tongxing/store"
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

// TxAuditor is an [Auditor] that can also write events inside the
// transaction that records certificates ([TxInventory]), so that an issued
// certificate and its audit entry are durable together or not at all. The
// authority uses it for issuance when both the auditor and the inventory
// support it.
type TxAuditor interface {
	Auditor
	// StageTx writes evs inside tx; they are durable when tx commits.
	StageTx(ctx context.Context, tx *store.Tx, evs ...AuditEvent) error
	// Staged is called after a transaction with staged events committed.
	Staged()
}

// TxInventory is an [Inventory] that runs stage inside the transaction
// that records recs (and redeems the code), so that stage's writes commit
// with them.
type TxInventory interface {
	RecordWith(ctx context.Context, redeemCode string, stage func(ctx context.Context, tx *store.Tx) error, recs ...*Record) error
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
