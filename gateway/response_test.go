package gateway

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// An upstream's trailers are part of its response: under a field
// obligation they must not carry data past the filter, and Tongxing-*
// trailers must not pass for the gateway's evidence.
func TestUpstreamTrailers(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		for _, tc := range []struct {
			name, path string
			hdr        map[string]string
		}{
			{"filtered", "/gw/renshe/v1/insurance/" + idNumber, map[string]string{HeaderPurpose: "P-IIT-VERIFY"}},
			{"streamed", "/gw/gongan/v1/statistics/population", nil},
		} {
			name := tc.name + "/h1"
			if h2 {
				name = tc.name + "/h2"
			}
			t.Run(name, func(t *testing.T) {
				e := newEnv(t)
				e.respond = func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "application/json")
					w.Header().Set("Trailer", "X-Medical-History, Tongxing-Audit-Index")
					w.Write([]byte(`{"id_number":"11010519491231002X","name":"张三","medical_history":"secret"}`))
					w.Header().Set("X-Medical-History", "secret")
					w.Header().Set("Tongxing-Audit-Index", "999999")
				}
				var s *httptest.Server
				if h2 {
					s = frontH2(t, e, "tax")
				} else {
					s = front(t, e, "tax")
				}
				req, _ := http.NewRequest("GET", s.URL+tc.path, nil)
				for k, v := range tc.hdr {
					req.Header.Set(k, v)
				}
				resp, err := s.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				e.g.Wait(context.Background())
				<-e.hits
				<-e.bodies
				if resp.StatusCode != 200 {
					t.Fatalf("status %d: %s", resp.StatusCode, body)
				}
				if tc.name == "filtered" && strings.Contains(string(body), "secret") {
					t.Fatalf("body not filtered: %s", body)
				}
				if tc.name == "streamed" && resp.Trailer.Get("X-Medical-History") != "secret" {
					t.Errorf("an unfiltered response lost its trailer: %v", resp.Trailer)
				}
				for k, v := range resp.Trailer {
					if tc.name == "filtered" {
						t.Errorf("trailer %s: %q reached the caller past the field filter (proto %s)", k, v, resp.Proto)
					} else if strings.HasPrefix(strings.ToLower(k), "tongxing-") {
						t.Errorf("upstream's trailer %s: %q reached the caller (proto %s)", k, v, resp.Proto)
					}
				}
			})
		}
	}
}

// An upstream that sends its headers and then stalls (or breaks) in the
// body: the call must still have a result entry, and not one saying 200.
func TestUpstreamStallsMidBody(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.UpstreamTimeout = 300 * time.Millisecond })
	block := make(chan struct{})
	defer close(block)
	e.respond = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("partial"))
		w.(http.Flusher).Flush()
		<-block
	}
	s := front(t, e, "tax")
	resp, err := http.Get(s.URL + "/gw/gongan/v1/statistics/population")
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	<-e.hits
	<-e.bodies
	// The connection ended after the handler had recorded the result (or
	// failed to); Wait waits for its append.
	e.g.Wait(context.Background())
	all := e.log.all()
	last := all[len(all)-1]
	if last.Action != ActionResult {
		t.Fatalf("no result entry for the forwarded call; last entry %s %s", last.Action, last.Outcome)
	}
	if last.Outcome != "504" {
		t.Fatalf("result entry says %s for a response cut off by the timeout (%d entries; %+v)", last.Outcome, len(all), last)
	}
}
