package interop

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
	tjx509 "github.com/tjfoc/gmsm/x509"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/catest"
	"github.com/tongxing/tongxing/ca/kmc"
	"github.com/tongxing/tongxing/department"
	"github.com/tongxing/tongxing/store/storetest"

	"github.com/tongxing/tongxing/test/serverproc"
)

const (
	citizenID   = "11010519491231002X" // GB 11643 worked example
	citizenName = "张三"
	usccCode    = "91350100M000100Y43" // published GB 32100 example
	orgName     = "福州示例科技有限公司"

	// distID is the default SM2 signer ID (GM/T 0009) that Tongxing signs
	// certificates with.
	distID = "1234567812345678"

	oidIdentityCode = "1.2.156.10260.4.1.1"
	oidUSCC         = "1.2.156.10260.4.4"
)

// server is a Tongxing CA behind a real HTTP server, with an RA officer token.
type server struct {
	url     string
	raToken string
}

// newServer starts the CA API on a fresh PKI and SQLite database. Besides
// the built-in profiles it serves "citizen-idcode": the citizen profile with
// identity_code_extension set, as a deployment would configure it.
func newServer(t *testing.T) *server {
	t.Helper()
	ctx := context.Background()
	db := storetest.SQLite(t)
	tokens := access.NewTokens(db)
	ra, err := tokens.Create(ctx, "interop-ra", access.RoleRA)
	if err != nil {
		t.Fatal(err)
	}

	profiles, err := ca.LoadProfiles(ca.BuiltinProfiles())
	if err != nil {
		t.Fatal(err)
	}
	y, err := fs.ReadFile(ca.BuiltinProfiles(), "citizen.yaml")
	if err != nil {
		t.Fatal(err)
	}
	idc, err := ca.ParseProfile(bytes.Replace(y, []byte("name: citizen\n"), []byte("name: citizen-idcode\n"), 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := idc.SetOption("identity_code_extension", true); err != nil {
		t.Fatal(err)
	}
	profiles[idc.Name] = idc

	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	log := slog.New(slog.DiscardHandler)
	deps, err := department.New(department.Department{ID: "tax", Name: "税务局", Domains: []string{"tax.gov.example"}, IPRanges: []string{"10.20.0.0/16"}})
	if err != nil {
		t.Fatal(err)
	}
	a := catest.New(t, catest.OnDB(db), catest.WithPKI(ca.PKIOptions{Organization: "Tongxing Interop"}),
		catest.WithCA(ca.WithProfiles(profiles), ca.WithPseudonymKey([]byte("interop pseudonym key, 32 bytes!")),
			ca.WithPublicURL(srv.URL), ca.WithDepartments(deps), ca.WithClock(time.Now))).CA
	ca.NewAPI(a, tokens.Require, log).Routes(mux)
	master := make([]byte, kmc.MasterKeySize)
	rand.Read(master)
	k, err := kmc.New(a, db, master, kmc.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	kmc.NewAPI(k, tokens.Require).Routes(mux)
	return &server{url: srv.URL, raToken: ra}
}

func (s *server) call(t *testing.T, method, path, token string, in, out any, want int) []byte {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return b
}

// chain is an issued certificate with its CA certificates, as PEM.
type chain struct {
	root, issuing, leaf []byte
}

// enrol runs the enrolment-code flow: the officer asks for a code bound to
// subj, the subscriber sends a CSR made with key and the code.
func (s *server) enrol(t *testing.T, profile string, subj ca.Subject, key crypto.Signer) chain {
	t.Helper()
	var code ca.CodeJSON
	s.call(t, "POST", "/ca/v1/enrolment-codes", s.raToken, ca.CodeRequestJSON{Profile: profile, Subject: subj}, &code, http.StatusCreated)

	tmpl := &smx509.CertificateRequest{Subject: pkix.Name{CommonName: "subscriber"}}
	if _, ok := key.(*sm2.PrivateKey); ok {
		tmpl.SignatureAlgorithm = smx509.SM2WithSM3
	}
	der, err := smx509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	csr := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	var issued ca.IssuedJSON
	s.call(t, "POST", "/ca/v1/certificates", "", ca.EnrolRequestJSON{CSR: string(csr), EnrolmentCode: code.Code}, &issued, http.StatusCreated)
	if len(issued.Chain) != 1 {
		t.Fatalf("chain has %d certificates, want the issuing CA only", len(issued.Chain))
	}
	suite := "gm"
	if _, ok := key.(*ecdsa.PrivateKey); ok {
		suite = "intl"
	}
	root := s.call(t, "GET", "/ca/v1/cas/"+suite+"-root.pem", "", nil, nil, http.StatusOK)
	return chain{root: root, issuing: []byte(issued.Chain[0]), leaf: []byte(issued.Certificate)}
}

// dualEnc runs a dual enrolment through the KMC for subj and returns the
// encryption certificate's chain: the only way to an enterprise-enc
// certificate.
func (s *server) dualEnc(t *testing.T, subj ca.Subject) chain {
	t.Helper()
	var code ca.CodeJSON
	s.call(t, "POST", "/ca/v1/enrolment-codes", s.raToken, ca.CodeRequestJSON{Profile: "enterprise-sign", Subject: subj}, &code, http.StatusCreated)
	signKey, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	res, _, err := kmc.RequestDual(context.Background(), http.DefaultClient, s.url, code.Code, signKey)
	if err != nil {
		t.Fatal(err)
	}
	pemOf := func(c *smx509.Certificate) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	root := s.call(t, "GET", "/ca/v1/cas/gm-root.pem", "", nil, nil, http.StatusOK)
	return chain{root: root, issuing: pemOf(res.EncChain[0]), leaf: pemOf(res.EncCertificate)}
}

// write puts the chain in a temp dir as root.pem, issuing.pem, leaf.pem.
func (c chain) write(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, b := range map[string][]byte{"root.pem": c.root, "issuing.pem": c.issuing, "leaf.pem": c.leaf} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func der(t *testing.T, p []byte) []byte {
	t.Helper()
	b, _ := pem.Decode(p)
	if b == nil || b.Type != "CERTIFICATE" {
		t.Fatalf("not a PEM certificate: %q", p)
	}
	return b.Bytes
}

func requireOpenSSL(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		serverproc.Missing(t, "openssl is not installed on this machine, so the OpenSSL interop checks cannot run (CI has OpenSSL 3)")
	}
	return path
}

func openssl(t *testing.T, bin, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestOpenSSLSM2 has OpenSSL 3 verify SM2 chains issued through the HTTP API
// and find the GM/T 0015 extensions in them.
func TestOpenSSLSM2(t *testing.T) {
	bin := requireOpenSSL(t)
	s := newServer(t)
	tests := []struct {
		name     string
		profile  string
		subject  ca.Subject
		wantOIDs []string
		noOIDs   []string
	}{
		{"ok/citizen-pseudonym", "citizen", ca.Subject{Name: citizenName, IDNumber: citizenID}, nil, []string{oidIdentityCode, oidUSCC}},
		{"ok/citizen-identity-code", "citizen-idcode", ca.Subject{Name: citizenName, IDNumber: citizenID}, []string{oidIdentityCode}, []string{oidUSCC}},
		{"ok/enterprise-sign", "enterprise-sign", ca.Subject{Organization: orgName, USCC: usccCode}, []string{oidUSCC}, []string{oidIdentityCode}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := sm2.GenerateKey(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			dir := s.enrol(t, tt.profile, tt.subject, key).write(t)

			verifySM2Chain(t, bin, dir)

			text, err := openssl(t, bin, dir, "x509", "-in", "leaf.pem", "-text", "-noout")
			if err != nil {
				t.Fatalf("openssl x509 -text: %v\n%s", err, text)
			}
			if !strings.Contains(text, "Signature Algorithm: SM2-with-SM3") {
				t.Errorf("openssl does not see SM2-with-SM3:\n%s", text)
			}
			for _, oid := range tt.wantOIDs {
				if !strings.Contains(text, oid+":") {
					t.Errorf("openssl x509 -text does not show extension %s:\n%s", oid, text)
				}
			}
			for _, oid := range tt.noOIDs {
				if strings.Contains(text, oid+":") {
					t.Errorf("unexpected extension %s", oid)
				}
			}
			if tt.profile == "citizen" && (strings.Contains(text, citizenID) || strings.Contains(text, citizenID[:17])) {
				t.Error("the pseudonymous certificate shows the ID number")
			}
			if tt.profile == "citizen-idcode" && !strings.Contains(text, citizenID) {
				t.Error("the identity-code extension does not show the ID number")
			}
		})
	}

	// OpenSSL must really check the SM2 signature: a leaf with one signature
	// byte changed fails, and so does a signer ID other than the one used
	// to sign (it changes the Z value) or none at all.
	key, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	good := s.enrol(t, "enterprise-sign", ca.Subject{Organization: orgName, USCC: usccCode}, key)
	tampered := good
	d := bytes.Clone(der(t, good.leaf))
	d[len(d)-1] ^= 0x01
	tampered.leaf = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d})
	bad := []struct {
		name string
		c    chain
		args []string
	}{
		{"fail/tampered-leaf", tampered, []string{"-vfyopt", "distid:" + distID}},
		{"fail/other-distid", good, []string{"-vfyopt", "distid:8765432187654321"}},
		{"fail/no-distid", good, nil},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.c.write(t)
			args := append(append([]string{"verify"}, tt.args...), "-partial_chain", "-CAfile", "issuing.pem", "leaf.pem")
			out, err := openssl(t, bin, dir, args...)
			if err == nil || strings.Contains(out, "leaf.pem: OK") {
				t.Fatalf("openssl %s accepted the leaf:\n%s", strings.Join(args, " "), out)
			}
		})
	}
}

