package kmc

import (
	"bytes"
	"context"
	"crypto/elliptic"
	"encoding/asn1"
	"sync"
	"testing"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/catest"
	"github.com/tongxing/tongxing/ca/ident"
)

func TestEnrolDual(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		tests := []struct {
			name string
			subj ca.Subject
			cn   string
		}{
			{"ok/organisation", enterprise, catest.OrgName},
			{"ok/agent-name", ca.Subject{Organization: catest.OrgName, USCC: catest.USCC, Name: agentName}, agentName},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e := f.enrol(t, tt.subj)
				sign, enc := e.res.SignCertificate, e.res.EncCertificate

				// The enveloped key opened with the subscriber's signing
				// key is the private key of the encryption certificate.
				if !e.encKey.PublicKey.Equal(enc.PublicKey) {
					t.Fatal("the enveloped encryption key does not match the encryption certificate")
				}
				if !e.signKey.PublicKey.Equal(sign.PublicKey) {
					t.Fatal("the signing certificate is not for the subscriber's key")
				}
				env := envelopedKeyOf(t, e.res.CSRResponse)
				if k, err := sm2.ParseEnvelopedPrivateKey(e.signKey, env); err != nil || k.D.Cmp(e.encKey.D) != 0 {
					t.Fatalf("SM2EnvelopedKey does not open to the encryption key: %v", err)
				}
				if _, err := sm2.ParseEnvelopedPrivateKey(catest.SM2Key(t), env); err == nil {
					t.Fatal("SM2EnvelopedKey opens with a stranger's key")
				}

				// Encryption certificate: key usages, USCC, subject.
				want := smx509.KeyUsageKeyEncipherment | smx509.KeyUsageDataEncipherment | smx509.KeyUsageKeyAgreement
				if enc.KeyUsage != want {
					t.Errorf("enc KeyUsage = %b, want %b", enc.KeyUsage, want)
				}
				if got, ok, err := ident.USCCFrom(enc.Extensions); err != nil || !ok || got != catest.USCC {
					t.Errorf("enc USCC = %q %v %v, want %s", got, ok, err, catest.USCC)
				}
				if enc.Subject.String() != sign.Subject.String() || enc.Subject.CommonName != tt.cn {
					t.Errorf("enc subject %q, sign subject %q, want CN %q", enc.Subject, sign.Subject, tt.cn)
				}
				if sign.KeyUsage&smx509.KeyUsageDigitalSignature == 0 || sign.KeyUsage&smx509.KeyUsageKeyEncipherment != 0 {
					t.Errorf("sign KeyUsage = %b", sign.KeyUsage)
				}
				// Both chain to the root.
				roots := smx509.NewCertPool()
				roots.AddCert(f.CAs[0].Cert)
				for _, c := range []*smx509.Certificate{sign, enc} {
					inter := smx509.NewCertPool()
					for _, i := range e.res.EncChain {
						inter.AddCert(i)
					}
					if _, err := c.Verify(smx509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []smx509.ExtKeyUsage{smx509.ExtKeyUsageAny}}); err != nil {
						t.Errorf("%s does not chain to the root: %v", c.Subject, err)
					}
				}
				// The CSRResponse carries the signing certificate and the
				// encryption certificate with its chain.
				cr, err := smx509.ParseCSRResponse(e.signKey, e.res.CSRResponse)
				if err != nil {
					t.Fatal(err)
				}
				if len(cr.SignCerts) != 1 || len(cr.EncryptCerts) != 1+len(e.res.EncChain) || len(e.res.EncChain) == 0 || len(e.res.SignChain) == 0 {
					t.Errorf("CSRResponse holds %d sign and %d enc certificates", len(cr.SignCerts), len(cr.EncryptCerts))
				}

				// Inventory: requested by the KMC for the signing serial.
				rec, err := f.CA.Certificate(ctx, e.res.EncSerial)
				if err != nil {
					t.Fatal(err)
				}
				if rec.Profile != EncProfile || rec.RequestedBy != "kmc:"+e.res.SignSerial {
					t.Errorf("enc record profile %q requested_by %q", rec.Profile, rec.RequestedBy)
				}

				// Escrowed, sealed, recorded.
				var (
					signSerial string
					box        []byte
				)
				if err := f.DB.QueryRow(ctx, "SELECT sign_serial, ciphertext FROM kmc_escrow WHERE enc_serial = ?", e.res.EncSerial).Scan(&signSerial, &box); err != nil {
					t.Fatalf("escrow row of %s: %v", e.res.EncSerial, err)
				}
				if signSerial != e.res.SignSerial {
					t.Errorf("escrow sign_serial %s, want %s", signSerial, e.res.SignSerial)
				}
				if bytes.Contains(box, e.encKey.D.FillBytes(make([]byte, 32))) {
					t.Error("the escrow row holds the private key in the clear")
				}
				evs, err := f.kmc.EscrowEvents(ctx, e.res.EncSerial)
				if err != nil {
					t.Fatal(err)
				}
				if len(evs) != 1 || evs[0].What != EventEscrowed || evs[0].Actor[:5] != "code:" {
					t.Errorf("escrow events %+v", evs)
				}
			})
		}
	})
}

// envelopedKeyOf extracts the SM2EnvelopedKey from a CSRResponse.
func envelopedKeyOf(t testing.TB, der []byte) []byte {
	t.Helper()
	var s csrResponseShape
	if _, err := asn1.Unmarshal(der, &s); err != nil {
		t.Fatal(err)
	}
	if len(s.EncryptedPrivateKey.Bytes) == 0 {
		t.Fatal("CSRResponse has no encryptedPrivateKey")
	}
	return s.EncryptedPrivateKey.Bytes
}

