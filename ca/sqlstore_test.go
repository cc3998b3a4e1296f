package ca_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// record returns an inventory record with placeholder DER.
func record(serial, profile string, status ca.Status, subject string, created time.Time) *ca.Record {
	return &ca.Record{
		Serial: serial, Issuer: "gm-issuing", Profile: profile, Suite: kms.GM, Subject: subject,
		NotBefore: created.Add(-time.Minute), NotAfter: created.Add(24 * time.Hour), Status: status,
		DER: []byte{0x30, 0x03, 0x02, 0x01, byte(len(serial))}, RequestedBy: "officer:test", CreatedAt: created,
	}
}

func serials(recs []*ca.Record) string {
	s := make([]string, len(recs))
	for i, r := range recs {
		s[i] = r.Serial
	}
	return strings.Join(s, ",")
}

func TestSQLStoreCertificates(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := ca.NewSQLStore(db)
		defer s.Close()
		t0 := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
		recs := []*ca.Record{
			record("a1", "citizen", ca.StatusValid, "SERIALNUMBER=ab12,CN=Alice,C=CN", t0),
			record("a2", "citizen", ca.StatusRevoked, "CN=Bob,C=CN", t0.Add(time.Second)),
			record("b3", "service", ca.StatusValid, "CN=api.tax.example,OU=tax", t0.Add(2*time.Second)),
			// b4 and b5 share created_at: the cursor orders them by serial.
			record("b5", "enterprise-sign", ca.StatusValid, "CN=100x Co,O=100x Co", t0.Add(3*time.Second)),
			record("b4", "enterprise-sign", ca.StatusHold, "CN=100%_Co,O=100%_Co", t0.Add(3*time.Second)),
			record("c6", "enterprise-sign", ca.StatusValid, "CN=李四,O=福州示例科技有限公司", t0.Add(4*time.Second)),
		}
		for _, r := range recs {
			if err := s.Record(ctx, "", r); err != nil {
				t.Fatalf("Record(%s): %v", r.Serial, err)
			}
		}
		tests := []struct {
			name   string
			filter ca.Filter
			want   string
		}{
			{"ok/all-oldest-first", ca.Filter{}, "a1,a2,b3,b4,b5,c6"},
			{"ok/profile", ca.Filter{Profile: "citizen"}, "a1,a2"},
			{"ok/status-revoked", ca.Filter{Status: ca.StatusRevoked}, "a2"},
			{"ok/status-hold", ca.Filter{Status: ca.StatusHold}, "b4"},
			{"ok/profile-and-status", ca.Filter{Profile: "enterprise-sign", Status: ca.StatusValid}, "b5,c6"},
			{"ok/subject-substring", ca.Filter{Subject: "Alice"}, "a1"},
			{"ok/subject-attribute", ca.Filter{Subject: "OU=tax"}, "b3"},
			{"ok/subject-chinese", ca.Filter{Subject: "示例科技"}, "c6"},
			{"ok/subject-percent-is-literal", ca.Filter{Subject: "100%"}, "b4"},
			{"ok/subject-underscore-is-literal", ca.Filter{Subject: "%_C"}, "b4"},
			{"ok/subject-backslash-is-literal", ca.Filter{Subject: `\`}, ""},
			{"ok/subject-no-match", ca.Filter{Subject: "Carol"}, ""},
			// One rule on every backend: SQLite's LIKE ignores ASCII case,
			// so PostgreSQL must too.
			{"ok/subject-ignores-ascii-case", ca.Filter{Subject: "cn=alice"}, "a1"},
			{"ok/limit", ca.Filter{Limit: 2}, "a1,a2"},
			{"ok/after", ca.Filter{After: "a2"}, "b3,b4,b5,c6"},
			{"ok/after-same-second", ca.Filter{After: "b4"}, "b5,c6"},
			{"ok/after-with-limit", ca.Filter{After: "b4", Limit: 1}, "b5"},
			{"ok/after-with-profile", ca.Filter{After: "a1", Profile: "citizen"}, "a2"},
			{"ok/after-last", ca.Filter{After: "c6"}, ""},
			{"ok/after-unknown-cursor", ca.Filter{After: "ffff"}, ""},
			{"ok/all-filters", ca.Filter{Profile: "enterprise-sign", Status: ca.StatusValid, Subject: "O=", After: "b4", Limit: 1}, "b5"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s.Certificates(ctx, tt.filter)
				if err != nil {
					t.Fatal(err)
				}
				if serials(got) != tt.want {
					t.Errorf("Certificates(%+v) = [%s], want [%s]", tt.filter, serials(got), tt.want)
				}
			})
		}
		t.Run("ok/paging-visits-each-once", func(t *testing.T) {
			var all []string
			f := ca.Filter{Limit: 2}
			for range 10 {
				page, err := s.Certificates(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) == 0 {
					break
				}
				all = append(all, serials(page))
				f.After = page[len(page)-1].Serial
			}
			if got := strings.Join(all, ","); got != "a1,a2,b3,b4,b5,c6" {
				t.Errorf("pages %v", all)
			}
		})
		t.Run("ok/certificate-round-trip", func(t *testing.T) {
			want := recs[5]
			got, err := s.Certificate(ctx, want.Serial)
			if err != nil {
				t.Fatal(err)
			}
			if got.Serial != want.Serial || got.Issuer != want.Issuer || got.Profile != want.Profile || got.Suite != want.Suite ||
				got.Subject != want.Subject || !got.NotBefore.Equal(want.NotBefore) || !got.NotAfter.Equal(want.NotAfter) ||
				got.Status != want.Status || string(got.DER) != string(want.DER) || got.RequestedBy != want.RequestedBy ||
				!got.CreatedAt.Equal(want.CreatedAt) || got.CreatedAt.Location() != time.UTC {
				t.Errorf("Certificate = %+v, want %+v", got, want)
			}
		})
		t.Run("fail/certificate-unknown", func(t *testing.T) {
			if _, err := s.Certificate(ctx, "dead"); !errors.Is(err, ca.ErrNotFound) {
				t.Errorf("Certificate(unknown) = %v, want ErrNotFound", err)
			}
		})
		t.Run("fail/duplicate-serial", func(t *testing.T) {
			dup := record("a1", "service", ca.StatusValid, "CN=dup", t0.Add(time.Hour))
			if err := s.Record(ctx, "", dup); err == nil {
				t.Fatal("a second record with serial a1 was accepted")
			}
			got, _ := s.Certificate(ctx, "a1")
			if got == nil || got.Subject != recs[0].Subject {
				t.Errorf("the duplicate replaced the original: %+v", got)
			}
		})
	})
}

// storedCode makes a code binding as Authority.CreateCode would.
func storedCode(id string, created, expires time.Time) *ca.Code {
	h := sha256.Sum256([]byte(id))
	return &ca.Code{ID: id, Hash: h[:], Profile: "service", Subject: ca.Subject{Department: "tax", Service: "api", DNSNames: []string{"a.example", "b.example"}},
		CreatedBy: "officer:rita", CreatedAt: created, ExpiresAt: expires}
}

func TestSQLStoreCodes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := ca.NewSQLStore(db)
		defer s.Close()
		now := time.Now().UTC().Truncate(time.Second)
		live := storedCode("enr_live", now, now.Add(time.Hour))
		used := storedCode("enr_used", now, now.Add(time.Hour))
		expired := storedCode("enr_expired", now.Add(-2*time.Hour), now.Add(-time.Hour))
		for _, c := range []*ca.Code{live, used, expired} {
			if err := s.CreateCode(ctx, c); err != nil {
				t.Fatalf("CreateCode(%s): %v", c.ID, err)
			}
		}
		if err := s.Record(ctx, used.ID, record("u0", "service", ca.StatusValid, "CN=u0", now)); err != nil {
			t.Fatalf("redeem %s: %v", used.ID, err)
		}

		t.Run("ok/code-round-trip", func(t *testing.T) {
			got, err := s.CodeByHash(ctx, live.Hash)
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != live.ID || got.Profile != live.Profile || got.CreatedBy != live.CreatedBy || !got.CreatedAt.Equal(live.CreatedAt) ||
				!got.ExpiresAt.Equal(live.ExpiresAt) || !got.UsedAt.IsZero() || string(got.Hash) != string(live.Hash) ||
				fmt.Sprint(got.Subject) != fmt.Sprint(live.Subject) || strings.Join(got.Subject.DNSNames, ",") != "a.example,b.example" {
				t.Errorf("CodeByHash = %+v, want %+v", got, live)
			}
		})
		t.Run("ok/used-code-marked", func(t *testing.T) {
			got, err := s.CodeByHash(ctx, used.Hash)
			if err != nil || got.UsedAt.IsZero() {
				t.Errorf("used code: %+v, %v", got, err)
			}
		})
		t.Run("fail/code-unknown-hash", func(t *testing.T) {
			if _, err := s.CodeByHash(ctx, make([]byte, 32)); !errors.Is(err, ca.ErrNotFound) {
				t.Errorf("CodeByHash(unknown) = %v, want ErrNotFound", err)
			}
		})
		t.Run("fail/code-duplicate-id", func(t *testing.T) {
			dup := storedCode("enr_other", now, now.Add(time.Hour))
			dup.ID = live.ID
			if err := s.CreateCode(ctx, dup); err == nil {
				t.Error("a second code with the same ID was accepted")
			}
		})

		redeem := []struct {
			name   string
			code   string
			status int
			is     error
		}{
			{"fail/redeem-used", used.ID, 409, ca.ErrCodeUsed},
			{"fail/redeem-expired", expired.ID, 403, ca.ErrCodeExpired},
			{"fail/redeem-unknown", "enr_nope", 403, ca.ErrNotFound},
		}
		for i, tt := range redeem {
			t.Run(tt.name, func(t *testing.T) {
				serial := fmt.Sprintf("f%d", i)
				err := s.Record(ctx, tt.code, record(serial, "service", ca.StatusValid, "CN=x", now))
				requestError(t, err, "enrolment_code", tt.status)
				if !errors.Is(err, tt.is) {
					t.Errorf("error %v is not %v", err, tt.is)
				}
				if _, err := s.Certificate(ctx, serial); !errors.Is(err, ca.ErrNotFound) {
					t.Errorf("certificate %s stored although its code was refused", serial)
				}
			})
		}
		t.Run("ok/redeem-live", func(t *testing.T) {
			if err := s.Record(ctx, live.ID, record("l1", "service", ca.StatusValid, "CN=l1", now)); err != nil {
				t.Fatal(err)
			}
			if err := s.Record(ctx, live.ID, record("l2", "service", ca.StatusValid, "CN=l2", now)); !errors.Is(err, ca.ErrCodeUsed) {
				t.Errorf("second redemption: %v, want ErrCodeUsed", err)
			}
		})
		t.Run("fail/cancelled-context", func(t *testing.T) {
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			if err := s.Record(cctx, "", record("cc", "service", ca.StatusValid, "CN=cc", now)); !errors.Is(err, context.Canceled) {
				t.Errorf("Record with a cancelled context = %v, want context.Canceled", err)
			}
			if _, err := s.Certificate(ctx, "cc"); !errors.Is(err, ca.ErrNotFound) {
				t.Error("a record with a cancelled context was stored")
			}
		})
	})
}

// TestSQLStoreGroupCommit records from many goroutines at once: every record
// is stored, and one bad record fails only itself when it is refused for its
// code.
func TestSQLStoreGroupCommit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := ca.NewSQLStore(db)
		now := time.Now().UTC().Truncate(time.Second)
		const n = 100
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code := ""
				if i%10 == 0 {
					code = "enr_missing" // refused; must not fail the batch
				}
				errs[i] = s.Record(ctx, code, record(fmt.Sprintf("%04x", i+1), "service", ca.StatusValid, "CN=x", now))
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if i%10 == 0 {
				if !errors.Is(err, ca.ErrNotFound) {
					t.Errorf("record %d with an unknown code: %v", i, err)
				}
			} else if err != nil {
				t.Errorf("record %d: %v", i, err)
			}
		}
		got, err := s.Certificates(ctx, ca.Filter{Limit: 1000})
		if err != nil || len(got) != n-n/10 {
			t.Fatalf("%d records stored (%v), want %d", len(got), err, n-n/10)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if err := s.Record(ctx, "", record("late", "service", ca.StatusValid, "CN=late", now)); err == nil {
			t.Error("Record after Close succeeded")
		}
	})
}
