package filing_test

import (
	"crypto"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/cmd/tongxing/internal/filing"
	"github.com/tongxing/tongxing/internal/testpki"
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/signature"
	"github.com/tongxing/tongxing/timestamp"
)

// write writes data into dir/name and returns the path.
func write(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadLimited(t *testing.T) {
	dir := t.TempDir()
	small := write(t, dir, "small", []byte("0123456789"))
	for _, tt := range []struct {
		name, path string
		limit      int64
		want       string // error substring, or the content
		ok         bool
	}{
		{"ok/under-limit", small, 11, "0123456789", true},
		{"ok/at-limit", small, 10, "0123456789", true},
		{"fail/over-limit", small, 9, "larger than 9 bytes", false},
		{"fail/missing", filepath.Join(dir, "none"), 10, "no such file", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, err := filing.ReadLimited(tt.path, tt.limit)
			if tt.ok && (err != nil || string(b) != tt.want) {
				t.Fatalf("%q, %v", b, err)
			}
			if !tt.ok && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("err %v, want it to say %q", err, tt.want)
			}
		})
	}
}

func TestDigest(t *testing.T) {
	path := write(t, t.TempDir(), "abc", []byte("abc"))
	for _, tt := range []struct {
		name string
		alg  timestamp.HashAlgorithm
		want string
	}{
		// GB/T 32905 example 1 and FIPS 180-2's "abc".
		{"ok/sm3", timestamp.SM3, "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"},
		{"ok/sha256", timestamp.SHA256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := filing.Digest(path, tt.alg)
			if err != nil || hex.EncodeToString(d) != tt.want {
				t.Fatalf("%x, %v; want %s", d, err, tt.want)
			}
		})
	}
	if _, err := filing.Digest(filepath.Join(t.TempDir(), "none"), timestamp.SM3); err == nil {
		t.Error("fail/missing: digest of a missing file")
	}
}

// pki is a root, an issuing CA and a signer below it, with their PEM files.
type pki struct {
	root, issuing, signer *testpki.Cert
	dir                   string
}

func newPKI(t *testing.T, s kms.Suite) *pki {
	t.Helper()
	p := &pki{root: testpki.NewRoot(t, s, "Filing Root"), dir: t.TempDir()}
	p.issuing = p.root.NewCA(t, "Filing Issuing")
	p.signer = p.issuing.Issue(t, "某某科技有限公司")
	return p
}

func TestReadCertsAndRoots(t *testing.T) {
	p := newPKI(t, kms.GM)
	key := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2, 3}})
	both := write(t, p.dir, "both.pem", append(append(testpki.PEM(p.root.Cert), key...), testpki.PEM(p.issuing.Cert)...))
	issuingOnly := write(t, p.dir, "issuing.pem", testpki.PEM(p.issuing.Cert))
	noCert := write(t, p.dir, "key.pem", key)
	broken := write(t, p.dir, "broken.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0x03, 1, 2, 3}}))
	t.Run("ok/skips-other-blocks", func(t *testing.T) {
		certs, err := filing.ReadCerts(both)
		if err != nil || len(certs) != 2 || !certs[0].Equal(p.root.Cert) || !certs[1].Equal(p.issuing.Cert) {
			t.Fatalf("%d certificates, %v", len(certs), err)
		}
	})
	for _, tt := range []struct{ name, path, want string }{
		{"fail/no-certificate", noCert, "holds no PEM certificate"},
		{"fail/bad-der", broken, "broken.pem"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := filing.ReadCerts(tt.path); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
		})
	}
	t.Run("ok/roots-and-intermediates", func(t *testing.T) {
		roots, inter, err := filing.Roots([]string{both})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.signer.Cert.Verify(smx509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []smx509.ExtKeyUsage{smx509.ExtKeyUsageAny}}); err != nil {
			t.Fatalf("the signer does not verify with the pools: %v", err)
		}
		if _, err := p.signer.Cert.Verify(smx509.VerifyOptions{Roots: roots, KeyUsages: []smx509.ExtKeyUsage{smx509.ExtKeyUsageAny}}); err == nil {
			t.Fatal("the issuing CA became a root")
		}
	})
	for _, tt := range []struct {
		name  string
		files []string
		want  string
	}{
		{"fail/no-root", []string{issuingOnly}, "no self-signed root"},
		{"fail/missing-file", []string{filepath.Join(p.dir, "none")}, "--ca"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := filing.Roots(tt.files); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
		})
	}
}