// verifySM2Chain has OpenSSL verify root.pem -> issuing.pem -> leaf.pem in
// dir, each SM2 signature with signer ID distID.
//
// OpenSSL 3 applies -vfyopt distid only to the certificate being verified,
// not to intermediates from -untrusted, which it then checks with an empty
// signer ID (openssl/openssl#23471, open for 3.0 to 3.6; 3.0 has no -sm2-id
// either). So the one-command form
//
//	openssl verify -vfyopt distid:1234567812345678 -CAfile root.pem -untrusted issuing.pem leaf.pem
//
// fails with "error 7 at 1 depth lookup: certificate signature failure" on
// a correct chain. What works is one verification per link, each with the
// signer ID on its target:
//
//	openssl verify -vfyopt distid:1234567812345678 -CAfile root.pem issuing.pem
//	openssl verify -vfyopt distid:1234567812345678 -partial_chain -CAfile issuing.pem leaf.pem
//
// The one-command form is still run and its result logged, so a fixed
// OpenSSL shows up in the test output.
func verifySM2Chain(t *testing.T, bin, dir string) {
	t.Helper()
	for _, link := range [][]string{
		{"verify", "-vfyopt", "distid:" + distID, "-CAfile", "root.pem", "issuing.pem"},
		{"verify", "-vfyopt", "distid:" + distID, "-partial_chain", "-CAfile", "issuing.pem", "leaf.pem"},
	} {
		out, err := openssl(t, bin, dir, link...)
		want := link[len(link)-1] + ": OK"
		if err != nil || strings.TrimSpace(out) != want {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(link, " "), err, out)
		}
	}
	out, err := openssl(t, bin, dir, "verify", "-vfyopt", "distid:"+distID, "-CAfile", "root.pem", "-untrusted", "issuing.pem", "leaf.pem")
	if err == nil && strings.TrimSpace(out) == "leaf.pem: OK" {
		t.Log("openssl verifies the whole SM2 chain in one command")
	} else {
		t.Logf("openssl cannot verify the SM2 chain in one command (-vfyopt does not reach -untrusted certificates): %s", strings.TrimSpace(out))
	}
}

