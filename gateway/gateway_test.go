package gateway

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tongxing/tongxing/auditlog"
	"github.com/tongxing/tongxing/authz"
	"github.com/tongxing/tongxing/timestamp"
)

func stringsReader(s string) io.Reader { return strings.NewReader(s) }

const idNumber = "11010519491231002X"

func decode(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	m := map[string]any{}
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("body %q: %v", w.Body.String(), err)
	}
	return m
}

func noHit(t *testing.T, e *env) {
	t.Helper()
	select {
	case r := <-e.hits:
		t.Fatalf("the upstream received %s %s", r.Method, r.URL)
	default:
	}
}

func TestCalls(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name   string
		dept   string
		path   string
		hdr    map[string]string
		status int
		reason string
	}{
		{"ok/unconditional", "tax", "/gw/gongan/v1/statistics/population", nil, 200, ""},
		{"ok/agreement-and-purpose", "tax", "/gw/renshe/v1/insurance/" + idNumber, map[string]string{HeaderPurpose: "P-IIT-VERIFY"}, 200, ""},
		{"fail/no-identity", "", "/gw/gongan/v1/statistics/population", nil, 401, "caller not identified"},
		{"fail/no-agreement", "tax", "/gw/gongan/v1/residents/" + idNumber, map[string]string{HeaderPurpose: "P-IIT-VERIFY"}, 403, "no sharing agreement"},
		{"fail/no-purpose", "tax", "/gw/renshe/v1/insurance/" + idNumber, nil, 403, "purpose code"},
		{"fail/purpose-outside-power-list", "tax", "/gw/renshe/v1/insurance/" + idNumber, map[string]string{HeaderPurpose: "P-SI-ELIG"}, 403, "权力清单"},
		{"fail/not-shared", "tax", "/gw/gongan/v1/criminal-records/" + idNumber, map[string]string{HeaderPurpose: "P-IIT-VERIFY"}, 403, "不予共享"},
		{"fail/negative-list", "tax", "/gw/renshe/v1/injury-cases/" + idNumber + "/medical", map[string]string{HeaderPurpose: "P-IIT-VERIFY"}, 403, "负面清单"},
		{"fail/expired", "tax", "/gw/renshe/v1/pensions?id_number=" + idNumber, map[string]string{HeaderPurpose: "P-IIT-VERIFY"}, 403, "expired"},
		{"fail/uncatalogued", "tax", "/gw/renshe/v1/everything", nil, 403, "not in the resource catalogue"},
		{"fail/bad-purpose-header", "tax", "/gw/renshe/v1/insurance/" + idNumber, map[string]string{HeaderPurpose: "free text purpose"}, 400, HeaderPurpose},
		{"fail/unknown-department", "tax", "/gw/nope/v1/x", nil, 404, "takes no calls"},
		{"fail/department-without-upstream", "tax", "/gw/scjg/v1/enterprises/x", nil, 404, "takes no calls"},
		{"fail/caller-not-registered", "minzheng", "/gw/gongan/v1/statistics/population", nil, 403, "not a registered department"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.log.all())
			w := e.call(t, tc.dept, "GET", tc.path, tc.hdr, "")
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if tc.status != 200 {
				noHit(t, e)
				if !strings.Contains(w.Body.String(), tc.reason) || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/problem+json") {
					t.Fatalf("body %s lacks %q", w.Body, tc.reason)
				}
				if tc.status == 401 && w.Header().Get("WWW-Authenticate") == "" {
					t.Fatal("401 without WWW-Authenticate")
				}
			} else {
				<-e.hits
				<-e.bodies
			}
			added := e.log.all()[before:]
			if tc.status == 403 && !strings.Contains(tc.reason, "registered") {
				if len(added) != 1 || added[0].Decision != auditlog.DecisionDeny || added[0].PolicyRevision != "r-test" ||
					added[0].RequestDigest == "" || !strings.HasPrefix(added[0].TimestampToken, "tsa:serial:") {
					t.Fatalf("audit entries %+v", added)
				}
				if w.Header().Get(HeaderTimestamp) == "" || w.Header().Get(HeaderAuditIndex) == "" {
					t.Fatal("denial without evidence headers")
				}
				digest, _ := hex.DecodeString(added[0].RequestDigest)
				if info, err := timestamp.VerifyToken(e.log.token(added[0].TimestampToken), timestamp.VerifyOptions{Digest: digest, Roots: e.tsa.roots()}); err != nil ||
					"tsa:serial:"+info.SerialNumber.Text(16) != added[0].TimestampToken {
					t.Fatalf("kept token of %s: %v", added[0].TimestampToken, err)
				}
			}
			if tc.status == 200 {
				if len(added) != 2 || added[0].Action != ActionCall || added[0].Decision != auditlog.DecisionAllow ||
					added[1].Action != ActionResult || added[1].Outcome != "200" || added[1].DecisionIndex == nil || *added[1].DecisionIndex != added[0].Index {
					t.Fatalf("audit entries %+v", added)
				}
			}
			if tc.status == 400 || tc.status == 401 || tc.status == 404 {
				if len(added) != 0 {
					t.Fatalf("refused before the policy, yet %d entries", len(added))
				}
			}
		})
	}
}

