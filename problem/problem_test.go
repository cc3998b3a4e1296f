package problem_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tongxing/tongxing/problem"
)

func TestFrom(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		field  string
		detail string
	}{
		{"ok/field-error", problem.BadRequest("csr", "malformed: %s", "x"), 400, "csr", "csr: malformed: x"},
		{"ok/wrapped", fmt.Errorf("ctx: %w", &problem.Error{Status: 409, Field: "code", Detail: "used"}), 409, "code", "code: used"},
		{"ok/details-pass-through", problem.New(404, "gone"), 404, "", "gone"},
		{"fail/plain-error-is-hidden-500", errors.New("sql: secret table name"), 500, "", "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := problem.From(tt.err)
			if p.Status != tt.status || p.Field != tt.field || p.Detail != tt.detail {
				t.Errorf("From(%v) = %+v, want status %d field %q detail %q", tt.err, p, tt.status, tt.field, tt.detail)
			}
			if tt.field != "" && (len(p.InvalidParams) != 1 || p.InvalidParams[0].Name != tt.field) {
				t.Errorf("invalid-params = %+v", p.InvalidParams)
			}
		})
	}
}

func TestDecodeJSON(t *testing.T) {
	type body struct {
		A string `json:"a"`
		N int    `json:"n"`
	}
	tests := []struct {
		name   string
		in     string
		status int
	}{
		{"ok/plain", `{"a":"x","n":1}`, 0},
		{"fail/unknown-field", `{"a":"x","b":1}`, 400},
		{"fail/wrong-type", `{"n":"one"}`, 400},
		{"fail/trailing", `{"a":"x"} {"a":"y"}`, 400},
		{"fail/not-json", `<xml/>`, 400},
		{"fail/too-large", `{"a":"` + strings.Repeat("x", 200) + `"}`, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/", strings.NewReader(tt.in))
			var v body
			err := problem.DecodeJSON(httptest.NewRecorder(), req, 100, &v)
			if tt.status == 0 {
				if err != nil {
					t.Fatalf("DecodeJSON: %v", err)
				}
				return
			}
			if got := problem.From(err).Status; got != tt.status {
				t.Errorf("status = %d (%v), want %d", got, err, tt.status)
			}
		})
	}
}

func TestWriteAndRead(t *testing.T) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/ca/v1/x", nil)
	problem.WriteError(rec, req, nil, problem.BadRequest("subject.uscc", "check character mismatch"))
	if rec.Code != 400 || rec.Header().Get("Content-Type") != problem.ContentType {
		t.Fatalf("got %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var p problem.Details
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if p.Field != "subject.uscc" || p.Instance != "/ca/v1/x" || p.Title != "Bad Request" {
		t.Errorf("body = %+v", p)
	}
	resp := rec.Result()
	err := problem.Read(resp)
	var d *problem.Details
	if !errors.As(err, &d) || d.Status != http.StatusBadRequest {
		t.Errorf("Read = %v, want a 400 problem", err)
	}
}

// TestDecodeJSONText checks that strings encoding/json would silently repair
// are refused, naming the field, and that good text in any form passes.
func TestDecodeJSONText(t *testing.T) {
	type subject struct {
		Name     string   `json:"name"`
		DNSNames []string `json:"dns_names"`
	}
	type body struct {
		Profile string  `json:"profile"`
		Subject subject `json:"subject"`
		N       int     `json:"n"`
	}
	tests := []struct {
		name  string
		in    string
		field string // "" for success
	}{
		{"ok/plain", `{"profile":"citizen","subject":{"name":"张三"}}`, ""},
		{"ok/escaped-cjk", `{"subject":{"name":"\u5f20\u4e09"}}`, ""},
		{"ok/surrogate-pair", `{"subject":{"name":"\ud83d\ude00"}}`, ""},
		{"ok/escaped-backslash-u", `{"subject":{"name":"\\ud800"}}`, ""},
		{"fail/invalid-utf8-value", "{\"profile\":\"citizen\",\"subject\":{\"name\":\"\xff\xfe\"}}", "subject.name"},
		{"fail/invalid-utf8-top-level", "{\"n\":1,\"profile\":\"a\xc0b\"}", "profile"},
		{"fail/invalid-utf8-in-array", "{\"subject\":{\"dns_names\":[\"ok.example\",\"\xe4\xb8\"]}}", "subject.dns_names"},
		{"fail/lone-high-surrogate", `{"subject":{"name":"a\ud800b"}}`, "subject.name"},
		{"fail/lone-low-surrogate", `{"subject":{"name":"\udc00"}}`, "subject.name"},
		{"fail/reversed-pair", `{"subject":{"name":"\ude00\ud83d"}}`, "subject.name"},
		{"fail/invalid-utf8-after-nested", "{\"subject\":{\"dns_names\":[\"a\"],\"name\":\"x\"},\"profile\":\"\x80\"}", "profile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/", strings.NewReader(tt.in))
			var v body
			err := problem.DecodeJSON(httptest.NewRecorder(), req, 1024, &v)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("DecodeJSON: %v", err)
				}
				return
			}
			p := problem.From(err)
			if p.Status != 400 || p.Field != tt.field {
				t.Errorf("got %d field %q (%v), want 400 field %q", p.Status, p.Field, err, tt.field)
			}
		})
	}
}

func TestWriteErrorRetryAfter(t *testing.T) {
	rec := httptest.NewRecorder()
	problem.WriteError(rec, httptest.NewRequest("POST", "/ca/v1/certificates", nil), nil, retryErr{})
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "3" || rec.Header().Get("Content-Type") != problem.ContentType {
		t.Errorf("got %d Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	if got := problem.RetryAfterSeconds(0); got != 1 {
		t.Errorf("RetryAfterSeconds(0) = %d, want 1", got)
	}
}

type retryErr struct{}

func (retryErr) Error() string             { return "slow down" }
func (retryErr) HTTPStatus() int           { return 429 }
func (retryErr) RetryAfter() time.Duration { return 2100 * time.Millisecond }
