package signature_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"
	tjsm2 "github.com/tjfoc/gmsm/sm2"

	"github.com/tongxing/tongxing/ca/ident"
	"github.com/tongxing/tongxing/internal/testpki"
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/signature"
	"github.com/tongxing/tongxing/timestamp"
	"github.com/tongxing/tongxing/timestamp/cms"
)

const testUSCC = "91350100M000100Y43"

// pki is a test root CA: of gm or intl keys.
type pki struct {
	root *testpki.Cert
}

func suiteOf(gm bool) kms.Suite {
	if gm {
		return kms.GM
	}
	return kms.Intl
}

func newPKI(t testing.TB, gm bool) *pki {
	t.Helper()
	return &pki{root: testpki.NewRoot(t, suiteOf(gm), "Filing Test Root", testpki.Serial(big.NewInt(1)),
		testpki.Subject(pkix.Name{CommonName: "Filing Test Root"}), testpki.KeyUsage(smx509.KeyUsageCertSign),
		testpki.Valid(time.Now().Add(-365*24*time.Hour), time.Now().Add(365*24*time.Hour)))}
}

func (p *pki) pool() *smx509.CertPool { return testpki.Pool(p.root.Cert) }

// issue makes a leaf: a signing e-cert (with a USCC) or, with tsa, a TSA
// certificate with the critical timeStamping EKU.
func (p *pki) issue(t testing.TB, gm, tsa bool, notBefore, notAfter time.Time) (crypto.Signer, *smx509.Certificate) {
	t.Helper()
	if gm != (p.root.Suite == kms.GM) {
		t.Fatalf("a %s leaf below a %s root", suiteOf(gm), p.root.Suite)
	}
	leaf := p.root.Issue(t, "", testpki.Valid(notBefore, notAfter), func(c *smx509.Certificate) {
		c.Subject = pkix.Name{CommonName: "某某科技有限公司", Organization: []string{"某某科技有限公司"}}
		c.KeyUsage = smx509.KeyUsageDigitalSignature | smx509.KeyUsageContentCommitment
		if tsa {
			c.Subject = pkix.Name{CommonName: "Filing Test TSA"}
			eku, _ := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
			c.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}}
			return
		}
		ext, err := ident.USCCExtension(testUSCC)
		if err != nil {
			t.Fatal(err)
		}
		c.ExtraExtensions = []pkix.Extension{ext}
	})
	return leaf.Key, leaf.Cert
}

type fixture struct {
	gm       bool
	pki      *pki
	key      crypto.Signer
	cert     *smx509.Certificate
	tsa      *timestamp.Authority
	tsaPKI   *pki
	otherPKI *pki
}

func newFixture(t testing.TB, gm bool, signedAt time.Time) *fixture {
	t.Helper()
	f := &fixture{gm: gm, pki: newPKI(t, gm), tsaPKI: newPKI(t, gm), otherPKI: newPKI(t, gm)}
	f.key, f.cert = f.pki.issue(t, gm, false, time.Now().Add(-48*time.Hour), time.Now().Add(48*time.Hour))
	tk, tc := f.tsaPKI.issue(t, gm, true, time.Now().Add(-300*24*time.Hour), time.Now().Add(300*24*time.Hour))
	a, err := timestamp.NewAuthority(tk, []*smx509.Certificate{tc, f.tsaPKI.root.Cert},
		timestamp.WithPolicy(asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 2, 1}),
		timestamp.WithClock(func() time.Time { return signedAt }))
	if err != nil {
		t.Fatal(err)
	}
	f.tsa = a
	return f
}

