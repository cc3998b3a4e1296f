package access_test

import (
	"context"
	"testing"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// While a proposal to bind an account waits for the target role's
// approval, the sysadmin must not be able to reset that account's password
// or one-time code (authn asks PendingBinding): else they reset both, the
// approver checks that the account is the officer's (it is) and approves,
// and the sysadmin signs in to the console as that officer with the
// password they set and a one-time code they enrol.
func TestPendingBindProtectsAccount(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		for _, req := range []access.ProposalRequest{
			{Kind: access.KindBind, Officer: "ra-1", User: "li"},
			{Kind: access.KindAdd, Officer: "ra-2", Role: access.RoleRA, User: "wang"},
		} {
			prop, _, err := f.o.Propose(ctx, f.sys, req)
			if err != nil {
				t.Fatal(err)
			}
			if name, err := f.o.PendingBinding(ctx, prop.UserID); err != nil || name == "" {
				t.Fatalf("%s proposal %s pending: PendingBinding(%s) = %q, %v; the sysadmin may reset the account's password and one-time code",
					req.Kind, prop.ID, req.User, name, err)
			}
		}
	})
}
