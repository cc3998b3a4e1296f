package ocsp

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"
	xocsp "golang.org/x/crypto/ocsp"
)

// stdCert converts an ECDSA certificate for golang.org/x/crypto/ocsp.
func stdCert(t testing.TB, c *smx509.Certificate) *x509.Certificate {
	t.Helper()
	sc, err := x509.ParseCertificate(c.Raw)
	if err != nil {
		t.Fatalf("crypto/x509 cannot parse %q: %v", c.Subject, err)
	}
	return sc
}

// TestXCryptoRequest: our parser accepts golang.org/x/crypto/ocsp requests.
func TestXCryptoRequest(t *testing.T) {
	p := newTestPKI(t, suites[1])
	leaf, issuer := stdCert(t, p.leaf), stdCert(t, p.issuer)
	tests := []struct {
		name string
		hash crypto.Hash
		want Hash
	}{
		{"ok/sha1", crypto.SHA1, SHA1},
		{"ok/sha256", crypto.SHA256, SHA256},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			der, err := xocsp.CreateRequest(leaf, issuer, &xocsp.RequestOptions{Hash: tc.hash})
			if err != nil {
				t.Fatal(err)
			}
			req, err := ParseRequest(der)
			if err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
			if len(req.CertIDs) != 1 || req.Nonce != nil || req.Signed || req.RequestorName != nil {
				t.Fatalf("request = %+v, want one CertID and nothing else", req)
			}
			id := req.CertIDs[0]
			if id.HashAlgorithm != tc.want || !id.Matches(p.issuer) || id.SerialNumber.Cmp(p.leaf.SerialNumber) != 0 {
				t.Fatalf("CertID %v serial %x, want %v for the leaf of issuer", id.HashAlgorithm, id.SerialNumber, tc.want)
			}
			// x/crypto's own parser agrees with our encoding of the same CertID.
			ours, err := CreateRequest(req.CertIDs, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ours, der) {
				t.Fatalf("CreateRequest re-encoding = %x, want x/crypto's %x", ours, der)
			}
		})
	}
}

// TestXCryptoParsesResponse: golang.org/x/crypto/ocsp.ParseResponseForCert
// accepts our ECDSA responses.
func TestXCryptoParsesResponse(t *testing.T) {
	p := newTestPKI(t, suites[1])
	leaf, issuer := stdCert(t, p.leaf), stdCert(t, p.issuer)
	tests := []struct {
		name      string
		status    Status
		hash      Hash
		byIssuer  bool
		wantXStat int
	}{
		{"ok/good", Good, SHA1, false, xocsp.Good},
		{"ok/revoked-key-compromise", Revoked, SHA1, false, xocsp.Revoked},
		{"ok/unknown", Unknown, SHA1, false, xocsp.Unknown},
		{"ok/good-sha256-certid", Good, SHA256, false, xocsp.Good},
		{"ok/revoked-signed-by-issuer", Revoked, SHA1, true, xocsp.Revoked},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			single := p.single(t, tc.hash, tc.status)
			resp, key := p.responder, p.responderKey
			if tc.byIssuer {
				resp, key = p.issuer, p.issuerKey
			}
			der, err := CreateResponse(resp, key, ResponseData{ProducedAt: p.now, Responses: []SingleResponse{single}, Nonce: &Nonce{Value: []byte("nonce-0123456789")}})
			if err != nil {
				t.Fatal(err)
			}
			xr, err := xocsp.ParseResponseForCert(der, leaf, issuer)
			if err != nil {
				t.Fatalf("x/crypto ParseResponseForCert: %v", err)
			}
			if xr.Status != tc.wantXStat || xr.SerialNumber.Cmp(p.leaf.SerialNumber) != 0 {
				t.Fatalf("x/crypto status %d serial %x, want %d %x", xr.Status, xr.SerialNumber, tc.wantXStat, p.leaf.SerialNumber)
			}
			if !xr.ProducedAt.Equal(p.now) || !xr.ThisUpdate.Equal(single.ThisUpdate) || !xr.NextUpdate.Equal(single.NextUpdate) {
				t.Errorf("x/crypto times %v %v %v", xr.ProducedAt, xr.ThisUpdate, xr.NextUpdate)
			}
			if tc.status == Revoked && (xr.RevocationReason != xocsp.KeyCompromise || !xr.RevokedAt.Equal(single.RevokedAt)) {
				t.Errorf("x/crypto revocation reason %d at %v, want keyCompromise at %v", xr.RevocationReason, xr.RevokedAt, single.RevokedAt)
			}
			if xr.Certificate == nil || !bytes.Equal(xr.Certificate.Raw, resp.Raw) {
				t.Errorf("x/crypto responder certificate is not ours")
			}
			kh, _ := keyHash(resp)
			if !bytes.Equal(xr.ResponderKeyHash, kh) {
				t.Errorf("x/crypto ResponderKeyHash %x, want %x", xr.ResponderKeyHash, kh)
			}
			if xr.SignatureAlgorithm != x509.ECDSAWithSHA256 {
				t.Errorf("x/crypto SignatureAlgorithm = %v", xr.SignatureAlgorithm)
			}
		})
	}
	t.Run("ok/error-response", func(t *testing.T) {
		der, err := ErrorResponse(TryLater)
		if err != nil {
			t.Fatal(err)
		}
		_, err = xocsp.ParseResponse(der, issuer)
		var re xocsp.ResponseError
		if !errors.As(err, &re) || re.Status != xocsp.TryLater {
			t.Fatalf("x/crypto ParseResponse error = %v, want tryLater", err)
		}
	})
}

// TestParseXCryptoResponse: our verifier accepts x/crypto's ECDSA responses,
// which name the responder byName.
func TestParseXCryptoResponse(t *testing.T) {
	p := newTestPKI(t, suites[1])
	issuer, responder := stdCert(t, p.issuer), stdCert(t, p.responder)
	now := time.Now().UTC().Truncate(time.Second)
	tests := []struct {
		name   string
		status int
		want   Status
	}{
		{"ok/good", xocsp.Good, Good},
		{"ok/revoked", xocsp.Revoked, Revoked},
		{"ok/unknown", xocsp.Unknown, Unknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			der, err := xocsp.CreateResponse(issuer, responder, xocsp.Response{
				Status: tc.status, SerialNumber: p.leaf.SerialNumber, Certificate: responder,
				ThisUpdate: now, NextUpdate: now.Add(time.Hour), RevokedAt: now.Add(-time.Hour),
				RevocationReason: xocsp.Superseded,
			}, p.responderKey)
			if err != nil {
				t.Fatal(err)
			}
			r, err := ParseResponse(der, p.issuer)
			if err != nil {
				t.Fatalf("ParseResponse: %v", err)
			}
			got, ok := r.Find(p.leaf.SerialNumber)
			if !ok || got.Status != tc.want || !r.Responder.Equal(p.responder) {
				t.Fatalf("Find = %+v, %v; responder %q", got, ok, r.Responder.Subject)
			}
			if tc.want == Revoked && got.Reason != xocsp.Superseded {
				t.Errorf("Reason = %d, want superseded", got.Reason)
			}
		})
	}
}
