package revcheck_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/big"
	"net/http"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/ocsp"
	"github.com/tongxing/tongxing/ca/revcheck"
	"github.com/tongxing/tongxing/kms"
)

// roundTrip answers OCSP and CRL requests from memory.
type roundTrip struct{ ocsp, crl []byte }

func (rt roundTrip) RoundTrip(r *http.Request) (*http.Response, error) {
	body, ct := rt.crl, "application/pkix-crl"
	if r.URL.Path == "/ocsp" {
		body, ct = rt.ocsp, "application/ocsp-response"
	}
	return &http.Response{
		StatusCode: http.StatusOK, Status: "200 OK", Request: r,
		Header: http.Header{"Content-Type": {ct}},
		Body:   io.NopCloser(bytes.NewReader(body)),
	}, nil
}

// FuzzCheckRevocation feeds arbitrary OCSP and CRL answers about a
// certificate that was never revoked. Invariants: no panic; never revoked
// or unknown (that would need a forged signature); good only when one of
// the answers verifies against the issuer; every other outcome is
// ErrUnavailable.
func FuzzCheckRevocation(f *testing.F) {
	a := newAuthority(f, kms.GM, "Fuzz gm")
	leaf := a.leaf(f, "http://ca.test/ocsp", "http://ca.test/crl")
	good := a.ocspResponse(f, leaf.SerialNumber, ocsp.SingleResponse{Status: ocsp.Good, NextUpdate: now.Add(time.Hour)})
	otherSerial := a.ocspResponse(f, big.NewInt(3), ocsp.SingleResponse{Status: ocsp.Revoked, RevokedAt: now.Add(-time.Hour), NextUpdate: now.Add(time.Hour)})
	crl := a.crl(f, smx509.RevocationList{RevokedCertificateEntries: []smx509.RevocationListEntry{{SerialNumber: big.NewInt(3), RevocationTime: now.Add(-time.Hour), ReasonCode: 1}}})
	f.Add(good, crl)
	f.Add(flip(good), crl)
	f.Add(otherSerial, flip(crl))
	f.Add([]byte{}, []byte{})
	f.Add(mustErrorResponse(f, ocsp.TryLater), crl[:len(crl)/2])
	f.Fuzz(func(t *testing.T, ocspBody, crlBody []byte) {
		k := checker(t, revcheck.WithHTTPClient(&http.Client{Transport: roundTrip{ocspBody, crlBody}}))
		err := k.CheckRevocation(context.Background(), leaf, a.issuing, now)
		switch {
		case err == nil:
			okOCSP := false
			if r, perr := ocsp.ParseResponse(ocspBody, a.issuing); perr == nil {
				s, found := r.Find(leaf.SerialNumber)
				okOCSP = found && s.Status == ocsp.Good
			}
			okCRL := false
			if l, perr := smx509.ParseRevocationList(crlBody); perr == nil {
				okCRL = l.CheckSignatureFrom(a.issuing) == nil
			}
			if !okOCSP && !okCRL {
				t.Fatalf("good without a verified answer")
			}
		case errors.Is(err, ca.ErrRevoked), errors.Is(err, revcheck.ErrUnknown):
			t.Fatalf("a never-revoked certificate reported as %v", err)
		case !errors.Is(err, revcheck.ErrUnavailable):
			t.Fatalf("error %v is not ErrUnavailable", err)
		}
	})
}
