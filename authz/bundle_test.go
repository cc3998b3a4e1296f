package authz_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/tongxing/tongxing/authz"
	"github.com/tongxing/tongxing/policies"
)

func newKey(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// signedBundle builds and signs the example policies; it returns the
// .tar.gz bytes.
func signedBundle(t testing.TB, key crypto.Signer, revision string) []byte {
	t.Helper()
	b, err := authz.Build(policies.FS, revision)
	if err != nil {
		t.Fatal(err)
	}
	if err := authz.Sign(b, key); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := authz.Write(&buf, b); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func verifier(t testing.TB, key crypto.Signer) *authz.Verifier {
	t.Helper()
	v, err := authz.NewVerifier(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// rewrite returns a copy of a .tar.gz bundle with fn applied to each file.
func rewrite(t *testing.T, tgz []byte, fn func(name string, body []byte) []byte) []byte {
	return rewriteAdd(t, tgz, fn, nil)
}

// rewriteAdd is rewrite that then writes the entries of add (headers
// with their bodies) at the end of the archive.
func rewriteAdd(t *testing.T, tgz []byte, fn func(name string, body []byte) []byte, add map[*tar.Header][]byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	tw := tar.NewWriter(zw)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		body = fn(h.Name, body)
		if body == nil {
			continue
		}
		h.Size = int64(len(body))
		tw.WriteHeader(h)
		tw.Write(body)
	}
	for h, body := range add {
		h.Size = int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
	}
	tw.Close()
	zw.Close()
	return out.Bytes()
}

func TestBundleSignAndVerify(t *testing.T) {
	key := newKey(t)
	tgz := signedBundle(t, key, "")
	b, err := authz.Read(bytes.NewReader(tgz), verifier(t, key))
	if err != nil {
		t.Fatalf("read signed bundle: %v", err)
	}
	if !strings.HasPrefix(b.Manifest.Revision, "r-") || len(b.Manifest.Revision) != 14 {
		t.Fatalf("revision %q", b.Manifest.Revision)
	}
	for _, m := range b.Modules {
		if strings.HasSuffix(m.Path, "_test.rego") {
			t.Fatalf("test module %s is in the bundle", m.Path)
		}
	}
	again := signedBundle(t, key, "")
	b2, _ := authz.Read(bytes.NewReader(again), verifier(t, key))
	if b2.Manifest.Revision != b.Manifest.Revision {
		t.Fatalf("same content, revisions %s and %s", b.Manifest.Revision, b2.Manifest.Revision)
	}

	tests := []struct {
		name string
		in   []byte
		v    *authz.Verifier
	}{
		{"fail/other-key", tgz, verifier(t, newKey(t))},
		{"fail/data-changed", rewrite(t, tgz, func(name string, body []byte) []byte {
			if strings.HasSuffix(name, "data.json") {
				return bytes.Replace(body, []byte(`"2031-12-31T23:59:59+08:00"`), []byte(`"2099-12-31T23:59:59+08:00"`), 1)
			}
			return body
		}), verifier(t, key)},
		{"fail/policy-changed", rewrite(t, tgz, func(name string, body []byte) []byte {
			if strings.HasSuffix(name, ".rego") {
				return bytes.Replace(body, []byte("default allow := false"), []byte("default allow := true"), 1)
			}
			return body
		}), verifier(t, key)},
		{"fail/unsigned", rewrite(t, tgz, func(name string, body []byte) []byte {
			if strings.HasSuffix(name, ".signatures.json") {
				return nil
			}
			return body
		}), verifier(t, key)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := authz.Read(bytes.NewReader(tc.in), tc.v)
			if !errors.Is(err, authz.ErrSignature) {
				t.Fatalf("err = %v, want ErrSignature", err)
			}
		})
	}
	t.Run("fail/garbage", func(t *testing.T) {
		_, err := authz.Read(strings.NewReader("not a bundle"), verifier(t, key))
		if err == nil || errors.Is(err, authz.ErrSignature) {
			t.Fatalf("err = %v, want a format error", err)
		}
	})
	t.Run("ok/unverified-read", func(t *testing.T) {
		if _, err := authz.Read(bytes.NewReader(tgz), nil); err != nil {
			t.Fatal(err)
		}
	})
}

// opaBinary returns a stock opa: $TONGXING_OPA, opa on PATH, or one built
// once from the module proxy (github.com/open-policy-agent/opa@v1.22.4,
// the version in go.mod) into the user cache directory.
func opaBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("TONGXING_OPA"); p != "" {
		return p
	}
	if p, err := exec.LookPath("opa"); err == nil {
		return p
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "tongxing-test", "opa-v1.22.4")
	bin := filepath.Join(dir, "opa")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if testing.Short() {
		t.Skip("no opa binary and -short: set TONGXING_OPA or put opa on PATH")
	}
	t.Logf("building stock opa v1.22.4 into %s (once)", dir)
	cmd := exec.Command("go", "install", "github.com/open-policy-agent/opa@v1.22.4")
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build opa: %v\n%s", err, out)
	}
	return bin
}

