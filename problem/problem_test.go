package problem_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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