func (f *fixture) signer(t testing.TB, opts ...signature.Option) *signature.Signer {
	t.Helper()
	s, err := signature.NewSigner(f.key, []*smx509.Certificate{f.cert, f.pki.root.Cert}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type revoker struct{ err error }

func (r revoker) CheckRevocation(context.Context, *smx509.Certificate, *smx509.Certificate, time.Time) error {
	return r.err
}

func TestSignVerify(t *testing.T) {
	ctx := context.Background()
	content := []byte("%PDF-1.7 企业年度报告 申报材料")
	for _, gm := range []bool{true, false} {
		suite := map[bool]string{true: "gm", false: "intl"}[gm]
		f := newFixture(t, gm, time.Now())
		ts := signature.WithTimestamper(signature.Local(f.tsa))
		stamped, err := f.signer(t, ts).Sign(ctx, content)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := f.signer(t).Sign(ctx, content)
		if err != nil {
			t.Fatal(err)
		}
		attached, err := f.signer(t, signature.WithAttached()).Sign(ctx, content)
		if err != nil {
			t.Fatal(err)
		}
		streamed, err := f.signer(t, ts).SignReader(ctx, bytes.NewReader(content))
		if err != nil {
			t.Fatal(err)
		}
		badDigestTSA := signature.TimestampFunc(func(ctx context.Context, digest []byte, alg timestamp.HashAlgorithm) (*timestamp.Token, error) {
			return f.tsa.Timestamp(ctx, alg.Sum([]byte("not the signature")), alg, timestamp.TokenOptions{CertReq: true})
		})
		wrongStamp, err := f.signer(t, signature.WithTimestamper(badDigestTSA)).Sign(ctx, content)
		if err != nil {
			t.Fatal(err)
		}
		roots := f.pki.pool()
		tsaRoots := f.tsaPKI.pool()
		tests := []struct {
			name    string
			p7s     []byte
			content []byte
			opts    signature.VerifyOptions
			valid   bool
			want    map[string]signature.Status
		}{
			{"ok/detached-timestamped", stamped, content, signature.VerifyOptions{Roots: roots, TSARoots: tsaRoots}, true,
				map[string]signature.Status{signature.CheckTimestamp: signature.Passed, signature.CheckSigningCertificate: signature.Passed, signature.CheckRevocation: signature.NotChecked}},
			{"ok/streamed-timestamped", streamed, content, signature.VerifyOptions{Roots: roots, TSARoots: tsaRoots, RequireTimestamp: true}, true,
				map[string]signature.Status{signature.CheckTimestamp: signature.Passed}},
			{"ok/no-timestamp", plain, content, signature.VerifyOptions{Roots: roots}, true,
				map[string]signature.Status{signature.CheckTimestamp: signature.NotChecked}},
			{"ok/attached", attached, nil, signature.VerifyOptions{Roots: roots}, true,
				map[string]signature.Status{signature.CheckContent: signature.Passed}},
			{"ok/not-revoked", stamped, content, signature.VerifyOptions{Roots: roots, TSARoots: tsaRoots, Revocation: revoker{}}, true,
				map[string]signature.Status{signature.CheckRevocation: signature.Passed}},
			{"fail/revoked", stamped, content, signature.VerifyOptions{Roots: roots, TSARoots: tsaRoots, Revocation: revoker{errors.New("revoked: keyCompromise")}}, false,
				map[string]signature.Status{signature.CheckRevocation: signature.Failed}},
			{"fail/tampered-content", stamped, append([]byte("X"), content...), signature.VerifyOptions{Roots: roots, TSARoots: tsaRoots}, false,
				map[string]signature.Status{signature.CheckContent: signature.Failed, signature.CheckSignature: signature.Passed}},
			{"fail/detached-without-content", stamped, nil, signature.VerifyOptions{Roots: roots, TSARoots: tsaRoots}, false,
				map[string]signature.Status{signature.CheckContent: signature.Failed}},
			{"fail/untrusted-signer", stamped, content, signature.VerifyOptions{Roots: f.otherPKI.pool(), TSARoots: tsaRoots}, false,
				map[string]signature.Status{signature.CheckChain: signature.Failed, signature.CheckTimestamp: signature.Passed}},
			{"fail/untrusted-tsa", stamped, content, signature.VerifyOptions{Roots: roots, TSARoots: f.otherPKI.pool()}, false,
				map[string]signature.Status{signature.CheckTimestamp: signature.Failed}},
			{"fail/timestamp-over-other-data", wrongStamp, content, signature.VerifyOptions{Roots: roots, TSARoots: tsaRoots}, false,
				map[string]signature.Status{signature.CheckTimestamp: signature.Failed}},
			{"fail/timestamp-required", plain, content, signature.VerifyOptions{Roots: roots, RequireTimestamp: true}, false,
				map[string]signature.Status{signature.CheckTimestamp: signature.Failed}},
			{"fail/garbage", []byte("not a signature"), content, signature.VerifyOptions{Roots: roots}, false,
				map[string]signature.Status{signature.CheckStructure: signature.Failed}},
		}
		for _, tc := range tests {
			t.Run(suite+"/"+tc.name, func(t *testing.T) {
				r, err := signature.Verify(ctx, tc.p7s, tc.content, tc.opts)
				if err != nil {
					t.Fatal(err)
				}
				if r.Valid != tc.valid {
					t.Fatalf("Valid = %v, want %v\n%s", r.Valid, tc.valid, r.Text())
				}
				for name, st := range tc.want {
					if c := r.Check(name); c == nil || c.Status != st {
						t.Fatalf("check %s = %+v, want %s\n%s", name, c, st, r.Text())
					}
				}
				if tc.valid && (r.Signer == nil || r.Signer.USCC != testUSCC || r.Suite != suite) {
					t.Fatalf("signer %+v suite %s", r.Signer, r.Suite)
				}
			})
		}
	}
}

// TestExpiredCertificateWithTimestamp signs while the certificate is valid,
// with a time-stamp, and verifies after it expired: the chain is checked at
// the time-stamp time. Without the time-stamp the same signature fails.
func TestExpiredCertificateWithTimestamp(t *testing.T) {
	ctx := context.Background()
	signedAt := time.Now().Add(-36 * time.Hour)
	f := newFixture(t, true, signedAt)
	f.key, f.cert = f.pki.issue(t, true, false, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	content := []byte("filing")
	clock := signature.WithClock(func() time.Time { return signedAt })
	stamped, err := f.signer(t, clock, signature.WithTimestamper(signature.Local(f.tsa))).Sign(ctx, content)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := f.signer(t, clock).Sign(ctx, content)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		p7s   []byte
		valid bool
	}{
		{"ok/timestamped", stamped, true},
		{"fail/no-timestamp", plain, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := signature.Verify(ctx, tc.p7s, content, signature.VerifyOptions{Roots: f.pki.pool(), TSARoots: f.tsaPKI.pool()})
			if err != nil {
				t.Fatal(err)
			}
			if r.Valid != tc.valid {
				t.Fatalf("Valid = %v\n%s", r.Valid, r.Text())
			}
			if tc.valid && !r.ValidationTime.Equal(signedAt.UTC().Truncate(time.Millisecond)) {
				t.Fatalf("validation time %s, want the time-stamp time %s", r.ValidationTime, signedAt)
			}
		})
	}
}

func TestNewSignerConfig(t *testing.T) {
	f := newFixture(t, true, time.Now())
	other := newFixture(t, false, time.Now())
	tests := []struct {
		name  string
		key   crypto.Signer
		chain []*smx509.Certificate
	}{
		{"fail/no-chain", f.key, nil},
		{"fail/nil-key", nil, []*smx509.Certificate{f.cert}},
		{"fail/key-mismatch", other.key, []*smx509.Certificate{f.cert}},
		{"fail/broken-chain", f.key, []*smx509.Certificate{f.cert, other.pki.root.Cert}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := signature.NewSigner(tc.key, tc.chain); !errors.Is(err, signature.ErrConfig) {
				t.Fatalf("got %v", err)
			}
		})
	}
	if _, err := signature.Verify(context.Background(), nil, nil, signature.VerifyOptions{}); err == nil {
		t.Fatal("Verify without roots accepted")
	}
	failing := signature.TimestampFunc(func(context.Context, []byte, timestamp.HashAlgorithm) (*timestamp.Token, error) {
		return nil, timestamp.TimeNotAvailable
	})
	if _, err := f.signer(t, signature.WithTimestamper(failing)).Sign(context.Background(), []byte("x")); !errors.Is(err, timestamp.TimeNotAvailable) {
		t.Fatalf("time-stamp failure not returned: %v", err)
	}
}

