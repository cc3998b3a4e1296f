package e2e

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/ca/ocsp"
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/test/serverproc"
	"github.com/tongxing/tongxing/timestamp"
	"github.com/tongxing/tongxing/timestamp/cms"
)

// TestNoSubscriberResponderOrTSA is finding 1 of issue 9 through the real
// binary: a registration officer can no longer hand out a code for the ocsp
// or tsa profile (nor enterprise-enc), a code for them stored by an earlier
// version cannot be redeemed, and what a subscriber can obtain instead (a
// service certificate) forges neither an OCSP "good" answer nor a
// timestamp that OpenSSL or `tongxing ts verify` accept. Genuine answers
// still verify.
func TestNoSubscriberResponderOrTSA(t *testing.T) {
	needOpenSSL(t)
	dir := t.TempDir()
	in := serverproc.Start(t, binary, dir)
	defer in.Stop(syscall.SIGTERM)
	pki := filepath.Join(dir, "tongxing-data", "pki")

	for _, tc := range []struct{ profile, says string }{
		{"ocsp", "issued only by Tongxing itself"},
		{"tsa", "issued only by Tongxing itself"},
	} {
		t.Run("fail/enrol-code-"+tc.profile, func(t *testing.T) {
			out, err := in.CLI("ca", "enrol-code", "--profile", tc.profile, "--name", "Evil "+tc.profile)
			if err == nil || !strings.Contains(out, tc.says) || !strings.Contains(out, "403") {
				t.Fatalf("enrol-code --profile %s: err=%v\n%s", tc.profile, err, out)
			}
		})
	}
	t.Run("fail/enrol-code-enterprise-enc", func(t *testing.T) {
		out, err := in.CLI("ca", "enrol-code", "--profile", "enterprise-enc", "--organization", "福州示例科技有限公司", "--uscc", "91350100M000100Y43")
		if err == nil || !strings.Contains(out, "only by the KMC") {
			t.Fatalf("enrol-code --profile enterprise-enc: err=%v\n%s", err, out)
		}
	})

	// Codes an earlier version stored for the internal profiles.
	legacy := map[string]string{}
	{
		db, err := store.Open(context.Background(), filepath.Join(dir, "tongxing-data", "tongxing.db"))
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().Unix()
		for _, p := range []string{"ocsp", "tsa"} {
			code := "legacycodefor" + p + "aaaaaaaaaaaaaaaaaaa"
			h := sha256.Sum256([]byte(code))
			if _, err := db.Exec(context.Background(), `INSERT INTO ca_enrolment_codes (id, code_hash, profile, subject_json, created_by, created_at, expires_at)
				VALUES (?, ?, ?, ?, ?, ?, ?)`, "enr_legacy"+p, h[:], p, `{"name":"Evil `+p+`"}`, "officer:admin", now, now+3600); err != nil {
				t.Fatal(err)
			}
			legacy[p] = code
		}
		db.Close()
	}
	for p, code := range legacy {
		t.Run("fail/legacy-code-"+p, func(t *testing.T) {
			out, err := in.CLI("ca", "request", "--profile", p, "--code", code, "--suite", "intl", "--out", "legacy-"+p)
			if err == nil || !strings.Contains(out, "issued only by Tongxing itself") {
				t.Fatalf("request with a legacy %s code: err=%v\n%s", p, err, out)
			}
			if _, err := os.Stat(filepath.Join(dir, "legacy-"+p, "cert.pem")); err == nil {
				t.Fatal("a certificate was written")
			}
		})
	}

	// What a subscriber can get in the intl suite: a service certificate.
	svcDir, serial := enrol(t, in, "svc", "--profile", "service", "--department", "tax", "--service", "api", "--dns", "api.tax.example")
	svcCert := readCert(t, filepath.Join(svcDir, "cert.pem"))
	pass, _ := os.ReadFile(filepath.Join(svcDir, "key.pass"))
	keyPEM, _ := os.ReadFile(filepath.Join(svcDir, "key.pem"))
	svcKey, err := kms.ParseEncryptedPEM(keyPEM, []byte(strings.TrimSpace(string(pass))))
	if err != nil {
		t.Fatal(err)
	}
	issuing := readCert(t, filepath.Join(pki, "intl-issuing.crt"))
	root, _ := os.ReadFile(filepath.Join(pki, "intl-root.crt"))
	issuingPEM, _ := os.ReadFile(filepath.Join(pki, "intl-issuing.crt"))
	os.WriteFile(filepath.Join(dir, "intl-chain.pem"), append(root, issuingPEM...), 0o644)

	t.Run("ok/genuine-ocsp-verifies", func(t *testing.T) {
		out := serverproc.OpenSSL(t, dir, "ocsp", "-issuer", filepath.Join(pki, "intl-issuing.crt"), "-cert", filepath.Join(svcDir, "cert.pem"),
			"-url", in.URL("/ocsp"), "-CAfile", filepath.Join(pki, "intl-root.crt"))
		if !strings.Contains(out, "Response verify OK") || !strings.Contains(out, "cert.pem: good") {
			t.Fatalf("genuine OCSP:\n%s", out)
		}
	})
	if out, err := in.CLI("ca", "revoke", serial, "--reason", "keyCompromise"); err != nil {
		t.Fatalf("revoke: %v\n%s", err, out)
	}
	t.Run("fail/forged-ocsp-good-with-a-subscriber-key", func(t *testing.T) {
		id, err := ocsp.NewCertID(ocsp.SHA1, issuing, svcCert.SerialNumber)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		forged, err := ocsp.CreateResponse(svcCert, svcKey.(crypto.Signer), ocsp.ResponseData{ProducedAt: now,
			Responses: []ocsp.SingleResponse{{CertID: id, Status: ocsp.Good, ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(time.Hour), Reason: ocsp.NoReason}}})
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "forged.ocsp"), forged, 0o644)
		cmd := exec.Command("openssl", "ocsp", "-respin", "forged.ocsp", "-issuer", filepath.Join(pki, "intl-issuing.crt"),
			"-cert", filepath.Join(svcDir, "cert.pem"), "-CAfile", "intl-chain.pem")
		cmd.Dir = dir
		out, _ := cmd.CombinedOutput()
		if strings.Contains(string(out), "Response verify OK") {
			t.Fatalf("openssl accepted an OCSP answer signed by a subscriber's key:\n%s", out)
		}
		if !strings.Contains(string(out), "Response Verify Failure") {
			t.Errorf("openssl ocsp output:\n%s", out)
		}
		out2 := serverproc.OpenSSL(t, dir, "ocsp", "-issuer", filepath.Join(pki, "intl-issuing.crt"), "-cert", filepath.Join(svcDir, "cert.pem"),
			"-url", in.URL("/ocsp"), "-CAfile", filepath.Join(pki, "intl-root.crt"))
		if !strings.Contains(out2, "Response verify OK") || !strings.Contains(out2, "cert.pem: revoked") {
			t.Errorf("genuine OCSP after revocation:\n%s", out2)
		}
	})

	os.WriteFile(filepath.Join(dir, "filing.txt"), []byte("申报材料 2026"), 0o644)
	t.Run("ok/genuine-timestamp-verifies", func(t *testing.T) {
		if out, err := in.CLI("ts", "request", "filing.txt", "--intl", "-o", "genuine.tsr"); err != nil {
			t.Fatalf("ts request: %v\n%s", err, out)
		}
		if out := serverproc.OpenSSL(t, dir, "ts", "-verify", "-data", "filing.txt", "-in", "genuine.tsr", "-CAfile", "intl-chain.pem"); !strings.Contains(out, "Verification: OK") {
			t.Errorf("openssl ts -verify:\n%s", out)
		}
		if out, err := in.Run("ts", "verify", "filing.txt", "genuine.tsr", "--ca", serverproc.PKI("intl-root.crt"), "--ca", serverproc.PKI("intl-issuing.crt")); err != nil || !strings.Contains(out, "Verification: OK") {
			t.Errorf("tongxing ts verify: %v\n%s", err, out)
		}
	})
	t.Run("fail/forged-timestamp-with-a-subscriber-key", func(t *testing.T) {
		data, _ := os.ReadFile(filepath.Join(dir, "filing.txt"))
		sum := sha256.Sum256(data)
		info := &timestamp.TSTInfo{Version: 1, Policy: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 32473, 1, 1},
			MessageImprint: timestamp.MessageImprint{HashAlgorithm: timestamp.SHA256.OID(), HashedMessage: sum[:]},
			SerialNumber:   big.NewInt(42), GenTime: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}
		content, err := info.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		signer, err := cms.NewSigner(svcKey.(crypto.Signer), svcCert)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := signer.Sign(rand.Reader, content, cms.SignOptions{ContentType: timestamp.OIDTSTInfo, SigningTime: info.GenTime,
			SignedAttributes: []cms.Attribute{cms.SigningCertificateV2(svcCert, cms.DigestSHA256)}, Certificates: []*smx509.Certificate{svcCert}})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := (&timestamp.TimeStampResp{Status: timestamp.StatusGranted, Token: tok}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "forged.tsr"), resp, 0o644)
		cmd := exec.Command("openssl", "ts", "-verify", "-data", "filing.txt", "-in", "forged.tsr", "-CAfile", "intl-chain.pem")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err == nil || strings.Contains(string(out), "Verification: OK") {
			t.Errorf("openssl ts -verify accepted a timestamp signed by a subscriber's key: %v\n%s", err, out)
		}
		if out, err := in.Run("ts", "verify", "filing.txt", "forged.tsr", "--ca", serverproc.PKI("intl-root.crt"), "--ca", serverproc.PKI("intl-issuing.crt")); err == nil || !strings.Contains(out, "FAILED") {
			t.Errorf("tongxing ts verify accepted a timestamp signed by a subscriber's key: %v\n%s", err, out)
		}
	})
}
