package timestamp_test

import (
	"encoding/asn1"
	"math/big"
	"testing"

	tjsm2 "github.com/tjfoc/gmsm/sm2"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/timestamp"
)

// TestGMTokenSignatureWithTjfoc verifies the SM2 signature inside gm tokens
// with github.com/tjfoc/gmsm/sm2, an implementation independent of the one
// that signed: the public key is rebuilt from the certificate's
// SubjectPublicKeyInfo bytes and the signature is checked over the DER of
// the signed attributes with the default signer ID 1234567812345678.
func TestGMTokenSignatureWithTjfoc(t *testing.T) {
	a := newAuthority(t)
	gm := pkis(t)[kms.GM]
	pub := tjfocPublicKey(t, gm.Leaf.RawSubjectPublicKeyInfo)
	tests := []struct {
		name   string
		opts   timestamp.TokenOptions
		tamper bool
		wantOK bool
	}{
		{"ok/no-cert", timestamp.TokenOptions{}, false, true},
		{"ok/cert-and-nonce", timestamp.TokenOptions{CertReq: true, Nonce: big.NewInt(99)}, false, true},
		{"fail/tampered-attributes", timestamp.TokenOptions{}, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := mustTimestamp(t, a, []byte("gm data"), timestamp.SM3, tc.opts)
			p, err := timestamp.ParseToken(tok.Raw)
			if err != nil {
				t.Fatal(err)
			}
			si := p.SignedData.SignerInfos[0]
			msg := append([]byte(nil), si.SignedAttributesDER()...)
			if tc.tamper {
				msg[len(msg)-1] ^= 1
			}
			var rs struct{ R, S *big.Int }
			if rest, err := asn1.Unmarshal(si.Signature, &rs); err != nil || len(rest) != 0 {
				t.Fatalf("signature is not an SM2 SEQUENCE{r,s}: %v", err)
			}
			if got := tjsm2.Sm2Verify(pub, msg, nil, rs.R, rs.S); got != tc.wantOK {
				t.Fatalf("tjfoc Sm2Verify = %v, want %v", got, tc.wantOK)
			}
			// The GM/T 0010 identifiers are the ones the token carries.
			if !p.SignedData.GM || !si.DigestAlgorithm.OID.Equal(asn1.ObjectIdentifier{1, 2, 156, 10197, 1, 401}) ||
				!si.SignatureAlgorithm.OID.Equal(asn1.ObjectIdentifier{1, 2, 156, 10197, 1, 301, 1}) {
				t.Fatalf("GM identifiers: gm=%v digest=%s sig=%s", p.SignedData.GM, si.DigestAlgorithm.OID, si.SignatureAlgorithm.OID)
			}
		})
	}
}

func tjfocPublicKey(t *testing.T, spki []byte) *tjsm2.PublicKey {
	t.Helper()
	s := cryptobyte.String(spki)
	var seq, alg cryptobyte.String
	var bits asn1.BitString
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1(&alg, cbasn1.SEQUENCE) || !seq.ReadASN1BitString(&bits) {
		t.Fatal("bad SubjectPublicKeyInfo")
	}
	pt := bits.Bytes
	if len(pt) != 65 || pt[0] != 0x04 {
		t.Fatalf("public key is not an uncompressed point (%d bytes)", len(pt))
	}
	pub := &tjsm2.PublicKey{Curve: tjsm2.P256Sm2(), X: new(big.Int).SetBytes(pt[1:33]), Y: new(big.Int).SetBytes(pt[33:])}
	if !pub.Curve.IsOnCurve(pub.X, pub.Y) {
		t.Fatal("point not on the SM2 curve")
	}
	return pub
}
