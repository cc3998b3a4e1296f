package ca_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/elliptic"
	"encoding/base64"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/catest"
	"github.com/tongxing/tongxing/ca/ocsp"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

type ocspFixture struct {
	*catest.Fixture
	r *ca.OCSPResponder
}

func newOCSPFixture(t *testing.T, db *store.DB, opts ...catest.Option) *ocspFixture {
	t.Helper()
	f := catest.New(t, append([]catest.Option{catest.OnDB(db)}, opts...)...)
	var keys []*ca.ResponderKey
	for _, name := range []string{"gm-issuing", "intl-issuing"} {
		k, err := f.CA.EnsureResponder(context.Background(), f.KM, f.Dir, name)
		if err != nil {
			t.Fatalf("EnsureResponder(%s): %v", name, err)
		}
		keys = append(keys, k)
	}
	r, err := ca.NewOCSPResponder(f.CA, db, keys)
	if err != nil {
		t.Fatal(err)
	}
	return &ocspFixture{Fixture: f, r: r}
}

func (f *ocspFixture) request(t *testing.T, issuer string, iss *ca.Issued, h ocsp.Hash, nonce []byte) []byte {
	t.Helper()
	id, err := ocsp.NewCertID(h, f.Issuer(t, issuer).Cert, iss.Certificate.SerialNumber)
	if err != nil {
		t.Fatal(err)
	}
	var n *ocsp.Nonce
	if nonce != nil {
		n = &ocsp.Nonce{Value: nonce}
	}
	req, err := ocsp.CreateRequest([]ocsp.CertID{id}, n)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func (f *ocspFixture) ask(t *testing.T, issuer string, req []byte) (*ocsp.ParsedResponse, []byte) {
	t.Helper()
	der, err := f.r.Respond(context.Background(), req)
	if err != nil {
		t.Fatalf("Respond: %v", err)
	}
	p, err := ocsp.ParseResponse(der, f.Issuer(t, issuer).Cert)
	if err != nil {
		t.Fatalf("ParseResponse: %v", err)
	}
	return p, der
}

func TestOCSPResponder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newOCSPFixture(t, db)
		for _, suite := range []string{"gm", "intl"} {
			t.Run("ok/"+suite+"-good-cached-then-revoked", func(t *testing.T) {
				issuer := suite + "-issuing"
				var pub crypto.PublicKey = catest.ECKey(t, elliptic.P256()).Public()
				if suite == "gm" {
					pub = catest.SM2Key(t).Public()
				}
				iss := issueService(t, f.Fixture, pub)
				req := f.request(t, issuer, iss, ocsp.SHA1, nil)
				p, first := f.ask(t, issuer, req)
				s, ok := p.Find(iss.Certificate.SerialNumber)
				if !ok || s.Status != ocsp.Good {
					t.Fatalf("status %v (found %v), want good", s.Status, ok)
				}
				_, second := f.ask(t, issuer, req)
				if !bytes.Equal(first, second) {
					t.Error("second request was signed again instead of served from the pre-signed store")
				}
				if _, err := f.CA.SetStatus(ctx, ca.StatusChange{Serial: iss.Record.Serial, To: ca.StatusRevoked, Reason: ca.ReasonKeyCompromise, Actor: "officer:li"}); err != nil {
					t.Fatal(err)
				}
				p, third := f.ask(t, issuer, req)
				s, _ = p.Find(iss.Certificate.SerialNumber)
				if s.Status != ocsp.Revoked || s.Reason != int(ca.ReasonKeyCompromise) || s.RevokedAt.IsZero() {
					t.Errorf("after revocation: %+v, want revoked keyCompromise", s)
				}
				if bytes.Equal(second, third) {
					t.Error("status change did not replace the stored response")
				}
			})
		}
		t.Run("ok/nonce-echoed-and-sha256-certid", func(t *testing.T) {
			iss := issueService(t, f.Fixture, catest.SM2Key(t).Public())
			nonce := []byte("0123456789abcdef")
			p, _ := f.ask(t, "gm-issuing", f.request(t, "gm-issuing", iss, ocsp.SHA256, nonce))
			if p.Nonce == nil || !bytes.Equal(p.Nonce.Value, nonce) {
				t.Errorf("nonce %+v, want %q echoed", p.Nonce, nonce)
			}
			if s, ok := p.Find(iss.Certificate.SerialNumber); !ok || s.Status != ocsp.Good || s.HashAlgorithm != ocsp.SHA256 {
				t.Errorf("single %+v found=%v, want good with a SHA-256 CertID", s, ok)
			}
		})
		t.Run("ok/hold-is-revoked-certificateHold-release-is-good", func(t *testing.T) {
			iss := issueService(t, f.Fixture, catest.ECKey(t, elliptic.P256()).Public())
			req := f.request(t, "intl-issuing", iss, ocsp.SHA1, nil)
			f.CA.SetStatus(ctx, ca.StatusChange{Serial: iss.Record.Serial, To: ca.StatusHold, Actor: "officer:li"})
			p, _ := f.ask(t, "intl-issuing", req)
			if s, _ := p.Find(iss.Certificate.SerialNumber); s.Status != ocsp.Revoked || s.Reason != int(ca.ReasonCertificateHold) {
				t.Errorf("on hold: %+v", s)
			}
			f.CA.SetStatus(ctx, ca.StatusChange{Serial: iss.Record.Serial, To: ca.StatusValid, Actor: "officer:li"})
			p, _ = f.ask(t, "intl-issuing", req)
			if s, _ := p.Find(iss.Certificate.SerialNumber); s.Status != ocsp.Good {
				t.Errorf("released: %+v", s)
			}
		})
		t.Run("ok/unknown-serial", func(t *testing.T) {
			iss := issueService(t, f.Fixture, catest.ECKey(t, elliptic.P256()).Public())
			iss.Certificate.SerialNumber.Add(iss.Certificate.SerialNumber, iss.Certificate.SerialNumber)
			p, _ := f.ask(t, "intl-issuing", f.request(t, "intl-issuing", iss, ocsp.SHA1, nil))
			if s, _ := p.Find(iss.Certificate.SerialNumber); s.Status != ocsp.Unknown {
				t.Errorf("status %v, want unknown", s.Status)
			}
		})
		t.Run("fail/malformed-and-foreign", func(t *testing.T) {
			for name, req := range map[string][]byte{
				"garbage":   []byte("not DER"),
				"empty":     nil,
				"oversized": bytes.Repeat([]byte{0x30}, ocsp.MaxRequestSize+1),
			} {
				der, err := f.r.Respond(ctx, req)
				if err == nil {
					t.Errorf("%s: no error", name)
				}
				_, perr := ocsp.ParseResponse(der, f.Issuer(t, "gm-issuing").Cert)
				var re *ocsp.ResponseError
				if !errors.As(perr, &re) || re.Status != ocsp.MalformedRequest {
					t.Errorf("%s: response %v, want malformedRequest", name, perr)
				}
			}
			other := newOCSPFixture(t, storetest.SQLite(t))
			iss := issueService(t, other.Fixture, catest.ECKey(t, elliptic.P256()).Public())
			der, _ := f.r.Respond(ctx, other.request(t, "intl-issuing", iss, ocsp.SHA1, nil))
			_, perr := ocsp.ParseResponse(der, f.Issuer(t, "intl-issuing").Cert)
			var re *ocsp.ResponseError
			if !errors.As(perr, &re) || re.Status != ocsp.Unauthorized {
				t.Errorf("foreign CA: %v, want unauthorized", perr)
			}
		})
		t.Run("ok/http-get-and-post", func(t *testing.T) {
			iss := issueService(t, f.Fixture, catest.SM2Key(t).Public())
			req := f.request(t, "gm-issuing", iss, ocsp.SHA1, nil)
			for _, hr := range []*httptestReq{
				{"POST", "/ocsp", req},
				{"GET", "/ocsp/" + base64.StdEncoding.EncodeToString(req), nil},
				{"POST", "/ocsp", []byte("junk")},
			} {
				w := httptest.NewRecorder()
				f.r.ServeHTTP(w, httptest.NewRequest(hr.method, hr.path, bytes.NewReader(hr.body)))
				if w.Code != 200 || w.Header().Get("Content-Type") != "application/ocsp-response" {
					t.Errorf("%s %s: %d %s", hr.method, hr.path, w.Code, w.Header().Get("Content-Type"))
				}
				body, _ := io.ReadAll(w.Body)
				if _, err := ocsp.ParseResponse(body, f.Issuer(t, "gm-issuing").Cert); err != nil && string(hr.body) != "junk" {
					t.Errorf("%s: %v", hr.method, err)
				}
			}
		})
		t.Run("ok/refresh-resigns-stale", func(t *testing.T) {
			f.Clock.Set(f.Clock.Now().Add(13 * 3600e9))
			n, err := f.r.Refresh(ctx, 1000)
			if err != nil || n == 0 {
				t.Errorf("Refresh: %d, %v; want stale responses re-signed", n, err)
			}
		})
	})
}

