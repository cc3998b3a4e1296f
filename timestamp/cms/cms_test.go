package cms_test

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/asn1"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/emmansun/gmsm/pkcs7"
	"github.com/emmansun/gmsm/smx509"
	tjsm2 "github.com/tjfoc/gmsm/sm2"
	"golang.org/x/crypto/cryptobyte"

	"github.com/tongxing/tongxing/internal/testpki"
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/timestamp/cms"
)

var oidTSTInfo = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 4}

func sign(t *testing.T, p *testpki.TSA, content []byte, opts cms.SignOptions) []byte {
	t.Helper()
	s, err := cms.NewSigner(p.LeafKey, p.Leaf)
	if err != nil {
		t.Fatal(err)
	}
	der, err := s.Sign(rand.Reader, content, opts)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestSignVerify(t *testing.T) {
	gm := testpki.NewTSA(t, kms.GM, testpki.TSAOptions{})
	intl := testpki.NewTSA(t, kms.Intl, testpki.TSAOptions{})
	content := []byte("申报材料 filing content")
	signingTime := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		pki      *testpki.TSA
		opts     cms.SignOptions
		wantGM   bool
		wantVer  int
		wantType asn1.ObjectIdentifier
	}{
		{"ok/gm-data", gm, cms.SignOptions{Certificates: []*smx509.Certificate{gm.Leaf}}, true, 1, cms.OIDGMData},
		{"ok/gm-tstinfo", gm, cms.SignOptions{ContentType: oidTSTInfo, SigningTime: signingTime}, true, 1, oidTSTInfo},
		{"ok/intl-data", intl, cms.SignOptions{Certificates: intl.Chain()}, false, 1, cms.OIDData},
		{"ok/intl-tstinfo", intl, cms.SignOptions{ContentType: oidTSTInfo, SigningTime: signingTime}, false, 3, oidTSTInfo},
		{"ok/intl-ess", intl, cms.SignOptions{SignedAttributes: []cms.Attribute{cms.SigningCertificateV2(intl.Leaf, cms.DigestSHA256)}}, false, 1, cms.OIDData},
		{"ok/gm-ess-unsigned", gm, cms.SignOptions{
			SignedAttributes:   []cms.Attribute{cms.SigningCertificateV2(gm.Leaf, cms.DigestSM3)},
			UnsignedAttributes: []cms.Attribute{{Type: asn1.ObjectIdentifier{1, 2, 3}, Values: [][]byte{{0x05, 0x00}}}},
		}, true, 1, cms.OIDGMData},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			der := sign(t, tc.pki, content, tc.opts)
			sd, err := cms.Parse(der)
			if err != nil {
				t.Fatal(err)
			}
			if sd.GM != tc.wantGM || sd.Version != tc.wantVer || !sd.ContentType.Equal(tc.wantType) {
				t.Fatalf("GM=%v version=%d type=%s, want %v %d %s", sd.GM, sd.Version, sd.ContentType, tc.wantGM, tc.wantVer, tc.wantType)
			}
			if !bytes.Equal(sd.Content, content) || len(sd.SignerInfos) != 1 || len(sd.Certificates) != len(tc.opts.Certificates) {
				t.Fatalf("content/signers/certs wrong: %d signers, %d certs", len(sd.SignerInfos), len(sd.Certificates))
			}
			si := sd.SignerInfos[0]
			cert := sd.FindCertificate(si, tc.pki.Leaf)
			if cert == nil {
				t.Fatal("signer certificate not found")
			}
			if err := sd.Verify(si, cert, nil); err != nil {
				t.Fatal(err)
			}
			if st, ok, err := si.SigningTime(); err != nil || ok != !tc.opts.SigningTime.IsZero() || (ok && !st.Equal(signingTime)) {
				t.Fatalf("signing time %v %v %v", st, ok, err)
			}
			if len(tc.opts.SignedAttributes) > 0 {
				if err := cms.CheckSigningCertificate(si, tc.pki.Leaf); err != nil {
					t.Fatal(err)
				}
				if err := cms.CheckSigningCertificate(si, tc.pki.Root); !errors.Is(err, cms.ErrSigningCertificate) {
					t.Fatalf("ESS with wrong cert: %v", err)
				}
			}
			if len(tc.opts.UnsignedAttributes) > 0 && si.UnsignedAttribute(asn1.ObjectIdentifier{1, 2, 3}) == nil {
				t.Fatal("unsigned attribute lost")
			}
		})
	}
}

