package sm2jws_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tongxing/tongxing/authn/sm2jws"
)

// FuzzVerifySignature feeds arbitrary strings to StaticKeySet.VerifySignature.
// Invariants: no panic; every error wraps one of the package's sentinels and
// comes with no payload; a token is accepted only if it is byte-for-byte one
// of the validly signed seeds (the encoding is canonical and nothing else can
// carry a valid signature), and then the payload is its decoded middle part.
func FuzzVerifySignature(f *testing.F) {
	k := newTestKey(f, "k1")
	keys, err := sm2jws.NewStaticKeySet(k.jwk)
	if err != nil {
		f.Fatal(err)
	}
	valid := map[string]bool{}
	add := func(tok string, signed bool) {
		f.Add(tok)
		if signed {
			valid[tok] = true
		}
	}
	good := signRaw(f, k, map[string]any{"alg": "SM2", "kid": "k1"}, []byte(`{"sub":"u1","aud":"portal"}`))
	add(good, true)
	add(signRaw(f, k, map[string]any{"alg": "SM2", "kid": "k1", "typ": "JWT"}, nil), true)
	h, p, s := parts(f, good)
	add(signRaw(f, k, map[string]any{"alg": "ES256", "kid": "k1"}, []byte(`{}`)), false)
	add(signRaw(f, k, map[string]any{"alg": "SM2", "kid": "k2"}, []byte(`{}`)), false)
	add(signRaw(f, k, map[string]any{"alg": "SM2", "kid": "k1", "crit": []string{"b64"}, "b64": false}, []byte(`{}`)), false)
	add(h+"."+p+".", false)
	add(h+"."+p, false)
	add(good+"."+s, false)
	add(strings.ToUpper(good), false)
	add(b64.EncodeToString([]byte(`{"alg":"none"}`))+"."+p+".", false)
	add("", false)
	add("..", false)
	sentinels := []error{sm2jws.ErrTooLarge, sm2jws.ErrMalformedJWS, sm2jws.ErrAlgorithm,
		sm2jws.ErrUnknownKey, sm2jws.ErrInvalidSignature}

	f.Fuzz(func(t *testing.T, tok string) {
		payload, err := keys.VerifySignature(t.Context(), tok)
		if err != nil {
			if payload != nil {
				t.Fatal("payload returned with an error")
			}
			for _, s := range sentinels {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("error wraps no sentinel: %v", err)
		}
		if !valid[tok] {
			t.Fatalf("accepted a token that is not a signed seed: %q", tok)
		}
		_, p, _ := parts(t, tok)
		want, _ := b64.DecodeString(p)
		if !bytes.Equal(payload, want) {
			t.Fatalf("payload %q, want %q", payload, want)
		}
	})
}

// FuzzParseJWKSet feeds arbitrary bytes to ParseJWKSet. Invariants: no panic;
// errors wrap ErrTooLarge or ErrMalformedJWKSet; an accepted set holds only
// valid SM2 keys with unique non-empty kids, and survives a marshal/parse
// round trip unchanged.
func FuzzParseJWKSet(f *testing.F) {
	k1 := newTestKey(f, "k1")
	k2 := newTestKey(f, "k2")
	set, err := json.Marshal(sm2jws.JWKSet{Keys: []sm2jws.JWK{k1.jwk, k2.jwk}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(set)
	f.Add([]byte(`{"keys":[]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","kid":"r","n":"AQAB","e":"AQAB"},{"kty":"EC","crv":"P-256","kid":"p","x":"AA","y":"AA"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"SM2","kid":"k","x":"` + k1.jwk.X + `","y":"` + k1.jwk.X + `"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"SM2","x":"` + k1.jwk.X + `","y":"` + k1.jwk.Y + `"}]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Add([]byte(`{"keys":[null,1,"x",[]]}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(``))

	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := sm2jws.ParseJWKSet(data)
		if err != nil {
			if !errors.Is(err, sm2jws.ErrMalformedJWKSet) && !errors.Is(err, sm2jws.ErrTooLarge) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			if got != nil {
				t.Fatal("set returned with an error")
			}
			return
		}
		seen := map[string]bool{}
		for _, k := range got.Keys {
			if k.Kid == "" || seen[k.Kid] {
				t.Fatalf("empty or duplicate kid %q", k.Kid)
			}
			seen[k.Kid] = true
			if _, err := k.PublicKey(); err != nil {
				t.Fatalf("accepted invalid key: %v", err)
			}
		}
		if _, err := sm2jws.NewStaticKeySet(got.Keys...); err != nil {
			t.Fatalf("accepted set is not a valid static key set: %v", err)
		}
		again, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		back, err := sm2jws.ParseJWKSet(again)
		if err != nil {
			t.Fatalf("round trip: %v", err)
		}
		if len(back.Keys) != len(got.Keys) {
			t.Fatalf("round trip has %d keys, want %d", len(back.Keys), len(got.Keys))
		}
		for i := range got.Keys {
			if back.Keys[i] != got.Keys[i] {
				t.Fatalf("key %d changed in round trip", i)
			}
		}
	})
}
