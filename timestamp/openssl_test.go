package timestamp_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tongxing/tongxing/internal/testpki"
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/timestamp"
)

func opensslPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed; OpenSSL interop not checked")
	}
	return p
}

func runOpenSSL(t *testing.T, openssl string, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(openssl, args...).CombinedOutput()
	return string(out), err
}

// TestOpenSSLInterop sends queries made by `openssl ts -query` to the
// Authority and checks the replies with `openssl ts -verify` and
// `openssl ts -reply -text`.
func TestOpenSSLInterop(t *testing.T) {
	openssl := opensslPath(t)
	a := newAuthority(t)
	intl := pkis(t)[kms.Intl]
	dir := t.TempDir()
	caFile := testpki.WritePEM(t, dir, "chain.pem", intl.Root)
	tsaFile := testpki.WritePEM(t, dir, "tsa.pem", intl.Leaf)
	dataFile := filepath.Join(dir, "filing.txt")
	if err := os.WriteFile(dataFile, []byte("企业申报材料 — interop\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		query      []string // extra openssl ts -query flags
		granted    bool
		failure    timestamp.FailureInfo
		replyText  string   // expected in `openssl ts -reply -text`
		verifyArgs []string // extra openssl ts -verify flags
	}{
		{"ok/sha256-cert-no-nonce", []string{"-sha256", "-cert", "-no_nonce"}, true, 0, "Policy OID: 1.3.6.1.4.1.99999.1.1", nil},
		{"ok/sha384-cert-nonce", []string{"-sha384", "-cert"}, true, 0, "Nonce: 0x", nil},
		{"ok/sha512-cert", []string{"-sha512", "-cert"}, true, 0, "Hash Algorithm: sha512", nil},
		{"ok/sha256-accepted-policy", []string{"-sha256", "-cert", "-tspolicy", otherPolicy.String()}, true, 0, "Policy OID: " + otherPolicy.String(), nil},
		{"ok/sha256-no-cert", []string{"-sha256"}, true, 0, "Accuracy: 0x01 seconds", []string{"-untrusted", tsaFile}},
		{"fail/sha1", []string{"-sha1", "-cert"}, false, timestamp.BadAlg, "unrecognized or unsupported algorithm", nil},
		{"fail/md5", []string{"-md5", "-cert"}, false, timestamp.BadAlg, "unrecognized or unsupported algorithm", nil},
		{"fail/unaccepted-policy", []string{"-sha256", "-cert", "-tspolicy", badPolicy.String()}, false, timestamp.UnacceptedPolicy, "TSA policy is not supported", nil},
		// OpenSSL's TS code reads only the RFC 5652 signedData content type,
		// so the gm token of an SM3 query is checked with VerifyToken alone.
		{"ok/sm3-query-gets-gm-token", []string{"-sm3", "-cert"}, true, 0, "", nil},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tsq := filepath.Join(dir, fmt.Sprintf("q%d.tsq", i))
			tsr := filepath.Join(dir, fmt.Sprintf("q%d.tsr", i))
			args := append([]string{"ts", "-query", "-data", dataFile, "-out", tsq}, tc.query...)
			if out, err := runOpenSSL(t, openssl, args...); err != nil {
				t.Fatalf("openssl ts -query: %v\n%s", err, out)
			}
			q, err := os.ReadFile(tsq)
			if err != nil {
				t.Fatal(err)
			}
			req, err := timestamp.ParseRequest(q)
			if err != nil {
				t.Fatalf("ParseRequest of an openssl query: %v", err)
			}
			if re, err := req.Marshal(); err != nil || !bytes.Equal(re, q) {
				t.Fatalf("openssl query does not re-encode to the same DER: %v", err)
			}
			resp := a.Respond(context.Background(), q)
			der, err := resp.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(tsr, der, 0o600); err != nil {
				t.Fatal(err)
			}
			if tc.replyText == "" {
				if resp.Err() != nil {
					t.Fatal(resp.Err())
				}
				if _, err := timestamp.VerifyToken(resp.Token, timestamp.VerifyOptions{Digest: req.MessageImprint.HashedMessage, Roots: roots(t, kms.GM)}); err != nil {
					t.Fatal(err)
				}
				return
			}
			text, err := runOpenSSL(t, openssl, "ts", "-reply", "-in", tsr, "-text")
			if err != nil {
				t.Fatalf("openssl ts -reply -text: %v\n%s", err, text)
			}
			if !strings.Contains(text, tc.replyText) {
				t.Fatalf("openssl reply text lacks %q:\n%s", tc.replyText, text)
			}
			if !tc.granted {
				if resp.FailInfo != tc.failure || !strings.Contains(text, "Status: Rejected") {
					t.Fatalf("failure %s, want %s\n%s", resp.FailInfo, tc.failure, text)
				}
				return
			}
			if !strings.Contains(text, "Status: Granted") {
				t.Fatalf("not granted:\n%s", text)
			}
			for _, v := range [][]string{
				{"ts", "-verify", "-data", dataFile, "-in", tsr, "-CAfile", caFile},
				{"ts", "-verify", "-queryfile", tsq, "-in", tsr, "-CAfile", caFile},
			} {
				if out, err := runOpenSSL(t, openssl, append(v, tc.verifyArgs...)...); err != nil || !strings.Contains(out, "Verification: OK") {
					t.Fatalf("openssl %s: %v\n%s", strings.Join(v[:2], " "), err, out)
				}
			}
		})
	}
}

