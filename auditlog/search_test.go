package auditlog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

func TestSearch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := openLog(t, db, newKeys(t))
		const n = 120
		appendN(t, l, 0, n)
		at := func(i int) time.Time { return testBase.Add(time.Duration(i) * time.Second) }
		tests := []struct {
			name  string
			q     Query
			match func(e Entry) bool
		}{
			{"ok/all", Query{}, func(Entry) bool { return true }},
			{"ok/time-range", Query{From: at(10), To: at(50)}, func(e Entry) bool { return !e.Time.Before(at(10)) && e.Time.Before(at(50)) }},
			{"ok/actor", Query{Actor: "user-3"}, func(e Entry) bool { return e.Actor.Subject == "user-3" }},
			{"ok/department-actor-or-object", Query{Department: "gongan"}, func(e Entry) bool {
				return e.Actor.Department == "gongan" || e.Object.Department == "gongan"
			}},
			{"ok/action", Query{Action: "authn.login"}, func(e Entry) bool { return e.Action == "authn.login" }},
			{"ok/decision", Query{Decision: DecisionDeny}, func(e Entry) bool { return e.Decision == DecisionDeny }},
			{"ok/citizen-subject", Query{CitizenSubject: "citizen-5"}, func(e Entry) bool { return e.CitizenHash == CitizenHash(citizenKey, "citizen-5") }},
			{"ok/citizen-hash", Query{CitizenHash: CitizenHash(citizenKey, "citizen-0")}, func(e Entry) bool { return e.CitizenHash == CitizenHash(citizenKey, "citizen-0") }},
			{"ok/combined", Query{From: at(20), Department: "shebao", Decision: DecisionAllow, Action: "gateway.call"}, func(e Entry) bool {
				return !e.Time.Before(at(20)) && (e.Actor.Department == "shebao" || e.Object.Department == "shebao") && e.Decision == DecisionAllow && e.Action == "gateway.call"
			}},
			{"ok/no-match", Query{Actor: "nobody"}, func(Entry) bool { return false }},
		}
		// The search table holds a prefix of the log: none of it, part of it,
		// all of it. Results must not depend on where the prefix ends.
		for _, indexed := range []int{0, 37, n} {
			setSearchPrefix(t, db, indexed)
			for _, tc := range tests {
				t.Run(fmt.Sprintf("indexed=%d/%s", indexed, tc.name), func(t *testing.T) {
					var want []uint64
					for i := 0; i < n; i++ {
						e := testEntry(i)
						if tc.match(e) {
							want = append(want, uint64(i))
						}
					}
					for _, limit := range []int{0, 7} {
						q := tc.q
						q.Limit = limit
						var got []uint64
						for pages := 0; ; pages++ {
							if pages > n {
								t.Fatal("paging does not end")
							}
							page, err := l.Search(ctx, q)
							if err != nil {
								t.Fatal(err)
							}
							if limit > 0 && len(page.Entries) > limit {
								t.Fatalf("page of %d entries, limit %d", len(page.Entries), limit)
							}
							for _, e := range page.Entries {
								got = append(got, e.Index)
							}
							if page.Next == "" {
								break
							}
							q.Cursor = page.Next
						}
						if fmt.Sprint(got) != fmt.Sprint(want) {
							t.Fatalf("limit %d: got %v\nwant %v", limit, got, want)
						}
					}
				})
			}
		}
		page, err := l.Search(ctx, Query{Limit: 5})
		if err != nil {
			t.Fatal(err)
		}
		bad := []struct {
			name  string
			q     Query
			field string
		}{
			{"fail/limit", Query{Limit: MaxSearchLimit + 1}, "limit"},
			{"fail/decision", Query{Decision: "maybe"}, "decision"},
			{"fail/hash", Query{CitizenHash: "ABC"}, "subject_hash"},
			{"fail/range", Query{From: at(5), To: at(5)}, "to"},
			{"fail/cursor-garbage", Query{Cursor: "!!"}, "cursor"},
			{"fail/cursor-other-filter", Query{Actor: "user-1", Cursor: page.Next}, "cursor"},
			{"fail/long-actor", Query{Actor: strings.Repeat("a", MaxFieldLen+1)}, "actor"},
		}
		for _, tc := range bad {
			t.Run(tc.name, func(t *testing.T) {
				_, err := l.Search(ctx, tc.q)
				var qe *QueryError
				if !errors.As(err, &qe) || qe.Field != tc.field {
					t.Fatalf("err = %v, want QueryError on %s", err, tc.field)
				}
			})
		}
		noKey := NewReader(db)
		var qe *QueryError
		if _, err := noKey.Search(ctx, Query{CitizenSubject: "citizen-5"}); !errors.As(err, &qe) {
			t.Fatalf("subject search without a key: %v", err)
		}
	})
}

// setSearchPrefix makes the search table hold the first n entries of the
// log, as the sequencer leaves it between two copies.
func setSearchPrefix(t *testing.T, db *store.DB, n int) {
	t.Helper()
	ctx := context.Background()
	if _, err := db.Exec(ctx, "DELETE FROM audit_search"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, "INSERT INTO audit_search ("+searchColumns+") SELECT "+searchColumns+" FROM audit_entries WHERE idx < ?", n); err != nil {
		t.Fatal(err)
	}
}

// TestSearchCopyKeepsUp checks that the copy into the search table keeps
// up with batches larger than its chunk: a due copy takes the whole batch
// it commits, and a copy that could not take everything is repeated with
// the next batch rather than waiting for the interval.
func TestSearchCopyKeepsUp(t *testing.T) {
	db := storetest.SQLite(t)
	ctx := context.Background()
	l := openLog(t, db, newKeys(t))
	next := 0
	seq := func(n int) {
		t.Helper()
		if _, err := l.sequence(testItems(t, next, n)); err != nil {
			t.Fatal(err)
		}
		next += n
	}
	tail := func() int {
		t.Helper()
		var n int
		if err := db.QueryRow(ctx, "SELECT COUNT(*) FROM audit_entries WHERE "+searchTail).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	big := searchChunk + 1000
	l.seq.searchAt = time.Time{} // due
	seq(big)
	if n := tail(); n != 0 {
		t.Fatalf("after a due batch of %d: %d entries not copied", big, n)
	}
	l.seq.searchAt = time.Now() // not due: within the interval
	seq(big)
	if n := tail(); n != big {
		t.Fatalf("within the interval: %d entries not copied, want %d", n, big)
	}
	l.seq.searchAt = time.Time{} // due again, with more waiting than one copy takes
	seq(big)
	if n := tail(); n != 2*big-(searchChunk+big) {
		t.Fatalf("after a due batch with %d waiting: %d not copied, want %d", 2*big, n, 2*big-(searchChunk+big))
	}
	seq(1) // behind: copies again at once
	if n := tail(); n != 0 {
		t.Fatalf("after catching up: %d entries not copied", n)
	}
}