type httptestReq struct {
	method, path string
	body         []byte
}

// TestOCSPMemoryAcrossReplicas: two replicas on one PostgreSQL database,
// each answering from memory; a revocation on one reaches the other's
// memory through a notification within ca.OCSPStaleness.
func TestOCSPMemoryAcrossReplicas(t *testing.T) {
	db := storetest.Postgres(t)
	a := newOCSPFixture(t, db)
	// Replica B: another Authority and responder on the same database and keys.
	storeB := ca.NewSQLStore(db)
	t.Cleanup(func() { storeB.Close() })
	authB, err := ca.New(a.CAs, storeB, storeB, ca.WithPseudonymKey(catest.PseudonymKey), ca.WithPublicURL(catest.PublicURL), ca.WithLogger(catest.Discard()))
	if err != nil {
		t.Fatal(err)
	}
	var keys []*ca.ResponderKey
	for _, name := range []string{"gm-issuing", "intl-issuing"} {
		k, err := a.CA.EnsureResponder(context.Background(), a.KM, a.Dir, name)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	rB, err := ca.NewOCSPResponder(authB, db, keys)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.r.Listen(ctx)
	go rB.Listen(ctx)

	code := a.Code(t, "service", ca.Subject{Department: "tax", Service: "api", DNSNames: []string{"api.tax.example"}})
	iss, err := a.CA.Enrol(ctx, ca.EnrolRequest{CSR: catest.PEMCSR(catest.CSR(t, catest.ECKey(t, elliptic.P256()))), Code: code})
	if err != nil {
		t.Fatal(err)
	}
	req := a.request(t, "intl-issuing", iss, ocsp.SHA1, nil)
	// Wait until A's listener is up and has heard itself: then it answers
	// from memory.
	deadline := time.Now().Add(20 * time.Second)
	for {
		p, _ := a.ask(t, "intl-issuing", req)
		if p.Responses[0].Status != ocsp.Good {
			t.Fatalf("fresh certificate: status %v", p.Responses[0].Status)
		}
		if a.r.AnswersFromMemory() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("replica A never answered from memory")
		}
		time.Sleep(20 * time.Millisecond)
	}
	a.ask(t, "intl-issuing", req) // remembered now

	reason := ca.ReasonKeyCompromise
	if _, err := authB.SetStatus(ctx, ca.StatusChange{Serial: iss.Record.Serial, To: ca.StatusRevoked, Reason: reason, Actor: "officer:test"}); err != nil {
		t.Fatal(err)
	}
	revokedAt := time.Now()
	for {
		p, _ := a.ask(t, "intl-issuing", req)
		if p.Responses[0].Status == ocsp.Revoked {
			t.Logf("replica A says revoked %s after replica B revoked", time.Since(revokedAt).Round(time.Millisecond))
			break
		}
		if time.Since(revokedAt) > ca.OCSPStaleness {
			t.Fatalf("replica A still says %v %s after the revocation on replica B (bound %s)", p.Responses[0].Status, time.Since(revokedAt), ca.OCSPStaleness)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// failingAuditor refuses every event while fail is set.
type failingAuditor struct{ fail atomic.Bool }

func (a *failingAuditor) Record(context.Context, ca.AuditEvent) error {
	if a.fail.Load() {
		return errors.New("audit log unavailable")
	}
	return nil
}

// TestOCSPRevokedWhenAuditFails: a revocation that is committed but cannot
// be audited still takes effect at once: SetStatus reports the audit
// failure, and OCSP answers "revoked", not the "good" it kept in memory.
func TestOCSPRevokedWhenAuditFails(t *testing.T) {
	ctx := context.Background()
	au := &failingAuditor{}
	of := newOCSPFixture(t, storetest.SQLite(t), catest.WithCA(ca.WithAuditor(au)))
	f := of.Fixture
	iss := issueService(t, f, catest.SM2Key(t).Public())
	req := of.request(t, "gm-issuing", iss, ocsp.SHA1, nil)
	if p, _ := of.ask(t, "gm-issuing", req); p.Responses[0].Status != ocsp.Good {
		t.Fatalf("before revocation: %v", p.Responses[0].Status)
	}
	au.fail.Store(true)
	_, err := f.CA.SetStatus(ctx, ca.StatusChange{Serial: iss.Record.Serial, To: ca.StatusRevoked, Reason: ca.ReasonKeyCompromise, Actor: "officer:li"})
	if err == nil || !strings.Contains(err.Error(), "not audited") {
		t.Fatalf("SetStatus with the audit log down: %v", err)
	}
	au.fail.Store(false)
	if p, _ := of.ask(t, "gm-issuing", req); p.Responses[0].Status != ocsp.Revoked {
		t.Errorf("OCSP after a committed but unaudited revocation: %v, want revoked", p.Responses[0].Status)
	}
}
