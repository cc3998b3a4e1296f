package ca_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/catest"
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/kms/softkms"
	"github.com/tongxing/tongxing/store/storetest"
)

// reopen returns a new softkms manager over the keys of a PKI directory, so
// that keys are read from disk rather than from the creating manager's cache.
func reopen(t *testing.T, dir, pass string) *softkms.Manager {
	t.Helper()
	km, err := softkms.New(filepath.Join(dir, "keys"), []byte(pass))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { km.Close() })
	return km
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestInitPKI(t *testing.T) {
	dir, km, cas := catest.NewPKI(t, ca.PKIOptions{Organization: "Tongxing Test", CommonNames: map[string]string{"gm-root": "测试根CA"}})
	byName := map[string]*ca.Issuer{}
	for _, c := range cas {
		byName[c.Name] = c
	}
	tests := []struct {
		name, ca, parent, cn string
		suite                kms.Suite
		root                 bool
	}{
		{"ok/gm-root", "gm-root", "", "测试根CA", kms.GM, true},
		{"ok/gm-issuing", "gm-issuing", "gm-root", "Tongxing Test SM2 Issuing CA", kms.GM, false},
		{"ok/intl-root", "intl-root", "", "Tongxing Test ECDSA Root CA", kms.Intl, true},
		{"ok/intl-issuing", "intl-issuing", "intl-root", "Tongxing Test ECDSA Issuing CA", kms.Intl, false},
	}
	if len(cas) != len(tests) {
		t.Fatalf("InitPKI made %d CAs, want %d", len(cas), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := byName[tt.ca]
			if c == nil {
				t.Fatalf("no CA %s", tt.ca)
			}
			cert := c.Cert
			if c.Suite != tt.suite || c.Root != tt.root || c.Parent != tt.parent || c.Signer == nil {
				t.Errorf("CA %+v", c)
			}
			if cert.Subject.CommonName != tt.cn || strings.Join(cert.Subject.Organization, ",") != "Tongxing Test" {
				t.Errorf("subject %s", cert.Subject)
			}
			if !cert.IsCA || !cert.BasicConstraintsValid || cert.KeyUsage&smx509.KeyUsageCertSign == 0 || cert.KeyUsage&smx509.KeyUsageCRLSign == 0 {
				t.Errorf("not a CA certificate: CA=%v KU=%b", cert.IsCA, cert.KeyUsage)
			}
			if cert.SignatureAlgorithm != tt.suite.SignatureAlgorithm() {
				t.Errorf("signature algorithm %v", cert.SignatureAlgorithm)
			}
			if !bytes.Equal(cert.SubjectKeyId, ski(t, cert.RawSubjectPublicKeyInfo)) {
				t.Error("SKI is not SHA-1 of the key")
			}
			if cert.SerialNumber.BitLen() < 128 {
				t.Errorf("serial has %d bits", cert.SerialNumber.BitLen())
			}
			if !publicKeyEqual(c.Signer.Public(), cert.PublicKey) {
				t.Error("signer does not match the certificate")
			}
			parent := cert
			if tt.root {
				if cert.MaxPathLen != 1 {
					t.Errorf("root MaxPathLen %d, want 1", cert.MaxPathLen)
				}
			} else {
				parent = byName[tt.parent].Cert
				if cert.MaxPathLen != 0 || !cert.MaxPathLenZero {
					t.Errorf("issuing CA MaxPathLen %d zero=%v, want 0", cert.MaxPathLen, cert.MaxPathLenZero)
				}
				if !bytes.Equal(cert.AuthorityKeyId, parent.SubjectKeyId) {
					t.Error("issuing CA AKI is not the root's SKI")
				}
			}
			if err := cert.CheckSignatureFrom(parent); err != nil {
				t.Errorf("signature: %v", err)
			}
			pemFile, err := os.ReadFile(filepath.Join(dir, tt.ca+".crt"))
			if err != nil || !bytes.Contains(pemFile, []byte("-----BEGIN CERTIFICATE-----")) {
				t.Errorf("%s.crt: %v", tt.ca, err)
			}
		})
	}
	t.Run("fail/already-initialised", func(t *testing.T) {
		_, err := ca.InitPKI(context.Background(), km, dir, ca.PKIOptions{})
		if !errors.Is(err, ca.ErrPKIExists) {
			t.Fatalf("second InitPKI = %v, want ErrPKIExists", err)
		}
	})
	t.Run("ok/issuing-capped-by-root", func(t *testing.T) {
		_, _, cas := catest.NewPKI(t, ca.PKIOptions{Suites: []kms.Suite{kms.Intl}, RootValidity: 48 * time.Hour, IssuingValidity: 96 * time.Hour})
		if len(cas) != 2 || !cas[1].Cert.NotAfter.Equal(cas[0].Cert.NotAfter) {
			t.Fatalf("issuing CA notAfter %v, root %v", cas[1].Cert.NotAfter, cas[0].Cert.NotAfter)
		}
	})
	t.Run("fail/bad-suite", func(t *testing.T) {
		d := t.TempDir()
		km, err := softkms.New(filepath.Join(d, "keys"), []byte(catest.Passphrase))
		if err != nil {
			t.Fatal(err)
		}
		defer km.Close()
		if _, err := ca.InitPKI(context.Background(), km, d, ca.PKIOptions{Suites: []kms.Suite{"rsa"}}); err == nil {
			t.Fatal("InitPKI accepted suite rsa")
		}
	})
}

