package kmc

import (
	"bytes"
	"context"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"

	"github.com/tongxing/tongxing/ca/catest"
)

// step is one call in a recovery scenario.
type step struct {
	name   string
	op     string // approve, deliver, reject
	actor  string
	is     error // nil: must succeed
	status int
	want   Status // recovery status afterwards
	events []string
}

// runSteps opens a recovery requested by alice for e, runs steps in order
// and returns it and the delivery, if one succeeded.
func runSteps(t *testing.T, f *fixture, e *enrolled, deliverTo *sm2.PrivateKey, steps []step) (*Recovery, *Delivery) {
	t.Helper()
	ctx := context.Background()
	r, err := f.kmc.RequestRecovery(ctx, RecoveryRequest{EncSerial: e.res.EncSerial, Reason: "key lost with the old token", DeliverTo: pemPublicKey(t, &deliverTo.PublicKey), RequestedBy: alice})
	if err != nil {
		t.Fatalf("RequestRecovery: %v", err)
	}
	if r.Status != StatusRequested {
		t.Fatalf("new recovery status %s", r.Status)
	}
	var delivered *Delivery
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			before, err := f.kmc.Events(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			var opErr error
			switch s.op {
			case "approve":
				_, opErr = f.kmc.Approve(ctx, r.ID, s.actor)
			case "deliver":
				var d *Delivery
				d, opErr = f.kmc.Deliver(ctx, r.ID, s.actor)
				if opErr == nil {
					delivered = d
				} else if d != nil {
					t.Fatal("a refused delivery returned a key")
				}
			case "reject":
				_, opErr = f.kmc.Reject(ctx, r.ID, s.actor, "not justified")
			default:
				t.Fatalf("unknown op %s", s.op)
			}
			if s.is == nil && opErr != nil {
				t.Fatalf("%s by %s: %v", s.op, s.actor, opErr)
			}
			if s.is != nil {
				wantError(t, opErr, s.is, s.status, "")
			}
			got, err := f.kmc.Recovery(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != s.want {
				t.Errorf("status after %s by %s = %s, want %s", s.op, s.actor, got.Status, s.want)
			}
			after, err := f.kmc.Events(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			var whats []string
			for _, ev := range after[len(before):] {
				whats = append(whats, ev.What+" "+ev.Actor)
			}
			if strings.Join(whats, ",") != strings.Join(s.events, ",") {
				t.Errorf("new events %q, want %q", whats, s.events)
			}
		})
	}
	return r, delivered
}