// TestECDSAService checks an ECDSA service certificate with OpenSSL and with
// Go's crypto/x509 as a TLS server certificate.
func TestECDSAService(t *testing.T) {
	s := newServer(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := s.enrol(t, "service", ca.Subject{Department: "tax", Service: "invoice-api", DNSNames: []string{"invoice.tax.gov.example"}, IPAddresses: []string{"10.20.30.40"}}, key)

	t.Run("ok/go-crypto-x509", func(t *testing.T) {
		root, err := x509.ParseCertificate(der(t, c.root))
		if err != nil {
			t.Fatal(err)
		}
		issuing, err := x509.ParseCertificate(der(t, c.issuing))
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := x509.ParseCertificate(der(t, c.leaf))
		if err != nil {
			t.Fatal(err)
		}
		roots, inter := x509.NewCertPool(), x509.NewCertPool()
		roots.AddCert(root)
		inter.AddCert(issuing)
		for _, name := range []string{"invoice.tax.gov.example", "10.20.30.40"} {
			if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
				t.Errorf("Verify for %s as a TLS server: %v", name, err)
			}
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("Verify as a TLS client: %v", err)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "other.gov.example", Roots: roots, Intermediates: inter}); err == nil {
			t.Error("Verify accepted a name the certificate does not hold")
		}
		if len(leaf.URIs) != 1 || leaf.URIs[0].String() != "spiffe://tongxing.internal/dept/tax/svc/invoice-api" {
			t.Errorf("URI SANs %v", leaf.URIs)
		}
	})
	t.Run("ok/openssl", func(t *testing.T) {
		bin := requireOpenSSL(t)
		dir := c.write(t)
		out, err := openssl(t, bin, dir, "verify", "-CAfile", "root.pem", "-untrusted", "issuing.pem", "-purpose", "sslserver", "-verify_hostname", "invoice.tax.gov.example", "leaf.pem")
		if err != nil || strings.TrimSpace(out) != "leaf.pem: OK" {
			t.Fatalf("openssl verify: %v\n%s", err, out)
		}
		out, err = openssl(t, bin, dir, "verify", "-CAfile", "root.pem", "-untrusted", "issuing.pem", "leaf.pem")
		if err != nil || strings.TrimSpace(out) != "leaf.pem: OK" {
			t.Fatalf("openssl verify: %v\n%s", err, out)
		}
	})
}

