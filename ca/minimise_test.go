package ca_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/catest"
	"github.com/tongxing/tongxing/ca/ident"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// storedSubject returns the raw subject_json of the code with id.
func storedSubject(t testing.TB, db *store.DB, id string) string {
	t.Helper()
	var s string
	if err := db.QueryRow(context.Background(), "SELECT subject_json FROM ca_enrolment_codes WHERE id = ?", id).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// codesHoldingID counts the codes whose stored subject holds the full ID.
func codesHoldingID(t testing.TB, db *store.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), "SELECT COUNT(*) FROM ca_enrolment_codes WHERE subject_json LIKE ?", "%"+catest.CitizenID+"%").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCodeDataMinimisation is finding 6 of issue 9: ca_enrolment_codes
// holds a full ID number only while an unused, unexpired code's
// certificate will carry it.
func TestCodeDataMinimisation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := catest.New(t, catest.OnDB(db))
		citizen := ca.Subject{Name: catest.CitizenName, IDNumber: catest.CitizenID}

		t.Run("ok/pseudonym-profile-stores-only-the-pseudonym", func(t *testing.T) {
			code, c, err := f.CA.CreateCode(ctx, ca.NewCodeRequest{Profile: "citizen", Subject: citizen, CreatedBy: "officer:test"})
			if err != nil {
				t.Fatal(err)
			}
			raw := storedSubject(t, db, c.ID)
			if strings.Contains(raw, catest.CitizenID) || !strings.Contains(raw, pseudonymOf(catest.PseudonymKey, catest.CitizenID)) {
				t.Fatalf("stored subject %s", raw)
			}
			iss, err := f.CA.Enrol(ctx, ca.EnrolRequest{CSR: catest.PEMCSR(catest.CSR(t, catest.SM2Key(t))), Code: code})
			if err != nil {
				t.Fatal(err)
			}
			if iss.Certificate.Subject.SerialNumber != pseudonymOf(catest.PseudonymKey, catest.CitizenID) || iss.Certificate.Subject.CommonName != catest.CitizenName {
				t.Errorf("certificate subject %v", iss.Certificate.Subject)
			}
			if raw := storedSubject(t, db, c.ID); raw != "{}" {
				t.Errorf("subject after redemption: %s", raw)
			}
		})

		idc := catest.New(t, catest.OnDB(db), catest.WithCA(ca.WithProfiles(profilesWithIdentityCode(t))))
		t.Run("ok/identity-code-profile-keeps-the-number-until-used", func(t *testing.T) {
			code, c, err := idc.CA.CreateCode(ctx, ca.NewCodeRequest{Profile: "citizen", Subject: citizen, CreatedBy: "officer:test"})
			if err != nil {
				t.Fatal(err)
			}
			if raw := storedSubject(t, db, c.ID); !strings.Contains(raw, catest.CitizenID) {
				t.Fatalf("the certificate embeds the number, but the code dropped it: %s", raw)
			}
			iss, err := idc.CA.Enrol(ctx, ca.EnrolRequest{CSR: catest.PEMCSR(catest.CSR(t, catest.SM2Key(t))), Code: code})
			if err != nil {
				t.Fatal(err)
			}
			if id, ok, err := ident.IdentityCodeFrom(iss.Certificate.Extensions); err != nil || !ok || id != catest.CitizenID {
				t.Errorf("identity code %q %v %v", id, ok, err)
			}
			if raw := storedSubject(t, db, c.ID); raw != "{}" {
				t.Errorf("subject after redemption: %s", raw)
			}
		})
		t.Run("ok/expired-code-purged", func(t *testing.T) {
			_, c, err := idc.CA.CreateCode(ctx, ca.NewCodeRequest{Profile: "citizen", Subject: citizen, TTL: time.Hour, CreatedBy: "officer:test"})
			if err != nil {
				t.Fatal(err)
			}
			if n, _, err := idc.CA.PurgeCodes(ctx); err != nil || n != 0 {
				t.Fatalf("PurgeCodes before expiry: %d %v", n, err)
			}
			idc.Clock.Set(idc.Clock.Now().Add(time.Hour))
			n, _, err := idc.CA.PurgeCodes(ctx)
			if err != nil || n != 1 {
				t.Fatalf("PurgeCodes after expiry: purged %d, %v; want 1", n, err)
			}
			if raw := storedSubject(t, db, c.ID); raw != "{}" {
				t.Errorf("subject of an expired code: %s", raw)
			}
		})
		t.Run("ok/earlier-versions-codes-minimised", func(t *testing.T) {
			code := f.LegacyCode(t, "legacyid", "citizen", citizen)
			if codesHoldingID(t, db) != 1 {
				t.Fatal("the legacy code does not hold the number")
			}
			_, m, err := f.CA.PurgeCodes(ctx)
			if err != nil || m != 1 {
				t.Fatalf("PurgeCodes: minimised %d, %v; want 1", m, err)
			}
			if raw := storedSubject(t, db, "enr_legacyid"); strings.Contains(raw, catest.CitizenID) {
				t.Fatalf("legacy code still holds the number: %s", raw)
			}
			iss, err := f.CA.Enrol(ctx, ca.EnrolRequest{CSR: catest.PEMCSR(catest.CSR(t, catest.SM2Key(t))), Code: code})
			if err != nil {
				t.Fatalf("a minimised legacy code no longer works: %v", err)
			}
			if iss.Certificate.Subject.SerialNumber != pseudonymOf(catest.PseudonymKey, catest.CitizenID) {
				t.Errorf("certificate subject %v", iss.Certificate.Subject)
			}
		})
		t.Run("ok/table-holds-no-full-id-number", func(t *testing.T) {
			if n := codesHoldingID(t, db); n != 0 {
				t.Errorf("%d enrolment codes hold the full ID number", n)
			}
		})
		t.Run("fail/officer-supplied-pseudonym", func(t *testing.T) {
			_, _, err := f.CA.CreateCode(ctx, ca.NewCodeRequest{Profile: "citizen", Subject: ca.Subject{Name: catest.CitizenName, IDPseudonym: strings.Repeat("a", 64)}})
			requestError(t, err, "subject.id_pseudonym", 400)
		})
	})
}