func TestEnrolDualRefused(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		citizen := ca.Subject{Name: "张三", IDNumber: "11010519491231002X"}
		tests := []struct {
			name   string
			setup  func(t *testing.T) (csr []byte, code string)
			is     error
			status int
			field  string
		}{
			{name: "fail/ecdsa-csr", is: ErrNotSM2, status: 400, field: "csr", setup: func(t *testing.T) ([]byte, string) {
				return catest.PEMCSR(catest.CSR(t, catest.ECKey(t, elliptic.P256()))), f.Code(t, SignProfile, enterprise)
			}},
			{name: "fail/malformed-csr", status: 400, field: "csr", setup: func(t *testing.T) ([]byte, string) {
				return []byte("not a CSR"), f.Code(t, SignProfile, enterprise)
			}},
			{name: "fail/empty-csr", status: 400, field: "csr", setup: func(t *testing.T) ([]byte, string) {
				return nil, f.Code(t, SignProfile, enterprise)
			}},
			{name: "fail/unknown-code", is: ca.ErrNotFound, status: 403, field: "enrolment_code", setup: func(t *testing.T) ([]byte, string) {
				return catest.PEMCSR(catest.CSR(t, catest.SM2Key(t))), "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			}},
			{name: "fail/no-code", status: 401, field: "enrolment_code", setup: func(t *testing.T) ([]byte, string) {
				return catest.PEMCSR(catest.CSR(t, catest.SM2Key(t))), ""
			}},
			{name: "fail/code-for-other-profile", status: 403, field: "enrolment_code", setup: func(t *testing.T) ([]byte, string) {
				return catest.PEMCSR(catest.CSR(t, catest.SM2Key(t))), f.Code(t, "citizen", citizen)
			}},
			{name: "fail/legacy-code-for-enc-profile", status: 403, field: "enrolment_code", setup: func(t *testing.T) ([]byte, string) {
				return catest.PEMCSR(catest.CSR(t, catest.SM2Key(t))), f.LegacyCode(t, "", EncProfile, enterprise)
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				csr, code := tt.setup(t)
				before := f.count(t, "SELECT COUNT(*) FROM kmc_escrow")
				res, err := f.kmc.EnrolDual(ctx, csr, code)
				if res != nil {
					t.Fatalf("EnrolDual succeeded: %+v", res)
				}
				wantError(t, err, tt.is, tt.status, tt.field)
				if after := f.count(t, "SELECT COUNT(*) FROM kmc_escrow"); after != before {
					t.Errorf("escrow rows %d -> %d after a refused enrolment", before, after)
				}
			})
		}

		t.Run("ok/code-survives-refused-csr", func(t *testing.T) {
			code := f.Code(t, SignProfile, enterprise)
			if _, err := f.kmc.EnrolDual(ctx, catest.PEMCSR(catest.CSR(t, catest.ECKey(t, elliptic.P256()))), code); err == nil {
				t.Fatal("ECDSA CSR accepted")
			}
			if _, err := f.kmc.EnrolDual(ctx, catest.PEMCSR(catest.CSR(t, catest.SM2Key(t))), code); err != nil {
				t.Fatalf("the code was spent by a refused CSR: %v", err)
			}
		})

		t.Run("fail/code-single-use", func(t *testing.T) {
			code := f.Code(t, SignProfile, enterprise)
			if _, err := f.kmc.EnrolDual(ctx, catest.PEMCSR(catest.CSR(t, catest.SM2Key(t))), code); err != nil {
				t.Fatal(err)
			}
			escrowed := f.count(t, "SELECT COUNT(*) FROM kmc_escrow")
			encs := f.count(t, "SELECT COUNT(*) FROM ca_certificates WHERE profile = ?", EncProfile)
			_, err := f.kmc.EnrolDual(ctx, catest.PEMCSR(catest.CSR(t, catest.SM2Key(t))), code)
			wantError(t, err, ca.ErrCodeUsed, 409, "enrolment_code")
			if n := f.count(t, "SELECT COUNT(*) FROM kmc_escrow"); n != escrowed {
				t.Errorf("escrow rows %d -> %d after a reused code", escrowed, n)
			}
			if n := f.count(t, "SELECT COUNT(*) FROM ca_certificates WHERE profile = ?", EncProfile); n != encs {
				t.Errorf("encryption certificates %d -> %d after a reused code", encs, n)
			}
		})

		t.Run("ok/concurrent-same-code-one-pair", func(t *testing.T) {
			code := f.Code(t, SignProfile, enterprise)
			escrowed := f.count(t, "SELECT COUNT(*) FROM kmc_escrow")
			const n = 4
			var (
				wg   sync.WaitGroup
				mu   sync.Mutex
				wins int
			)
			for range n {
				csr := catest.PEMCSR(catest.CSR(t, catest.SM2Key(t)))
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := f.kmc.EnrolDual(ctx, csr, code); err == nil {
						mu.Lock()
						wins++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if wins != 1 {
				t.Errorf("%d of %d concurrent enrolments with one code succeeded, want 1", wins, n)
			}
			if got := f.count(t, "SELECT COUNT(*) FROM kmc_escrow"); got != escrowed+1 {
				t.Errorf("escrow rows %d -> %d, want one more", escrowed, got)
			}
		})
	})
}
