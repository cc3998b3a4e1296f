package certlogin_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/authn/certlogin"
	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/ident"
	"github.com/tongxing/tongxing/kms"
)

// attempt is one call of Verify.
type attempt struct {
	ch    *certlogin.Challenge
	chain []byte
	sig   []byte
	opts  certlogin.VerifyOptions
}

func TestVerify(t *testing.T) {
	p := newPKI(t)
	citizen := p.citizen(t)
	ecert := p.ecert(t)
	intl := p.ec.leaf(t, nil, nil, func(c *smx509.Certificate) {
		c.Subject = pkix.Name{CommonName: "svc.dept.example", OrganizationalUnit: []string{"民政局"}}
	})
	idCodeExt, err := ident.IdentityCodeExtension(citizenID)
	if err != nil {
		t.Fatal(err)
	}
	withIDCode := p.gm.leaf(t, nil, nil, func(c *smx509.Certificate) { c.ExtraExtensions = []pkix.Extension{idCodeExt} })
	badUSCC := p.gm.leaf(t, nil, nil, func(c *smx509.Certificate) {
		v, _ := asn1.MarshalWithParams("91350100M000100Y44", "printable") // wrong check character
		c.ExtraExtensions = []pkix.Extension{{Id: ident.OIDUSCC(), Value: v}}
	})
	untrusted := p.untrusted.leaf(t, nil, nil, nil)
	expired := p.gm.leaf(t, nil, nil, func(c *smx509.Certificate) {
		c.NotBefore, c.NotAfter = testNow.Add(-48*time.Hour), testNow.Add(-time.Minute)
	})
	notYet := p.gm.leaf(t, nil, nil, func(c *smx509.Certificate) { c.NotBefore = testNow.Add(time.Hour) })
	serverOnly := p.gm.leaf(t, nil, nil, func(c *smx509.Certificate) {
		c.ExtKeyUsage = []smx509.ExtKeyUsage{smx509.ExtKeyUsageServerAuth}
	})
	noEKU := p.gm.leaf(t, nil, nil, func(c *smx509.Certificate) { c.ExtKeyUsage = nil })
	anyEKU := p.gm.leaf(t, nil, nil, func(c *smx509.Certificate) {
		c.ExtKeyUsage = []smx509.ExtKeyUsage{smx509.ExtKeyUsageAny}
	})
	noDigSig := p.gm.leaf(t, nil, nil, func(c *smx509.Certificate) { c.KeyUsage = smx509.KeyUsageContentCommitment })
	otherKey := sm2Key(t)

	revokedAt := testNow.Add(-36 * time.Hour).Truncate(time.Second)
	revoked := p.citizen(t)
	onHold := p.citizen(t)
	rev := &fakeRevocation{revoked: map[string]*ca.RevokedError{
		revoked.cert.SerialNumber.Text(16): {Serial: revoked.cert.SerialNumber.Text(16), Status: ca.StatusRevoked, RevokedAt: revokedAt, Reason: ca.ReasonKeyCompromise},
		onHold.cert.SerialNumber.Text(16):  {Serial: onHold.cert.SerialNumber.Text(16), Status: ca.StatusHold, RevokedAt: revokedAt, Reason: ca.ReasonCertificateHold},
	}}

	// good returns a correctly signed attempt with l.
	good := func(t *testing.T, l *leafCert) attempt {
		ch := newChallenge(t)
		return attempt{ch, l.chain, sign(t, ch, l.key), p.opts(rev)}
	}
	tests := []struct {
		name    string
		make    func(t *testing.T) attempt
		wantErr error
		check   func(t *testing.T, id *certlogin.Identity, a attempt)
	}{
		{"ok/citizen-sm2", func(t *testing.T) attempt { return good(t, citizen) }, nil, func(t *testing.T, id *certlogin.Identity, a attempt) {
			want := ident.Pseudonym([]byte(pseudonymKey), citizenID)
			if id.Suite != kms.GM || id.Kind != certlogin.KindCitizen || id.Pseudonym != want || id.IdentityCode != "" {
				t.Fatalf("identity %+v, want gm citizen with pseudonym %s", id, want)
			}
			if id.CommonName != citizenName || id.Serial != citizen.cert.SerialNumber.Text(16) || !strings.Contains(id.Subject, "SERIALNUMBER="+want) {
				t.Fatalf("identity names: cn %q serial %q subject %q", id.CommonName, id.Serial, id.Subject)
			}
			if id.Issuer != p.gm.issuing.Subject.String() || len(id.Chain) != 3 || !id.Chain[2].Equal(p.gm.root) || !id.Certificate.Equal(citizen.cert) {
				t.Fatalf("issuer %q, chain of %d", id.Issuer, len(id.Chain))
			}
		}},
		{"ok/citizen-identity-code", func(t *testing.T) attempt { return good(t, withIDCode) }, nil, func(t *testing.T, id *certlogin.Identity, _ attempt) {
			if id.Kind != certlogin.KindCitizen || id.IdentityCode != citizenID || id.Pseudonym != "" {
				t.Fatalf("identity %+v, want citizen with identity code", id)
			}
		}},
		{"ok/ecert-legal-person", func(t *testing.T) attempt { return good(t, ecert) }, nil, func(t *testing.T, id *certlogin.Identity, _ attempt) {
			if id.Suite != kms.GM || id.Kind != certlogin.KindEnterprise || id.USCC != usccExample || id.OrgName != orgName || id.AgentName != agentName {
				t.Fatalf("identity %+v, want gm enterprise %s %s by %s", id, orgName, usccExample, agentName)
			}
		}},
		{"ok/ecdsa-p256", func(t *testing.T) attempt { return good(t, intl) }, nil, func(t *testing.T, id *certlogin.Identity, _ attempt) {
			if id.Suite != kms.Intl || id.Kind != certlogin.KindOther || id.CommonName != "svc.dept.example" || id.Pseudonym != "" {
				t.Fatalf("identity %+v, want intl other", id)
			}
		}},
		{"ok/ecdsa-citizen-login-certificate", func(t *testing.T) attempt {
			return good(t, p.ec.leaf(t, nil, nil, func(c *smx509.Certificate) {
				c.Subject.SerialNumber = ident.Pseudonym([]byte(pseudonymKey), citizenID)
				c.KeyUsage = smx509.KeyUsageDigitalSignature
			}))
		}, nil, func(t *testing.T, id *certlogin.Identity, _ attempt) {
			if id.Suite != kms.Intl || id.Kind != certlogin.KindCitizen || id.Pseudonym != ident.Pseudonym([]byte(pseudonymKey), citizenID) {
				t.Fatalf("identity %+v, want the intl citizen of the citizen card", id)
			}
		}},
		{"ok/chain-with-root-appended", func(t *testing.T) attempt {
			a := good(t, citizen)
			a.chain = chainPEM(citizen.cert, p.gm.issuing, p.gm.root)
			return a
		}, nil, nil},
		{"ok/zero-now-means-wall-clock", func(t *testing.T) attempt {
			l := p.gm.leaf(t, nil, nil, func(c *smx509.Certificate) {
				c.NotBefore, c.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
			})
			ch, err := certlogin.NewChallenge(issuerURL, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			o := p.opts(rev)
			o.Now, o.Used = time.Time{}, &certlogin.MemoryUsedChallenges{}
			return attempt{ch, l.chain, sign(t, ch, l.key), o}
		}, nil, nil},

		{"fail/wrong-key", func(t *testing.T) attempt {
			a := good(t, citizen)
			a.sig = sign(t, a.ch, otherKey)
			return a
		}, certlogin.ErrSignature, nil},
		{"fail/signature-for-other-challenge", func(t *testing.T) attempt {
			a := good(t, citizen)
			a.sig = sign(t, newChallenge(t), citizen.key)
			return a
		}, certlogin.ErrSignature, nil},
		{"fail/tampered-nonce", func(t *testing.T) attempt {
			a := good(t, citizen)
			a.ch.Nonce[0] ^= 1
			return a
		}, certlogin.ErrSignature, nil},
		{"fail/tampered-audience", func(t *testing.T) attempt {
			a := good(t, citizen)
			a.ch.Audience = "https://evil.example"
			return a
		}, certlogin.ErrSignature, nil},
		{"fail/tampered-issued-at", func(t *testing.T) attempt {
			a := good(t, citizen)
			a.ch.IssuedAt = a.ch.IssuedAt.Add(time.Second)
			return a
		}, certlogin.ErrSignature, nil},
		{"fail/sm2-wrong-signer-id", func(t *testing.T) attempt {
			a := good(t, citizen)
			sig, err := citizen.key.Sign(rand.Reader, a.ch.ToBeSigned(), sm2.NewSM2SignerOption(true, []byte("other signer id!")))
			if err != nil {
				t.Fatal(err)
			}
			a.sig = sig
			return a
		}, certlogin.ErrSignature, nil},
		{"fail/sm2-key-plain-ecdsa-style-over-sha256", func(t *testing.T) attempt {
			a := good(t, citizen)
			d := sha256.Sum256(a.ch.ToBeSigned())
			sig, err := sm2.SignASN1(rand.Reader, citizen.key.(*sm2.PrivateKey), d[:], nil)
			if err != nil {
				t.Fatal(err)
			}
			a.sig = sig
			return a
		}, certlogin.ErrSignature, nil},
		{"fail/empty-signature", func(t *testing.T) attempt {
			a := good(t, citizen)
			a.sig = nil
			return a
		}, certlogin.ErrSignature, nil},
		{"fail/oversized-signature", func(t *testing.T) attempt {
			a := good(t, citizen)
			a.sig = append(a.sig, make([]byte, certlogin.MaxSignatureSize)...)
			return a
		}, certlogin.ErrSignature, nil},
		{"fail/expired-challenge", func(t *testing.T) attempt {
			a := good(t, citizen)
			a.opts.Now = a.ch.ExpiresAt
			return a
		}, certlogin.ErrChallengeExpired, nil},
		{"fail/reused-challenge", func(t *testing.T) attempt {
			a := good(t, citizen)
			if _, err := certlogin.Verify(context.Background(), a.ch, a.chain, a.sig, a.opts); err != nil {
				t.Fatalf("first use: %v", err)
			}
			return a
		}, certlogin.ErrChallengeReused, nil},
		{"fail/malformed-challenge", func(t *testing.T) attempt {
			a := good(t, citizen)
			a.ch.Nonce = a.ch.Nonce[:16]
			return a
		}, certlogin.ErrChallenge, nil},
		{"fail/nil-challenge", func(t *testing.T) attempt {
			a := good(t, citizen)
			a.ch = nil
			return a
		}, certlogin.ErrChallenge, nil},
		{"fail/untrusted-root", func(t *testing.T) attempt { return good(t, untrusted) }, certlogin.ErrUntrusted, nil},
		{"fail/missing-intermediate", func(t *testing.T) attempt {
			a := good(t, citizen)
			a.chain = chainPEM(citizen.cert)
			return a
		}, certlogin.ErrUntrusted, nil},
		{"fail/leaf-not-first", func(t *testing.T) attempt {
			a := good(t, citizen)
			a.chain = chainPEM(p.gm.issuing, citizen.cert)
			return a
		}, certlogin.ErrCertificate, nil},
		{"fail/expired-cert", func(t *testing.T) attempt { return good(t, expired) }, certlogin.ErrCertificate, nil},
		{"fail/not-yet-valid-cert", func(t *testing.T) attempt { return good(t, notYet) }, certlogin.ErrCertificate, nil},
		{"fail/cert-without-client-auth", func(t *testing.T) attempt { return good(t, serverOnly) }, certlogin.ErrCertificate, nil},
		{"fail/cert-without-eku", func(t *testing.T) attempt { return good(t, noEKU) }, certlogin.ErrCertificate, nil},
		{"fail/cert-with-any-eku-only", func(t *testing.T) attempt { return good(t, anyEKU) }, certlogin.ErrCertificate, nil},
		{"fail/cert-without-digital-signature", func(t *testing.T) attempt { return good(t, noDigSig) }, certlogin.ErrCertificate, nil},
		{"fail/malformed-uscc", func(t *testing.T) attempt { return good(t, badUSCC) }, certlogin.ErrIdentity, nil},
		{"fail/revoked-cert", func(t *testing.T) attempt { return good(t, revoked) }, ca.ErrRevoked, nil},
		{"fail/cert-on-hold", func(t *testing.T) attempt { return good(t, onHold) }, ca.ErrRevoked, nil},
		{"fail/revocation-unavailable", func(t *testing.T) attempt {
			a := good(t, citizen)
			a.opts.Revocation = &fakeRevocation{err: errors.New("OCSP responder and CRL unreachable")}
			return a
		}, certlogin.ErrRevocation, nil},
		{"fail/oversized-chain", func(t *testing.T) attempt {
			a := good(t, citizen)
			a.chain = append(bytes.Clone(a.chain), bytes.Repeat([]byte("\n"), certlogin.MaxChainSize)...)
			return a
		}, certlogin.ErrChain, nil},
		{"fail/too-many-certs", func(t *testing.T) attempt {
			a := good(t, citizen)
			certs := []*smx509.Certificate{citizen.cert}
			for range certlogin.MaxChainCerts {
				certs = append(certs, p.gm.issuing)
			}
			a.chain = chainPEM(certs...)
			return a
		}, certlogin.ErrChain, nil},
		{"fail/empty-chain", func(t *testing.T) attempt {
			a := good(t, citizen)
			a.chain = nil
			return a
		}, certlogin.ErrChain, nil},
		{"fail/garbage-before-pem", func(t *testing.T) attempt {
			a := good(t, citizen)
			a.chain = append([]byte("hello\n"), a.chain...)
			return a
		}, certlogin.ErrChain, nil},
		{"fail/trailing-garbage", func(t *testing.T) attempt {
			a := good(t, citizen)
			a.chain = append(bytes.Clone(a.chain), "trailing"...)
			return a
		}, certlogin.ErrChain, nil},
		{"fail/private-key-block", func(t *testing.T) attempt {
			a := good(t, citizen)
			a.chain = append(bytes.Clone(a.chain), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}})...)
			return a
		}, certlogin.ErrChain, nil},
		{"fail/bad-der", func(t *testing.T) attempt {
			a := good(t, citizen)
			a.chain = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0x03, 1, 2, 3}})
			return a
		}, certlogin.ErrChain, nil},
		{"fail/no-roots", func(t *testing.T) attempt {
			a := good(t, citizen)
			a.opts.Roots = nil
			return a
		}, certlogin.ErrConfig, nil},
		{"fail/no-revocation", func(t *testing.T) attempt {
			a := good(t, citizen)
			a.opts.Revocation = nil
			return a
		}, certlogin.ErrConfig, nil},
		{"fail/no-used-store", func(t *testing.T) attempt {
			a := good(t, citizen)
			a.opts.Used = nil
			return a
		}, certlogin.ErrConfig, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.make(t)
			id, err := certlogin.Verify(context.Background(), a.ch, a.chain, a.sig, a.opts)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || id != nil {
					t.Fatalf("Verify = %v, %v; want error %v", id, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if tc.check != nil {
				tc.check(t, id, a)
			}
		})
	}
}

