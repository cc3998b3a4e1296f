package kmc

import (
	"context"

	"github.com/tongxing/tongxing/ca"
)

// WithAuditor makes the KMC record every key-recovery step, refusals
// included, in the audit log through au, besides kmc_events: action
// "kmc.recovery.<step>", the officer, the recovery and the serial. Default:
// kmc_events only.
//
// The entries follow the step's commit. A step whose entry cannot be
// written is not undone (a delivered key cannot be un-delivered): the
// failure is logged, and the officer's request was recorded before it ran
// (access.Officers.Require records every allowed request).
func WithAuditor(au ca.Auditor) Option { return func(k *Centre) { k.auditor = au } }

// auditActions maps event kinds to audit-log actions.
var auditActions = map[string]string{
	EventRequested:        "kmc.recovery.request",
	EventApproved:         "kmc.recovery.approve",
	EventApprovalRefused:  "kmc.recovery.approve",
	EventDelivered:        "kmc.recovery.deliver",
	EventDeliveryRefused:  "kmc.recovery.deliver",
	EventDeliveryFailed:   "kmc.recovery.deliver",
	EventRejected:         "kmc.recovery.reject",
	EventRejectionRefused: "kmc.recovery.reject",
}

// auditEvent writes e to the audit log; outcome "" means success.
func (k *Centre) auditEvent(ctx context.Context, e *Event, outcome string) {
	if k.auditor == nil || e == nil {
		return
	}
	action, ok := auditActions[e.What]
	if !ok {
		return
	}
	if outcome == "" {
		outcome = "success"
	}
	ev := ca.AuditEvent{
		Action:   action,
		Actor:    e.Actor,
		Resource: "kmc:recovery:" + e.RecoveryID + ":enc:" + e.EncSerial,
		Outcome:  outcome,
	}
	if outcome == "success" && e.Detail != "" {
		ev.Reasons = []string{e.Detail}
	}
	if err := k.auditor.Record(context.WithoutCancel(ctx), ev); err != nil {
		k.log.ErrorContext(ctx, "audit: cannot record key-recovery step", "action", action, "recovery", e.RecoveryID, "err", err)
	}
}
