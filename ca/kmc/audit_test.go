package kmc

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/catest"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// auditRecorder is a ca.Auditor in memory.
type auditRecorder struct {
	mu  sync.Mutex
	evs []ca.AuditEvent
}

func (a *auditRecorder) Record(_ context.Context, ev ca.AuditEvent) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.evs = append(a.evs, ev)
	return nil
}

// TestRecoveryAudit checks that every recovery step, refusals included,
// reaches the audit log naming the officer.
func TestRecoveryAudit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		rec := &auditRecorder{}
		f := newFixture(t, db, withKMC(WithAuditor(rec)))
		e := f.enrol(t, enterprise)
		runSteps(t, f, e, catest.SM2Key(t), []step{
			{name: "fail/requester-approves", op: "approve", actor: alice, is: ErrSelfApproval, status: 403, want: StatusRequested, events: []string{"approval-refused " + alice}},
			{name: "ok/bob", op: "approve", actor: bob, want: StatusRequested, events: []string{"approved " + bob}},
			{name: "ok/carol", op: "approve", actor: carol, want: StatusApproved, events: []string{"approved " + carol}},
			{name: "ok/deliver", op: "deliver", actor: alice, want: StatusDelivered, events: []string{"delivered " + alice}},
		})
		var got []string
		for _, ev := range rec.evs {
			if !strings.HasPrefix(ev.Resource, "kmc:recovery:rcv_") || !strings.Contains(ev.Resource, e.res.EncSerial) {
				t.Errorf("resource %q", ev.Resource)
			}
			got = append(got, ev.Action+" "+ev.Actor+" "+strings.SplitN(ev.Outcome, ":", 2)[0])
		}
		want := []string{
			"kmc.recovery.request " + alice + " success",
			"kmc.recovery.approve " + alice + " failure",
			"kmc.recovery.approve " + bob + " success",
			"kmc.recovery.approve " + carol + " success",
			"kmc.recovery.deliver " + alice + " success",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("audit entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}
