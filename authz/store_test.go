package authz_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/tongxing/tongxing/authz"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

func TestStoreAndLoader(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		key := newKey(t)
		s := authz.NewStore(db)
		eng := authz.NewEngine()
		l := &authz.Loader{Store: s, Verifier: verifier(t, key), Engine: eng}
		if _, err := l.LoadActive(ctx); !errors.Is(err, authz.ErrNoBundle) {
			t.Fatalf("empty store: %v", err)
		}
		one := signedBundle(t, key, "r-1")
		if _, err := s.Activate(ctx, "r-1", one, "officer:a"); err != nil {
			t.Fatal(err)
		}
		if rev, err := l.LoadActive(ctx); err != nil || rev != "r-1" || eng.Current().Revision() != "r-1" {
			t.Fatalf("load: %q %v", rev, err)
		}
		two := signedBundle(t, key, "r-2")
		if _, err := s.Activate(ctx, "r-2", two, "officer:b"); err != nil {
			t.Fatal(err)
		}
		if rev, _ := l.LoadActive(ctx); rev != "r-2" {
			t.Fatalf("after activating r-2: %q", rev)
		}
		if _, err := s.Activate(ctx, "r-1", two, "officer:c"); err == nil {
			t.Fatal("revision r-1 re-stored with other content")
		}
		// The older bundle, validly signed, cannot be brought back (it may
		// hold an agreement since withdrawn); the active one can be pushed
		// again, and the old policy rebuilt and signed anew goes in force.
		if _, err := s.Activate(ctx, "r-1", one, "officer:c"); !errors.Is(err, authz.ErrOlderBundle) {
			t.Fatalf("reactivate the older r-1: %v", err)
		}
		if rev, _ := l.LoadActive(ctx); rev != "r-2" {
			t.Fatalf("after refusing r-1: %q", rev)
		}
		if _, err := s.Activate(ctx, "r-2", two, "officer:c"); err != nil {
			t.Fatalf("push the active r-2 again: %v", err)
		}
		again := signedBundle(t, key, "r-1b")
		if _, err := s.Activate(ctx, "r-1b", again, "officer:c"); err != nil {
			t.Fatalf("activate the old policy rebuilt: %v", err)
		}
		if rev, _ := l.LoadActive(ctx); rev != "r-1b" {
			t.Fatalf("after activating r-1b: %q", rev)
		}
		// A bundle signed by another key in the table is refused; the
		// policy in force stays.
		forged := signedBundle(t, newKey(t), "r-3")
		if _, err := s.Activate(ctx, "r-3", forged, "attacker"); err != nil {
			t.Fatal(err)
		}
		if _, err := l.LoadActive(ctx); !errors.Is(err, authz.ErrSignature) {
			t.Fatalf("forged bundle: %v", err)
		}
		if eng.Current().Revision() != "r-1b" {
			t.Fatalf("policy in force changed to %s", eng.Current().Revision())
		}
		a, err := s.Active(ctx)
		if err != nil || a.Revision != "r-3" || !bytes.Equal(a.Bundle, forged) || a.ActivatedBy != "attacker" {
			t.Fatalf("active %+v %v", a, err)
		}
	})
}
