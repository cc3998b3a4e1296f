package access_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

func TestTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tokens := access.NewTokens(db)
		ra, err := tokens.Create(ctx, "li.officer", access.RoleRA)
		if err != nil {
			t.Fatal(err)
		}
		admin, err := tokens.Create(ctx, "root", access.RoleAdmin)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tokens.Create(ctx, "x", "superuser"); err == nil {
			t.Error("Create with an unknown role succeeded")
		}
		var stored int
		if err := db.QueryRow(ctx, "SELECT COUNT(*) FROM access_tokens WHERE token_hash = ?", []byte(ra)).Scan(&stored); err != nil || stored != 0 {
			t.Errorf("token stored in clear: count=%d err=%v", stored, err)
		}
		ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, _ := access.PrincipalFrom(r.Context())
			w.Write([]byte(p.Actor()))
		})
		h := tokens.Require(access.RoleRA, ok)
		hAud := tokens.Require(access.RoleAuditor, ok)
		tests := []struct {
			name    string
			handler http.Handler
			auth    string
			status  int
			body    string
		}{
			{"ok/ra", h, "Bearer " + ra, 200, "officer:li.officer"},
			{"ok/admin-has-every-role", hAud, "Bearer " + admin, 200, "officer:root"},
			{"fail/missing", h, "", 401, ""},
			{"fail/basic-scheme", h, "Basic abc", 401, ""},
			{"fail/unknown", h, "Bearer txo_nope", 401, ""},
			{"fail/wrong-role", hAud, "Bearer " + ra, 403, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				req := httptest.NewRequest("GET", "/x", nil)
				if tt.auth != "" {
					req.Header.Set("Authorization", tt.auth)
				}
				rec := httptest.NewRecorder()
				tt.handler.ServeHTTP(rec, req)
				if rec.Code != tt.status {
					t.Fatalf("status = %d, want %d (%s)", rec.Code, tt.status, rec.Body)
				}
				if tt.status == 200 && rec.Body.String() != tt.body {
					t.Errorf("body = %q, want %q", rec.Body, tt.body)
				}
				if tt.status != 200 && rec.Header().Get("Content-Type") != "application/problem+json" {
					t.Errorf("content type = %q, want problem+json", rec.Header().Get("Content-Type"))
				}
			})
		}
	})
}