func TestFieldsFilteredAndHeaders(t *testing.T) {
	e := newEnv(t)
	w := e.call(t, "tax", "GET", "/gw/renshe/v1/insurance/"+idNumber, map[string]string{
		HeaderPurpose: "P-IIT-VERIFY", "Cookie": "sid=caller-secret", "Tongxing-Caller": "forged", "Tongxing-Other": "x",
		"Connection": "X-Hop", "X-Hop": "1", "X-Kept": "yes",
	}, "")
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	got := decode(t, w)
	want := []string{"employer", "id_number", "months_paid", "name"}
	if len(got) != len(want) {
		t.Fatalf("fields %v, want only %v", got, want)
	}
	for _, f := range want {
		if _, ok := got[f]; !ok {
			t.Fatalf("field %s missing from %v", f, got)
		}
	}
	if got["months_paid"] != float64(36) {
		t.Fatalf("number changed: %v", got["months_paid"])
	}
	r := <-e.hits
	body := <-e.bodies
	for _, h := range []string{"Cookie", "Tongxing-Other", "X-Hop", "Authorization"} {
		if r.Header.Get(h) != "" {
			t.Errorf("upstream received %s: %q", h, r.Header.Get(h))
		}
	}
	if r.Header.Get("X-Kept") != "yes" || r.Header.Get(HeaderPurpose) != "P-IIT-VERIFY" {
		t.Errorf("headers %v", r.Header)
	}
	if r.URL.Path != "/api/v1/insurance/"+idNumber {
		t.Errorf("upstream path %s", r.URL.Path)
	}
	v := e.verifier("renshe", "/api")
	ev, err := v.Verify(r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header, body)
	if err != nil {
		t.Fatalf("upstream verification: %v", err)
	}
	if ev.Claims.Subject != "spiffe://tongxing.internal/dept/tax/svc/api" || ev.Claims.Resource != "renshe.social-insurance" || ev.Claims.Purpose != "P-IIT-VERIFY" {
		t.Fatalf("claims %+v", ev.Claims)
	}
	if _, err := v.Verify(r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header, body); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay: %v", err)
	}
	other := e.verifier("gongan", "/api")
	if _, err := other.Verify(r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header, body); !errors.Is(err, ErrCallerToken) {
		t.Fatalf("other audience: %v", err)
	}
	noAudience := e.verifier("", "/api")
	if _, err := noAudience.Verify(r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header, body); err == nil || !strings.Contains(err.Error(), "Audience is required") {
		t.Fatalf("a verifier without an audience: %v", err)
	}
	fresh := e.verifier("renshe", "/api")
	if _, err := fresh.Verify(r.Method, r.URL.EscapedPath(), "x=1", r.Header, body); !errors.Is(err, ErrRequestMismatch) {
		t.Fatalf("changed query: %v", err)
	}
	if _, err := fresh.Verify("POST", r.URL.EscapedPath(), r.URL.RawQuery, r.Header, body); !errors.Is(err, ErrRequestMismatch) {
		t.Fatalf("changed method: %v", err)
	}
	h := r.Header.Clone()
	h.Set(HeaderTimestamp, w.Header().Get(HeaderTimestamp)[:40]+"AAAA"+w.Header().Get(HeaderTimestamp)[44:])
	if _, err := fresh.Verify(r.Method, r.URL.EscapedPath(), r.URL.RawQuery, h, body); !errors.Is(err, ErrTimestamp) {
		t.Fatalf("tampered timestamp: %v", err)
	}
}

