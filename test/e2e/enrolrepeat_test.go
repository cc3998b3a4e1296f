package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/kmc"
	"github.com/tongxing/tongxing/test/serverproc"
)

// code has the registration officer make an enrolment code with args.
func code(t *testing.T, in *serverproc.Instance, args ...string) string {
	t.Helper()
	out, err := in.CLI(append([]string{"ca", "enrol-code", "--json"}, args...)...)
	if err != nil {
		t.Fatalf("enrol-code: %v\n%s", err, out)
	}
	var c struct{ Code string }
	if err := json.Unmarshal([]byte(out), &c); err != nil || c.Code == "" {
		t.Fatalf("enrol-code output %q: %v", out, err)
	}
	return c.Code
}

// TestEnrolRepeat is finding 9 of issue 9 through the real server: the
// answer to an enrolment lost, the subscriber asks again with the same code
// and key and gets the same certificate (for a dual request, the same
// pair); another key gets 409.
func TestEnrolRepeat(t *testing.T) {
	dir := t.TempDir()
	in := serverproc.Start(t, binary, dir)
	defer in.Stop(syscall.SIGTERM)
	post := func(body any) (int, []byte) {
		b, _ := json.Marshal(body)
		resp, err := in.Client().Post(in.URL("/ca/v1/certificates"), "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, out
	}
	csrFor := func(key *sm2.PrivateKey) string {
		der, err := smx509.CreateCertificateRequest(rand.Reader, &smx509.CertificateRequest{SignatureAlgorithm: smx509.SM2WithSM3}, key)
		if err != nil {
			t.Fatal(err)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	}

	t.Run("ok/single", func(t *testing.T) {
		c := code(t, in, "--profile", "citizen", "--name", "张三", "--id-number", "11010519491231002X")
		key, _ := sm2.GenerateKey(rand.Reader)
		st1, b1 := post(ca.EnrolRequestJSON{CSR: csrFor(key), EnrolmentCode: c})
		st2, b2 := post(ca.EnrolRequestJSON{CSR: csrFor(key), EnrolmentCode: c})
		var i1, i2 ca.IssuedJSON
		json.Unmarshal(b1, &i1)
		json.Unmarshal(b2, &i2)
		if st1 != 201 || st2 != 200 || i1.Serial == "" || i1.Serial != i2.Serial || i1.Certificate != i2.Certificate {
			t.Fatalf("first %d %s, repeat %d %s", st1, i1.Serial, st2, i2.Serial)
		}
		other, _ := sm2.GenerateKey(rand.Reader)
		if st, b := post(ca.EnrolRequestJSON{CSR: csrFor(other), EnrolmentCode: c}); st != 409 || !strings.Contains(string(b), "another key") {
			t.Fatalf("another key: %d %s", st, b)
		}
	})
	t.Run("ok/dual", func(t *testing.T) {
		c := code(t, in, "--profile", "enterprise-sign", "--organization", "福州示例科技有限公司", "--uscc", "91350100M000100Y43")
		key, _ := sm2.GenerateKey(rand.Reader)
		r1, enc1, err := kmc.RequestDual(t.Context(), in.Client(), in.URL(""), c, key)
		if err != nil {
			t.Fatal(err)
		}
		r2, enc2, err := kmc.RequestDual(t.Context(), in.Client(), in.URL(""), c, key)
		if err != nil {
			t.Fatalf("repeated dual request: %v", err)
		}
		if r1.Repeated || !r2.Repeated || r1.SignSerial != r2.SignSerial || r1.EncSerial != r2.EncSerial || !enc1.Equal(enc2) {
			t.Fatalf("first %s/%s, repeat %s/%s (same key %v)", r1.SignSerial, r1.EncSerial, r2.SignSerial, r2.EncSerial, enc1.Equal(enc2))
		}
		other, _ := sm2.GenerateKey(rand.Reader)
		if _, _, err := kmc.RequestDual(t.Context(), in.Client(), in.URL(""), c, other); err == nil || !strings.Contains(err.Error(), "409") {
			t.Fatalf("another key: %v", err)
		}
	})
}

// TestLoginCertificateCLI: `ca request --login` with a citizen code writes
// an ECDSA P-256 login pair that OpenSSL reads, verifies for TLS client
// authentication and packs into PKCS#12 for a browser; the dual request
// takes --login too.
func TestLoginCertificateCLI(t *testing.T) {
	needOpenSSL(t)
	dir := t.TempDir()
	in := serverproc.Start(t, binary, dir)
	defer in.Stop(syscall.SIGTERM)
	pki := filepath.Join(dir, "tongxing-data", "pki")

	c := code(t, in, "--profile", "citizen", "--name", "张三", "--id-number", "11010519491231002X")
	out, err := in.CLI("ca", "request", "--profile", "citizen", "--code", c, "--login", "--out", "zhangsan")
	if err != nil || !strings.Contains(out, "issued login certificate") {
		t.Fatalf("request --login: %v\n%s", err, out)
	}
	zs := filepath.Join(dir, "zhangsan")
	login := readCert(t, filepath.Join(zs, "login-cert.pem"))
	card := readCert(t, filepath.Join(zs, "cert.pem"))
	if pub, ok := login.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Fatalf("login key %T", login.PublicKey)
	}
	if login.Subject.SerialNumber != card.Subject.SerialNumber || login.Subject.CommonName != card.Subject.CommonName {
		t.Errorf("login subject %v, card subject %v", login.Subject, card.Subject)
	}
	serverproc.OpenSSL(t, zs, "pkey", "-in", "login-key.pem", "-passin", "file:key.pass", "-noout")
	if out := serverproc.OpenSSL(t, zs, "verify", "-purpose", "sslclient", "-CAfile", filepath.Join(pki, "intl-root.crt"), "-untrusted", "login-chain.pem", "login-cert.pem"); !strings.Contains(out, "OK") {
		t.Errorf("openssl verify -purpose sslclient:\n%s", out)
	}
	serverproc.OpenSSL(t, zs, "pkcs12", "-export", "-inkey", "login-key.pem", "-passin", "file:key.pass", "-in", "login-cert.pem",
		"-certfile", "login-chain.pem", "-passout", "pass:browser", "-out", "login.p12")
	if st, err := os.Stat(filepath.Join(zs, "login.p12")); err != nil || st.Size() == 0 {
		t.Errorf("no PKCS#12: %v", err)
	}

	t.Run("ok/dual-with-login", func(t *testing.T) {
		c := code(t, in, "--profile", "enterprise-sign", "--organization", "福州示例科技有限公司", "--uscc", "91350100M000100Y43", "--name", "李四")
		out, err := in.CLI("ca", "request", "--profile", "enterprise", "--dual", "--login", "--code", c, "--out", "ecert")
		if err != nil || !strings.Contains(out, "login") {
			t.Fatalf("dual --login: %v\n%s", err, out)
		}
		l := readCert(t, filepath.Join(dir, "ecert", "login-cert.pem"))
		if len(l.Subject.Organization) != 1 || l.Subject.Organization[0] != "福州示例科技有限公司" || l.Subject.CommonName != "李四" {
			t.Errorf("enterprise login subject %v", l.Subject)
		}
	})
	t.Run("fail/login-for-service", func(t *testing.T) {
		c := code(t, in, "--profile", "service", "--department", "tax", "--service", "api", "--dns", "api.tax.example")
		cmd := exec.Command(binary, "ca", "request", "--profile", "service", "--code", c, "--login", "--out", "svc", "--server", in.URL(""))
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "TONGXING_KEY_PASSPHRASE=")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "login_csr") {
			t.Fatalf("--login with a service code: %v\n%s", err, out)
		}
	})
}