func TestRecoveryDualControl(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		t.Run("ok/three-officers", func(t *testing.T) {
			e := f.enrol(t, enterprise)
			newKey := catest.SM2Key(t)
			r, d := runSteps(t, f, e, newKey, []step{
				{name: "fail/requester-approves", op: "approve", actor: alice, is: ErrSelfApproval, status: 403, want: StatusRequested, events: []string{"approval-refused " + alice}},
				{name: "fail/deliver-without-approvals", op: "deliver", actor: alice, is: ErrNotApproved, status: 409, want: StatusRequested, events: []string{"delivery-refused " + alice}},
				{name: "ok/bob-approves", op: "approve", actor: bob, want: StatusRequested, events: []string{"approved " + bob}},
				{name: "fail/bob-approves-again", op: "approve", actor: bob, is: ErrAlreadyApproved, status: 409, want: StatusRequested, events: []string{"approval-refused " + bob}},
				{name: "fail/deliver-with-one-approval", op: "deliver", actor: bob, is: ErrNotApproved, status: 409, want: StatusRequested, events: []string{"delivery-refused " + bob}},
				{name: "ok/carol-approves", op: "approve", actor: carol, want: StatusApproved, events: []string{"approved " + carol}},
				{name: "ok/deliver", op: "deliver", actor: alice, want: StatusDelivered, events: []string{"delivered " + alice}},
				{name: "fail/deliver-twice", op: "deliver", actor: carol, is: ErrClosed, status: 409, want: StatusDelivered, events: []string{"delivery-refused " + carol}},
				{name: "fail/approve-after-delivery", op: "approve", actor: carol, is: ErrClosed, status: 409, want: StatusDelivered, events: []string{"approval-refused " + carol}},
				{name: "fail/reject-after-delivery", op: "reject", actor: bob, is: ErrClosed, status: 409, want: StatusDelivered, events: []string{"rejection-refused " + bob}},
			})
			if d == nil {
				t.Fatal("no delivery")
			}
			k, err := sm2.ParseEnvelopedPrivateKey(newKey, d.EnvelopedKey)
			if err != nil {
				t.Fatalf("the delivered key does not open with the deliver-to key: %v", err)
			}
			if k.D.Cmp(e.encKey.D) != 0 {
				t.Fatal("the recovered key is not the escrowed encryption key")
			}
			if _, err := sm2.ParseEnvelopedPrivateKey(e.signKey, d.EnvelopedKey); err == nil {
				t.Fatal("the delivered key opens with a key other than deliver-to")
			}
			if !bytes.Equal(d.EncCertificate.Raw, e.res.EncCertificate.Raw) {
				t.Error("delivery returned another certificate")
			}
			got, _ := f.kmc.Recovery(ctx, r.ID)
			if len(got.Approvals) != 2 || got.ClosedBy != alice {
				t.Errorf("approvals %+v closed by %q", got.Approvals, got.ClosedBy)
			}
			evs, err := f.kmc.EscrowEvents(ctx, e.res.EncSerial)
			if err != nil {
				t.Fatal(err)
			}
			if evs[0].What != EventEscrowed || evs[1].What != EventRequested || evs[1].Actor != alice || len(evs) != 12 {
				t.Errorf("escrow history: %d events, first %s, %s", len(evs), evs[0].What, evs[1].What)
			}
			for _, ev := range evs {
				if strings.Contains(ev.Detail, fmt.Sprintf("%x", e.encKey.D.Bytes())) {
					t.Fatal("an event holds the private key")
				}
			}
		})

		t.Run("fail/one-officer-alone", func(t *testing.T) {
			e := f.enrol(t, enterprise)
			_, d := runSteps(t, f, e, catest.SM2Key(t), []step{
				{name: "fail/approve", op: "approve", actor: alice, is: ErrSelfApproval, status: 403, want: StatusRequested, events: []string{"approval-refused " + alice}},
				{name: "fail/approve-again", op: "approve", actor: alice, is: ErrSelfApproval, status: 403, want: StatusRequested, events: []string{"approval-refused " + alice}},
				{name: "fail/deliver", op: "deliver", actor: alice, is: ErrNotApproved, status: 409, want: StatusRequested, events: []string{"delivery-refused " + alice}},
			})
			if d != nil {
				t.Fatal("one officer obtained the key")
			}
		})

		t.Run("fail/requester-plus-one", func(t *testing.T) {
			e := f.enrol(t, enterprise)
			_, d := runSteps(t, f, e, catest.SM2Key(t), []step{
				{name: "ok/bob-approves", op: "approve", actor: bob, want: StatusRequested, events: []string{"approved " + bob}},
				{name: "fail/requester-approves", op: "approve", actor: alice, is: ErrSelfApproval, status: 403, want: StatusRequested, events: []string{"approval-refused " + alice}},
				{name: "fail/deliver", op: "deliver", actor: bob, is: ErrNotApproved, status: 409, want: StatusRequested, events: []string{"delivery-refused " + bob}},
			})
			if d != nil {
				t.Fatal("requester and one approver obtained the key")
			}
		})

		t.Run("fail/rejected", func(t *testing.T) {
			e := f.enrol(t, enterprise)
			_, d := runSteps(t, f, e, catest.SM2Key(t), []step{
				{name: "ok/bob-approves", op: "approve", actor: bob, want: StatusRequested, events: []string{"approved " + bob}},
				{name: "ok/alice-withdraws", op: "reject", actor: alice, want: StatusRejected, events: []string{"rejected " + alice}},
				{name: "fail/carol-approves", op: "approve", actor: carol, is: ErrClosed, status: 409, want: StatusRejected, events: []string{"approval-refused " + carol}},
				{name: "fail/deliver", op: "deliver", actor: bob, is: ErrClosed, status: 409, want: StatusRejected, events: []string{"delivery-refused " + bob}},
			})
			if d != nil {
				t.Fatal("a rejected recovery was delivered")
			}
		})

		t.Run("ok/concurrent-approvals", func(t *testing.T) {
			e := f.enrol(t, enterprise)
			r, err := f.kmc.RequestRecovery(ctx, RecoveryRequest{EncSerial: e.res.EncSerial, Reason: "audit", DeliverTo: pemPublicKey(t, &catest.SM2Key(t).PublicKey), RequestedBy: alice})
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, who := range []string{bob, carol} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = f.kmc.Approve(ctx, r.ID, who)
				}()
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			got, _ := f.kmc.Recovery(ctx, r.ID)
			if got.Status != StatusApproved || len(got.Approvals) != 2 {
				t.Fatalf("after two concurrent approvals: %s with %d approvals", got.Status, len(got.Approvals))
			}
		})
	})
}