func TestUpstreamResponseHeadersStripped(t *testing.T) {
	e := newEnv(t)
	e.respond = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Tongxing-Audit-Index", "999999")
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("streamed"))
	}
	w := e.call(t, "tax", "GET", "/gw/gongan/v1/statistics/population", nil, "")
	<-e.hits
	if w.Code != 200 || w.Body.String() != "streamed" || w.Header().Get(HeaderAuditIndex) == "999999" {
		t.Fatalf("%d %q %v", w.Code, w.Body, w.Header())
	}
}

func TestNotFilterableWithheld(t *testing.T) {
	e := newEnv(t)
	e.respond = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/csv")
		w.Write([]byte("id_number,medical_history\n1,secret\n"))
	}
	w := e.call(t, "tax", "GET", "/gw/renshe/v1/insurance/"+idNumber, map[string]string{HeaderPurpose: "P-IIT-VERIFY"}, "")
	<-e.hits
	if w.Code != http.StatusBadGateway || strings.Contains(w.Body.String(), "secret") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	all := e.log.all()
	if last := all[len(all)-1]; last.Action != ActionResult || last.Outcome != "502" {
		t.Fatalf("result entry %+v", last)
	}
}

// TestFailClosed injects faults into the TSA and the audit log: 503, a
// reason, nothing forwarded, the metric raised.
func TestFailClosed(t *testing.T) {
	for _, tc := range []struct {
		name, dep, reason string
		mod               func(*Config, *memLog)
	}{
		{"fail/tsa-down", "tsa", "timestamp authority", func(c *Config, _ *memLog) { c.Stamper = failingStamper{} }},
		{"fail/audit-down", "audit", "audit log", func(_ *Config, l *memLog) { l.fail = errors.New("injected: audit log down") }},
		{"fail/token-not-kept", "audit", "audit log", func(_ *Config, l *memLog) { l.tokenFail = errors.New("injected: token table down") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			var e *env
			e = newEnv(t, func(c *Config) { c.Registerer = reg; tc.mod(c, c.Recorder.(*memLog)) })
			w := e.call(t, "tax", "GET", "/gw/gongan/v1/statistics/population", nil, "")
			if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), tc.reason) || w.Header().Get("Retry-After") == "" {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			noHit(t, e)
			if n := testutil.ToFloat64(e.g.m.unavailable.WithLabelValues(tc.dep)); n != 1 {
				t.Fatalf("metric %s = %v", tc.dep, n)
			}
		})
	}
	t.Run("fail/no-policy", func(t *testing.T) {
		e := newEnv(t)
		e.engine.Swap(nil)
		w := e.call(t, "tax", "GET", "/gw/gongan/v1/statistics/population", nil, "")
		if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "no policy") {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		noHit(t, e)
	})
}

func TestRevokedCertificate(t *testing.T) {
	e := newEnv(t)
	r := httptest.NewRequest("GET", "/gw/gongan/v1/statistics/population", nil)
	r.TLS = e.pki.leaf(t, "tax", "api")
	e.rev.revoked[r.TLS.PeerCertificates[0].SerialNumber.Text(16)] = true
	w := httptest.NewRecorder()
	e.serve(w, r)
	if w.Code != 401 || !strings.Contains(w.Body.String(), "revoked") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	noHit(t, e)
}

