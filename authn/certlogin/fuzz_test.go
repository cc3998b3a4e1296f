package certlogin_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/tongxing/tongxing/authn/certlogin"
)

// FuzzParseLoginRequest checks that accepted bodies are within the limits,
// carry a well-formed challenge ID, and survive a marshal-parse round trip
// unchanged.
func FuzzParseLoginRequest(f *testing.F) {
	id := base64.RawURLEncoding.EncodeToString(make([]byte, certlogin.NonceSize))
	good, err := json.Marshal(&certlogin.LoginRequest{
		ChallengeID: id,
		ChainPEM:    []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"),
		Signature:   []byte{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"challenge_id":"` + id + `","chain":"x","signature":"AA=="}`))
	f.Add([]byte(`{"challenge_id":"` + id + `","chain":"x","signature":"AA=="}{}`))
	f.Add([]byte(`{"challenge_id":"","chain":"","signature":""}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"challenge_id":"` + id + `","chain":"\u0000","signature":"AAAA\n"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := certlogin.ParseLoginRequest(b)
		if err != nil {
			if req != nil {
				t.Fatal("request returned with an error")
			}
			return
		}
		if len(b) > certlogin.MaxLoginRequestSize {
			t.Fatalf("accepted %d bytes", len(b))
		}
		raw, err := base64.RawURLEncoding.DecodeString(req.ChallengeID)
		if err != nil || len(raw) != certlogin.NonceSize {
			t.Fatalf("accepted challenge_id %q", req.ChallengeID)
		}
		if len(req.ChainPEM) == 0 || len(req.ChainPEM) > certlogin.MaxChainSize {
			t.Fatalf("accepted chain of %d bytes", len(req.ChainPEM))
		}
		if len(req.Signature) == 0 || len(req.Signature) > certlogin.MaxSignatureSize {
			t.Fatalf("accepted signature of %d bytes", len(req.Signature))
		}
		out, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		again, err := certlogin.ParseLoginRequest(out)
		if err != nil {
			// Re-encoding may grow a body past the size limit (encoding/json
			// escapes <, > and & as \u003c...); anything else must parse.
			if len(out) <= certlogin.MaxLoginRequestSize {
				t.Fatalf("re-encoded request does not parse: %v\n%s", err, out)
			}
			return
		}
		if again.ChallengeID != req.ChallengeID || !bytes.Equal(again.ChainPEM, req.ChainPEM) || !bytes.Equal(again.Signature, req.Signature) {
			t.Fatalf("round trip changed the request: %+v -> %+v", req, again)
		}
	})
}

// FuzzParseChallenge checks that an accepted challenge is well formed,
// within the limits, and survives a marshal-parse round trip.
func FuzzParseChallenge(f *testing.F) {
	id := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{7}, certlogin.NonceSize))
	f.Add([]byte(`{"challenge_id":"` + id + `","audience":"https://tongxing.example","issued_at":"2026-03-01T10:00:00Z","expires_at":"2026-03-01T10:02:00Z"}`))
	f.Add([]byte(`{"challenge_id":"` + id + `","audience":"a\nb","issued_at":"2026-03-01T10:00:00+08:00","expires_at":"2026-03-01T10:02:00Z"}`))
	f.Add([]byte(`{"challenge_id":"` + id + `"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ch, err := certlogin.ParseChallenge(b)
		if err != nil {
			if ch != nil {
				t.Fatal("challenge returned with an error")
			}
			return
		}
		if len(b) > certlogin.MaxChallengeSize || len(ch.Nonce) != certlogin.NonceSize || !ch.ExpiresAt.After(ch.IssuedAt) {
			t.Fatalf("accepted %+v from %d bytes", ch, len(b))
		}
		if n := bytes.Count(ch.ToBeSigned(), []byte("\n")); n != 3 {
			t.Fatalf("signed bytes have %d lines breaks, want 3: %q", n, ch.ToBeSigned())
		}
		out, err := ch.MarshalJSON()
		if err != nil {
			t.Fatalf("accepted challenge does not marshal: %v", err)
		}
		again, err := certlogin.ParseChallenge(out)
		if err != nil {
			if len(out) <= certlogin.MaxChallengeSize {
				t.Fatalf("re-encoded challenge does not parse: %v", err)
			}
			return
		}
		if !bytes.Equal(again.ToBeSigned(), ch.ToBeSigned()) || !again.ExpiresAt.Equal(ch.ExpiresAt) {
			t.Fatal("round trip changed the challenge")
		}
	})
}
