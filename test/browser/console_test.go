package browser

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tongxing/tongxing/test/serverproc"
)

// officerAccount is a sign-on account bound to an officer.
type officerAccount struct{ user, password, officer, role, approver string }

// TestConsole signs three officers in to the console at /console through
// Tongxing's own OpenID Connect provider, each as the sign-on account
// bound to a new officer of their role, at level 3 (password and a
// one-time code they enrol first), in headless Chromium (console.mjs):
//
//   - the security auditor searches the audit log, opens an entry that the
//     server shows as verified against the latest signed checkpoint, and
//     exports its evidence bundle, which `tongxing audit verify-bundle`
//     accepts; the registration desk is refused to them;
//   - the registration officer revokes a certificate, after which OCSP
//     (OpenSSL against /ocsp) says revoked; the audit pages are refused;
//   - the system administrator (first) sees officers, the registered
//     portals and departments, proposes a new registration officer, which
//     the registration officer approves in the console, and is refused the
//     audit pages (403, and access.deny in the audit log).
//
// axe-core runs on every page opened: no serious or critical violation.
func TestConsole(t *testing.T) {
	node := tools(t)
	dir := t.TempDir()
	in := serverproc.Start(t, binary, dir)
	defer in.Stop(syscall.SIGTERM)
	run := func(args ...string) string { t.Helper(); return in.MustCLI(t, args...) }
	accounts := []officerAccount{
		{"shenji", "audit pass phrase one", "auditor-2", "auditor", "auditor"},
		{"dengji", "registration pass phrase", "ra-2", "ra", "ra"},
		// No other sysadmin can approve: the auditor admits them.
		{"xitong", "system admin pass phrase", "sysadmin-2", "sysadmin", "auditor"},
	}
	for _, a := range accounts {
		if out, err := in.RunStdin(a.password, "users", "add", a.user, "--password-stdin", "--name", a.officer,
			"--server", in.URL("")); err != nil {
			t.Fatalf("users add: %v\n%s", err, out)
		}
		var prop struct{ Proposal struct{ ID string } }
		if err := json.Unmarshal([]byte(run("officers", "add", a.officer, "--role", a.role, "--user", a.user, "--json")), &prop); err != nil {
			t.Fatal(err)
		}
		run("officers", "approve", prop.Proposal.ID, "--role", a.approver)
	}

	rp := newRP(t, in)
	var client struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(run("clients", "add", "browser-portal", "--name", "浏览器测试门户", "--redirect-uri", rp.redirect, "--json")), &client); err != nil {
		t.Fatal(err)
	}
	rp.configure(t, in.URL(""), client.ID, client.Secret)

	leafDir, serial := in.Enrol(t, "svc", "--profile", "service", "--department", "tax", "--service", "api", "--dns", "api.tax.example")
	// Chromium's NSS database trusts Tongxing's intl root.
	home := filepath.Join(dir, "home")
	trustRoot(t, dir, home, filepath.Join(dir, serverproc.PKI("intl-root.crt")))
	bundle := filepath.Join(dir, "entry-bundle.jsonl")
	cred := func(a officerAccount) string { return a.user + ":" + a.password }
	res := runScript(t, node, "console.mjs", dir, map[string]string{
		"ISSUER": in.URL(""), "RP": rp.url, "HOME_DIR": home,
		"AUDITOR": cred(accounts[0]), "RA": cred(accounts[1]), "SYSADMIN": cred(accounts[2]),
		"SERIAL": serial, "DOWNLOAD": bundle,
	})
	get := func(path ...string) any {
		var v any = res
		for _, p := range path {
			m, _ := v.(map[string]any)
			v = m[p]
		}
		return v
	}
	str := func(path ...string) string { return fmt.Sprint(get(path...)) }

	t.Run("auditor", func(t *testing.T) {
		if w := str("auditor", "whoami"); !strings.Contains(w, "auditor-2") || !strings.Contains(w, "安全审计员") || !strings.Contains(w, "三级") {
			t.Errorf("console home says %q", w)
		}
		if n, _ := get("auditor", "rows").(float64); n < 1 {
			t.Errorf("search for ca.certificate.issue found %v rows", n)
		}
		if v := str("auditor", "verdict"); !strings.Contains(v, "已验证") || !strings.Contains(v, "由服务器检查") {
			t.Errorf("entry verdict %q", v)
		}
		if n, _ := get("auditor", "charts").(float64); n != 2 {
			t.Errorf("%v charts drawn", n)
		}
		if s := str("auditor", "raStatus"); s != "403" {
			t.Errorf("auditor opened the registration desk: %s", s)
		}
		out, err := in.Run("audit", "verify-bundle", bundle, "--key", filepath.Join("tongxing-data", "pki", "audit-sm2.pub.pem"))
		if err != nil {
			t.Fatalf("verify-bundle of the exported bundle: %v\n%s", err, out)
		}
		b, _ := os.ReadFile(bundle)
		if !strings.Contains(string(b), `"type":"entry"`) {
			t.Errorf("bundle holds no entry:\n%s", b)
		}
		t.Logf("verify-bundle: %s", strings.TrimSpace(out))
	})
	t.Run("ra", func(t *testing.T) {
		if s := str("ra", "status"); !strings.Contains(s, "已撤销") || !strings.Contains(s, "keyCompromise") {
			t.Errorf("certificate page after revocation: %q", s)
		}
		if s := str("ra", "auditStatus"); s != "403" {
			t.Errorf("registration officer opened the audit log: %s", s)
		}
		// The sysadmin's proposal of ra-3, approved in the console by ra-2.
		if c := str("ra", "approverCode"); !strings.HasPrefix(c, "txp_") {
			t.Errorf("approver's claim code %q", c)
		}
		if p := fmt.Sprint(get("ra", "pendingAfter")); strings.Contains(p, "ra-3") {
			t.Errorf("ra-3 still pending after approval: %s", p)
		}
		if out := run("audit", "search", "--action", "access.proposal.approve", "--actor", "officer:ra-2", "--json"); !strings.Contains(out, ":officer:ra-3") || !strings.Contains(out, "proposed by officer:sysadmin-2") {
			t.Errorf("the console approval is not audited as ra-2's:\n%s", out)
		}
		pki := filepath.Join(dir, "tongxing-data", "pki")
		out := serverproc.OpenSSL(t, dir, "ocsp", "-issuer", filepath.Join(pki, "intl-issuing.crt"), "-cert", filepath.Join(dir, leafDir, "cert.pem"),
			"-url", in.URL("/ocsp"), "-CAfile", filepath.Join(pki, "intl-root.crt"))
		if !strings.Contains(out, "Response verify OK") || !strings.Contains(out, "cert.pem: revoked") || !strings.Contains(out, "keyCompromise") {
			t.Errorf("OCSP after the console revoked %s:\n%s", serial, out)
		}
	})
	t.Run("sysadmin", func(t *testing.T) {
		for _, k := range []string{"auditStatus", "entryStatus", "exportStatus"} {
			if s := str("sysadmin", k); s != "403" {
				t.Errorf("sysadmin %s = %s, want 403", k, s)
			}
		}
		if s := str("sysadmin", "refusal"); !strings.Contains(s, "无权") {
			t.Errorf("refusal says %q", s)
		}
		if u := fmt.Sprint(get("sysadmin", "users")); !strings.Contains(u, "shenji") || !strings.Contains(u, "auditor-2") || strings.Contains(u, "重置动态口令") {
			t.Errorf("accounts page: %s (officer-bound accounts offer no one-time code reset)", u)
		}
		if c := fmt.Sprint(get("sysadmin", "clients")); !strings.Contains(c, "tongxing-console") || !strings.Contains(c, "browser-portal") || !strings.Contains(c, rp.redirect) {
			t.Errorf("clients page lists %s", c)
		}
		if c := str("sysadmin", "proposerCode"); !strings.HasPrefix(c, "txp_") {
			t.Errorf("proposer's claim code %q", c)
		}
		if p := fmt.Sprint(get("sysadmin", "ownProposals")); strings.Contains(p, "ra-3") {
			t.Errorf("the sysadmin is offered a proposal of the ra role: %s", p)
		}
		if id := str("sysadmin", "clientID"); id != "jiaoyu-portal" {
			t.Errorf("registered client %q", id)
		}
		if out := run("audit", "search", "--json", "--action", "authn.admin.user.list"); !strings.Contains(out, "officer:sysadmin-2") {
			t.Errorf("the account listing is not audited as sysadmin-2's:\n%s", out)
		}
		out := run("audit", "search", "--json", "--action", "access.deny")
		if !strings.Contains(out, "officer:sysadmin-2") || !strings.Contains(out, "console:GET /console/audit") {
			t.Errorf("the refusal is not in the audit log:\n%s", out)
		}
	})
	t.Run("axe", func(t *testing.T) {
		pages, _ := get("axe").(map[string]any)
		if len(pages) < 10 {
			t.Errorf("axe ran on %d pages", len(pages))
		}
		for name, v := range pages {
			if list, _ := v.([]any); len(list) > 0 {
				t.Errorf("%s: serious or critical accessibility violations: %v", name, list)
			}
		}
	})
}
