package authn

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

func TestClientConfigValidate(t *testing.T) {
	_, hash := GenerateClientSecret()
	base := ClientConfig{ID: "portal.gov-1", Name: "市社保局门户", RedirectURIs: []string{"https://si.gov.test/cb", "https://si.gov.test/cb2?x=1"}, SecretHash: hash}
	for _, tc := range []struct {
		name  string
		edit  func(*ClientConfig)
		check func(*Client) bool
	}{
		{"ok/defaults", func(*ClientConfig) {}, func(c *Client) bool {
			return c.TokenEndpointAuthMethod == AuthClientSecretBasic && c.SubjectType == SubjectPairwise &&
				c.SectorIdentifier == "si.gov.test" && c.IDTokenSignedResponseAlg == AlgRS256 && c.MinACR == ACRPassword &&
				len(c.Scopes) == len(supportedScopes)
		}},
		{"ok/public-client", func(c *ClientConfig) { c.TokenEndpointAuthMethod = AuthNone; c.SecretHash = "" }, func(c *Client) bool { return c.Public() }},
		{"ok/scopes-get-openid", func(c *ClientConfig) { c.Scopes = []string{"email"} }, func(c *Client) bool {
			return strings.Join(c.Scopes, " ") == "openid email"
		}},
		{"ok/loopback-http", func(c *ClientConfig) { c.RedirectURIs = []string{"http://127.0.0.1:8080/cb"} }, func(c *Client) bool { return c.SectorIdentifier == "127.0.0.1" }},
		{"ok/sm2", func(c *ClientConfig) { c.IDTokenSignedResponseAlg = AlgSM2 }, func(c *Client) bool { return c.IDTokenSignedResponseAlg == AlgSM2 }},
		{"ok/public-subject-many-hosts", func(c *ClientConfig) {
			c.SubjectType = SubjectPublic
			c.RedirectURIs = []string{"https://a.test/cb", "https://b.test/cb"}
		}, func(c *Client) bool { return c.SectorIdentifier == "" }},
		{"ok/explicit-sector", func(c *ClientConfig) {
			c.RedirectURIs = []string{"https://a.test/cb", "https://b.test/cb"}
			c.SectorIdentifier = "Gov.Test"
		}, func(c *Client) bool { return c.SectorIdentifier == "gov.test" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			cfg.RedirectURIs = append([]string(nil), base.RedirectURIs...)
			tc.edit(&cfg)
			c, err := cfg.Validate()
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Errorf("client %+v", c)
			}
		})
	}
	for _, tc := range []struct {
		name string
		edit func(*ClientConfig)
	}{
		{"fail/empty-id", func(c *ClientConfig) { c.ID = "" }},
		{"fail/id-with-colon", func(c *ClientConfig) { c.ID = "a:b" }},
		{"fail/no-name", func(c *ClientConfig) { c.Name = "" }},
		{"fail/no-redirect", func(c *ClientConfig) { c.RedirectURIs = nil }},
		{"fail/http-redirect", func(c *ClientConfig) { c.RedirectURIs = []string{"http://si.gov.test/cb"} }},
		{"fail/custom-scheme", func(c *ClientConfig) { c.RedirectURIs = []string{"app://cb"} }},
		{"fail/fragment", func(c *ClientConfig) { c.RedirectURIs = []string{"https://si.gov.test/cb#x"} }},
		{"fail/userinfo", func(c *ClientConfig) { c.RedirectURIs = []string{"https://u:p@si.gov.test/cb"} }},
		{"fail/relative", func(c *ClientConfig) { c.RedirectURIs = []string{"/cb"} }},
		{"fail/no-secret", func(c *ClientConfig) { c.SecretHash = "" }},
		{"fail/plain-secret", func(c *ClientConfig) { c.SecretHash = "hunter2" }},
		{"fail/public-with-secret", func(c *ClientConfig) { c.TokenEndpointAuthMethod = AuthNone }},
		{"fail/private-key-jwt", func(c *ClientConfig) { c.TokenEndpointAuthMethod = "private_key_jwt" }},
		{"fail/unknown-scope", func(c *ClientConfig) { c.Scopes = []string{"openid", "admin"} }},
		{"fail/unknown-acr", func(c *ClientConfig) { c.MinACR = "urn:tongxing:loa:9" }},
		{"fail/subject-type", func(c *ClientConfig) { c.SubjectType = "secret" }},
		{"fail/pairwise-many-hosts", func(c *ClientConfig) { c.RedirectURIs = []string{"https://a.test/cb", "https://b.test/cb"} }},
		{"fail/alg-none", func(c *ClientConfig) { c.IDTokenSignedResponseAlg = "none" }},
		{"fail/alg-hs256", func(c *ClientConfig) { c.IDTokenSignedResponseAlg = "HS256" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			cfg.RedirectURIs = append([]string(nil), base.RedirectURIs...)
			tc.edit(&cfg)
			if _, err := cfg.Validate(); !errors.Is(err, ErrInvalidClientConfig) {
				t.Errorf("got %v, want ErrInvalidClientConfig", err)
			}
		})
	}
}

