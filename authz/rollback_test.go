package authz_test

import (
	"archive/tar"
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/authz"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// appendEntry returns the .tar.gz bundle tgz with one more archive entry
// of type flag named name holding body.
func appendEntry(t *testing.T, tgz []byte, flag byte, name string, body []byte) []byte {
	keep := func(_ string, b []byte) []byte { return b }
	return rewriteAdd(t, tgz, keep, map[*tar.Header][]byte{{Typeflag: flag, Name: name, Mode: 0o644, Format: tar.FormatPAX}: body})
}

// A sysadmin holding an older signed bundle (built, signed, never put in
// force, or superseded before it was) must not activate it over a newer
// one: the build time in the signed manifest decides. The store reads that
// time from every archive entry named .manifest, OPA's reader (which
// verifies the signature) only from regular files: an extra entry of
// another type ('7', contiguous file) carrying a later build time is
// ignored by the signature check and believed by the age check.
func TestOlderBundleCannotBeSmuggledIn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		key := newKey(t)
		eng := authz.NewEngine()
		admin := &authz.Admin{
			Loader: &authz.Loader{Store: authz.NewStore(db), Verifier: verifier(t, key), Engine: eng},
			Guard: func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					h.ServeHTTP(w, r.WithContext(access.WithPrincipal(r.Context(), &access.Principal{Name: "sam", Role: access.RoleSysadmin})))
				})
			},
			Audit: func(context.Context, string, string, *authz.Active, error) error { return nil },
		}
		mux := http.NewServeMux()
		admin.Routes(mux)
		put := func(body []byte) *httptest.ResponseRecorder {
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, httptest.NewRequest("PUT", "/authz/v1/bundle", bytes.NewReader(body)))
			return w
		}
		old := signedBundle(t, key, "r-old") // e.g. with an agreement later withdrawn
		if w := put(signedBundle(t, key, "r-new")); w.Code != 200 {
			t.Fatalf("activate r-new: %d %s", w.Code, w.Body)
		}
		if w := put(old); w.Code != http.StatusConflict {
			t.Fatalf("the older r-old as built: %d %s, want 409", w.Code, w.Body)
		}
		forged := appendEntry(t, old, tar.TypeCont, ".manifest",
			[]byte(`{"revision":"r-old","roots":["tongxing"],"metadata":{"tongxing_built":"2099-01-01T00:00:00Z"}}`))
		w := put(forged)
		if got := eng.Current().Revision(); w.Code == 200 || got != "r-new" {
			t.Fatalf("older bundle with a smuggled build time: %d, policy in force %s (want the refusal and r-new)", w.Code, got)
		}
	})
}
