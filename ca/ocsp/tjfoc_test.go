package ocsp

import (
	"bytes"
	"crypto/ecdsa"
	"testing"

	tjsm2 "github.com/tjfoc/gmsm/sm2"
)

// TestSM2SignatureTjfoc verifies our SM2 response signatures with a second
// implementation, github.com/tjfoc/gmsm/sm2, with its default signer ID
// (1234567812345678) over the DER of tbsResponseData.
func TestSM2SignatureTjfoc(t *testing.T) {
	p := newTestPKI(t, suites[0])
	for _, st := range []Status{Good, Revoked, Unknown} {
		r, err := ParseResponse(p.response(t, st, &Nonce{Value: []byte("0123456789abcdef")}), p.issuer)
		if err != nil {
			t.Fatal(err)
		}
		ec, ok := r.Responder.PublicKey.(*ecdsa.PublicKey)
		if !ok {
			t.Fatalf("responder key is %T", r.Responder.PublicKey)
		}
		pub := &tjsm2.PublicKey{Curve: tjsm2.P256Sm2(), X: ec.X, Y: ec.Y}
		tampered := bytes.Clone(r.TBSResponseData)
		tampered[len(tampered)-3] ^= 1 // inside the nonce
		tests := []struct {
			name string
			tbs  []byte
			want bool
		}{
			{"ok/" + st.String(), r.TBSResponseData, true},
			{"fail/" + st.String() + "-tampered-tbs", tampered, false},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				if got := pub.Verify(tc.tbs, r.Signature); got != tc.want {
					t.Fatalf("tjfoc sm2 Verify = %v, want %v", got, tc.want)
				}
			})
		}
	}
}