func TestReportText(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, true, time.Now())
	p7s, err := f.signer(t, signature.WithTimestamper(signature.Local(f.tsa))).Sign(ctx, []byte("c"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		content []byte
		want    []string
	}{
		{"ok/valid", []byte("c"), []string{"签名有效 VALID", "统一社会信用代码 / USCC:", testUSCC, "某某科技有限公司",
			"可信签名时间 / Trusted time:", "(UTC+8)", "[通过 PASS] 可信时间戳", "[未检查 N/A] 证书未吊销", "SM3 / SM2 (gm)"}},
		{"fail/tampered", []byte("d"), []string{"签名无效 INVALID", "[失败 FAIL] 文件内容未被篡改"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := signature.Verify(ctx, p7s, tc.content, signature.VerifyOptions{Roots: f.pki.pool(), TSARoots: f.tsaPKI.pool()})
			if err != nil {
				t.Fatal(err)
			}
			text := r.Text()
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Fatalf("report lacks %q:\n%s", w, text)
				}
			}
			js, err := json.Marshal(r)
			if err != nil || !bytes.Contains(js, []byte(`"checks"`)) {
				t.Fatalf("JSON report: %v %s", err, js)
			}
		})
	}
}

// TestOpenSSLVerifiesIntl checks intl filings, time-stamped, with
// `openssl cms -verify` on the detached content.
func TestOpenSSLVerifiesIntl(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed; OpenSSL interop not checked")
	}
	f := newFixture(t, false, time.Now())
	content := []byte("intl filing\n")
	p7s, err := f.signer(t, signature.WithTimestamper(signature.Local(f.tsa))).Sign(context.Background(), content)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ca := write("root.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.pki.root.Cert.Raw}))
	sig := write("filing.p7s", p7s)
	data := write("filing.txt", content)
	other := write("other.txt", []byte("other\n"))
	tests := []struct {
		name string
		data string
		ok   bool
	}{
		{"ok/content", data, true},
		{"fail/other-content", other, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command(openssl, "cms", "-verify", "-inform", "DER", "-in", sig, "-content", tc.data,
				"-binary", "-CAfile", ca, "-purpose", "any", "-out", filepath.Join(dir, "out")).CombinedOutput()
			if (err == nil) != tc.ok {
				t.Fatalf("openssl cms -verify: %v\n%s", err, out)
			}
		})
	}
}