func TestChain(t *testing.T) {
	p := newPKI(t, kms.GM)
	want := []*smx509.Certificate{p.signer.Cert, p.issuing.Cert, p.root.Cert}
	for _, tt := range []struct {
		name  string
		files map[string][]*smx509.Certificate
		cert  string
		chain string // "" with given false: the default chain.pem
		given bool
		want  []*smx509.Certificate
	}{
		{name: "ok/all-in-cert-file", files: map[string][]*smx509.Certificate{"cert.pem": {p.signer.Cert, p.root.Cert, p.issuing.Cert}},
			cert: "cert.pem", want: want},
		{name: "ok/default-chain-pem", files: map[string][]*smx509.Certificate{"cert.pem": {p.signer.Cert}, "chain.pem": {p.issuing.Cert, p.root.Cert}},
			cert: "cert.pem", want: want},
		{name: "ok/given-chain", files: map[string][]*smx509.Certificate{"cert.pem": {p.signer.Cert}, "issuers.pem": {p.root.Cert, p.issuing.Cert}},
			cert: "cert.pem", chain: "issuers.pem", given: true, want: want},
		{name: "ok/stops-at-missing-issuer", files: map[string][]*smx509.Certificate{"cert.pem": {p.signer.Cert, p.root.Cert}},
			cert: "cert.pem", want: want[:1]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, certs := range tt.files {
				write(t, dir, name, testpki.PEM(certs...))
			}
			chainFile := ""
			if tt.chain != "" {
				chainFile = filepath.Join(dir, tt.chain)
			}
			got, err := filing.Chain(filepath.Join(dir, tt.cert), chainFile, tt.given)
			if err != nil || len(got) != len(tt.want) {
				t.Fatalf("%d certificates, %v; want %d", len(got), err, len(tt.want))
			}
			for i := range got {
				if !got[i].Equal(tt.want[i]) {
					t.Fatalf("certificate %d is %s, want %s", i, got[i].Subject, tt.want[i].Subject)
				}
			}
		})
	}
	if _, err := filing.Chain(filepath.Join(t.TempDir(), "none.pem"), "", false); err == nil || !strings.Contains(err.Error(), "--cert") {
		t.Errorf("fail/missing-cert: %v", err)
	}
}

