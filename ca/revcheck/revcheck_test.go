package revcheck_test

import (
	"context"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/ocsp"
	"github.com/tongxing/tongxing/ca/revcheck"
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/signature"
)

var _ signature.RevocationChecker = (*revcheck.Checker)(nil)

func checker(t testing.TB, opts ...revcheck.Option) *revcheck.Checker {
	t.Helper()
	k, err := revcheck.New(append([]revcheck.Option{revcheck.WithClock(func() time.Time { return now })}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// want describes an expected outcome.
type want struct {
	good     bool
	revoked  *ca.RevokedError // Status, Reason and RevokedAt compared
	source   string           // "OCSP" or "CRL" for revoked
	is       []error          // errors.Is targets
	contains []string         // substrings of the message
	ocspHits int              // requests to the OCSP responder (TestCheckRevocation)
	crlHits  int              // CRL downloads (TestCheckRevocation)
}

func TestCheckRevocation(t *testing.T) {
	for _, suite := range []kms.Suite{kms.GM, kms.Intl} {
		t.Run(string(suite), func(t *testing.T) {
			a := newAuthority(t, suite, "Test "+string(suite))
			other := newAuthority(t, suite, "Other "+string(suite))
			s := newSite(t, false)
			leaf := a.leaf(t, s.srv.URL+"/ocsp", s.srv.URL+"/crl")
			revokedAt := now.Add(-2 * time.Hour)
			good := a.ocspResponse(t, leaf.SerialNumber, ocsp.SingleResponse{Status: ocsp.Good, NextUpdate: now.Add(23 * time.Hour)})
			revoked := func(reason int) []byte {
				return a.ocspResponse(t, leaf.SerialNumber, ocsp.SingleResponse{Status: ocsp.Revoked, RevokedAt: revokedAt, Reason: reason, NextUpdate: now.Add(23 * time.Hour)})
			}
			emptyCRL := a.crl(t, smx509.RevocationList{})
			revokedCRL := a.crl(t, smx509.RevocationList{RevokedCertificateEntries: []smx509.RevocationListEntry{
				{SerialNumber: big.NewInt(5), RevocationTime: now.Add(-48 * time.Hour)},
				{SerialNumber: leaf.SerialNumber, RevocationTime: revokedAt, ReasonCode: int(ca.ReasonKeyCompromise)},
			}})
			deltaExt, _ := asn1.Marshal(big.NewInt(6))
			keyCompromise := &ca.RevokedError{Status: ca.StatusRevoked, Reason: ca.ReasonKeyCompromise, RevokedAt: revokedAt}

			tests := []struct {
				name      string
				ocsp, crl []byte
				ocspType  string
				at        time.Time
				cert      *smx509.Certificate
				issuer    *smx509.Certificate
				want      want
			}{
				{name: "ok/ocsp-good", ocsp: good, crl: revokedCRL, at: now,
					want: want{good: true, ocspHits: 1, crlHits: 0}},
				{name: "ok/ocsp-signed-by-issuer-itself", at: now, crl: nil,
					ocsp: a.ocspResponseBy(t, a.issuing, a.issuing, a.issuingKey, leaf.SerialNumber, ocsp.SingleResponse{Status: ocsp.Good, NextUpdate: now.Add(time.Hour)}),
					want: want{good: true, ocspHits: 1, crlHits: 0}},
				{name: "ok/ocsp-revoked-after-the-time-asked", ocsp: revoked(int(ca.ReasonKeyCompromise)), at: revokedAt.Add(-time.Second),
					want: want{good: true, ocspHits: 1, crlHits: 0}},
				{name: "fail/ocsp-revoked-before-the-time-asked", ocsp: revoked(int(ca.ReasonKeyCompromise)), crl: emptyCRL, at: now,
					want: want{revoked: keyCompromise, source: "OCSP", contains: []string{"keyCompromise"}, ocspHits: 1, crlHits: 0}},
				{name: "fail/ocsp-revoked-at-exactly-the-time-asked", ocsp: revoked(int(ca.ReasonKeyCompromise)), at: revokedAt,
					want: want{revoked: keyCompromise, source: "OCSP", ocspHits: 1, crlHits: 0}},
				{name: "fail/ocsp-revoked-without-reason", ocsp: revoked(ocsp.NoReason), at: now,
					want: want{revoked: &ca.RevokedError{Status: ca.StatusRevoked, Reason: ca.ReasonUnspecified, RevokedAt: revokedAt}, source: "OCSP", ocspHits: 1, crlHits: 0}},
				{name: "fail/ocsp-on-hold", ocsp: revoked(int(ca.ReasonCertificateHold)), at: now,
					want: want{revoked: &ca.RevokedError{Status: ca.StatusHold, Reason: ca.ReasonCertificateHold, RevokedAt: revokedAt}, source: "OCSP", ocspHits: 1, crlHits: 0}},
				{name: "fail/ocsp-unknown-is-final", crl: emptyCRL, at: now,
					ocsp: a.ocspResponse(t, leaf.SerialNumber, ocsp.SingleResponse{Status: ocsp.Unknown, NextUpdate: now.Add(time.Hour)}),
					want: want{is: []error{revcheck.ErrUnknown}, contains: []string{"unknown"}, ocspHits: 1, crlHits: 0}},
				{name: "ok/ocsp-down-crl-used", ocsp: nil, crl: emptyCRL, at: now,
					want: want{good: true, ocspHits: 1, crlHits: 1}},
				{name: "fail/ocsp-down-crl-revoked", ocsp: nil, crl: revokedCRL, at: now,
					want: want{revoked: keyCompromise, source: "CRL", ocspHits: 1, crlHits: 1}},
				{name: "ok/ocsp-down-crl-revoked-after-the-time-asked", ocsp: nil, crl: revokedCRL, at: revokedAt.Add(-time.Minute),
					want: want{good: true, ocspHits: 1, crlHits: 1}},
				{name: "fail/ocsp-tampered-good-falls-back-to-crl-revoked", ocsp: flip(good), crl: revokedCRL, at: now,
					want: want{revoked: keyCompromise, source: "CRL", ocspHits: 1, crlHits: 1}},
				{name: "fail/ocsp-tampered-crl-down", ocsp: flip(good), crl: nil, at: now,
					want: want{is: []error{revcheck.ErrUnavailable, ocsp.ErrVerification}, contains: []string{"OCSP:", "CRL:", "503"}, ocspHits: 1, crlHits: 1}},
				{name: "fail/ocsp-signed-by-other-ca-crl-tampered", at: now, crl: flip(emptyCRL),
					ocsp: other.ocspResponseBy(t, a.issuing, other.responder, other.responderKey, leaf.SerialNumber, ocsp.SingleResponse{Status: ocsp.Good, NextUpdate: now.Add(time.Hour)}),
					want: want{is: []error{revcheck.ErrUnavailable, ocsp.ErrVerification}, contains: []string{"CRL signature"}, ocspHits: 1, crlHits: 1}},
				{name: "fail/ocsp-stale-crl-stale", at: now,
					ocsp: a.ocspResponse(t, leaf.SerialNumber, ocsp.SingleResponse{Status: ocsp.Good, ThisUpdate: now.Add(-50 * time.Hour), NextUpdate: now.Add(-26 * time.Hour)}),
					crl:  a.crl(t, smx509.RevocationList{ThisUpdate: now.Add(-50 * time.Hour), NextUpdate: now.Add(-26 * time.Hour)}),
					want: want{is: []error{revcheck.ErrUnavailable}, contains: []string{"stale response", "stale CRL"}, ocspHits: 1, crlHits: 1}},
				{name: "ok/ocsp-stale-within-clock-skew", at: now,
					ocsp: a.ocspResponse(t, leaf.SerialNumber, ocsp.SingleResponse{Status: ocsp.Good, ThisUpdate: now.Add(-24 * time.Hour), NextUpdate: now.Add(-time.Minute)}),
					want: want{good: true, ocspHits: 1, crlHits: 0}},
				{name: "fail/ocsp-from-the-future-crl-from-the-future", at: now,
					ocsp: a.ocspResponse(t, leaf.SerialNumber, ocsp.SingleResponse{Status: ocsp.Good, ThisUpdate: now.Add(time.Hour), NextUpdate: now.Add(25 * time.Hour)}),
					crl:  a.crl(t, smx509.RevocationList{ThisUpdate: now.Add(time.Hour), NextUpdate: now.Add(25 * time.Hour)}),
					want: want{is: []error{revcheck.ErrUnavailable}, contains: []string{"in the future"}, ocspHits: 1, crlHits: 1}},
				{name: "ok/ocsp-without-next-update-recent", at: now,
					ocsp: a.ocspResponse(t, leaf.SerialNumber, ocsp.SingleResponse{Status: ocsp.Good, ThisUpdate: now.Add(-time.Hour)}),
					want: want{good: true, ocspHits: 1, crlHits: 0}},
				{name: "fail/ocsp-without-next-update-old", at: now,
					ocsp: a.ocspResponse(t, leaf.SerialNumber, ocsp.SingleResponse{Status: ocsp.Good, ThisUpdate: now.Add(-8 * 24 * time.Hour)}),
					want: want{is: []error{revcheck.ErrUnavailable}, contains: []string{"older than"}, ocspHits: 1, crlHits: 1}},
				{name: "fail/ocsp-about-another-serial", at: now,
					ocsp: a.ocspResponse(t, big.NewInt(99), ocsp.SingleResponse{Status: ocsp.Good, NextUpdate: now.Add(time.Hour)}),
					want: want{is: []error{revcheck.ErrUnavailable}, contains: []string{"says nothing"}, ocspHits: 1, crlHits: 1}},
				{name: "fail/ocsp-error-status-trylater", at: now, ocsp: mustErrorResponse(t, ocsp.TryLater),
					want: want{is: []error{revcheck.ErrUnavailable}, contains: []string{"tryLater"}, ocspHits: 1, crlHits: 1}},
				{name: "fail/ocsp-too-large", at: now, ocsp: make([]byte, ocsp.MaxResponseSize+10),
					want: want{is: []error{revcheck.ErrUnavailable}, contains: []string{"exceeds"}, ocspHits: 1, crlHits: 1}},
				{name: "fail/ocsp-wrong-content-type", at: now, ocsp: good, ocspType: "text/html",
					want: want{is: []error{revcheck.ErrUnavailable}, contains: []string{"text/html"}, ocspHits: 1, crlHits: 1}},
				{name: "fail/crl-by-another-ca", at: now, crl: crlBy(t, other.issuing, other.issuingKey, smx509.RevocationList{}),
					want: want{is: []error{revcheck.ErrUnavailable}, contains: []string{"CRL issuer"}, ocspHits: 1, crlHits: 1}},
				{name: "fail/crl-garbage", at: now, crl: []byte("<html>not a CRL</html>"),
					want: want{is: []error{revcheck.ErrUnavailable}, contains: []string{"not a DER CRL"}, ocspHits: 1, crlHits: 1}},
				{name: "fail/delta-crl", at: now,
					crl:  a.crl(t, smx509.RevocationList{ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 27}, Critical: true, Value: deltaExt}}}),
					want: want{is: []error{revcheck.ErrUnavailable}, contains: []string{"delta CRL"}, ocspHits: 1, crlHits: 1}},
				{name: "fail/no-revocation-urls", at: now, cert: a.leaf(t, "", "ldap://example/crl"),
					want: want{is: []error{revcheck.ErrUnavailable}, contains: []string{"no http(s) OCSP", "no http(s) CRL"}, ocspHits: 0, crlHits: 0}},
				{name: "fail/issuer-does-not-match", at: now, ocsp: good, issuer: other.issuing,
					want: want{is: []error{revcheck.ErrInvalidInput}, ocspHits: 0, crlHits: 0}},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					s.ocspBody, s.crlBody, s.ocspType = tc.ocsp, tc.crl, tc.ocspType
					s.ocspHits, s.crlHits = 0, 0
					cert, issuer := leaf, a.issuing
					if tc.cert != nil {
						cert = tc.cert
					}
					if tc.issuer != nil {
						issuer = tc.issuer
					}
					err := checker(t).CheckRevocation(context.Background(), cert, issuer, tc.at)
					check(t, err, tc.want)
					if s.ocspHits != tc.want.ocspHits {
						t.Errorf("OCSP asked %d times, want %d", s.ocspHits, tc.want.ocspHits)
					}
					if s.crlHits != tc.want.crlHits {
						t.Errorf("CRL fetched %d times, want %d", s.crlHits, tc.want.crlHits)
					}
					if s.ocspHits > 0 && s.lastOCSPContentTyp != "application/ocsp-request" {
						t.Errorf("OCSP request Content-Type %q", s.lastOCSPContentTyp)
					}
				})
			}
		})
	}
}