// TestTjfocGMSM has github.com/tjfoc/gmsm, an SM2 implementation independent
// of the one Tongxing signs with, parse and verify issued SM2 chains.
func TestTjfocGMSM(t *testing.T) {
	s := newServer(t)
	tests := []struct {
		name    string
		profile string
		subject ca.Subject
	}{
		{"ok/citizen", "citizen", ca.Subject{Name: citizenName, IDNumber: citizenID}},
		{"ok/citizen-identity-code", "citizen-idcode", ca.Subject{Name: citizenName, IDNumber: citizenID}},
		{"ok/enterprise-sign", "enterprise-sign", ca.Subject{Organization: orgName, USCC: usccCode}},
		{"ok/enterprise-enc", "enterprise-enc", ca.Subject{Organization: orgName, USCC: usccCode}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := sm2.GenerateKey(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			var c chain
			want := &key.PublicKey
			if tt.profile == "enterprise-enc" {
				c = s.dualEnc(t, tt.subject)
				enc, err := smx509.ParseCertificate(der(t, c.leaf))
				if err != nil {
					t.Fatal(err)
				}
				want = enc.PublicKey.(*ecdsa.PublicKey) // the KMC's key, as gmsm reads it
			} else {
				c = s.enrol(t, tt.profile, tt.subject, key)
			}
			root, err := tjx509.ParseCertificate(der(t, c.root))
			if err != nil {
				t.Fatalf("tjfoc parse root: %v", err)
			}
			issuing, err := tjx509.ParseCertificate(der(t, c.issuing))
			if err != nil {
				t.Fatalf("tjfoc parse issuing CA: %v", err)
			}
			leaf, err := tjx509.ParseCertificate(der(t, c.leaf))
			if err != nil {
				t.Fatalf("tjfoc parse leaf: %v", err)
			}
			if leaf.SignatureAlgorithm != tjx509.SM2WithSM3 || issuing.SignatureAlgorithm != tjx509.SM2WithSM3 {
				t.Errorf("tjfoc sees signature algorithms %v, %v", leaf.SignatureAlgorithm, issuing.SignatureAlgorithm)
			}
			if err := root.CheckSignatureFrom(root); err != nil {
				t.Errorf("root self-signature: %v", err)
			}
			if err := issuing.CheckSignatureFrom(root); err != nil {
				t.Errorf("issuing.CheckSignatureFrom(root): %v", err)
			}
			if err := leaf.CheckSignatureFrom(issuing); err != nil {
				t.Errorf("leaf.CheckSignatureFrom(issuing): %v", err)
			}
			if err := leaf.CheckSignatureFrom(root); err == nil {
				t.Error("leaf verified against the root, which did not sign it")
			}
			if !bytes.Equal(leaf.AuthorityKeyId, issuing.SubjectKeyId) {
				t.Error("tjfoc: leaf AKI is not the issuing CA's SKI")
			}
			pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
			if !ok || pub.X.Cmp(want.X) != 0 || pub.Y.Cmp(want.Y) != 0 {
				t.Errorf("tjfoc: leaf key %T is not the subscriber's", leaf.PublicKey)
			}
		})
	}
}
