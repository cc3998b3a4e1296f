package ocsp

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tongxing/tongxing/internal/testpki"
	"github.com/tongxing/tongxing/kms"
)

// sm2DistID is the SM2 signer ID OpenSSL must be told explicitly.
const sm2DistID = "distid:1234567812345678"

// opensslDir writes p's certificates as PEM into a temp dir and returns it.
// It skips the test when the openssl binary is absent.
func opensslDir(t *testing.T, p *testPKI) string {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skipf("openssl binary not found: %v", err)
	}
	dir := t.TempDir()
	testpki.WritePEM(t, dir, "issuer.pem", p.issuer)
	testpki.WritePEM(t, dir, "responder.pem", p.responder)
	testpki.WritePEM(t, dir, "leaf.pem", p.leaf)
	return dir
}

// runOpenSSL runs openssl in dir and returns its combined output.
func runOpenSSL(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("openssl", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustOpenSSL(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := runOpenSSL(t, dir, args...)
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TestOpenSSLRequest: our parser accepts requests made by `openssl ocsp`
// (SHA-1, SHA-256 and SM3 CertIDs, with and without nonce), and OpenSSL
// accepts our responses to them, nonce echo included.
func TestOpenSSLRequest(t *testing.T) {
	for _, s := range suites {
		p := newTestPKI(t, s)
		dir := opensslDir(t, p)
		tests := []struct {
			name      string
			args      []string
			wantHash  Hash
			wantNonce bool
		}{
			{"ok/sha1-no-nonce", []string{"-no_nonce"}, SHA1, false},
			{"ok/sha1-nonce", nil, SHA1, true},
			{"ok/sha256-nonce", []string{"-sha256"}, SHA256, true},
			{"ok/sm3-nonce", []string{"-sm3"}, SM3, true},
		}
		for _, tc := range tests {
			t.Run(s.String()+"/"+tc.name, func(t *testing.T) {
				reqFile := strings.ReplaceAll(tc.name, "/", "-") + ".req"
				// The digest option must come before -cert.
				args := append(append([]string{"ocsp", "-issuer", "issuer.pem"}, tc.args...), "-cert", "leaf.pem", "-reqout", reqFile)
				mustOpenSSL(t, dir, args...)
				der, err := os.ReadFile(filepath.Join(dir, reqFile))
				if err != nil {
					t.Fatal(err)
				}
				req, err := ParseRequest(der)
				if err != nil {
					t.Fatalf("ParseRequest(openssl request): %v", err)
				}
				if len(req.CertIDs) != 1 {
					t.Fatalf("%d CertIDs, want 1", len(req.CertIDs))
				}
				id := req.CertIDs[0]
				if id.HashAlgorithm != tc.wantHash || !id.Matches(p.issuer) || id.SerialNumber.Cmp(p.leaf.SerialNumber) != 0 {
					t.Fatalf("CertID %v serial %x does not name the leaf with %v", id.HashAlgorithm, id.SerialNumber, tc.wantHash)
				}
				if tc.wantNonce != (req.Nonce != nil) || req.Nonce != nil && (req.Nonce.Bare || len(req.Nonce.Value) != 16) {
					t.Fatalf("Nonce = %+v, want an RFC 8954 16-byte nonce: %v", req.Nonce, tc.wantNonce)
				}

				// Answer it, echoing CertID and nonce, and let OpenSSL match
				// the response to its request.
				single := SingleResponse{CertID: id, Status: Good, Reason: NoReason, ThisUpdate: p.now, NextUpdate: p.now.Add(5 * time.Minute)}
				resp, err := CreateResponse(p.responder, p.responderKey, ResponseData{ProducedAt: p.now, Responses: []SingleResponse{single}, Nonce: req.Nonce})
				if err != nil {
					t.Fatal(err)
				}
				respFile := reqFile + ".resp"
				if err := os.WriteFile(filepath.Join(dir, respFile), resp, 0o600); err != nil {
					t.Fatal(err)
				}
				out, err := runOpenSSL(t, dir, "ocsp", "-reqin", reqFile, "-respin", respFile, "-CAfile", "issuer.pem")
				if strings.Contains(out, "Nonce Verify error") {
					t.Fatalf("OpenSSL rejects the echoed nonce:\n%s", out)
				}
				if tc.wantNonce && strings.Contains(out, "no nonce in response") {
					t.Fatalf("OpenSSL finds no nonce in the response:\n%s", out)
				}
				if s == kms.Intl {
					if err != nil || !strings.Contains(out, "Response verify OK") {
						t.Fatalf("openssl ocsp -reqin -respin -CAfile: %v\n%s", err, out)
					}
				} else {
					t.Logf("gm: openssl ocsp -reqin -respin -CAfile (nonce matched): %v", err)
				}
				if !tc.wantNonce {
					return
				}
				// Control: OpenSSL does compare nonces in this mode.
				wrong := &Nonce{Value: append([]byte{^req.Nonce.Value[0]}, req.Nonce.Value[1:]...)}
				resp, err = CreateResponse(p.responder, p.responderKey, ResponseData{ProducedAt: p.now, Responses: []SingleResponse{single}, Nonce: wrong})
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, respFile), resp, 0o600); err != nil {
					t.Fatal(err)
				}
				out, _ = runOpenSSL(t, dir, "ocsp", "-reqin", reqFile, "-respin", respFile, "-CAfile", "issuer.pem")
				if !strings.Contains(out, "Nonce Verify error") {
					t.Fatalf("OpenSSL accepts a wrong nonce:\n%s", out)
				}
			})
		}
	}
}

// TestOpenSSLResponse: `openssl ocsp -respin` parses our SM2 and ECDSA
// responses and finds the leaf's status; for ECDSA it verifies them fully.
// For SM2, OpenSSL 3.0's OCSP verification does not use the default SM2
// signer ID (openssl/openssl#23471), so the signature is checked with
// `openssl pkeyutl -verify -digest sm3 -pkeyopt distid:...` and the
// responder certificate with `openssl verify -vfyopt distid:...`.
func TestOpenSSLResponse(t *testing.T) {
	for _, s := range suites {
		p := newTestPKI(t, s)
		dir := opensslDir(t, p)
		sigName := map[kms.Suite]string{kms.GM: "SM2-with-SM3", kms.Intl: "ecdsa-with-SHA256"}[s]
		tests := []struct {
			name   string
			status Status
			want   []string // in -resp_text output
		}{
			{"ok/good", Good, []string{"Cert Status: good"}},
			{"ok/revoked", Revoked, []string{"Cert Status: revoked", "Revocation Reason: keyCompromise (0x1)"}},
			{"ok/unknown", Unknown, []string{"Cert Status: unknown"}},
		}
		for _, tc := range tests {
			t.Run(s.String()+"/"+tc.name, func(t *testing.T) {
				der := p.response(t, tc.status, nil)
				file := tc.status.String() + ".der"
				if err := os.WriteFile(filepath.Join(dir, file), der, 0o600); err != nil {
					t.Fatal(err)
				}
				text := mustOpenSSL(t, dir, "ocsp", "-respin", file, "-resp_text", "-noverify")
				for _, w := range append(tc.want, "OCSP Response Status: successful", "Response Type: Basic OCSP Response",
					"Signature Algorithm: "+sigName, "Subject: O=Tongxing Test, CN=Tongxing OCSP "+s.String()) {
					if !strings.Contains(text, w) {
						t.Errorf("-resp_text output lacks %q", w)
					}
				}
				status := mustOpenSSL(t, dir, "ocsp", "-respin", file, "-issuer", "issuer.pem", "-cert", "leaf.pem", "-no_nonce", "-noverify")
				if !strings.Contains(status, "leaf.pem: "+tc.status.String()) {
					t.Errorf("OpenSSL finds no %q status for the leaf:\n%s", tc.status, status)
				}

				verify, err := runOpenSSL(t, dir, "ocsp", "-respin", file, "-issuer", "issuer.pem", "-cert", "leaf.pem", "-no_nonce", "-CAfile", "issuer.pem")
				if s == kms.Intl {
					if err != nil || !strings.Contains(verify, "Response verify OK") || !strings.Contains(verify, "leaf.pem: "+tc.status.String()) {
						t.Fatalf("openssl ocsp -CAfile: %v\n%s", err, verify)
					}
					return
				}
				t.Logf("gm: openssl ocsp -CAfile verification: %v, verify OK: %v (openssl/openssl#23471)",
					err, strings.Contains(verify, "Response verify OK"))

				r, err := ParseResponse(der, p.issuer)
				if err != nil {
					t.Fatal(err)
				}
				for name, b := range map[string][]byte{"tbs.der": r.TBSResponseData, "sig.der": r.Signature} {
					if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
						t.Fatal(err)
					}
				}
				mustOpenSSL(t, dir, "x509", "-in", "responder.pem", "-pubkey", "-noout", "-out", "responder-pub.pem")
				out := mustOpenSSL(t, dir, "pkeyutl", "-verify", "-pubin", "-inkey", "responder-pub.pem", "-rawin", "-digest", "sm3",
					"-pkeyopt", sm2DistID, "-in", "tbs.der", "-sigfile", "sig.der")
				if !strings.Contains(out, "Signature Verified Successfully") {
					t.Fatalf("openssl pkeyutl -verify: %s", out)
				}
				out = mustOpenSSL(t, dir, "verify", "-vfyopt", sm2DistID, "-purpose", "ocsphelper", "-CAfile", "issuer.pem", "responder.pem")
				if !strings.Contains(out, "responder.pem: OK") {
					t.Fatalf("openssl verify responder: %s", out)
				}
			})
		}
	}
}