func TestVerifyFailures(t *testing.T) {
	gm := testpki.NewTSA(t, kms.GM, testpki.TSAOptions{})
	intl := testpki.NewTSA(t, kms.Intl, testpki.TSAOptions{})
	content := []byte("content")
	for _, p := range []*testpki.TSA{gm, intl} {
		der := sign(t, p, content, cms.SignOptions{})
		sd, err := cms.Parse(der)
		if err != nil {
			t.Fatal(err)
		}
		si := sd.SignerInfos[0]
		badSig := *si
		badSig.Signature = append([]byte(nil), si.Signature...)
		badSig.Signature[len(badSig.Signature)-3] ^= 1
		tests := []struct {
			name    string
			si      *cms.SignerInfo
			cert    *smx509.Certificate
			content []byte
			want    error
		}{
			{"fail/content", si, p.Leaf, []byte("other"), cms.ErrMessageDigest},
			{"fail/wrong-cert", si, p.Root, nil, cms.ErrSignature},
			{"fail/tampered-signature", &badSig, p.Leaf, nil, cms.ErrSignature},
			{"fail/other-suite-cert", si, map[bool]*testpki.TSA{true: intl, false: gm}[sd.GM].Leaf, nil, cms.ErrAlgorithm},
		}
		for _, tc := range tests {
			t.Run(tc.name+map[bool]string{true: "/gm", false: "/intl"}[sd.GM], func(t *testing.T) {
				err := sd.Verify(tc.si, tc.cert, tc.content)
				if !errors.Is(err, tc.want) {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
			})
		}
	}
}

func TestDetachedDigest(t *testing.T) {
	p := testpki.NewTSA(t, kms.GM, testpki.TSAOptions{})
	content := []byte("large file content")
	s, err := cms.NewSigner(p.LeafKey, p.Leaf)
	if err != nil {
		t.Fatal(err)
	}
	der, err := s.Sign(rand.Reader, nil, cms.SignOptions{Detached: true, ContentDigest: cms.DigestSM3.Sum(content)})
	if err != nil {
		t.Fatal(err)
	}
	sd, err := cms.Parse(der)
	if err != nil {
		t.Fatal(err)
	}
	if !sd.Detached || sd.Content != nil {
		t.Fatal("not detached")
	}
	if err := sd.Verify(sd.SignerInfos[0], p.Leaf, content); err != nil {
		t.Fatal(err)
	}
	if err := sd.Verify(sd.SignerInfos[0], p.Leaf, nil); !errors.Is(err, cms.ErrMessageDigest) {
		t.Fatalf("detached without content: %v", err)
	}
	if _, err := s.Sign(rand.Reader, nil, cms.SignOptions{ContentDigest: []byte{1}}); err == nil {
		t.Fatal("ContentDigest without Detached accepted")
	}
	if _, err := s.Sign(rand.Reader, nil, cms.SignOptions{Detached: true, ContentDigest: []byte{1}}); err == nil {
		t.Fatal("short ContentDigest accepted")
	}
}

func TestNewSignerRejects(t *testing.T) {
	gm := testpki.NewTSA(t, kms.GM, testpki.TSAOptions{})
	intl := testpki.NewTSA(t, kms.Intl, testpki.TSAOptions{})
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		key  crypto.Signer
		cert *smx509.Certificate
	}{
		{"fail/mismatched-key", intl.LeafKey, gm.Leaf},
		{"fail/nil-key", nil, gm.Leaf},
		{"fail/nil-cert", gm.LeafKey, nil},
		{"fail/ed25519", ed, intl.Leaf},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := cms.NewSigner(tc.key, tc.cert); !errors.Is(err, cms.ErrUnsupportedKey) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

// TestOpenSSLVerify checks intl SignedData with OpenSSL 3.
func TestOpenSSLVerify(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed; OpenSSL interop not checked")
	}
	p := testpki.NewTSA(t, kms.Intl, testpki.TSAOptions{})
	dir := t.TempDir()
	caFile := testpki.WritePEM(t, dir, "root.pem", p.Root)
	content := []byte("interop content\n")
	tests := []struct {
		name string
		opts cms.SignOptions
	}{
		{"ok/attached-data", cms.SignOptions{Certificates: []*smx509.Certificate{p.Leaf}, SigningTime: time.Now()}},
		{"ok/attached-tstinfo-ess", cms.SignOptions{ContentType: oidTSTInfo, Certificates: []*smx509.Certificate{p.Leaf},
			SignedAttributes: []cms.Attribute{cms.SigningCertificateV2(p.Leaf, cms.DigestSHA256)}}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			der := sign(t, p, content, tc.opts)
			in := filepath.Join(dir, "sd"+string(rune('0'+i))+".der")
			if err := os.WriteFile(in, der, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(openssl, "cms", "-verify", "-inform", "DER", "-in", in,
				"-CAfile", caFile, "-purpose", "any", "-binary").CombinedOutput()
			if err != nil {
				t.Fatalf("openssl cms -verify: %v\n%s", err, out)
			}
			if !bytes.Contains(out, content) {
				t.Fatalf("openssl output lacks content: %s", out)
			}
		})
	}
}

// TestGMSecondImplementations checks GM SignedData with gmsm/pkcs7 and the
// SM2 signature value with tjfoc/gmsm.
func TestGMSecondImplementations(t *testing.T) {
	p := testpki.NewTSA(t, kms.GM, testpki.TSAOptions{})
	content := []byte("GM content")
	der := sign(t, p, content, cms.SignOptions{Certificates: []*smx509.Certificate{p.Leaf}, SigningTime: time.Now()})

	p7, err := pkcs7.Parse(der)
	if err != nil {
		t.Fatalf("gmsm pkcs7 parse: %v", err)
	}
	if err := p7.Verify(); err != nil {
		t.Fatalf("gmsm pkcs7 verify: %v", err)
	}
	if !bytes.Equal(p7.Content, content) {
		t.Fatal("gmsm pkcs7 content differs")
	}

	sd, err := cms.Parse(der)
	if err != nil {
		t.Fatal(err)
	}
	if !verifyTjfoc(t, p.Leaf, sd.SignerInfos[0].SignedAttributesDER(), sd.SignerInfos[0].Signature) {
		t.Fatal("tjfoc sm2 rejects the signature")
	}
}

func verifyTjfoc(t *testing.T, cert *smx509.Certificate, msg, sig []byte) bool {
	t.Helper()
	// Rebuild the public key from the SubjectPublicKeyInfo bit string.
	spki := cryptobyte.String(cert.RawSubjectPublicKeyInfo)
	var seq, alg cryptobyte.String
	var bits asn1.BitString
	if !spki.ReadASN1(&seq, 0x30) || !seq.ReadASN1(&alg, 0x30) || !seq.ReadASN1BitString(&bits) {
		t.Fatal("bad SPKI")
	}
	pt := bits.Bytes
	if len(pt) != 65 || pt[0] != 4 {
		t.Fatalf("unexpected point encoding %x", pt[:1])
	}
	pub := &tjsm2.PublicKey{Curve: tjsm2.P256Sm2(), X: new(big.Int).SetBytes(pt[1:33]), Y: new(big.Int).SetBytes(pt[33:])}
	var rs struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(sig, &rs); err != nil {
		t.Fatal(err)
	}
	return tjsm2.Sm2Verify(pub, msg, nil, rs.R, rs.S)
}

func FuzzParse(f *testing.F) {
	gm := testpki.NewTSA(f, kms.GM, testpki.TSAOptions{})
	intl := testpki.NewTSA(f, kms.Intl, testpki.TSAOptions{})
	for _, p := range []*testpki.TSA{gm, intl} {
		s, err := cms.NewSigner(p.LeafKey, p.Leaf)
		if err != nil {
			f.Fatal(err)
		}
		der, err := s.Sign(rand.Reader, []byte("seed"), cms.SignOptions{
			Certificates:     []*smx509.Certificate{p.Leaf},
			SigningTime:      time.Now(),
			SignedAttributes: []cms.Attribute{cms.SigningCertificateV2(p.Leaf, s.Digest())},
		})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(der)
	}
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		sd, err := cms.Parse(b)
		if err != nil {
			if sd != nil {
				t.Fatal("non-nil result with error")
			}
			return
		}
		if !bytes.Equal(sd.Raw, b) {
			t.Fatal("Raw differs from input")
		}
		for _, si := range sd.SignerInfos {
			if der := si.SignedAttributesDER(); der != nil && der[0] != 0x31 {
				t.Fatal("signed attributes not re-tagged as SET")
			}
			// A signature that verifies must cover attributes present in the input.
			if sd.Verify(si, gm.Leaf, nil) == nil || sd.Verify(si, intl.Leaf, nil) == nil {
				if !bytes.Contains(b, si.SignedAttributesDER()[1:]) {
					t.Fatal("verified attributes not found in input")
				}
			}
			_ = cms.CheckSigningCertificate(si, gm.Leaf)
			_, _, _ = si.SigningTime()
		}
	})
}