// TestStockOPAVerifiesBundle shows that a bundle signed by Tongxing is an
// ordinary signed OPA bundle: the stock opa binary verifies its signature
// with the public key alone, refuses it with another key, and evaluates a
// decision from it.
func TestStockOPAVerifiesBundle(t *testing.T) {
	opa := opaBinary(t)
	key := newKey(t)
	dir := t.TempDir()
	bundlePath := filepath.Join(dir, "policy.tar.gz")
	if err := os.WriteFile(bundlePath, signedBundle(t, key, "r-test"), 0o644); err != nil {
		t.Fatal(err)
	}
	pubPath := filepath.Join(dir, "pub.pem")
	os.WriteFile(pubPath, []byte(verifier(t, key).PublicKeyPEM()), 0o644)
	otherPath := filepath.Join(dir, "other.pem")
	os.WriteFile(otherPath, []byte(verifier(t, newKey(t)).PublicKeyPEM()), 0o644)
	input := filepath.Join(dir, "input.json")
	os.WriteFile(input, []byte(`{"caller":{"department":"tax"},"target":{"department":"renshe"},
		"resource":{"id":"renshe.social-insurance"},"purpose":"P-IIT-VERIFY",
		"citizen":{"acted_for":"","acted_for_id":"","named":"x"},"time_ns":1780000000000000000,"method":"GET","path":"/v1/insurance/{id_number}"}`), 0o644)

	verify := func(bundle, pub, out string) (string, error) {
		b, err := exec.Command(opa, "build", "--bundle", bundle, "--verification-key", pub,
			"--verification-key-id", authz.KeyID, "--signing-alg", authz.SigningAlg, "-o", out).CombinedOutput()
		return string(b), err
	}
	verified := filepath.Join(dir, "verified.tar.gz")
	if out, err := verify(bundlePath, pubPath, verified); err != nil {
		t.Fatalf("opa build --verification-key with the signing key: %v\n%s", err, out)
	}
	if out, err := verify(bundlePath, otherPath, filepath.Join(dir, "x.tar.gz")); err == nil {
		t.Fatalf("opa accepted the bundle with another key:\n%s", out)
	}
	tampered := filepath.Join(dir, "tampered.tar.gz")
	raw, _ := os.ReadFile(bundlePath)
	os.WriteFile(tampered, rewrite(t, raw, func(name string, body []byte) []byte {
		if strings.HasSuffix(name, "data.json") {
			return bytes.Replace(body, []byte(`"P-IIT-VERIFY"]`), []byte(`"P-IIT-VERIFY","P-SI-ELIG"]`), 1)
		}
		return body
	}), 0o644)
	if out, err := verify(tampered, pubPath, filepath.Join(dir, "y.tar.gz")); err == nil {
		t.Fatalf("opa accepted a bundle whose data was changed after signing:\n%s", out)
	}
	out, err := exec.Command(opa, "eval", "--bundle", verified, "--input", input, "--format", "raw",
		"data.tongxing.gateway.decision.allow").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "true" {
		t.Fatalf("opa eval of the verified bundle: %v\n%s", err, out)
	}
}

func TestLoadRevisionAndCatalogue(t *testing.T) {
	b, err := authz.Build(policies.FS, "r-1")
	if err != nil {
		t.Fatal(err)
	}
	p, err := authz.Load(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	if p.Revision() != "r-1" || p.Catalogue().Len() < 10 {
		t.Fatalf("revision %q, %d resources", p.Revision(), p.Catalogue().Len())
	}
}

// A small upload that unpacks into far more than a policy could use is
// refused before it is unpacked into memory.
func TestReadRefusesArchiveBombs(t *testing.T) {
	archive := func(files int, size int64) []byte {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		tw := tar.NewWriter(zw)
		zeros := make([]byte, 1<<20)
		for i := 0; i < files; i++ {
			if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("/f%d.json", i), Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
				t.Fatal(err)
			}
			for left := size; left > 0; left -= int64(len(zeros)) {
				tw.Write(zeros[:min(left, int64(len(zeros)))])
			}
		}
		tw.Close()
		zw.Close()
		return buf.Bytes()
	}
	for _, tc := range []struct {
		name string
		raw  []byte
		want string
	}{
		{"one-large-file", archive(1, 256<<20), "unpacks to more than"},
		{"many-files", archive(authz.MaxBundleFiles+1, 0), "more than 10000 files"},
		{"not-gzip", []byte("plain text"), "not a .tar.gz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := authz.Read(bytes.NewReader(tc.raw), nil)
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Read of %d bytes: %v, want %q", len(tc.raw), err, tc.want)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
				t.Fatalf("reading a %d-byte archive allocated %d bytes", len(tc.raw), alloc)
			}
		})
	}
}

// The build time that keeps an older bundle from being brought back is
// signed with the manifest: changing it breaks the signature.
func TestBuildTimeIsSigned(t *testing.T) {
	key := newKey(t)
	b, err := authz.Build(policies.FS, "r-built")
	if err != nil {
		t.Fatal(err)
	}
	if authz.BuiltAt(b).IsZero() {
		t.Fatal("Build recorded no build time")
	}
	if err := authz.Sign(b, key); err != nil {
		t.Fatal(err)
	}
	b.Manifest.Metadata[authz.BuiltKey] = "2099-01-01T00:00:00Z"
	var buf bytes.Buffer
	if err := authz.Write(&buf, b); err != nil {
		t.Fatal(err)
	}
	if _, err := authz.Read(&buf, verifier(t, key)); !errors.Is(err, authz.ErrSignature) {
		t.Fatalf("a bundle whose build time was changed after signing: %v", err)
	}
}
