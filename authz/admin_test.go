package authz_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/authz"
	"github.com/tongxing/tongxing/problem"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// activation is one call of the Admin's Audit.
type activation struct {
	actor, revision string
	refused         bool
}

func TestAdmin(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		key := newKey(t)
		eng := authz.NewEngine()
		var audited []activation
		admin := &authz.Admin{
			Loader: &authz.Loader{Store: authz.NewStore(db), Verifier: verifier(t, key), Engine: eng},
			// The guard stands in for the officers' guard: it names the sysadmin.
			Guard: func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					h.ServeHTTP(w, r.WithContext(access.WithPrincipal(r.Context(), &access.Principal{Name: "sam", Role: access.RoleSysadmin})))
				})
			},
			Audit: func(_ context.Context, actor, _ string, a *authz.Active, refusal error) error {
				audited = append(audited, activation{actor, a.Revision, refusal != nil})
				return nil
			},
		}
		mux := http.NewServeMux()
		admin.Routes(mux)
		do := func(method string, body []byte) (*httptest.ResponseRecorder, authz.BundleJSON) {
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, httptest.NewRequest(method, "/authz/v1/bundle", bytes.NewReader(body)))
			var info authz.BundleJSON
			json.Unmarshal(w.Body.Bytes(), &info)
			return w, info
		}

		if w, info := do("GET", nil); w.Code != 200 || info.Revision != "" || info.Loaded != "" {
			t.Fatalf("GET before any bundle: %d %s", w.Code, w.Body)
		}
		tests := []struct {
			name     string
			body     []byte
			status   int
			field    string
			revision string // in force afterwards
			audit    *activation
		}{
			{name: "ok/activate", body: signedBundle(t, key, "r-1"), status: 200, revision: "r-1", audit: &activation{"officer:sam", "r-1", false}},
			{name: "fail/other-signer", body: signedBundle(t, newKey(t), "r-2"), status: 422, field: "bundle", revision: "r-1", audit: &activation{"officer:sam", "?", true}},
			{name: "fail/not-a-bundle", body: []byte("not gzip"), status: 422, field: "bundle", revision: "r-1", audit: &activation{"officer:sam", "?", true}},
			{name: "fail/revision-with-other-content", body: signedBundle(t, key, "r-1"), status: 409, field: "bundle", revision: "r-1", audit: &activation{"officer:sam", "?", true}},
			{name: "ok/second", body: signedBundle(t, key, "r-3"), status: 200, revision: "r-3", audit: &activation{"officer:sam", "r-3", false}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				audited = nil
				w, info := do("PUT", tt.body)
				if w.Code != tt.status {
					t.Fatalf("PUT: %d %s, want %d", w.Code, w.Body, tt.status)
				}
				if tt.status == 200 && (info.Revision != tt.revision || info.Loaded != tt.revision || info.ActivatedBy != "officer:sam" || info.SHA256 == "") {
					t.Fatalf("PUT answered %+v", info)
				}
				if tt.status != 200 {
					var p problem.Details
					if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Field != tt.field {
						t.Fatalf("problem %s (%v), want field %q", w.Body, err, tt.field)
					}
				}
				if len(audited) != 1 || audited[0] != *tt.audit {
					t.Errorf("audited %+v, want %+v", audited, *tt.audit)
				}
				if got := eng.Current().Revision(); got != tt.revision {
					t.Errorf("in force: %s, want %s", got, tt.revision)
				}
				if w, info := do("GET", nil); w.Code != 200 || info.Loaded != tt.revision || info.Revision != tt.revision {
					t.Errorf("GET: %d %s", w.Code, w.Body)
				}
			})
		}

		t.Run("fail/unsigned-development-policy", func(t *testing.T) {
			audited = nil
			admin.Unsigned = true
			defer func() { admin.Unsigned = false }()
			w, _ := do("PUT", signedBundle(t, key, "r-4"))
			if w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), "unsigned development policy") || len(audited) != 0 {
				t.Fatalf("%d %s, audited %v", w.Code, w.Body, audited)
			}
		})
	})
}
