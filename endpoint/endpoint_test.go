package endpoint_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tongxing/tongxing/endpoint"
	"github.com/tongxing/tongxing/problem"
)

// greeting is a request body that validates itself.
type greeting struct {
	Name string `json:"name"`
}

func (g greeting) Validate() error {
	if g.Name == "" {
		return problem.BadRequest("name", "required")
	}
	return nil
}

// limited is a 429 with Retry-After.
type limited struct{}

func (limited) Error() string             { return "slow down" }
func (limited) HTTPStatus() int           { return http.StatusTooManyRequests }
func (limited) RetryAfter() time.Duration { return 1500 * time.Millisecond }

var errSecret = errors.New("sql: password authentication failed for user tongxing")

func greet(r *http.Request, g greeting) (*endpoint.Reply, error) {
	switch g.Name {
	case "conflict":
		return nil, fmt.Errorf("wrapped: %w", &problem.Error{Status: http.StatusConflict, Field: "name", Detail: "taken"})
	case "secret":
		return nil, errSecret
	case "limited":
		return nil, limited{}
	case "nothing":
		return nil, nil
	}
	return endpoint.Created("/greetings/"+g.Name, map[string]string{"hello": g.Name}).NoStore(), nil
}

func TestJSON(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		status   int
		field    string
		header   string // "key: value" the answer must carry
		contains string
	}{
		{name: "ok/created", body: `{"name":"li"}`, status: 201, header: "Location: /greetings/li", contains: `"hello": "li"`},
		{name: "ok/no-store", body: `{"name":"li"}`, status: 201, header: "Cache-Control: no-store"},
		{name: "fail/unknown-field", body: `{"name":"li","x":1}`, status: 400},
		{name: "fail/trailing-data", body: `{"name":"li"} {}`, status: 400},
		{name: "fail/empty-body", body: ``, status: 400},
		{name: "fail/too-large", body: `{"name":"` + strings.Repeat("x", 100) + `"}`, status: 413},
		{name: "fail/validate", body: `{}`, status: 400, field: "name"},
		{name: "fail/bad-utf8", body: "{\"name\":\"\xff\"}", status: 400, field: "name"},
		{name: "fail/domain-status", body: `{"name":"conflict"}`, status: 409, field: "name", contains: "taken"},
		{name: "fail/plain-error-hidden", body: `{"name":"secret"}`, status: 500, contains: "internal error"},
		{name: "fail/retry-after", body: `{"name":"limited"}`, status: 429, header: "Retry-After: 2"},
		{name: "fail/no-reply", body: `{"name":"nothing"}`, status: 500},
	}
	var logs bytes.Buffer
	o := &endpoint.Options{Log: slog.New(slog.NewTextHandler(&logs, nil))}
	h := endpoint.JSON(o, 64, greet)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("POST", "/greetings", strings.NewReader(tt.body)))
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if tt.header != "" {
				k, v, _ := strings.Cut(tt.header, ": ")
				if got := w.Header().Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if !strings.Contains(w.Body.String(), tt.contains) {
				t.Errorf("body %s does not contain %q", w.Body, tt.contains)
			}
			if strings.Contains(w.Body.String(), "password") {
				t.Errorf("body %s shows the hidden cause", w.Body)
			}
			if tt.status < 300 {
				if ct := w.Header().Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q", ct)
				}
				return
			}
			var p problem.Details
			if ct := w.Header().Get("Content-Type"); ct != problem.ContentType {
				t.Errorf("Content-Type %q, want %q", ct, problem.ContentType)
			}
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Status != tt.status || p.Field != tt.field {
				t.Errorf("problem %+v (%v), want status %d field %q", p, err, tt.status, tt.field)
			}
		})
	}
	if !strings.Contains(logs.String(), "password authentication failed") {
		t.Errorf("the cause of the 500 was not logged: %s", logs.String())
	}
}