func mustErrorResponse(t testing.TB, st ocsp.ResponseStatus) []byte {
	t.Helper()
	b, err := ocsp.ErrorResponse(st)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func check(t *testing.T, err error, w want) {
	t.Helper()
	switch {
	case w.good:
		if err != nil {
			t.Fatalf("got %v, want nil (good)", err)
		}
		return
	case err == nil:
		t.Fatalf("got nil, want an error")
	}
	if w.revoked != nil {
		var re *ca.RevokedError
		if !errors.As(err, &re) || !errors.Is(err, ca.ErrRevoked) {
			t.Fatalf("got %v, want a *ca.RevokedError", err)
		}
		if re.Status != w.revoked.Status || re.Reason != w.revoked.Reason || !re.RevokedAt.Equal(w.revoked.RevokedAt) {
			t.Errorf("got %s %s at %s, want %s %s at %s", re.Status, re.Reason, re.RevokedAt, w.revoked.Status, w.revoked.Reason, w.revoked.RevokedAt)
		}
		if !strings.Contains(err.Error(), "according to "+w.source) {
			t.Errorf("%q does not name the source %s", err, w.source)
		}
	} else if errors.Is(err, ca.ErrRevoked) {
		t.Errorf("got revoked (%v), want another error", err)
	}
	for _, target := range w.is {
		if !errors.Is(err, target) {
			t.Errorf("%v is not %v", err, target)
		}
	}
	for _, sub := range w.contains {
		if !strings.Contains(err.Error(), sub) {
			t.Errorf("%q lacks %q", err, sub)
		}
	}
}

// TestTLS checks that the HTTP client option carries the CA's TLS trust.
func TestTLS(t *testing.T) {
	a := newAuthority(t, kms.GM, "TLS gm")
	s := newSite(t, true)
	leaf := a.leaf(t, s.srv.URL+"/ocsp", s.srv.URL+"/crl")
	s.ocspBody = a.ocspResponse(t, leaf.SerialNumber, ocsp.SingleResponse{Status: ocsp.Good, NextUpdate: now.Add(time.Hour)})
	s.crlBody = a.crl(t, smx509.RevocationList{})
	tests := []struct {
		name string
		opts []revcheck.Option
		want want
	}{
		{"ok/trusted-tls", []revcheck.Option{revcheck.WithHTTPClient(s.srv.Client())}, want{good: true}},
		{"fail/untrusted-tls", nil, want{is: []error{revcheck.ErrUnavailable}, contains: []string{"certificate", "OCSP:", "CRL:"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			check(t, checker(t, tc.opts...).CheckRevocation(context.Background(), leaf, a.issuing, now), tc.want)
		})
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		opts []revcheck.Option
		ok   bool
	}{
		{"ok/defaults", nil, true},
		{"ok/all-options", []revcheck.Option{revcheck.WithTimeout(time.Second), revcheck.WithClockSkew(0), revcheck.WithMaxAge(time.Hour), revcheck.WithMaxCRLSize(1 << 10)}, true},
		{"fail/nil-client", []revcheck.Option{revcheck.WithHTTPClient(nil)}, false},
		{"fail/nil-clock", []revcheck.Option{revcheck.WithClock(nil)}, false},
		{"fail/zero-timeout", []revcheck.Option{revcheck.WithTimeout(0)}, false},
		{"fail/negative-skew", []revcheck.Option{revcheck.WithClockSkew(-time.Second)}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := revcheck.New(tc.opts...)
			if (err == nil) != tc.ok || (k != nil) != tc.ok {
				t.Fatalf("New: %v, %v; want ok=%v", k, err, tc.ok)
			}
			if !tc.ok && !errors.Is(err, revcheck.ErrInvalidInput) {
				t.Errorf("%v is not ErrInvalidInput", err)
			}
		})
	}
}

// TestCRLSizeLimit checks that a CRL above the limit is refused unread.
func TestCRLSizeLimit(t *testing.T) {
	a := newAuthority(t, kms.Intl, "Size intl")
	s := newSite(t, false)
	leaf := a.leaf(t, "", s.srv.URL+"/crl")
	s.crlBody = a.crl(t, smx509.RevocationList{})
	tests := []struct {
		name  string
		limit int64
		want  want
	}{
		{"ok/within-limit", int64(len(s.crlBody)), want{good: true}},
		{"fail/above-limit", int64(len(s.crlBody) - 1), want{is: []error{revcheck.ErrUnavailable}, contains: []string{"exceeds"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			check(t, checker(t, revcheck.WithMaxCRLSize(tc.limit)).CheckRevocation(context.Background(), leaf, a.issuing, now), tc.want)
		})
	}
}
