package acmeca_test

import (
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"go.step.sm/crypto/jose"

	"github.com/tongxing/tongxing/ca/acmeca"
)

// TestNewOrderPolicyAnySerialization: the name-policy check before step-ca reads
// the new-order body as a flattened JWS with an unpadded base64url payload;
// step-ca (go-jose) also takes the compact serialization, padded base64url
// and whitespace anywhere. Every such new-order for a name outside the
// department's policy must still be refused with rejectedIdentifier, before
// any authorization or challenge exists.
func TestNewOrderPolicyAnySerialization(t *testing.T) {
	e := newEnv(t, nil, acmeca.WithStateDir(t.TempDir()))
	c := e.client(t, "tax")
	acct, err := register(t, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := e.ts.Client()
	newOrderURL := e.ts.URL + "/acme/tax/new-order"
	nonce := func() string {
		resp, err := hc.Head(e.ts.URL + "/acme/tax/new-nonce")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("Replay-Nonce")
	}
	sign := func(payload string) *jose.JSONWebSignature {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256,
			Key: jose.JSONWebKey{Key: c.Key.(*ecdsa.PrivateKey), KeyID: acct.URI}},
			&jose.SignerOptions{ExtraHeaders: map[jose.HeaderKey]any{"nonce": nonce(), "url": newOrderURL}})
		if err != nil {
			t.Fatal(err)
		}
		jws, err := signer.Sign([]byte(payload))
		if err != nil {
			t.Fatal(err)
		}
		return jws
	}
	const order = `{"identifiers":[{"type":"dns","value":"attacker.example"}]}`
	for name, body := range map[string]func() string{
		"compact": func() string {
			s, err := sign(order).CompactSerialize()
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"padded-payload": func() string {
			var m map[string]any
			if err := json.Unmarshal([]byte(sign(order).FullSerialize()), &m); err != nil {
				t.Fatal(err)
			}
			m["payload"] = base64.URLEncoding.EncodeToString([]byte(order)) // with '='
			b, _ := json.Marshal(m)
			return string(b)
		},
		"space-in-payload": func() string {
			var m map[string]any
			if err := json.Unmarshal([]byte(sign(order).FullSerialize()), &m); err != nil {
				t.Fatal(err)
			}
			p := m["payload"].(string)
			m["payload"] = p[:4] + " " + p[4:]
			b, _ := json.Marshal(m)
			return string(b)
		},
	} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, newOrderURL, strings.NewReader(body()))
			req.Header.Set("Content-Type", "application/jose+json")
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode == http.StatusCreated {
				t.Fatalf("order for attacker.example created in department tax, the name policy was skipped: %d %s", resp.StatusCode, b)
			}
			if !strings.Contains(string(b), "rejectedIdentifier") || !strings.Contains(string(b), "name policy of department tax") {
				t.Fatalf("answer %d %s, want rejectedIdentifier naming the name policy", resp.StatusCode, b)
			}
		})
	}
}