// TestVerifyRevoked checks that a revoked certificate is refused with a
// message saying that it is revoked, since when and why, and that the
// checker was asked about the leaf, its issuer and the verification time.
func TestVerifyRevoked(t *testing.T) {
	p := newPKI(t)
	revokedAt := time.Date(2026, 2, 27, 22, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		status ca.Status
		reason ca.Reason
		want   []string
	}{
		{"fail/revoked-key-compromise", ca.StatusRevoked, ca.ReasonKeyCompromise, []string{"revoked", "2026-02-27T22:00:00Z", "keyCompromise"}},
		{"fail/revoked-superseded", ca.StatusRevoked, ca.ReasonSuperseded, []string{"revoked", "2026-02-27T22:00:00Z", "superseded"}},
		{"fail/on-hold", ca.StatusHold, ca.ReasonCertificateHold, []string{"hold", "2026-02-27T22:00:00Z", "certificateHold"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := p.citizen(t)
			sn := l.cert.SerialNumber.Text(16)
			rev := &fakeRevocation{revoked: map[string]*ca.RevokedError{
				sn: {Serial: sn, Status: tc.status, RevokedAt: revokedAt, Reason: tc.reason},
			}}
			ch := newChallenge(t)
			opts := p.opts(rev)
			_, err := certlogin.Verify(context.Background(), ch, l.chain, sign(t, ch, l.key), opts)
			var re *ca.RevokedError
			if !errors.Is(err, ca.ErrRevoked) || !errors.Is(err, certlogin.ErrRevocation) || !errors.As(err, &re) {
				t.Fatalf("err = %v, want a *ca.RevokedError wrapped in ErrRevocation", err)
			}
			t.Logf("refusal: %v", err)
			if re.Reason != tc.reason || !re.RevokedAt.Equal(revokedAt) {
				t.Fatalf("RevokedError %+v", re)
			}
			for _, w := range append(tc.want, sn) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q does not say %q", err, w)
				}
			}
			if len(rev.calls) != 1 || !rev.calls[0].cert.Equal(l.cert) || !rev.calls[0].issuer.Equal(p.gm.issuing) || !rev.calls[0].at.Equal(testNow) {
				t.Fatalf("revocation calls %+v, want one for the leaf and its issuer at %s", rev.calls, testNow)
			}
			// A refused login does not use up the challenge: once the
			// certificate is reinstated, the same challenge works.
			delete(rev.revoked, sn)
			if _, err := certlogin.Verify(context.Background(), ch, l.chain, sign(t, ch, l.key), opts); err != nil {
				t.Fatalf("after reinstatement: %v", err)
			}
		})
	}
}

func TestVerifyConcurrentReuse(t *testing.T) {
	p := newPKI(t)
	l := p.citizen(t)
	ch := newChallenge(t)
	sig := sign(t, ch, l.key)
	opts := p.opts(nil)
	const n = 8
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := certlogin.Verify(context.Background(), ch, l.chain, sig, opts)
			errs <- err
		}()
	}
	ok, reused := 0, 0
	for range n {
		switch err := <-errs; {
		case err == nil:
			ok++
		case errors.Is(err, certlogin.ErrChallengeReused):
			reused++
		default:
			t.Errorf("unexpected error %v", err)
		}
	}
	if ok != 1 || reused != n-1 {
		t.Fatalf("%d logins accepted and %d refused as reused; want 1 and %d", ok, reused, n-1)
	}
}
