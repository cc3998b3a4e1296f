package console

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/authz"
	"github.com/tongxing/tongxing/policies"
	"github.com/tongxing/tongxing/store/storetest"
)

// bundleOf is the example policy as a bundle of revision signed by key.
func bundleOf(t *testing.T, key *ecdsa.PrivateKey, revision string) []byte {
	t.Helper()
	b, err := authz.Build(policies.FS, revision)
	if err != nil {
		t.Fatal(err)
	}
	if err := authz.Sign(b, key); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := authz.Write(&buf, b); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// upload is a multipart POST of file as the bundle field.
func upload(t *testing.T, csrf string, file []byte) (*bytes.Buffer, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("csrf_token", csrf)
	if file != nil {
		fw, _ := mw.CreateFormFile("bundle", "policy.tar.gz")
		fw.Write(file)
	}
	mw.Close()
	return &body, mw.FormDataContentType()
}

func TestUploadBundle(t *testing.T) {
	f := newFixture(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	v, err := authz.NewVerifier(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	st, eng := authz.NewStore(storetest.SQLite(t)), authz.NewEngine()
	type activation struct {
		actor, source string
		refused       bool
	}
	var audited []activation
	admin := &authz.Admin{Loader: &authz.Loader{Store: st, Verifier: v, Engine: eng},
		Guard: func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if p, ok := access.PrincipalFrom(r.Context()); !ok || !p.Has(access.RoleSysadmin) {
					http.Error(w, "forbidden", http.StatusForbidden)
					return
				}
				next.ServeHTTP(w, r)
			})
		},
		Audit: func(_ context.Context, actor, source string, _ *authz.Active, refusal error) error {
			audited = append(audited, activation{actor, source, refusal != nil})
			return nil
		}}
	mux := http.NewServeMux()
	admin.Routes(mux)
	f.c.d.Bundles = mux
	f.c.d.Policies = consolePolicyView{eng, st}

	sys := f.cookie(t, "u-sys", "sys", access.RoleSysadmin, time.Minute, time.Minute)
	token := f.c.csrf.Token("sid-sys")
	if w := f.do("GET", "/console/admin/policies", sys, nil); !strings.Contains(w.Body.String(), `enctype="multipart/form-data"`) {
		t.Fatalf("no upload form: %d\n%s", w.Code, w.Body)
	}
	for _, tc := range []struct {
		name    string
		c       *http.Cookie
		csrf    string
		file    []byte
		status  int
		want    string
		audited bool
	}{
		{"fail/no-csrf", sys, "x", bundleOf(t, key, "r-1"), http.StatusForbidden, "", false},
		{"fail/stale-sign-in", f.cookie(t, "u-sys", "sys", access.RoleSysadmin, 10*time.Minute, time.Minute), token, bundleOf(t, key, "r-1"), http.StatusSeeOther, "", false},
		{"fail/auditor", f.cookie(t, "u-aud", "aud", access.RoleAuditor, time.Minute, time.Minute), f.c.csrf.Token("sid-aud"), bundleOf(t, key, "r-1"), http.StatusForbidden, "", false},
		{"fail/no-file", sys, token, nil, http.StatusBadRequest, "请选择策略包文件", false},
		{"fail/other-signer", sys, token, bundleOf(t, stranger, "r-x"), http.StatusUnprocessableEntity, `role="alert"`, true},
		{"fail/not-a-bundle", sys, token, []byte("not gzip"), http.StatusUnprocessableEntity, `role="alert"`, true},
		{"ok/activate", sys, token, bundleOf(t, key, "r-1"), http.StatusSeeOther, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			audited = nil
			body, ctype := upload(t, tc.csrf, tc.file)
			r := httptest.NewRequest("POST", "/console/admin/policies", body)
			r.Header.Set("Content-Type", ctype)
			r.RemoteAddr = "198.51.100.7:4444"
			r.AddCookie(tc.c)
			w := httptest.NewRecorder()
			f.mux.ServeHTTP(w, r)
			if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.want) {
				t.Fatalf("%d, want %d with %q\n%s", w.Code, tc.status, tc.want, w.Body)
			}
			if tc.audited != (len(audited) == 1) || (tc.audited && (audited[0].actor != "officer:sys" || audited[0].source != r.RemoteAddr || audited[0].refused == strings.HasPrefix(tc.name, "ok/"))) {
				t.Errorf("audited %+v", audited)
			}
			if tc.status == http.StatusSeeOther && tc.name == "ok/activate" && w.Header().Get("Location") != "/console/admin/policies?done=1" {
				t.Errorf("sent to %q", w.Header().Get("Location"))
			}
		})
	}
	if p := eng.Current(); p == nil || p.Revision() != "r-1" {
		t.Fatalf("in force: %v", p)
	}
	if w := f.do("GET", "/console/admin/policies?done=1", sys, nil); !strings.Contains(w.Body.String(), `id="loaded">r-1<`) {
		t.Errorf("policies page after activation:\n%s", w.Body)
	}
}

// consolePolicyView is the engine and bundle store as the console reads
// them.
type consolePolicyView struct {
	*authz.Engine
	st *authz.Store
}

func (p consolePolicyView) Revisions(ctx context.Context, limit int) ([]authz.Revision, error) {
	return p.st.Revisions(ctx, limit)
}
