package e2e

import (
	"crypto"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/test/serverproc"
)

// token reads the token of the first officer of role.
func token(t *testing.T, in *serverproc.Instance, role string) string { return in.Token(t, role) }

// refused runs a client command that must fail with HTTP status.
func refused(t *testing.T, in *serverproc.Instance, status string, args ...string) string {
	t.Helper()
	out, err := in.CLI(args...)
	if err == nil || !strings.Contains(out, "(HTTP "+status+")") {
		t.Fatalf("tongxing %s: %v, want HTTP %s\n%s", strings.Join(args, " "), err, status, out)
	}
	return out
}

// admit admits officer name of role through the CLI and returns its token.
func admit(t *testing.T, in *serverproc.Instance, name, role string) string {
	return in.Admit(t, name, role)
}

// TestOfficerRoles checks 三员分立 through the binary: each role is refused
// what belongs to another, nobody admits an officer of their own making,
// and every refusal is in the audit log with the officer and the source
// address.
func TestOfficerRoles(t *testing.T) {
	dir := t.TempDir()
	in := serverproc.Start(t, binary, dir)
	defer in.Stop(syscall.SIGTERM)
	sys, ra, aud := token(t, in, "sysadmin"), token(t, in, "ra"), token(t, in, "auditor")
	_, serial := in.Enrol(t, "svc", "--profile", "service", "--department", "tax", "--service", "api", "--dns", "api.tax.example")

	t.Run("fail/auditor-cannot-revoke", func(t *testing.T) {
		refused(t, in, "403", "ca", "revoke", serial, "--token", aud)
		refused(t, in, "403", "ca", "enrol-code", "--profile", "citizen", "--name", "张三", "--id-number", "11010519491231002X", "--token", aud)
	})
	t.Run("fail/sysadmin-cannot-read-the-audit-log-or-act-on-certificates", func(t *testing.T) {
		refused(t, in, "403", "audit", "tail", "--token", sys)
		refused(t, in, "403", "audit", "search", "--json", "--action", "ca.certificate.issue", "--token", sys)
		refused(t, in, "403", "ca", "revoke", serial, "--token", sys)
	})
	t.Run("fail/ra-cannot-add-officers-or-accounts", func(t *testing.T) {
		refused(t, in, "403", "officers", "add", "mallory", "--role", "ra", "--token", ra)
		refused(t, in, "403", "users", "list", "--token", ra)
	})
	t.Run("fail/sysadmin-cannot-activate-an-officer-alone", func(t *testing.T) {
		var prop struct{ Proposal struct{ ID string } }
		json.Unmarshal([]byte(in.MustCLI(t, "officers", "add", "sysadmin-2", "--role", "sysadmin", "--json")), &prop)
		out := refused(t, in, "403", "officers", "approve", prop.Proposal.ID, "--role", "sysadmin")
		if !strings.Contains(out, "cannot approve") {
			t.Errorf("self-approval refusal: %s", out)
		}
		var ra2 struct{ Proposal struct{ ID string } }
		json.Unmarshal([]byte(in.MustCLI(t, "officers", "add", "ra-9", "--role", "ra", "--json")), &ra2)
		refused(t, in, "403", "officers", "approve", ra2.Proposal.ID, "--role", "sysadmin")
		refused(t, in, "403", "officers", "approve", ra2.Proposal.ID, "--role", "auditor")
		if out := in.MustCLI(t, "officers", "list"); strings.Contains(out, "sysadmin-2") || strings.Contains(out, "ra-9") {
			t.Errorf("an unapproved officer exists:\n%s", out)
		}
	})
	t.Run("fail/the-last-usable-officer-stays", func(t *testing.T) {
		refused(t, in, "409", "officers", "revoke", "ra-1")
		refused(t, in, "409", "officers", "revoke", "auditor-1")
	})
	t.Run("ok/refusals-are-audited-with-officer-and-source", func(t *testing.T) {
		out := in.MustCLI(t, "audit", "search", "--json", "--action", "access.deny")
		for _, who := range []string{"officer:auditor-1", "officer:sysadmin-1", "officer:ra-1"} {
			if !strings.Contains(out, `"subject":"`+who+`"`) {
				t.Errorf("no access.deny entry for %s:\n%s", who, out)
			}
		}
		if !strings.Contains(out, `"source_addr":"127.0.0.1:`) || !strings.Contains(out, "POST /ca/v1/certificates/"+serial+"/revoke") {
			t.Errorf("denials lack the source address or the request:\n%s", out)
		}
		out = in.MustCLI(t, "audit", "search", "--json", "--action", "access.proposal.approve")
		if !strings.Contains(out, `"subject":"officer:sysadmin-1"`) || !strings.Contains(out, "failure") {
			t.Errorf("the refused self-approval is not audited:\n%s", out)
		}
		out = in.MustCLI(t, "audit", "search", "--json", "--action", "access.officer.revoke")
		if !strings.Contains(out, "last") {
			t.Errorf("the refused revocation is not audited:\n%s", out)
		}
	})
	t.Run("ok/officer-actions-are-audited", func(t *testing.T) {
		in.MustCLI(t, "clients", "add", "tax-portal", "--name", "税务门户", "--department", "tax",
			"--redirect-uri", "https://tax.example/cb", "--post-logout-redirect-uri", "https://tax.example/",
			"--backchannel-logout-uri", "https://tax.example/logout", "--target-department", "renshe")
		out := in.MustCLI(t, "audit", "search", "--json", "--action", "authn.admin.client.add")
		if !strings.Contains(out, `"subject":"officer:sysadmin-1"`) || !strings.Contains(out, `"source_addr":"127.0.0.1:`) || !strings.Contains(out, "authn:client:tax-portal") {
			t.Errorf("client registration not audited with officer and source:\n%s", out)
		}
		out = in.MustCLI(t, "audit", "search", "--json", "--action", "ca.enrolment-code.create")
		if !strings.Contains(out, `"subject":"officer:ra-1"`) || !strings.Contains(out, `"source_addr":"127.0.0.1:`) {
			t.Errorf("enrolment code creation lacks the officer or its address:\n%s", out)
		}
		out = in.MustCLI(t, "audit", "search", "--json", "--action", "access.allow", "--actor", "officer:ra-1")
		if !strings.Contains(out, "POST /ca/v1/enrolment-codes") {
			t.Errorf("the allowed request is not in the log:\n%s", out)
		}
	})
	t.Run("ok/officer-accounts-cannot-be-reset-by-a-sysadmin", func(t *testing.T) {
		ra2 := admit(t, in, "ra-2", "ra")
		if out := in.MustCLI(t, "officers", "whoami", "--token", ra2); !strings.Contains(out, "officer ra-2, role ra") {
			t.Fatalf("whoami: %s", out)
		}
		for _, u := range []string{"li", "wang"} {
			cmd := append([]string{"users", "add", u, "--password-stdin", "--name", u}, "--server", in.URL(""))
			if out, err := in.RunStdin("correct horse battery staple", cmd...); err != nil {
				t.Fatalf("users add: %v\n%s", err, out)
			}
		}
		var prop struct{ Proposal struct{ ID string } }
		json.Unmarshal([]byte(in.MustCLI(t, "officers", "bind", "ra-2", "--user", "li", "--json")), &prop)
		refused(t, in, "403", "officers", "approve", prop.Proposal.ID, "--token", ra2) // the officer concerned
		in.MustCLI(t, "officers", "approve", prop.Proposal.ID, "--role", "ra")
		if out := in.MustCLI(t, "users", "show", "li"); !strings.Contains(out, "officer:  ra-2") {
			t.Errorf("users show li:\n%s", out)
		}
		refused(t, in, "403", "users", "totp-reset", "li")
		if out, err := in.RunStdin("another long passphrase", "users", "password", "li", "--password-stdin", "--server", in.URL("")); err == nil || !strings.Contains(out, "HTTP 403") {
			t.Errorf("password reset of an officer's account: %v\n%s", err, out)
		}
		in.MustCLI(t, "users", "totp-reset", "wang")
		if out, err := in.RunStdin("another long passphrase", "users", "password", "wang", "--password-stdin", "--server", in.URL("")); err != nil {
			t.Errorf("password reset of a citizen's account: %v\n%s", err, out)
		}
		if out := in.MustCLI(t, "users", "list"); !strings.Contains(out, "li") || !strings.Contains(out, "ra-2") || !strings.Contains(out, "wang") {
			t.Errorf("users list:\n%s", out)
		}
		in.MustCLI(t, "users", "unlock", "wang")
	})
	t.Run("ok/token-renewal", func(t *testing.T) {
		in.MustCLI(t, "officers", "token", "--role", "auditor", "--ttl", "30d")
		if token(t, in, "auditor") == aud {
			t.Fatal("the token file was not rewritten")
		}
		refused(t, in, "401", "audit", "tail", "--token", aud)
		in.MustCLI(t, "audit", "tail", "-n", "1")
	})
}

