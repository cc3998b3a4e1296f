package gateway_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tongxing/tongxing/gateway"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/test/serverproc"
)

// Replies of the upstreams: more fields than any agreement allows, so that
// minimisation shows.
var (
	gonganReplies = map[string]string{
		"/v1/statistics/population": `{"district":"示例区","year":2026,"registered_population":812345,"households":301234}`,
		"/v1/residents/":            `{"id_number":"` + idNumber + `","name":"张三","gender":"男","ethnicity":"汉","birth_date":"1949-12-31","address":"示例路1号","religion":"无","photo":"..."}`,
	}
	rensheReplies = map[string]string{
		"/v1/insurance/": `{"id_number":"` + idNumber + `","name":"张三","employer":"示例科技有限公司","insurance_types":["养老","医疗"],"months_paid":120,"contribution_base":8000,"status":"正常","medical_history":"高血压"}`,
		"/v1/pensions":   `{"id_number":"` + idNumber + `","name":"张三","monthly_amount":3200,"since":"2010-01"}`,
		"/v1/vacancies":  `[{"title":"社保窗口","count":2}]`,
	}
)

// TestGateway is issue 10's end-to-end walk through the real binary.
func TestGateway(t *testing.T) {
	dir := t.TempDir()
	d := newDeployment(t, dir)
	in := serverproc.Start(t, binary, dir, "--config", filepath.Join(dir, "tongxing.yaml"))
	defer in.Stop(syscall.SIGTERM)

	ready := do(t, in.Client(), "GET", in.URL("/readyz"), nil, nil).json(t)
	revision, _ := ready["policy_revision"].(string)
	if !strings.HasPrefix(revision, "r-") {
		t.Fatalf("readyz shows no policy revision: %v", ready)
	}

	// Upstreams and the caller get service certificates from Tongxing's CA
	// through enrolment codes.
	in.Enrol(t, "gongan-api", "--profile", "service", "--department", "gongan", "--service", "api", "--ip", "127.0.0.1")
	in.Enrol(t, "renshe-api", "--profile", "service", "--department", "renshe", "--service", "api", "--ip", "127.0.0.1")
	in.Enrol(t, "tax-svc", "--profile", "service", "--department", "tax", "--service", "invoice-api", "--dns", "invoice.tax.example")
	gongan := startUpstream(t, in, "gongan", d.gonganPort, "", serverproc.ServiceCert(t, filepath.Join(dir, "gongan-api")), gonganReplies)
	renshe := startUpstream(t, in, "renshe", d.rensheGP, "/api", serverproc.ServiceCert(t, filepath.Join(dir, "renshe-api")), rensheReplies)
	taxCert := serverproc.ServiceCert(t, filepath.Join(dir, "tax-svc"))
	tax := gatewayClient(t, in, &taxCert)
	gw := func(p string) string { return "https://localhost:" + d.gwPort + p }
	hits := func() int { return gongan.count() + renshe.count() }

	purpose := func(p string) map[string]string {
		if p == "" {
			return nil
		}
		return map[string]string{gateway.HeaderPurpose: p}
	}
	cases := []struct {
		name    string
		client  bool
		path    string
		purpose string
		status  int
		reason  string
		fields  []string
	}{
		{"ok/unconditional", true, "/gw/gongan/v1/statistics/population", "", 200, "", []string{"district", "households", "registered_population", "year"}},
		{"fail/conditional-without-agreement", true, "/gw/gongan/v1/residents/" + idNumber, "P-IIT-VERIFY", 403, "no sharing agreement gives department tax resource gongan.household", nil},
		{"fail/agreement-without-purpose", true, "/gw/renshe/v1/insurance/" + idNumber, "", 403, "a purpose code (Tongxing-Purpose) is required", nil},
		{"fail/purpose-outside-power-list", true, "/gw/renshe/v1/insurance/" + idNumber, "P-SI-ELIG", 403, "not among the powers (权力清单) of department tax", nil},
		{"ok/agreement-and-purpose", true, "/gw/renshe/v1/insurance/" + idNumber, "P-IIT-VERIFY", 200, "", []string{"employer", "id_number", "months_paid", "name"}},
		{"fail/not-shared", true, "/gw/gongan/v1/criminal-records/" + idNumber, "P-IIT-VERIFY", 403, "is not shared (不予共享)", nil},
		{"fail/negative-list", true, "/gw/renshe/v1/injury-cases/" + idNumber + "/medical", "P-IIT-VERIFY", 403, "negative list (负面清单)", nil},
		{"fail/expired-agreement", true, "/gw/renshe/v1/pensions?id_number=" + idNumber, "P-IIT-VERIFY", 403, "agreement A-2024-007 expired", nil},
		{"fail/no-identity", false, "/gw/gongan/v1/statistics/population", "", 401, "caller not identified", nil},
	}
	anon := gatewayClient(t, in, nil)
	var allowedIndex string
	var allowedCall received
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := anon
			if tc.client {
				c = tax
			}
			before := hits()
			r := do(t, c, "GET", gw(tc.path), purpose(tc.purpose), nil)
			if r.status != tc.status || !strings.Contains(r.body, tc.reason) {
				t.Fatalf("HTTP %d %s, want %d with %q", r.status, r.body, tc.status, tc.reason)
			}
			if tc.status != 200 {
				if hits() != before {
					t.Fatal("a refused call reached the upstream")
				}
			} else {
				if hits() != before+1 {
					t.Fatalf("upstream calls %d -> %d", before, hits())
				}
				m := r.json(t)
				if len(m) != len(tc.fields) {
					t.Fatalf("fields %v, want only %v", m, tc.fields)
				}
				for _, f := range tc.fields {
					if _, ok := m[f]; !ok {
						t.Fatalf("field %s missing: %v", f, m)
					}
				}
				up := gongan
				if strings.HasPrefix(tc.path, "/gw/renshe") {
					up = renshe
				}
				if last := up.last(); last.err != nil {
					t.Fatalf("the upstream refused the gateway's evidence: %v", last.err)
				}
			}
			if tc.status != 401 {
				if r.header.Get(gateway.HeaderTimestamp) == "" || r.header.Get(gateway.HeaderAuditIndex) == "" {
					t.Fatalf("no evidence headers: %v", r.header)
				}
			}
			if tc.name == "ok/agreement-and-purpose" {
				allowedIndex = r.header.Get(gateway.HeaderAuditIndex)
				allowedCall = renshe.last()
			}
		})
	}

	t.Run("ok/http2", func(t *testing.T) {
		h2 := gatewayClient(t, in, &taxCert)
		h2.Transport.(*http.Transport).ForceAttemptHTTP2 = true
		resp, err := h2.Get(gw("/gw/gongan/v1/statistics/population"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
			t.Fatalf("%s %d", resp.Proto, resp.StatusCode)
		}
	})

	t.Run("ok/audit-entries", func(t *testing.T) {
		out, err := in.CLI("audit", "search", "--json", "--action", gateway.ActionCall, "--limit", "100")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		for _, want := range []string{`"decision":"allow"`, `"decision":"deny"`, `"policy_revision":"` + revision + `"`,
			"no sharing agreement gives department tax", "不予共享", "负面清单", "agreement A-2024-007 expired", `"purpose":"P-IIT-VERIFY"`,
			"renshe.social-insurance GET /gw/renshe/v1/insurance/{id_number}"} {
			if !strings.Contains(out, want) {
				t.Errorf("audit search lacks %q", want)
			}
		}
		if strings.Contains(out, idNumber) {
			t.Error("a clear ID number is in the audit log")
		}
		out, err = in.CLI("audit", "search", "--json", "--action", gateway.ActionResult, "--limit", "100")
		if err != nil || !strings.Contains(out, `"decision_index":`+allowedIndex) || !strings.Contains(out, `"outcome":"200"`) {
			t.Errorf("result entries: %v\n%s", err, out)
		}
	})

	t.Run("ok/evidence-and-replay", func(t *testing.T) {
		// The caller fetches the proof of its call (no auditor needed).
		var ev response
		for i := 0; i < 50; i++ {
			if ev = do(t, tax, "GET", gw("/gateway/v1/evidence/"+allowedIndex), nil, nil); ev.status != 409 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if ev.status != 200 {
			t.Fatalf("evidence for the caller: %d %s", ev.status, ev.body)
		}
		// A third department may not.
		in.Enrol(t, "scjg-svc", "--profile", "service", "--department", "scjg", "--service", "api", "--dns", "api.scjg.example")
		scjgCert := serverproc.ServiceCert(t, filepath.Join(dir, "scjg-svc"))
		if r := do(t, gatewayClient(t, in, &scjgCert), "GET", gw("/gateway/v1/evidence/"+allowedIndex), nil, nil); r.status != 403 {
			t.Fatalf("evidence for a third party: %d %s", r.status, r.body)
		}
		// The upstream, by its own certificate.
		renCert := serverproc.ServiceCert(t, filepath.Join(dir, "renshe-api"))
		if r := do(t, gatewayClient(t, in, &renCert), "GET", gw("/gateway/v1/evidence/"+allowedIndex), nil, nil); r.status != 200 {
			t.Fatalf("evidence for the called department: %d %s", r.status, r.body)
		}
		// Offline: caller token, timestamp and inclusion proof with the
		// published keys alone.
		keys := do(t, in.Client(), "GET", in.URL("/gateway/v1/keys"), nil, nil)
		os.WriteFile(filepath.Join(dir, "keys.json"), []byte(keys.body), 0o644)
		os.WriteFile(filepath.Join(dir, "evidence.json"), []byte(ev.body), 0o644)
		out, err := in.Run("gateway", "verify-evidence", "--keys", "keys.json", "--audience", "renshe", "--path-prefix", "/api",
			"--method", allowedCall.method, "--path", allowedCall.path, "--query", allowedCall.query,
			"--caller-token", allowedCall.header.Get(gateway.HeaderCaller), "--timestamp", allowedCall.header.Get(gateway.HeaderTimestamp),
			"--proof", "evidence.json", "--audit-keys", serverproc.PKI("audit-note-keys.txt"))
		if err != nil || !strings.Contains(out, "included in the signed checkpoint") || !strings.Contains(out, "spiffe://tongxing.internal/dept/tax/svc/invoice-api") {
			t.Fatalf("verify-evidence: %v\n%s", err, out)
		}
		if out, err := in.Run("gateway", "verify-evidence", "--keys", "keys.json", "--audience", "renshe", "--path-prefix", "/api",
			"--method", "GET", "--path", "/api/v1/insurance/110105194912310000",
			"--caller-token", allowedCall.header.Get(gateway.HeaderCaller), "--timestamp", allowedCall.header.Get(gateway.HeaderTimestamp)); err == nil {
			t.Fatalf("verify-evidence accepted another path:\n%s", out)
		}
		// A replayed Tongxing-Caller, sent straight to the upstream with the
		// captured headers, is refused.
		hdr := map[string]string{}
		for _, k := range []string{gateway.HeaderCaller, gateway.HeaderTimestamp, gateway.HeaderPurpose} {
			hdr[k] = allowedCall.header.Get(k)
		}
		r := do(t, gatewayClient(t, in, &taxCert), "GET", "https://127.0.0.1:"+d.rensheGP+allowedCall.path, hdr, nil)
		if r.status != 401 || !strings.Contains(r.body, "replayed") {
			t.Fatalf("replay: %d %s", r.status, r.body)
		}
	})

	t.Run("ok/token-exchange-and-access-log", func(t *testing.T) {
		out, err := in.RunStdin("correct horse battery staple\n", "users", "add", "zhangsan", "--password-stdin", "--name", "张三", "--id-number", idNumber, "--server", in.URL(""))
		if err != nil {
			t.Fatalf("users add: %v\n%s", err, out)
		}
		browser, portalTok := browserLogin(t, in, "zhangsan", "correct horse battery staple", d.portalSecret)
		m := tokenRequest(t, in, "tax-svc", d.serviceSecret, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"},
			"subject_token": {portalTok}, "subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}, "audience": {"renshe"}})
		svcTok, _ := m["access_token"].(string)
		before := renshe.count()
		r := do(t, anon, "GET", gw("/gw/renshe/v1/insurance/"+idNumber), map[string]string{"Authorization": "Bearer " + svcTok, gateway.HeaderPurpose: "P-IIT-VERIFY"}, nil)
		if r.status != 200 || renshe.count() != before+1 {
			t.Fatalf("token-exchange call: %d %s", r.status, r.body)
		}
		last := renshe.last()
		if last.err != nil || last.header.Get("Authorization") != "" || last.evidence.Claims.Act != "tax-svc" || last.evidence.Claims.Subject != "client:tax-svc" {
			t.Fatalf("upstream saw %+v (err %v, authorization %q)", last.evidence, last.err, last.header.Get("Authorization"))
		}
		// The same token for another citizen is refused.
		if r := do(t, anon, "GET", gw("/gw/renshe/v1/insurance/110101199003077774"), map[string]string{"Authorization": "Bearer " + svcTok, gateway.HeaderPurpose: "P-IIT-VERIFY"}, nil); r.status != 403 || !strings.Contains(r.body, "names another") {
			t.Fatalf("another citizen: %d %s", r.status, r.body)
		}
		// The citizen sees both the token-exchange call and the earlier
		// certificate call that named their ID number.
		al := do(t, browser, "GET", in.URL("/me/v1/access-log"), nil, nil)
		if al.status != 200 {
			t.Fatalf("access log: %d %s", al.status, al.body)
		}
		var log gateway.AccessLog
		if err := json.Unmarshal([]byte(al.body), &log); err != nil {
			t.Fatal(err)
		}
		var viaToken, viaCert bool
		for _, a := range log.Accesses {
			if a.Resource == "renshe.social-insurance" && a.Department == "tax" && a.Purpose == "P-IIT-VERIFY" && a.TargetDepartmentName == "人力资源和社会保障局" {
				if a.Caller == "client:tax-svc" {
					viaToken = true
				} else if strings.HasPrefix(a.Caller, "spiffe://") {
					viaCert = true
				}
			}
		}
		if !viaToken || !viaCert || len(log.Accesses) != 2 {
			t.Fatalf("access log %s", al.body)
		}
		if r := do(t, in.Client(), "GET", in.URL("/me/v1/access-log"), nil, nil); r.status != 401 {
			t.Fatalf("access log without a session: %d", r.status)
		}
	})

	t.Run("fail/bad-signature-bundle", func(t *testing.T) {
		out, err := in.Run("policy", "build", "-o", "good.tar.gz")
		if err != nil {
			t.Fatalf("policy build: %v\n%s", err, out)
		}
		good, _ := os.ReadFile(filepath.Join(dir, "good.tar.gz"))
		os.WriteFile(filepath.Join(dir, "bad.tar.gz"), tamper(t, good), 0o644)
		out, err = in.CLI("policy", "push", "bad.tar.gz")
		if err == nil || !strings.Contains(out, "signature") {
			t.Fatalf("push of a tampered bundle: %v\n%s", err, out)
		}
		out, err = in.CLI("audit", "search", "--json", "--action", "authz.bundle.refuse")
		if err != nil || !strings.Contains(out, "signature") {
			t.Fatalf("refusal not audited: %v\n%s", err, out)
		}
		if got := do(t, in.Client(), "GET", in.URL("/readyz"), nil, nil).json(t)["policy_revision"]; got != revision {
			t.Fatalf("revision changed to %v", got)
		}
	})

	t.Run("ok/policy-tools", func(t *testing.T) {
		if out, err := in.Run("policy", "test"); err != nil || !strings.Contains(out, " passed, 0 failed") {
			t.Fatalf("policy test: %v\n%s", err, out)
		}
		os.WriteFile(filepath.Join(dir, "input.json"), []byte(`{"caller":{"department":"tax"},"target":{"department":"renshe"},
			"resource":{"id":"renshe.social-insurance"},"purpose":"P-IIT-VERIFY","citizen":{"named":"x"},
			"time_ns":1780000000000000000,"method":"GET","path":"/v1/insurance/{id_number}"}`), 0o644)
		out, err := in.Run("policy", "eval", "--input", "input.json", "--bundle", "good.tar.gz", "--explain")
		if err != nil || !strings.Contains(out, `"allow": true`) || !strings.Contains(out, "gateway.rego") || !strings.Contains(out, "A-2025-002") {
			t.Fatalf("policy eval: %v\n%.3000s", err, out)
		}
		if out, err := in.Run("policy", "eval", "--input", "input.json", "--bundle", "bad.tar.gz"); err == nil || !strings.Contains(out, "signature") {
			t.Fatalf("policy eval of a tampered bundle: %v\n%s", err, out)
		}
	})

	t.Run("fail/tsa-or-audit-down", func(t *testing.T) {
		db, err := store.Open(context.Background(), filepath.Join(dir, "tongxing-data", "tongxing.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		ctx := context.Background()
		// The allowed call's timestamp token is kept beside the audit log
		// under the reference its entry names.
		if allowedCall.header != nil {
			der, _ := base64.StdEncoding.DecodeString(allowedCall.header.Get(gateway.HeaderTimestamp))
			var ref string
			if err := db.QueryRow(ctx, "SELECT ref FROM audit_tokens WHERE token = ?", der).Scan(&ref); err != nil || !strings.HasPrefix(ref, "tsa:serial:") {
				t.Errorf("the allowed call's token is not kept: %q %v", ref, err)
			}
			t.Logf("allowed call's token kept as %s", ref)
		}
		call := func() response {
			return do(t, tax, "GET", gw("/gw/gongan/v1/statistics/population"), nil, nil)
		}
		// The TSA refuses once it cannot store its high-water mark of
		// genTime (it keeps one about a second ahead of its clock): every
		// write to timestamp_watermarks fails.
		for _, stmt := range []string{
			"CREATE TRIGGER gateway_test_tsa_ins BEFORE INSERT ON timestamp_watermarks BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
			"CREATE TRIGGER gateway_test_tsa_upd BEFORE UPDATE ON timestamp_watermarks BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
		} {
			if _, err := db.Exec(ctx, stmt); err != nil {
				t.Fatal(err)
			}
		}
		refused := false
		for deadline := time.Now().Add(10 * time.Second); !refused && time.Now().Before(deadline); {
			before := hits()
			r := call()
			switch r.status {
			case 200:
				time.Sleep(50 * time.Millisecond)
			case 503:
				if !strings.Contains(r.body, "timestamp authority") || hits() != before {
					t.Fatalf("TSA down: %s (upstream calls %d -> %d)", r.body, before, hits())
				}
				refused = true
			default:
				t.Fatalf("TSA down: %d %s", r.status, r.body)
			}
		}
		db.Exec(ctx, "DROP TRIGGER gateway_test_tsa_ins")
		db.Exec(ctx, "DROP TRIGGER gateway_test_tsa_upd")
		if !refused {
			t.Fatal("the gateway kept forwarding while the TSA could not issue")
		}
		if r := call(); r.status != 200 {
			t.Fatalf("TSA back: %d %s", r.status, r.body)
		}
		// The audit log refuses every insert.
		if _, err := db.Exec(ctx, "CREATE TRIGGER gateway_test_fault BEFORE INSERT ON audit_entries BEGIN SELECT RAISE(ABORT, 'injected fault'); END"); err != nil {
			t.Fatal(err)
		}
		before := hits()
		r := call()
		db.Exec(ctx, "DROP TRIGGER gateway_test_fault")
		if r.status != 503 || !strings.Contains(r.body, "audit log") || hits() != before {
			t.Fatalf("audit down: %d %s (upstream calls %d -> %d)", r.status, r.body, before, hits())
		}
		if r := call(); r.status != 200 {
			t.Fatalf("audit back: %d %s", r.status, r.body)
		}
		metricsToken, err := os.ReadFile(filepath.Join(in.Dir, "tongxing-data", "secrets", "metrics-token"))
		if err != nil {
			t.Fatal(err)
		}
		metrics := do(t, in.Client(), "GET", in.URL("/metrics"), map[string]string{"Authorization": "Bearer " + strings.TrimSpace(string(metricsToken))}, nil).body
		for _, dep := range []string{"tsa", "audit"} {
			if !strings.Contains(metrics, fmt.Sprintf(`tongxing_gateway_unavailable_total{dependency=%q} 1`, dep)) {
				t.Errorf("metric for %s not raised", dep)
			}
		}
	})

	if err := in.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("stop: %v\n%s", err, in.Out)
	}
	if out, err := in.Run("audit", "verify"); err != nil || !strings.Contains(out, "audit log OK") {
		t.Fatalf("audit verify: %v\n%s", err, out)
	}
}