func TestRecoveryExpiry(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		e := f.enrol(t, enterprise)
		start := time.Now().UTC()
		f.clock.Set(start)
		r, err := f.kmc.RequestRecovery(ctx, RecoveryRequest{EncSerial: e.res.EncSerial, Reason: "court order", DeliverTo: pemPublicKey(t, &catest.SM2Key(t).PublicKey), RequestedBy: alice})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.kmc.Approve(ctx, r.ID, bob); err != nil {
			t.Fatal(err)
		}
		f.clock.Set(start.Add(DefaultRecoveryTTL + time.Second))
		tests := []struct {
			name string
			op   func() error
		}{
			{"fail/approve", func() error { _, err := f.kmc.Approve(ctx, r.ID, carol); return err }},
			{"fail/deliver", func() error { _, err := f.kmc.Deliver(ctx, r.ID, carol); return err }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) { wantError(t, tt.op(), ErrExpired, 409, "") })
		}
		t.Run("ok/reject-expired", func(t *testing.T) {
			got, err := f.kmc.Reject(ctx, r.ID, carol, "expired")
			if err != nil || got.Status != StatusRejected {
				t.Fatalf("Reject of an expired recovery: %v", err)
			}
		})
	})
}

func TestRecoveryRequestValidation(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		e := f.enrol(t, enterprise)
		good := pemPublicKey(t, &catest.SM2Key(t).PublicKey)
		tests := []struct {
			name   string
			mod    func(r *RecoveryRequest)
			is     error
			status int
			field  string
		}{
			{name: "ok/pem", mod: func(r *RecoveryRequest) {}},
			{name: "ok/der", mod: func(r *RecoveryRequest) {
				r.DeliverTo = mustDER(t, good)
			}},
			{name: "ok/serial-with-colons-upper-case", mod: func(r *RecoveryRequest) {
				r.EncSerial = strings.ToUpper(colons(r.EncSerial))
			}},
			{name: "fail/bad-serial", status: 400, field: "enc_serial", mod: func(r *RecoveryRequest) { r.EncSerial = "not-hex" }},
			{name: "fail/unknown-serial", is: ErrNotFound, status: 404, field: "enc_serial", mod: func(r *RecoveryRequest) { r.EncSerial = "1234abcd" }},
			{name: "fail/sign-serial-not-escrowed", is: ErrNotFound, status: 404, field: "enc_serial", mod: func(r *RecoveryRequest) { r.EncSerial = e.res.SignSerial }},
			{name: "fail/no-reason", status: 400, field: "reason", mod: func(r *RecoveryRequest) { r.Reason = "  " }},
			{name: "fail/long-reason", status: 400, field: "reason", mod: func(r *RecoveryRequest) { r.Reason = strings.Repeat("x", MaxReason+1) }},
			{name: "fail/control-in-reason", status: 400, field: "reason", mod: func(r *RecoveryRequest) { r.Reason = "a\x00b" }},
			{name: "fail/no-deliver-to", status: 400, field: "deliver_to", mod: func(r *RecoveryRequest) { r.DeliverTo = nil }},
			{name: "fail/deliver-to-ecdsa", is: ErrNotSM2, status: 400, field: "deliver_to", mod: func(r *RecoveryRequest) {
				r.DeliverTo = pemPublicKey(t, &catest.ECKey(t, elliptic.P256()).PublicKey)
			}},
			{name: "fail/deliver-to-garbage", status: 400, field: "deliver_to", mod: func(r *RecoveryRequest) { r.DeliverTo = []byte("garbage") }},
			{name: "fail/deliver-to-bad-der", status: 400, field: "deliver_to", mod: func(r *RecoveryRequest) { r.DeliverTo = []byte{0x30, 0x03, 0x02, 0x01, 0x00} }},
			{name: "fail/deliver-to-certificate-pem", status: 400, field: "deliver_to", mod: func(r *RecoveryRequest) {
				r.DeliverTo = []byte(pemCert(e.res.EncCertificate))
			}},
			{name: "fail/deliver-to-trailing-data", status: 400, field: "deliver_to", mod: func(r *RecoveryRequest) { r.DeliverTo = append(bytes.Clone(good), "junk"...) }},
			{name: "fail/deliver-to-oversized", status: 400, field: "deliver_to", mod: func(r *RecoveryRequest) {
				r.DeliverTo = bytes.Repeat([]byte("A"), MaxPublicKeyPEM+1)
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				req := RecoveryRequest{EncSerial: e.res.EncSerial, Reason: "lost token", DeliverTo: good, RequestedBy: alice}
				tt.mod(&req)
				before := f.count(t, "SELECT COUNT(*) FROM kmc_recoveries")
				r, err := f.kmc.RequestRecovery(ctx, req)
				if tt.status == 0 {
					if err != nil {
						t.Fatal(err)
					}
					if r.EncSerial != e.res.EncSerial || !bytes.Equal(r.DeliverTo, mustDER(t, good)) {
						t.Errorf("recovery %+v", r)
					}
					return
				}
				wantError(t, err, tt.is, tt.status, tt.field)
				if after := f.count(t, "SELECT COUNT(*) FROM kmc_recoveries"); after != before {
					t.Error("a refused request was stored")
				}
			})
		}
	})
}

