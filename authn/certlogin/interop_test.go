package certlogin_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/asn1"
	"math/big"
	"testing"

	"github.com/emmansun/gmsm/sm2"
	tjsm2 "github.com/tjfoc/gmsm/sm2"

	"github.com/tongxing/tongxing/authn/certlogin"
	"github.com/tongxing/tongxing/kms"
)

// TestVerifyTjfocSignature checks that an SM2 signature made over the
// challenge bytes by github.com/tjfoc/gmsm/sm2 (an implementation
// independent of the verifier's, standing in for a third party's card
// middleware) verifies, and that tjfoc verifies what Sign makes.
func TestVerifyTjfocSignature(t *testing.T) {
	p := newPKI(t)
	tjKey, err := tjsm2.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub := &ecdsa.PublicKey{Curve: sm2.P256(), X: tjKey.PublicKey.X, Y: tjKey.PublicKey.Y}
	l := p.gm.leaf(t, nil, pub, nil)

	// withUID signs with tjfoc's Sm2Sign and signer ID uid.
	withUID := func(uid []byte) func(t *testing.T, msg []byte) []byte {
		return func(t *testing.T, msg []byte) []byte {
			r, s, err := tjsm2.Sm2Sign(tjKey, msg, uid, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := asn1.Marshal(struct{ R, S *big.Int }{r, s})
			if err != nil {
				t.Fatal(err)
			}
			return sig
		}
	}
	tests := []struct {
		name    string
		sign    func(t *testing.T, msg []byte) []byte
		wantErr error
	}{
		{"ok/tjfoc-sign-default-uid", func(t *testing.T, msg []byte) []byte {
			sig, err := tjKey.Sign(rand.Reader, msg, nil)
			if err != nil {
				t.Fatal(err)
			}
			return sig
		}, nil},
		{"ok/tjfoc-sm2sign-explicit-uid", withUID([]byte("1234567812345678")), nil},
		{"fail/tjfoc-other-uid", withUID([]byte("tongxing")), certlogin.ErrSignature},
		{"fail/tjfoc-signed-other-bytes", func(t *testing.T, msg []byte) []byte {
			sig, err := tjKey.Sign(rand.Reader, append(msg, '\n'), nil)
			if err != nil {
				t.Fatal(err)
			}
			return sig
		}, certlogin.ErrSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch := newChallenge(t)
			id, err := certlogin.Verify(context.Background(), ch, l.chain, tc.sign(t, ch.ToBeSigned()), p.opts(nil))
			if wantError(t, err, tc.wantErr) {
				return
			}
			if id.Suite != kms.GM || id.Serial != l.cert.SerialNumber.Text(16) {
				t.Fatalf("identity %+v", id)
			}
		})
	}

	// The other direction: tjfoc verifies a signature made by Sign.
	k := sm2Key(t)
	ch := newChallenge(t)
	sig := sign(t, ch, k)
	kp := k.Public().(*ecdsa.PublicKey)
	tjPub := &tjsm2.PublicKey{Curve: tjsm2.P256Sm2(), X: kp.X, Y: kp.Y}
	if !tjPub.Verify(ch.ToBeSigned(), sig) {
		t.Fatal("tjfoc does not verify Sign's SM2 signature over the challenge bytes")
	}
	if tjPub.Verify(append(ch.ToBeSigned(), '\n'), sig) {
		t.Fatal("tjfoc verifies Sign's signature over other bytes")
	}
}
