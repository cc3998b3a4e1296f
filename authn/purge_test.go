package authn

import (
	"testing"
	"time"

	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

func TestPurge(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		b, pt := e.browser(t), e.portal(portalA)
		tk := b.signIn(t, pt) // a session, a grant, a code, tokens
		_, u := pt.start()    // a pending login in another browser
		e.browser(t).get(u)
		if _, err := e.p.CheckPassword(t.Context(), "nobody", "x", "192.0.2.1:1"); err == nil {
			t.Fatal("wrong password accepted")
		}
		count := func(table string) int {
			var n int
			if err := db.QueryRow(t.Context(), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		tables := []string{"authn_logins", "authn_sessions", "authn_grants", "authn_codes", "authn_refresh_tokens", "authn_access_tokens", "authn_throttle"}
		// Nothing live is purged.
		if n, err := e.p.Purge(t.Context()); err != nil || n != 0 {
			t.Fatalf("purge of live records: %d, %v", n, err)
		}
		if st, _, _ := e.userinfo(t, "get", tk.tok.AccessToken); st != 200 {
			t.Errorf("access token after a purge: %d", st)
		}
		e.clk.Advance(25 * time.Hour)
		n, err := e.p.Purge(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, table := range tables {
			if c := count(table); c != 0 {
				t.Errorf("%s: %d rows left", table, c)
			}
		}
		if n < int64(len(tables)) {
			t.Errorf("purged %d rows", n)
		}
	})
}