func mustDER(t testing.TB, pemKey []byte) []byte {
	t.Helper()
	_, der, err := ParseDeliverTo(pemKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func colons(hex string) string {
	if len(hex)%2 == 1 {
		hex = "0" + hex
	}
	var parts []string
	for i := 0; i < len(hex); i += 2 {
		parts = append(parts, hex[i:i+2])
	}
	return strings.Join(parts, ":")
}

func TestEscrowTamper(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		other := make([]byte, MasterKeySize)
		if _, err := rand.Read(other); err != nil {
			t.Fatal(err)
		}
		otherKMC, err := New(f.CA, f.DB, other, WithLogger(catest.Discard()))
		if err != nil {
			t.Fatal(err)
		}
		exec := func(t *testing.T, q string, args ...any) {
			t.Helper()
			if _, err := f.DB.Exec(ctx, q, args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		flip := func(t *testing.T, serial, column string) {
			t.Helper()
			var b []byte
			if err := f.DB.QueryRow(ctx, "SELECT "+column+" FROM kmc_escrow WHERE enc_serial = ?", serial).Scan(&b); err != nil {
				t.Fatal(err)
			}
			b[len(b)/2] ^= 0x01
			exec(t, "UPDATE kmc_escrow SET "+column+" = ? WHERE enc_serial = ?", b, serial)
		}
		tests := []struct {
			name   string
			tamper func(t *testing.T, e, spare *enrolled)
			k      func() *Centre
			is     error
		}{
			{name: "fail/flipped-ciphertext-byte", is: ErrEscrowCorrupt, tamper: func(t *testing.T, e, _ *enrolled) {
				flip(t, e.res.EncSerial, "ciphertext")
			}},
			{name: "fail/flipped-nonce-byte", is: ErrEscrowCorrupt, tamper: func(t *testing.T, e, _ *enrolled) {
				flip(t, e.res.EncSerial, "nonce")
			}},
			{name: "fail/truncated-ciphertext", is: ErrEscrowCorrupt, tamper: func(t *testing.T, e, _ *enrolled) {
				exec(t, "UPDATE kmc_escrow SET ciphertext = ? WHERE enc_serial = ?", []byte{1, 2, 3}, e.res.EncSerial)
			}},
			{name: "fail/row-moved-to-another-serial", is: ErrEscrowCorrupt, tamper: func(t *testing.T, e, spare *enrolled) {
				// e's recovery now finds spare's sealed key under e's serial.
				exec(t, "DELETE FROM kmc_escrow WHERE enc_serial = ?", e.res.EncSerial)
				exec(t, "UPDATE kmc_escrow SET enc_serial = ? WHERE enc_serial = ?", e.res.EncSerial, spare.res.EncSerial)
			}},
			{name: "fail/other-key-sealed-for-this-serial", is: ErrEscrowCorrupt, tamper: func(t *testing.T, e, spare *enrolled) {
				// Correctly sealed for the serial, but not the certificate's key.
				nonce, box, err := f.kmc.seal(e.res.EncSerial, spare.encKey)
				if err != nil {
					t.Fatal(err)
				}
				exec(t, "UPDATE kmc_escrow SET nonce = ?, ciphertext = ? WHERE enc_serial = ?", nonce, box, e.res.EncSerial)
			}},
			{name: "fail/row-deleted", is: ErrEscrowCorrupt, tamper: func(t *testing.T, e, _ *enrolled) {
				exec(t, "DELETE FROM kmc_escrow WHERE enc_serial = ?", e.res.EncSerial)
			}},
			{name: "fail/wrong-master-key", is: ErrWrongMasterKey, k: func() *Centre { return otherKMC }, tamper: func(*testing.T, *enrolled, *enrolled) {}},
			{name: "fail/master-key-id-forged", is: ErrEscrowCorrupt, k: func() *Centre { return otherKMC }, tamper: func(t *testing.T, e, _ *enrolled) {
				exec(t, "UPDATE kmc_escrow SET master_key_id = ? WHERE enc_serial = ?", MasterKeyID(other), e.res.EncSerial)
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				k := f.kmc
				if tt.k != nil {
					k = tt.k()
				}
				e, spare := f.enrol(t, enterprise), f.enrol(t, enterprise)
				r, err := f.kmc.RequestRecovery(ctx, RecoveryRequest{EncSerial: e.res.EncSerial, Reason: "test", DeliverTo: pemPublicKey(t, &catest.SM2Key(t).PublicKey), RequestedBy: alice})
				if err != nil {
					t.Fatal(err)
				}
				for _, who := range []string{bob, carol} {
					if _, err := f.kmc.Approve(ctx, r.ID, who); err != nil {
						t.Fatal(err)
					}
				}
				tt.tamper(t, e, spare)
				d, err := k.Deliver(ctx, r.ID, alice)
				if d != nil {
					t.Fatal("a tampered escrow row was delivered")
				}
				wantError(t, err, tt.is, 500, "")
				if strings.Contains(err.Error(), fmt.Sprintf("%x", e.encKey.D.Bytes())) {
					t.Fatal("the error holds the private key")
				}
				got, _ := f.kmc.Recovery(ctx, r.ID)
				if got.Status != StatusApproved {
					t.Errorf("status after a failed delivery = %s, want approved", got.Status)
				}
				evs, _ := f.kmc.Events(ctx, r.ID)
				if last := evs[len(evs)-1]; last.What != EventDeliveryFailed || last.Actor != alice {
					t.Errorf("last event %s by %s, want delivery-failed by alice", last.What, last.Actor)
				}
			})
		}
	})
}