// TestTjfocVerifiesGM checks the SM2 signature value of a gm filing with
// github.com/tjfoc/gmsm.
func TestTjfocVerifiesGM(t *testing.T) {
	f := newFixture(t, true, time.Now())
	p7s, err := f.signer(t).Sign(context.Background(), []byte("gm filing"))
	if err != nil {
		t.Fatal(err)
	}
	sd, err := cms.Parse(p7s)
	if err != nil {
		t.Fatal(err)
	}
	si := sd.SignerInfos[0]
	pubKey := f.cert.PublicKey.(*ecdsa.PublicKey)
	pub := &tjsm2.PublicKey{Curve: tjsm2.P256Sm2(), X: pubKey.X, Y: pubKey.Y}
	var rs struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(si.Signature, &rs); err != nil {
		t.Fatal(err)
	}
	if !tjsm2.Sm2Verify(pub, si.SignedAttributesDER(), nil, rs.R, rs.S) {
		t.Fatal("tjfoc rejects the SM2 signature")
	}
	if !sd.GM || !sd.ContentType.Equal(cms.OIDGMData) {
		t.Fatalf("GM/T 0010 content types: gm=%v eContentType=%s", sd.GM, sd.ContentType)
	}
}

// FuzzVerify checks that Verify never panics on arbitrary input, always
// reports, and never calls an input valid whose required checks did not pass.
func FuzzVerify(f *testing.F) {
	fx := newFixture(f, true, time.Now())
	p7s, err := fx.signer(f, signature.WithTimestamper(signature.Local(fx.tsa))).Sign(context.Background(), []byte("seed"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(p7s, []byte("seed"))
	f.Add([]byte{0x30, 0x00}, []byte{})
	opts := signature.VerifyOptions{Roots: fx.pki.pool(), TSARoots: fx.tsaPKI.pool()}
	f.Fuzz(func(t *testing.T, p7s, content []byte) {
		r, err := signature.Verify(context.Background(), p7s, content, opts)
		if err != nil || r == nil || len(r.Checks) == 0 {
			t.Fatalf("no report: %v", err)
		}
		_ = r.Text()
		if r.Valid {
			for _, name := range []string{signature.CheckStructure, signature.CheckContent, signature.CheckSignature, signature.CheckChain} {
				if c := r.Check(name); c == nil || c.Status != signature.Passed {
					t.Fatalf("valid report with %s %+v", name, c)
				}
			}
		}
	})
}
