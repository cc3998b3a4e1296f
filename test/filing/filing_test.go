package filing

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tongxing/tongxing/test/serverproc"
)

const (
	organisation = "福州示例科技有限公司"
	uscc         = "91350100M000100Y43"
	signerName   = "李四"
)

// report is the part of signature.Report the tests read.
type report struct {
	Valid  bool `json:"valid"`
	Signer struct {
		CommonName   string `json:"commonName"`
		Organization string `json:"organization"`
		USCC         string `json:"uscc"`
	} `json:"signer"`
	Timestamp *struct {
		Time time.Time `json:"time"`
	} `json:"timestamp"`
	ClaimedSigningTime *time.Time `json:"claimedSigningTime"`
	Checks             []struct {
		Name, Status, Detail string
	} `json:"checks"`
}

func (r *report) check(name string) (status, detail string) {
	for _, c := range r.Checks {
		if c.Name == name {
			return c.Status, c.Detail
		}
	}
	return "", ""
}

func containsAll(t *testing.T, what, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, out)
		}
	}
}

// TestFiling is the enterprise filing flow end to end.
func TestFiling(t *testing.T) {
	dir := t.TempDir()
	in := serverproc.Start(t, binary, dir)
	defer in.Stop(syscall.SIGTERM)

	ecert, serial := in.Enrol(t, "ecert", "--profile", "enterprise-sign", "--organization", organisation, "--uscc", uscc, "--name", signerName)
	filing := []byte("%PDF-1.7\n% 申报材料: 2026 年度企业所得税汇算清缴申报表\n" + strings.Repeat("0123456789", 2000) + "\n%%EOF\n")
	writeFile(t, filepath.Join(dir, "filing.pdf"), filing)
	gmRoot := pki("gm-root.crt")
	signArgs := func(file string, extra ...string) []string {
		return append([]string{"sign", file, "--cert", filepath.Join(ecert, "cert.pem"), "--key", filepath.Join(ecert, "key.pem"),
			"--tsa", in.URL("/tsa"), "-o", file + ".p7s"}, extra...)
	}

	out, err := in.CLI(signArgs("filing.pdf")...)
	if err != nil {
		t.Fatalf("sign: %v\n%s", err, out)
	}
	signedAt := time.Now()
	containsAll(t, "sign output", out, "time-stamped at", "filing.pdf.p7s")

	t.Run("ok/verify-shows-signer-organisation-uscc-and-times", func(t *testing.T) {
		out, err := in.Run("verify", "filing.pdf.p7s", "filing.pdf", "--ca", gmRoot)
		if err != nil {
			t.Fatalf("verify: %v\n%s", err, out)
		}
		containsAll(t, "verify report", out, "签名有效 VALID", signerName, organisation, uscc,
			"可信签名时间 / Trusted time:", "声称签名时间 / Claimed time:", "[通过 PASS] 证书未吊销 / Certificate not revoked", "SM3 / SM2")
		if strings.Contains(out, "Trusted time:                无") {
			t.Errorf("no trusted time:\n%s", out)
		}
		out, err = in.Run("verify", "filing.pdf.p7s", "--ca", gmRoot, "--json")
		if err != nil {
			t.Fatalf("verify --json (content found next to the .p7s): %v\n%s", err, out)
		}
		var rep report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("JSON report: %v\n%s", err, out)
		}
		if !rep.Valid || rep.Signer.CommonName != signerName || rep.Signer.Organization != organisation || rep.Signer.USCC != uscc {
			t.Errorf("report: %+v", rep)
		}
		if rep.Timestamp == nil || rep.ClaimedSigningTime == nil || rep.Timestamp.Time.Sub(*rep.ClaimedSigningTime).Abs() > time.Minute {
			t.Errorf("signing time %v and time-stamp %+v", rep.ClaimedSigningTime, rep.Timestamp)
		}
		if st, detail := rep.check("revocation"); st != "passed" {
			t.Errorf("revocation check %s: %s", st, detail)
		}
	})

	t.Run("fail/changed-byte", func(t *testing.T) {
		changed := bytes.Clone(filing)
		changed[len(changed)/2] ^= 0x20
		writeFile(t, filepath.Join(dir, "changed.pdf"), changed)
		out, err := in.Run("verify", "filing.pdf.p7s", "changed.pdf", "--ca", gmRoot)
		if err == nil {
			t.Fatalf("verify accepted a changed file:\n%s", out)
		}
		containsAll(t, "verify of a changed file", out, "签名无效 INVALID", "[失败 FAIL] 文件内容未被篡改 / Content unchanged", "does not match", "signature is INVALID: content:")
	})

	t.Run("fail/untrusted-root", func(t *testing.T) {
		out, err := in.Run("verify", "filing.pdf.p7s", "filing.pdf", "--ca", pki("intl-root.crt"))
		if err == nil || !strings.Contains(out, "certificate-chain") {
			t.Errorf("verify against the intl root: %v\n%s", err, out)
		}
	})

	t.Run("ok/oids-pkcs7-with-sm2-key", func(t *testing.T) {
		out, err := in.CLI(signArgs("filing.pdf", "--oids", "pkcs7", "-o", "pkcs7.p7s")...)
		if err != nil {
			t.Fatalf("--oids pkcs7: %v\n%s", err, out)
		}
		p7, err := os.ReadFile(filepath.Join(dir, "pkcs7.p7s"))
		if err != nil {
			t.Fatal(err)
		}
		// ContentInfo starts with the RFC 5652 signedData OID 1.2.840.113549.1.7.2.
		if !bytes.Contains(p7[:24], []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02}) {
			t.Errorf("--oids pkcs7 did not write the RFC 5652 signedData OID: % x", p7[:24])
		}
		out, err = in.Run("verify", "pkcs7.p7s", "filing.pdf", "--ca", gmRoot)
		if err != nil || !strings.Contains(out, "VALID") {
			t.Errorf("verify of the pkcs7-OID filing: %v\n%s", err, out)
		}
	})

	t.Run("ok/attached-without-tsa", func(t *testing.T) {
		out, err := in.CLI("sign", "filing.pdf", "--cert", filepath.Join(ecert, "cert.pem"), "--key", filepath.Join(ecert, "key.pem"),
			"--attached", "--no-tsa", "--oids", "gmt0010", "-o", "attached.p7s")
		if err != nil {
			t.Fatalf("sign --attached: %v\n%s", err, out)
		}
		out, err = in.Run("verify", "attached.p7s", "--ca", gmRoot)
		if err != nil {
			t.Fatalf("verify attached: %v\n%s", err, out)
		}
		containsAll(t, "attached report", out, "签名有效 VALID", "[未检查 N/A] 可信时间戳")
		out, err = in.Run("verify", "attached.p7s", "--ca", gmRoot, "--require-timestamp")
		if err == nil || !strings.Contains(out, "timestamp: no time-stamp token") {
			t.Errorf("--require-timestamp accepted a signature without a time-stamp: %v\n%s", err, out)
		}
	})

	t.Run("ok/ts-request-and-verify", func(t *testing.T) {
		// The token carries only the TSA certificate: --ca gives root and issuing CA.
		for _, tc := range []struct{ suite, root, hash string }{
			{"gm", "gm", "SM3"},
			{"intl", "intl", "SHA-256"},
		} {
			ca := []string{"--ca", pki(tc.root + "-root.crt"), "--ca", pki(tc.root + "-issuing.crt")}
			tsr := tc.suite + ".tsr"
			out, err := in.CLI("ts", "request", "filing.pdf", "--"+tc.suite, "-o", tsr)
			if err != nil {
				t.Fatalf("ts request --%s: %v\n%s", tc.suite, err, out)
			}
			out, err = in.Run(append([]string{"ts", "verify", "filing.pdf", tsr}, ca...)...)
			if err != nil {
				t.Fatalf("ts verify %s: %v\n%s", tc.suite, err, out)
			}
			containsAll(t, "ts verify "+tc.suite, out, "Verification: OK", "genTime:", "serial:", "policy:", "TSA:", "Timestamp Authority", "hash:      "+tc.hash, "suite:     "+tc.suite)
			out, err = in.Run(append([]string{"ts", "verify", "changed.pdf", tsr}, ca...)...)
			if err == nil || !strings.Contains(out, "message imprint does not match") {
				t.Errorf("ts verify of a changed file (%s): %v\n%s", tc.suite, err, out)
			}
		}
		out, err := in.Run("ts", "verify", "filing.pdf", "intl.tsr", "--ca", gmRoot, "--ca", pki("gm-issuing.crt"))
		if err == nil || !strings.Contains(out, "not trusted") {
			t.Errorf("intl token against the gm root: %v\n%s", err, out)
		}
	})

	t.Run("ok/openssl-verifies-the-intl-reply", func(t *testing.T) {
		if _, err := exec.LookPath("openssl"); err != nil {
			serverproc.Missing(t, "openssl is not installed on this machine (CI installs it)")
		}
		chain := append(readFile(t, filepath.Join(dir, pki("intl-root.crt"))), readFile(t, filepath.Join(dir, pki("intl-issuing.crt")))...)
		writeFile(t, filepath.Join(dir, "chain.pem"), chain)
		cmd := exec.Command("openssl", "ts", "-verify", "-data", "filing.pdf", "-in", "intl.tsr", "-CAfile", "chain.pem")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Verification: OK") {
			t.Errorf("openssl ts -verify: %v\n%s", err, out)
		}
	})

	t.Run("ok/revocation-after-signing-keeps-the-filing-valid", func(t *testing.T) {
		// Revocation times have whole seconds: keep the events apart.
		time.Sleep(time.Until(signedAt.Add(1500 * time.Millisecond)))
		out, err := in.CLI("ca", "revoke", serial, "--reason", "keyCompromise", "--comment", "key leaked")
		if err != nil {
			t.Fatalf("revoke: %v\n%s", err, out)
		}
		time.Sleep(1500 * time.Millisecond)
		writeFile(t, filepath.Join(dir, "later.pdf"), []byte("%PDF-1.7\n% 撤销后签署的申报材料\n%%EOF\n"))
		out, err = in.CLI(signArgs("later.pdf")...)
		if err != nil {
			t.Fatalf("sign after revocation: %v\n%s", err, out)
		}

		out, err = in.Run("verify", "filing.pdf.p7s", "filing.pdf", "--ca", gmRoot)
		if err != nil {
			t.Fatalf("a filing time-stamped before the revocation no longer verifies: %v\n%s", err, out)
		}
		containsAll(t, "report of the earlier filing", out, "签名有效 VALID", "[通过 PASS] 证书未吊销")

		out, err = in.Run("verify", "later.pdf.p7s", "later.pdf", "--ca", gmRoot)
		if err == nil {
			t.Fatalf("a filing signed after the revocation verifies:\n%s", out)
		}
		containsAll(t, "report of the later filing", out, "签名无效 INVALID", "[失败 FAIL] 证书未吊销", "revoked since", "keyCompromise", "signature is INVALID: revocation:")

		out, err = in.Run("verify", "later.pdf.p7s", "later.pdf", "--ca", gmRoot, "--no-revocation")
		if err != nil || !strings.Contains(out, "[未检查 N/A] 证书未吊销") {
			t.Errorf("--no-revocation: %v\n%s", err, out)
		}
	})

	t.Run("ok/verification-api-gives-the-same-verdicts", func(t *testing.T) {
		for _, tc := range []struct {
			sig, content string
			valid        bool
			detail       string
		}{
			{"filing.pdf.p7s", "filing.pdf", true, "not revoked"},
			{"later.pdf.p7s", "later.pdf", false, "keyCompromise"},
			{"filing.pdf.p7s", "changed.pdf", false, ""},
		} {
			rep := postVerify(t, in, filepath.Join(dir, tc.sig), filepath.Join(dir, tc.content))
			if rep.Valid != tc.valid {
				t.Errorf("%s over %s: API says valid=%v, want %v: %+v", tc.sig, tc.content, rep.Valid, tc.valid, rep.Checks)
			}
			if _, detail := rep.check("revocation"); tc.detail != "" && !strings.Contains(detail, tc.detail) {
				t.Errorf("%s: API revocation detail %q lacks %q", tc.sig, detail, tc.detail)
			}
			if tc.content == "changed.pdf" {
				if st, _ := rep.check("content"); st != "failed" {
					t.Errorf("API content check on a changed file: %s", st)
				}
			}
		}
	})
}

// postVerify sends a signature and its file to POST /signature/v1/verify.
func postVerify(t *testing.T, in *serverproc.Instance, sigPath, contentPath string) *report {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for name, path := range map[string]string{"signature": sigPath, "content": contentPath} {
		w, err := mw.CreateFormFile(name, filepath.Base(path))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	mw.Close()
	resp, err := in.Client().Post(in.URL("/signature/v1/verify"), mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("POST /signature/v1/verify: %d %s", resp.StatusCode, b)
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("API report: %v\n%s", err, b)
	}
	return &rep
}
