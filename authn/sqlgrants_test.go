package authn

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// TestRedeem drives sqlStore.redeem, the one redemption of codes and
// refresh tokens, on both databases: what it records, and what a
// rejection, a replay and a disabled account leave behind.
func TestRedeem(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Unix(1_800_000_000, 0)
		users := NewUsers(db, nil, func() time.Time { return now })
		u, err := users.AddUser(ctx, NewUser{Username: "redeemer", Password: "correct horse battery"})
		if err != nil {
			t.Fatal(err)
		}
		st := newSQLStore(db)
		grantID := func(t *testing.T, code string) string {
			t.Helper()
			g := &grant{ID: newID(), ClientID: "portal", UserID: u.ID, SessionID: "sid", Scopes: []string{ScopeOpenID, ScopeProfile},
				AuthTime: now, ACR: ACRPassword, AMR: []string{amrPassword}}
			if err := st.issueCode(ctx, g, code, "https://rp.example/cb", "challenge", now, now.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			return g.ID
		}
		issue := func() *issued {
			return &issued{jti: newID(), refresh: refreshTokenPrefix + newSecret(), accessExpires: now.Add(time.Minute), refreshExpires: now.Add(time.Hour)}
		}
		accept := func(rd *redeemed) ([]string, error) {
			if rd.Used {
				return nil, errReused
			}
			return rd.Scopes[:1], nil
		}
		refuse := errors.New("refused by decide")

		tests := []struct {
			name   string
			setup  func(t *testing.T, code string) // before the redemption under test
			kind   secretKind
			decide func(*redeemed) ([]string, error)
			want   error
			// revoked: the grant is revoked afterwards; recorded: the
			// new tokens are in the database.
			revoked, recorded bool
		}{
			{name: "ok/code", kind: secretCode, decide: accept, recorded: true},
			{name: "fail/unknown", setup: func(*testing.T, string) {}, kind: secretRefresh, decide: accept, want: errUnknownSecret},
			{name: "fail/decide-refuses", kind: secretCode, decide: func(*redeemed) ([]string, error) { return nil, refuse }, want: refuse},
			{name: "fail/replayed", setup: func(t *testing.T, code string) {
				if _, err := st.redeem(ctx, secretCode, code, now, issue(), accept); err != nil {
					t.Fatal(err)
				}
			}, kind: secretCode, decide: accept, want: errReused, revoked: true},
			{name: "fail/disabled-account", setup: func(t *testing.T, _ string) {
				if _, err := db.Exec(ctx, "UPDATE authn_users SET disabled_at = ? WHERE id = ?", now.UnixNano(), u.ID); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _, _ = db.Exec(ctx, "UPDATE authn_users SET disabled_at = NULL WHERE id = ?", u.ID) })
			}, kind: secretCode, decide: accept, want: errAccountDisabled},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				code := newSecret()
				gid := grantID(t, code)
				if tc.setup != nil {
					tc.setup(t, code)
				}
				is := issue()
				rd, err := st.redeem(ctx, tc.kind, code, now, is, tc.decide)
				if !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
				if tc.want == nil && (rd.ID != gid || rd.UserID != u.ID || rd.RedirectURI != "https://rp.example/cb" || rd.CodeChallenge != "challenge") {
					t.Errorf("redeemed %+v, want grant %s of %s with its redirect URI and challenge", rd, gid, u.ID)
				}
				var revoked bool
				if err := db.QueryRow(ctx, "SELECT revoked_at IS NOT NULL FROM authn_grants WHERE id = ?", gid).Scan(&revoked); err != nil {
					t.Fatal(err)
				}
				if revoked != tc.revoked {
					t.Errorf("grant revoked = %v, want %v", revoked, tc.revoked)
				}
				at, err := st.accessToken(ctx, is.jti)
				if err != nil {
					t.Fatal(err)
				}
				if (at != nil) != tc.recorded {
					t.Fatalf("access token recorded = %v, want %v", at != nil, tc.recorded)
				}
				if !tc.recorded {
					return
				}
				if !slices.Equal(is.scopes, []string{ScopeOpenID}) || at.GrantID != gid || !at.live(now) || at.live(now.Add(time.Minute)) {
					t.Errorf("issued scopes %v, access record %+v", is.scopes, at)
				}
				// The new refresh token redeems once, with the grant's
				// scope; a second time revokes the grant.
				rr, err := st.refreshToken(ctx, is.refresh)
				if err != nil || rr == nil || rr.Scope != "openid profile" || rr.Used {
					t.Fatalf("refresh record %+v, %v", rr, err)
				}
				if _, err := st.redeem(ctx, secretRefresh, is.refresh, now, issue(), accept); err != nil {
					t.Fatal(err)
				}
				if _, err := st.redeem(ctx, secretRefresh, is.refresh, now, issue(), accept); !errors.Is(err, errReused) {
					t.Fatalf("second refresh: err = %v, want errReused", err)
				}
				if at, err := st.accessToken(ctx, is.jti); err != nil || at.live(now) {
					t.Errorf("after a replayed refresh token the first access token is %+v, %v; want revoked", at, err)
				}
			})
		}
	})
}

// TestRevokeAccess checks that only the client an access token was issued
// to revokes it, once.
func TestRevokeAccess(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Unix(1_800_000_000, 0)
		st := newSQLStore(db)
		if err := st.recordServiceToken(ctx, "jti-1", "svc-a", "", "", []string{"dept:b"}, "read", now, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name, client string
			want         bool
		}{
			{"fail/other-client", "svc-b", false},
			{"ok/owner", "svc-a", true},
			{"fail/already-revoked", "svc-a", false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := st.revokeAccess(ctx, "jti-1", tc.client, now)
				if err != nil || got != tc.want {
					t.Fatalf("revokeAccess = %v, %v; want %v", got, err, tc.want)
				}
			})
		}
		rec, err := st.serviceToken(ctx, "jti-1")
		if err != nil || rec == nil || rec.live(now) || rec.ClientID != "svc-a" {
			t.Fatalf("service token record %+v, %v; want svc-a's, revoked", rec, err)
		}
	})
}
