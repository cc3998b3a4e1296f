package ca_test

import (
	"bytes"
	"context"
	"encoding/asn1"
	"errors"
	"testing"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/tongxing/tongxing/ca/catest"
	"github.com/tongxing/tongxing/ca/ocsp"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// An OCSP nonce is echoed, signed, into the response. RFC 9654 (which
// obsoletes RFC 8954) bounds it to 128 octets and requires a responder to
// answer a longer one with malformedRequest; the responder signed a 3000-byte
// blob of the requester's choosing instead.
func TestOCSPOversizedNonce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newOCSPFixture(t, db)
		iss := issueService(t, f.Fixture, catest.SM2Key(t).Public())
		blob := bytes.Repeat([]byte("attacker-chosen data "), 150) // 3150 bytes
		req := f.request(t, "gm-issuing", iss, ocsp.SHA1, blob)
		der, _ := f.r.Respond(context.Background(), req)
		p, err := ocsp.ParseResponse(der, f.Issuer(t, "gm-issuing").Cert)
		var re *ocsp.ResponseError
		if !errors.As(err, &re) || re.Status != ocsp.MalformedRequest {
			echoed := p != nil && p.Nonce != nil && bytes.Equal(p.Nonce.Value, blob)
			t.Fatalf("%d-byte nonce: got err=%v, nonce echoed and signed: %v; want malformedRequest", len(blob), err, echoed)
		}
		// A nonce of the RFC sizes still works.
		p2, _ := f.ask(t, "gm-issuing", f.request(t, "gm-issuing", iss, ocsp.SHA1, bytes.Repeat([]byte{7}, 32)))
		if p2.Nonce == nil || len(p2.Nonce.Value) != 32 {
			t.Fatalf("32-byte nonce not echoed: %+v", p2.Nonce)
		}
	})
}

// certIDRequest is an unsigned OCSPRequest for one certificate whose CertID
// hashAlgorithm is SHA-1 with NULL parameters (withNull) or with none (the
// two encodings RFC 6960 clients send).
func certIDRequest(id ocsp.CertID, withNull bool) (req, certID []byte) {
	var c cryptobyte.Builder
	c.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26})
			if withNull {
				b.AddASN1NULL()
			}
		})
		b.AddASN1OctetString(id.IssuerNameHash)
		b.AddASN1OctetString(id.IssuerKeyHash)
		b.AddASN1BigInt(id.SerialNumber)
	})
	certID = c.BytesOrPanic()
	var r cryptobyte.Builder
	r.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // OCSPRequest
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // tbsRequest
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // requestList
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddBytes(certID) })
			})
		})
	})
	return r.BytesOrPanic(), certID
}

// The responder is meant to echo each request's CertID exactly (the
// hashAlgorithm parameters absent or NULL, as the client sent them; see
// ocsp.CertID), since clients that compare CertIDs as DER (BouncyCastle's
// CertificateID.equals, for one) find no answer otherwise. But the pre-signed
// response of a certificate is shared by every request with the same serial
// and hash: whoever asks first chooses the encoding every later client gets
// for the next half validity (12 h by default).
func TestOCSPCertIDEchoedExactly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newOCSPFixture(t, db)
		iss := issueService(t, f.Fixture, catest.SM2Key(t).Public())
		id, err := ocsp.NewCertID(ocsp.SHA1, f.Issuer(t, "gm-issuing").Cert, iss.Certificate.SerialNumber)
		if err != nil {
			t.Fatal(err)
		}
		for _, withNull := range []bool{false, true, false} { // the attacker first, then a client, then the attacker again
			req, certID := certIDRequest(id, withNull)
			der, err := f.r.Respond(context.Background(), req)
			if err != nil {
				t.Fatalf("Respond: %v", err)
			}
			if !bytes.Contains(der, certID) {
				t.Fatalf("request with NULL parameters=%v: the response does not carry the request's CertID %x", withNull, certID)
			}
		}
	})
}