func TestOptionalJSON(t *testing.T) {
	h := endpoint.OptionalJSON(nil, 64, func(r *http.Request, in struct {
		Comment string `json:"comment"`
	}) (*endpoint.Reply, error) {
		return endpoint.OK(map[string]string{"comment": in.Comment}), nil
	})
	for _, tt := range []struct {
		name, body string
		status     int
		want       string
	}{
		{"ok/no-body", "", 200, `"comment": ""`},
		{"ok/body", `{"comment":"lost card"}`, 200, `"comment": "lost card"`},
		{"fail/unknown-field", `{"reason":"x"}`, 400, "reason"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("POST", "/x", strings.NewReader(tt.body)))
			if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.want) {
				t.Fatalf("%d %s, want %d with %q", w.Code, w.Body, tt.status, tt.want)
			}
		})
	}
}

func TestBadBody(t *testing.T) {
	var refused []string
	o := &endpoint.Options{BadBody: func(r *http.Request, err error) error {
		refused = append(refused, r.RemoteAddr)
		return fmt.Errorf("counted: %w", err)
	}}
	h := endpoint.JSON(o, 64, greet)
	for _, body := range []string{`{"name":`, `{}`, `{"name":"li"}`} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/greetings", strings.NewReader(body)))
	}
	if len(refused) != 2 {
		t.Fatalf("BadBody ran for %d requests, want 2 (the malformed and the invalid body)", len(refused))
	}
}

func TestBefore(t *testing.T) {
	type seen struct {
		status  int
		elapsed time.Duration
	}
	var got []seen
	fail := false
	o := &endpoint.Options{Log: slog.New(slog.DiscardHandler), Before: func(r *http.Request, status int, elapsed time.Duration) error {
		got = append(got, seen{status, elapsed})
		if fail {
			return &problem.Error{Status: http.StatusInternalServerError, Detail: "the read could not be recorded"}
		}
		return nil
	}}
	h := endpoint.JSON(o, 64, greet)
	for _, tt := range []struct {
		name, body string
		fail       bool
		status     int
	}{
		{"ok/recorded", `{"name":"li"}`, false, 201},
		{"ok/refusal-recorded", `{"name":"conflict"}`, false, 409},
		{"fail/record-fails", `{"name":"li"}`, true, 500},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, fail = nil, tt.fail
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("POST", "/greetings", strings.NewReader(tt.body)))
			want := tt.status
			if tt.fail {
				want = 201 // Before saw what the call answered
			}
			if len(got) != 1 || got[0].status != want || got[0].elapsed < 0 {
				t.Fatalf("Before saw %+v, want one call with status %d", got, want)
			}
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d", w.Code, tt.status)
			}
			if tt.fail && (strings.Contains(w.Body.String(), "hello") || !strings.Contains(w.Body.String(), "could not be recorded")) {
				t.Errorf("a failed record still answered: %s", w.Body)
			}
		})
	}
}

func TestWrite(t *testing.T) {
	var logs bytes.Buffer
	o := &endpoint.Options{Log: slog.New(slog.NewTextHandler(&logs, nil))}
	h := endpoint.Call(o, func(r *http.Request) (*endpoint.Reply, error) {
		rep := &endpoint.Reply{Write: func(w io.Writer) error {
			io.WriteString(w, "line 1\n")
			if r.URL.Query().Get("break") != "" {
				return errors.New("disk gone")
			}
			return nil
		}}
		return rep.With("Content-Type", "application/jsonl"), nil
	})
	for _, tt := range []struct {
		name, query string
		logged      bool
	}{{"ok/streamed", "", false}, {"fail/mid-stream", "?break=1", true}} {
		t.Run(tt.name, func(t *testing.T) {
			logs.Reset()
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("GET", "/export"+tt.query, nil))
			if w.Code != 200 || w.Body.String() != "line 1\n" || w.Header().Get("Content-Type") != "application/jsonl" || w.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Fatalf("%d %q %v", w.Code, w.Body, w.Header())
			}
			if got := strings.Contains(logs.String(), "disk gone"); got != tt.logged {
				t.Errorf("logged %v, want %v: %s", got, tt.logged, logs.String())
			}
		})
	}
}