// TestKeyRecoveryThreeOfficers recovers an escrowed e-cert encryption key
// through the CLI with three registration officers: one requests it, two
// others approve, and the delivered envelope opens to the escrowed key.
func TestKeyRecoveryThreeOfficers(t *testing.T) {
	dir := t.TempDir()
	in := serverproc.Start(t, binary, dir)
	defer in.Stop(syscall.SIGTERM)
	var code struct{ Code string }
	json.Unmarshal([]byte(in.MustCLI(t, "ca", "enrol-code", "--profile", "enterprise-sign", "--organization", "福州示例科技有限公司",
		"--uscc", "91350100M000100Y43", "--name", "李四", "--json")), &code)
	out := in.MustCLI(t, "ca", "request", "--profile", "enterprise", "--dual", "--code", code.Code, "--out", "ecert")
	var encSerial string
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "encryption serial "); ok {
			encSerial = strings.TrimSuffix(strings.Fields(rest)[0], ":")
		}
	}
	if encSerial == "" {
		t.Fatalf("no serial in %s", out)
	}
	ra2 := admit(t, in, "ra-2", "ra")
	ra3 := admit(t, in, "ra-3", "ra")

	var rec struct {
		ID     string
		Status string
	}
	json.Unmarshal([]byte(in.MustCLI(t, "ca", "recovery", "request", encSerial, "--reason", "subscriber lost the key; ticket 42",
		"--deliver-to", filepath.Join("ecert", "sign-cert.pem"), "--json")), &rec)
	if rec.ID == "" || rec.Status != "requested" {
		t.Fatalf("recovery request: %+v", rec)
	}
	refused(t, in, "403", "ca", "recovery", "approve", rec.ID)                                      // the requester
	refused(t, in, "403", "ca", "recovery", "approve", rec.ID, "--token", token(t, in, "sysadmin")) // not a registration officer
	refused(t, in, "409", "ca", "recovery", "deliver", rec.ID, "--out", "early")
	in.MustCLI(t, "ca", "recovery", "approve", rec.ID, "--token", ra2)
	refused(t, in, "409", "ca", "recovery", "approve", rec.ID, "--token", ra2)
	if out := in.MustCLI(t, "ca", "recovery", "approve", rec.ID, "--token", ra3); !strings.Contains(out, "status:     approved") {
		t.Fatalf("after two approvals:\n%s", out)
	}
	out = in.MustCLI(t, "ca", "recovery", "deliver", rec.ID, "--out", "recovered",
		"--key", filepath.Join("ecert", "sign-key.pem"), "--passphrase-file", filepath.Join("ecert", "key.pass"))
	if !strings.Contains(out, "matches the certificate") {
		t.Fatalf("deliver:\n%s", out)
	}
	refused(t, in, "409", "ca", "recovery", "deliver", rec.ID, "--out", "again")

	pass, _ := os.ReadFile(filepath.Join(dir, "ecert", "key.pass"))
	load := func(path string) crypto.Signer {
		b, err := os.ReadFile(filepath.Join(dir, path))
		if err != nil {
			t.Fatal(err)
		}
		k, err := kms.ParseEncryptedPEM(b, []byte(strings.TrimSpace(string(pass))))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return k
	}
	orig, got := load("ecert/enc-key.pem"), load("recovered/enc-key.pem")
	if !orig.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(got.Public()) {
		t.Fatal("the recovered key is not the escrowed encryption key")
	}
	out = in.MustCLI(t, "audit", "search", "--json", "--action", "kmc.recovery.deliver")
	if !strings.Contains(out, `"subject":"officer:ra-1"`) || !strings.Contains(out, rec.ID) || !strings.Contains(out, `"source_addr":"127.0.0.1:`) {
		t.Errorf("delivery not audited:\n%s", out)
	}
	out = in.MustCLI(t, "audit", "search", "--json", "--action", "kmc.recovery.approve")
	for _, who := range []string{"officer:ra-1", "officer:ra-2", "officer:ra-3"} {
		if !strings.Contains(out, `"subject":"`+who+`"`) {
			t.Errorf("no approval entry of %s:\n%s", who, out)
		}
	}
}
