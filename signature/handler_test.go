package signature_test

import (
	"bytes"
	"context"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tongxing/tongxing/problem"
	"github.com/tongxing/tongxing/signature"
)

func multipartBody(t *testing.T, parts map[string][]byte) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for name, b := range parts {
		w, err := mw.CreateFormFile(name, name+".bin")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf, mw.FormDataContentType()
}

func TestHandler(t *testing.T) {
	f := newFixture(t, true, time.Now())
	content := []byte("filing over HTTP")
	p7s, err := f.signer(t, signature.WithTimestamper(signature.Local(f.tsa))).Sign(context.Background(), content)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(signature.NewAPI(signature.VerifyOptions{Roots: f.pki.pool(), TSARoots: f.tsaPKI.pool()}, nil))
	defer srv.Close()
	tests := []struct {
		name       string
		method     string
		parts      map[string][]byte
		rawType    string
		accept     string
		wantStatus int
		wantType   string
		wantValid  bool
		wantText   string
	}{
		{"ok/json-valid", http.MethodPost, map[string][]byte{"signature": p7s, "content": content}, "", "", 200, "application/json", true, ""},
		{"ok/json-invalid-content", http.MethodPost, map[string][]byte{"signature": p7s, "content": []byte("other")}, "", "", 200, "application/json", false, ""},
		{"ok/text", http.MethodPost, map[string][]byte{"signature": p7s, "content": content}, "", "text/plain", 200, "text/plain; charset=utf-8", true, "签名有效 VALID"},
		{"fail/missing-signature", http.MethodPost, map[string][]byte{"content": content}, "", "", 400, problem.ContentType, false, ""},
		{"fail/unknown-part", http.MethodPost, map[string][]byte{"signature": p7s, "extra": content}, "", "", 400, problem.ContentType, false, ""},
		{"fail/json-body", http.MethodPost, nil, "application/json", "", 415, problem.ContentType, false, ""},
		{"fail/get", http.MethodGet, nil, "", "", 405, problem.ContentType, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body, ctype := &bytes.Buffer{}, tc.rawType
			if tc.parts != nil {
				body, ctype = multipartBody(t, tc.parts)
			}
			req, err := http.NewRequest(tc.method, srv.URL, body)
			if err != nil {
				t.Fatal(err)
			}
			if ctype != "" {
				req.Header.Set("Content-Type", ctype)
			}
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var buf bytes.Buffer
			if _, err := buf.ReadFrom(resp.Body); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.wantStatus || resp.Header.Get("Content-Type") != tc.wantType {
				t.Fatalf("HTTP %d %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), buf.String())
			}
			switch {
			case tc.wantText != "":
				if !strings.Contains(buf.String(), tc.wantText) {
					t.Fatalf("text lacks %q: %s", tc.wantText, buf.String())
				}
			case tc.wantStatus == 200:
				var rep signature.Report
				if err := json.Unmarshal(buf.Bytes(), &rep); err != nil || rep.Valid != tc.wantValid || len(rep.Checks) == 0 {
					t.Fatalf("report %+v: %v", rep, err)
				}
			}
		})
	}
}
