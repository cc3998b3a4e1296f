package certlogin_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/emmansun/gmsm/sm2"

	"github.com/tongxing/tongxing/authn/certlogin"
)

// otherUIDSigner is an SM2 signer that ignores the signer ID it is asked
// for, as a faulty card middleware might.
type otherUIDSigner struct{ *sm2.PrivateKey }

func (s otherUIDSigner) Sign(r io.Reader, msg []byte, _ crypto.SignerOpts) ([]byte, error) {
	return s.PrivateKey.Sign(r, msg, sm2.NewSM2SignerOption(true, []byte("0000000000000000")))
}

// failingSigner is a signer whose card is not inserted.
type failingSigner struct{ crypto.Signer }

func (failingSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("card not present")
}

func TestSign(t *testing.T) {
	smKey := sm2Key(t)
	p256 := ecKey(t)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		key     crypto.Signer
		ch      func(*certlogin.Challenge) *certlogin.Challenge
		verify  func(msg, sig []byte) bool
		wantErr error
	}{
		{"ok/sm2", smKey, nil, func(msg, sig []byte) bool {
			return sm2.VerifyASN1WithSM2(smKey.Public().(*ecdsa.PublicKey), nil, msg, sig)
		}, nil},
		{"ok/ecdsa-p256", p256, nil, func(msg, sig []byte) bool {
			d := sha256.Sum256(msg)
			return ecdsa.VerifyASN1(p256.Public().(*ecdsa.PublicKey), d[:], sig)
		}, nil},
		{"fail/p384", p384, nil, nil, certlogin.ErrUnsupportedKey},
		{"fail/ed25519", edKey, nil, nil, certlogin.ErrUnsupportedKey},
		{"fail/nil-key", nil, nil, nil, certlogin.ErrUnsupportedKey},
		{"fail/signer-ignores-sm2-options", otherUIDSigner{smKey.(*sm2.PrivateKey)}, nil, nil, certlogin.ErrSignature},
		{"fail/signer-error", failingSigner{smKey}, nil, nil, nil},
		{"fail/malformed-challenge", smKey, func(c *certlogin.Challenge) *certlogin.Challenge {
			c.Audience = ""
			return c
		}, nil, certlogin.ErrChallenge},
		{"fail/nil-challenge", smKey, func(*certlogin.Challenge) *certlogin.Challenge { return nil }, nil, certlogin.ErrChallenge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch := newChallenge(t)
			if tc.ch != nil {
				ch = tc.ch(ch)
			}
			sig, err := certlogin.Sign(ch, tc.key)
			if tc.verify == nil {
				if err == nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Fatalf("Sign = %v, want error %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.verify(ch.ToBeSigned(), sig) {
				t.Fatal("signature does not verify over ToBeSigned")
			}
		})
	}
}

func TestParseLoginRequest(t *testing.T) {
	p := newPKI(t)
	l := p.citizen(t)
	ch := newChallenge(t)
	sig := sign(t, ch, l.key)
	good, err := json.Marshal(&certlogin.LoginRequest{ChallengeID: ch.ID(), ChainPEM: l.chain, Signature: sig})
	if err != nil {
		t.Fatal(err)
	}
	chainJSON, _ := json.Marshal(string(l.chain))
	sigB64 := base64.StdEncoding.EncodeToString(sig)
	body := func(id, chain, sig string) string {
		return `{"challenge_id":"` + id + `","chain":` + chain + `,"signature":"` + sig + `"}`
	}
	tests := []struct {
		name    string
		in      string
		wantErr error
	}{
		{"ok/marshalled", string(good), nil},
		{"ok/hand-written-with-spaces", "\n{ \"signature\": \"" + sigB64 + "\", \"chain\": " + string(chainJSON) + ", \"challenge_id\": \"" + ch.ID() + "\" }\n", nil},
		{"fail/not-json", "challenge_id=x", certlogin.ErrRequest},
		{"fail/array", "[]", certlogin.ErrRequest},
		{"fail/null", "null", certlogin.ErrRequest},
		{"fail/empty", "", certlogin.ErrRequest},
		{"fail/unknown-field", strings.Replace(string(good), `{`, `{"user":"alice",`, 1), certlogin.ErrRequest},
		{"fail/trailing-data", string(good) + `{}`, certlogin.ErrRequest},
		{"fail/too-big", string(good) + strings.Repeat(" ", certlogin.MaxLoginRequestSize), certlogin.ErrRequest},
		{"fail/bad-challenge-id", body("not-an-id", string(chainJSON), sigB64), certlogin.ErrRequest},
		{"fail/challenge-id-bad-char", body(ch.ID()[:42]+"*", string(chainJSON), sigB64), certlogin.ErrRequest},
		{"fail/empty-chain", body(ch.ID(), `""`, sigB64), certlogin.ErrRequest},
		{"fail/chain-too-big", body(ch.ID(), `"`+strings.Repeat("A", certlogin.MaxChainSize+1)+`"`, sigB64), certlogin.ErrRequest},
		{"fail/chain-not-string", body(ch.ID(), `["x"]`, sigB64), certlogin.ErrRequest},
		{"fail/signature-not-base64", body(ch.ID(), string(chainJSON), "!!!!"), certlogin.ErrRequest},
		{"fail/signature-unpadded", body(ch.ID(), string(chainJSON), base64.RawStdEncoding.EncodeToString([]byte{1, 2, 3, 4})), certlogin.ErrRequest},
		{"fail/signature-empty", body(ch.ID(), string(chainJSON), ""), certlogin.ErrRequest},
		{"fail/signature-too-big", body(ch.ID(), string(chainJSON), base64.StdEncoding.EncodeToString(make([]byte, certlogin.MaxSignatureSize+1))), certlogin.ErrRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := certlogin.ParseLoginRequest([]byte(tc.in))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || req != nil {
					t.Fatalf("ParseLoginRequest = %+v, %v; want %v", req, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if req.ChallengeID != ch.ID() || string(req.ChainPEM) != string(l.chain) || string(req.Signature) != string(sig) {
				t.Fatalf("parsed %+v", req)
			}
			// The parsed request logs in.
			id, err := certlogin.Verify(context.Background(), ch, req.ChainPEM, req.Signature, p.opts(nil))
			if err != nil || id.Kind != certlogin.KindCitizen {
				t.Fatalf("Verify after parse: %v, %v", id, err)
			}
		})
	}
}
