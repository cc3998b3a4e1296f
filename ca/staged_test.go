package ca_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/catest"
	"github.com/tongxing/tongxing/store"
)

// txAuditor stages issuance events in the inventory's transaction; it
// writes them to a table of its own so the test can see what committed.
type txAuditor struct {
	memAuditor
	mu     sync.Mutex
	fail   error
	staged int
}

func (a *txAuditor) StageTx(ctx context.Context, tx *store.Tx, evs ...ca.AuditEvent) error {
	a.mu.Lock()
	fail := a.fail
	a.mu.Unlock()
	if fail != nil {
		return fail
	}
	for _, ev := range evs {
		if _, err := tx.Exec(ctx, "INSERT INTO staged_events (resource) VALUES (?)", ev.Resource); err != nil {
			return err
		}
	}
	return nil
}

func (a *txAuditor) Staged() {
	a.mu.Lock()
	a.staged++
	a.mu.Unlock()
}

// TestIssuanceAuditedInTheSameTransaction: with an auditor that can stage,
// a certificate and its issuance event commit together; when staging fails
// neither is stored and the code stays unused.
func TestIssuanceAuditedInTheSameTransaction(t *testing.T) {
	ctx := context.Background()
	au := &txAuditor{}
	f := catest.New(t, catest.WithCA(ca.WithAuditor(au)))
	if _, err := f.DB.Exec(ctx, "CREATE TABLE staged_events (resource TEXT NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	count := func(q string, args ...any) int {
		var n int
		if err := f.DB.QueryRow(ctx, q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	t.Run("ok/committed-together", func(t *testing.T) {
		code := f.Code(t, "citizen", ca.Subject{Name: catest.CitizenName, IDNumber: catest.CitizenID})
		iss, err := f.CA.Enrol(ctx, ca.EnrolRequest{CSR: catest.PEMCSR(catest.CSR(t, catest.SM2Key(t))), Code: code})
		if err != nil {
			t.Fatal(err)
		}
		if n := count("SELECT COUNT(*) FROM staged_events WHERE resource = ?", "ca:certificate:"+iss.Record.Serial); n != 1 {
			t.Fatalf("%d staged issuance events for %s, want 1", n, iss.Record.Serial)
		}
		for _, ev := range au.evs {
			if ev.Action == "ca.certificate.issue" {
				t.Fatalf("issuance also recorded outside the transaction: %+v", ev)
			}
		}
		au.mu.Lock()
		staged := au.staged
		au.mu.Unlock()
		if staged != 1 {
			t.Fatalf("Staged called %d times, want 1", staged)
		}
	})

	t.Run("fail/staging-fails-nothing-stored", func(t *testing.T) {
		au.mu.Lock()
		au.fail = errors.New("audit log unavailable")
		au.mu.Unlock()
		code := f.Code(t, "citizen", ca.Subject{Name: catest.CitizenName, IDNumber: catest.CitizenID})
		before := count("SELECT COUNT(*) FROM ca_certificates")
		if _, err := f.CA.Enrol(ctx, ca.EnrolRequest{CSR: catest.PEMCSR(catest.CSR(t, catest.SM2Key(t))), Code: code}); err == nil {
			t.Fatal("enrolment succeeded while its audit entry could not be written")
		}
		if after := count("SELECT COUNT(*) FROM ca_certificates"); after != before {
			t.Fatalf("certificates %d -> %d: one was stored without its audit entry", before, after)
		}
		au.mu.Lock()
		au.fail = nil
		au.mu.Unlock()
		if _, err := f.CA.Enrol(ctx, ca.EnrolRequest{CSR: catest.PEMCSR(catest.CSR(t, catest.SM2Key(t))), Code: code}); err != nil {
			t.Fatalf("the code was spent by the failed attempt: %v", err)
		}
	})
}