func TestKey(t *testing.T) {
	key := testpki.Key(t, kms.GM)
	pass := []byte("correct horse battery staple")
	keyPEM, err := kms.MarshalEncryptedPEM(key, pass)
	if err != nil {
		t.Fatal(err)
	}
	withPassFile := t.TempDir()
	write(t, withPassFile, "key.pass", append(pass, '\n'))
	keyNextToPass := write(t, withPassFile, "key.pem", keyPEM)
	alone := t.TempDir()
	keyAlone := write(t, alone, "key.pem", keyPEM)
	passFile := write(t, alone, "my.pass", pass)
	wrongFile := write(t, alone, "wrong.pass", []byte("not the passphrase at all"))
	for _, tt := range []struct {
		name, keyFile, passFile string
		given                   bool
		env                     string
		want                    string // error substring; "" for success
	}{
		{name: "ok/env", keyFile: keyAlone, env: string(pass)},
		{name: "ok/passphrase-file", keyFile: keyAlone, passFile: passFile, given: true},
		{name: "ok/passphrase-file-beats-env", keyFile: keyAlone, passFile: passFile, given: true, env: "wrong"},
		{name: "ok/key-pass-beside-key", keyFile: keyNextToPass},
		{name: "fail/no-passphrase", keyFile: keyAlone, want: "no passphrase for"},
		{name: "fail/wrong-passphrase", keyFile: keyAlone, passFile: wrongFile, given: true, want: "--key"},
		{name: "fail/missing-key", keyFile: filepath.Join(alone, "none.pem"), env: string(pass), want: "--key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := filing.Key(tt.keyFile, tt.passFile, tt.given, tt.env)
			if tt.want == "" {
				if err != nil || !got.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()) {
					t.Fatalf("%v, %v", got, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
		})
	}
}

func TestCheckOIDs(t *testing.T) {
	gm, intl := testpki.Key(t, kms.GM), testpki.Key(t, kms.Intl)
	for _, tt := range []struct {
		name, oids string
		gm, ok     bool
	}{
		{"ok/default-gm", "", true, true},
		{"ok/default-intl", "", false, true},
		{"ok/gmt0010-gm", "gmt0010", true, true},
		{"ok/pkcs7-gm", "pkcs7", true, true},
		{"ok/pkcs7-intl", "pkcs7", false, true},
		{"fail/gmt0010-intl", "gmt0010", false, false},
		{"fail/unknown", "cades", true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			key := intl
			if tt.gm {
				key = gm
			}
			if err := filing.CheckOIDs(tt.oids, key); (err == nil) != tt.ok {
				t.Fatalf("err %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestSignAndTimestampTime(t *testing.T) {
	p := newPKI(t, kms.GM)
	tsa := testpki.NewTSA(t, kms.GM, testpki.TSAOptions{})
	at := time.Now().UTC().Truncate(time.Second)
	authority, err := timestamp.NewAuthority(tsa.LeafKey, tsa.Chain(), timestamp.WithPolicy(asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 32473, 1, 1}),
		timestamp.WithClock(func() time.Time { return at }))
	if err != nil {
		t.Fatal(err)
	}
	stamp := signature.Local(authority)
	content := write(t, p.dir, "filing.pdf", []byte("申报材料"))
	chain := []*smx509.Certificate{p.signer.Cert, p.issuing.Cert, p.root.Cert}
	for _, tt := range []struct {
		name     string
		opts     []signature.Option
		attached bool
		stamped  bool
	}{
		{name: "ok/detached-stamped", opts: []signature.Option{signature.WithTimestamper(stamp)}, stamped: true},
		{name: "ok/attached-stamped", opts: []signature.Option{signature.WithAttached(), signature.WithTimestamper(stamp)}, attached: true, stamped: true},
		{name: "ok/no-timestamp", opts: nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := signature.NewSigner(p.signer.Key, chain, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			p7s, err := filing.Sign(t.Context(), s, content, tt.attached)
			if err != nil {
				t.Fatal(err)
			}
			var body []byte
			if !tt.attached {
				body = []byte("申报材料")
			}
			rep, err := signature.Verify(t.Context(), p7s, body, signature.VerifyOptions{Roots: testpki.Pool(p.root.Cert), TSARoots: tsa.Roots()})
			if err != nil || !rep.Valid {
				t.Fatalf("the signature does not verify: %v\n%s", err, rep.Text())
			}
			got, ok := filing.TimestampTime(p7s)
			if ok != tt.stamped || (ok && !got.Equal(at)) {
				t.Fatalf("TimestampTime = %s, %v; want %v at %s", got, ok, tt.stamped, at)
			}
		})
	}
	if _, ok := filing.TimestampTime([]byte("not CMS")); ok {
		t.Error("fail/not-cms: a time-stamp in garbage")
	}
}

func TestGeneralName(t *testing.T) {
	name := pkix.Name{CommonName: "Tongxing TSA", Organization: []string{"Tongxing"}}
	rdn, err := asn1.Marshal(name.ToRDNSequence())
	if err != nil {
		t.Fatal(err)
	}
	directory, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 4, IsCompound: true, Bytes: rdn})
	dns, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte("tsa.example")})
	for _, tt := range []struct {
		name string
		der  []byte
		want string
	}{
		{"ok/directory-name", directory, "CN=Tongxing TSA,O=Tongxing"},
		{"ok/absent", nil, ""},
		{"ok/dns-name-not-shown", dns, ""},
		{"ok/garbage", []byte{0xa4, 0x05, 0x01}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := filing.GeneralName(tt.der); got != tt.want {
				t.Fatalf("%q, want %q", got, tt.want)
			}
		})
	}
}

func TestInvalid(t *testing.T) {
	for _, tt := range []struct {
		name   string
		checks []signature.Check
		want   string
	}{
		{"ok/names-failed-checks", []signature.Check{
			{Name: "content", Status: signature.Passed},
			{Name: "signature", Status: signature.Failed, Detail: "signature: does not verify"},
			{Name: "chain", Status: signature.Failed, Detail: "untrusted root"},
		}, "signature is INVALID: signature: does not verify; chain: untrusted root"},
		{"ok/no-failed-check", []signature.Check{{Name: "timestamp", Status: signature.NotChecked}},
			"signature is INVALID: a required check did not pass"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := filing.Invalid(&signature.Report{Checks: tt.checks}); err == nil || err.Error() != tt.want {
				t.Fatalf("%v, want %q", err, tt.want)
			}
		})
	}
}