func TestRateLimits(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.CallerLimit = Limit{Rate: 0.001, Burst: 2}
		c.ResourceOverrides = map[string]Limit{"renshe.job-vacancies": {Rate: 0.001, Burst: 1}}
	})
	for i := 0; i < 2; i++ {
		if w := e.call(t, "tax", "GET", "/gw/gongan/v1/statistics/population", nil, ""); w.Code != 200 {
			t.Fatalf("call %d: %d", i, w.Code)
		}
		<-e.hits
	}
	w := e.call(t, "tax", "GET", "/gw/gongan/v1/statistics/population", nil, "")
	if w.Code != 429 || w.Header().Get("Retry-After") == "" {
		t.Fatalf("%d %v", w.Code, w.Header())
	}
	if w := e.call(t, "scjg", "GET", "/gw/renshe/v1/vacancies", nil, ""); w.Code != 200 {
		t.Fatalf("%d", w.Code)
	}
	<-e.hits
	if w := e.call(t, "gongan", "GET", "/gw/renshe/v1/vacancies", nil, ""); w.Code != 429 {
		t.Fatalf("resource limit: %d", w.Code)
	}
	noHit(t, e)
}

func TestBodyLimit(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxBody = 10 })
	w := e.call(t, "gongan", "POST", "/gw/scjg/v1/inspections/search", nil, strings.Repeat("x", 100))
	if w.Code != 404 { // scjg has no upstream in this env
		t.Fatalf("%d", w.Code)
	}
	w = e.call(t, "tax", "POST", "/gw/renshe/v1/vacancies", nil, strings.Repeat("x", 100))
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	noHit(t, e)
}

func TestUpstreamFailures(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.UpstreamTimeout = 200 * time.Millisecond })
	block := make(chan struct{})
	defer close(block)
	e.respond = func(w http.ResponseWriter, r *http.Request) { <-block }
	w := e.call(t, "tax", "GET", "/gw/gongan/v1/statistics/population", nil, "")
	<-e.hits
	if w.Code != http.StatusGatewayTimeout {
		t.Fatalf("timeout: %d %s", w.Code, w.Body)
	}
	all := e.log.all()
	if last := all[len(all)-1]; last.Outcome != "504" || last.DecisionIndex == nil {
		t.Fatalf("%+v", last)
	}
	e.upstream.CloseClientConnections()
	e.upstream.Listener.Close()
	w = e.call(t, "tax", "GET", "/gw/gongan/v1/statistics/population", nil, "")
	if w.Code != http.StatusBadGateway {
		t.Fatalf("down: %d %s", w.Code, w.Body)
	}
	all = e.log.all()
	if last := all[len(all)-1]; last.Outcome != "502" {
		t.Fatalf("%+v", last)
	}
}

func TestEvidenceEndpoint(t *testing.T) {
	e := newEnv(t)
	caller := e.pki.leaf(t, "tax", "api")
	r := httptest.NewRequest("GET", "/gw/gongan/v1/statistics/population", nil)
	r.TLS = caller
	w := httptest.NewRecorder()
	e.serve(w, r)
	<-e.hits
	idx := w.Header().Get(HeaderAuditIndex)
	get := func(tls *tls.ConnectionState) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/gateway/v1/evidence/"+idx, nil)
		r.TLS = tls
		w := httptest.NewRecorder()
		e.serve(w, r)
		return w
	}
	if w := get(caller); w.Code != 200 || !strings.Contains(w.Body.String(), `"proof"`) {
		t.Fatalf("caller: %d %s", w.Code, w.Body)
	}
	if w := get(e.pki.leaf(t, "gongan", "stats")); w.Code != 200 {
		t.Fatalf("called department: %d %s", w.Code, w.Body)
	}
	if w := get(e.pki.leaf(t, "scjg", "api")); w.Code != 403 {
		t.Fatalf("third party: %d %s", w.Code, w.Body)
	}
	if w := get(nil); w.Code != 401 {
		t.Fatalf("anonymous: %d", w.Code)
	}
	if all := e.log.all(); all[len(all)-1].Action != ActionEvidenceRead {
		t.Fatal("evidence read not logged")
	}
}