// TestOpenSSLTokensVerify makes OpenSSL act as the TSA with the intl test
// key and checks that VerifyToken accepts its tokens: a second,
// independent encoder for the verifier.
func TestOpenSSLTokensVerify(t *testing.T) {
	openssl := opensslPath(t)
	intl := pkis(t)[kms.Intl]
	dir := t.TempDir()
	tsaFile := testpki.WritePEM(t, dir, "tsa.pem", intl.Leaf)
	keyDER, err := x509.MarshalPKCS8PrivateKey(intl.LeafKey)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "tsa.key")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`[ tsa ]
default_tsa = tsa1
[ tsa1 ]
serial = %s
crypto_device = builtin
signer_digest = sha256
default_policy = %s
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = %s
`, filepath.Join(dir, "serial"), testPolicy, "sha256")
	confFile := filepath.Join(dir, "ts.cnf")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "serial"), []byte("01\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := []byte("data stamped by OpenSSL\n")
	dataFile := filepath.Join(dir, "data.txt")
	if err := os.WriteFile(dataFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		query []string
		want  error
		data  []byte
	}{
		{"ok/sha256-cert", []string{"-sha256", "-cert"}, nil, data},
		{"ok/sha512-cert", []string{"-sha512", "-cert"}, nil, data},
		{"fail/other-data", []string{"-sha256", "-cert"}, timestamp.ErrImprintMismatch, []byte("other")},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tsq := filepath.Join(dir, fmt.Sprintf("o%d.tsq", i))
			tsr := filepath.Join(dir, fmt.Sprintf("o%d.tsr", i))
			if out, err := runOpenSSL(t, openssl, append([]string{"ts", "-query", "-data", dataFile, "-out", tsq}, tc.query...)...); err != nil {
				t.Fatalf("query: %v\n%s", err, out)
			}
			if out, err := runOpenSSL(t, openssl, "ts", "-reply", "-config", confFile, "-queryfile", tsq,
				"-inkey", keyFile, "-signer", tsaFile, "-out", tsr); err != nil {
				t.Fatalf("openssl ts -reply: %v\n%s", err, out)
			}
			der, err := os.ReadFile(tsr)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := timestamp.ParseResponse(der)
			if err != nil {
				t.Fatal(err)
			}
			if err := resp.Err(); err != nil {
				t.Fatal(err)
			}
			info, err := timestamp.VerifyToken(resp.Token, timestamp.VerifyOptions{Data: tc.data, Roots: intl.Roots()})
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !info.Policy.Equal(testPolicy) || info.TSAName == nil || info.Suite != kms.Intl {
				t.Fatalf("info %+v", info.TSTInfo)
			}
		})
	}
}
