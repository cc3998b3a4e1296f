// Package upgrade starts the current tongxing on a data directory made by
// the release before officers (testdata/v0291826.tar.gz, made by
// testdata/make-fixture.sh with the binary of commit 0291826).
package upgrade

import (
	"archive/tar"
	"compress/gzip"
	"crypto"
	"encoding/json"
	"encoding/pem"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/test/serverproc"
)

var binary string

// publicURL is the public URL the fixture was made with; it names the audit
// log (checkpoint origin localhost:8443/audit), so the upgraded server keeps
// it. The server listens elsewhere.
const publicURL = "https://localhost:8443"

func TestMain(m *testing.M) { serverproc.Main(m, &binary) }

// extract unpacks the gzipped tar file into dir (regular files and
// directories only, no paths leaving dir).
func extract(t *testing.T, file, dir string) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Clean(h.Name)
		if filepath.IsAbs(name) || strings.HasPrefix(name, "..") {
			t.Fatalf("fixture entry %q leaves the directory", h.Name)
		}
		path := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(path, 0o700); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			b, err := io.ReadAll(io.LimitReader(tr, 16<<20))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b, os.FileMode(h.Mode).Perm()); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("fixture entry %q of type %c", h.Name, h.Typeflag)
		}
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestUpgrade starts the current server on the data directory of the
// previous release: its admin token becomes a sysadmin's (the file is
// renamed sysadmin-token), a registration officer and an auditor are
// created, the raw KMC master key is re-wrapped under the passphrase and
// removed, and the e-cert encryption key escrowed by the old release is
// recovered by three registration officers.
func TestUpgrade(t *testing.T) {
	dir := t.TempDir()
	extract(t, filepath.Join("testdata", "v0291826.tar.gz"), dir)
	data := filepath.Join(dir, "tongxing-data")
	secrets := filepath.Join(data, "secrets")
	oldToken := strings.TrimSpace(read(t, filepath.Join(secrets, "admin-token")))
	if len(read(t, filepath.Join(secrets, "kmc-master.key"))) != 16 {
		t.Fatal("the fixture has no raw KMC master key")
	}

	in := serverproc.Start(t, binary, dir, "--public-url", publicURL)
	if strings.Contains(in.Out.String(), "creating development CA") {
		t.Fatalf("the old data directory was not recognised:\n%s", in.Out)
	}

	t.Run("ok/admin-token-is-a-sysadmin", func(t *testing.T) {
		if _, err := os.Stat(filepath.Join(secrets, "admin-token")); !os.IsNotExist(err) {
			t.Errorf("admin-token is still there: %v", err)
		}
		if got := strings.TrimSpace(read(t, filepath.Join(secrets, "sysadmin-token"))); got != oldToken {
			t.Errorf("sysadmin-token holds %q, want the old admin token", got)
		}
		if out := in.MustCLI(t, "officers", "whoami", "--token", oldToken); !strings.Contains(out, "officer admin, role sysadmin") {
			t.Errorf("whoami with the old token: %s", out)
		}
		out, err := in.CLI("ca", "enrol-code", "--profile", "citizen", "--name", "张三", "--id-number", "11010519491231002X", "--token", oldToken)
		if err == nil || !strings.Contains(out, "HTTP 403") {
			t.Errorf("the old admin token still acts on certificates: %v\n%s", err, out)
		}
		out = in.MustCLI(t, "officers", "list")
		for _, want := range []string{"admin", "ra-1", "auditor-1"} {
			if !strings.Contains(out, want) {
				t.Errorf("officers list lacks %s:\n%s", want, out)
			}
		}
		for _, role := range []string{"ra", "auditor"} {
			if fi, err := os.Stat(filepath.Join(secrets, role+"-token")); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("%s-token: %v", role, err)
			}
		}
	})
	t.Run("ok/kmc-master-key-rewrapped", func(t *testing.T) {
		if _, err := os.Stat(filepath.Join(secrets, "kmc-master.key")); !os.IsNotExist(err) {
			t.Errorf("the raw KMC master key is still there: %v", err)
		}
		if s := read(t, filepath.Join(data, "keys", "kmc-master.secret")); !strings.Contains(s, "ENCRYPTED SYMMETRIC KEY") {
			t.Errorf("kmc-master.secret:\n%s", s)
		}
	})
	t.Run("ok/escrowed-key-recovered", func(t *testing.T) {
		block, _ := pem.Decode([]byte(read(t, filepath.Join(dir, "ecert", "enc-cert.pem"))))
		cert, err := smx509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		ra2 := in.Admit(t, "ra-2", "ra")
		ra3 := in.Admit(t, "ra-3", "ra")
		var rec struct{ ID string }
		if err := json.Unmarshal([]byte(in.MustCLI(t, "ca", "recovery", "request", ca.SerialHex(cert.SerialNumber), "--reason", "upgrade test",
			"--deliver-to", filepath.Join("ecert", "sign-cert.pem"), "--json")), &rec); err != nil {
			t.Fatal(err)
		}
		in.MustCLI(t, "ca", "recovery", "approve", rec.ID, "--token", ra2)
		in.MustCLI(t, "ca", "recovery", "approve", rec.ID, "--token", ra3)
		in.MustCLI(t, "ca", "recovery", "deliver", rec.ID, "--out", "recovered",
			"--key", filepath.Join("ecert", "sign-key.pem"), "--passphrase-file", filepath.Join("ecert", "key.pass"))
		pass := []byte(strings.TrimSpace(read(t, filepath.Join(dir, "ecert", "key.pass"))))
		load := func(p string) crypto.Signer {
			k, err := kms.ParseEncryptedPEM([]byte(read(t, filepath.Join(dir, p))), pass)
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			return k
		}
		if !load("ecert/enc-key.pem").Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(load("recovered/enc-key.pem").Public()) {
			t.Fatal("the recovered key is not the key the old release escrowed")
		}
	})
	t.Run("ok/sign-on-kept", func(t *testing.T) {
		if out := in.MustCLI(t, "users", "show", "zhangsan"); !strings.Contains(out, "account:  zhangsan") {
			t.Errorf("users show: %s", out)
		}
	})
	if err := in.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("stop: %v\n%s", err, in.Out)
	}
	t.Run("ok/restart-is-quiet-and-the-log-verifies", func(t *testing.T) {
		in2 := serverproc.Start(t, binary, dir, "--public-url", publicURL)
		if out := in2.Out.String(); strings.Contains(out, "re-wrapped") || strings.Contains(out, "created a first officer") {
			t.Errorf("the second start upgraded again:\n%s", out)
		}
		if err := in2.Stop(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if out, err := in2.Run("audit", "verify"); err != nil || !strings.Contains(out, "audit log OK") {
			t.Errorf("audit verify: %v\n%s", err, out)
		}
	})
}