func TestCleanHeaders(t *testing.T) {
	in := http.Header{
		"Authorization": {"Bearer caller-token"}, "Cookie": {"a=b"}, "Tongxing-Caller": {"forged"}, "Tongxing-X": {"y"},
		"Connection": {"keep-alive, X-Private"}, "X-Private": {"1"}, "Keep-Alive": {"5"}, "Te": {"trailers"},
		"Forwarded": {"for=1.2.3.4"}, "X-Forwarded-For": {"1.2.3.4"}, "Accept": {"application/json"},
		"X-Http-Method-Override": {"DELETE"}, "X-Http-Method": {"DELETE"}, "X-Method-Override": {"DELETE"},
		"X-Original-Url": {"/v1/criminal-records/1"}, "X-Rewrite-Url": {"/v1/x"}, "X-Forwarded-Prefix": {"/evil"},
		// Read as Tongxing-Purpose, X-Original-Url... by CGI-style servers.
		"Tongxing_Purpose": {"P-HUKOU"}, "Tongxing_Caller": {"forged"}, "X_Original_Url": {"/v1/x"}, "X_Http_Method_Override": {"DELETE"},
	}
	out := cleanHeaders(in)
	if len(out) != 1 || out.Get("Accept") != "application/json" {
		t.Fatalf("forwarded headers %v", out)
	}
	if in.Get("Authorization") == "" {
		t.Fatal("the caller's headers were modified")
	}
}

// TestPermissivePolicyCannotOpenUncatalogued: even a policy that allows
// everything forwards only catalogued resources.
func TestPermissivePolicyCannotOpenUncatalogued(t *testing.T) {
	e := newEnv(t)
	b, err := authz.Build(fstest.MapFS{"p.rego": {Data: []byte("package tongxing.gateway\n\ndecision := {\"allow\": true, \"reasons\": [\"anything goes\"]}\n")}}, "r-open")
	if err != nil {
		t.Fatal(err)
	}
	p, err := authz.Load(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	e.engine.Swap(p)
	w := e.call(t, "tax", "GET", "/gw/renshe/v1/admin/export", nil, "")
	if w.Code != 403 || !strings.Contains(w.Body.String(), "matches no resource of the catalogue") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	noHit(t, e)
}

// TestStepMetrics times the steps of an allowed call, and of a refused one
// up to its decision entry: a refusal signs no Tongxing-Caller.
func TestStepMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, func(c *Config) { c.Registerer = reg })
	counts := func() map[string]uint64 {
		fams, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]uint64{}
		for _, f := range fams {
			if f.GetName() != "tongxing_gateway_step_duration_seconds" {
				continue
			}
			for _, m := range f.GetMetric() {
				out[m.GetLabel()[0].GetValue()] = m.GetHistogram().GetSampleCount()
			}
		}
		return out
	}
	if w := e.call(t, "tax", "GET", "/gw/gongan/v1/statistics/population", nil, ""); w.Code != 200 {
		t.Fatalf("allowed call: %d %s", w.Code, w.Body)
	}
	<-e.hits
	want := map[string]uint64{"identify": 1, "decide": 1, "timestamp": 1, "audit": 1, "caller_token": 1}
	if got := counts(); !maps.Equal(got, want) {
		t.Fatalf("after an allowed call: %v, want %v", got, want)
	}
	if w := e.call(t, "tax", "GET", "/gw/gongan/v1/residents/"+idNumber, map[string]string{HeaderPurpose: "P-IIT-VERIFY"}, ""); w.Code != 403 {
		t.Fatalf("refused call: %d %s", w.Code, w.Body)
	}
	want = map[string]uint64{"identify": 2, "decide": 2, "timestamp": 2, "audit": 2, "caller_token": 1}
	if got := counts(); !maps.Equal(got, want) {
		t.Fatalf("after a refused call: %v, want %v", got, want)
	}
}

// TestVerifierChecksAuditIndex: Tongxing-Audit-Index is not signed; an
// upstream's verifier refuses one that is not the decision entry the
// caller token names.
func TestVerifierChecksAuditIndex(t *testing.T) {
	e := newEnv(t)
	if w := e.call(t, "tax", "GET", "/gw/renshe/v1/insurance/"+idNumber, map[string]string{HeaderPurpose: "P-IIT-VERIFY"}, ""); w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	r, body := <-e.hits, <-e.bodies
	h := r.Header.Clone()
	h.Set(HeaderAuditIndex, "999999")
	if _, err := e.verifier("renshe", "/api").Verify(r.Method, r.URL.EscapedPath(), r.URL.RawQuery, h, body); !errors.Is(err, ErrRequestMismatch) {
		t.Fatalf("Tongxing-Audit-Index other than the token's: %v", err)
	}
}