func TestClientSecret(t *testing.T) {
	secret, hash := GenerateClientSecret()
	if len(secret) < MinClientSecretLength || !strings.HasPrefix(secret, "txc_") || strings.Contains(hash, secret) {
		t.Fatalf("secret %q hash %q", secret, hash)
	}
	for _, tc := range []struct {
		name, hash, secret string
		want               bool
	}{
		{"ok/match", hash, secret, true},
		{"fail/other-secret", hash, secret + "x", false},
		{"fail/empty-secret", hash, "", false},
		{"fail/bad-hash", "md5:xyz", secret, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := checkClientSecret(tc.hash, tc.secret); got != tc.want {
				t.Errorf("checkClientSecret = %v", got)
			}
		})
	}
}

func TestAddClient(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		_, h := GenerateClientSecret()
		p := newTestProvider(t, db, newClock(), WithClients(ClientConfig{ID: "configured", Name: "c", RedirectURIs: []string{"https://c.test/cb"}, SecretHash: h}))
		ctx := t.Context()
		secret, err := p.AddClient(ctx, ClientConfig{ID: "tax", Name: "税务", RedirectURIs: []string{"https://tax.gov.test/cb"}, IDTokenSignedResponseAlg: AlgSM2})
		if err != nil {
			t.Fatal(err)
		}
		c, err := p.Client(ctx, "tax")
		if err != nil || c.IDTokenSignedResponseAlg != AlgSM2 || !checkClientSecret(c.SecretHash, secret) {
			t.Fatalf("stored client %+v, %v", c, err)
		}
		var raw string
		if err := db.QueryRow(ctx, "SELECT config FROM authn_clients WHERE id = 'tax'").Scan(&raw); err != nil || strings.Contains(raw, secret) {
			t.Errorf("stored registration holds the secret (%v)", err)
		}
		if s, err := p.AddClient(ctx, ClientConfig{ID: "spa", Name: "spa", RedirectURIs: []string{"https://spa.test/cb"}, TokenEndpointAuthMethod: AuthNone}); err != nil || s != "" {
			t.Errorf("public client: secret %q, %v", s, err)
		}
		for _, tc := range []struct {
			name string
			cfg  ClientConfig
			want error
		}{
			{"fail/duplicate", ClientConfig{ID: "tax", Name: "x", RedirectURIs: []string{"https://x.test/cb"}}, ErrClientExists},
			{"fail/configured-id", ClientConfig{ID: "configured", Name: "x", RedirectURIs: []string{"https://x.test/cb"}}, ErrClientExists},
			{"fail/invalid", ClientConfig{ID: "bad id", Name: "x", RedirectURIs: []string{"https://x.test/cb"}}, ErrInvalidClientConfig},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if _, err := p.AddClient(ctx, tc.cfg); !errors.Is(err, tc.want) {
					t.Errorf("got %v, want %v", err, tc.want)
				}
			})
		}
		if _, err := p.Client(ctx, "missing"); !errors.Is(err, ErrClientNotFound) {
			t.Errorf("fail/unknown-client: %v", err)
		}
		list, err := p.ListClients(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []ClientSummary{
			{ID: "configured", Name: "c", Kind: ClientConfidential, AuthMethod: AuthClientSecretBasic, RedirectURIs: []string{"https://c.test/cb"}, MinACR: "urn:tongxing:loa:2", Configured: true},
			{ID: "spa", Name: "spa", Kind: ClientPublic, AuthMethod: AuthNone, RedirectURIs: []string{"https://spa.test/cb"}, MinACR: "urn:tongxing:loa:2"},
			{ID: "tax", Name: "税务", Kind: ClientConfidential, AuthMethod: AuthClientSecretBasic, RedirectURIs: []string{"https://tax.gov.test/cb"}, MinACR: "urn:tongxing:loa:2"},
		}
		if !reflect.DeepEqual(list, want) {
			t.Errorf("ListClients:\n got %+v\nwant %+v", list, want)
		}
		if raw, _ := json.Marshal(list); strings.Contains(string(raw), h) || strings.Contains(string(raw), c.SecretHash) || strings.Contains(string(raw), secret) {
			t.Errorf("listing shows a secret: %s", raw)
		}
	})
}