func TestLoadPKI(t *testing.T) {
	ctx := context.Background()
	dir, _, cas := catest.NewPKI(t, ca.PKIOptions{})
	t.Run("ok/round-trip", func(t *testing.T) {
		loaded, err := ca.LoadPKI(ctx, reopen(t, dir, catest.Passphrase), dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(loaded) != len(cas) {
			t.Fatalf("loaded %d CAs, want %d", len(loaded), len(cas))
		}
		for i, c := range loaded {
			want := cas[i]
			if c.Name != want.Name || c.Suite != want.Suite || c.Root != want.Root || c.Parent != want.Parent || !c.Cert.Equal(want.Cert) {
				t.Errorf("loaded %+v, want %+v", c, want)
			}
			msg := []byte("tongxing")
			digest := msg
			if c.Suite == kms.Intl {
				h := c.Suite.NewHash()
				h.Write(msg)
				digest = h.Sum(nil)
			}
			sig, err := c.Signer.Sign(rand.Reader, digest, c.Suite.SignerOpts())
			if err != nil {
				t.Fatalf("%s: sign: %v", c.Name, err)
			}
			if err := c.Cert.CheckSignature(c.Suite.SignatureAlgorithm(), msg, sig); err != nil {
				t.Errorf("%s: loaded key's signature does not verify with its certificate: %v", c.Name, err)
			}
		}
		s := ca.NewSQLStore(storetest.SQLite(t))
		defer s.Close()
		if _, err := ca.New(loaded, s, s, ca.WithPseudonymKey(catest.PseudonymKey)); err != nil {
			t.Errorf("New on the loaded PKI: %v", err)
		}
	})

	// Each failure case works on a copy of the PKI directory.
	clone := func(t *testing.T) string {
		t.Helper()
		d := t.TempDir()
		if err := os.CopyFS(d, os.DirFS(dir)); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(d, "keys"), 0o700); err != nil {
			t.Fatal(err)
		}
		return d
	}
	tests := []struct {
		name    string
		change  func(t *testing.T, d string)
		pass    string
		wantErr string
		is      error
	}{
		{name: "fail/key-does-not-match-certificate", wantErr: "does not match", change: func(t *testing.T, d string) {
			// The gm-root key file now holds the issuing CA's key.
			copyFile(t, filepath.Join(d, "keys", "gm-issuing.key"), filepath.Join(d, "keys", "gm-root.key"))
		}},
		{name: "fail/certificate-swapped", wantErr: "does not match", change: func(t *testing.T, d string) {
			copyFile(t, filepath.Join(d, "intl-root.crt"), filepath.Join(d, "intl-issuing.crt"))
		}},
		{name: "fail/issuing-not-signed-by-root", wantErr: "not signed by", change: func(t *testing.T, d string) {
			// A matching key and certificate from another hierarchy.
			other, _, _ := catest.NewPKI(t, ca.PKIOptions{Suites: []kms.Suite{kms.GM}})
			copyFile(t, filepath.Join(other, "gm-issuing.crt"), filepath.Join(d, "gm-issuing.crt"))
			copyFile(t, filepath.Join(other, "keys", "gm-issuing.key"), filepath.Join(d, "keys", "gm-issuing.key"))
		}},
		{name: "fail/missing-root", wantErr: "gm-root.crt", change: func(t *testing.T, d string) {
			if err := os.Remove(filepath.Join(d, "gm-root.crt")); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "fail/missing-key", is: kms.ErrKeyNotFound, change: func(t *testing.T, d string) {
			if err := os.Remove(filepath.Join(d, "keys", "intl-issuing.key")); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "fail/garbage-certificate", wantErr: "gm-issuing.crt", change: func(t *testing.T, d string) {
			if err := os.WriteFile(filepath.Join(d, "gm-issuing.crt"), []byte("not PEM"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "fail/wrong-catest.Passphrase", pass: "wrong catest.Passphrase", is: kms.ErrWrongPassphrase},
		{name: "fail/no-certificates", wantErr: "no CA certificates", change: func(t *testing.T, d string) {
			for _, n := range []string{"gm-root", "gm-issuing", "intl-root", "intl-issuing"} {
				if err := os.Remove(filepath.Join(d, n+".crt")); err != nil {
					t.Fatal(err)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := clone(t)
			if tt.change != nil {
				tt.change(t, d)
			}
			pass := catest.Passphrase
			if tt.pass != "" {
				pass = tt.pass
			}
			_, err := ca.LoadPKI(ctx, reopen(t, d, pass), d)
			if err == nil {
				t.Fatal("LoadPKI succeeded")
			}
			if tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not mention %q", err, tt.wantErr)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			if strings.Contains(err.Error(), catest.Passphrase) {
				t.Error("error contains the catest.Passphrase")
			}
		})
	}
}
