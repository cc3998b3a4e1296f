package authn

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

type userIDs struct{ u *Users }

func (d userIDs) UserID(ctx context.Context, name string) (string, error) {
	u, err := d.u.ByUsername(ctx, name)
	if err != nil {
		return "", err
	}
	return u.ID, nil
}

// The sysadmin proposes binding an officer's own sign-on account (with
// the officer's one-time code) to ra-1, then, while the proposal waits for
// a registration officer's approval, resets its one-time code and sets a
// password of their own. The approver checks the account is ra-1's (it
// is) and approves: the sysadmin now signs in as ra-1. The reset must be
// refused while the proposal is pending, as it is once the binding holds.
func TestNoResetWhileBindPending(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		p := newTestProvider(t, db, newClock())
		if _, err := p.Users().AddUser(ctx, NewUser{Username: testUser, Password: testPassword}); err != nil {
			t.Fatal(err)
		}
		officers := access.New(db, access.WithLogger(discardLogger()), access.WithUsers(userIDs{p.Users()}))
		first, err := officers.Bootstrap(ctx, "system:init")
		if err != nil {
			t.Fatal(err)
		}
		var sysTok string
		for _, f := range first {
			if f.Role == access.RoleSysadmin {
				sysTok = f.Token
			}
		}
		sys, err := officers.Authenticate(ctx, sysTok)
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		p.AdminRoutes(mux, officers.Require, officers) // as the server wires it
		if _, _, err := officers.Propose(ctx, sys, access.ProposalRequest{Kind: access.KindBind, Officer: "ra-1", User: testUser}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct{ path, body string }{
			{"/authn/v1/users/" + testUser + "/totp-reset", ``},
			{"/authn/v1/users/" + testUser + "/password", `{"password":"sysadmin-knows-this-1"}`},
		} {
			r := httptest.NewRequest("POST", tc.path, bytes.NewReader([]byte(tc.body)))
			r.Header.Set("Authorization", "Bearer "+sysTok)
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, r)
			if w.Code != http.StatusForbidden {
				t.Errorf("POST %s while the bind proposal is pending: %d, want 403", tc.path, w.Code)
			}
		}
	})
}
