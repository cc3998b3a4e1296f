package authz_test

import (
	"context"
	"testing"

	"github.com/tongxing/tongxing/authz"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

func TestPolicyView(t *testing.T) {
	p := examplePolicy(t)
	as := p.Agreements()
	if len(as) == 0 {
		t.Fatal("the example policy shows no agreements")
	}
	found := false
	for i, a := range as {
		if i > 0 && as[i-1].Consumer > a.Consumer {
			t.Errorf("agreements not sorted: %s after %s", a.Consumer, as[i-1].Consumer)
		}
		if a.ID == "" || a.ApprovedBy == "" || len(a.Purposes) == 0 {
			t.Errorf("agreement %+v lacks its id, approval or purposes", a)
		}
		found = found || (a.Consumer == "renshe" && a.Resource == "gongan.household")
	}
	if !found {
		t.Errorf("renshe's agreement on gongan.household is missing: %+v", as)
	}
	rs := p.Catalogue().Resources()
	if len(rs) == 0 || rs[0].ID == "" || rs[0].Owner == "" {
		t.Fatalf("resources: %+v", rs)
	}
	for i := 1; i < len(rs); i++ {
		if rs[i-1].ID >= rs[i].ID {
			t.Errorf("resources not sorted: %s, %s", rs[i-1].ID, rs[i].ID)
		}
	}
}

func TestRevisions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		key := newKey(t)
		s := authz.NewStore(db)
		for _, rev := range []string{"r-1", "r-2"} {
			if _, err := s.Activate(ctx, rev, signedBundle(t, key, rev), "officer:"+rev); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Revisions(ctx, 10)
		if err != nil || len(got) != 2 || got[0].Revision != "r-2" || got[1].ActivatedBy != "officer:r-1" || len(got[0].SHA256) != 64 {
			t.Fatalf("revisions %+v %v", got, err)
		}
		if _, err := s.Revisions(ctx, 0); err == nil {
			t.Error("limit 0 accepted")
		}
	})
}