func TestUnsignedAttributesFunc(t *testing.T) {
	p := testpki.NewTSA(t, kms.GM, testpki.TSAOptions{})
	oid := asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 14}
	var seen []byte
	der := sign(t, p, []byte("x"), cms.SignOptions{
		UnsignedAttributesFunc: func(sig []byte) ([]cms.Attribute, error) {
			seen = sig
			v, err := asn1.Marshal(sig)
			return []cms.Attribute{{Type: oid, Values: [][]byte{v}}}, err
		},
	})
	sd, err := cms.Parse(der)
	if err != nil {
		t.Fatal(err)
	}
	si := sd.SignerInfos[0]
	a := si.UnsignedAttribute(oid)
	var got []byte
	if a == nil || len(a.Values) != 1 {
		t.Fatal("unsigned attribute missing")
	}
	if _, err := asn1.Unmarshal(a.Values[0], &got); err != nil || !bytes.Equal(got, si.Signature) || !bytes.Equal(seen, si.Signature) {
		t.Fatal("callback did not get the final signature value")
	}
	if err := sd.Verify(si, p.Leaf, nil); err != nil {
		t.Fatal(err)
	}
	s, err := cms.NewSigner(p.LeafKey, p.Leaf)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("tsa down")
	if _, err := s.Sign(rand.Reader, []byte("x"), cms.SignOptions{UnsignedAttributesFunc: func([]byte) ([]cms.Attribute, error) { return nil, boom }}); !errors.Is(err, boom) {
		t.Fatalf("callback error not returned: %v", err)
	}
}
